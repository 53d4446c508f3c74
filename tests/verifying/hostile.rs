//! The bad-input catalogue: hostile requests, each with its exact status and
//! error, run against the tower layer and the actix-web middleware alike.
//! Nothing panics, the two adapters answer byte for byte the same, and no
//! answer echoes secret material or the body.

#![cfg(all(feature = "axum", feature = "actix", feature = "jwt"))]

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use common::EVENT;
use common::two_adapters::{ID, Step, check, run_actix, run_axum};
use gemini_webhooks::receiver::DEFAULT_BODY_LIMIT;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::{Receiver, Rejection, Verifier, VerifyError};
use http::{HeaderMap, HeaderValue};
use serde_json::json;

const AUDIENCE: &str = "https://receiver.example/webhooks/gemini";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What a hostile request must get: an error's status and text, or a
/// handler run with its status.
enum Expect {
    Verify(VerifyError),
    Rejected(Rejection),
    /// The typed extractor's 422, with its exact text.
    InvalidEvent(&'static str),
    Handled(u16),
}

struct Hostile {
    name: &'static str,
    path: &'static str,
    headers: HeaderMap,
    body: Vec<u8>,
    expect: Expect,
}

struct Catalogue {
    secret: String,
    /// One signing time for the whole catalogue: a tag computed for it
    /// matches every header built from it, even if a second ticks between.
    ts: u64,
    cases: Vec<Hostile>,
}

impl Catalogue {
    fn signed(&self, body: &[u8]) -> HeaderMap {
        Signer::hmac(&self.secret)
            .unwrap()
            .id(ID)
            .timestamp(UNIX_EPOCH + Duration::from_secs(self.ts))
            .sign(body)
    }

    fn valid_tag(&self, body: &[u8], timestamp: u64) -> String {
        Signer::hmac(&self.secret)
            .unwrap()
            .signature(ID, timestamp, body)
    }

    fn add(
        &mut self,
        name: &'static str,
        headers: HeaderMap,
        body: impl Into<Vec<u8>>,
        expect: Expect,
    ) {
        self.cases.push(Hostile {
            name,
            path: "/webhooks/gemini",
            headers,
            body: body.into(),
            expect,
        });
    }

    /// `EVENT`'s signed headers with `header` set to `value` (or removed).
    fn altered(&self, header: &str, value: Option<&[u8]>) -> HeaderMap {
        let mut headers = self.signed(EVENT.as_bytes());
        match value {
            Some(value) => {
                headers.insert(
                    http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(value).unwrap(),
                );
            }
            None => {
                headers.remove(header);
            }
        }
        headers
    }

    fn appended(&self, header: &'static str, value: &str) -> HeaderMap {
        let mut headers = self.signed(EVENT.as_bytes());
        headers.append(header, HeaderValue::from_str(value).unwrap());
        headers
    }
}

fn invalid(header: &'static str, reason: &'static str) -> Expect {
    Expect::Verify(VerifyError::InvalidHeader { header, reason })
}

fn token(reason: &'static str) -> Expect {
    Expect::Verify(VerifyError::InvalidToken { reason })
}

fn b64json(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn catalogue() -> Catalogue {
    let mut c = Catalogue {
        secret: generate_secret(),
        ts: now(),
        cases: Vec::new(),
    };
    let ts = c.ts;
    let tag = c.valid_tag(EVENT.as_bytes(), ts);
    let ts_header = |value: &str| -> HeaderMap {
        let mut headers = c.signed(EVENT.as_bytes());
        headers.insert("webhook-timestamp", HeaderValue::from_str(value).unwrap());
        headers
    };
    let sig = |value: &str| c.altered("webhook-signature", Some(value.as_bytes()));

    // --- headers: missing, repeated, empty, binary, oversized ----------
    let mut bare = HeaderMap::new();
    bare.insert("content-type", HeaderValue::from_static("application/json"));
    let cases: Vec<(&'static str, HeaderMap, Expect)> = vec![
        (
            "no webhook headers at all",
            bare,
            Expect::Verify(VerifyError::MissingHeader("webhook-id")),
        ),
        (
            "missing webhook-id",
            c.altered("webhook-id", None),
            Expect::Verify(VerifyError::MissingHeader("webhook-id")),
        ),
        (
            "missing webhook-timestamp",
            c.altered("webhook-timestamp", None),
            Expect::Verify(VerifyError::MissingHeader("webhook-timestamp")),
        ),
        (
            "missing webhook-signature",
            c.altered("webhook-signature", None),
            Expect::Verify(VerifyError::MissingHeader("webhook-signature")),
        ),
        (
            "duplicated webhook-id",
            c.appended("webhook-id", "msg_other"),
            invalid("webhook-id", "sent more than once"),
        ),
        (
            "duplicated webhook-timestamp",
            c.appended("webhook-timestamp", "1"),
            invalid("webhook-timestamp", "sent more than once"),
        ),
        (
            "duplicated webhook-signature",
            c.appended("webhook-signature", "v1,AAAA"),
            invalid("webhook-signature", "sent more than once"),
        ),
        (
            "empty webhook-id",
            c.altered("webhook-id", Some(b"")),
            invalid("webhook-id", "empty"),
        ),
        (
            "webhook-id of tabs and spaces",
            c.altered("webhook-id", Some(b" \t ")),
            invalid("webhook-id", "empty"),
        ),
        (
            "non-ASCII bytes in webhook-id",
            c.altered("webhook-id", Some(b"msg_\xff\xfe")),
            invalid("webhook-id", "not visible ASCII"),
        ),
        (
            "UTF-8 in webhook-signature",
            c.altered("webhook-signature", Some("v1,é".as_bytes())),
            invalid("webhook-signature", "not visible ASCII"),
        ),
        (
            "webhook-id over 256 bytes",
            c.altered("webhook-id", Some("m".repeat(257).as_bytes())),
            invalid("webhook-id", "longer than 256 bytes"),
        ),
        // --- timestamps --------------------------------------------------
        (
            "timestamp i64::MIN",
            ts_header(&i64::MIN.to_string()),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp i64::MAX",
            ts_header(&i64::MAX.to_string()),
            Expect::Verify(VerifyError::TimestampInFuture),
        ),
        (
            "timestamp past u64::MAX",
            ts_header("18446744073709551616"),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp with leading +",
            ts_header(&format!("+{ts}")),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp negative",
            ts_header("-1"),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp with inner space",
            ts_header(&format!(
                "{} {}",
                &ts.to_string()[..5],
                &ts.to_string()[5..]
            )),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp in milliseconds",
            ts_header(&format!("{ts}000")),
            Expect::Verify(VerifyError::TimestampInFuture),
        ),
        (
            "timestamp with a fraction",
            ts_header(&format!("{ts}.5")),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp in hex",
            ts_header("0x6553f100"),
            Expect::Verify(VerifyError::InvalidTimestamp),
        ),
        (
            "timestamp empty",
            ts_header(""),
            invalid("webhook-timestamp", "empty"),
        ),
        (
            "timestamp 10 min old",
            ts_header(&(ts - 600).to_string()),
            Expect::Verify(VerifyError::TimestampTooOld),
        ),
        (
            "timestamp 10 min ahead",
            ts_header(&(ts + 600).to_string()),
            Expect::Verify(VerifyError::TimestampInFuture),
        ),
        // --- signatures --------------------------------------------------
        (
            "signature empty",
            sig(""),
            invalid("webhook-signature", "empty"),
        ),
        (
            "signature `v1,`",
            sig("v1,"),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "signature without comma",
            sig("v1"),
            invalid("webhook-signature", "an entry is not `version,base64`"),
        ),
        (
            "signature truncated",
            sig(&tag[..tag.len() - 4]),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "signature over-long",
            sig(&format!("{tag}AAAA")),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "signature not base64",
            sig("v1,!!!!$$$$"),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "valid tag under an unknown version",
            sig(&tag.replacen("v1,", "v2,", 1)),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "valid tag under `V1`",
            sig(&tag.replacen("v1,", "V1,", 1)),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "a lone comma",
            sig(","),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "17 entries",
            sig(&vec![tag.as_str(); 17].join(" ")),
            invalid("webhook-signature", "more than 16 signature entries"),
        ),
        (
            "5000 entries",
            sig(&vec!["v1,AAAA"; 5000].join(" ")),
            invalid("webhook-signature", "more than 16 signature entries"),
        ),
        (
            "v1a with 64 random bytes",
            sig(&format!("v1a,{}", STANDARD.encode([7u8; 64]))),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        (
            "valid tag after garbage entries",
            sig(&format!("v2,xyz v1,AAAA v1a,!! {tag}")),
            Expect::Handled(200),
        ),
        (
            "tab inside an entry",
            sig(&format!("{tag}\tv1,AAAA")),
            Expect::Verify(VerifyError::NoMatchingSignature),
        ),
        // --- JWT attacks (JWT form enabled with an audience) -------------
        (
            "JWT with alg none",
            sig(&format!(
                "{}.{}.",
                b64json(&json!({"alg": "none", "kid": "rsa-1"})),
                b64json(&json!({"aud": AUDIENCE}))
            )),
            token("malformed or unsupported token header"),
        ),
        (
            "JWT HS256 signed with the public key",
            sig(&hs256_with_public_key()),
            token("algorithm not allowed"),
        ),
        (
            "JWT naming an unknown kid",
            sig(&rs256("rsa-9", json!({"aud": AUDIENCE}))),
            token("unknown key id"),
        ),
        (
            "JWT expired",
            sig(&rs256(
                "rsa-1",
                json!({"aud": AUDIENCE, "iat": ts - 3700, "exp": ts - 3600}),
            )),
            token("expired"),
        ),
        (
            "JWT without an expiry",
            sig(&rs256("rsa-1", json!({"aud": AUDIENCE, "iat": ts}))),
            token("no expiry (`exp`)"),
        ),
        (
            "JWT issued an hour ago, valid for ten years",
            sig(&rs256(
                "rsa-1",
                json!({"aud": AUDIENCE, "iat": ts - 3600, "exp": ts + 315_360_000}),
            )),
            token("issued too long ago"),
        ),
        (
            "JWT valid for a day",
            sig(&rs256(
                "rsa-1",
                json!({"aud": AUDIENCE, "iat": ts, "exp": ts + 86_400}),
            )),
            token("lifetime longer than allowed"),
        ),
        (
            "JWT that binds no body",
            sig(&rs256(
                "rsa-1",
                json!({"aud": AUDIENCE, "iat": ts, "exp": ts + 300}),
            )),
            token("no body hash claim"),
        ),
        (
            "JWT for another audience",
            sig(&rs256("rsa-1", json!({"aud": "https://evil.example"}))),
            token("wrong audience"),
        ),
    ];
    for (name, headers, expect) in cases {
        c.add(name, headers, EVENT, expect);
    }

    // A tag in base64url: pick a body whose tag has a `+` or `/` to change.
    let (body, url_tag) = (0..)
        .map(|n| EVENT.replace("batches/1", &format!("batches/{n}")))
        .find_map(|body| {
            let tag = c.valid_tag(body.as_bytes(), ts);
            let url = tag.replace('+', "-").replace('/', "_");
            (url != tag).then_some((body, url))
        })
        .unwrap();
    let mut headers = c.signed(body.as_bytes());
    headers.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&ts.to_string()).unwrap(),
    );
    headers.insert(
        "webhook-signature",
        HeaderValue::from_str(&url_tag).unwrap(),
    );
    c.add(
        "signature base64url instead of base64",
        headers,
        body,
        Expect::Verify(VerifyError::NoMatchingSignature),
    );

    // --- bodies -----------------------------------------------------------
    let limit = Rejection::PayloadTooLarge {
        limit: DEFAULT_BODY_LIMIT,
    };
    let mut announced = c.signed(EVENT.as_bytes());
    announced.insert("content-length", (DEFAULT_BODY_LIMIT + 1).into());
    c.add(
        "body over the limit, announced",
        announced,
        EVENT,
        Expect::Rejected(limit),
    );
    let big = vec![b'{'; DEFAULT_BODY_LIMIT + 1];
    c.add(
        "body over the limit, not announced",
        c.signed(&big),
        big,
        Expect::Rejected(Rejection::PayloadTooLarge {
            limit: DEFAULT_BODY_LIMIT,
        }),
    );
    let binary = b"\xff\xfe\x00 not UTF-8 \x80".to_vec();
    c.add(
        "non-UTF-8 body, correctly signed",
        c.signed(&binary),
        binary,
        Expect::Handled(200),
    );
    c.add(
        "non-JSON body, correctly signed",
        c.signed(b"hello"),
        "hello",
        Expect::Handled(200),
    );
    c.add(
        "empty body, correctly signed",
        c.signed(b""),
        "",
        Expect::Handled(200),
    );
    c.add(
        "body one byte off its signature",
        c.signed(EVENT.as_bytes()),
        EVENT.replace('1', "2"),
        Expect::Verify(VerifyError::NoMatchingSignature),
    );
    let not_event = br#"{"type":"batch.failed","timestamp":"yesterday","data":{"id":"b"}}"#;
    c.cases.push(Hostile {
        name: "signed body with a bad field, typed extractor",
        path: "/webhooks/typed",
        headers: c.signed(not_event),
        body: not_event.to_vec(),
        expect: Expect::InvalidEvent("invalid event body at `timestamp`: unexpected type or value"),
    });
    c
}

fn rs256(kid: &str, claims: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa_private.pem"))
            .unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn hs256_with_public_key() -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let public = include_bytes!("../fixtures/jwks_rsa_ec.json");
    jsonwebtoken::encode(
        &header,
        &json!({"aud": AUDIENCE}),
        &jsonwebtoken::EncodingKey::from_secret(public).unwrap(),
    )
    .unwrap()
}

fn receiver(secret: &str) -> Receiver {
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_str(include_str!("../fixtures/jwks_rsa_ec.json")).unwrap();
    let verifier = Verifier::builder()
        .secret(secret)
        .unwrap()
        .jwks(&set)
        .jwt_audience(AUDIENCE)
        .tolerance(Duration::from_secs(300))
        .build()
        .unwrap();
    Receiver::new(verifier)
}

#[test]
fn every_hostile_request_gets_its_exact_answer_on_both_adapters() {
    common::on_actix(async {
        let catalogue = catalogue();
        assert!(
            catalogue.cases.len() >= 40,
            "{} cases",
            catalogue.cases.len()
        );
        let secret_material = &catalogue.secret["whsec_".len()..];
        for case in &catalogue.cases {
            let (status, text, runs) = match &case.expect {
                Expect::Verify(err) => (err.status().as_u16(), Some(err.to_string()), 0),
                Expect::Rejected(rejection) => {
                    (rejection.status().as_u16(), Some(rejection.to_string()), 0)
                }
                Expect::InvalidEvent(text) => (422, Some((*text).to_owned()), 0),
                Expect::Handled(status) => (*status, None, 1),
            };
            let steps = [Step {
                path: case.path,
                headers: case.headers.clone(),
                body: Bytes::from(case.body.clone()),
                status,
                text,
                runs_after: runs,
            }];
            let axum = run_axum(receiver(&catalogue.secret), &steps).await;
            let actix = run_actix(receiver(&catalogue.secret), &steps).await;
            check(case.name, &steps, &axum, &actix);
            let answer = &axum[0].1;
            assert!(
                !answer.contains(secret_material),
                "{}: echoes the secret",
                case.name
            );
            if case.body.len() > 8 && status != 200 {
                let body = String::from_utf8_lossy(&case.body);
                assert!(!answer.contains(&*body), "{}: echoes the body", case.name);
            }
        }
    })
}
