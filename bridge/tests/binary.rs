//! The `gemini-webhooks-bridge` binary, run as a user runs it: a config
//! file, real NATS and PostgreSQL servers of the test's own, signed POSTs,
//! SIGTERM.
#![cfg(all(feature = "binary", feature = "nats", feature = "inbox"))]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use async_nats::jetstream;
use gemini_webhooks::testing::{Signer, generate_secret};
use testdb::{OwnNats, free_port};

const BATCH: &str = r#"{"type":"batch.succeeded","data":{"id":"batches/b1"}}"#;
/// A batch's ending of its own: the inbox keys an ending per Gemini job,
/// so two deliveries of one batch's ending are one job.
fn batch(id: &str) -> String {
    BATCH.replace("batches/b1", &format!("batches/{id}"))
}

const VIDEO: &str = r#"{"type":"video.generated","data":{"id":"models/veo/operations/v1"}}"#;

/// A bridge process of the test's own.
struct Bridge {
    child: Child,
    port: u16,
    secret: String,
    http: reqwest::Client,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let dir =
        std::env::temp_dir().join(format!("gw-bridge-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

impl Bridge {
    /// Starts the binary on `config` (with `listen` prepended) and waits
    /// until `/healthz` answers.
    async fn start(config: &str) -> Self {
        Self::start_with(config, &[]).await
    }

    /// [`start`](Self::start) with more environment variables.
    async fn start_with(config: &str, env: &[(&str, &str)]) -> Self {
        let (port, secret, dir) = (free_port(), generate_secret(), temp_dir());
        let file = dir.0.join("bridge.toml");
        std::fs::write(&file, format!("listen = \"127.0.0.1:{port}\"\n{config}")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gemini-webhooks-bridge"))
            .env("BRIDGE_CONFIG", &file)
            .env("GEMINI_WEBHOOK_SECRET", &secret)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bridge = Self {
            child,
            port,
            secret,
            http: reqwest::Client::new(),
            _dir: dir,
        };
        for _ in 0..600 {
            if bridge.get("/healthz").await.is_some() {
                return bridge;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the bridge did not answer /healthz");
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .ok()?;
        Some((response.status().as_u16(), response.text().await.ok()?))
    }

    async fn send(&self, id: &str, body: &str) -> u16 {
        let headers = Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .timestamp(SystemTime::now())
            .sign(body.as_bytes());
        let mut request = self
            .http
            .post(format!("http://127.0.0.1:{}/webhooks/gemini", self.port))
            .body(body.to_owned());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.to_str().unwrap());
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// SIGTERM, then the exit code (bounded wait).
    async fn terminate(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        panic!("the bridge did not exit within 30 s of SIGTERM");
    }
}

/// A NATS server with the stream `GEMINI` on `gemini.>`.
async fn nats() -> (OwnNats, jetstream::Context) {
    let server = OwnNats::start();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(server.url())
        .await
        .unwrap();
    let jetstream = jetstream::new(client);
    jetstream
        .create_stream(jetstream::stream::Config {
            name: "GEMINI".to_owned(),
            subjects: vec!["gemini.>".to_owned()],
            duplicate_window: Duration::from_secs(3600),
            ..Default::default()
        })
        .await
        .unwrap();
    (server, jetstream)
}

/// The webhook ids in the stream, in order.
async fn ids(jetstream: &jetstream::Context) -> Vec<String> {
    let mut stream = jetstream.get_stream("GEMINI").await.unwrap();
    let count = stream.info().await.unwrap().state.messages;
    let mut ids = Vec::new();
    for sequence in 1..=count {
        let message = stream.get_raw_message(sequence).await.unwrap();
        ids.push(
            message
                .headers
                .get("webhook-id")
                .unwrap()
                .as_str()
                .to_owned(),
        );
    }
    ids
}

fn sink_config(url: &str) -> String {
    format!(
        "[verify]\nsecrets_env = \"GEMINI_WEBHOOK_SECRET\"\n\n[[route]]\npath = \"/webhooks/gemini\"\nsink = \"events\"\nevents = [\"batch.*\"]\n\n[sinks.events]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"gemini.{{type}}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_request_it_answers_after_the_pub_ack_and_counts_what_it_did() {
    let (_server, jetstream) = nats().await;
    let bridge = Bridge::start(&sink_config(&format!(
        "nats://127.0.0.1:{}",
        _server.port()
    )))
    .await;
    assert_eq!(bridge.get("/readyz").await.unwrap().0, 200);
    assert_eq!(bridge.send("msg_1", BATCH).await, 200);
    assert_eq!(bridge.send("msg_1", BATCH).await, 200, "a duplicate");
    assert_eq!(
        bridge.send("msg_v", VIDEO).await,
        200,
        "filtered out, answered"
    );
    assert_eq!(bridge.send("msg_bad", "{").await, 422);
    assert_eq!(ids(&jetstream).await, ["msg_1"]);
    let (status, metrics) = bridge.get("/metrics").await.unwrap();
    assert_eq!(status, 200);
    for line in [
        r#"gemini_webhooks_bridge_messages_total{sink="nats",outcome="published"} 1"#,
        r#"gemini_webhooks_bridge_messages_total{sink="nats",outcome="skipped"} 1"#,
        // One publish timed: the duplicate and the skipped one never reach it.
        r#"gemini_webhooks_bridge_publish_seconds_count{sink="nats"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    assert_eq!(bridge.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_outbox_mode_deliveries_are_stored_while_nats_is_down_and_published_once_after() {
    let (mut server, jetstream) = nats().await;
    let database = testdb::postgres_url();
    let table = format!("bridge_outbox_{}", free_port());
    let config = format!(
        "[inbox]\ndatabase_url = \"{database}\"\ndashboard_token_env = \"BRIDGE_DASHBOARD_TOKEN\"\n\n{}",
        sink_config(&server.url())
    )
    .replace(
        "events = [\"batch.*\"]",
        &format!("events = [\"batch.*\"]\ntable = \"{table}\""),
    );
    let bridge =
        Bridge::start_with(&config, &[("BRIDGE_DASHBOARD_TOKEN", "bridge-dashboard")]).await;
    assert_eq!(bridge.send("msg_up", &batch("up")).await, 202);
    // The route's inbox has its dashboard, behind the token.
    let dashboard = format!("/inbox/{table}/");
    assert_eq!(bridge.get(&dashboard).await.unwrap().0, 401);
    let jobs = bridge
        .http
        .get(format!("http://127.0.0.1:{}{dashboard}jobs", bridge.port))
        .bearer_auth("bridge-dashboard")
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), 200);
    assert!(jobs.text().await.unwrap().contains("msg_up"));
    server.stop();
    for id in ["msg_down1", "msg_down2"] {
        assert_eq!(
            bridge.send(id, &batch(id)).await,
            202,
            "{id}: stored while NATS is down"
        );
    }
    assert_eq!(bridge.get("/readyz").await.unwrap().0, 503);
    server.start_again();
    let want = ["msg_down1", "msg_down2", "msg_up"];
    // Bounded: the workers' backoff reaches a minute at most.
    for _ in 0..2400 {
        let mut seen = ids(&jetstream).await;
        seen.sort();
        if seen == want {
            break;
        }
        assert!(seen.len() <= want.len(), "published twice: {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = ids(&jetstream).await;
    seen.sort();
    assert_eq!(seen, want);
    assert_eq!(
        bridge.send("msg_up", &batch("up")).await,
        200,
        "a duplicate of a stored delivery"
    );
    assert_eq!(bridge.terminate().await, Some(0));
}

#[test]
fn a_bad_config_exits_2_naming_the_file_and_the_key_never_a_secret() {
    let dir = temp_dir();
    let file = dir.0.join("bad.toml");
    let cases = [
        (
            "[verify]\nsecrets = [\"whsec_not!base64\"]\n",
            "verify.secrets",
        ),
        (
            &sink_config("nats://127.0.0.1:1").replace("subject = \"gemini.{type}\"\n", "") as &str,
            "sinks.events",
        ),
        (
            &sink_config("nats://127.0.0.1:1").replace("gemini.{type}", "gemini.{kind}") as &str,
            "sinks.events.subject",
        ),
    ];
    for (config, key) in cases {
        let config = if config.contains("[[route]]") {
            config.to_owned()
        } else {
            format!(
                "{config}{}",
                &sink_config("nats://127.0.0.1:1")
                    ["[verify]\nsecrets_env = \"GEMINI_WEBHOOK_SECRET\"\n".len()..]
            )
        };
        std::fs::write(&file, &config).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_gemini-webhooks-bridge"))
            .args(["--config", file.to_str().unwrap()])
            .env("GEMINI_WEBHOOK_SECRET", generate_secret())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains(key), "{key} not in {stderr}");
        assert!(!stderr.contains("whsec_"), "a secret shown: {stderr}");
    }
}

/// With `[reconcile]`, a tracked batch whose webhook never came is polled
/// from the API (a mock of it here) and its ending published like a
/// delivery: `poll:` and the job's key as its webhook id.
#[cfg(feature = "reconcile")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reconcile_a_tracked_batch_whose_webhook_never_came_is_polled_and_published() {
    use gemini_webhooks_api::JobName;
    use gemini_webhooks_postgres::inbox::Inbox;
    use gemini_webhooks_postgres::reconcile::{TrackedJob, Tracking};

    let (server, jetstream) = nats().await;
    // The API: the batch is done.
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_port = api.local_addr().unwrap().port();
    let operation = serde_json::json!({
        "name": "batches/polled", "done": true,
        "metadata": {"name": "batches/polled", "state": "BATCH_STATE_SUCCEEDED",
                     "output": {"responsesFile": "files/polled-out"}}
    });
    let mock = axum::Router::new().route(
        "/v1beta/batches/polled",
        axum::routing::get(move || {
            let body = operation.to_string();
            std::future::ready(([(http::header::CONTENT_TYPE, "application/json")], body))
        }),
    );
    tokio::spawn(async move { axum::serve(api, mock).await.unwrap() });

    let (database, table) = (
        testdb::postgres_url(),
        format!("bridge_polled_{}", free_port()),
    );
    let inbox = Inbox::builder(database.clone())
        .table(table.clone())
        .build()
        .unwrap();
    inbox.check().await.unwrap();
    let job =
        TrackedJob::new(JobName::parse("batches/polled").unwrap()).expect_within(Duration::ZERO);
    assert!(Tracking::new(&inbox).track(&job).await.unwrap());

    let config = format!(
        "[inbox]\ndatabase_url = \"{database}\"\n\n[reconcile]\napi_key_env = \"BRIDGE_TEST_API_KEY\"\napi_base = \"http://127.0.0.1:{api_port}\"\npoll_interval_secs = 1\n\n{}",
        sink_config(&server.url())
    )
    .replace("events = [\"batch.*\"]", &format!("events = [\"batch.*\"]\ntable = \"{table}\""));
    let bridge = Bridge::start_with(&config, &[("BRIDGE_TEST_API_KEY", "test-key")]).await;
    for _ in 0..1200 {
        if !ids(&jetstream).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids(&jetstream).await, ["poll:batch:polled"]);
    assert_eq!(bridge.terminate().await, Some(0));
}

/// A `pubsub` sink through `PUBSUB_EMULATOR_HOST`, as Google's clients
/// take it: published to the topic of the event's type, the raw body.
#[cfg(feature = "pubsub")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_sink_finds_the_emulator_through_the_standard_variable() {
    use base64::Engine as _;
    let emulator = testdb::OwnPubSub::start();
    let http = reqwest::Client::new();
    let base = format!("http://{}/v1/projects/bridge-test", emulator.host());
    for (path, body) in [
        ("topics/gemini-batch.succeeded", serde_json::json!({})),
        (
            "subscriptions/all",
            serde_json::json!({"topic": "projects/bridge-test/topics/gemini-batch.succeeded"}),
        ),
    ] {
        let response = http
            .put(format!("{base}/{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}");
    }
    let config = "[verify]\nsecrets_env = \"GEMINI_WEBHOOK_SECRET\"\n\n[[route]]\npath = \"/webhooks/gemini\"\nsink = \"events\"\n\n[sinks.events]\ntype = \"pubsub\"\nproject = \"bridge-test\"\ntopic = \"gemini-{type}\"\n";
    let bridge = Bridge::start_with(config, &[("PUBSUB_EMULATOR_HOST", &emulator.host())]).await;
    assert_eq!(bridge.send("msg_ps", BATCH).await, 200);
    let pulled: serde_json::Value = http
        .post(format!("{base}/subscriptions/all:pull"))
        .json(&serde_json::json!({"maxMessages": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = pulled["receivedMessages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{pulled}");
    let message = &messages[0]["message"];
    assert_eq!(message["attributes"]["webhook-id"], "msg_ps");
    let data = base64::engine::general_purpose::STANDARD
        .decode(message["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, BATCH.as_bytes());
    assert_eq!(bridge.terminate().await, Some(0));
}

/// `[dedup] postgres_url`: replicas share one replay store, so a copy
/// Gemini sends to the other replica is answered there as a duplicate
/// and never reaches its sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_dedup_a_copy_at_another_replica_is_not_published_again() {
    let (server, jetstream) = nats().await;
    let config = format!(
        "[dedup]\npostgres_url = \"{}\"\n\n{}",
        testdb::postgres_url(),
        sink_config(&server.url())
    );
    let (first, second) = (Bridge::start(&config).await, Bridge::start(&config).await);
    let id = format!("msg_pg_{}", free_port());
    assert_eq!(first.send(&id, BATCH).await, 200);
    assert_eq!(second.send(&id, BATCH).await, 200, "a duplicate, answered");
    assert_eq!(ids(&jetstream).await, [id.as_str()]);
    let (_, metrics) = second.get("/metrics").await.unwrap();
    assert!(
        !metrics.contains("gemini_webhooks_bridge_messages_total{"),
        "the second replica published nothing:\n{metrics}"
    );
    assert_eq!(first.terminate().await, Some(0));
    assert_eq!(second.terminate().await, Some(0));
}
