//! Instruction count of a forged `v1a` delivery against a genuine one, for
//! `valgrind --tool=callgrind` (repeatable on a noisy machine, unlike time).
//!
//! A 1 MiB body, a 3-key JWKS, 16 forged `v1a` entries. Run each mode under
//! callgrind and subtract the `setup` run:
//!
//! ```text
//! cargo build --release --example forged_v1a_cost
//! for mode in setup genuine forged; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/forged_v1a_cost $mode 2>&1 | grep refs
//! done
//! ```

use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_ed25519_key};

const ROUNDS: usize = 5;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "forged".into());
    let keys: Vec<_> = (0..3).map(|_| generate_ed25519_key()).collect();
    let set: gemini_webhooks::keys::jwks::JwkSet = serde_json::from_value(serde_json::json!({
        "keys": keys.iter().map(|k| k.jwk(None)).collect::<Vec<_>>()
    }))
    .expect("a JWKS");
    let verifier = Verifier::builder().jwks(&set).build().expect("a verifier");
    let body = vec![b'x'; 1024 * 1024];
    let genuine = Signer::ed25519(&keys[1].private_key)
        .expect("a key")
        .id("msg_cost")
        .sign(&body);
    // The genuine key becomes the one tried first, as after a first delivery.
    verifier.verify(&genuine, &body[..]).expect("genuine");
    let timestamp: u64 = genuine["webhook-timestamp"]
        .to_str()
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    let entry = Signer::ed25519(&generate_ed25519_key().private_key)
        .expect("a key")
        .signature("msg_cost", timestamp, &body);
    let mut forged = genuine.clone();
    forged.insert(
        "webhook-signature",
        vec![entry; 16].join(" ").parse().expect("a header"),
    );

    let outcome = |headers| verifier.verify(headers, &body[..]).is_ok();
    let accepted = match mode.as_str() {
        "setup" => 0,
        "genuine" => (0..ROUNDS).filter(|_| outcome(&genuine)).count(),
        "forged" => (0..ROUNDS).filter(|_| outcome(&forged)).count(),
        other => panic!("mode is setup, genuine or forged, not {other}"),
    };
    println!("{mode}: {ROUNDS} rounds, {accepted} accepted");
}
