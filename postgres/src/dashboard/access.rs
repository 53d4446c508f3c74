//! Who gets in, and which POSTs count: the operator's token, the session
//! cookie a login sets, and the CSRF token every action carries.
//!
//! Nothing is stored: a session is its expiry signed with a key derived
//! from the token (HMAC-SHA256), so every replica accepts it and changing
//! the token ends every session. A CSRF token is the credential's own
//! signature under another label — a page shows it in its forms, a
//! cross-site form cannot know it, and it is checked on every action
//! whatever the credential, the bearer token included.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(super) const COOKIE_NAME: &str = "gw_dashboard";

/// How long a login lasts.
pub(super) const SESSION: Duration = Duration::from_secs(12 * 3600);

/// How requests are let in.
#[derive(Clone)]
pub(super) struct Access {
    /// The token's SHA-256 (compared in constant time); `None` when the
    /// application's own auth layer lets requests in.
    token: Option<[u8; 32]>,
    /// Signs sessions and CSRF tokens.
    key: [u8; 32],
}

/// What a request got in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Credential {
    /// `Authorization: Bearer` with the token.
    Bearer,
    /// A login's cookie, valid until this Unix second.
    Session(u64),
    /// The application's auth layer, in front.
    Outside,
}

impl Access {
    /// Requests need `token`.
    pub(super) fn token(token: &str) -> Self {
        Self {
            token: Some(Sha256::digest(token.as_bytes()).into()),
            key: derive(token.as_bytes(), b"gemini-webhooks dashboard key"),
        }
    }

    /// An auth layer of the application's decides; `secret` signs the
    /// CSRF tokens (the same on every replica).
    pub(super) fn outside(secret: &[u8]) -> Self {
        Self {
            token: None,
            key: derive(secret, b"gemini-webhooks dashboard key"),
        }
    }

    /// The request's credential, if it has one that is valid now.
    pub(super) fn credential(&self, headers: &HeaderMap, now: SystemTime) -> Option<Credential> {
        if self.token.is_none() {
            return Some(Credential::Outside);
        }
        if let Some(token) = bearer(headers) {
            return self.is_token(token).then_some(Credential::Bearer);
        }
        let session = cookie(headers, COOKIE_NAME)?;
        let expiry = self.session_expiry(session)?;
        (expiry > unix(now)).then_some(Credential::Session(expiry))
    }

    /// Whether `given` is the token (constant time: digests compared).
    pub(super) fn is_token(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.token
            .is_some_and(|token| bool::from(token.ct_eq(&given)))
    }

    /// A new session's cookie value, valid for [`SESSION`] from `now`.
    pub(super) fn new_session(&self, now: SystemTime) -> String {
        let expiry = unix(now) + SESSION.as_secs();
        format!(
            "{expiry}.{}",
            self.sign(b"session", expiry.to_string().as_bytes())
        )
    }

    /// The expiry a session value carries, if its signature holds.
    fn session_expiry(&self, value: &str) -> Option<u64> {
        let (expiry, signature) = value.split_once('.')?;
        self.verify(b"session", expiry.as_bytes(), signature)
            .then(|| expiry.parse().ok())
            .flatten()
    }

    /// The CSRF token of pages shown to `credential`.
    pub(super) fn csrf(&self, credential: &Credential) -> String {
        self.sign(b"csrf", label(credential).as_bytes())
    }

    /// Whether `given` is `credential`'s CSRF token (constant time).
    pub(super) fn is_csrf(&self, credential: &Credential, given: &str) -> bool {
        self.verify(b"csrf", label(credential).as_bytes(), given)
    }

    fn mac(&self, purpose: &[u8], message: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(message);
        mac
    }

    fn sign(&self, purpose: &[u8], message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, message).finalize().into_bytes())
    }

    fn verify(&self, purpose: &[u8], message: &[u8], signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|signature| self.mac(purpose, message).verify_slice(&signature).is_ok())
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("login", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// A key for one use, from a secret.
fn derive(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn label(credential: &Credential) -> String {
    match credential {
        Credential::Bearer => "bearer".to_owned(),
        Credential::Session(expiry) => format!("session {expiry}"),
        Credential::Outside => "outside".to_owned(),
    }
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name` (the first of that name).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_bearer_token_lets_in_and_nothing_else_does() {
        let access = Access::token("s3cret");
        let now = SystemTime::now();
        let ok = headers(AUTHORIZATION, "Bearer s3cret");
        assert_eq!(access.credential(&ok, now), Some(Credential::Bearer));
        let lower = headers(AUTHORIZATION, "bearer s3cret");
        assert_eq!(access.credential(&lower, now), Some(Credential::Bearer));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"] {
            let wrong = headers(AUTHORIZATION, wrong);
            assert_eq!(access.credential(&wrong, now), None);
        }
        assert_eq!(access.credential(&HeaderMap::new(), now), None);
        assert!(access.is_token("s3cret") && !access.is_token(""));
    }

    #[test]
    fn a_session_lasts_until_its_expiry_and_cannot_be_forged() {
        let access = Access::token("s3cret");
        let now = SystemTime::now();
        let session = access.new_session(now);
        let cookie = format!("other=1; {COOKIE_NAME}={session}");
        let with = headers(COOKIE, &cookie);
        let expiry = unix(now) + SESSION.as_secs();
        assert_eq!(
            access.credential(&with, now),
            Some(Credential::Session(expiry))
        );
        let before_its_end = now + Duration::from_secs(11 * 3600 + 3599);
        assert_eq!(
            access.credential(&with, before_its_end),
            Some(Credential::Session(expiry))
        );
        let later = now + SESSION;
        assert_eq!(
            access.credential(&with, later),
            None,
            "expired after 12 hours"
        );
        let (_, signature) = session.split_once('.').unwrap();
        let extended = format!("{COOKIE_NAME}={}.{signature}", expiry + 3600);
        assert_eq!(access.credential(&headers(COOKIE, &extended), now), None);
        let other_token = Access::token("other");
        assert_eq!(
            other_token.credential(&with, now),
            None,
            "a new token ends it"
        );
    }

    #[test]
    fn a_csrf_token_belongs_to_its_credential() {
        let access = Access::token("s3cret");
        let session = Credential::Session(100);
        let token = access.csrf(&session);
        assert!(access.is_csrf(&session, &token));
        assert!(!access.is_csrf(&Credential::Session(101), &token));
        assert!(!access.is_csrf(&Credential::Bearer, &token));
        assert!(!access.is_csrf(&session, ""));
        assert!(!access.is_csrf(&session, "not base64!"));
        let bearer = access.csrf(&Credential::Bearer);
        assert!(access.is_csrf(&Credential::Bearer, &bearer));
        assert!(!Access::token("other").is_csrf(&Credential::Bearer, &bearer));
    }

    #[test]
    fn behind_the_applications_auth_every_request_is_let_in_but_csrf_holds() {
        let access = Access::outside(b"replicas' secret");
        let now = SystemTime::now();
        assert_eq!(
            access.credential(&HeaderMap::new(), now),
            Some(Credential::Outside)
        );
        assert_eq!(format!("{access:?}"), "Access { login: false, .. }");
        let token = Access::token("s3cret");
        assert_eq!(
            format!("{token:?}"),
            "Access { login: true, .. }",
            "no key, no digest"
        );
        let token = access.csrf(&Credential::Outside);
        assert!(Access::outside(b"replicas' secret").is_csrf(&Credential::Outside, &token));
        assert!(!Access::outside(b"another").is_csrf(&Credential::Outside, &token));
    }
}
