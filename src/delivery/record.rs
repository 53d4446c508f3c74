//! [`DeliveryRecord`]: a verified delivery as a durable store or a queue
//! keeps it, and back.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::{Delivery, JwtDelivery, VerifiedBy};

/// A verified [`Delivery`] as a durable store keeps it, one plain field per
/// column (the body and the replay key are kept beside it): what it takes
/// to hand the same `Delivery` to a handler later, in another process,
/// without verifying it again.
///
/// The inbox of `gemini-webhooks-postgres` stores deliveries this way; a
/// sink of your own (a queue, a table) can too.
///
/// ```
/// use gemini_webhooks::{Delivery, DeliveryRecord};
/// # use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let secret = generate_secret();
/// # let verifier = gemini_webhooks::Verifier::builder().secret(&secret)?.build()?;
/// # let body = sample_event("batch.succeeded");
/// # let delivery: Delivery = verifier.verify(&Signer::hmac(&secret)?.sign(&body), body)?;
/// let record = DeliveryRecord::of(&delivery);
/// let (key, body) = (delivery.replay_key().to_owned(), delivery.body().clone());
/// // … stored, and read back later:
/// let back = record.into_delivery(key, body).expect("written by `of`");
/// assert_eq!(back, delivery);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The `webhook-id` ([`Delivery::id`]).
    pub webhook_id: String,
    /// When the attempt was signed, in seconds since the Unix epoch.
    pub signed_at: i64,
    /// Which key verified it: `secret:N`, `public_key:N`, `jwks`,
    /// `jwks:KID`, `jwt:KID` or `poll`.
    pub verified_by: String,
    /// A JWT delivery's claims as a JSON object; `None` for `v1` and `v1a`.
    pub jwt_claims: Option<String>,
}

impl DeliveryRecord {
    /// The record of `delivery`.
    pub fn of(delivery: &Delivery) -> Self {
        let verified_by = match delivery.verified_by() {
            VerifiedBy::Secret(index) => format!("secret:{index}"),
            VerifiedBy::PublicKey(index) => format!("public_key:{index}"),
            VerifiedBy::JwksKey { kid: Some(kid) } => format!("jwks:{kid}"),
            VerifiedBy::JwksKey { kid: None } => "jwks".to_owned(),
            VerifiedBy::Jwt { kid } => format!("jwt:{kid}"),
            VerifiedBy::Poll => "poll".to_owned(),
        };
        Self {
            webhook_id: delivery.id().to_owned(),
            signed_at: i64::try_from(delivery.unix_timestamp()).unwrap_or(i64::MAX),
            verified_by,
            jwt_claims: delivery
                .jwt_claims()
                .map(|claims| Value::Object(claims.clone()).to_string()),
        }
    }

    /// The delivery back, with its [`replay_key`](Delivery::replay_key)
    /// and body as kept beside the record; `None` if the record does not
    /// read as one (written by hand, or by a newer version).
    pub fn into_delivery(self, replay_key: String, body: Bytes) -> Option<Delivery> {
        let verified_by = match self.verified_by.split_once(':') {
            Some(("secret", index)) => VerifiedBy::Secret(index.parse().ok()?),
            Some(("public_key", index)) => VerifiedBy::PublicKey(index.parse().ok()?),
            Some(("jwks", kid)) => VerifiedBy::JwksKey {
                kid: Some(kid.into()),
            },
            Some(("jwt", kid)) => VerifiedBy::Jwt { kid: kid.into() },
            None if self.verified_by == "jwks" => VerifiedBy::JwksKey { kid: None },
            None if self.verified_by == "poll" => VerifiedBy::Poll,
            _ => return None,
        };
        let jwt = match self.jwt_claims {
            Some(text) => match serde_json::from_str(&text).ok()? {
                Value::Object(claims) => Some(Arc::new(JwtDelivery { claims, replay_key })),
                _ => return None,
            },
            None => None,
        };
        let timestamp = UNIX_EPOCH + Duration::from_secs(u64::try_from(self.signed_at).ok()?);
        Some(Delivery::new(
            self.webhook_id,
            timestamp,
            body,
            verified_by,
            jwt,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(verified_by: VerifiedBy, claims: Option<&str>) -> Delivery {
        let jwt = claims.map(|text| {
            let Value::Object(claims) = serde_json::from_str(text).unwrap() else {
                panic!("claims must be an object")
            };
            Arc::new(JwtDelivery {
                claims,
                replay_key: "jwt:abc".to_owned(),
            })
        });
        Delivery::new(
            "msg_1".to_owned(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Bytes::from_static(b"{}"),
            verified_by,
            jwt,
        )
    }

    #[test]
    fn every_delivery_reads_back_as_recorded() {
        for (verified_by, claims) in [
            (VerifiedBy::Secret(2), None),
            (VerifiedBy::PublicKey(1), None),
            (VerifiedBy::JwksKey { kid: None }, None),
            (
                VerifiedBy::JwksKey {
                    kid: Some("k:1".into()),
                },
                None,
            ),
            (
                VerifiedBy::Jwt { kid: "k2".into() },
                Some(r#"{"jti":"abc","iat":1}"#),
            ),
            (VerifiedBy::Poll, None),
        ] {
            let original = delivery(verified_by, claims);
            let key = original.replay_key().to_owned();
            let back = DeliveryRecord::of(&original)
                .into_delivery(key, original.body().clone())
                .expect("reads back");
            assert_eq!(back, original);
        }
    }

    #[test]
    fn a_record_that_is_not_one_reads_as_none() {
        let good = DeliveryRecord::of(&delivery(VerifiedBy::Secret(0), None));
        let body = Bytes::from_static(b"{}");
        let with = |verified_by: &str, claims: Option<&str>, signed_at: i64| DeliveryRecord {
            verified_by: verified_by.into(),
            jwt_claims: claims.map(str::to_owned),
            signed_at,
            ..good.clone()
        };
        for broken in [
            with("hmac:0", None, 1),
            with("secret:x", None, 1),
            with("public_key:-1", None, 1),
            with("jwks2", None, 1),
            with("poll:1", None, 1),
            with("unknown", None, 1),
            with("secret:0", Some("[1]"), 1),
            with("secret:0", Some("{"), 1),
            with("secret:0", None, -1),
        ] {
            assert_eq!(broken.into_delivery("k".into(), body.clone()), None);
        }
        assert!(good.into_delivery("k".into(), body).is_some());
    }
}
