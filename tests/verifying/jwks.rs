//! Dynamic webhooks: `v1a` against a fetched JWKS served by a real server on
//! a loopback port that counts requests, rotates keys, goes down, and
//! answers garbage or slowly (feature `jwks-fetch`).

#![cfg(feature = "jwks-fetch")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use gemini_webhooks::keys::jwks::{JwksError, RemoteJwks, RemoteJwksBuilder};
use gemini_webhooks::testing::{Ed25519KeyPair, Signer, generate_ed25519_key};
use gemini_webhooks::{VerifiedBy, Verifier, VerifyError};
use http::HeaderMap;
use serde_json::json;

const BODY: &[u8] =
    br#"{"type":"interaction.completed","timestamp":"2026-11-26T00:00:00Z","data":{"id":"i/1"}}"#;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    Down,
    Garbage,
    Slow,
}

struct KeyServerState {
    requests: AtomicUsize,
    mode: Mutex<Mode>,
    keys: Mutex<Vec<serde_json::Value>>,
}

struct KeyServer {
    url: String,
    state: Arc<KeyServerState>,
}

async fn jwks(State(state): State<Arc<KeyServerState>>) -> axum::response::Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Garbage => (StatusCode::OK, "<html>not a key set</html>").into_response(),
        // Never answers: only the client's own timeouts end the request.
        Mode::Slow => std::future::pending().await,
        Mode::Serve => {
            let body = json!({ "keys": *state.keys.lock().unwrap() }).to_string();
            ([(header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
        }
    }
}

impl KeyServer {
    async fn start(keys: &[&Ed25519KeyPair]) -> Self {
        let state = Arc::new(KeyServerState {
            requests: AtomicUsize::new(0),
            mode: Mutex::new(Mode::Serve),
            keys: Mutex::new(Vec::new()),
        });
        let server = Self {
            url: String::new(),
            state,
        };
        server.publish(keys);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/jwks.json", get(jwks))
            .route(
                "/to-plain-http",
                get(|| async {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, "http://keys.example/jwks.json")],
                    )
                }),
            )
            .with_state(server.state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/jwks.json"),
            ..server
        }
    }

    fn publish(&self, keys: &[&Ed25519KeyPair]) {
        *self.state.keys.lock().unwrap() = keys
            .iter()
            .enumerate()
            .map(|(i, k)| k.jwk(Some(&format!("k{i}"))))
            .collect();
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Timeouts far above any loopback fetch, however busy the machine:
    /// no test here bets on how fast a fetch is.
    fn remote(&self) -> RemoteJwksBuilder {
        RemoteJwks::builder(&self.url).timeouts(Duration::from_secs(30), Duration::from_secs(60))
    }
}

fn verifier(remote: RemoteJwksBuilder) -> Verifier {
    Verifier::builder()
        .jwks_remote(remote.build().unwrap())
        .build()
        .unwrap()
}

fn signed_by(key: &Ed25519KeyPair) -> HeaderMap {
    Signer::ed25519(&key.private_key).unwrap().sign(BODY)
}

#[tokio::test]
async fn rotation_is_picked_up_by_the_first_delivery_signed_with_the_new_key() {
    let (old, new) = (generate_ed25519_key(), generate_ed25519_key());
    let server = KeyServer::start(&[&old]).await;
    let verifier = verifier(server.remote().min_refresh_interval(Duration::ZERO));
    verifier.prefetch().await.unwrap();
    assert_eq!(server.requests(), 1);

    let delivery = verifier.verify_async(&signed_by(&old), BODY).await.unwrap();
    assert_eq!(
        *delivery.verified_by(),
        VerifiedBy::JwksKey {
            kid: Some("k0".into())
        }
    );
    assert_eq!(server.requests(), 1, "cached keys need no fetch");

    server.publish(&[&new]);
    let delivery = verifier.verify_async(&signed_by(&new), BODY).await.unwrap();
    assert_eq!(
        *delivery.verified_by(),
        VerifiedBy::JwksKey {
            kid: Some("k0".into())
        }
    );
    assert_eq!(server.requests(), 2);
    // The old key is gone from the set now.
    assert_eq!(
        verifier
            .verify_async(&signed_by(&old), BODY)
            .await
            .unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_deliveries_needing_a_refresh_cause_one_fetch() {
    let (old, new) = (generate_ed25519_key(), generate_ed25519_key());
    let server = KeyServer::start(&[&old]).await;
    let verifier = verifier(server.remote().min_refresh_interval(Duration::ZERO));
    verifier.prefetch().await.unwrap();
    server.publish(&[&old, &new]);

    let headers = signed_by(&new);
    let deliveries: Vec<_> = (0..100)
        .map(|_| {
            let (verifier, headers) = (verifier.clone(), headers.clone());
            tokio::spawn(async move { verifier.verify_async(&headers, BODY).await })
        })
        .collect();
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
    assert_eq!(
        server.requests(),
        2,
        "one prefetch and one single-flight refresh"
    );
}

#[tokio::test]
async fn a_flood_signed_by_an_unknown_key_fetches_at_most_once_per_interval() {
    let (known, unknown) = (generate_ed25519_key(), generate_ed25519_key());
    let server = KeyServer::start(&[&known]).await;
    let verifier = verifier(
        server
            .remote()
            .min_refresh_interval(Duration::from_secs(3600)),
    );
    for _ in 0..50 {
        assert_eq!(
            verifier
                .verify_async(&signed_by(&unknown), BODY)
                .await
                .unwrap_err(),
            VerifyError::NoMatchingSignature
        );
    }
    // The first delivery loaded the set; the other 49 found the interval closed.
    assert_eq!(server.requests(), 1);
    assert!(
        verifier
            .verify_async(&signed_by(&known), BODY)
            .await
            .is_ok()
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn stale_keys_keep_serving_when_refreshes_fail() {
    let (key, unknown) = (generate_ed25519_key(), generate_ed25519_key());
    let server = KeyServer::start(&[&key]).await;
    // Stale at once: every delivery would like a refresh.
    let verifier = verifier(
        server
            .remote()
            .freshness(Duration::ZERO, Duration::ZERO)
            .min_refresh_interval(Duration::ZERO),
    );
    verifier.prefetch().await.unwrap();
    server.set_mode(Mode::Down);

    assert!(verifier.verify_async(&signed_by(&key), BODY).await.is_ok());
    // An unknown key waits for a refresh, which fails: still a plain 401.
    let err = verifier
        .verify_async(&signed_by(&unknown), BODY)
        .await
        .unwrap_err();
    assert_eq!(err, VerifyError::NoMatchingSignature);
    assert!(server.requests() >= 2, "refreshes were attempted");
    assert!(verifier.verify_async(&signed_by(&key), BODY).await.is_ok());
}

#[tokio::test]
async fn keys_past_their_max_staleness_stop_serving_with_503() {
    let key = generate_ed25519_key();
    let server = KeyServer::start(&[&key]).await;
    let verifier = verifier(server.remote().max_staleness(Duration::ZERO));
    verifier.prefetch().await.unwrap();
    server.set_mode(Mode::Down);
    let err = verifier
        .verify_async(&signed_by(&key), BODY)
        .await
        .unwrap_err();
    assert_eq!(err, VerifyError::KeysUnavailable);
    assert_eq!(err.status(), 503);
}

#[tokio::test]
async fn no_keys_at_all_answers_503_through_the_layer() {
    use tower::ServiceExt;
    let key = generate_ed25519_key();
    let server = KeyServer::start(&[&key]).await;
    server.set_mode(Mode::Down);
    let verifier = verifier(server.remote());
    assert!(matches!(verifier.prefetch().await, Err(JwksError::Status(s)) if s == 503));

    let app = axum::Router::new()
        .route("/hook", axum::routing::post(|| async { StatusCode::OK }))
        .layer(gemini_webhooks::tower::WebhookLayer::new(verifier));
    let mut request = axum::http::Request::post("/hook")
        .body(axum::body::Body::from(BODY))
        .unwrap();
    request.headers_mut().extend(signed_by(&key));
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn garbage_and_slow_key_servers_are_errors_not_hangs() {
    let key = generate_ed25519_key();
    let server = KeyServer::start(&[&key]).await;
    server.set_mode(Mode::Garbage);
    let verifier = verifier(server.remote());
    assert!(matches!(
        verifier.prefetch().await,
        Err(JwksError::NotAJwks)
    ));
    assert_eq!(
        verifier
            .verify_async(&signed_by(&key), BODY)
            .await
            .unwrap_err(),
        VerifyError::KeysUnavailable
    );

    server.set_mode(Mode::Slow);
    let slow = verifier_with_timeouts(&server);
    assert!(matches!(slow.prefetch().await, Err(JwksError::Request(_))));
}

fn verifier_with_timeouts(server: &KeyServer) -> Verifier {
    verifier(
        RemoteJwks::builder(&server.url)
            .timeouts(Duration::from_millis(100), Duration::from_millis(200)),
    )
}

#[tokio::test]
async fn plain_http_urls_are_refused_except_on_loopback_and_never_reached_by_redirect() {
    use gemini_webhooks::KeyError;
    let refused = Verifier::builder()
        .jwks_url("http://keys.example/jwks.json")
        .unwrap_err();
    assert_eq!(
        refused,
        KeyError::Jwks {
            reason: "URL must use https (http only for a loopback host)"
        }
    );
    assert!(
        Verifier::builder()
            .jwks_url("https://keys.example/jwks.json")
            .is_ok()
    );

    let key = generate_ed25519_key();
    let server = KeyServer::start(&[&key]).await;
    let redirecting = server.url.replace("/jwks.json", "/to-plain-http");
    let verifier = verifier(
        RemoteJwks::builder(redirecting).timeouts(Duration::from_secs(30), Duration::from_secs(60)),
    );
    let Err(JwksError::Request(reason)) = verifier.prefetch().await else {
        panic!("followed a redirect to a plain-http host");
    };
    assert!(reason.contains("redirect"), "{reason}");
}

#[tokio::test]
async fn a_delivery_with_only_v1_entries_never_fetches_keys() {
    let key = generate_ed25519_key();
    let server = KeyServer::start(&[&key]).await;
    let secret = gemini_webhooks::testing::generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .jwks_remote(server.remote().build().unwrap())
        .build()
        .unwrap();
    let forged = Signer::hmac(&gemini_webhooks::testing::generate_secret())
        .unwrap()
        .sign(BODY);
    let err = verifier.verify_async(&forged, BODY).await.unwrap_err();
    assert_eq!(err, VerifyError::NoMatchingSignature);
    assert_eq!(err.status(), 401);
    let genuine = Signer::hmac(&secret).unwrap().sign(BODY);
    assert!(verifier.verify_async(&genuine, BODY).await.is_ok());
    assert_eq!(server.requests(), 0, "no JWKS fetch for `v1` entries");
}
