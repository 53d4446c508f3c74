//! The Redis Streams sink against a `redis-server` of the test's own,
//! reached through a proxy the test cuts to take the server away (the
//! test's server keeps nothing on disk: a restart would lose the stream).
#![cfg(feature = "redis")]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Broker, Received};
use gemini_webhooks_bridge::redis::RedisSink;
use gemini_webhooks_bridge::sink::{Sink, Subject};
use redis::streams::StreamRangeReply;
use testdb::{OwnRedis, Proxy};

struct Redis {
    server: OwnRedis,
    proxy: Proxy,
    sink: Arc<RedisSink>,
}

impl Redis {
    fn start() -> Self {
        let server = OwnRedis::start();
        let proxy = Proxy::start(&format!("127.0.0.1:{}", server.port()));
        let through = format!("redis://127.0.0.1:{}", proxy.port());
        let client = redis::Client::open(through).unwrap();
        let sink = RedisSink::new(client, Subject::parse("gemini:{type}").unwrap());
        Self {
            server,
            proxy,
            sink: Arc::new(sink),
        }
    }

    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.server.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }
}

impl Broker for Redis {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        let mut admin = self.admin().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("gemini:*")
            .query_async(&mut admin)
            .await
            .unwrap();
        let mut received = Vec::new();
        for key in keys {
            let range: StreamRangeReply = redis::cmd("XRANGE")
                .arg(&key)
                .arg("-")
                .arg("+")
                .query_async(&mut admin)
                .await
                .unwrap();
            for entry in range.ids {
                let field = |name: &str| entry.get::<String>(name);
                received.push(Received {
                    subject: key.clone(),
                    attributes: [
                        field("webhook-id"),
                        field("webhook-timestamp"),
                        field("gemini-event-type"),
                    ],
                    body: Bytes::from(entry.get::<Vec<u8>>("body").unwrap()),
                });
            }
        }
        received
    }

    fn stop(&mut self) {
        self.proxy.cut();
    }

    fn start_again(&mut self) {
        self.proxy.restore();
    }
}

// The script keeps one entry per webhook id.
sink_suite!(start: Redis::start(), subject: "gemini:batch.succeeded", once: true, probe: true);

/// The claim and the XADD are one script: a second publish of one webhook
/// id is confirmed as a duplicate of the first entry, not added again;
/// the marker holds the id for the TTL (read from the server, not waited for).
#[tokio::test]
async fn one_entry_per_webhook_id_within_the_ttl() {
    let redis = Redis::start();
    let sink = RedisSink::new(
        redis::Client::open(redis.server.url()).unwrap(),
        Subject::parse("gemini:{type}").unwrap(),
    )
    .dedup_ttl(Duration::from_secs(60));
    let message = common::message("msg_twice");
    let first = sink.publish(&message).await.unwrap();
    let second = sink.publish(&message).await.unwrap();
    assert!(!first.duplicate && second.duplicate);
    assert_eq!(first.broker_id, second.broker_id);
    assert_eq!(redis.received().await.len(), 1);
    let mut admin = redis.admin().await;
    // The marker's TTL, read from the server rather than waited for.
    let ttl: i64 = redis::cmd("PTTL")
        .arg("gemini-webhooks:stream:gemini:batch.succeeded:msg_twice")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&ttl), "{ttl}");
    assert!(sink.ready().await.is_ok());
}

/// What a failed publish says depends on where it failed: refused by the
/// server (a stream key holding another type) or with no server to
/// connect to, nothing was added; a connection lost with the script sent
/// may have added it.
#[tokio::test]
async fn a_failure_says_whether_the_entry_may_have_been_added() {
    let redis = Redis::start();
    let mut admin = redis.admin().await;
    let _: () = redis::cmd("SET")
        .arg("gemini:batch.succeeded")
        .arg("not a stream")
        .query_async(&mut admin)
        .await
        .unwrap();
    let refused = redis
        .sink
        .publish(&common::message("msg_wrongtype"))
        .await
        .unwrap_err();
    assert!(!refused.may_have_published(), "{refused}");

    let nobody = format!("redis://127.0.0.1:{}", testdb::free_port());
    let sink = RedisSink::new(
        redis::Client::open(nobody).unwrap(),
        Subject::parse("gemini:{type}").unwrap(),
    );
    let err = sink
        .publish(&common::message("msg_nobody"))
        .await
        .unwrap_err();
    assert!(!err.may_have_published(), "{err}");
    assert!(sink.ready().await.is_err());
}

/// Every field a sink shows in `Debug`, and never the URL's password.
#[tokio::test]
async fn debug_shows_the_stream_and_ttl_never_the_url() {
    let sink = RedisSink::new(
        redis::Client::open("redis://:hunter2@127.0.0.1:1").unwrap(),
        Subject::parse("gemini:{type}").unwrap(),
    );
    let shown = format!("{sink:?}");
    assert!(shown.starts_with("RedisSink {"), "{shown}");
    assert!(
        shown.contains("gemini:{type}") && shown.contains("dedup_ttl"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}
