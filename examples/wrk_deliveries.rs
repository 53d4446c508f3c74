//! Writes signed deliveries for `wrk` (load from a second process, so the
//! client does not share the receiver's runtime): line one is the body,
//! then one `webhook-id<TAB>webhook-timestamp<TAB>webhook-signature` line
//! per delivery, each id new. `scripts/wrk/deliveries.lua` sends them.
//! The body names the job `batches/{WEBHOOK_ID}`, as sent (`{WEBHOOK_ID}`
//! in line one stands for each line's id): every delivery completes a job
//! of its own, as an inbox's completion keys want.
//!
//! `GEMINI_WEBHOOK_SECRET=whsec_... cargo run --release --example wrk_deliveries -- 200000 > /tmp/deliveries.tsv`
//!
//! The timestamps are now: send them within the receiver's tolerance
//! (five minutes by default).

use std::io::{BufWriter, Write as _};

use gemini_webhooks::testing::{Signer, sample_event_for};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(count) => count.parse()?,
        None => 200_000,
    };
    let secret = std::env::var("GEMINI_WEBHOOK_SECRET")
        .map_err(|_| "set GEMINI_WEBHOOK_SECRET to the receiver's whsec_ secret")?;
    let signer = Signer::hmac(&secret)?;
    // One line: `sample_event` is compact JSON.
    let template = sample_event_for("batch.succeeded", "batches/{WEBHOOK_ID}");
    let template = std::str::from_utf8(&template)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    out.write_all(template.as_bytes())?;
    out.write_all(b"\n")?;
    let run = std::process::id();
    for n in 0..count {
        let id = format!("msg_wrk_{run}_{n}");
        let body = template.replace("{WEBHOOK_ID}", &id);
        let headers = signer.clone().id(id).sign(body.as_bytes());
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
