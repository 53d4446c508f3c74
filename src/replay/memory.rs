//! [`MemoryReplayStore`]: the in-process replay store (moka), sharded,
//! for a single receiver replica.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use moka::Expiry;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::{
    Claim, ClaimToken, DEFAULT_DEDUP_TTL, DEFAULT_IN_FLIGHT_TTL, Extension, ReplayError,
    ReplayStore,
};

/// How many handled ids a [`MemoryReplayStore`] remembers by default.
pub const DEFAULT_CAPACITY: u64 = 1_000_000;

/// An in-process [`ReplayStore`]: handled ids in a [`moka`] cache, claims
/// in a small lock table beside it.
///
/// Handled ids are bounded in number (least recently used go first) and
/// expire after the dedup TTL the receiver commits them with. Claims live
/// in a sharded table of in-flight ids: claiming checks both under the
/// shard's lock, so of many concurrent claims of a new id exactly one wins
/// (no check-then-insert race), and a claim that is never settled lapses
/// after the in-flight TTL. Keeping claims out of the cache halves the cost
/// of a delivery: one cache insert instead of two atomic read-modify-writes
/// (numbers in BENCHMARKS.md).
///
/// It sees only the deliveries this process receives: when several replicas
/// share one endpoint, use a shared store instead.
///
/// ```
/// use gemini_webhooks::replay::{Claim, MemoryReplayStore, ReplayStore};
/// use std::time::Duration;
///
/// # tokio_test_block_on(async {
/// let store = MemoryReplayStore::new();
/// let Claim::New(token) = store.claim("msg_1").await? else { unreachable!() };
/// assert_eq!(store.claim("msg_1").await?, Claim::InFlight);
/// store.commit("msg_1", &token, Duration::from_secs(60)).await?;
/// assert_eq!(store.claim("msg_1").await?, Claim::Done);
/// # Ok::<(), gemini_webhooks::replay::ReplayError>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryReplayStore {
    /// Ids committed with the store's dedup TTL: one cache-wide expiry, no
    /// per-entry timer (moka's cheapest configuration in time and memory).
    done: Cache<IdKey, ()>,
    /// Ids committed with any other TTL, each expiring after its own.
    done_other: Cache<IdKey, DoneTtl>,
    /// Whether `done_other` was ever used: until then claims skip it.
    other_used: Arc<AtomicBool>,
    dedup_ttl: Duration,
    in_flight: Arc<[Mutex<HashMap<IdKey, InFlight>>; SHARDS]>,
    in_flight_ttl: Duration,
}

/// Lock shards for claims: enough that 2–64 worker threads rarely meet.
const SHARDS: usize = 16;

/// A shard sweeps out lapsed claims when it grows past this many.
const SWEEP_AT: usize = 1024;

/// An id as the store keys it: the first 128 bits of its SHA-256.
///
/// A fixed-size key needs no allocation of its own, which saves about 100
/// bytes per remembered id against `String` keys (BENCHMARKS.md). Ids are verified
/// before they are claimed, and a collision would take about 2^64 ids.
type IdKey = u128;

fn key(id: &str) -> IdKey {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

/// How long a handled id is remembered, in whole seconds (small, so the
/// cache entry stays small).
type DoneTtl = u32;

#[derive(Clone, Copy, Debug)]
struct InFlight {
    token: u128,
    /// When the claim was taken or last extended, on Tokio's clock (so
    /// tests with paused time control it; without a paused runtime it is
    /// the monotonic clock).
    since: tokio::time::Instant,
}

/// In `done_other`, each handled id expires after the TTL it was committed
/// with. An id is inserted once (a second commit needs a second claim, which finds it
/// done), so no update policy is needed.
struct DoneExpiry;

impl Expiry<IdKey, DoneTtl> for DoneExpiry {
    fn expire_after_create(&self, _: &IdKey, ttl: &DoneTtl, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs((*ttl).into()))
    }
}

impl MemoryReplayStore {
    /// A store for [`DEFAULT_CAPACITY`] (1,000,000) handled ids whose claims
    /// lapse after [`DEFAULT_IN_FLIGHT_TTL`](super::DEFAULT_IN_FLIGHT_TTL)
    /// (10 min).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures capacity and in-flight TTL.
    pub fn builder() -> MemoryReplayStoreBuilder {
        MemoryReplayStoreBuilder {
            capacity: DEFAULT_CAPACITY,
            dedup_ttl: DEFAULT_DEDUP_TTL,
            in_flight_ttl: DEFAULT_IN_FLIGHT_TTL,
        }
    }

    /// How many handled ids are remembered now.
    pub fn len(&self) -> u64 {
        self.done.run_pending_tasks();
        self.done_other.run_pending_tasks();
        self.done.entry_count() + self.done_other.entry_count()
    }

    /// Whether `key` was handled and is still remembered.
    fn is_done(&self, key: &IdKey) -> bool {
        self.done.contains_key(key)
            || (self.other_used.load(Ordering::Acquire) && self.done_other.contains_key(key))
    }

    /// Remembers `key` as handled for `ttl`.
    fn remember(&self, key: IdKey, ttl: Duration) {
        if ttl == self.dedup_ttl {
            self.done.insert(key, ());
        } else {
            self.other_used.store(true, Ordering::Release);
            let seconds = DoneTtl::try_from(ttl.as_secs()).unwrap_or(DoneTtl::MAX);
            self.done_other.insert(key, seconds);
        }
    }

    /// Whether no handled id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard holding `key`'s claim, locked. A poisoned lock only means
    /// another thread panicked mid-update of a plain map: keep using it.
    fn shard(&self, key: IdKey) -> MutexGuard<'_, HashMap<IdKey, InFlight>> {
        let index = (key as usize) % SHARDS;
        self.in_flight[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn claim_now(&self, id: &str) -> Claim {
        let key = key(id);
        let mut claims = self.shard(key);
        if self.is_done(&key) {
            return Claim::Done;
        }
        let now = tokio::time::Instant::now();
        if let Some(claim) = claims.get(&key)
            && now.duration_since(claim.since) < self.in_flight_ttl
        {
            return Claim::InFlight;
        }
        let token = ClaimToken::new();
        claims.insert(
            key,
            InFlight {
                token: token.as_u128(),
                since: now,
            },
        );
        if claims.len() > SWEEP_AT {
            claims.retain(|_, claim| now.duration_since(claim.since) < self.in_flight_ttl);
        }
        Claim::New(token)
    }

    /// Removes `id`'s claim if `token` still holds it; whether it did. Runs
    /// `then` under the shard's lock, so no claim can slip in between.
    fn settle(&self, id: &str, token: &ClaimToken, then: impl FnOnce(IdKey)) -> bool {
        let key = key(id);
        let mut claims = self.shard(key);
        match claims.get(&key) {
            Some(claim) if self.holds(claim, token) => {
                then(key);
                claims.remove(&key);
                true
            }
            _ => false,
        }
    }

    /// Whether `claim` is `token`'s. A lapsed claim nobody took over still
    /// counts: its handler is the only one that ran.
    fn holds(&self, claim: &InFlight, token: &ClaimToken) -> bool {
        claim.token == token.as_u128()
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayStore for MemoryReplayStore {
    async fn claim(&self, id: &str) -> Result<Claim, ReplayError> {
        Ok(self.claim_now(id))
    }

    async fn commit(&self, id: &str, token: &ClaimToken, ttl: Duration) -> Result<(), ReplayError> {
        if self.settle(id, token, |key| self.remember(key, ttl)) {
            Ok(())
        } else {
            Err(ReplayError::new(
                "the claim lapsed or was taken over before commit",
            ))
        }
    }

    async fn release(&self, id: &str, token: &ClaimToken) -> Result<(), ReplayError> {
        // Releasing a claim that already lapsed is not an error: the id is
        // free either way.
        self.settle(id, token, |_| {});
        Ok(())
    }

    async fn extend(&self, id: &str, token: &ClaimToken) -> Result<Extension, ReplayError> {
        let key = key(id);
        let mut claims = self.shard(key);
        Ok(match claims.get_mut(&key) {
            Some(claim) if self.holds(claim, token) => {
                claim.since = tokio::time::Instant::now();
                Extension::Renewed
            }
            _ => Extension::Lost,
        })
    }

    fn in_flight_ttl(&self) -> Duration {
        self.in_flight_ttl
    }

    fn dedup_ttl(&self) -> Duration {
        self.dedup_ttl
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.done.policy().max_capacity())
            .field("dedup_ttl", &self.dedup_ttl)
            .field("in_flight_ttl", &self.in_flight_ttl)
            .finish_non_exhaustive()
    }
}

/// Configures a [`MemoryReplayStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryReplayStoreBuilder {
    capacity: u64,
    dedup_ttl: Duration,
    in_flight_ttl: Duration,
}

impl MemoryReplayStoreBuilder {
    /// How many handled ids to remember at most (default 1,000,000). When
    /// full, the least recently used id is forgotten first.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long handled ids are remembered (default [`DEFAULT_DEDUP_TTL`],
    /// 25 h): the receiver commits with it. Ids committed with it share one
    /// cache-wide expiry, which is faster and smaller than an expiry per
    /// id; a commit with another TTL (a caller of the store's own) still
    /// expires after its own, in a second cache.
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// How long a claim holds when neither committed nor released
    /// (default 10 minutes). Keep it longer than your slowest handler.
    pub fn in_flight_ttl(mut self, ttl: Duration) -> Self {
        self.in_flight_ttl = ttl;
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryReplayStore {
        MemoryReplayStore {
            done: Cache::builder()
                .max_capacity(self.capacity)
                // LRU always admits: TinyLFU could refuse to remember a
                // handled id and let its retry through.
                .eviction_policy(EvictionPolicy::lru())
                .time_to_live(self.dedup_ttl)
                .build(),
            done_other: Cache::builder()
                .max_capacity(self.capacity)
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(DoneExpiry)
                .build(),
            other_used: Arc::new(AtomicBool::new(false)),
            dedup_ttl: self.dedup_ttl,
            in_flight: Arc::new(std::array::from_fn(|_| Mutex::default())),
            in_flight_ttl: self.in_flight_ttl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    const DAY: Duration = Duration::from_secs(86_400);

    // In real time: handled ids expire on moka's clock, which paused Tokio
    // time does not move (the contract caught that).
    #[cfg(feature = "test-util")]
    #[tokio::test]
    async fn the_store_keeps_the_replay_store_contract() {
        let store = MemoryReplayStore::builder()
            .in_flight_ttl(Duration::from_secs(1))
            .build();
        crate::testing::replay_store_contract(&store).await;
    }

    #[test]
    fn concurrent_claims_of_one_id_make_exactly_one_winner() {
        let store = MemoryReplayStore::new();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let store = &store;
                    scope.spawn(move || {
                        (0..500)
                            .filter(|i| {
                                matches!(store.claim_now(&format!("id-{i}")), Claim::New(_))
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 500);
    }

    #[test]
    fn an_unsettled_claim_lapses_and_its_owner_cannot_commit() {
        block_on(async {
            let store = MemoryReplayStore::builder()
                .in_flight_ttl(Duration::ZERO)
                .build();
            let Claim::New(stale) = store.claim("b").await.unwrap() else {
                panic!()
            };
            let Claim::New(fresh) = store.claim("b").await.unwrap() else {
                panic!("claim did not lapse")
            };
            assert!(store.commit("b", &stale, DAY).await.is_err());
            store.release("b", &stale).await.unwrap(); // no effect on the new claim
            store.commit("b", &fresh, DAY).await.unwrap();
            assert_eq!(store.claim("b").await.unwrap(), Claim::Done);
        });
    }

    #[test]
    fn handled_ids_expire_after_their_ttl() {
        block_on(async {
            let store = MemoryReplayStore::new();
            let Claim::New(token) = store.claim("c").await.unwrap() else {
                panic!()
            };
            store.commit("c", &token, Duration::ZERO).await.unwrap();
            assert!(matches!(store.claim("c").await.unwrap(), Claim::New(_)));
        });
    }

    #[test]
    fn the_dedup_ttl_and_other_ttls_are_both_remembered_and_both_expire() {
        block_on(async {
            let store = MemoryReplayStore::builder()
                .dedup_ttl(Duration::ZERO)
                .build();
            let commit = |id: &'static str, ttl| {
                let store = store.clone();
                async move {
                    let Claim::New(token) = store.claim(id).await.unwrap() else {
                        panic!("{id} was not new")
                    };
                    store.commit(id, &token, ttl).await.unwrap();
                }
            };
            // The store's own TTL (zero here): forgotten at once.
            commit("fast", Duration::ZERO).await;
            assert!(matches!(store.claim("fast").await.unwrap(), Claim::New(_)));
            assert!(!store.other_used.load(Ordering::Acquire));
            // Another TTL: remembered, in the per-entry cache.
            commit("slow", DAY).await;
            assert!(store.other_used.load(Ordering::Acquire));
            assert_eq!(store.claim("slow").await.unwrap(), Claim::Done);
            assert_eq!(store.len(), 1);
        });
        block_on(async {
            let store = MemoryReplayStore::new();
            let Claim::New(token) = store.claim("d").await.unwrap() else {
                panic!()
            };
            store.commit("d", &token, DEFAULT_DEDUP_TTL).await.unwrap();
            assert_eq!(store.claim("d").await.unwrap(), Claim::Done);
            assert!(!store.other_used.load(Ordering::Acquire), "the fast path");
            assert_eq!(store.len(), 1);
        });
    }

    /// Claims on every shard, well past the sweep threshold.
    const MANY: usize = SWEEP_AT * SHARDS * 2;

    #[test]
    fn live_claims_survive_the_sweep() {
        let store = MemoryReplayStore::builder()
            .in_flight_ttl(Duration::from_secs(3600))
            .build();
        for i in 0..MANY {
            assert!(matches!(store.claim_now(&i.to_string()), Claim::New(_)));
        }
        for i in 0..MANY {
            assert_eq!(store.claim_now(&i.to_string()), Claim::InFlight, "{i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn claims_that_lapsed_are_swept_once_a_shard_is_past_the_threshold() {
        let store = MemoryReplayStore::builder()
            .in_flight_ttl(Duration::from_secs(10))
            .build();
        let count = |store: &MemoryReplayStore| -> usize {
            store
                .in_flight
                .iter()
                .map(|s| s.lock().unwrap().len())
                .sum()
        };
        for i in 0..MANY {
            let _ = store.claim_now(&format!("old-{i}"));
        }
        assert_eq!(count(&store), MANY, "nothing lapsed yet, nothing swept");
        tokio::time::advance(Duration::from_secs(11)).await;
        for i in 0..MANY {
            let _ = store.claim_now(&format!("new-{i}"));
        }
        // Shards already past the threshold sweep on the next claim: the
        // old claims are gone, only the new ones (and at most one sweep's
        // worth of growth per shard) remain.
        let left = count(&store);
        assert!(
            left <= MANY,
            "{left} claims kept; lapsed ones were not swept"
        );
        assert!(
            left >= MANY - SHARDS * (SWEEP_AT + 1),
            "{left}: live claims were swept"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_holds_for_its_ttl_and_extend_renews_it() {
        let store = MemoryReplayStore::builder()
            .in_flight_ttl(Duration::from_secs(10))
            .build();
        assert_eq!(store.in_flight_ttl(), Duration::from_secs(10));
        let Claim::New(token) = store.claim("e").await.unwrap() else {
            panic!()
        };
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(store.claim("e").await.unwrap(), Claim::InFlight);
        assert_eq!(store.extend("e", &token).await.unwrap(), Extension::Renewed);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(store.claim("e").await.unwrap(), Claim::InFlight, "renewed");
        // Only its own token extends it.
        let stranger = store.extend("e", &ClaimToken::new()).await.unwrap();
        assert_eq!(stranger, Extension::Lost);
        tokio::time::advance(Duration::from_secs(1)).await;
        let Claim::New(_) = store.claim("e").await.unwrap() else {
            panic!("lapsed 10 s after the renewal")
        };
        let taken_over = store.extend("e", &token).await.unwrap();
        assert_eq!(taken_over, Extension::Lost, "taken over");
    }

    #[test]
    fn defaults_len_and_debug() {
        let store = MemoryReplayStore::new();
        assert_eq!(store.in_flight_ttl(), Duration::from_secs(600));
        assert!(store.is_empty());
        block_on(async {
            let Claim::New(token) = store.claim("x").await.unwrap() else {
                panic!()
            };
            assert!(store.is_empty(), "a claim is not a handled id");
            store.commit("x", &token, DAY).await.unwrap();
        });
        assert_eq!(store.len(), 1);
        assert!(!store.is_empty());
        let shown = format!("{store:?}");
        assert!(shown.contains("capacity: Some(1000000)"), "{shown}");
        assert!(shown.contains("in_flight_ttl: 600s"), "{shown}");
        assert!(shown.contains("dedup_ttl: 90000s"), "{shown}");
        let small = MemoryReplayStore::builder().capacity(7).build();
        assert!(format!("{small:?}").contains("capacity: Some(7)"));
    }

    #[test]
    fn lapsed_claims_are_swept_from_a_growing_shard() {
        let store = MemoryReplayStore::builder()
            .in_flight_ttl(Duration::ZERO)
            .build();
        for i in 0..(SWEEP_AT * SHARDS * 2) {
            let _ = store.claim_now(&i.to_string());
        }
        let total: usize = store
            .in_flight
            .iter()
            .map(|s| s.lock().unwrap().len())
            .sum();
        assert!(total <= (SWEEP_AT + 1) * SHARDS, "{total} claims kept");
    }
}
