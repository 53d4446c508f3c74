//! Benchmark: memory per remembered id in `MemoryReplayStore`, against a
//! bare moka cache configured like the store's (the floor).
//!
//! Fills each with 1,000,000 handled ids (the store through claim + commit,
//! ids shaped like Gemini's `msg_` + 27 characters) and reports the growth
//! of the resident set (Linux `/proc/self/status`). Each runs in a process
//! of its own, so memory freed by one cannot be reused by the other.
//!
//! `cargo run --release --example replay_memory [ids]`

use std::time::Duration;

use gemini_webhooks::replay::{Claim, DEFAULT_DEDUP_TTL, MemoryReplayStore, ReplayStore};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes per id of the store, filled with `count` ids.
async fn store(count: u64) -> f64 {
    let store = MemoryReplayStore::builder().capacity(count).build();
    let before = rss_bytes();
    for i in 0..count {
        let id = format!("msg_{i:027}");
        let Claim::New(token) = store.claim(&id).await.unwrap() else {
            panic!("{id} was not new")
        };
        store.commit(&id, &token, DEFAULT_DEDUP_TTL).await.unwrap();
    }
    let remembered = store.len();
    (rss_bytes().saturating_sub(before)) as f64 / remembered as f64
}

/// Bytes per id of a bare moka cache as the store configures it (128-bit
/// keys, LRU, one cache-wide TTL).
fn bare_moka(count: u64) -> f64 {
    let cache: moka::sync::Cache<u128, ()> = moka::sync::Cache::builder()
        .max_capacity(count)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .time_to_live(Duration::from_secs(25 * 3600))
        .build();
    let before = rss_bytes();
    for i in 0..count {
        cache.insert(
            u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835),
            (),
        );
    }
    cache.run_pending_tasks();
    (rss_bytes().saturating_sub(before)) as f64 / cache.entry_count() as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    match args.next().as_deref() {
        Some("store") => println!("{}", store(count).await),
        Some("moka") => println!("{}", bare_moka(count)),
        _ => {
            let run = |mode: &str| -> f64 {
                let exe = std::env::current_exe().expect("own path");
                let out = std::process::Command::new(exe)
                    .args([count.to_string(), mode.to_owned()])
                    .output()
                    .expect("run a measurement");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .unwrap_or(f64::NAN)
            };
            let (ours, floor) = (run("store"), run("moka"));
            println!(
                "{count} ids: MemoryReplayStore {ours:.0} bytes per id, bare moka {floor:.0} bytes per id"
            );
            println!("store / bare moka = {:.3} (target <= 1.15)", ours / floor);
        }
    }
}
