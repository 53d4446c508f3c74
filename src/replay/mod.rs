//! Replay protection: remembering which deliveries were handled.
//!
//! Gemini delivers at least once and retries a failed delivery for 24 hours
//! with the same `webhook-id`. This module owns the record of those ids: a
//! delivery is *claimed* before its handler runs, *committed* when the
//! handler succeeded, and *released* when it failed, so the next retry runs
//! the handler again. [`MemoryReplayStore`] keeps the record in process; a
//! store shared by many replicas implements [`ReplayStore`] over the network.
//!
//! A store never decides what to answer: it reports, and the receiver maps
//! its answers (and its errors, to `503`) in one place.

#[cfg(feature = "receiver")]
pub(crate) mod background;
mod error;
#[cfg(feature = "receiver")]
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::time::Duration;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{DEFAULT_KEY_PREFIX, RedisReplayStore, RedisReplayStoreBuilder};
pub use error::ReplayError;
#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub use memory::{DEFAULT_CAPACITY, MemoryReplayStore, MemoryReplayStoreBuilder};

/// How long a handled id is remembered by default: 25 hours, longer than
/// Gemini's 24-hour retry horizon (not only the 5-minute timestamp window:
/// a retry is signed anew and passes the window again).
pub const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(25 * 60 * 60);

/// How long a claim holds by default when its owner neither commits nor
/// releases it (a crashed process, a leaked claim): 10 minutes.
pub const DEFAULT_IN_FLIGHT_TTL: Duration = Duration::from_secs(10 * 60);

/// What a store knows about an id when a delivery tries to claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The id was free and is now claimed by this delivery: run the handler,
    /// then [`commit`](ReplayStore::commit) or [`release`](ReplayStore::release)
    /// with this token.
    New(ClaimToken),
    /// Another copy of this delivery holds the claim and its handler is
    /// still running.
    InFlight,
    /// A copy of this delivery was already handled successfully.
    Done,
}

/// What [`extend`](ReplayStore::extend) found: the claim renewed, or not
/// this token's any more. A store that could not answer returns an error
/// instead, and the receiver tries again at the next tick while the claim
/// can still hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Extension {
    /// The token still held the id: the claim now holds for another
    /// [`in_flight_ttl`](ReplayStore::in_flight_ttl) from when the store
    /// received the call.
    Renewed,
    /// The token no longer holds the id: the claim lapsed, was taken over
    /// by another copy, or was settled. The handler must stop: a retry may
    /// already be running it.
    Lost,
}

/// Proof of one claim. Commit and release act only while the id still
/// holds the same token, so an owner whose claim expired (and was taken by
/// another copy) cannot overwrite the newer claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(u128);

impl ClaimToken {
    /// A fresh, unpredictable token.
    pub fn new() -> Self {
        // wasm32-unknown-unknown's std hasher has no random seed: every
        // isolate would count the same tokens. The host's random source
        // (`crypto.getRandomValues`) tells them apart.
        #[cfg(all(target_family = "wasm", target_os = "unknown"))]
        {
            let mut bytes = [0u8; 16];
            if getrandom::fill(&mut bytes).is_ok() {
                return Self(u128::from_le_bytes(bytes));
            }
        }
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        // Unique within the process (counter) and across processes (the
        // randomly seeded std hasher); not a secret, only an identity.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(count);
        Self((u128::from(hasher.finish()) << 64) | u128::from(count))
    }

    /// The token as a number, e.g. to store it.
    pub fn as_u128(&self) -> u128 {
        self.0
    }

    /// A token read back from storage.
    pub fn from_u128(value: u128) -> Self {
        Self(value)
    }
}

impl Default for ClaimToken {
    fn default() -> Self {
        Self::new()
    }
}

/// A record of claimed and handled webhook ids.
///
/// Implementations must make [`claim`](ReplayStore::claim) atomic: of many
/// concurrent claims of one new id, exactly one gets [`Claim::New`]. An
/// error means "cannot decide" and makes the receiver answer `503` so Gemini
/// retries; nothing is lost.
///
/// Implement it with `async fn`s; the futures must be `Send`. The contract
/// in full, rule by rule, is
/// `gemini_webhooks::testing::replay_store_contract` (feature
/// `test-util`): run it against your store in a test, as this crate's
/// memory, Redis and PostgreSQL stores do.
pub trait ReplayStore: Send + Sync + 'static {
    /// Claims `id` for one delivery.
    fn claim(&self, id: &str) -> impl Future<Output = Result<Claim, ReplayError>> + Send;

    /// Marks `id` handled, remembered for `ttl`, if `token` still holds it.
    fn commit(
        &self,
        id: &str,
        token: &ClaimToken,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), ReplayError>> + Send;

    /// Frees `id` so the next retry is handled, if `token` still holds it.
    fn release(
        &self,
        id: &str,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<(), ReplayError>> + Send;

    /// Keeps `id`'s claim for another [`in_flight_ttl`](Self::in_flight_ttl)
    /// from now if `token` still holds it ([`Extension::Renewed`]);
    /// [`Extension::Lost`] if it does not. An error means only that the store
    /// did not answer: the claim may still hold.
    ///
    /// The receiver calls it while a handler runs, every third of the
    /// in-flight TTL, so a handler slower than the TTL keeps its claim and
    /// no retry runs a twin beside it. A failed call is tried again at the
    /// next tick; if no extension has landed when the claim is about to
    /// lapse, or the store answers `Lost`, the handler is stopped and the
    /// request answered `503` (see [`Admission::run`](crate::receiver::Admission::run)).
    fn extend(
        &self,
        id: &str,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Extension, ReplayError>> + Send;

    /// How long a claim holds when it is neither extended nor settled.
    fn in_flight_ttl(&self) -> Duration;

    /// How long the receiver has this store remember a handled id: the TTL
    /// it commits with (default [`DEFAULT_DEDUP_TTL`], 25 h, longer than
    /// Gemini's 24 hours of retries). The one place the dedup TTL is set:
    /// each store's builder has a `dedup_ttl`.
    fn dedup_ttl(&self) -> Duration {
        DEFAULT_DEDUP_TTL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_outlast_geminis_retries() {
        // Gemini retries for 24 hours; a handled id must be remembered longer.
        assert_eq!(DEFAULT_DEDUP_TTL, Duration::from_secs(25 * 3600));
        assert_eq!(DEFAULT_IN_FLIGHT_TTL, Duration::from_secs(600));
    }

    #[test]
    fn tokens_round_trip_and_differ() {
        let token = ClaimToken::new();
        assert_eq!(ClaimToken::from_u128(token.as_u128()), token);
        assert_ne!(ClaimToken::new(), ClaimToken::new());
        assert_ne!(ClaimToken::default(), token);
        assert_eq!(ClaimToken::from_u128(7).as_u128(), 7);
    }
}
