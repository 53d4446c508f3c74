//! The verifier against the Standard Webhooks vectors and every way a delivery can be refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gemini_webhooks::testing::{Signer, generate_ed25519_key, generate_secret};
use gemini_webhooks::{KeyError, VerifiedBy, Verifier, VerifyError};
use http::{HeaderMap, HeaderValue};

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    map.insert(
        "webhook-timestamp",
        HeaderValue::from_str(timestamp).unwrap(),
    );
    map.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    map
}

fn verifier(secret: &str) -> Verifier {
    Verifier::builder().secret(secret).unwrap().build().unwrap()
}

struct Vector {
    secret: &'static str,
    id: &'static str,
    timestamp: u64,
    body: &'static str,
    signature: &'static str,
}

const VECTORS: [Vector; 2] = [
    Vector {
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        timestamp: 1649367553,
        body: r#"{"email":"test@example.com","username":"test_user"}"#,
        signature: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    },
    Vector {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp: 1614265330,
        body: r#"{"test": 2432232314}"#,
        signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    },
];

#[test]
fn standard_webhooks_vectors_verify() {
    for v in VECTORS {
        let headers = headers(v.id, &v.timestamp.to_string(), v.signature);
        let delivery = verifier(v.secret)
            .verify_at(&headers, v.body, at(v.timestamp))
            .unwrap();
        assert_eq!(delivery.id(), v.id);
        assert_eq!(delivery.unix_timestamp(), v.timestamp);
        assert_eq!(delivery.body(), v.body.as_bytes());
        assert_eq!(*delivery.verified_by(), VerifiedBy::Secret(0));
    }
}

#[test]
fn signer_reproduces_the_vectors() {
    for v in VECTORS {
        let signer = Signer::hmac(v.secret).unwrap();
        assert_eq!(
            signer.signature(v.id, v.timestamp, v.body.as_bytes()),
            v.signature
        );
    }
}

#[test]
fn every_missing_header_is_named() {
    let v = &VECTORS[0];
    let full = headers(v.id, &v.timestamp.to_string(), v.signature);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut partial = full.clone();
        partial.remove(name);
        let err = verifier(v.secret)
            .verify_at(&partial, v.body, at(v.timestamp))
            .unwrap_err();
        assert_eq!(err, VerifyError::MissingHeader(name));
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn malformed_headers_are_invalid() {
    let v = &VECTORS[0];
    let ts = v.timestamp.to_string();
    let check = |headers: HeaderMap, header: &str, reason: &str| {
        let err = verifier(v.secret)
            .verify_at(&headers, v.body, at(v.timestamp))
            .unwrap_err();
        assert_eq!(
            err,
            VerifyError::InvalidHeader {
                header: match header {
                    "webhook-id" => "webhook-id",
                    "webhook-timestamp" => "webhook-timestamp",
                    _ => "webhook-signature",
                },
                reason: match reason {
                    "twice" => "sent more than once",
                    "binary" => "not visible ASCII",
                    "empty" => "empty",
                    "long" => "longer than 256 bytes",
                    "entry" => "an entry is not `version,base64`",
                    _ => "more than 16 signature entries",
                }
            },
            "{header} {reason}"
        );
        assert_eq!(err.status(), 400);
    };

    let mut twice = headers(v.id, &ts, v.signature);
    twice.append("webhook-id", HeaderValue::from_static("msg_other"));
    check(twice, "webhook-id", "twice");

    let mut binary = headers(v.id, &ts, v.signature);
    binary.insert(
        "webhook-signature",
        HeaderValue::from_bytes(b"v1,\xff\xfe").unwrap(),
    );
    check(binary, "webhook-signature", "binary");

    check(headers("  ", &ts, v.signature), "webhook-id", "empty");
    check(
        headers(&"a".repeat(257), &ts, v.signature),
        "webhook-id",
        "long",
    );
    check(headers(v.id, &ts, "v1"), "webhook-signature", "entry");
    check(
        headers(v.id, &ts, &vec![v.signature; 17].join(" ")),
        "webhook-signature",
        "many",
    );
}

#[test]
fn bad_timestamps_never_panic() {
    let v = &VECTORS[0];
    for ts in [
        i64::MIN.to_string(),
        i64::MAX.to_string(),
        u64::MAX.to_string(),
        "99999999999999999999999".to_owned(),
        "-1649367553".to_owned(),
        "+1649367553".to_owned(),
        "1649367553.0".to_owned(),
        "abc".to_owned(),
    ] {
        let err = verifier(v.secret)
            .verify_at(&headers(v.id, &ts, v.signature), v.body, at(v.timestamp))
            .unwrap_err();
        let expected = if ts == i64::MAX.to_string() || ts == u64::MAX.to_string() {
            VerifyError::TimestampInFuture
        } else {
            VerifyError::InvalidTimestamp
        };
        assert_eq!(err, expected, "{ts}");
    }
}

#[test]
fn window_edges_are_inclusive() {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .tolerance(Duration::from_secs(300))
        .build()
        .unwrap();
    let sent = at(1_700_000_000);
    let headers = Signer::hmac(&secret).unwrap().timestamp(sent).sign(b"{}");
    let secs = Duration::from_secs;

    assert!(verifier.verify_at(&headers, "{}", sent).is_ok());
    assert!(verifier.verify_at(&headers, "{}", sent + secs(300)).is_ok());
    assert!(verifier.verify_at(&headers, "{}", sent - secs(300)).is_ok());
    assert_eq!(
        verifier
            .verify_at(&headers, "{}", sent + secs(301))
            .unwrap_err(),
        VerifyError::TimestampTooOld
    );
    let err = verifier
        .verify_at(&headers, "{}", sent - secs(301))
        .unwrap_err();
    assert_eq!(err, VerifyError::TimestampInFuture);
    assert_eq!(err.status(), 401);
}

#[test]
fn wrong_signature_is_refused() {
    let v = &VECTORS[0];
    let ts = v.timestamp.to_string();
    let other = VECTORS[1].signature;
    for signature in [
        other,
        "v1,",
        "v1,!!!",
        "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    ] {
        let err = verifier(v.secret)
            .verify_at(&headers(v.id, &ts, signature), v.body, at(v.timestamp))
            .unwrap_err();
        assert_eq!(err, VerifyError::NoMatchingSignature, "{signature}");
        assert_eq!(err.status(), 401);
    }
    // The same tag under another id, timestamp or body fails too.
    let moved = [
        headers("msg_other", &ts, v.signature),
        headers(v.id, &(v.timestamp + 1).to_string(), v.signature),
    ];
    for headers in moved {
        assert_eq!(
            verifier(v.secret)
                .verify_at(&headers, v.body, at(v.timestamp))
                .unwrap_err(),
            VerifyError::NoMatchingSignature
        );
    }
    assert_eq!(
        verifier(v.secret)
            .verify_at(&headers(v.id, &ts, v.signature), "{}", at(v.timestamp))
            .unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[test]
fn rotation_accepts_any_entry_under_any_secret() {
    let (old, new) = (generate_secret(), generate_secret());
    let verifier = Verifier::builder()
        .secret(&old)
        .unwrap()
        .secret(&new)
        .unwrap()
        .build()
        .unwrap();
    let body = b"{}";
    let signed_old = Signer::hmac(&old).unwrap().id("msg_r").sign(body);
    let signed_new = Signer::hmac(&new).unwrap().id("msg_r").sign(body);
    let signed_other = Signer::hmac(&generate_secret())
        .unwrap()
        .id("msg_r")
        .sign(body);
    let by = |headers: &HeaderMap| {
        verifier
            .verify(headers, &body[..])
            .map(|d| d.verified_by().clone())
    };

    assert_eq!(by(&signed_old), Ok(VerifiedBy::Secret(0)));
    assert_eq!(by(&signed_new), Ok(VerifiedBy::Secret(1)));
    assert_eq!(by(&signed_other), Err(VerifyError::NoMatchingSignature));

    // A sender in rotation sends old and new entries side by side; an
    // unknown leading entry does not hide a valid one behind it.
    let both = |a: &HeaderMap, b: &HeaderMap| {
        let mut headers = a.clone();
        let joined = format!(
            "{} {}",
            a["webhook-signature"].to_str().unwrap(),
            b["webhook-signature"].to_str().unwrap()
        );
        headers.insert("webhook-signature", joined.parse().unwrap());
        headers
    };
    assert_eq!(
        by(&both(&signed_other, &signed_new)),
        Ok(VerifiedBy::Secret(1))
    );
    let only_new = Verifier::builder().secret(&new).unwrap().build().unwrap();
    assert!(
        only_new
            .verify(&both(&signed_old, &signed_new), &body[..])
            .is_ok()
    );
}

#[test]
fn v1a_verifies_and_tampering_fails() {
    let keys: Vec<_> = (0..3).map(|_| generate_ed25519_key()).collect();
    let mut builder = Verifier::builder();
    for key in &keys {
        builder = builder.public_key(&key.public_key).unwrap();
    }
    let verifier = builder.build().unwrap();
    let body = Bytes::from_static(b"\xff not utf-8 \x00 body");

    for (index, key) in keys.iter().enumerate() {
        let headers = Signer::ed25519(&key.private_key).unwrap().sign(&body);
        assert!(
            headers["webhook-signature"]
                .to_str()
                .unwrap()
                .starts_with("v1a,")
        );
        let delivery = verifier.verify(&headers, &body).unwrap();
        assert_eq!(*delivery.verified_by(), VerifiedBy::PublicKey(index));
        // Zero-copy: the delivery shares the caller's buffer.
        assert_eq!(delivery.body().as_ptr(), body.as_ptr());

        let mut tampered = body.to_vec();
        tampered[0] ^= 1;
        assert_eq!(
            verifier.verify(&headers, tampered).unwrap_err(),
            VerifyError::NoMatchingSignature
        );
    }

    let stranger = generate_ed25519_key();
    let headers = Signer::ed25519(&stranger.private_key).unwrap().sign(&body);
    assert_eq!(
        verifier.verify(&headers, &body).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
    // A v1a entry is not checked against HMAC secrets, nor v1 against keys.
    let hmac_only = verifier_with_secret_and_key(&generate_secret(), &keys[0].public_key);
    let v1_headers = Signer::hmac(&generate_secret()).unwrap().sign(&body);
    assert_eq!(
        hmac_only.verify(&v1_headers, &body).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

fn verifier_with_secret_and_key(secret: &str, public_key: &str) -> Verifier {
    Verifier::builder()
        .secret(secret)
        .unwrap()
        .public_key(public_key)
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn builder_rejects_bad_keys_without_echoing_them() {
    let cases: [(&str, bool, KeyError); 7] = [
        (
            "whsec_",
            true,
            KeyError::Empty {
                kind: "HMAC secret",
            },
        ),
        (
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            true,
            KeyError::WrongPrefix {
                kind: "HMAC secret",
                expected: "whsec_",
            },
        ),
        (
            "whsec_not base64!!",
            true,
            KeyError::InvalidBase64 {
                kind: "HMAC secret",
            },
        ),
        (
            "whpk_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            false,
            KeyError::WrongLength {
                kind: "Ed25519 public key",
                expected: "32",
                actual: 24,
            },
        ),
        (
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            false,
            KeyError::WrongPrefix {
                kind: "Ed25519 public key",
                expected: "whpk_",
            },
        ),
        (
            "whpk_%%%%",
            false,
            KeyError::InvalidBase64 {
                kind: "Ed25519 public key",
            },
        ),
        (
            // The identity point: small order, would accept forgeries.
            "whpk_AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            false,
            KeyError::InvalidKey {
                kind: "Ed25519 public key",
            },
        ),
    ];
    for (input, is_secret, expected) in cases {
        let err = if is_secret {
            Verifier::builder().secret(input).unwrap_err()
        } else {
            Verifier::builder().public_key(input).unwrap_err()
        };
        assert_eq!(err, expected, "{input}");
        let payload = input.split('_').nth(1).unwrap_or(input);
        assert!(payload.is_empty() || !err.to_string().contains(payload));
    }
    assert_eq!(Verifier::builder().build().unwrap_err(), KeyError::NoKeys);
}

#[test]
fn debug_output_never_shows_secrets() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let verifier = verifier(secret);
    let signer = Signer::hmac(secret).unwrap();
    let key = generate_ed25519_key();
    for shown in [
        format!("{verifier:?}"),
        format!("{signer:?}"),
        format!("{:?}", Verifier::builder().secret(secret).unwrap()),
        format!("{key:?}"),
    ] {
        assert!(!shown.contains("C2FVsBQIhrscChlQIMV"), "{shown}");
        assert!(!shown.contains(&key.private_key[5..]), "{shown}");
    }
}

#[test]
fn private_keys_in_both_layouts_sign_alike() {
    use base64::Engine as _;
    let pair = generate_ed25519_key();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&pair.private_key["whsk_".len()..])
        .unwrap();
    let seed_only = format!(
        "whsk_{}",
        base64::engine::general_purpose::STANDARD.encode(&raw[..32])
    );
    let a = Signer::ed25519(&pair.private_key).unwrap();
    let b = Signer::ed25519(&seed_only).unwrap();
    assert_eq!(a.signature("m", 1, b"x"), b.signature("m", 1, b"x"));

    let mut mismatched = raw.clone();
    mismatched[40] ^= 1;
    let mismatched = format!(
        "whsk_{}",
        base64::engine::general_purpose::STANDARD.encode(&mismatched)
    );
    assert_eq!(
        Signer::ed25519(&mismatched).unwrap_err(),
        KeyError::InvalidKey {
            kind: "Ed25519 private key"
        }
    );
}

// ---- Bounded Ed25519 work per delivery ----------------------------------

const AT: u64 = 1_800_000_000;

/// A `v1a` entry by `signer` over the test content, and one forged entry.
fn v1a_entry(signer: &gemini_webhooks::testing::Ed25519KeyPair) -> String {
    Signer::ed25519(&signer.private_key)
        .unwrap()
        .signature("msg_budget", AT, b"{}")
}

fn forged_v1a() -> String {
    v1a_entry(&generate_ed25519_key())
}

fn with_entries(entries: &[String]) -> HeaderMap {
    headers("msg_budget", &AT.to_string(), &entries.join(" "))
}

fn static_keys(keys: &[&gemini_webhooks::testing::Ed25519KeyPair]) -> Verifier {
    keys.iter()
        .fold(Verifier::builder(), |b, k| {
            b.public_key(&k.public_key).unwrap()
        })
        .build()
        .unwrap()
}

#[test]
fn only_the_first_two_v1a_entries_are_examined() {
    let key = generate_ed25519_key();
    let genuine = v1a_entry(&key);
    let verifier = static_keys(&[&key]);
    let check = |entries: &[String]| verifier.verify_at(&with_entries(entries), &b"{}"[..], at(AT));
    assert!(check(&[forged_v1a(), genuine.clone()]).is_ok());
    assert_eq!(
        check(&[forged_v1a(), forged_v1a(), genuine.clone()]).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
    // Entries of other versions do not count against the `v1a` cap.
    assert!(check(&["v1,AAAA".into(), "v9,AAAA".into(), genuine]).is_ok());
}

#[test]
fn a_delivery_costs_at_most_four_ed25519_verifications() {
    // Three keys, tried in order (none has verified yet): a forged first
    // entry spends three verifications, leaving one for the second entry.
    let keys = [
        generate_ed25519_key(),
        generate_ed25519_key(),
        generate_ed25519_key(),
    ];
    let check = |signer: usize| {
        static_keys(&[&keys[0], &keys[1], &keys[2]]).verify_at(
            &with_entries(&[forged_v1a(), v1a_entry(&keys[signer])]),
            &b"{}"[..],
            at(AT),
        )
    };
    assert_eq!(*check(0).unwrap().verified_by(), VerifiedBy::PublicKey(0));
    assert_eq!(check(1).unwrap_err(), VerifyError::NoMatchingSignature);
    assert_eq!(check(2).unwrap_err(), VerifyError::NoMatchingSignature);
    // Alone, each entry finds its key among the three.
    for signer in 0..3 {
        let verifier = static_keys(&[&keys[0], &keys[1], &keys[2]]);
        let delivery = verifier
            .verify_at(
                &with_entries(&[v1a_entry(&keys[signer])]),
                &b"{}"[..],
                at(AT),
            )
            .unwrap();
        assert_eq!(*delivery.verified_by(), VerifiedBy::PublicKey(signer));
    }
}

#[test]
fn static_keys_and_jwks_keys_share_one_budget() {
    let (s0, s1, j0) = (
        generate_ed25519_key(),
        generate_ed25519_key(),
        generate_ed25519_key(),
    );
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_value(serde_json::json!({"keys": [j0.jwk(Some("j0"))]})).unwrap();
    let verifier = || {
        Verifier::builder()
            .public_key(&s0.public_key)
            .unwrap()
            .public_key(&s1.public_key)
            .unwrap()
            .jwks(&set)
            .build()
            .unwrap()
    };
    // One entry: two static keys, then the JWKS key (three verifications).
    let one = verifier()
        .verify_at(&with_entries(&[v1a_entry(&j0)]), &b"{}"[..], at(AT))
        .unwrap();
    assert_eq!(
        *one.verified_by(),
        VerifiedBy::JwksKey {
            kid: Some("j0".into())
        }
    );
    // Two entries: both spent on the static keys, none left for the JWKS.
    assert_eq!(
        verifier()
            .verify_at(
                &with_entries(&[forged_v1a(), v1a_entry(&j0)]),
                &b"{}"[..],
                at(AT)
            )
            .unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[test]
fn headers_are_checked_without_the_body() {
    let secret = generate_secret();
    let verifier = verifier(&secret);
    let fresh = Signer::hmac(&secret).unwrap().sign(b"{}");
    assert_eq!(verifier.check_headers(&fresh).map(drop), Ok(()));
    let stale = Signer::hmac(&secret)
        .unwrap()
        .timestamp(SystemTime::now() - Duration::from_secs(301))
        .sign(b"{}");
    assert_eq!(
        verifier.check_headers(&stale).map(drop),
        Err(VerifyError::TimestampTooOld)
    );
    let mut missing = fresh.clone();
    missing.remove("webhook-id");
    assert_eq!(
        verifier.check_headers(&missing).map(drop),
        Err(VerifyError::MissingHeader("webhook-id"))
    );
    // Only `v1a` entries, and no key that could check one: refused at once.
    let mut v1a_only = fresh.clone();
    v1a_only.insert(
        "webhook-signature",
        HeaderValue::from_str(&forged_v1a()).unwrap(),
    );
    assert_eq!(
        verifier.check_headers(&v1a_only).map(drop),
        Err(VerifyError::NoMatchingSignature)
    );
    // Only `v1` entries, and no secret: likewise.
    let key = generate_ed25519_key();
    assert_eq!(
        static_keys(&[&key]).check_headers(&fresh).map(drop),
        Err(VerifyError::NoMatchingSignature)
    );
    // A `v1` entry under a secret passes the header check whatever its tag:
    // only the body can tell.
    let mut wrong_tag = fresh;
    wrong_tag.insert(
        "webhook-signature",
        HeaderValue::from_static("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    let checked = verifier.check_headers(&wrong_tag).unwrap();
    assert_eq!(
        verifier.verify_checked(&checked, &b"{}"[..]).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[tokio::test]
async fn checked_headers_verify_the_body_without_a_second_parse() {
    let secret = generate_secret();
    let verifier = verifier(&secret);
    let body = br#"{"type":"batch.succeeded"}"#;
    let headers = Signer::hmac(&secret).unwrap().id("msg_checked").sign(body);
    let checked = verifier.check_headers(&headers).unwrap();
    assert_eq!(checked.id(), "msg_checked");
    assert!(format!("{checked:?}").contains("msg_checked"));
    let delivery = verifier.verify_checked(&checked, &body[..]).unwrap();
    assert_eq!(
        (delivery.id(), delivery.body().as_ref()),
        ("msg_checked", &body[..])
    );
    let delivery = verifier
        .verify_checked_async(&checked, &body[..])
        .await
        .unwrap();
    assert_eq!(delivery.id(), "msg_checked");
    // The body still decides: another body under the same headers fails.
    assert_eq!(
        verifier.verify_checked(&checked, &b"{}"[..]).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
    assert_eq!(
        verifier
            .verify_checked_async(&checked, &b"{}"[..])
            .await
            .unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

// ---- Tests that notice a weakened verifier (mutation testing) ------------

/// The real `v1` tag for `body` under `secret`, decoded.
fn real_tag(secret: &str, id: &str, ts: u64, body: &[u8]) -> [u8; 32] {
    use base64::Engine as _;
    let entry = Signer::hmac(secret).unwrap().signature(id, ts, body);
    base64::engine::general_purpose::STANDARD
        .decode(&entry["v1,".len()..])
        .unwrap()
        .try_into()
        .unwrap()
}

fn entry_of(tag: &[u8; 32]) -> String {
    use base64::Engine as _;
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

#[test]
fn structured_wrong_tags_never_verify() {
    let secret = generate_secret();
    let verifier = verifier(&secret);
    let tag = real_tag(&secret, "msg_tag", AT, b"{}");
    let check = |tag: &[u8; 32]| {
        verifier.verify_at(
            &headers("msg_tag", &AT.to_string(), &entry_of(tag)),
            &b"{}"[..],
            at(AT),
        )
    };
    assert!(check(&tag).is_ok());
    let mut wrong = Vec::new();
    // Two 8-byte words swapped: their differences cancel under XOR.
    for (i, j) in [(0, 1), (0, 3), (1, 2), (2, 3)] {
        let mut swapped = tag;
        let (a, b) = (
            tag[i * 8..i * 8 + 8].to_vec(),
            tag[j * 8..j * 8 + 8].to_vec(),
        );
        swapped[i * 8..i * 8 + 8].copy_from_slice(&b);
        swapped[j * 8..j * 8 + 8].copy_from_slice(&a);
        wrong.push(swapped);
    }
    // Two words flipped by the same mask, and all four by one mask.
    for words in [&[0usize, 1][..], &[1, 3], &[0, 1, 2, 3]] {
        let mut flipped = tag;
        for &w in words {
            flipped[w * 8] ^= 0x5a;
            flipped[w * 8 + 7] ^= 0x01;
        }
        wrong.push(flipped);
    }
    // One bit anywhere.
    for bit in [0, 63, 64, 200, 255] {
        let mut one = tag;
        one[bit / 8] ^= 1 << (bit % 8);
        wrong.push(one);
    }
    for wrong in wrong {
        if wrong == tag {
            continue; // equal words swapped: not a different tag
        }
        assert_eq!(check(&wrong).unwrap_err(), VerifyError::NoMatchingSignature);
    }
}

/// Tags are compared as sent (base64, in 4-byte words): the same kinds of
/// structured changes, made to the entry's characters.
#[test]
fn structured_wrong_entries_never_verify() {
    let secret = generate_secret();
    let verifier = verifier(&secret);
    let entry = entry_of(&real_tag(&secret, "msg_tag", AT, b"{}"));
    let encoded = entry.as_bytes()["v1,".len()..].to_vec();
    assert_eq!(encoded.len(), 44);
    let check = |encoded: &[u8]| {
        let signature = format!("v1,{}", String::from_utf8(encoded.to_vec()).unwrap());
        verifier.verify_at(
            &headers("msg_tag", &AT.to_string(), &signature),
            &b"{}"[..],
            at(AT),
        )
    };
    assert!(check(&encoded).is_ok());
    let mut wrong = Vec::new();
    // Two 4-character words swapped: their differences cancel under XOR.
    for (i, j) in [(0, 1), (0, 10), (3, 7)] {
        let mut swapped = encoded.clone();
        for k in 0..4 {
            swapped.swap(i * 4 + k, j * 4 + k);
        }
        wrong.push(swapped);
    }
    // The same bit flipped in two words, and in all eleven (`^ 1` keeps
    // every base64 character visible ASCII).
    let all: Vec<usize> = (0..11).collect();
    for words in [&[0usize, 1][..], &[2, 9], &all] {
        let mut flipped = encoded.clone();
        for &w in words {
            flipped[w * 4] ^= 1;
        }
        wrong.push(flipped);
    }
    for wrong in wrong {
        if wrong == encoded {
            continue; // equal words swapped: not a different entry
        }
        assert_eq!(check(&wrong).unwrap_err(), VerifyError::NoMatchingSignature);
    }
}

#[test]
fn the_same_valid_entry_twice_still_verifies() {
    let secret = generate_secret();
    let entry = entry_of(&real_tag(&secret, "msg_twice", AT, b"{}"));
    for signature in [
        format!("{entry} {entry}"),
        format!("{entry} {entry} {entry}"),
        format!("v1,AAAA {entry} {entry}"),
    ] {
        let delivery = verifier(&secret)
            .verify_at(
                &headers("msg_twice", &AT.to_string(), &signature),
                &b"{}"[..],
                at(AT),
            )
            .unwrap();
        assert_eq!(
            *delivery.verified_by(),
            VerifiedBy::Secret(0),
            "{signature}"
        );
    }
}

#[test]
fn a_webhook_id_of_exactly_256_bytes_is_accepted() {
    let secret = generate_secret();
    for (len, ok) in [(256, true), (257, false)] {
        let id = "i".repeat(len);
        let signature = Signer::hmac(&secret).unwrap().signature(&id, AT, b"{}");
        let outcome = verifier(&secret).verify_at(
            &headers(&id, &AT.to_string(), &signature),
            &b"{}"[..],
            at(AT),
        );
        assert_eq!(outcome.is_ok(), ok, "{len}: {outcome:?}");
    }
}

#[test]
fn accessors_and_builder_state_are_kept() {
    let (a, b) = (generate_secret(), generate_secret());
    let raw_b = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&b["whsec_".len()..])
            .unwrap()
    };
    let verifier = Verifier::builder()
        .secret(&a)
        .unwrap()
        .secret_bytes(&raw_b)
        .unwrap()
        .tolerance(Duration::from_secs(42))
        .build()
        .unwrap();
    assert_eq!(verifier.tolerance(), Duration::from_secs(42));
    assert_eq!(
        Verifier::builder()
            .secret(&a)
            .unwrap()
            .build()
            .unwrap()
            .tolerance(),
        gemini_webhooks::verify::DEFAULT_TOLERANCE
    );
    assert_eq!(
        gemini_webhooks::verify::DEFAULT_TOLERANCE,
        Duration::from_secs(300)
    );
    for (secret, index) in [(&a, 0), (&b, 1)] {
        let headers = Signer::hmac(secret).unwrap().sign(b"{}");
        let delivery = verifier.verify(&headers, &b"{}"[..]).unwrap();
        assert_eq!(*delivery.verified_by(), VerifiedBy::Secret(index));
    }
    let shown = format!("{verifier:?}");
    for part in [
        "secrets: 2",
        "public_keys: 0",
        "jwks: false",
        "tolerance: 42s",
    ] {
        assert!(shown.contains(part), "{shown}");
    }
    #[cfg(feature = "jwt")]
    {
        let shown = format!(
            "{:?}",
            Verifier::builder()
                .secret(&a)
                .unwrap()
                .jwt_audience("https://aud.example")
        );
        for part in ["secrets: 1", "jwt_audience: Some(\"https://aud.example\")"] {
            assert!(shown.contains(part), "{shown}");
        }
    }
}

#[cfg(feature = "jwks-fetch")]
#[test]
fn jwks_url_keeps_the_builder_state() {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .jwks_url("https://keys.example/jwks.json")
        .unwrap()
        .tolerance(Duration::from_secs(7))
        .build()
        .unwrap();
    let headers = Signer::hmac(&secret).unwrap().sign(b"{}");
    assert!(verifier.verify(&headers, &b"{}"[..]).is_ok());
    let shown = format!("{verifier:?}");
    assert!(
        shown.contains("jwks: true") && shown.contains("secrets: 1"),
        "{shown}"
    );
}

#[test]
fn the_key_that_verified_last_is_tried_first() {
    let keys = [
        generate_ed25519_key(),
        generate_ed25519_key(),
        generate_ed25519_key(),
    ];
    let verifier = static_keys(&[&keys[0], &keys[1], &keys[2]]);
    let check = |entries: &[String]| verifier.verify_at(&with_entries(entries), &b"{}"[..], at(AT));
    // Cold, a forged entry ahead of one by the last key exhausts the budget.
    assert!(check(&[forged_v1a(), v1a_entry(&keys[2])]).is_err());
    // Once the last key has verified, it is tried first: 3 + 1 verifications.
    assert!(check(&[v1a_entry(&keys[2])]).is_ok());
    let delivery = check(&[forged_v1a(), v1a_entry(&keys[2])]).unwrap();
    assert_eq!(*delivery.verified_by(), VerifiedBy::PublicKey(2));
}

#[test]
fn a_secret_without_its_prefix_names_the_fix() {
    let err = Verifier::builder()
        .secret("C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the HMAC secret must start with `whsec_` (for raw secret bytes, use `VerifierBuilder::secret_bytes`)"
    );
    let err = Verifier::builder().public_key("C2FV").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the Ed25519 public key must start with `whpk_`"
    );
}

#[test]
fn secrets_shorter_than_the_spec_minimum_are_refused_unless_asked_for() {
    use base64::Engine as _;
    let whsec = |n: usize| {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
        )
    };
    for short in [1, 3, 23] {
        let refused = Verifier::builder().secret(&whsec(short)).unwrap_err();
        assert_eq!(
            refused,
            KeyError::TooShort {
                kind: "HMAC secret",
                min: 24,
                actual: short
            }
        );
        assert!(refused.to_string().contains("danger_short_secret"));
        assert!(Verifier::builder().secret_bytes(&vec![7u8; short]).is_err());
    }
    assert!(Verifier::builder().secret(&whsec(24)).is_ok());
    assert!(Verifier::builder().secret_bytes(&[7u8; 24]).is_ok());
    // The opt-out, for fixtures signed with a short secret.
    let fixture = whsec(3);
    let verifier = Verifier::builder()
        .danger_short_secret(&fixture)
        .unwrap()
        .build()
        .unwrap();
    let headers = Signer::hmac(&fixture).unwrap().sign(b"{}");
    assert!(verifier.verify(&headers, &b"{}"[..]).is_ok());
}
