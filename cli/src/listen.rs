//! `listen`: a local receiver on the crate's own `Receiver`, printing each
//! verified event and why each rejected request was rejected.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clap::Args;
use gemini_webhooks::Receiver;
use gemini_webhooks::receiver::{DEFAULT_BODY_TIMEOUT, read_body_within};
use serde_json::json;

use crate::output::{self, Output};

use crate::Failure;
use crate::verify::KeyArgs;

/// Receive deliveries locally, e.g. behind a tunnel, and show each one.
///
/// Answers as the middleware does (200, 401, 409, …). Every request is
/// printed: the event of a verified one, the reason for a rejected one.
///
/// Examples:
///   gemini-webhooks listen --secret "$SECRET"
///   gemini-webhooks listen --bind 127.0.0.1:9000 --secret "$SECRET" --save captures/
///
/// Each request is numbered (`#1`, `#2`, …) as its capture file is
/// (`0001-ID.http`), verified or not.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ListenArgs {
    /// Address to listen on (not 8080, where your own receiver may be).
    #[arg(long, default_value = "127.0.0.1:8765")]
    bind: SocketAddr,
    #[command(flatten)]
    keys: KeyArgs,
    /// Keep each verified delivery (headers and raw body) as
    /// `DIR/NNNN-ID.http`, for `verify --request` and as test fixtures.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// With `--save`, keep rejected requests too (a wrong secret, a
    /// tampered body: to see what arrived). Their bodies are read up to the
    /// receiver's limit (256 KiB) and deadline (10 s), like every body.
    #[arg(long, requires = "save")]
    save_rejected: bool,
    /// With `--save`, stop saving after this many files.
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "save")]
    save_limit: usize,
}

struct Listener {
    receiver: Receiver,
    save: Option<Saving>,
    out: Output,
    seen: AtomicUsize,
}

/// Where and how much `--save` keeps.
struct Saving {
    dir: PathBuf,
    rejected: bool,
    limit: usize,
    saved: AtomicUsize,
}

impl Saving {
    /// Writes one request, unless the limit is reached (said once).
    fn save(&self, number: usize, id: &str, request: &[u8]) {
        let saved = self.saved.fetch_add(1, Ordering::Relaxed);
        if saved >= self.limit {
            if saved == self.limit {
                output::note(format_args!(
                    "saved {} requests (--save-limit): saving no more",
                    self.limit
                ));
            }
            return;
        }
        let path = self.dir.join(format!("{number:04}-{}.http", file_safe(id)));
        if let Err(err) = std::fs::write(&path, request) {
            output::note(format_args!("cannot save {}: {err}", path.display()));
        }
    }
}

pub async fn run(args: &ListenArgs, out: Output) -> Result<(), Failure> {
    let receiver = Receiver::new(args.keys.verifier().await?);
    serve(args, receiver, out).await
}

async fn serve(args: &ListenArgs, receiver: Receiver, out: Output) -> Result<(), Failure> {
    if let Some(dir) = &args.save {
        // Created up front: a typo'd path fails now, not at the first
        // delivery.
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    let state = Arc::new(Listener {
        receiver,
        save: args.save.clone().map(|dir| Saving {
            dir,
            rejected: args.save_rejected,
            limit: args.save_limit,
            saved: AtomicUsize::new(0),
        }),
        out,
        seen: AtomicUsize::new(0),
    });
    let app = axum::Router::new().fallback(receive).with_state(state);
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", args.bind))?;
    output::note(format_args!(
        "listening on http://{}",
        listener.local_addr()?
    ));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn receive(
    State(listener): State<Arc<Listener>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let number = listener.seen.fetch_add(1, Ordering::Relaxed) + 1;
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no-id")
        .to_owned();
    let out = listener.out;
    let receiver = &listener.receiver;
    // Bounded as the middleware bounds it: the limit, the deadline.
    let outcome = match read_body_within(body, receiver.limit(), DEFAULT_BODY_TIMEOUT).await {
        Err(rejection) => Err((rejection, Bytes::new())),
        Ok(body) => {
            let kept = body.clone();
            let save = listener.save.as_ref();
            let (method, uri, headers) = (&method, &uri, &headers);
            receiver
                .receive(
                    headers,
                    body,
                    |delivery| async move {
                        if let Some(saving) = save {
                            let request = dump(method, uri, headers, delivery.body());
                            saving.save(number, delivery.id(), &request);
                        }
                        show(number, &delivery, out)
                    },
                    |_| true,
                )
                .await
                .map_err(|rejection| (rejection, kept))
        }
    };
    match outcome {
        Ok(()) => "ok".into_response(),
        Err((rejection, body)) => {
            let status = rejection.status().as_u16();
            if let Some(saving) = listener.save.as_ref().filter(|s| s.rejected) {
                saving.save(number, &id, &dump(&method, &uri, &headers, &body));
            }
            out.show(
                || format!("#{number} {method} {uri} {id}: {status} {rejection}"),
                || json!({ "number": number, "id": id, "verified": false, "status": status, "reason": rejection.to_string() }),
            );
            rejection.into_response()
        }
    }
}

/// Prints a verified delivery, numbered as its capture file: one JSON
/// line, or a header and the event.
fn show(number: usize, delivery: &gemini_webhooks::Delivery, out: Output) {
    let body: serde_json::Value = serde_json::from_slice(delivery.body())
        .unwrap_or_else(|_| json!(String::from_utf8_lossy(delivery.body())));
    let event = delivery.event();
    let event_type = event.as_ref().map_or("not an event", |e| e.event_type());
    out.show(
        || {
            format!(
                "#{number} {} verified ({:?}): {event_type}\n{}",
                delivery.id(),
                delivery.verified_by(),
                serde_json::to_string_pretty(&body).unwrap_or_default()
            )
        },
        || json!({ "number": number, "id": delivery.id(), "verified": true, "type": event_type, "body": body }),
    );
}

/// The request as raw HTTP/1.1, which `verify --request` reads.
fn dump(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {uri} HTTP/1.1\r\n").into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(name.as_str().as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

/// An id as part of a file name: letters, digits, `-` and `_` only.
fn file_safe(id: &str) -> String {
    id.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
