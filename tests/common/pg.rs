//! The shared PostgreSQL of the PostgreSQL tests: its URL, a direct
//! connection, and table names no other test (or run) uses.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `DATABASE_URL`, or the test process's own throwaway PostgreSQL.
pub fn database_url() -> String {
    super::throwaway::postgres_url()
}

/// A table name no other test (or run) uses.
pub fn unique_table() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let token = gemini_webhooks::replay::ClaimToken::new().as_u128() as u32;
    format!(
        "gw_test_{}_{}_{token:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A direct connection to `url`, to look at and drop tables. A failure
/// names its cause, never the URL (it may hold a password).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "could not connect to the tests' PostgreSQL: {}",
                gemini_webhooks::ErrorChain(&err)
            )
        });
    tokio::spawn(connection);
    client
}

/// A direct connection to the shared database.
pub async fn admin() -> tokio_postgres::Client {
    connect(&database_url()).await
}

/// Drops `table` and, for an inbox's, the tables beside it.
pub async fn drop_table(table: &str) {
    admin()
        .await
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}, {table}_tracked, {table}_gate, {table}_webhooks"
        ))
        .await
        .unwrap();
}

/// The application's own pool, as a service using deadpool-postgres has
/// one: `size` connections to [`database_url`], plain TCP.
pub fn application_pool(size: usize) -> deadpool_postgres::Pool {
    let config: tokio_postgres::Config = database_url().parse().unwrap();
    let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .build()
        .unwrap()
}

/// Stores in `inbox` a delivery of [`NO_COMPLETION`](super::NO_COMPLETION)
/// under each of `ids`, signed and verified as a receiver would.
pub async fn ingest_each(inbox: &gemini_webhooks_postgres::inbox::Inbox, ids: &[&str]) {
    let secret = gemini_webhooks::testing::generate_secret();
    let verifier = super::verifier(&secret);
    for id in ids {
        let body = bytes::Bytes::from_static(super::NO_COMPLETION.as_bytes());
        let headers = gemini_webhooks::testing::Signer::hmac(&secret)
            .unwrap()
            .id(*id)
            .sign(&body);
        inbox
            .ingest(&verifier.verify(&headers, body).unwrap())
            .await
            .unwrap();
    }
}

/// An inbox on a table no other test uses (its name returned, for
/// [`drop_table`]), with a timeout no busy machine reaches.
pub async fn fresh_inbox() -> (String, gemini_webhooks_postgres::inbox::Inbox) {
    admin().await;
    let table = unique_table();
    let inbox = gemini_webhooks_postgres::inbox::Inbox::builder(database_url())
        .table(&table)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    (table, inbox)
}
