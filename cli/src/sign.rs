//! `sign`: the three `webhook-*` headers for a body, or a complete `curl`.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use clap::Args;
use gemini_webhooks::testing::{Signer, sample_event};
use serde_json::json;

use crate::output::{self, Output};

use crate::{Failure, capture};

/// Sign a body as Gemini would.
///
/// Examples:
///   gemini-webhooks sign --secret "$SECRET" --event batch.succeeded
///   gemini-webhooks sign --secret "$SECRET" --body event.json --curl http://127.0.0.1:8080/webhooks/gemini | sh
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SignArgs {
    /// HMAC secret (`whsec_…`): a `v1` signature.
    #[arg(long, required_unless_present = "key", conflicts_with = "key")]
    secret: Option<String>,
    /// Ed25519 private key (`whsk_…`): a `v1a` signature.
    #[arg(long)]
    key: Option<String>,
    /// The body to sign, exactly as it will be sent.
    #[arg(long, required_unless_present = "event", conflicts_with = "event")]
    body: Option<PathBuf>,
    /// Sign a sample envelope of this event type instead of a file.
    #[arg(long)]
    event: Option<String>,
    /// The `webhook-id` (default: a fresh `msg_…`).
    #[arg(long)]
    id: Option<String>,
    /// The `webhook-timestamp`, Unix seconds (default: now).
    #[arg(long)]
    timestamp: Option<u64>,
    /// Print a complete `curl` command posting to this URL instead.
    #[arg(long, value_name = "URL")]
    curl: Option<String>,
}

pub fn run(args: &SignArgs, out: Output) -> Result<(), Failure> {
    let mut signer = signer(args.secret.as_deref(), args.key.as_deref())?;
    if let Some(id) = &args.id {
        signer = signer.id(id.clone());
    }
    if let Some(unix) = args.timestamp {
        signer = signer.timestamp(UNIX_EPOCH + Duration::from_secs(unix));
    }
    let body: Bytes = match (&args.body, &args.event) {
        (Some(path), _) => capture::read(path)?.into(),
        (None, Some(event_type)) => sample_event(event_type),
        (None, None) => return Err("give --body or --event".into()),
    };
    let headers = signer.sign(&body);
    let pairs: Vec<(&str, &str)> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .filter_map(|name| Some((name, headers.get(name)?.to_str().ok()?)))
        .collect();

    if let Some(url) = &args.curl {
        let mut command = format!(
            "curl -sS --fail-with-body -X POST {} -H 'content-type: application/json'",
            quote(url)
        );
        for (name, value) in &pairs {
            command.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
        }
        match &args.body {
            // The file's exact bytes: a shell string could change them.
            Some(path) => command.push_str(&format!(
                " --data-binary @{}",
                quote(&path.display().to_string())
            )),
            None => command.push_str(&format!(
                " --data-binary {}",
                quote(&String::from_utf8_lossy(&body))
            )),
        }
        output::line(command);
    } else {
        out.show(
            || {
                let lines: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                lines.join("\n")
            },
            || {
                let headers: serde_json::Map<String, serde_json::Value> = pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), json!(v)))
                    .collect();
                json!({ "headers": headers, "body": String::from_utf8_lossy(&body) })
            },
        );
    }
    Ok(())
}

/// A `v1` signer for an HMAC secret, or a `v1a` one for an Ed25519 key.
pub fn signer(secret: Option<&str>, key: Option<&str>) -> Result<Signer, Failure> {
    match (secret, key) {
        (Some(secret), _) => Ok(Signer::hmac(secret)?),
        (None, Some(key)) => Ok(Signer::ed25519(key)?),
        (None, None) => Err("give --secret or --key".into()),
    }
}

/// Quotes for a POSIX shell: single quotes, each `'` written as `'\''`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
