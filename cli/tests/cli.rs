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

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gemini-webhooks"))
        .args(args)
        .output()
        .expect("run gemini-webhooks")
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

/// An axum receiver as in the README, on a loopback port.
fn receiver(secret: &str) -> String {
    use axum::routing::post;
    let verifier = Verifier::builder().secret(secret).unwrap().build().unwrap();
    let app = axum::Router::new().route(
        "/webhooks/gemini",
        post(|d: Delivery| async move { format!("handled {}", d.id()) })
            .route_layer(gemini_webhooks::tower::WebhookLayer::new(verifier)),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/webhooks/gemini", listener.local_addr().unwrap());
    std::thread::spawn(move || runtime.block_on(async { axum::serve(listener, app).await }));
    url
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
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_gemini-webhooks"))
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

    // Every request was saved; a saved delivery verifies as captured.
    let mut saved: Vec<_> = std::fs::read_dir(&save)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 10);
    let first = saved[0].to_str().unwrap();
    let output = cli(&["verify", "--secret", &secret, "--request", first]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let last = saved[9].to_str().unwrap();
    let output = cli(&["verify", "--secret", &secret, "--request", last]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a tampered one: {}",
        stdout(&output)
    );
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
