//! `verify`: checks a captured delivery and names the check that fails,
//! with its likely cause. Never prints a secret or a key.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Args;
use gemini_webhooks::{Verifier, VerifyError};
use http::HeaderMap;
use serde_json::json;

use crate::output::Output;

use crate::{Failure, capture};

/// Check a captured delivery and say precisely which check fails.
///
/// Examples:
///   gemini-webhooks verify --secret "$SECRET" --request delivery.http
///   gemini-webhooks verify --public-key whpk_… --headers headers.txt --body body.json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// A raw HTTP request: request line, headers, empty line, body.
    #[arg(long, conflicts_with_all = ["headers", "body"], required_unless_present = "headers")]
    request: Option<PathBuf>,
    /// Header lines (`Name: value`), with --body.
    #[arg(long, requires = "body")]
    headers: Option<PathBuf>,
    /// The body exactly as received, with --headers.
    #[arg(long, requires = "headers")]
    body: Option<PathBuf>,
    /// Check as if the time were this (Unix seconds), e.g. the delivery's
    /// own timestamp to check an old capture's signature.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

/// The keys to verify with, shared by `verify` and `listen`.
#[derive(Args)]
pub struct KeyArgs {
    /// HMAC secret (`whsec_…`); repeat for several.
    #[arg(long)]
    secret: Vec<String>,
    /// Ed25519 public key (`whpk_…`); repeat for several.
    #[arg(long)]
    public_key: Vec<String>,
    /// A JWKS document (Google's keys for dynamic webhooks): a file, or an
    /// `https://` URL to fetch it from.
    #[arg(long, value_name = "FILE|URL")]
    jwks: Option<String>,
}

impl KeyArgs {
    /// The verifier for these keys; an error names what is wrong, never a key.
    pub async fn verifier(&self) -> Result<Verifier, Failure> {
        let mut builder = Verifier::builder();
        for secret in &self.secret {
            builder = builder.secret(secret)?;
        }
        for key in &self.public_key {
            builder = builder.public_key(key)?;
        }
        if let Some(source) = &self.jwks {
            builder = builder.jwks_json(&jwks_document(source).await?)?;
        }
        builder
            .build()
            .map_err(|err| format!("{err} (give --secret, --public-key or --jwks)").into())
    }
}

/// A JWKS document from a file, or fetched from an `http(s)://` URL.
async fn jwks_document(source: &str) -> Result<Vec<u8>, Failure> {
    if !(source.starts_with("https://") || source.starts_with("http://")) {
        return capture::read(std::path::Path::new(source));
    }
    let fetch = async {
        let response = reqwest::get(source).await?.error_for_status()?;
        Ok::<_, reqwest::Error>(response.bytes().await?.to_vec())
    };
    fetch
        .await
        .map_err(|err| format!("cannot fetch the JWKS from {source}: {err}").into())
}

/// The verdict, as printed.
struct Report {
    verified: bool,
    /// Which check: `headers`, `timestamp`, `signature`, or `ok`.
    check: &'static str,
    message: String,
    /// The likely cause, when one was found.
    cause: Option<String>,
}

pub async fn run(args: &VerifyArgs, out: Output) -> Result<ExitCode, Failure> {
    let verifier = args.keys.verifier().await?;
    let (headers, body) = match (&args.request, &args.headers, &args.body) {
        (Some(request), _, _) => capture::read_request(request)?,
        (None, Some(headers), Some(body)) => capture::read_parts(headers, body)?,
        _ => return Err("give --request, or --headers with --body".into()),
    };
    let now = args.now.map_or_else(SystemTime::now, |unix| {
        UNIX_EPOCH + Duration::from_secs(unix)
    });
    let report = check(&verifier, &headers, &body, now);
    out.show(
        || {
            let mark = if report.verified {
                "verified"
            } else {
                "NOT verified"
            };
            match &report.cause {
                Some(cause) => format!("{mark}: {}\nlikely cause: {cause}", report.message),
                None => format!("{mark}: {}", report.message),
            }
        },
        || {
            json!({
                "verified": report.verified,
                "check": report.check,
                "message": report.message,
                "cause": report.cause,
            })
        },
    );
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check(verifier: &Verifier, headers: &HeaderMap, body: &Bytes, now: SystemTime) -> Report {
    let error = match verifier.verify_at(headers, body, now) {
        Ok(delivery) => {
            return Report {
                verified: true,
                check: "ok",
                message: format!(
                    "id {}, timestamp {}, by {:?}",
                    delivery.id(),
                    delivery.unix_timestamp(),
                    delivery.verified_by()
                ),
                cause: None,
            };
        }
        Err(error) => error,
    };
    let fail = |check, cause: Option<String>| Report {
        verified: false,
        check,
        message: error.to_string(),
        cause,
    };
    match &error {
        VerifyError::TimestampTooOld | VerifyError::TimestampInFuture => {
            fail("timestamp", Some(timestamp_cause(verifier, headers, body, now)))
        }
        VerifyError::NoMatchingSignature => fail("signature", Some(signature_cause(verifier, headers, body, now))),
        VerifyError::MissingHeader(_) | VerifyError::InvalidHeader { .. } | VerifyError::InvalidTimestamp => fail(
            "headers",
            Some("a malformed or missing `webhook-*` header: the request was not sent by a Standard Webhooks sender, or a proxy changed or dropped the header".into()),
        ),
        _ => fail("signature", None),
    }
}

/// How far off the timestamp is, and whether the signature itself holds.
fn timestamp_cause(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &Bytes,
    now: SystemTime,
) -> String {
    let Some(sent) = header(headers, "webhook-timestamp").and_then(|t| t.parse::<u64>().ok())
    else {
        return "the timestamp cannot be read".into();
    };
    let now_unix = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let skew = i128::from(now_unix) - i128::from(sent);
    let tolerance = verifier.tolerance().as_secs();
    let when = if skew >= 0 {
        format!("signed {skew} s before now")
    } else {
        format!("signed {} s in the future", -skew)
    };
    let signature = match verifier.verify_at(headers, body, UNIX_EPOCH + Duration::from_secs(sent))
    {
        Ok(_) => "the signature itself is valid (checked at the delivery's own time)",
        Err(_) => "the signature does not verify either",
    };
    format!(
        "timestamp skew: {when}, tolerance ±{tolerance} s ({signature}); a captured delivery checked later (use --now {sent}), a replay, or a clock that is off"
    )
}

/// Why no entry verifies: which kinds of entries there are, and whether a
/// small, usual change to the body explains it.
fn signature_cause(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &Bytes,
    now: SystemTime,
) -> String {
    let at = header(headers, "webhook-timestamp")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(now, |sent| UNIX_EPOCH + Duration::from_secs(sent));
    let verifies = |candidate: &[u8]| verifier.verify_at(headers, candidate, at).is_ok();

    let mut trimmed: &[u8] = body;
    while let [rest @ .., b'\n' | b'\r'] = trimmed {
        trimmed = rest;
    }
    if trimmed.len() != body.len() && verifies(trimmed) {
        return "body modified: a trailing newline was added after signing (an editor, `echo`, or a file saved with a final newline); send and verify the raw bytes".into();
    }
    if trimmed.len() == body.len()
        && (verifies(&[body.as_ref(), b"\n"].concat())
            || verifies(&[body.as_ref(), b"\r\n"].concat()))
    {
        return "body modified: its trailing newline was removed after signing".into();
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let compact = serde_json::to_vec(&value).unwrap_or_default();
        let pretty = serde_json::to_vec_pretty(&value).unwrap_or_default();
        if (compact != body.as_ref() && verifies(&compact))
            || (pretty != body.as_ref() && verifies(&pretty))
        {
            return "body modified: the JSON was re-serialized (whitespace or key order changed) after signing; signatures cover the raw bytes as received, so verify those, never a parsed-and-printed copy".into();
        }
    }

    let entries: Vec<&str> = header(headers, "webhook-signature")
        .map(|s| s.split(' ').filter(|e| !e.is_empty()).collect())
        .unwrap_or_default();
    let count = |version: &str| {
        entries
            .iter()
            .filter(|e| e.split(',').next() == Some(version))
            .count()
    };
    let (v1, v1a) = (count("v1"), count("v1a"));
    let shown = format!("{v1} `v1` (HMAC) and {v1a} `v1a` (Ed25519) entries");
    match (v1, v1a) {
        (0, 0) => format!(
            "the signature header has no `v1` or `v1a` entry ({} entries of other versions)",
            entries.len()
        ),
        (_, 0) => format!(
            "{shown}: no secret given matches (a wrong or rotated secret), or the id, timestamp or body changed after signing"
        ),
        (0, _) => format!(
            "{shown}: no public key given matches (a wrong key: dynamic webhooks are signed with Google's JWKS keys), or the id, timestamp or body changed after signing"
        ),
        _ => format!(
            "{shown}: none matches a secret or key given, or the id, timestamp or body changed after signing"
        ),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}
