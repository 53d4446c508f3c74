//! [`ClaimLost`]: why a running handler was stopped: its claim on the
//! delivery id could no longer be held, so a retry may run the handler
//! elsewhere, and two must never run at once.

use std::time::Duration;

use crate::replay::ReplayError;

/// The claim of a delivery whose handler was running could not be held.
///
/// The receiver drops the handler's future and answers `503` with a
/// `Retry-After`, so Gemini's retry runs the handler alone; see
/// [`Admission::run`](super::Admission::run).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimLost {
    /// The store answered that the claim is no longer this delivery's: it
    /// lapsed, or another copy took it over.
    #[error("the replay store says the claim is no longer this delivery's")]
    TakenOver,
    /// No extension landed before the claim was due to lapse (the store
    /// stalled or was unreachable); `source` is the last failure, if the
    /// store answered at all.
    #[error("no extension of the claim landed before it was due to lapse (in {} ms)", lapses_in.as_millis())]
    Expiring {
        /// How long the claim may still hold at the store, at most.
        lapses_in: Duration,
        /// The last extension's failure.
        #[source]
        source: Option<ReplayError>,
    },
}

impl ClaimLost {
    /// When a retry can run the handler: at once if the store let the claim
    /// go, at the latest when it lapses (whole seconds, at least one).
    pub fn retry_after(&self) -> Duration {
        let seconds = match self {
            Self::TakenOver => 1,
            Self::Expiring { lapses_in, .. } => lapses_in.as_millis().div_ceil(1000).max(1),
        };
        Duration::from_secs(u64::try_from(seconds).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_when_the_claim_lapses_in_whole_seconds() {
        assert_eq!(ClaimLost::TakenOver.retry_after(), Duration::from_secs(1));
        let lapsing = |millis| ClaimLost::Expiring {
            lapses_in: Duration::from_millis(millis),
            source: None,
        };
        assert_eq!(lapsing(0).retry_after(), Duration::from_secs(1));
        assert_eq!(lapsing(1_000).retry_after(), Duration::from_secs(1));
        assert_eq!(lapsing(1_001).retry_after(), Duration::from_secs(2));
        assert_eq!(lapsing(100_000).retry_after(), Duration::from_secs(100));
    }

    #[test]
    fn the_cause_is_kept() {
        use std::error::Error as _;
        let lost = ClaimLost::Expiring {
            lapses_in: Duration::from_millis(500),
            source: Some(ReplayError::new("Redis timed out")),
        };
        assert_eq!(
            lost.to_string(),
            "no extension of the claim landed before it was due to lapse (in 500 ms)"
        );
        assert_eq!(
            lost.source().map(ToString::to_string).as_deref(),
            Some("replay store unavailable: Redis timed out")
        );
        assert!(ClaimLost::TakenOver.source().is_none());
    }
}
