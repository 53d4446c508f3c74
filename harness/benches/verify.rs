//! Verification cost side by side: ours, the Standard Webhooks reference
//! crate, and a streaming HMAC-SHA256 with its key prepared once (ring's
//! assembly, and RustCrypto's) as the floor; then `v1a` with
//! three candidate keys against one bare Ed25519 verification.
//!
//! Run: `cargo bench -p gemini-webhooks-harness --bench verify`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, SigningKey, Verifier as _, VerifyingKey};
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_ed25519_key, generate_secret};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const SIZES: [(usize, &str); 4] = [
    (256, "256B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (1024 * 1024, "1MiB"),
];

/// A JSON-ish UTF-8 body (the reference crate refuses anything else).
fn body(len: usize) -> Bytes {
    let mut body = br#"{"type":"batch.succeeded","data":{"id":"batches/1","pad":""#.to_vec();
    body.resize(len - 3, b'x');
    body.extend_from_slice(br#""}}"#);
    Bytes::from(body)
}

fn v1(c: &mut Criterion) {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let reference = standardwebhooks::Webhook::new(&secret).unwrap();
    let raw_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&secret["whsec_".len()..])
            .unwrap()
    };

    let mut group = c.benchmark_group("v1");
    for (len, label) in SIZES {
        let body = body(len);
        let headers = Signer::hmac(&secret).unwrap().sign(&body);
        let id = headers["webhook-id"].to_str().unwrap().to_owned();
        let timestamp = headers["webhook-timestamp"].to_str().unwrap().to_owned();
        group.throughput(Throughput::Bytes(len as u64));

        group.bench_with_input(
            BenchmarkId::new("gemini-webhooks", label),
            &body,
            |b, body| {
                b.iter(|| {
                    verifier
                        .verify(black_box(&headers), black_box(body))
                        .unwrap()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks", label),
            &body,
            |b, body| {
                b.iter(|| {
                    reference
                        .verify(black_box(body), black_box(&headers))
                        .unwrap()
                })
            },
        );
        // The limit: ring's assembly HMAC-SHA256 with the key prepared once,
        // streaming the same five parts (aws-lc-rs measures within 2 % of it).
        let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw_key);
        group.bench_with_input(BenchmarkId::new("ring-floor", label), &body, |b, body| {
            b.iter(|| {
                let mut mac = ring::hmac::Context::with_key(&ring_key);
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(timestamp.as_bytes());
                mac.update(b".");
                mac.update(black_box(body));
                mac.sign()
            })
        });
        // RustCrypto's HMAC, keyed once and cloned per message.
        let keyed = Hmac::<Sha256>::new_from_slice(&raw_key).unwrap();
        group.bench_with_input(
            BenchmarkId::new("rustcrypto-floor", label),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut mac = keyed.clone();
                    mac.update(id.as_bytes());
                    mac.update(b".");
                    mac.update(timestamp.as_bytes());
                    mac.update(b".");
                    mac.update(black_box(body));
                    mac.finalize().into_bytes()
                })
            },
        );
    }
    group.finish();
}

fn v1a(c: &mut Criterion) {
    let keys: Vec<_> = (0..3).map(|_| generate_ed25519_key()).collect();
    let mut builder = Verifier::builder();
    for key in &keys {
        builder = builder.public_key(&key.public_key).unwrap();
    }
    let verifier = builder.build().unwrap();
    // Signed by the last key: the first call searches, later ones hit first.
    let signer = Signer::ed25519(&keys[2].private_key).unwrap();

    let body = body(1024);
    let headers = signer.sign(&body);

    // The floor: one Ed25519 verification of the same signed content.
    let content = [
        headers["webhook-id"].as_bytes(),
        b".",
        headers["webhook-timestamp"].as_bytes(),
        b".",
        &body,
    ]
    .concat();
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let public: VerifyingKey = signing.verifying_key();
    let signature: Signature = ed25519_dalek::Signer::sign(&signing, &content);

    let mut group = c.benchmark_group("v1a-1KiB");
    group.bench_function("gemini-webhooks-3-keys", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&headers), black_box(&body))
                .unwrap()
        })
    });
    group.bench_function("ed25519-floor", |b| {
        b.iter(|| {
            public
                .verify(black_box(&content), black_box(&signature))
                .unwrap()
        })
    });
    group.finish();
}

/// Dynamic webhooks with cached JWKS keys: `v1a` against a 3-key set, and
/// JWTs (RS256, ES256; aws-lc-rs) against their `kid`.
fn jwks(c: &mut Criterion) {
    let keys: Vec<_> = (0..3).map(|_| generate_ed25519_key()).collect();
    let set: gemini_webhooks::keys::jwks::JwkSet = serde_json::from_value(serde_json::json!({
        "keys": keys.iter().enumerate().map(|(i, k)| k.jwk(Some(&format!("k{i}")))).collect::<Vec<_>>()
    }))
    .unwrap();
    let rsa_set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_str(include_str!("../../tests/fixtures/jwks_rsa_ec.json")).unwrap();
    let mut all = set.clone();
    all.keys.extend(rsa_set.keys);
    let verifier = Verifier::builder()
        .jwks(&all)
        .jwt_audience("https://receiver.example")
        .build()
        .unwrap();

    let body = body(1024);
    let headers = Signer::ed25519(&keys[2].private_key).unwrap().sign(&body);
    let mut group = c.benchmark_group("jwks-1KiB");
    group.bench_function("v1a-3-key-jwks", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&headers), black_box(&body))
                .unwrap()
        })
    });

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let body_sha256 = {
        use sha2::Digest;
        let digest = Sha256::digest(&body);
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let claims = serde_json::json!({
        "aud": "https://receiver.example",
        "iat": now,
        "exp": now + 300,
        "body_sha256": body_sha256,
    });
    let rsa = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
        "../../tests/fixtures/rsa_private.pem"
    ))
    .unwrap();
    let ec = jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!(
        "../../tests/fixtures/ec_private.pem"
    ))
    .unwrap();
    let mut es256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    es256.kid = Some("ec-1".into());
    for (name, header, key) in [("jwt-rs256", header, rsa), ("jwt-es256", es256, ec)] {
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let mut jwt_headers = headers.clone();
        jwt_headers.insert("webhook-signature", token.parse().unwrap());
        group.bench_function(name, |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(&jwt_headers), black_box(&body))
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// What a forged `v1a` delivery can cost: 1 MiB, 16 `v1a` entries none of
/// which verifies, against a 3-key JWKS (no key id, so every key is a
/// candidate), next to a genuine one whose key is tried first (as after the
/// first delivery). The work budget keeps the ratio at most 4×.
fn forged_v1a(c: &mut Criterion) {
    let keys: Vec<_> = (0..3).map(|_| generate_ed25519_key()).collect();
    let set: gemini_webhooks::keys::jwks::JwkSet = serde_json::from_value(serde_json::json!({
        "keys": keys.iter().map(|k| k.jwk(None)).collect::<Vec<_>>()
    }))
    .unwrap();
    let verifier = Verifier::builder().jwks(&set).build().unwrap();
    let body = body(1024 * 1024);
    let genuine = Signer::ed25519(&keys[1].private_key)
        .unwrap()
        .id("msg_forged")
        .sign(&body);
    // The genuine key becomes the one tried first.
    verifier.verify(&genuine, &body).unwrap();
    let attacker = generate_ed25519_key();
    let timestamp: u64 = genuine["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let forged_entry =
        Signer::ed25519(&attacker.private_key)
            .unwrap()
            .signature("msg_forged", timestamp, &body);
    let mut forged = genuine.clone();
    forged.insert(
        "webhook-signature",
        vec![forged_entry; 16].join(" ").parse().unwrap(),
    );
    assert!(verifier.verify(&forged, &body).is_err());

    let mut group = c.benchmark_group("v1a-1MiB-3-key-jwks");
    group.sample_size(20);
    group.bench_function("genuine", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&genuine), black_box(&body))
                .unwrap()
        })
    });
    group.bench_function("forged-16-entries", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&forged), black_box(&body))
                .unwrap_err()
        })
    });
    group.finish();
}

criterion_group!(benches, v1, v1a, jwks, forged_v1a);
criterion_main!(benches);
