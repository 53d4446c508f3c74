//! The `gemini-webhooks` binary end to end: what it prints is accepted by
//! the library, its curl commands get 200 from a receiver, and `verify`
//! names the check that fails for each usual mistake.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::{Delivery, GeminiEvent, Verifier};

/// A fixed signing time, so nothing depends on the clock.
const T: u64 = 1_800_000_000;

/// The binary under test, to configure and run.
fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gemini-webhooks"))
}

fn cli(args: &[&str]) -> Output {
    binary().args(args).output().expect("run gemini-webhooks")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("gemini-webhooks-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn signer_at_t(secret: &str) -> Signer {
    Signer::hmac(secret)
        .unwrap()
        .id("msg_v")
        .timestamp(UNIX_EPOCH + Duration::from_secs(T))
}

#[test]
fn keys_new_output_is_accepted_by_the_library() {
    let secret = stdout(&cli(&["keys", "new"])).trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();

    let output = cli(&["keys", "new", "--kind", "ed25519", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let private = json["private_key"].as_str().unwrap();
    let public = json["public_key"].as_str().unwrap();
    let body = br#"{"type":"batch.succeeded","data":{"id":"batches/1"}}"#;
    let headers = Signer::ed25519(private).unwrap().sign(body);
    let by_key = Verifier::builder()
        .public_key(public)
        .unwrap()
        .build()
        .unwrap();
    by_key.verify(&headers, &body[..]).unwrap();
    let jwks = serde_json::to_vec(&json["jwks"]).unwrap();
    let by_jwks = Verifier::builder()
        .jwks_json(&jwks)
        .unwrap()
        .build()
        .unwrap();
    by_jwks.verify(&headers, &body[..]).unwrap();
}

#[test]
fn events_prints_the_nine_samples_and_refuses_an_unknown_type() {
    let all = stdout(&cli(&["events"]));
    let events: Vec<GeminiEvent> = all
        .lines()
        .map(|line| GeminiEvent::from_slice(line.as_bytes()).unwrap())
        .collect();
    assert_eq!(events.len(), 9);
    assert!(events.iter().all(|e| !matches!(e, GeminiEvent::Unknown(_))));
    let one = stdout(&cli(&["events", "video.generated"]));
    let event = GeminiEvent::from_slice(one.trim().as_bytes()).unwrap();
    assert_eq!(event.event_type(), "video.generated");
    let unknown = cli(&["events", "batch.exploded"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown event type"));
}

/// Serves `app` on a loopback port, on a runtime of its own thread.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `events | head -1` with `head` gone: a pipe whose reading end is
    // closed before the command writes, so its first write fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = binary().arg("events").stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

fn serve(app: axum::Router) -> std::net::SocketAddr {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || runtime.block_on(async { axum::serve(listener, app).await }));
    address
}

/// An axum receiver as in the README, on a loopback port.
fn receiver(secret: &str) -> String {
    use axum::routing::post;
    let verifier = Verifier::builder().secret(secret).unwrap().build().unwrap();
    let app = axum::Router::new().route(
        "/webhooks/gemini",
        post(|d: Delivery| async move { format!("handled {}", d.id()) })
            .route_layer(gemini_webhooks::tower::WebhookLayer::new(verifier)),
    );
    let url = format!("http://{}/webhooks/gemini", serve(app));
    url
}

#[test]
fn send_fails_when_nothing_was_delivered() {
    let secret = generate_secret();
    let event = ["--secret", &secret, "--event", "batch.succeeded"];
    // Nothing listens: not a verdict, a failure to run (2), with its cause.
    let refused = cli(&[&["send", "http://127.0.0.1:1/webhooks/gemini"][..], &event].concat());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("could not reach http://127.0.0.1:1/"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    // A mistyped path answers 404: not delivered, so 1 without --expect.
    let url = receiver(&secret).replace("/webhooks/gemini", "/webhook/gemini");
    let (code, report) = send(&[&[url.as_str()][..], &event].concat());
    assert_eq!(
        (code, &report["statuses"]),
        (1, &serde_json::json!({"404": 1}))
    );
    let (code, _) = send(&[&[url.as_str()][..], &event, &["--expect", "404"]].concat());
    assert_eq!(code, 0);
}

#[test]
fn sign_curl_gets_200_then_the_duplicate_answer() {
    let secret = generate_secret();
    let url = receiver(&secret);
    let command = stdout(&cli(&[
        "sign",
        "--secret",
        &secret,
        "--event",
        "batch.succeeded",
        "--id",
        "msg_curl",
        "--curl",
        &url,
    ]));
    let run = || Command::new("sh").arg("-c").arg(&command).output().unwrap();
    let first = run();
    let error = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(first.status.success(), "{error}");
    assert_eq!(stdout(&first), "handled msg_curl");
    let second = run();
    assert!(second.status.success());
    assert_eq!(stdout(&second), "already handled");
}

/// Writes a delivery as header lines and a body file; returns their paths.
fn capture(dir: &Path, headers: &http::HeaderMap, body: &[u8]) -> (String, String) {
    let lines: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {}\n", v.to_str().unwrap()))
        .collect();
    let (h, b) = (dir.join("headers.txt"), dir.join("body.json"));
    std::fs::write(&h, lines).unwrap();
    std::fs::write(&b, body).unwrap();
    (h.display().to_string(), b.display().to_string())
}

/// Runs `verify --json` on a capture; returns the exit code and the report.
fn verify(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now: u64,
    name: &str,
) -> (i32, serde_json::Value) {
    let dir = scratch(name);
    let (h, b) = capture(&dir, headers, body);
    let now = now.to_string();
    let output = cli(&[
        "verify",
        "--json",
        "--secret",
        secret,
        "--headers",
        &h,
        "--body",
        &b,
        "--now",
        &now,
    ]);
    let text = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains(&secret["whsec_".len()..]),
        "the secret was printed: {text}"
    );
    let report = serde_json::from_slice(&output.stdout).unwrap();
    (output.status.code().unwrap(), report)
}

fn cause(report: &serde_json::Value) -> String {
    report["cause"].as_str().unwrap_or("").to_owned()
}

#[test]
fn verify_names_the_failing_check_and_its_cause() {
    let secret = generate_secret();
    let body = br#"{"type":"batch.succeeded","timestamp":"2027-01-15T08:00:00Z","data":{"id":"batches/1"}}"#;
    let headers = signer_at_t(&secret).sign(body);

    let (code, ok) = verify(&secret, &headers, body, T, "ok");
    assert_eq!(code, 0, "{ok}");
    assert_eq!(
        (ok["verified"].as_bool(), ok["check"].as_str()),
        (Some(true), Some("ok"))
    );

    let (code, stale) = verify(&secret, &headers, body, T + 3600, "stale");
    assert_eq!((code, stale["check"].as_str()), (1, Some("timestamp")));
    assert!(
        cause(&stale).contains("signed 3600 s before now"),
        "{stale}"
    );
    assert!(
        cause(&stale).contains("the signature itself is valid"),
        "{stale}"
    );

    let tampered = br#"{"type":"batch.succeeded","timestamp":"2027-01-15T08:00:00Z","data":{"id":"batches/2"}}"#;
    let (code, report) = verify(&secret, &headers, tampered, T, "tampered");
    assert_eq!((code, report["check"].as_str()), (1, Some("signature")));
    assert!(
        cause(&report).contains("no secret given matches"),
        "{report}"
    );
    assert!(cause(&report).contains("body changed"), "{report}");

    let newline = [&body[..], b"\n"].concat();
    let (code, report) = verify(&secret, &headers, &newline, T, "newline");
    assert_eq!((code, report["check"].as_str()), (1, Some("signature")));
    assert!(
        cause(&report).contains("trailing newline was added"),
        "{report}"
    );

    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    let compact = serde_json::to_vec(&value).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    let compact_signed = signer_at_t(&secret).sign(&compact);
    let (code, report) = verify(&secret, &compact_signed, &pretty, T, "reserialized");
    assert_eq!(code, 1);
    assert!(cause(&report).contains("re-serialized"), "{report}");

    let (code, report) = verify(&generate_secret(), &headers, body, T, "wrong-secret");
    assert_eq!((code, report["check"].as_str()), (1, Some("signature")));
    assert!(
        cause(&report).contains("1 `v1` (HMAC) and 0 `v1a` (Ed25519) entries"),
        "{report}"
    );

    let mut malformed = headers.clone();
    malformed.insert("webhook-timestamp", "yesterday".parse().unwrap());
    let (code, report) = verify(&secret, &malformed, body, T, "malformed");
    assert_eq!((code, report["check"].as_str()), (1, Some("headers")));
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("webhook-timestamp"), "{report}");
}

#[test]
fn verify_reads_a_raw_request_and_says_verified_in_text() {
    let secret = generate_secret();
    let body = br#"{"type":"video.generated","data":{"id":"operations/1","video_uri":"files/v1"}}"#;
    let headers = Signer::hmac(&secret).unwrap().id("msg_raw").sign(body);
    let mut raw = b"POST /webhooks/gemini HTTP/1.1\r\nhost: example.test\r\n".to_vec();
    for (name, value) in &headers {
        raw.extend_from_slice(format!("{name}: {}\r\n", value.to_str().unwrap()).as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    let path = scratch("raw").join("delivery.http");
    std::fs::write(&path, raw).unwrap();
    let output = cli(&[
        "verify",
        "--secret",
        &secret,
        "--request",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).starts_with("verified: id msg_raw"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn usage_and_io_errors_exit_with_2() {
    let secret = generate_secret();
    let missing = cli(&[
        "verify",
        "--request",
        "/nonexistent/x.http",
        "--secret",
        &secret,
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(cli(&["verify", "--request", "x"]).status.code(), Some(2)); // no key
    assert_eq!(
        cli(&["sign", "--event", "batch.succeeded"]).status.code(),
        Some(2)
    );
    assert_eq!(cli(&["frobnicate"]).status.code(), Some(2));
    let bad = cli(&[
        "sign",
        "--secret",
        "not-a-secret",
        "--event",
        "batch.succeeded",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("not-a-secret"));
}

/// `listen` as a child process; its address, read from its first line.
struct Listening {
    child: std::process::Child,
    url: String,
}

impl Listening {
    fn start(secret: &str, save: &Path) -> Self {
        Self::start_with(secret, save, &[])
    }

    fn start_with(secret: &str, save: &Path, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = binary()
            .args([
                "listen",
                "--json",
                "--bind",
                "127.0.0.1:0",
                "--secret",
                secret,
            ])
            .arg("--save")
            .arg(save)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let address = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_owned();
        Self {
            child,
            url: format!("{address}/webhooks/gemini"),
        }
    }

    /// Stops it; returns what it printed, one JSON value per line.
    fn stop(mut self) -> Vec<serde_json::Value> {
        self.child.kill().unwrap();
        let output = self.child.wait_with_output().unwrap();
        stdout(&output)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn send(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["send", "--json"];
    all.extend_from_slice(args);
    let output = cli(&all);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_default();
    (output.status.code().unwrap(), report)
}

#[test]
fn listen_receives_what_send_sends_and_saves_it_for_verify() {
    let secret = generate_secret();
    let save = scratch("listen");
    let listening = Listening::start(&secret, &save);
    let url = listening.url.clone();

    // 5 new deliveries, 2 of them sent twice: 7 answers of 200.
    let (code, report) = send(&[
        &url,
        "--secret",
        &secret,
        "--event",
        "batch.succeeded",
        "--event",
        "video.generated",
        "--count",
        "5",
        "--duplicates",
        "0.4",
        "--concurrency",
        "1",
    ]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["sent"], 7, "{report}");
    assert_eq!(
        report["statuses"],
        serde_json::json!({"200": 7}),
        "{report}"
    );
    assert!(report["p99_ms"].as_f64().unwrap() >= report["p50_ms"].as_f64().unwrap());

    // Stale and tampered deliveries are refused; --expect makes it a check.
    let (code, report) = send(&[
        &url,
        "--secret",
        &secret,
        "--event",
        "batch.failed",
        "--stale",
        "--expect",
        "401",
    ]);
    assert_eq!(
        (code, &report["statuses"]),
        (0, &serde_json::json!({"401": 1}))
    );
    let (code, report) = send(&[
        &url,
        "--secret",
        &secret,
        "--event",
        "batch.failed",
        "--tampered",
        "--count",
        "2",
        "--expect",
        "200",
    ]);
    assert_eq!(
        (code, &report["statuses"]),
        (1, &serde_json::json!({"401": 2}))
    );

    let printed = listening.stop();
    let verified: Vec<_> = printed.iter().filter(|p| p["verified"] == true).collect();
    assert_eq!(verified.len(), 5, "{printed:?}");
    assert!(verified.iter().any(|p| p["type"] == "video.generated"));
    let duplicates = printed
        .iter()
        .filter(|p| p["verified"] == false && p["status"] == 200)
        .count();
    assert_eq!(duplicates, 2, "{printed:?}");
    let refused = printed.iter().filter(|p| p["status"] == 401).count();
    assert_eq!(refused, 3, "{printed:?}");

    // The five verified deliveries were saved, nothing else; each verifies
    // as captured.
    let saved = saved_files(&save);
    assert_eq!(saved.len(), 5, "{saved:?}");
    // Every line numbered 1, 2, … in arrival order (verified or not), and
    // each saved file named by its line's number and id.
    let numbers: Vec<u64> = printed
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=printed.len() as u64).collect::<Vec<_>>(),
        "{printed:?}"
    );
    for line in &verified {
        let name = format!(
            "{:04}-{}.http",
            line["number"].as_u64().unwrap(),
            line["id"].as_str().unwrap()
        );
        assert!(
            saved.iter().any(|file| file.ends_with(&name)),
            "{name} not in {saved:?}"
        );
    }
    for file in &saved {
        let output = cli(&[
            "verify",
            "--secret",
            &secret,
            "--request",
            file.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    }
}

fn saved_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut saved: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    saved.sort();
    saved
}

#[test]
fn listen_saves_rejected_requests_only_when_asked_and_at_most_the_limit() {
    let secret = generate_secret();
    let save = scratch("listen-rejected");
    let listening =
        Listening::start_with(&secret, &save, &["--save-rejected", "--save-limit", "2"]);
    let url = listening.url.clone();
    let tampered = ["--secret", &secret, "--event", "batch.failed", "--tampered"];
    let (_, report) = send(&[&[url.as_str()][..], &tampered].concat());
    assert_eq!(
        report["statuses"],
        serde_json::json!({"401": 1}),
        "{report}"
    );
    let valid = [
        "--secret",
        &secret,
        "--event",
        "batch.failed",
        "--count",
        "2",
    ];
    let (_, report) = send(&[&[url.as_str()][..], &valid].concat());
    assert_eq!(
        report["statuses"],
        serde_json::json!({"200": 2}),
        "{report}"
    );
    listening.stop();
    let saved = saved_files(&save);
    assert_eq!(saved.len(), 2, "the limit: {saved:?}");
    let rejected = cli(&[
        "verify",
        "--secret",
        &secret,
        "--request",
        saved[0].to_str().unwrap(),
    ]);
    assert_eq!(
        rejected.status.code(),
        Some(1),
        "the tampered one, kept as it came"
    );
    let verified = cli(&[
        "verify",
        "--secret",
        &secret,
        "--request",
        saved[1].to_str().unwrap(),
    ]);
    assert_eq!(verified.status.code(), Some(0));
}

#[test]
fn send_signs_v1a_with_a_key() {
    let secret = generate_secret();
    let save = scratch("v1a");
    let listening = Listening::start(&secret, &save);
    let pair = gemini_webhooks::testing::generate_ed25519_key();
    // The listener knows only the secret: a v1a delivery is refused, 401.
    let (code, report) = send(&[
        &listening.url,
        "--key",
        &pair.private_key,
        "--v1a",
        "--event",
        "batch.succeeded",
        "--expect",
        "401",
    ]);
    assert_eq!(code, 0, "{report}");
    let printed = listening.stop();
    assert_eq!(printed.len(), 1);
    assert!(
        printed[0]["reason"].as_str().unwrap().contains("signature"),
        "{printed:?}"
    );
}

#[test]
fn send_names_the_job_its_events_are_about() {
    let secret = generate_secret();
    let save = scratch("resource");
    let listening = Listening::start(&secret, &save);
    let (code, report) = send(&[
        &listening.url,
        "--secret",
        &secret,
        "--event",
        "batch.succeeded",
        "--resource",
        "batches/tracked-1",
    ]);
    assert_eq!(code, 0, "{report}");
    let printed = listening.stop();
    assert_eq!(printed.len(), 1);
    assert_eq!(
        printed[0]["body"]["data"]["id"], "batches/tracked-1",
        "{printed:?}"
    );
}

/// What the mock Gemini API saw: method, path with query, API key, body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String, serde_json::Value)>>>;

/// A mock of the Gemini API (webhooks and job status, the reference's
/// `/v1beta` shapes) on a loopback port; its host.
fn mock_api() -> (String, Seen) {
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    async fn answer(
        State(seen): State<Seen>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: bytes::Bytes,
    ) -> (StatusCode, String) {
        let key = headers
            .get("x-goog-api-key")
            .map_or("", |v| v.to_str().unwrap())
            .to_owned();
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let path = uri.path_and_query().unwrap().as_str().to_owned();
        seen.lock()
            .unwrap()
            .push((method.to_string(), path.clone(), key, body.clone()));
        let hook = |id: &str| {
            serde_json::json!({
                "id": id, "name": "prod", "uri": "https://example.com/hook",
                "subscribed_events": ["batch.succeeded"], "state": "disabled_due_to_failed_deliveries",
            })
        };
        let (status, value) = match (method.as_str(), uri.path(), uri.query().unwrap_or("")) {
            ("POST", "/v1beta/webhooks", _) => {
                let mut created = hook("abc");
                created["state"] = "enabled".into();
                created["new_signing_secret"] = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into();
                (StatusCode::OK, created)
            }
            ("GET", "/v1beta/webhooks", "page_size=1000") => (
                StatusCode::OK,
                serde_json::json!({ "webhooks": [hook("abc")], "next_page_token": "p2" }),
            ),
            ("GET", "/v1beta/webhooks", "page_size=1000&page_token=p2") => (
                StatusCode::OK,
                serde_json::json!({ "webhooks": [hook("def")] }),
            ),
            ("GET" | "PATCH", "/v1beta/webhooks/abc", _) => (StatusCode::OK, hook("abc")),
            ("DELETE", "/v1beta/webhooks/abc", _) | ("POST", "/v1beta/webhooks/abc:ping", _) => {
                (StatusCode::OK, serde_json::json!({}))
            }
            ("POST", "/v1beta/webhooks/abc:rotateSigningSecret", _) => (
                StatusCode::OK,
                serde_json::json!({ "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
            ),
            ("GET", "/v1beta/batches/b1", _) => (
                StatusCode::OK,
                serde_json::json!({ "name": "batches/b1", "done": true, "metadata": {
                    "state": "BATCH_STATE_SUCCEEDED", "output": { "responsesFile": "files/out1" } } }),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": { "code": 404, "message": "Webhook not found.", "status": "NOT_FOUND" } }),
            ),
        };
        (status, value.to_string())
    }
    let seen = Seen::default();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(seen.clone());
    (format!("http://{}", serve(app)), seen)
}

/// `webhooks ARGS… --api-base HOST`: the API flags after the subcommand,
/// as people type them.
fn webhooks(base: &str, args: &[&str]) -> Output {
    binary()
        .env("GEMINI_API_KEY", "test-api-key")
        .arg("webhooks")
        .args(args)
        .args(["--api-base", base])
        .output()
        .unwrap()
}

#[test]
fn webhooks_subcommands_call_the_api_as_the_reference_documents() {
    let (base, seen) = mock_api();
    let created = webhooks(
        &base,
        &[
            "create",
            "--uri",
            "https://example.com/hook",
            "--event",
            "batch.succeeded",
            "--event",
            "video.generated",
            "--name",
            "prod",
        ],
    );
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(stdout(&created).contains("signing secret: whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
    assert!(String::from_utf8_lossy(&created.stderr).contains("only this once"));

    // Every page, each line: id, label, uri, state, events.
    let listed = stdout(&webhooks(&base, &["list"]));
    assert!(
        listed.contains("abc  prod  https://example.com/hook  state disabled_due_to_failed_deliveries  events batch.succeeded"),
        "{listed}"
    );
    assert!(listed.contains("def  prod"), "{listed}");
    // The flags before the subcommand work too, and before `webhooks`.
    for args in [
        ["--json", "webhooks", "--api-base", &base, "get", "abc"],
        ["--api-base", &base, "--json", "webhooks", "get", "abc"],
        ["webhooks", "get", "--json", "abc", "--api-base", &base],
    ] {
        let got = binary()
            .env("GEMINI_API_KEY", "test-api-key")
            .args(args)
            .output()
            .unwrap();
        let got: serde_json::Value = serde_json::from_slice(&got.stdout)
            .unwrap_or_else(|_| panic!("{args:?}: {}", String::from_utf8_lossy(&got.stderr)));
        assert_eq!(got["id"], "abc", "{args:?}");
    }
    let updated = webhooks(
        &base,
        &["update", "webhooks/abc", "--uri", "https://example.com/new"],
    );
    assert_eq!(updated.status.code(), Some(0));
    assert_eq!(
        webhooks(&base, &["update", "abc", "--state", "enabled"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(webhooks(&base, &["ping", "abc"]).status.code(), Some(0));
    let rotated = webhooks(
        &base,
        &["rotate-secret", "abc", "--revoke-previous", "after-24h"],
    );
    assert!(
        stdout(&rotated).contains("signing secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{}",
        stdout(&rotated)
    );
    assert!(String::from_utf8_lossy(&rotated.stderr).contains("only this once"));
    webhooks(
        &base,
        &["rotate-secret", "abc", "--revoke-previous", "immediately"],
    );
    assert!(stdout(&webhooks(&base, &["delete", "abc"])).contains("deleted abc"));

    let missing = webhooks(&base, &["get", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    let error = String::from_utf8_lossy(&missing.stderr).into_owned();
    assert!(
        error.contains("404")
            && error.contains("NOT_FOUND")
            && error.contains("Webhook not found."),
        "{error}"
    );
    assert!(!error.contains("test-api-key"));

    let job = binary()
        .env("GEMINI_API_KEY", "test-api-key")
        .args(["jobs", "get", "batches/b1", "--api-base", &base])
        .output()
        .unwrap();
    assert_eq!(job.status.code(), Some(0));
    assert_eq!(
        stdout(&job).trim(),
        "batches/b1 BATCH_STATE_SUCCEEDED, results in files/out1"
    );

    let seen = seen.lock().unwrap();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|(m, p, _, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("POST", "/v1beta/webhooks"),
            ("GET", "/v1beta/webhooks?page_size=1000"),
            ("GET", "/v1beta/webhooks?page_size=1000&page_token=p2"),
            ("GET", "/v1beta/webhooks/abc"),
            ("GET", "/v1beta/webhooks/abc"),
            ("GET", "/v1beta/webhooks/abc"),
            ("PATCH", "/v1beta/webhooks/abc?update_mask=uri"),
            ("PATCH", "/v1beta/webhooks/abc?update_mask=state"),
            ("POST", "/v1beta/webhooks/abc:ping"),
            ("POST", "/v1beta/webhooks/abc:rotateSigningSecret"),
            ("POST", "/v1beta/webhooks/abc:rotateSigningSecret"),
            ("DELETE", "/v1beta/webhooks/abc"),
            ("GET", "/v1beta/webhooks/nope"),
            ("GET", "/v1beta/batches/b1"),
        ]
    );
    assert!(seen.iter().all(|(_, _, key, _)| key == "test-api-key"));
    assert_eq!(
        seen[0].3,
        serde_json::json!({
            "name": "prod", "uri": "https://example.com/hook",
            "subscribed_events": ["batch.succeeded", "video.generated"],
        })
    );
    assert_eq!(
        seen[6].3,
        serde_json::json!({ "uri": "https://example.com/new" })
    );
    assert_eq!(seen[7].3, serde_json::json!({ "state": "enabled" }));
    assert_eq!(
        seen[9].3["revocation_behavior"],
        "revoke_previous_secrets_after_h24"
    );
    assert_eq!(
        seen[10].3["revocation_behavior"],
        "revoke_previous_secrets_immediately"
    );
}

#[test]
fn verify_fetches_a_jwks_from_a_url() {
    let pair = gemini_webhooks::testing::generate_ed25519_key();
    let jwks = serde_json::json!({ "keys": [pair.jwk(Some("k1"))] }).to_string();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || async move { jwks }),
    );
    let url = format!("http://{}/jwks.json", serve(app));

    let body = br#"{"type":"batch.succeeded","data":{"id":"batches/1"}}"#;
    let headers = Signer::ed25519(&pair.private_key).unwrap().sign(body);
    let dir = scratch("jwks-url");
    let (h, b) = capture(&dir, &headers, body);
    let output = cli(&["verify", "--jwks", &url, "--headers", &h, "--body", &b]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("JwksKey"), "{}", stdout(&output));
    let unreachable = cli(&[
        "verify",
        "--jwks",
        "http://127.0.0.1:1/jwks.json",
        "--headers",
        &h,
        "--body",
        &b,
    ]);
    assert_eq!(unreachable.status.code(), Some(2));
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let subcommands: &[&[&str]] = &[
        &["keys", "new"],
        &["events"],
        &["sign"],
        &["send"],
        &["verify"],
        &["listen"],
        &["webhooks"],
        &["webhooks", "create"],
        &["webhooks", "list"],
        &["webhooks", "get"],
        &["webhooks", "update"],
        &["webhooks", "delete"],
        &["webhooks", "ping"],
        &["webhooks", "rotate-secret"],
    ];
    for subcommand in subcommands {
        let mut args = subcommand.to_vec();
        args.push("--help");
        let output = binary()
            .env_remove("GEMINI_API_KEY")
            .args(&args)
            .output()
            .unwrap();
        let help = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{subcommand:?}");
        let example = format!("gemini-webhooks {}", subcommand.join(" "));
        assert!(
            help.contains(&example),
            "{subcommand:?} has no example:\n{help}"
        );
    }
}

#[test]
fn listen_defaults_to_a_port_other_than_the_examples_8080() {
    let help = cli(&["listen", "--help"]);
    let text = stdout(&help);
    assert!(text.contains("[default: 127.0.0.1:8765]"), "{text}");
}

#[test]
fn a_missing_api_key_names_the_variable_to_set() {
    let output = binary()
        .args(["webhooks", "list"])
        .env_remove("GEMINI_API_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GEMINI_API_KEY"), "{stderr}");
    assert!(stderr.contains("--api-key"), "{stderr}");
}
