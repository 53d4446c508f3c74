//! axum extractors without `WebhookLayer`: they verify with a `Verifier`
//! extension, or answer 500 saying what is missing.

use crate::common;

use std::net::SocketAddr;

use axum::routing::post;
use common::{EVENT, client};
use gemini_webhooks::Delivery;
use gemini_webhooks::testing::{Signer, generate_secret};
use http::StatusCode;

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test]
async fn an_extractor_without_layer_or_verifier_answers_500_saying_why() {
    let router = axum::Router::new().route(
        "/webhooks/gemini",
        post(|_: Delivery| async { "unreachable" }),
    );
    let addr = serve(router).await;
    let headers = Signer::hmac(&generate_secret())
        .unwrap()
        .sign(EVENT.as_bytes());
    let response = client::post(&format!("http://{addr}/webhooks/gemini"), headers, EVENT)
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().contains("not configured"));
}

#[tokio::test]
async fn an_extractor_with_a_verifier_extension_verifies_by_itself() {
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let router = axum::Router::new()
        .route(
            "/webhooks/gemini",
            post(|d: Delivery| async move { d.id().to_owned() }),
        )
        .layer(axum::Extension(verifier));
    let addr = serve(router).await;
    let url = format!("http://{addr}/webhooks/gemini");
    let signed = Signer::hmac(&secret)
        .unwrap()
        .id("msg_standalone")
        .sign(EVENT.as_bytes());
    let ok = client::post(&url, signed.clone(), EVENT).await.unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.text(), "msg_standalone");

    let forged = client::post(&url, signed, "{}").await.unwrap();
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

mod state_verified {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::FromRef;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use gemini_webhooks::axum::StateVerified;
    use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
    use gemini_webhooks::tower::WebhookLayer;
    use gemini_webhooks::{Delivery, GeminiEvent, Verified, Verifier};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct AppState {
        verifier: Verifier,
    }

    impl FromRef<AppState> for Verifier {
        fn from_ref(state: &AppState) -> Verifier {
            state.verifier.clone()
        }
    }

    #[derive(serde::Deserialize)]
    struct Envelope {
        r#type: String,
    }

    fn app(secret: &str) -> Router {
        Router::new()
            .route(
                "/event",
                post(|StateVerified(e): StateVerified<GeminiEvent>| async move {
                    e.event_type().to_owned()
                }),
            )
            .route(
                "/delivery",
                post(|StateVerified(d): StateVerified<Delivery>| async move { d.id().to_owned() }),
            )
            .route(
                "/typed",
                post(
                    |StateVerified(Verified(e)): StateVerified<Verified<Envelope>>| async move {
                        e.r#type
                    },
                ),
            )
            .with_state(AppState {
                verifier: super::common::verifier(secret),
            })
    }

    async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn each_extractor_verifies_with_the_verifier_from_state() {
        let secret = generate_secret();
        let app = app(&secret);
        let signer = Signer::hmac(&secret).unwrap().id("msg_state");
        let event = sample_event("batch.succeeded");
        for (path, answer) in [
            ("/event", "batch.succeeded"),
            ("/delivery", "msg_state"),
            ("/typed", "batch.succeeded"),
        ] {
            let ok = call(&app, signer.request(path, event.clone())).await;
            assert_eq!(ok, (StatusCode::OK, answer.to_owned()), "{path}");
        }

        let other = Signer::hmac(&generate_secret()).unwrap();
        let (status, _) = call(&app, other.request("/event", event.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let unsigned = Request::post("/event").body(Body::from(event)).unwrap();
        assert_eq!(call(&app, unsigned).await.0, StatusCode::BAD_REQUEST);
        let (status, text) = call(&app, signer.request("/event", r#"{"type": 7}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    }

    #[tokio::test]
    async fn behind_the_layer_it_takes_the_layers_delivery() {
        // The state's verifier knows another secret: only the layer's
        // verification can let the delivery through.
        let (layer_secret, state_secret) = (generate_secret(), generate_secret());
        let app = Router::new()
            .route(
                "/event",
                post(|StateVerified(e): StateVerified<GeminiEvent>| async move {
                    e.event_type().to_owned()
                })
                .route_layer(WebhookLayer::new(super::common::verifier(&layer_secret))),
            )
            .with_state(AppState {
                verifier: super::common::verifier(&state_secret),
            });
        let signer = Signer::hmac(&layer_secret).unwrap().id("msg_layered");
        let event = sample_event("video.generated");
        let first = call(&app, signer.request("/event", event.clone())).await;
        assert_eq!(first, (StatusCode::OK, "video.generated".to_owned()));
        let again = call(&app, signer.request("/event", event)).await;
        assert_eq!(again, (StatusCode::OK, "already handled".to_owned()));
    }
}
