//! What the PostgreSQL replay store and the inbox share: the connection
//! pool and how its connections are made (plain text, or TLS with feature
//! `postgres-tls`), the check of table names spliced into SQL, and
//! creating a schema once under an advisory lock (feature `postgres`).

use std::future::poll_fn;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Socket};

/// How connections to the database are made, chosen once from the URL's
/// `sslmode` when a store or inbox is built.
#[derive(Clone)]
pub(crate) enum Connector {
    /// Plain text: `sslmode` unset, `disable` or `prefer`.
    Plain,
    /// TLS (`sslmode=require`), the server's certificate always verified.
    #[cfg(feature = "postgres-tls")]
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connector {
    /// The connector `config` asks for. Only `sslmode=require` turns TLS
    /// on: `prefer` (libpq's default, and the URL's when it names none)
    /// stays plain text, because a TLS attempt that fails verification is
    /// not retried in plain text and would break a local server with a
    /// self-signed certificate. `extra_roots` are PEM bundles, each of at
    /// least one certificate, trusted beside Mozilla's roots (a private CA,
    /// Amazon RDS's bundle).
    pub(crate) fn for_config(config: &Config, extra_roots: &[Vec<u8>]) -> Result<Self, String> {
        match config.get_ssl_mode() {
            SslMode::Require => Self::tls(extra_roots),
            _ => Ok(Self::Plain),
        }
    }

    #[cfg(not(feature = "postgres-tls"))]
    fn tls(_: &[Vec<u8>]) -> Result<Self, String> {
        Err("sslmode=require needs the `postgres-tls` feature of gemini-webhooks".to_owned())
    }

    #[cfg(feature = "postgres-tls")]
    fn tls(extra_roots: &[Vec<u8>]) -> Result<Self, String> {
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
        let config = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS set-up: {err}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
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
            #[cfg(feature = "postgres-tls")]
            Self::Tls(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, drive(connection, on_notification))
            }
        })
    }

    fn manager(&self, config: Config) -> Manager {
        let settings = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        match self {
            Self::Plain => Manager::from_config(config, NoTls, settings),
            #[cfg(feature = "postgres-tls")]
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

/// A pool of at most `size` connections to `config`, made by `connector`,
/// each wait, connect and recycle bounded by `timeout`.
pub(crate) fn pool(
    config: Config,
    connector: &Connector,
    size: usize,
    timeout: Duration,
) -> Result<Pool, deadpool_postgres::BuildError> {
    Pool::builder(connector.manager(config))
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
}

/// Runs `schema` (idempotent DDL) under a transaction-scoped advisory lock
/// named after `table`: concurrent `CREATE TABLE IF NOT EXISTS` from
/// replicas starting together can otherwise collide. Nothing runs if the
/// table exists: even a `CREATE INDEX IF NOT EXISTS` that does nothing
/// takes a lock that stops the table's writers while it waits.
pub(crate) async fn create_schema(
    client: &tokio_postgres::Client,
    table: &str,
    schema: String,
) -> Result<(), tokio_postgres::Error> {
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?;
    if exists.get::<_, bool>(0) {
        return Ok(());
    }
    let sql = format!(
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext('gemini-webhooks:{table}')); {schema} COMMIT;"
    );
    let created = client.batch_execute(&sql).await;
    if created.is_err() {
        // Leave no aborted transaction on a pooled connection.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    created
}

/// An identifier derived from `table` for an index or a channel: `.`
/// becomes `_`, so `app.inbox` gives `app_inbox_{suffix}`.
pub(crate) fn derived_name(table: &str, suffix: &str) -> String {
    format!("{}_{suffix}", table.replace('.', "_"))
}

/// Milliseconds as the `float8` the statements multiply an interval by.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Whether `table` is a plain identifier, optionally schema-qualified
/// (`name` or `schema.name`): it is spliced into SQL, so nothing else is.
pub(crate) fn valid_table(table: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match table.split_once('.') {
        Some((schema, name)) => part(schema) && part(name),
        None => part(table),
    }
}

/// What a builder says about a table name it refuses.
pub(crate) const TABLE_RULE: &str =
    "the table name must be lower-case letters, digits and `_`, optionally `schema.table`";

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(url: &str) -> Result<Connector, String> {
        Connector::for_config(&url.parse().unwrap(), &[])
    }

    #[test]
    fn only_sslmode_require_asks_for_tls() {
        for plain in [
            "postgres://h/db",
            "postgres://h/db?sslmode=prefer",
            "postgres://h/db?sslmode=disable",
        ] {
            assert!(matches!(connector(plain), Ok(Connector::Plain)), "{plain}");
        }
        let required = connector("postgres://h/db?sslmode=require");
        #[cfg(feature = "postgres-tls")]
        assert!(matches!(required, Ok(Connector::Tls(_))));
        #[cfg(not(feature = "postgres-tls"))]
        assert!(required.is_err_and(|err| err.contains("`postgres-tls` feature")));
    }

    #[test]
    fn only_plain_table_names_are_accepted() {
        for good in ["gemini_webhook_replay", "app.replay", "_t1"] {
            assert!(valid_table(good), "{good}");
        }
        for bad in [
            "",
            "Replay",
            "a-b",
            "x; DROP TABLE y",
            "a.b.c",
            "1abc",
            "a.",
            &"a".repeat(64),
        ] {
            assert!(!valid_table(bad), "{bad}");
        }
        assert_eq!(
            derived_name("app.replay", "expires_at"),
            "app_replay_expires_at"
        );
    }
}

/// The PostgreSQL the library's own tests use: `DATABASE_URL`, by default
/// the local one.
#[cfg(test)]
pub(crate) fn test_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Test support: whether a statement's cached plan still finds its rows by
/// index once the table it was planned on has grown.
///
/// After five runs of a prepared statement PostgreSQL may keep one generic
/// plan, and replans only when the table's statistics change. A pooled
/// connection of a new inbox or store plans its statements while the table
/// is nearly empty, and a burst can grow the table by a million rows before
/// autovacuum's first look. A plan that was cheap on a few hundred rows
/// then costs every claim, job or cleanup a read of the whole table: seen
/// were a sort of every due row, a full scan of a partial index whose
/// predicate the query repeats, and a sequential scan for expired rows.
#[cfg(test)]
pub(crate) mod plan_check {
    use serde_json::Value;
    use tokio_postgres::{Client, SimpleQueryMessage};

    /// Table sizes at which statements are first planned: empty, a few
    /// rows, and sizes at which PostgreSQL's estimates (no statistics yet)
    /// have been seen to pick plans that read every due row.
    const SIZES: [u32; 4] = [0, 20, 500, 5_000];

    /// Rows in the table when the plans are checked.
    const GROWN: u32 = 50_000;

    /// A connection to the [`test_database_url`](super::test_database_url).
    pub(crate) async fn client() -> Client {
        let url = super::test_database_url();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL at DATABASE_URL");
        tokio::spawn(connection);
        client
    }

    /// For each size in [`SIZES`], in a transaction rolled back at the end:
    /// `schema`; `fill(0, size)`; each statement prepared and run once with
    /// its arguments under `plan_cache_mode` (`force_generic_plan` is what
    /// PostgreSQL's default may settle on after five runs, and keeps);
    /// `fill(size, GROWN)`; each statement again under `EXPLAIN ANALYZE`.
    /// Returns one line per scan that reads the table rather than finding
    /// rows by index (a sequential scan, or any scan that returns or
    /// discards more than 100 rows), naming the statement and the size it
    /// was first run at. Fill rows must not collide with what the
    /// statements insert.
    pub(crate) async fn table_scans_after_growth(
        client: &Client,
        plan_cache_mode: &str,
        schema: &str,
        fill: impl Fn(u32, u32) -> String,
        statements: &[(&str, &str)],
    ) -> Vec<String> {
        let mut scans = Vec::new();
        for size in SIZES {
            let setup = format!(
                "BEGIN; SET LOCAL plan_cache_mode = {plan_cache_mode}; {schema}; {}",
                fill(0, size)
            );
            client.batch_execute(&setup).await.expect("schema and rows");
            for (n, (sql, args)) in statements.iter().enumerate() {
                let prepared = format!("PREPARE plan_check_{n} AS {sql}; {}", execute(n, args));
                client.batch_execute(&prepared).await.expect(sql);
            }
            client
                .batch_execute(&fill(size, GROWN))
                .await
                .expect("more rows");
            for (n, (sql, args)) in statements.iter().enumerate() {
                let label = format!("first run at {size} rows: {sql}");
                explain(client, &execute(n, args), &label, &mut scans).await;
            }
            client
                .batch_execute("ROLLBACK; DEALLOCATE ALL")
                .await
                .expect("rollback");
        }
        scans
    }

    /// Like [`table_scans_after_growth`], for a statement planned afresh
    /// each time it runs: prepared, planned and checked once the table
    /// holds its rows, before any statistics exist.
    pub(crate) async fn table_scans_when_grown(
        client: &Client,
        schema: &str,
        fill: impl Fn(u32, u32) -> String,
        (sql, args): (&str, &str),
    ) -> Vec<String> {
        let setup = format!(
            "BEGIN; {schema}; {}; PREPARE plan_check_0 AS {sql}",
            fill(0, GROWN)
        );
        client.batch_execute(&setup).await.expect("schema and rows");
        let mut scans = Vec::new();
        explain(client, &execute(0, args), sql, &mut scans).await;
        client
            .batch_execute("ROLLBACK; DEALLOCATE ALL")
            .await
            .expect("rollback");
        scans
    }

    /// `EXECUTE` of prepared statement `n` with `args` (SQL literals).
    fn execute(n: usize, args: &str) -> String {
        match args {
            "" => format!("EXECUTE plan_check_{n}"),
            args => format!("EXECUTE plan_check_{n}({args})"),
        }
    }

    /// Runs `sql` under `EXPLAIN ANALYZE` and adds its table scans to `scans`.
    async fn explain(client: &Client, sql: &str, label: &str, scans: &mut Vec<String>) {
        let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
        let messages = client.simple_query(&explain).await.expect(label);
        let text = messages
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            .expect("a plan");
        let plan: Value = serde_json::from_str(text).expect("EXPLAIN's JSON");
        collect_scans(&plan[0]["Plan"], label, scans);
    }

    /// Walks a plan tree, noting every scan that reads the table.
    fn collect_scans(node: &Value, statement: &str, scans: &mut Vec<String>) {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        let read = node["Actual Rows"].as_u64().unwrap_or(0)
            + node["Rows Removed by Filter"].as_u64().unwrap_or(0);
        if kind == "Seq Scan" || (kind.ends_with("Scan") && read > 100) {
            scans.push(format!(
                "{kind} on {} reading {read} rows, {statement}",
                node["Index Name"]
                    .as_str()
                    .or(node["Relation Name"].as_str())
                    .unwrap_or("?")
            ));
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            collect_scans(child, statement, scans);
        }
    }
}
