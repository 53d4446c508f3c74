//! Verification in a loop, for `valgrind --tool=callgrind` or `perf`: where
//! the fixed cost of a small delivery goes. `v1` (HMAC) by default, `v1a`
//! (Ed25519, one static key) with a third argument `v1a`.
//!
//! `cargo build --release -p gemini-webhooks-harness --example verify_loop`
//! `valgrind --tool=callgrind target/release/examples/verify_loop 256 100000 [v1a]`

use std::hint::black_box;

use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_ed25519_key, generate_secret};

fn main() {
    let mut args = std::env::args().skip(1);
    let len: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let v1a = args.next().is_some_and(|scheme| scheme == "v1a");
    let (verifier, signer) = if v1a {
        let key = generate_ed25519_key();
        let verifier = Verifier::builder().public_key(&key.public_key).unwrap();
        (verifier, Signer::ed25519(&key.private_key).unwrap())
    } else {
        let secret = generate_secret();
        let verifier = Verifier::builder().secret(&secret).unwrap();
        (verifier, Signer::hmac(&secret).unwrap())
    };
    let verifier = verifier.build().unwrap();
    let body = Bytes::from(vec![b'x'; len]);
    let headers = signer.sign(&body);
    for _ in 0..rounds {
        black_box(
            verifier
                .verify(black_box(&headers), black_box(&body))
                .unwrap(),
        );
    }
}
