//! TLS to PostgreSQL (`gemini-webhooks-postgres`'s feature `tls`): a server of this test's own
//! with a certificate from a CA made here (`openssl`), reached with
//! `sslmode=require` by the inbox (ingest, the worker's pool and its
//! `LISTEN` connection) and by `PostgresReplayStore`, each connection
//! checked to be encrypted; an untrusted certificate is refused.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::throwaway::{OwnPostgres, run};
use gemini_webhooks::ConfigError;
use gemini_webhooks::replay::{Claim, ReplayStore};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks_postgres::inbox::{Inbox, InboxError, Job, Stored};
use gemini_webhooks_postgres::replay::PostgresReplayStore;

/// Generous bound: the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`; the
/// server's settings to use them.
fn certificates(dir: &Path) -> Vec<String> {
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=gemini-webhooks test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    // PostgreSQL refuses a key others can read.
    run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
    vec![
        "ssl=on".to_owned(),
        format!("ssl_cert_file={}", dir.join("server.pem").display()),
        format!("ssl_key_file={}", dir.join("server.key").display()),
    ]
}

struct TlsServer {
    server: OwnPostgres,
    ca: Vec<u8>,
}

impl TlsServer {
    fn start() -> Self {
        let mut ca_path = None;
        let server = OwnPostgres::start_with(|dir| {
            ca_path = Some(dir.join("ca.pem"));
            certificates(dir)
        });
        let ca = std::fs::read(ca_path.unwrap()).unwrap();
        Self { server, ca }
    }

    fn tls_url(&self) -> String {
        format!("{}?sslmode=require", self.server.url())
    }
}

/// The client backends of `admin`'s server but `admin`'s own, as
/// (pid, encrypted).
async fn backends(admin: &tokio_postgres::Client) -> Vec<(i32, bool)> {
    admin
        .query(
            "SELECT s.pid, s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.backend_type = 'client backend' AND s.pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// A delivery about a job of its own (`batches/{id}`): an inbox stores
/// one completion per job.
fn delivery(secret: &str, id: &str) -> gemini_webhooks::Delivery {
    let body =
        gemini_webhooks::testing::sample_event_for("batch.succeeded", &format!("batches/{id}"));
    common::verifier(secret)
        .verify(&Signer::hmac(secret).unwrap().id(id).sign(&body), body)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_and_its_workers_connect_over_verified_tls() {
    let tls = TlsServer::start();
    // The test's own look at the server, in plain text (trust auth).
    let admin = common::pg::connect(&tls.server.url()).await;
    let secret = generate_secret();
    let inbox = Inbox::builder(tls.tls_url())
        .tls_root_certificates(&tls.ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(
        inbox.ingest(&delivery(&secret, "msg_tls")).await.unwrap(),
        Stored::New
    );

    // The worker's job connection reports on itself, inside the job.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let worker = inbox
        .worker(move |job: Job| {
            let seen_tx = seen_tx.clone();
            async move {
                let row = job
                    .client()
                    .query_one(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .await
                    .map_err(|err| err.to_string())?;
                let _ = seen_tx.send((job.delivery().id().to_owned(), row.get::<_, bool>(0)));
                Ok::<(), String>(())
            }
        })
        .poll_interval(Duration::from_secs(3600));
    let running = tokio::spawn(worker.run());
    let first = tokio::time::timeout(PATIENCE, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, ("msg_tls".to_owned(), true));
    // With polling an hour away, the second job arrives by the `LISTEN`
    // connection's notification, which must be up (and encrypted).
    // Idle: the `LISTEN` has run, so no notification can slip past it.
    common::eventually("the worker listening over TLS", || async {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.query LIKE 'LISTEN %' AND a.state = 'idle' AND s.ssl",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 1
    })
    .await;
    assert_eq!(
        inbox.ingest(&delivery(&secret, "msg_tls_2")).await.unwrap(),
        Stored::New
    );
    let second = tokio::time::timeout(PATIENCE, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, ("msg_tls_2".to_owned(), true));

    // Every connection the inbox and its worker opened is encrypted.
    let backends = backends(&admin).await;
    assert!(
        backends.len() >= 3,
        "ingest, job and LISTEN connections: {backends:?}"
    );
    assert!(backends.iter().all(|(_, ssl)| *ssl), "{backends:?}");
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let tls = TlsServer::start();
    let secret = generate_secret();
    // Mozilla's roots only: the test CA is not among them.
    let inbox = Inbox::builder(tls.tls_url())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = inbox
        .ingest(&delivery(&secret, "msg_untrusted"))
        .await
        .unwrap_err();
    assert!(matches!(err, InboxError::Database { .. }), "{err:?}");
    assert!(causes(&err).contains("UnknownIssuer"), "{}", causes(&err));
    let store = PostgresReplayStore::builder(tls.tls_url())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = store.claim("msg_untrusted").await.unwrap_err();
    assert!(causes(&err).contains("UnknownIssuer"), "{}", causes(&err));
}

/// An error and its sources, on one line.
fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_store_connects_over_verified_tls() {
    let tls = TlsServer::start();
    let admin = common::pg::connect(&tls.server.url()).await;
    let store = PostgresReplayStore::builder(tls.tls_url())
        .tls_root_certificates(&tls.ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let Claim::New(token) = store.claim("msg_a").await.unwrap() else {
        panic!("a new id is claimed");
    };
    store
        .commit("msg_a", &token, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.claim("msg_a").await.unwrap(), Claim::Done);
    let backends = backends(&admin).await;
    assert!(!backends.is_empty());
    assert!(backends.iter().all(|(_, ssl)| *ssl), "{backends:?}");
}

#[test]
fn root_certificates_that_are_not_pem_fail_the_build() {
    let url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=require";
    let malformed: &[u8] = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    // DER, or any file without a PEM certificate in it.
    let no_certificate: &[u8] = &[0x30, 0x82, 0x01, 0x0a, 0x02, 0x82];
    for (pem, expected) in [
        (malformed, "not valid PEM"),
        (no_certificate, "hold no PEM certificate"),
    ] {
        let err = Inbox::builder(url)
            .tls_root_certificates(pem)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidUrl { service: "PostgreSQL", reason } if reason.contains(expected)),
            "{err:?}"
        );
        let err = PostgresReplayStore::builder(url)
            .tls_root_certificates(pem)
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("invalid PostgreSQL URL: "),
            "{err}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    }
}

/// libpq's `verify-ca` and `verify-full`, against a certificate made for
/// 127.0.0.1 reached as `localhost`: the chain is trusted either way, the
/// name matches only the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_checks_the_chain_and_verify_full_the_host_name_too() {
    let tls = TlsServer::start();
    let secret = generate_secret();
    let by_name = tls.server.url().replace("127.0.0.1", "localhost");
    let inbox = |url: String| {
        Inbox::builder(url)
            .tls_root_certificates(&tls.ca)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let chain_only = inbox(format!("{by_name}?sslmode=verify-ca"));
    assert_eq!(
        chain_only
            .ingest(&delivery(&secret, "msg_ca"))
            .await
            .unwrap(),
        Stored::New
    );
    let full = inbox(format!("{by_name}?sslmode=verify-full"));
    let err = full
        .ingest(&delivery(&secret, "msg_full"))
        .await
        .unwrap_err();
    assert!(
        causes(&err).contains("not valid for name"),
        "{}",
        causes(&err)
    );
    let full_by_address = inbox(format!("{}?sslmode=verify-full", tls.server.url()));
    assert_eq!(
        full_by_address
            .ingest(&delivery(&secret, "msg_full"))
            .await
            .unwrap(),
        Stored::New
    );
    // Without our roots, verify-ca still refuses an unknown issuer.
    let untrusted = Inbox::builder(format!("{by_name}?sslmode=verify-ca"))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = untrusted
        .ingest(&delivery(&secret, "msg_untrusted"))
        .await
        .unwrap_err();
    assert!(causes(&err).contains("UnknownIssuer"), "{}", causes(&err));
}

#[test]
fn sslmode_prefer_is_refused_with_what_to_write_instead() {
    let err = Inbox::builder("postgres://postgres@127.0.0.1/postgres?sslmode=prefer")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("sslmode=require"), "{err}");
}
