//! `PostgresReplayStore` against the PostgreSQL at `DATABASE_URL`, or a
//! throwaway server of the test run's own:
//! the same contract as the Redis store. Each test uses a table of its own.

#![cfg(feature = "axum")]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::pg::{admin, database_url, drop_table, unique_table};
use common::{EVENT, Handled, app};
use gemini_webhooks::replay::{Claim, ReplayStore};
use gemini_webhooks::testing::generate_secret;
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks_postgres::replay::{PostgresReplayStore, PostgresReplayStoreBuilder};

/// A store on `table`, with a timeout no busy machine reaches: in these
/// tests the database, not the clock, decides.
fn builder(table: &str) -> PostgresReplayStoreBuilder {
    PostgresReplayStore::builder(database_url())
        .table(table)
        .timeout(Duration::from_secs(10))
}

fn store(table: &str) -> PostgresReplayStore {
    builder(table).build().unwrap()
}

#[tokio::test]
async fn the_store_keeps_the_replay_store_contract() {
    admin().await;
    let table = unique_table();
    let store = builder(&table)
        .in_flight_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    gemini_webhooks::testing::replay_store_contract(&store).await;
    assert_eq!(store.dedup_ttl(), Duration::from_secs(25 * 3600));
    let shorter = builder(&table)
        .dedup_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(shorter.dedup_ttl(), Duration::from_secs(60));
    drop_table(&table).await;
}

#[tokio::test]
async fn expired_rows_count_as_absent_and_are_cleaned_up() {
    admin().await;
    let table = unique_table();
    let lapsing = builder(&table)
        .in_flight_ttl(Duration::ZERO)
        .build()
        .unwrap();
    // A claim that lapses at once: the next claim takes over, and the old
    // owner can no longer commit.
    let Claim::New(old) = lapsing.claim("msg_lapsed").await.unwrap() else {
        panic!()
    };
    let Claim::New(new) = lapsing.claim("msg_lapsed").await.unwrap() else {
        panic!("an expired claim is taken over")
    };
    assert_ne!(old, new);
    // A commit with a zero dedup TTL is forgotten at once too.
    lapsing
        .commit("msg_lapsed", &new, Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(
        lapsing.claim("msg_lapsed").await.unwrap(),
        Claim::New(_)
    ));
    for i in 0..5 {
        let Claim::New(t) = lapsing.claim(&format!("msg_{i}")).await.unwrap() else {
            panic!()
        };
        lapsing
            .commit(&format!("msg_{i}"), &t, Duration::ZERO)
            .await
            .unwrap();
    }
    let deleted = lapsing.cleanup_expired().await.unwrap();
    assert!(deleted >= 5, "deleted {deleted}");
    let left: i64 = admin()
        .await
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE expires_at > now()"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claim_fifty_concurrent_copies_once() {
    admin().await;
    let table = unique_table();
    let (a, b) = (Arc::new(store(&table)), Arc::new(store(&table)));
    // Create the table before the race, as a running receiver would have.
    a.release("warm-up", &gemini_webhooks::replay::ClaimToken::new())
        .await
        .unwrap();
    let claims: Vec<_> = (0..50)
        .map(|i| {
            let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { replica.claim("msg_race").await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Claim::New(_) => new += 1,
            Claim::InFlight => {}
            Claim::Done => panic!("nothing was committed"),
        }
    }
    assert_eq!(new, 1);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_layer_two_replicas_handle_a_delivery_once() {
    admin().await;
    let table = unique_table();
    let secret = generate_secret();
    let handled = Handled::default();
    let replica = |store| {
        app(handled.clone()).layer(WebhookLayer::new(common::verifier(&secret)).replay_store(store))
    };
    let (a, b) = (replica(store(&table)), replica(store(&table)));
    assert_eq!(
        common::send_signed(&a, &secret, "msg_once", EVENT).await,
        StatusCode::OK
    );
    assert_eq!(
        common::send_signed(&b, &secret, "msg_once", EVENT).await,
        StatusCode::OK
    );
    assert_eq!(handled.runs("msg_once"), 1);

    // A failure on one replica is retried on the other.
    let failing = common::event_with(r#""fail_once": true"#);
    assert_eq!(
        common::send_signed(&a, &secret, "msg_retry", &failing).await,
        500
    );
    assert_eq!(
        common::send_signed(&b, &secret, "msg_retry", &failing).await,
        StatusCode::OK
    );
    assert_eq!(handled.runs("msg_retry"), 2);
    drop_table(&table).await;
}

#[tokio::test]
async fn an_unreachable_database_gives_503_or_with_fail_open_lets_through() {
    let secret = generate_secret();
    let handled = Handled::default();
    // Nothing listens on port 1: connecting fails at once.
    let down = |fail_open| {
        PostgresReplayStore::builder("postgres://postgres@127.0.0.1:1/postgres")
            .fail_open(fail_open)
            .build()
            .unwrap()
    };
    let closed = app(handled.clone())
        .layer(WebhookLayer::new(common::verifier(&secret)).replay_store(down(false)));
    assert_eq!(
        common::send_signed(&closed, &secret, "msg_down", EVENT).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(handled.runs("msg_down"), 0);
    let open = app(handled.clone())
        .layer(WebhookLayer::new(common::verifier(&secret)).replay_store(down(true)));
    assert_eq!(
        common::send_signed(&open, &secret, "msg_down", EVENT).await,
        StatusCode::OK
    );
    assert_eq!(handled.runs("msg_down"), 1);
    // An extension the store cannot answer is an error (the receiver tries
    // again), not a lost claim; failing open, the handler runs on.
    let token = gemini_webhooks::replay::ClaimToken::new();
    assert!(down(false).extend("msg_down", &token).await.is_err());
    assert_eq!(
        down(true).extend("msg_down", &token).await.unwrap(),
        gemini_webhooks::replay::Extension::Renewed
    );
}

#[tokio::test]
async fn a_store_on_the_applications_pool_keeps_the_contract_and_shares_it() {
    admin().await;
    let table = unique_table();
    let pool = common::pg::application_pool(2);
    let store = PostgresReplayStore::from_pool(pool.clone())
        .table(&table)
        .in_flight_ttl(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    gemini_webhooks::testing::replay_store_contract(&store).await;
    // The store's connections are the application's: its table is visible
    // through the same pool, and no second pool was opened.
    let client = pool.get().await.unwrap();
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(rows > 0, "the contract's rows are in the table");
    assert!(pool.status().size <= 2, "{:?}", pool.status());
    assert!(
        format!("{:?}", PostgresReplayStore::from_pool(pool.clone())).contains("own_pool: false")
    );
    drop(client);
    // The own pool's settings are refused, not ignored.
    for (builder, setting) in [
        (
            PostgresReplayStore::from_pool(pool.clone()).pool_size(4),
            "pool_size",
        ),
        (
            PostgresReplayStore::from_pool(pool.clone()).table("Bad"),
            "",
        ),
    ] {
        let err = builder.build().unwrap_err();
        match setting {
            "" => assert!(
                matches!(err, gemini_webhooks::ConfigError::InvalidTable { .. }),
                "{err:?}"
            ),
            setting => assert!(
                matches!(err, gemini_webhooks::ConfigError::NotForPool { setting: s } if s == setting),
                "{err:?}"
            ),
        }
    }
    drop_table(&table).await;
}

#[tokio::test]
async fn the_schema_can_be_left_to_migrations() {
    let admin = admin().await;
    let table = unique_table();
    let unmanaged = builder(&table).create_schema(false).build().unwrap();
    // Without the table, the store cannot decide: an error, never a guess.
    assert!(unmanaged.claim("msg_m").await.is_err());
    admin
        .batch_execute(&PostgresReplayStore::schema_sql(&table))
        .await
        .unwrap();
    assert!(matches!(
        unmanaged.claim("msg_m").await.unwrap(),
        Claim::New(_)
    ));
    drop_table(&table).await;
}

#[test]
fn bad_settings_are_build_errors_and_debug_hides_the_url() {
    let bad_table = PostgresReplayStore::builder(database_url())
        .table("x; DROP TABLE y")
        .build();
    assert!(bad_table.unwrap_err().to_string().contains("table name"));
    let bad_url = PostgresReplayStore::builder("postgres://[::1").build();
    assert!(
        bad_url
            .unwrap_err()
            .to_string()
            .contains("invalid PostgreSQL URL")
    );
    let store = PostgresReplayStore::builder("postgres://app:hunter2@db.internal/app")
        .build()
        .unwrap();
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("db.internal"),
        "{shown}"
    );
    assert!(shown.contains("gemini_webhook_replay"), "{shown}");
    let builder = PostgresReplayStore::builder("postgres://app:hunter2@db.internal/app")
        .in_flight_ttl(Duration::from_secs(42))
        .pool_size(3);
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("in_flight_ttl: 42s") && shown.contains("pool_size: Some(3)"),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("db.internal"),
        "{shown}"
    );
    assert_eq!(
        builder.build().unwrap().in_flight_ttl(),
        Duration::from_secs(42)
    );
}

/// Polls until `id`'s row is gone (the state, not the time, ends the
/// wait; the bound only turns a regression into a failure).
async fn until_row_gone(admin: &tokio_postgres::Client, table: &str, id: &str) {
    let sql = format!("SELECT count(*) FROM {table} WHERE id = $1");
    for _ in 0..600 {
        let rows: i64 = admin.query_one(&sql, &[&id]).await.unwrap().get(0);
        if rows == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the late claim of {id} was never released");
}

#[tokio::test]
async fn a_claim_that_times_out_but_lands_later_is_released() {
    let admin = admin().await;
    let table = unique_table();
    let store = builder(&table)
        .timeout(Duration::from_secs(2))
        .pool_size(1)
        .build()
        .unwrap();
    // A first claim creates the table and prepares the claim statement on
    // the one pooled connection, so the next claim's INSERT is sent at once.
    // (The timeout only has to outlast a claim on a busy machine: the lock
    // below, not the clock, makes the test's claim time out.)
    assert!(matches!(
        store.claim("msg_warm").await.unwrap(),
        Claim::New(_)
    ));

    // Hold the table locked: the claim's INSERT waits, so its answer times
    // out however fast the machine is; once the lock goes, it lands.
    let (locker, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .unwrap();
    assert!(
        store.claim("msg_late").await.is_err(),
        "the claim must time out"
    );
    locker.batch_execute("COMMIT").await.unwrap();

    // The store releases the claim that landed, so the retry is handled
    // instead of waiting out the in-flight TTL with 409s.
    until_row_gone(&admin, &table, "msg_late").await;
    assert!(matches!(
        store.claim("msg_late").await.unwrap(),
        Claim::New(_)
    ));
    drop_table(&table).await;
}

async fn row_count(admin: &tokio_postgres::Client, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    admin.query_one(&sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn every_1024th_claim_deletes_a_batch_of_expired_rows() {
    let admin = admin().await;
    let table = unique_table();
    let lapsing = builder(&table)
        .in_flight_ttl(Duration::ZERO)
        .build()
        .unwrap();
    for i in 0..1023 {
        lapsing.claim(&format!("msg_{i}")).await.unwrap();
    }
    assert_eq!(
        row_count(&admin, &table).await,
        1023,
        "no cleanup before the 1,024th claim"
    );
    lapsing.claim("msg_1023").await.unwrap();
    // The 1,024th claim starts a cleanup of up to 1,000 expired rows.
    for _ in 0..600 {
        if row_count(&admin, &table).await <= 24 {
            drop_table(&table).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the expired rows were never cleaned up");
}

/// The start-up check: a database that does not exist and a missing table
/// fail it with their cause; a usable store passes and has its table.
#[tokio::test]
async fn check_fails_fast_naming_the_cause() {
    use gemini_webhooks::ErrorChain;
    let table = unique_table();
    let missing_db = PostgresReplayStore::builder(format!("{}_nowhere", database_url()))
        .build()
        .unwrap();
    let shown = ErrorChain(&missing_db.check().await.unwrap_err()).to_string();
    assert!(shown.contains("_nowhere\" does not exist"), "{shown}");
    let no_table = PostgresReplayStore::builder(database_url())
        .table(&table)
        .create_schema(false)
        .build()
        .unwrap();
    let shown = ErrorChain(&no_table.check().await.unwrap_err()).to_string();
    assert!(
        shown.contains("check the replay table") && shown.contains("does not exist"),
        "{shown}"
    );
    let store = PostgresReplayStore::builder(database_url())
        .table(&table)
        .build()
        .unwrap();
    store.check().await.unwrap();
    no_table.check().await.unwrap();
    drop_table(&table).await;
}
