//! `RedisReplayStore` against a real Redis: `REDIS_URL`, or a throwaway
//! server of the test run's own. Every test uses its own key prefix. The
//! tests that stop or pause Redis run a `redis-server` of their own.

#![cfg(all(feature = "redis", feature = "axum"))]

use crate::common;
use common::throwaway::{OwnRedis, free_port, redis_url};

use std::time::Duration;

use axum::http::StatusCode;
use common::{EVENT, Handled, app, event_with};
use gemini_webhooks::replay::{Claim, Extension, RedisReplayStore, ReplayStore};
use gemini_webhooks::testing::{generate_secret, random_id};
use gemini_webhooks::tower::WebhookLayer;
use redis::AsyncCommands;

/// A connection for inspecting keys.
async fn inspect() -> redis::aio::MultiplexedConnection {
    let connect = async {
        let client = redis::Client::open(redis_url().as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut connection).await?;
        Ok::<_, redis::RedisError>(connection)
    };
    // Generous: it bounds a missing server, not a slow one.
    match tokio::time::timeout(Duration::from_secs(30), connect).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(err)) => panic!("could not connect to the tests' Redis: {err}"),
        Err(_) => panic!("the tests' Redis did not answer within 30 s"),
    }
}

fn unique_prefix() -> String {
    format!("gemini-webhooks-test:{}:", random_id())
}

fn store(prefix: &str) -> RedisReplayStore {
    RedisReplayStore::builder(redis_url())
        .key_prefix(prefix)
        .build()
        .unwrap()
}

fn store_with_in_flight_ttl(prefix: &str, ttl: Duration) -> RedisReplayStore {
    RedisReplayStore::builder(redis_url())
        .key_prefix(prefix)
        .in_flight_ttl(ttl)
        .build()
        .unwrap()
}

/// One replica: its own app, layer and store, sharing Redis (and the handler
/// counts, to see the total across replicas).
fn replica(secret: &str, prefix: &str, handled: &Handled) -> axum::Router {
    let verifier = common::verifier(secret);
    app(handled.clone()).layer(WebhookLayer::new(verifier).replay_store(store(prefix)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_fifty_concurrent_copies_once() {
    inspect().await;
    let (secret, prefix, handled) = (generate_secret(), unique_prefix(), Handled::default());
    let replicas = [
        replica(&secret, &prefix, &handled),
        replica(&secret, &prefix, &handled),
    ];
    let copies: Vec<_> = (0..50)
        .map(|i| {
            let (app, secret) = (replicas[i % 2].clone(), secret.clone());
            tokio::spawn(
                async move { common::send_signed(&app, &secret, "msg_shared", EVENT).await },
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for copy in copies {
        statuses.push(copy.await.unwrap());
    }
    assert_eq!(handled.runs("msg_shared"), 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_failure_on_replica_a_is_retried_on_replica_b() {
    inspect().await;
    let (secret, prefix, handled) = (generate_secret(), unique_prefix(), Handled::default());
    let (a, b) = (
        replica(&secret, &prefix, &handled),
        replica(&secret, &prefix, &handled),
    );
    let body = event_with(r#""fail_once": true"#);
    assert_eq!(
        common::send_signed(&a, &secret, "msg_ab", &body).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        common::send_signed(&b, &secret, "msg_ab", &body).await,
        StatusCode::OK
    );
    assert_eq!(
        common::send_signed(&a, &secret, "msg_ab", &body).await,
        StatusCode::OK
    );
    assert_eq!(handled.runs("msg_ab"), 2);
}

#[tokio::test]
async fn the_store_keeps_the_replay_store_contract() {
    inspect().await; // Redis is up, or the test says how to start it
    let store = store_with_in_flight_ttl(&unique_prefix(), Duration::from_secs(1));
    gemini_webhooks::testing::replay_store_contract(&store).await;
}

#[tokio::test]
async fn ttls_are_as_configured() {
    let mut redis = inspect().await;
    let prefix = unique_prefix();
    let store = store_with_in_flight_ttl(&prefix, Duration::from_secs(90));
    let Claim::New(token) = store.claim("msg_ttl").await.unwrap() else {
        panic!()
    };
    let key = store.key("msg_ttl");
    assert!(key.starts_with(&prefix));
    let in_flight: i64 = redis.pttl(&key).await.unwrap();
    assert!(
        (80_000..=90_000).contains(&in_flight),
        "in-flight PTTL {in_flight}"
    );

    store
        .commit("msg_ttl", &token, Duration::from_secs(25 * 3600))
        .await
        .unwrap();
    let done: i64 = redis.pttl(&key).await.unwrap();
    assert!(
        (25 * 3_600_000 - 10_000..=25 * 3_600_000).contains(&done),
        "done PTTL {done}"
    );
    let value: String = redis.get(&key).await.unwrap();
    assert_eq!(value, "done");

    // The store's dedup TTL is what the layer commits with.
    let (secret, handled) = (generate_secret(), Handled::default());
    let verifier = common::verifier(&secret);
    let store = RedisReplayStore::builder(redis_url())
        .key_prefix(&prefix)
        .dedup_ttl(Duration::from_secs(7200))
        .build()
        .unwrap();
    assert_eq!(store.dedup_ttl(), Duration::from_secs(7200));
    let app = app(handled).layer(WebhookLayer::new(verifier).replay_store(store));
    assert_eq!(
        common::send_signed(&app, &secret, "msg_layer_ttl", EVENT).await,
        StatusCode::OK
    );
    let layer_ttl: i64 = redis.pttl(format!("{prefix}msg_layer_ttl")).await.unwrap();
    assert!(
        (7_190_000..=7_200_000).contains(&layer_ttl),
        "layer PTTL {layer_ttl}"
    );
}

#[tokio::test]
async fn redis_stopping_mid_run_gives_503_and_recovery_gives_200() {
    let port = free_port();
    let server = OwnRedis::start_on(port);
    let (secret, handled) = (generate_secret(), Handled::default());
    let verifier = common::verifier(&secret);
    let store = RedisReplayStore::builder(format!("redis://127.0.0.1:{port}"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let app = app(handled.clone()).layer(WebhookLayer::new(verifier).replay_store(store));

    assert_eq!(
        common::send_signed(&app, &secret, "msg_before", EVENT).await,
        StatusCode::OK
    );

    drop(server);
    assert_eq!(
        common::send_signed(&app, &secret, "msg_during", EVENT).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(handled.runs("msg_during"), 0, "nothing runs unprotected");

    let _server = OwnRedis::start_on(port);
    // The connection manager reconnects on its own, and on a busy machine a
    // claim may time out (503) and land late (409 until the store releases
    // it): retry as Gemini would, a bounded number of times, until handled.
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..600 {
        status = common::send_signed(&app, &secret, "msg_during", EVENT).await;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
    assert_eq!(handled.runs("msg_during"), 1);
}

#[tokio::test]
async fn fail_open_lets_deliveries_through_when_redis_is_down() {
    let port = free_port(); // nothing listens there
    let (secret, handled) = (generate_secret(), Handled::default());
    let verifier = common::verifier(&secret);
    let down = |fail_open| {
        RedisReplayStore::builder(format!("redis://127.0.0.1:{port}"))
            .timeout(Duration::from_millis(200))
            .fail_open(fail_open)
            .build()
            .unwrap()
    };
    let app = app(handled.clone()).layer(WebhookLayer::new(verifier).replay_store(down(true)));
    assert_eq!(
        common::send_signed(&app, &secret, "msg_open", EVENT).await,
        StatusCode::OK
    );
    assert_eq!(handled.runs("msg_open"), 1);
    // An extension Redis cannot answer is an error (the receiver tries
    // again), not a lost claim; failing open, the handler runs on.
    let token = gemini_webhooks::replay::ClaimToken::new();
    assert!(down(false).extend("msg_open", &token).await.is_err());
    assert_eq!(
        down(true).extend("msg_open", &token).await.unwrap(),
        Extension::Renewed
    );
}

#[tokio::test]
async fn extend_renews_only_the_claim_it_holds() {
    let mut redis = inspect().await;
    let prefix = unique_prefix();
    let store = store_with_in_flight_ttl(&prefix, Duration::from_secs(90));
    assert_eq!(store.in_flight_ttl(), Duration::from_secs(90));
    let Claim::New(token) = store.claim("msg_extend").await.unwrap() else {
        panic!()
    };
    let key = store.key("msg_extend");
    let _: () = redis.pexpire(&key, 1_000).await.unwrap();
    assert_eq!(
        store.extend("msg_extend", &token).await.unwrap(),
        Extension::Renewed
    );
    let renewed: i64 = redis.pttl(&key).await.unwrap();
    assert!((80_000..=90_000).contains(&renewed), "PTTL {renewed}");

    // Another token extends nothing, and says so.
    let _: () = redis.pexpire(&key, 5_000).await.unwrap();
    let stranger = gemini_webhooks::replay::ClaimToken::new();
    assert_eq!(
        store.extend("msg_extend", &stranger).await.unwrap(),
        Extension::Lost
    );
    let untouched: i64 = redis.pttl(&key).await.unwrap();
    assert!(untouched <= 5_000, "PTTL {untouched}");

    // A committed id is not a claim any more.
    store
        .commit("msg_extend", &token, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.extend("msg_extend", &token).await.unwrap(),
        Extension::Lost
    );
    let done: i64 = redis.pttl(&key).await.unwrap();
    assert!(done <= 60_000, "PTTL {done}");
}

/// An admin connection to a test's own Redis.
async fn admin(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits, a bounded number of times, until `key` holds `want` (`None`:
/// until it is gone). Redis runs the commands a pause held back before it
/// reads the next command of another client, so once the admin connection
/// sees the outcome, the late claim has landed and been dealt with.
async fn until_key(admin: &mut redis::aio::MultiplexedConnection, key: &str, want: Option<&str>) {
    let mut seen = None;
    for _ in 0..3_000 {
        seen = admin.get::<_, Option<String>>(key).await.unwrap();
        if seen.as_deref() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{key} holds {seen:?}, not {want:?}");
}

/// A receiver on a Redis of its own, whose writes a test can pause.
struct PausedRedis {
    _server: OwnRedis,
    admin: redis::aio::MultiplexedConnection,
    app: axum::Router,
    secret: String,
    handled: Handled,
    key_prefix: String,
}

impl PausedRedis {
    async fn start(fail_open: bool) -> Self {
        let port = free_port();
        let server = OwnRedis::start_on(port);
        let (secret, handled) = (generate_secret(), Handled::default());
        let store = RedisReplayStore::builder(format!("redis://127.0.0.1:{port}"))
            .timeout(Duration::from_millis(200))
            .fail_open(fail_open)
            .build()
            .unwrap();
        let key_prefix = store.key("");
        let app = app(handled.clone())
            .layer(WebhookLayer::new(common::verifier(&secret)).replay_store(store));
        // Connected, scripts loaded: what a pause meets in production.
        assert_eq!(
            common::send_signed(&app, &secret, "msg_warm", EVENT).await,
            StatusCode::OK
        );
        Self {
            _server: server,
            admin: admin(port).await,
            app,
            secret,
            handled,
            key_prefix,
        }
    }

    async fn client(&mut self, args: &[&str]) {
        let _: () = redis::cmd("CLIENT")
            .arg(args)
            .query_async(&mut self.admin)
            .await
            .unwrap();
    }

    /// Sends `id` while writes are paused, resumes, and waits until its key
    /// holds `after`; returns the status the paused delivery got.
    async fn send_paused(&mut self, id: &str, after: Option<&str>) -> StatusCode {
        self.client(&["PAUSE", "600000", "WRITE"]).await;
        let status = common::send_signed(&self.app, &self.secret, id, EVENT).await;
        self.client(&["UNPAUSE"]).await;
        let key = format!("{}{id}", self.key_prefix);
        until_key(&mut self.admin, &key, after).await;
        status
    }
}

#[tokio::test]
async fn a_claim_that_times_out_is_released_so_the_retry_after_a_pause_is_handled() {
    let mut redis = PausedRedis::start(false).await;
    // The claim lands late, and the store's background release removes it.
    let paused = redis.send_paused("msg_paused", None).await;
    assert_eq!(paused, StatusCode::SERVICE_UNAVAILABLE);
    let retry = common::send_signed(&redis.app, &redis.secret, "msg_paused", EVENT).await;
    assert_eq!(retry, StatusCode::OK);
    assert_eq!(redis.handled.runs("msg_paused"), 1);
}

#[tokio::test]
async fn fail_open_commits_under_the_claim_that_landed_late() {
    let mut redis = PausedRedis::start(true).await;
    // Through unprotected; its commit times out too, but is sent after the
    // claim on the same connection, so both land in order.
    let paused = redis.send_paused("msg_open_late", Some("done")).await;
    assert_eq!(paused, StatusCode::OK);
    let retry = common::send_signed(&redis.app, &redis.secret, "msg_open_late", EVENT).await;
    assert_eq!(retry, StatusCode::OK);
    assert_eq!(
        redis.handled.runs("msg_open_late"),
        1,
        "the retry was recognised"
    );
}

#[test]
fn debug_shows_the_settings_and_never_the_url() {
    let builder = RedisReplayStore::builder("redis://:hunter2@127.0.0.1:6379")
        .key_prefix("p:")
        .in_flight_ttl(Duration::from_secs(42));
    let shown = format!("{builder:?}");
    for part in [
        "RedisReplayStoreBuilder",
        "prefix: \"p:\"",
        "in_flight_ttl: 42s",
    ] {
        assert!(shown.contains(part), "{shown}");
    }
    assert!(!shown.contains("hunter2"), "{shown}");
    let err = RedisReplayStore::builder("http://:hunter2@nowhere")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            gemini_webhooks::ConfigError::InvalidUrl {
                service: "Redis",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("invalid Redis URL: "), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let shown = format!("{:?}", builder.build().unwrap());
    for part in ["RedisReplayStore", "prefix: \"p:\"", "fail_open: false"] {
        assert!(shown.contains(part), "{shown}");
    }
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// The start-up check: a Redis that is not there fails it, naming the
/// cause; the tests' Redis passes.
#[tokio::test]
async fn check_fails_fast_naming_the_cause() {
    let nowhere = RedisReplayStore::builder(format!("redis://127.0.0.1:{}", free_port()))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let shown = gemini_webhooks::ErrorChain(&nowhere.check().await.unwrap_err()).to_string();
    assert!(shown.contains("could not connect to Redis"), "{shown}");
    store(&unique_prefix()).check().await.unwrap();
}
