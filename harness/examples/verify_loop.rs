//! `v1` verification in a loop, for `valgrind --tool=callgrind` or `perf`:
//! where the fixed cost of a small delivery goes.
//!
//! `cargo build --release -p gemini-webhooks-harness --example verify_loop`
//! `valgrind --tool=callgrind target/release/examples/verify_loop 256 100000`

use std::hint::black_box;

use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_secret};

fn main() {
    let mut args = std::env::args().skip(1);
    let len: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let body = Bytes::from(vec![b'x'; len]);
    let headers = Signer::hmac(&secret).unwrap().sign(&body);
    for _ in 0..rounds {
        black_box(
            verifier
                .verify(black_box(&headers), black_box(&body))
                .unwrap(),
        );
    }
}
