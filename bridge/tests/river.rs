//! The River sink against a database of the test's own on a throwaway
//! PostgreSQL, migrated with River's own migrations, reached through a
//! proxy the test cuts to take the database away.
#![cfg(feature = "river")]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Broker, Received};
use gemini_webhooks_bridge::river::RiverSink;
use gemini_webhooks_bridge::sink::Sink;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use testdb::Proxy;

struct River {
    proxy: Proxy,
    admin: PgPool,
    sink: Arc<RiverSink>,
}

impl River {
    async fn start() -> Self {
        let server = url::Url::parse(&testdb::postgres_url()).unwrap();
        let database = format!("river_{}", testdb::free_port());
        let root = PgPoolOptions::new()
            .max_connections(1)
            .connect(server.as_str())
            .await
            .unwrap();
        // A name of the test's own making, not input.
        let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}"));
        sqlx::query(create).execute(&root).await.unwrap();
        root.close().await;
        let mut url = server.clone();
        url.set_path(&database);
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(url.as_str())
            .await
            .unwrap();
        riverqueue_migrate::PostgresMigrator::new(admin.clone())
            .migrate_up()
            .await
            .unwrap();
        let proxy = Proxy::start(&format!(
            "{}:{}",
            url.host_str().unwrap(),
            url.port().unwrap_or(5432)
        ));
        let mut through = url.clone();
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(proxy.port())).unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(through.as_str())
            .unwrap();
        let sink = RiverSink::new(pool, "gemini").unwrap();
        Self {
            proxy,
            admin,
            sink: Arc::new(sink),
        }
    }
}

impl Broker for River {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        let rows = sqlx::query("SELECT queue, kind, args::text AS args FROM river_job ORDER BY id")
            .fetch_all(&self.admin)
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                assert_eq!(row.get::<String, _>("kind"), "gemini_webhook");
                let args: serde_json::Value =
                    serde_json::from_str(&row.get::<String, _>("args")).unwrap();
                let field = |name: &str| args[name].as_str().map(str::to_owned);
                Received {
                    subject: row.get("queue"),
                    attributes: [
                        field("webhook_id"),
                        field("webhook_timestamp"),
                        field("event_type"),
                    ],
                    body: Bytes::from(field("body").unwrap()),
                }
            })
            .collect()
    }

    fn stop(&mut self) {
        self.proxy.cut();
    }

    fn start_again(&mut self) {
        self.proxy.restore();
    }
}

// River's unique jobs make every delivery one job, even one whose commit
// was cut off.
sink_suite!(start: River::start().await, subject: "gemini", once: true, probe: true);

/// One ending of a Gemini job is one River job, whatever its webhook id:
/// the unique key is the completion key.
#[tokio::test]
async fn one_job_per_ending_and_per_webhook_id() {
    let river = River::start().await;
    let first = river.sink.publish(&common::message("msg_a")).await.unwrap();
    let again = river.sink.publish(&common::message("msg_a")).await.unwrap();
    let other_id = river.sink.publish(&common::message("msg_b")).await.unwrap();
    assert!(!first.duplicate && again.duplicate && other_id.duplicate);
    assert_eq!(first.broker_id, other_id.broker_id);
    assert_eq!(river.received().await.len(), 1);
    assert!(river.sink.ready().await.is_ok());
}

/// `Debug` names the sink and its queue, and nothing of the pool.
#[tokio::test]
async fn debug_shows_the_queue() {
    let river = River::start().await;
    let shown = format!("{:?}", river.sink);
    assert!(
        shown.starts_with("RiverSink {") && shown.contains("queue"),
        "{shown}"
    );
    assert!(!shown.contains("postgres://"), "{shown}");
}
