//! Benchmark: memory per remembered id in `MemoryReplayStore`.
//!
//! Fills the store with 1,000,000 handled ids (claim + commit, ids shaped
//! like Gemini's `msg_` + 27 characters) and reports the growth of the
//! process's resident set (Linux `/proc/self/status`).
//!
//! `cargo run --release --example replay_memory [ids]`

use std::time::Duration;

use gemini_webhooks::replay::{Claim, MemoryReplayStore, ReplayStore};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let store = MemoryReplayStore::builder().capacity(count).build();
    let before = rss_bytes();
    for i in 0..count {
        let id = format!("msg_{i:027}");
        let Claim::New(token) = store.claim(&id).await.unwrap() else {
            panic!("{id} was not new")
        };
        store
            .commit(&id, &token, Duration::from_secs(25 * 3600))
            .await
            .unwrap();
    }
    let remembered = store.len();
    let after = rss_bytes();
    let per_id = (after.saturating_sub(before)) as f64 / remembered as f64;
    println!(
        "{remembered} ids remembered; RSS {:.1} MiB -> {:.1} MiB; {per_id:.0} bytes per id (target <= 200)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
}
