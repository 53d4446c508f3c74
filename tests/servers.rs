//! The same scenarios against real servers on loopback ports, driven by a
//! real HTTP client: axum behind `WebhookLayer` and actix-web behind
//! `GeminiWebhooks`. Each scenario is written once and run on both.

#![cfg(all(feature = "axum", feature = "actix"))]

mod common;

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use common::{EVENT, Handled, app, event_with};
use gemini_webhooks::actix::GeminiWebhooks;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use http::StatusCode;

struct Server {
    url: String,
    secret: String,
    handled: Handled,
}

use common::{client, verifier};

/// Shorter than the default 10 s, so the trickled-body scenario is quick,
/// and long enough that no other scenario (each sends its body with its
/// headers) meets it on a busy machine.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn start_axum() -> Server {
    let (secret, handled) = (generate_secret(), Handled::default());
    let router =
        app(handled.clone()).layer(WebhookLayer::new(verifier(&secret)).body_timeout(BODY_TIMEOUT));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        url: format!("http://{addr}/webhooks/gemini"),
        secret,
        handled,
    }
}

async fn start_actix() -> Server {
    let (secret, handled) = (generate_secret(), Handled::default());
    let webhooks = GeminiWebhooks::new(verifier(&secret)).body_timeout(BODY_TIMEOUT);
    let state = web::Data::new(handled.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).service(
            web::resource("/webhooks/gemini")
                .wrap(webhooks.clone())
                .route(web::post().to(common::actix_app::handler)),
        )
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    Server {
        url: format!("http://{addr}/webhooks/gemini"),
        secret,
        handled,
    }
}

impl Server {
    async fn post(&self, id: &str, body: &str) -> Result<(StatusCode, String), client::BoxError> {
        let headers = Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .sign(body.as_bytes());
        let response = client::post(&self.url, headers, body.to_owned()).await?;
        Ok((response.status, response.text()))
    }

    /// Posts until the id is no longer in flight (a release after a panic
    /// or a dropped request runs as a task), a bounded number of times.
    async fn post_until_not_in_flight(&self, id: &str, body: &str) -> StatusCode {
        for _ in 0..1000 {
            if let Ok((status, _)) = self.post(id, body).await
                && status != StatusCode::CONFLICT
            {
                return status;
            }
            tokio::task::yield_now().await;
        }
        StatusCode::CONFLICT
    }
}

async fn fifty_concurrent_copies_run_the_handler_once(server: Server) {
    let server = Arc::new(server);
    let copies: Vec<_> = (0..50)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.post("msg_concurrent", EVENT).await.unwrap().0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for copy in copies {
        statuses.push(copy.await.unwrap());
    }
    assert_eq!(server.handled.runs("msg_concurrent"), 1);
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK));
}

async fn a_copy_arriving_while_the_first_runs_gets_409(server: Server) {
    let server = Arc::new(server);
    let held = event_with(r#""hold": true"#);
    let first = tokio::spawn({
        let (server, held) = (server.clone(), held.clone());
        async move { server.post("msg_held", &held).await.unwrap().0 }
    });
    server.handled.until_entered().await;
    let (status, text) = server.post("msg_held", &held).await.unwrap();
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::CONFLICT,
            "this delivery is being handled; retry later"
        )
    );
    server.handled.gate.notify_one();
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    assert_eq!(server.handled.runs("msg_held"), 1);
}

async fn done_gets_200_without_the_handler(server: Server) {
    assert_eq!(
        server.post("msg_done", EVENT).await.unwrap().0,
        StatusCode::OK
    );
    let (status, text) = server.post("msg_done", EVENT).await.unwrap();
    assert_eq!((status, text.as_str()), (StatusCode::OK, "already handled"));
    assert_eq!(server.handled.runs("msg_done"), 1);
}

async fn release_on_500_then_the_retry_runs(server: Server) {
    let body = event_with(r#""fail_once": true"#);
    assert_eq!(
        server.post("msg_500", &body).await.unwrap().0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        server.post("msg_500", &body).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(server.handled.runs("msg_500"), 2);
}

async fn release_on_panic_then_the_retry_runs(server: Server) {
    let panics = event_with(r#""panic": true"#);
    // The connection dies with the handler: the client sees an error.
    assert!(server.post("msg_panic", &panics).await.is_err());
    assert_eq!(server.handled.runs("msg_panic"), 1);
    assert_eq!(
        server.post_until_not_in_flight("msg_panic", EVENT).await,
        StatusCode::OK
    );
    assert_eq!(server.handled.runs("msg_panic"), 2);
}

async fn release_when_the_client_goes_away_then_the_retry_runs(server: Server) {
    let held = event_with(r#""hold": true"#);
    let headers = Signer::hmac(&server.secret)
        .unwrap()
        .id("msg_gone")
        .sign(held.as_bytes());
    let attempt = tokio::spawn({
        let url = server.url.clone();
        async move { client::post(&url, headers, held).await }
    });
    server.handled.until_entered().await;
    attempt.abort(); // closes the connection mid-handler
    let _ = attempt.await;
    // hyper cancels the handler, which releases the claim; actix-web lets it
    // run to the end, which commits it. Either way, once the gate opens, the
    // retry is answered 200 and the delivery was handled to the end once.
    server.handled.gate.notify_one();
    assert_eq!(
        server.post_until_not_in_flight("msg_gone", EVENT).await,
        StatusCode::OK
    );
    assert_eq!(server.handled.completed("msg_gone"), 1);
}

async fn a_body_over_the_default_limit_gets_413(server: Server) {
    let limit = gemini_webhooks::receiver::DEFAULT_BODY_LIMIT;
    let body = "x".repeat(2 * limit);
    let (status, text) = server.post("msg_huge", &body).await.unwrap();
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {limit} bytes").as_str()
        )
    );
    assert_eq!(server.handled.total(), 0);
}

/// Sends raw HTTP/1.1 bytes (and, if `close_early`, shuts the write half
/// before the announced body is complete); returns the status code.
async fn raw(server: &Server, head: &str, body: &[u8], close_early: bool) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = server
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let request = format!(
        "POST /webhooks/gemini HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n{head}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    if close_early {
        stream.shutdown().await.unwrap();
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let status_line = String::from_utf8_lossy(&response);
    status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn signed_head(server: &Server, id: &str, body: &[u8]) -> String {
    let headers = Signer::hmac(&server.secret).unwrap().id(id).sign(body);
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {}\r\n", value.to_str().unwrap()))
        .collect()
}

async fn chunked_bodies_are_read_whole_and_verified(server: Server) {
    let head = format!(
        "{}transfer-encoding: chunked\r\n",
        signed_head(&server, "msg_chunked", EVENT.as_bytes())
    );
    let (first, second) = EVENT.split_at(20);
    let body = format!(
        "{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    assert_eq!(raw(&server, &head, body.as_bytes(), false).await, 200);
    assert_eq!(server.handled.completed("msg_chunked"), 1);

    // Chunked past the limit, with no Content-Length to refuse it early.
    let big = "x".repeat(64 * 1024);
    let head = format!(
        "{}transfer-encoding: chunked\r\n",
        signed_head(&server, "msg_chunked_big", big.as_bytes())
    );
    let body: String = (0..20)
        .map(|_| format!("{:x}\r\n{big}\r\n", big.len()))
        .collect::<String>()
        + "0\r\n\r\n";
    assert_eq!(raw(&server, &head, body.as_bytes(), false).await, 413);
    assert_eq!(server.handled.total(), 1);
}

async fn a_body_that_stops_early_is_refused_and_never_handled(server: Server) {
    let head = format!(
        "{}content-length: 100\r\n",
        signed_head(&server, "msg_cut", EVENT.as_bytes())
    );
    let status = raw(&server, &head, &EVENT.as_bytes()[..10], true).await;
    assert_eq!(
        status, 400,
        "the body ends early: `request body could not be read`"
    );
    assert_eq!(server.handled.runs("msg_cut"), 0);
}

/// A `Content-Length` larger than what is sent, behind headers anyone can
/// forge (fresh, a `v1` entry of another secret): the server answers 408
/// at the body deadline instead of holding the connection for ever.
async fn a_body_shorter_than_announced_gets_408_at_the_deadline(server: Server) {
    let forger = Server {
        url: server.url.clone(),
        secret: generate_secret(),
        handled: server.handled.clone(),
    };
    let head = format!(
        "{}content-length: 100\r\n",
        signed_head(&forger, "msg_trickled", EVENT.as_bytes())
    );
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        raw(&server, &head, &EVENT.as_bytes()[..10], false),
    )
    .await
    .expect("the connection was held beyond the body deadline");
    assert_eq!(status, 408);
    assert_eq!(server.handled.total(), 0);
}

/// Runs each scenario once per framework.
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod axum_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::start_axum().await).await
                }
            )*
        }
        mod actix_server {
            $(
                #[test]
                fn $scenario() {
                    crate::common::on_actix(async {
                        super::$scenario(super::start_actix().await).await
                    })
                }
            )*
        }
    };
}

on_both!(
    fifty_concurrent_copies_run_the_handler_once,
    a_copy_arriving_while_the_first_runs_gets_409,
    done_gets_200_without_the_handler,
    release_on_500_then_the_retry_runs,
    release_on_panic_then_the_retry_runs,
    release_when_the_client_goes_away_then_the_retry_runs,
    a_body_over_the_default_limit_gets_413,
    chunked_bodies_are_read_whole_and_verified,
    a_body_that_stops_early_is_refused_and_never_handled,
    a_body_shorter_than_announced_gets_408_at_the_deadline,
);
