//! How the replay store's and the inbox's connections are made: the URL's
//! `sslmode` read with libpq's meaning, plain text or TLS (feature
//! `tls`, rustls with Mozilla's roots and any added PEM roots).

use std::future::poll_fn;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Socket};

/// What the URL's `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    /// No `sslmode`, or `disable`: plain text.
    Plain,
    /// `prefer`: TLS if the server offers it, else plain text (libpq's
    /// default when the URL says nothing).
    Prefer,
    /// `require` or `verify-full`: TLS, the certificate verified against
    /// the roots and the host name.
    VerifyFull,
    /// `verify-ca`: TLS, the certificate verified against the roots, the
    /// host name not checked.
    VerifyCa,
}

/// Parses a PostgreSQL URL (or key-value string) and chooses how to connect,
/// reading `sslmode` as libpq does except for `require`, which here also
/// verifies the certificate (libpq's `require` trusts any certificate:
/// encryption without knowing who answers). `verify-ca` and `verify-full`,
/// which tokio-postgres does not parse, are taken out before it parses the
/// rest. The error never contains the URL (it may hold a password).
pub(crate) fn parse_url(url: &str, extra_roots: &[Vec<u8>]) -> Result<(Config, Connector), String> {
    let (rest, mode) = take_sslmode(url)?;
    let mut config: Config = rest
        .parse()
        .map_err(|err| format!("invalid PostgreSQL URL: {err}"))?;
    // The handshake is ours to choose; tokio-postgres only needs to know
    // whether to ask the server for TLS at all.
    config.ssl_mode(match mode {
        SslMode::Plain => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::VerifyFull | SslMode::VerifyCa => tokio_postgres::config::SslMode::Require,
    });
    let connector = match mode {
        SslMode::Plain => Connector::Plain,
        SslMode::Prefer => Connector::prefer()?,
        SslMode::VerifyFull => Connector::tls(extra_roots, true)?,
        SslMode::VerifyCa => Connector::tls(extra_roots, false)?,
    };
    Ok((config, connector))
}

/// `url` without its `sslmode` setting, and the mode it named. Both forms:
/// `postgres://…?sslmode=x&…` and `host=… sslmode=x`.
fn take_sslmode(url: &str) -> Result<(String, SslMode), String> {
    let Some(at) = url.find("sslmode=") else {
        return Ok((url.to_owned(), SslMode::Plain));
    };
    let value_at = at + "sslmode=".len();
    let end = url[value_at..]
        .find(['&', ' '])
        .map_or(url.len(), |offset| value_at + offset);
    let mode = match &url[value_at..end] {
        "disable" => SslMode::Plain,
        "prefer" => SslMode::Prefer,
        "require" | "verify-full" => SslMode::VerifyFull,
        "verify-ca" => SslMode::VerifyCa,
        "allow" => {
            return Err(
                "sslmode=allow (plain text first, TLS only if refused) is not \
                        supported: use disable, require or verify-full"
                    .to_owned(),
            );
        }
        _ => return Err("invalid PostgreSQL URL: unknown sslmode".to_owned()),
    };
    // Drop `sslmode=x` with the separator before it (or after, if first).
    let (mut start, mut stop) = (at, end);
    if start > 0 && matches!(url.as_bytes()[start - 1], b'&' | b' ') {
        start -= 1;
    } else if stop < url.len() {
        stop += 1;
    }
    let mut rest = format!("{}{}", &url[..start], &url[stop..]);
    if rest.ends_with('?') {
        rest.pop();
    }
    Ok((rest, mode))
}

/// How connections to the database are made, chosen once from the URL's
/// `sslmode` when a store or inbox is built ([`parse_url`]).
#[derive(Clone)]
pub(crate) enum Connector {
    /// Plain text: `sslmode` unset or `disable`, or `prefer` without the
    /// `tls` feature (libpq built without TLS does the same).
    Plain,
    /// TLS, the server's certificate verified (`require`, `verify-ca`,
    /// `verify-full`), or tried first (`prefer`).
    #[cfg(feature = "tls")]
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// `sslmode=prefer`. With TLS built in, libpq tries TLS first and falls
    /// back to plain text only if the server refuses it; a certificate that
    /// fails verification ends the attempt instead, and with our verified
    /// TLS a local server's self-signed certificate would then break a URL
    /// that works with libpq. So `prefer` is refused, saying what to write.
    #[cfg(feature = "tls")]
    fn prefer() -> Result<Self, String> {
        Err(
            "sslmode=prefer is ambiguous here: write sslmode=require (TLS, the certificate \
             verified), verify-ca, or disable (plain text)"
                .to_owned(),
        )
    }

    #[cfg(not(feature = "tls"))]
    fn prefer() -> Result<Self, String> {
        Ok(Self::Plain)
    }

    #[cfg(not(feature = "tls"))]
    fn tls(_: &[Vec<u8>], _: bool) -> Result<Self, String> {
        Err(
            "sslmode=require, verify-ca and verify-full need the `tls` feature of \
             gemini-webhooks"
                .to_owned(),
        )
    }

    /// TLS against Mozilla's roots and `extra_roots` (PEM bundles, each of
    /// at least one certificate: a private CA, Amazon RDS's bundle), the
    /// host name checked if `check_host`.
    #[cfg(feature = "tls")]
    fn tls(extra_roots: &[Vec<u8>], check_host: bool) -> Result<Self, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;

        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for bundle in extra_roots {
            let certificates = CertificateDer::pem_slice_iter(bundle)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| format!("a TLS root certificate is not valid PEM: {err}"))?;
            // A DER file or a key passed by mistake would otherwise add
            // nothing, and surface later as an unknown issuer.
            if certificates.is_empty() {
                return Err("TLS root certificates given hold no PEM certificate".to_owned());
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|err| format!("a TLS root certificate cannot be used: {err}"))?;
            }
        }
        // An explicit provider: the process-wide default may be unset, or
        // ambiguous when another crate enables a second one.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS set-up: {err}"))?;
        let config = if check_host {
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|err| format!("TLS set-up: {err}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(super::ca_only::CaOnly(
                    verifier,
                )))
                .with_no_client_auth()
        };
        Ok(Self::Tls(tokio_postgres_rustls::MakeRustlsConnect::new(
            config,
        )))
    }

    /// Connects to `config` outside the pool, driving the connection in a
    /// task that calls `on_notification` for every `NOTIFY` it receives
    /// (for a `LISTEN` connection). The task ends when the connection does.
    pub(crate) async fn connect_listening(
        &self,
        config: &Config,
        on_notification: impl Fn() + Send + 'static,
    ) -> Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
        Ok(match self {
            Self::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                (client, drive(connection, on_notification))
            }
            #[cfg(feature = "tls")]
            Self::Tls(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, drive(connection, on_notification))
            }
        })
    }

    pub(super) fn manager(&self, config: Config) -> Manager {
        let settings = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        match self {
            Self::Plain => Manager::from_config(config, NoTls, settings),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => Manager::from_config(config, tls.clone(), settings),
        }
    }
}

/// Polls `connection` in a task until it ends, reporting notifications.
fn drive<T>(
    mut connection: Connection<Socket, T>,
    on_notification: impl Fn() + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(_) = message {
                on_notification();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_as_libpq_reads_it_and_taken_out_of_the_url() {
        let cases = [
            ("postgres://h/db", "postgres://h/db", SslMode::Plain),
            (
                "postgres://h/db?sslmode=disable",
                "postgres://h/db",
                SslMode::Plain,
            ),
            (
                "postgres://h/db?sslmode=prefer",
                "postgres://h/db",
                SslMode::Prefer,
            ),
            (
                "postgres://h/db?sslmode=require",
                "postgres://h/db",
                SslMode::VerifyFull,
            ),
            (
                "postgres://h/db?application_name=x&sslmode=verify-full&connect_timeout=2",
                "postgres://h/db?application_name=x&connect_timeout=2",
                SslMode::VerifyFull,
            ),
            (
                "postgres://h/db?sslmode=verify-ca&connect_timeout=2",
                "postgres://h/db?connect_timeout=2",
                SslMode::VerifyCa,
            ),
            (
                "host=h sslmode=verify-ca user=u",
                "host=h user=u",
                SslMode::VerifyCa,
            ),
            // First or last: the one separator beside it goes with it.
            ("sslmode=require host=h", "host=h", SslMode::VerifyFull),
            ("host=h sslmode=require", "host=h", SslMode::VerifyFull),
            (
                "postgres://h/db?a=1&sslmode=require",
                "postgres://h/db?a=1",
                SslMode::VerifyFull,
            ),
        ];
        for (url, rest, mode) in cases {
            assert_eq!(take_sslmode(url), Ok((rest.to_owned(), mode)), "{url}");
        }
        let allow = take_sslmode("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(
            allow.contains("sslmode=allow") && allow.contains("not supported"),
            "{allow}"
        );
        let unknown = take_sslmode("postgres://h/db?sslmode=maybe").unwrap_err();
        assert!(unknown.contains("unknown sslmode"), "{unknown}");
    }

    #[test]
    fn every_mode_gets_its_connector() {
        let connector = |url: &str| parse_url(url, &[]).map(|(_, connector)| connector);
        for plain in ["postgres://h/db", "postgres://h/db?sslmode=disable"] {
            assert!(matches!(connector(plain), Ok(Connector::Plain)), "{plain}");
        }
        for tls in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://h/db?sslmode={tls}");
            #[cfg(feature = "tls")]
            assert!(matches!(connector(&url), Ok(Connector::Tls(_))), "{tls}");
            #[cfg(not(feature = "tls"))]
            assert!(connector(&url).is_err_and(|err| err.contains("`tls` feature")));
        }
        let prefer = connector("postgres://h/db?sslmode=prefer");
        #[cfg(feature = "tls")]
        assert!(prefer.is_err_and(|err| err.contains("sslmode=require")));
        #[cfg(not(feature = "tls"))]
        assert!(matches!(prefer, Ok(Connector::Plain)));
        let password = parse_url("postgres://u:hunter2@h/db?port=x", &[])
            .err()
            .unwrap();
        assert!(!password.contains("hunter2"), "{password}");
    }
}
