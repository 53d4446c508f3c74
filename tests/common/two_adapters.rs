//! Running one list of requests through both adapters, in process: the
//! tower layer in an axum app, and the actix-web middleware.

use actix_web::{App, web};
use bytes::Bytes;
use gemini_webhooks::replay::ReplayStore;
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{GeminiEvent, Receiver, actix::GeminiWebhooks};
use http::HeaderMap;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::Handled;

/// The id whose handler runs are counted.
pub const ID: &str = "msg_case";

/// One request of a case and what must come back.
pub struct Step {
    pub path: &'static str,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
    pub text: Option<String>,
    pub runs_after: usize,
}

/// What each step got back: status, body text, handler runs of [`ID`].
pub type Seen = Vec<(u16, String, usize)>;

async fn typed(event: GeminiEvent) -> String {
    event.event_type().to_owned()
}

/// Runs `steps` through the tower layer in an axum app around `receiver`.
pub async fn run_axum<R: ReplayStore>(receiver: Receiver<R>, steps: &[Step]) -> Seen {
    use axum::routing::post;
    let handled = Handled::default();
    let app = axum::Router::new()
        .route("/webhooks/gemini", post(super::handler))
        .route("/webhooks/typed", post(typed))
        .with_state(handled.clone())
        .layer(WebhookLayer::from_receiver(receiver));
    let mut seen = Vec::new();
    for step in steps {
        let mut request = axum::http::Request::post(step.path)
            .body(axum::body::Body::from(step.body.clone()))
            .unwrap();
        request.headers_mut().extend(step.headers.clone());
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let text = response.into_body().collect().await.unwrap().to_bytes();
        seen.push((
            status,
            String::from_utf8_lossy(&text).into_owned(),
            handled.runs(ID),
        ));
    }
    seen
}

/// Runs `steps` through the actix-web middleware around `receiver`.
pub async fn run_actix<R: ReplayStore>(receiver: Receiver<R>, steps: &[Step]) -> Seen {
    let handled = Handled::default();
    let middleware = GeminiWebhooks::from_receiver(receiver);
    let app = actix_web::test::init_service(
        App::new()
            .app_data(web::Data::new(handled.clone()))
            .service(
                web::resource("/webhooks/gemini")
                    .wrap(middleware.clone())
                    .route(web::post().to(super::actix_app::handler)),
            )
            .service(
                web::resource("/webhooks/typed")
                    .wrap(middleware)
                    .route(web::post().to(typed)),
            ),
    )
    .await;
    let mut seen = Vec::new();
    for step in steps {
        // Payload first: it sets Content-Length, which a step may override.
        let mut request = actix_web::test::TestRequest::post()
            .uri(step.path)
            .set_payload(step.body.clone());
        // Insert the first value of each name (replacing the payload's
        // Content-Length if a step sets one), append the others.
        for name in step.headers.keys() {
            for (i, value) in step.headers.get_all(name).iter().enumerate() {
                let header = (name.as_str(), value.as_bytes());
                request = if i == 0 {
                    request.insert_header(header)
                } else {
                    request.append_header(header)
                };
            }
        }
        // An error is answered with its `error_response`, as actix's
        // server does.
        let response = match actix_web::test::try_call_service(&app, request.to_request()).await {
            Ok(response) => response.into_parts().1.map_into_boxed_body(),
            Err(err) => err.error_response(),
        };
        let status = response.status().as_u16();
        let text = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap_or_default();
        seen.push((
            status,
            String::from_utf8_lossy(&text).into_owned(),
            handled.runs(ID),
        ));
    }
    seen
}

/// Asserts what both adapters saw against the steps, and that they agree.
pub fn check(name: &str, steps: &[Step], axum: &Seen, actix: &Seen) {
    for (i, step) in steps.iter().enumerate() {
        for (adapter, seen) in [("axum", axum), ("actix", actix)] {
            let (status, text, runs) = &seen[i];
            assert_eq!(
                *status, step.status,
                "{name}: step {i} on {adapter}: {text}"
            );
            if let Some(expected) = &step.text {
                assert_eq!(text, expected, "{name}: step {i} on {adapter}");
            }
            assert_eq!(*runs, step.runs_after, "{name}: step {i} on {adapter}");
        }
    }
    assert_eq!(axum, actix, "{name}: the adapters differ");
}
