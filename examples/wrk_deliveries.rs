//! Writes signed deliveries for `wrk` (load from a second process, so the
//! client does not share the receiver's runtime): line one is the body,
//! then one `webhook-id<TAB>webhook-timestamp<TAB>webhook-signature` line
//! per delivery, each id new. `scripts/wrk/deliveries.lua` sends them.
//!
//! `GEMINI_WEBHOOK_SECRET=whsec_... cargo run --release --example wrk_deliveries -- 200000 > /tmp/deliveries.tsv`
//!
//! The timestamps are now: send them within the receiver's tolerance
//! (five minutes by default).

use std::io::{BufWriter, Write as _};

use gemini_webhooks::testing::{Signer, sample_event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(count) => count.parse()?,
        None => 200_000,
    };
    let secret = std::env::var("GEMINI_WEBHOOK_SECRET")
        .map_err(|_| "set GEMINI_WEBHOOK_SECRET to the receiver's whsec_ secret")?;
    let signer = Signer::hmac(&secret)?;
    // One line: `sample_event` is compact JSON.
    let body = sample_event("batch.succeeded");
    let mut out = BufWriter::new(std::io::stdout().lock());
    out.write_all(&body)?;
    out.write_all(b"\n")?;
    let run = std::process::id();
    for n in 0..count {
        let headers = signer.clone().id(format!("msg_wrk_{run}_{n}")).sign(&body);
        let value = |name: &str| headers[name].to_str().map(str::to_owned);
        writeln!(
            out,
            "{}\t{}\t{}",
            value("webhook-id")?,
            value("webhook-timestamp")?,
            value("webhook-signature")?
        )?;
    }
    out.flush()?;
    Ok(())
}
