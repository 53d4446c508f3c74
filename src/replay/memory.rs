use std::fmt;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::ops::compute::{CompResult, Op};
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::{Claim, ClaimToken, DEFAULT_IN_FLIGHT_TTL, ReplayError, ReplayStore};

/// How many ids a [`MemoryReplayStore`] remembers by default.
pub const DEFAULT_CAPACITY: u64 = 1_000_000;

/// An in-process [`ReplayStore`] on a [`moka`] cache.
///
/// Claims are atomic (one key-level lock in moka, no check-then-insert
/// race), the number of ids is bounded (least recently used go first), and
/// every id expires on its own: handled ids after the dedup TTL the receiver
/// commits them with, claims after the in-flight TTL if nobody commits or
/// releases them.
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
    ids: Cache<String, Slot>,
    in_flight_ttl: Duration,
}

/// What the cache holds for an id; each slot carries its own lifetime.
#[derive(Clone, Copy, Debug)]
enum Slot {
    InFlight { token: u128, ttl: Duration },
    Done { ttl: Duration },
}

impl Slot {
    fn ttl(&self) -> Duration {
        match *self {
            Self::InFlight { ttl, .. } | Self::Done { ttl } => ttl,
        }
    }
}

struct SlotExpiry;

impl Expiry<String, Slot> for SlotExpiry {
    fn expire_after_create(&self, _: &String, slot: &Slot, _: Instant) -> Option<Duration> {
        Some(slot.ttl())
    }

    fn expire_after_update(
        &self,
        _: &String,
        slot: &Slot,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(slot.ttl())
    }
}

impl MemoryReplayStore {
    /// A store for [`DEFAULT_CAPACITY`] (1,000,000) ids whose claims expire
    /// after [`DEFAULT_IN_FLIGHT_TTL`](super::DEFAULT_IN_FLIGHT_TTL) (10 min).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures capacity and in-flight TTL.
    pub fn builder() -> MemoryReplayStoreBuilder {
        MemoryReplayStoreBuilder {
            capacity: DEFAULT_CAPACITY,
            in_flight_ttl: DEFAULT_IN_FLIGHT_TTL,
        }
    }

    /// How many ids are remembered now (approximate: moka counts lazily).
    pub fn len(&self) -> u64 {
        self.ids.run_pending_tasks();
        self.ids.entry_count()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn claim_now(&self, id: &str) -> Claim {
        let token = ClaimToken::new();
        let result = self
            .ids
            .entry_by_ref(id)
            .and_compute_with(|existing| match existing {
                None => Op::Put(Slot::InFlight {
                    token: token.as_u128(),
                    ttl: self.in_flight_ttl,
                }),
                Some(_) => Op::Nop,
            });
        match result {
            CompResult::Inserted(_) => Claim::New(token),
            CompResult::Unchanged(entry) => match entry.into_value() {
                Slot::InFlight { .. } => Claim::InFlight,
                Slot::Done { .. } => Claim::Done,
            },
            // Put on an absent key only inserts; keep the safe answer anyway.
            CompResult::ReplacedWith(_) | CompResult::Removed(_) | CompResult::StillNone(_) => {
                Claim::InFlight
            }
        }
    }

    /// Applies `op` to `id` if `token` still holds its claim; whether it did.
    fn if_claimed_by(&self, id: &str, token: &ClaimToken, op: Op<Slot>) -> bool {
        let mut held = false;
        self.ids.entry_by_ref(id).and_compute_with(|existing| match existing {
            Some(entry) if matches!(entry.value(), Slot::InFlight { token: t, .. } if *t == token.as_u128()) => {
                held = true;
                op
            }
            _ => Op::Nop,
        });
        held
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
        if self.if_claimed_by(id, token, Op::Put(Slot::Done { ttl })) {
            Ok(())
        } else {
            Err(ReplayError::new(
                "the claim expired or was taken over before commit",
            ))
        }
    }

    async fn release(&self, id: &str, token: &ClaimToken) -> Result<(), ReplayError> {
        // Releasing a claim that already expired is not an error: the id is
        // free either way.
        self.if_claimed_by(id, token, Op::Remove);
        Ok(())
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.ids.policy().max_capacity())
            .field("in_flight_ttl", &self.in_flight_ttl)
            .finish_non_exhaustive()
    }
}

/// Configures a [`MemoryReplayStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryReplayStoreBuilder {
    capacity: u64,
    in_flight_ttl: Duration,
}

impl MemoryReplayStoreBuilder {
    /// How many ids to remember at most (default 1,000,000). When full, the
    /// least recently used id is forgotten first.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
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
            ids: Cache::builder()
                .max_capacity(self.capacity)
                // LRU always admits: TinyLFU could refuse a new claim and
                // let a duplicate through.
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(SlotExpiry)
                .build(),
            in_flight_ttl: self.in_flight_ttl,
        }
    }
}
