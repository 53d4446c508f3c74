//! JWT (ES256 or RS256) verification in a loop, for `perf record` or
//! callgrind: where a JWT delivery's time goes.
//!
//! `cargo run --release -p gemini-webhooks-harness --example jwt_loop -- es256 2000`

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_secret};
use sha2::{Digest, Sha256};

fn main() {
    let mut args = std::env::args().skip(1);
    let alg = args.next().unwrap_or_else(|| "es256".into());
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_str(include_str!("../../tests/fixtures/jwks_rsa_ec.json")).unwrap();
    let verifier = Verifier::builder()
        .jwks(&set)
        .jwt_audience("https://receiver.example")
        .build()
        .unwrap();
    let body = vec![b'x'; 1024];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let digest: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let claims = serde_json::json!({
        "aud": "https://receiver.example", "iat": now, "exp": now + 300, "body_sha256": digest,
    });
    let (header, key) = match alg.as_str() {
        "rs256" => {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            h.kid = Some("rsa-1".into());
            let k = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
                "../../tests/fixtures/rsa_private.pem"
            ))
            .unwrap();
            (h, k)
        }
        _ => {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            h.kid = Some("ec-1".into());
            let k = jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!(
                "../../tests/fixtures/ec_private.pem"
            ))
            .unwrap();
            (h, k)
        }
    };
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let mut headers = Signer::hmac(&generate_secret()).unwrap().sign(&body);
    headers.insert("webhook-signature", token.parse().unwrap());
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(
            verifier
                .verify(black_box(&headers), black_box(&body[..]))
                .unwrap(),
        );
    }
    println!(
        "{alg}: {:.1} µs per delivery",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
}
