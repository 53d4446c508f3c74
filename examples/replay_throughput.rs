//! Benchmark: deliveries per second through a replay store (claim + commit
//! per delivery, every id new), at concurrency 1 and 64: the in-memory store;
//! with feature `redis`, Redis on loopback (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`); and PostgreSQL
//! (`DATABASE_URL`, default the local one) with pools of 4 (the default)
//! and 16 connections, each on a fresh table (dropped at the end).
//!
//! `cargo run --release --example replay_throughput --features redis [deliveries]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use gemini_webhooks::replay::{Claim, MemoryReplayStore, ReplayStore};
use gemini_webhooks::testing::random_id;

/// Short, so a run leaves nothing behind for long (it does not change the cost).
const DEDUP_TTL: Duration = Duration::from_secs(60);

/// Deliveries per second with `concurrency` workers sharing `total` ids.
async fn measure<S: ReplayStore>(store: Arc<S>, total: usize, concurrency: usize) -> f64 {
    let prefix = random_id();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, next, prefix) = (store.clone(), next.clone(), prefix.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let id = format!("{prefix}-{i}");
                    let Claim::New(token) = store.claim(&id).await.expect("claim") else {
                        panic!("{id} was not new")
                    };
                    store.commit(&id, &token, DEDUP_TTL).await.expect("commit");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn report<S: ReplayStore>(name: &str, store: S, total: usize) {
    let store = Arc::new(store);
    for concurrency in [1, 64] {
        let rate = measure(store.clone(), total, concurrency).await;
        println!("{name:<8} concurrency {concurrency:>2}: {rate:>9.0} deliveries/s");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    report("memory", MemoryReplayStore::new(), total).await;
    #[cfg(feature = "redis")]
    {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let store = gemini_webhooks::replay::RedisReplayStore::builder(url)
            .key_prefix("gemini-webhooks-bench:")
            .build()
            .expect("Redis URL");
        report("redis", store, total).await;
    }
    {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        for pool in [4, 16] {
            let table = format!("replay_bench_{}_{pool}", std::process::id());
            let store = gemini_webhooks_postgres::replay::PostgresReplayStore::builder(&url)
                .table(&table)
                .pool_size(pool)
                .build()
                .expect("DATABASE_URL");
            store.check().await.expect("PostgreSQL");
            report(&format!("pg/{pool}"), store, total).await;
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL");
            tokio::spawn(connection);
            let _ = client
                .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
                .await;
        }
    }
}
