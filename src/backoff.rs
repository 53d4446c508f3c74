//! The one exponential backoff: the inbox's retries, the reconciler's
//! polls, the API client's retries and the replay stores' background
//! settling all wait `base` doubled per step, up to a cap.

use std::time::Duration;

/// `base` doubled `times` times, at most `max` (never overflowing).
pub fn doubled(base: Duration, times: u32, max: Duration) -> Duration {
    base.saturating_mul(2u32.saturating_pow(times.min(31)))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_their_cap() {
        let s = Duration::from_secs;
        assert_eq!(doubled(s(5), 0, s(3600)), s(5));
        assert_eq!(doubled(s(5), 3, s(3600)), s(40));
        assert_eq!(doubled(s(5), 40, s(3600)), s(3600));
        assert_eq!(doubled(s(300), 1, s(300)), s(300), "a fixed interval");
        assert_eq!(doubled(s(1), u32::MAX, Duration::MAX), s(1 << 31));
        assert_eq!(doubled(Duration::MAX, 1, s(7)), s(7));
    }
}
