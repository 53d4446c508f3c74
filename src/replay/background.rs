//! What the Redis and PostgreSQL stores share when their server does not
//! answer: letting a delivery through unprotected in a store built to fail
//! open, and settling in the background what a timed-out operation may
//! have left undone (a claim that may still land, a commit never sent).

use std::time::Duration;

use tokio::time::Instant;

use super::{Claim, ClaimToken, Extension, ReplayError};
use crate::error_chain::ErrorChain;

/// The first pause between two tries of a settling operation.
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// A claim `store` could not make, in a store built to fail open: the
/// delivery goes through unprotected, under `token` (if the claim lands
/// late, the commit still can).
pub fn fail_open_claim(store: &str, id: &str, err: &ReplayError, token: ClaimToken) -> Claim {
    tracing::warn!(webhook_id = id, store, error = %ErrorChain(err), "replay store unavailable; letting the delivery through unprotected (fail_open)");
    Claim::New(token)
}

/// An extension the store could not answer, in a store built to fail open:
/// the handler runs on unprotected, as its claim did (an extension that
/// failed would otherwise stop it at the claim's expiry). A closed store
/// hands the error on, and the receiver tries again at the next tick.
pub fn fail_open_extension(
    fail_open: bool,
    id: &str,
    err: ReplayError,
) -> Result<Extension, ReplayError> {
    if !fail_open {
        return Err(err);
    }
    tracing::warn!(webhook_id = id, error = %ErrorChain(&err), "replay store unavailable; the handler runs on unprotected (fail_open)");
    Ok(Extension::Renewed)
}

/// Tries `attempt` until it succeeds (`true`) or `give_up_after` has
/// passed since the first try, pausing 50 ms doubled after each failure,
/// at most `max_pause`; whether it succeeded.
pub async fn retry_until<F, Fut>(
    give_up_after: Duration,
    max_pause: Duration,
    mut attempt: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    for failures in 0.. {
        if attempt().await {
            return true;
        }
        if started.elapsed() >= give_up_after {
            break;
        }
        tokio::time::sleep(crate::backoff::doubled(FIRST_PAUSE, failures, max_pause)).await;
    }
    false
}

/// A claim token as the stores keep it, and the inbox its leases: 32 hex
/// digits.
pub fn token_hex(token: &ClaimToken) -> String {
    format!("{:032x}", token.as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn settling_retries_with_doubled_pauses_until_it_gives_up() {
        let started = Instant::now();
        let mut tried_at = Vec::new();
        let settled = retry_until(
            Duration::from_millis(500),
            Duration::from_millis(200),
            || {
                tried_at.push(started.elapsed().as_millis());
                // Without pauses the paused clock never moves: fail, not spin.
                assert!(tried_at.len() < 100, "tries without pauses: {tried_at:?}");
                async { false }
            },
        )
        .await;
        assert!(!settled);
        // Pauses 50, 100, 200, 200 ms: doubled, at most the cap.
        assert_eq!(tried_at, [0, 50, 150, 350, 550]);
        assert_eq!(started.elapsed(), Duration::from_millis(550));
    }

    #[tokio::test(start_paused = true)]
    async fn settling_stops_at_the_first_success() {
        let tries = AtomicU32::new(0);
        let settled = retry_until(Duration::from_secs(60), Duration::from_secs(1), || {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move { n == 2 }
        })
        .await;
        assert!(settled);
        assert_eq!(tries.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn tokens_are_32_hex_digits() {
        let token = ClaimToken::new();
        let hex = token_hex(&token);
        assert_eq!(hex.len(), 32);
        assert_eq!(u128::from_str_radix(&hex, 16).unwrap(), token.as_u128());
    }
}
