//! `gemini_webhooks_api` against a local mock of the Gemini API, written
//! from the API reference's shapes: each call's method, path, query and
//! body; pages; the rotate answer; Google's error bodies; retries of 429
//! and 503; unknown enum values; the API key in no output.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gemini_webhooks_api::{
    ApiError, BatchState, GeminiClient, InteractionStatus, JobName, JobStatus, NewWebhook,
    Revocation, WebhookState, WebhookUpdate,
};
use serde_json::{Value, json};

const KEY: &str = "AIzaTestKey-never-shown";

/// One request as the mock saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    key: Option<String>,
    body: Value,
}

type Answer = Box<dyn Fn(&Seen, usize) -> Response + Send + Sync>;

#[derive(Clone)]
struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Answer>,
}

impl Mock {
    /// A mock answering each request with `answer(request, index)`; and a
    /// client on it that retries fast.
    async fn start(
        answer: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
    ) -> (Self, GeminiClient) {
        let mock = Self {
            seen: Arc::default(),
            answer: Arc::new(Box::new(answer)),
        };
        let app = Router::new().fallback(record).with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = GeminiClient::builder(KEY)
            .host(host)
            .retries(3, Duration::from_millis(1))
            .build()
            .unwrap();
        (mock, client)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(State(mock): State<Mock>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        key: header(&parts.headers, "x-goog-api-key"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let index = {
        let mut all = mock.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    (mock.answer)(&seen, index)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    json_answer(StatusCode::OK, &body)
}

fn google_error(status: StatusCode, google: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": google}});
    json_answer(status, &body)
}

fn webhook(id: &str) -> Value {
    json!({"id": id, "name": "label", "uri": "https://example.com/h",
           "subscribed_events": ["batch.succeeded"], "state": "enabled"})
}

#[tokio::test]
async fn every_webhook_call_has_the_reference_s_method_path_query_and_body() {
    let (mock, client) = Mock::start(|seen, _| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", "/v1beta/webhooks") => ok(json!({
            "id": "w1", "uri": "https://example.com/h", "subscribed_events": ["batch.succeeded"],
            "state": "enabled", "new_signing_secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
        })),
        ("POST", "/v1beta/webhooks/w1:rotateSigningSecret") => {
            ok(json!({"secret": "whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0"}))
        }
        ("POST", "/v1beta/webhooks/w1:ping") | ("DELETE", "/v1beta/webhooks/w1") => ok(json!({})),
        ("PATCH", _) => ok(json!({"id": "w1", "state": "enabled", "uri": "https://new"})),
        ("GET", "/v1beta/webhooks/w1") => ok(webhook("w1")),
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such path"),
    })
    .await;
    let created = client
        .create_webhook(&NewWebhook::new("https://example.com/h", ["batch.succeeded"]).name("prod"))
        .await
        .unwrap();
    assert_eq!(created.id, "w1");
    let secret = created.new_signing_secret.clone().unwrap();
    assert!(secret.expose().starts_with("whsec_"));
    assert!(!format!("{created:?}").contains(secret.expose()));
    assert_eq!(
        client.get_webhook("webhooks/w1").await.unwrap().state,
        WebhookState::Enabled
    );
    let update = WebhookUpdate::new().uri("https://new");
    client.update_webhook("w1", &update).await.unwrap();
    client
        .set_webhook_state("w1", WebhookState::Enabled)
        .await
        .unwrap();
    client.ping_webhook("w1").await.unwrap();
    let rotated = client
        .rotate_signing_secret("w1", Revocation::default())
        .await
        .unwrap();
    assert!(rotated.expose().starts_with("whsec_bmV3"));
    client
        .rotate_signing_secret("w1", Revocation::Immediately)
        .await
        .unwrap();
    client.delete_webhook("w1").await.unwrap();

    let seen = mock.seen();
    let calls: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str(), s.query.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/v1beta/webhooks", ""),
            ("GET", "/v1beta/webhooks/w1", ""),
            ("PATCH", "/v1beta/webhooks/w1", "update_mask=uri"),
            ("PATCH", "/v1beta/webhooks/w1", "update_mask=state"),
            ("POST", "/v1beta/webhooks/w1:ping", ""),
            ("POST", "/v1beta/webhooks/w1:rotateSigningSecret", ""),
            ("POST", "/v1beta/webhooks/w1:rotateSigningSecret", ""),
            ("DELETE", "/v1beta/webhooks/w1", ""),
        ]
    );
    assert!(seen.iter().all(|s| s.key.as_deref() == Some(KEY)));
    assert_eq!(
        seen[0].body,
        json!({"name": "prod", "uri": "https://example.com/h", "subscribed_events": ["batch.succeeded"]})
    );
    assert_eq!(seen[2].body, json!({"uri": "https://new"}));
    assert_eq!(seen[3].body, json!({"state": "enabled"}));
    assert_eq!(seen[4].body, json!({}));
    assert_eq!(
        seen[5].body,
        json!({"revocation_behavior": "revoke_previous_secrets_after_h24"})
    );
    assert_eq!(
        seen[6].body,
        json!({"revocation_behavior": "revoke_previous_secrets_immediately"})
    );
}

#[tokio::test]
async fn list_follows_three_pages_to_the_end() {
    let (mock, client) = Mock::start(|seen, _| {
        let page = |ids: &[&str], next: Option<&str>| {
            let mut body =
                json!({"webhooks": ids.iter().map(|id| webhook(id)).collect::<Vec<_>>()});
            if let Some(next) = next {
                body["next_page_token"] = json!(next);
            }
            ok(body)
        };
        match seen.query.as_str() {
            "page_size=1000" => page(&["a", "b"], Some("t2")),
            "page_size=1000&page_token=t2" => page(&["c"], Some("t3")),
            "page_size=1000&page_token=t3" => page(&["d"], None),
            other => google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", other),
        }
    })
    .await;
    let all = client.list_webhooks().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    assert_eq!(mock.seen().len(), 3);
    // One page by hand: the size is capped at the API's 1,000.
    let page = client.list_webhooks_page(Some(5_000), None).await.unwrap();
    assert_eq!(
        (page.webhooks.len(), page.next_page_token.as_deref()),
        (2, Some("t2"))
    );
    assert_eq!(mock.seen()[3].query, "page_size=1000");
}

#[tokio::test]
async fn google_s_error_surfaces_and_the_key_is_in_no_output() {
    let (_, client) = Mock::start(|_, _| {
        google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "API key not valid.\n Please pass a valid API key.",
        )
    })
    .await;
    let err = client.get_webhook("w1").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    let shown = format!(
        "{err} {err:?} {client:?} {}",
        gemini_webhooks::ErrorChain(&err)
    );
    assert!(
        shown.contains("PERMISSION_DENIED") && shown.contains("API key not valid.\\n Please"),
        "{shown}"
    );
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_then_succeeds() {
    let (mock, client) = Mock::start(|_, index| {
        if index == 0 {
            let mut answer = google_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "slow down",
            );
            answer
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
            answer
        } else {
            ok(webhook("w1"))
        }
    })
    .await;
    assert_eq!(client.get_webhook("w1").await.unwrap().id, "w1");
    assert_eq!(mock.seen().len(), 2);
}

#[tokio::test]
async fn a_503_that_never_recovers_gives_up_after_its_retries_and_4xx_is_not_retried() {
    let (mock, client) = Mock::start(|_, _| {
        google_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "overloaded")
    })
    .await;
    let err = client.get_webhook("w1").await.unwrap_err();
    assert!(
        matches!(err, ApiError::Status { retries: 3, .. }),
        "{err:?}"
    );
    assert_eq!(mock.seen().len(), 4, "one call and three retries");
    let (mock, client) =
        Mock::start(|_, _| google_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "boom"))
            .await;
    assert!(client.get_webhook("w1").await.is_err());
    assert_eq!(mock.seen().len(), 1, "500 is not retried");
    let (mock, client) =
        Mock::start(|_, _| google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "gone")).await;
    assert!(client.get_webhook("w1").await.unwrap_err().is_not_found());
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let (mock, client) = Mock::start(|_, _| {
        let mut answer = StatusCode::FOUND.into_response();
        answer.headers_mut().insert(
            "location",
            "https://elsewhere.example/steal".parse().unwrap(),
        );
        answer
    })
    .await;
    let err = client.get_webhook("w1").await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Redirected { host, .. } if host == "elsewhere.example"),
        "{err:?}"
    );
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn job_statuses_read_each_kind_and_unknown_values() {
    let (mock, client) = Mock::start(|seen, _| match seen.path.as_str() {
        "/v1beta/batches/b1" => ok(json!({
            "name": "batches/b1", "done": true,
            "metadata": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                         "state": "BATCH_STATE_SUCCEEDED", "output": {"responsesFile": "files/r1"}}
        })),
        "/v1beta/batches/b2" => ok(json!({"name": "batches/b2", "metadata": {"state": "BATCH_STATE_NEW_ONE"}})),
        "/v1beta/models/veo/operations/op1" => ok(json!({
            "name": "models/veo/operations/op1", "done": true,
            "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": "https://v/1"}}]}}
        })),
        "/v1beta/interactions/i1" => ok(json!({"id": "i1", "status": "requires_action", "steps": [{}]})),
        "/v1beta/interactions/i2" => ok(json!({"id": "i2", "status": "thinking_hard"})),
        _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such job"),
    })
    .await;
    let job = |name: &str| JobName::parse(name).unwrap();
    let JobStatus::Batch(batch) = client.get_job(&job("batches/b1")).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (batch.state, batch.responses_file.as_deref()),
        (BatchState::Succeeded, Some("files/r1"))
    );
    assert_eq!(
        client.get_batch("b2").await.unwrap().state,
        BatchState::Other("BATCH_STATE_NEW_ONE".into())
    );
    let video = client
        .get_job(&job("models/veo/operations/op1"))
        .await
        .unwrap();
    assert!(
        video.is_final() && video.to_string().contains("https://v/1"),
        "{video}"
    );
    let JobStatus::Interaction(waiting) = client.get_job(&job("interactions/i1")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(waiting.status, InteractionStatus::RequiresAction);
    assert_eq!(waiting.steps.len(), 1);
    let JobStatus::Interaction(unknown) = client.get_job(&job("interactions/i2")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        unknown.status,
        InteractionStatus::Other("thinking_hard".into())
    );
    assert!(
        client
            .get_job(&job("batches/missing"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let paths: Vec<String> = mock
        .seen()
        .into_iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(paths[0], "GET /v1beta/batches/b1");
    assert_eq!(paths[2], "GET /v1beta/models/veo/operations/op1");
}

#[tokio::test]
async fn a_results_file_is_downloaded_in_chunks_from_the_download_path() {
    let content: String = (0..20_000)
        .map(|i| format!("{{\"key\":\"{i}\"}}\n"))
        .collect();
    let served = content.clone();
    let (mock, client) = Mock::start(move |seen, _| {
        if seen.path == "/download/v1beta/files/batch-out-1:download" && seen.query == "alt=media" {
            served.clone().into_response()
        } else {
            google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file")
        }
    })
    .await;
    let mut download = client.download("files/batch-out-1").await.unwrap();
    assert_eq!(download.content_length(), Some(content.len() as u64));
    let (mut read, mut chunks) = (Vec::new(), 0);
    while let Some(chunk) = download.chunk().await.unwrap() {
        read.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert_eq!(read, content.as_bytes());
    assert!(chunks > 1, "streamed, not read at once");
    assert!(
        client
            .download("files/missing")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        client.download("files/a/../b").await.is_err(),
        "no path of its own"
    );
    assert_eq!(mock.seen()[0].key.as_deref(), Some(KEY));
}

#[tokio::test]
async fn a_post_is_retried_on_429_only_and_a_5xx_says_it_may_have_taken_effect() {
    // 503 to every POST: sent once, and the error says the outcome is unknown.
    let (mock, client) = Mock::start(|_, _| {
        google_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "overloaded")
    })
    .await;
    let new = NewWebhook::new("https://example.com/hook", ["batch.succeeded"]);
    let err = client.create_webhook(&new).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a webhook may or may not have been made: the outcome is unknown"
    );
    let chain = gemini_webhooks::ErrorChain(&err).to_string();
    assert!(
        chain.contains("503 Service Unavailable UNAVAILABLE: overloaded"),
        "{chain}"
    );
    assert_eq!(mock.seen().len(), 1, "a POST is not repeated after a 503");
    let rotated = client
        .rotate_signing_secret("w1", Revocation::default())
        .await;
    assert!(rotated.unwrap_err().is_ambiguous());
    assert!(client.ping_webhook("w1").await.unwrap_err().is_ambiguous());
    assert_eq!(mock.seen().len(), 3);
    // A GET is still retried after a 503.
    assert!(!client.get_webhook("w1").await.unwrap_err().is_ambiguous());
    assert_eq!(mock.seen().len(), 7, "one GET and three retries");

    // 429 (not processed): the POST is retried, and succeeds.
    let (mock, client) = Mock::start(|_, index| match index {
        0 => google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "slow down",
        ),
        _ => ok(webhook("w2")),
    })
    .await;
    assert_eq!(client.create_webhook(&new).await.unwrap().id, "w2");
    assert_eq!(mock.seen().len(), 2);

    // A 4xx to a POST changed nothing: a plain status error.
    let (_, client) =
        Mock::start(|_, _| google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "bad uri"))
            .await;
    let err = client.create_webhook(&new).await.unwrap_err();
    assert!(!err.is_ambiguous());
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
}

/// A streamed answer body, chunk by chunk from a channel.
struct Chunks(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A 200 whose body `produce` writes (no Content-Length).
fn streamed<F, Fut>(produce: F) -> Response
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    tokio::spawn(produce(sender));
    Response::new(axum::body::Body::from_stream(Chunks(receiver)))
}

#[tokio::test]
async fn an_endless_answer_is_refused_past_the_cap_not_read_into_memory() {
    let (_, client) = Mock::start(|_, _| {
        streamed(|sender| async move {
            let chunk = Bytes::from(vec![b' '; 64 << 10]);
            // Until the client hangs up.
            while sender.send(Ok(chunk.clone())).await.is_ok() {}
        })
    })
    .await;
    let err = tokio::time::timeout(Duration::from_secs(60), client.get_webhook("w1"))
        .await
        .expect("refused, not read for ever")
        .unwrap_err();
    assert!(
        matches!(err, ApiError::TooLarge { limit: 4_194_304 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the Gemini API's answer is larger than 4194304 bytes; not read"
    );
}

#[tokio::test]
async fn a_slow_but_moving_download_outlasts_the_timeout_and_a_stalled_one_fails() {
    // 50 chunks 100 ms apart: 5 s in all, against a 4 s timeout that
    // bounds each read, not the whole body (a gap 40 times shorter than
    // the timeout: a busy machine does not make it one). The stalled one
    // sends a chunk, then nothing.
    let (_, client) = Mock::start(|seen, _| {
        let stall = seen.path.contains("stalled");
        streamed(move |sender| async move {
            for _ in 0..if stall { 1 } else { 50 } {
                if sender.send(Ok(Bytes::from_static(b"{}\n"))).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if stall {
                // Holds the body open, sending nothing.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        })
    })
    .await;
    let client = GeminiClient::builder(KEY)
        .host(client.host())
        .timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    let mut download = client.download("files/slow").await.unwrap();
    let mut received = 0;
    while let Some(chunk) = download.chunk().await.unwrap() {
        received += chunk.len();
    }
    assert_eq!(received, 150);
    let mut stalled = client.download("files/stalled").await.unwrap();
    let outcome = loop {
        match stalled.chunk().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    let err = outcome.unwrap_err();
    let chain = gemini_webhooks::ErrorChain(&err).to_string();
    assert!(chain.contains("timed out"), "{chain}");
}

#[tokio::test]
async fn a_video_uri_the_api_gives_is_downloaded_and_its_redirect_followed_without_the_key() {
    // The storage host the API redirects to: it must never see the key.
    let storage_seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let storage = {
        let seen = Arc::clone(&storage_seen);
        Router::new().fallback(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap()
                    .push(header(&headers, "x-goog-api-key"));
                Bytes::from_static(b"mp4 bytes")
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let storage_url = format!("http://{}/bucket/vid1.mp4", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, storage).await });
    let (mock, client) = Mock::start(move |seen, _| {
        if seen.path == "/v1beta/files/vid1:download" && seen.query == "alt=media" {
            let mut answer = StatusCode::FOUND.into_response();
            answer
                .headers_mut()
                .insert("location", storage_url.parse().unwrap());
            answer
        } else {
            StatusCode::NOT_FOUND.into_response()
        }
    })
    .await;
    let uri = format!("{}/v1beta/files/vid1:download?alt=media", client.host());
    let mut download = client.download(&uri).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = download.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(bytes, b"mp4 bytes");
    assert_eq!(
        mock.seen()[0].key.as_deref(),
        Some(KEY),
        "the API gets the key"
    );
    assert_eq!(
        *storage_seen.lock().unwrap(),
        [None],
        "the storage host does not"
    );
    // A URI on another host is refused before any request.
    let err = client
        .download("https://storage.example/v1beta/files/vid1:download")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::InvalidArgument(_)), "{err:?}");
    assert_eq!(mock.seen().len(), 1);
}
