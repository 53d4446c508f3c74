use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::VerifyError;

/// `webhook-id`: the delivery's id, the same on every retry.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// `webhook-timestamp`: unix seconds when this attempt was signed.
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// `webhook-signature`: space-separated `version,base64` entries.
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// Longest `webhook-id` accepted; ids are also replay-store keys, so bound them.
pub(crate) const MAX_ID_LEN: usize = 256;

/// The three Standard Webhooks headers, borrowed from the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebhookHeaders<'a> {
    pub(crate) id: &'a str,
    pub(crate) timestamp: &'a str,
    pub(crate) unix_seconds: u64,
    pub(crate) signature: &'a str,
}

impl<'a> WebhookHeaders<'a> {
    pub(crate) fn parse(headers: &'a HeaderMap) -> Result<Self, VerifyError> {
        let [id, timestamp, signature] = find_three(headers);
        let id = single(id, "webhook-id")?;
        if id.len() > MAX_ID_LEN {
            return Err(VerifyError::InvalidHeader {
                header: "webhook-id",
                reason: "longer than 256 bytes",
            });
        }
        let timestamp = single(timestamp, "webhook-timestamp")?;
        let unix_seconds = parse_unix_seconds(timestamp)?;
        let signature = single(signature, "webhook-signature")?;
        Ok(Self {
            id,
            timestamp,
            unix_seconds,
            signature,
        })
    }

    /// Checks the timestamp is within `tolerance` of `now`, both ways.
    pub(crate) fn check_window(
        &self,
        now: SystemTime,
        tolerance: Duration,
    ) -> Result<SystemTime, VerifyError> {
        // i128 holds any u64 difference, so no edge value can overflow.
        let now_secs: i128 = match now.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_secs().into(),
            Err(before) => -i128::from(before.duration().as_secs()),
        };
        let age = now_secs - i128::from(self.unix_seconds);
        let tolerance = i128::from(tolerance.as_secs());
        if age > tolerance {
            Err(VerifyError::TimestampTooOld)
        } else if -age > tolerance {
            Err(VerifyError::TimestampInFuture)
        } else {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(self.unix_seconds))
                .ok_or(VerifyError::InvalidTimestamp)
        }
    }
}

/// What the request holds of one `webhook-*` header.
#[derive(Clone, Copy)]
enum Found<'a> {
    Missing,
    Once(&'a HeaderValue),
    MoreThanOnce,
}

/// The three `webhook-*` headers, found in one pass over the request's
/// headers (three hashed look-ups of custom names cost about as much as
/// the HMAC of a small body).
fn find_three(headers: &HeaderMap) -> [Found<'_>; 3] {
    let mut found = [Found::Missing; 3];
    for (name, value) in headers {
        let slot = if name == WEBHOOK_ID {
            0
        } else if name == WEBHOOK_TIMESTAMP {
            1
        } else if name == WEBHOOK_SIGNATURE {
            2
        } else {
            continue;
        };
        found[slot] = match found[slot] {
            Found::Missing => Found::Once(value),
            _ => Found::MoreThanOnce,
        };
    }
    found
}

/// The header's one value as visible ASCII, trimmed; absent, repeated,
/// empty or binary values are errors.
fn single<'a>(found: Found<'a>, label: &'static str) -> Result<&'a str, VerifyError> {
    let invalid = |reason| VerifyError::InvalidHeader {
        header: label,
        reason,
    };
    let value = match found {
        Found::Missing => return Err(VerifyError::MissingHeader(label)),
        Found::MoreThanOnce => return Err(invalid("sent more than once")),
        Found::Once(value) => value,
    };
    let value = value
        .to_str()
        .map_err(|_| invalid("not visible ASCII"))?
        .trim_ascii();
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    Ok(value)
}

/// Unix seconds from decimal digits only (no sign, no spaces), in one pass.
fn parse_unix_seconds(value: &str) -> Result<u64, VerifyError> {
    if value.is_empty() {
        return Err(VerifyError::InvalidTimestamp);
    }
    value
        .bytes()
        .try_fold(0u64, |seconds, b| {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            seconds.checked_mul(10)?.checked_add(digit.into())
        })
        .ok_or(VerifyError::InvalidTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_u64_or_with_signs_are_invalid() {
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            "1e9",
            "0x10",
            "18446744073709551616",
            "9223372036854775808000",
            "١٢٣",
        ] {
            assert_eq!(
                parse_unix_seconds(bad),
                Err(VerifyError::InvalidTimestamp),
                "{bad}"
            );
        }
        assert_eq!(parse_unix_seconds("0"), Ok(0));
        assert_eq!(parse_unix_seconds("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn window_check_never_overflows_at_the_edges() {
        let headers = |unix_seconds| WebhookHeaders {
            id: "a",
            timestamp: "0",
            unix_seconds,
            signature: "",
        };
        let tolerance = Duration::from_secs(300);
        assert_eq!(
            headers(u64::MAX).check_window(UNIX_EPOCH, tolerance),
            Err(VerifyError::TimestampInFuture)
        );
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1_000);
        assert_eq!(
            headers(0).check_window(before_epoch, tolerance),
            Err(VerifyError::TimestampInFuture)
        );
        let far_future = UNIX_EPOCH + Duration::from_secs(u64::MAX / 2);
        assert_eq!(
            headers(0).check_window(far_future, tolerance),
            Err(VerifyError::TimestampTooOld)
        );
        // A tolerance that lets any value through still cannot build a
        // SystemTime past what the platform holds.
        assert_eq!(
            headers(u64::MAX).check_window(UNIX_EPOCH, Duration::MAX),
            Err(VerifyError::InvalidTimestamp)
        );
    }
}
