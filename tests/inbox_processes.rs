//! The inbox across process boundaries: a worker process killed mid-job
//! (SIGKILL), one stopped under load (SIGTERM), and a PostgreSQL server
//! stopped and started again (a server of this test's own, never the
//! shared one). The process tests run `examples/inbox_receiver.rs`, which
//! `cargo test` builds.

#![cfg(feature = "axum")]

mod common;

use common::inbox_process::{
    PATIENCE, Receiver, inbox_receiver, lines, track, wait_for_line, wait_until_done,
};

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::pg::{admin, database_url, drop_table, unique_table};
use common::throwaway::OwnPostgres;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks_postgres::inbox::{Inbox, Job};
use tokio::sync::oneshot;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_and_exits_0_losing_nothing_acknowledged() {
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let mut first = Receiver::spawn(&table, &secret);
    let (url, pid) = (first.url.clone(), first.child.id().to_string());
    let load = tokio::spawn({
        let secret = secret.clone();
        async move {
            let mut acknowledged = Vec::new();
            // Until the server stops taking connections (bounded).
            for i in 0..20_000 {
                let id = format!("msg_term_{i}");
                // A job of its own each: one completion per job is stored.
                let body = common::event_with(&format!(r#""n":{i}"#))
                    .replace("batches/1", &format!("batches/term_{i}"));
                let headers = Signer::hmac(&secret).unwrap().id(&id).sign(body.as_bytes());
                match common::client::post(&url, headers, body).await {
                    Ok(answer) if answer.status.is_success() => acknowledged.push(id),
                    Ok(answer) => panic!("{id}: {}", answer.status),
                    Err(_) => break,
                }
                if acknowledged.len() == 50 {
                    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
                    assert!(killed.success());
                }
            }
            acknowledged
        }
    });
    let acknowledged = load.await.unwrap();
    assert!(acknowledged.len() >= 50, "{}", acknowledged.len());
    let mut status = None;
    for _ in 0..PATIENCE.as_millis() / 50 {
        status = first.child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = status.expect("the process did not exit after SIGTERM");
    let stderr: Vec<String> = first.stderr.try_iter().collect();
    assert!(status.success(), "{status}: {stderr:#?}");
    let stored: Vec<String> = admin()
        .await
        .query(&format!("SELECT webhook_id FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged, not stored: {lost:?}");
    // Whatever the first process left is handled by the next, once each.
    let second = Receiver::spawn(&table, &secret);
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .build()
        .unwrap();
    common::eventually("every acknowledged delivery handled", || async {
        inbox.counts().await.unwrap().done == acknowledged.len() as u64
    })
    .await;
    let handled: i64 = admin()
        .await
        .query_one(
            &format!("SELECT count(DISTINCT webhook_id) - count(*) FROM {table}_handled"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(handled, 0, "a delivery handled twice");
    drop(second);
    drop_table(&table).await;
    drop_table(&format!("{table}_handled")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_is_retried_and_the_job_handled_once() {
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let first = Receiver::spawn(&table, &secret);
    let body = common::event_with(r#""hang_attempts":1"#);
    assert_eq!(first.send(&secret, "msg_kill", &body).await, 202);
    wait_for_line(&first.stderr, |line| {
        line.contains(r#""started":"msg_kill""#) && line.contains(r#""attempt":1"#)
    });
    let mut first = first;
    first.child.kill().unwrap(); // SIGKILL, mid-job
    first.child.wait().unwrap();
    let killed = std::time::Instant::now();
    assert!(
        first.stdout.try_iter().next().is_none(),
        "nothing was handled"
    );

    // Another process takes the job over once its lease (15 s by default)
    // lapses; how soon depends on the machine, so it is reported, not
    // asserted (the second attempt, below, shows the take-over).
    let second = Receiver::spawn(&table, &secret);
    let line = wait_for_line(&second.stdout, |_| true);
    let recovered = killed.elapsed();
    eprintln!("the killed worker's job ran again after {recovered:?}");
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "msg_kill", "type": "batch.succeeded",
                           "resource": "batches/1", "origin": "webhook"})
    );
    // A copy arriving now is acknowledged and not run again.
    assert_eq!(second.send(&secret, "msg_kill", &body).await, 200);
    wait_until_done(&table).await;
    let row = admin()
        .await
        .query_one(
            &format!("SELECT state, attempts, (SELECT count(*) FROM {table}_handled) FROM {table}"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, &str>(0),
            row.get::<_, i32>(1),
            row.get::<_, i64>(2)
        ),
        ("done", 2, 1)
    );
    drop(second);
    drop_table(&table).await;
    drop_table(&format!("{table}_handled")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_answers_503_and_loses_nothing() {
    let server = OwnPostgres::start();
    let secret = generate_secret();
    let inbox = Inbox::builder(server.url())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let app =
        Router::new().route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
    let send = |id: &str| {
        let request: Request<Body> = Signer::hmac(&secret)
            .unwrap()
            .id(id)
            .request("/webhooks/gemini", common::NO_COMPLETION.to_owned());
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status() }
    };
    // A worker runs through the whole outage.
    let (handled_tx, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let worker = inbox
        .worker(move |job: Job| {
            let _ = handled_tx.send(job.delivery().id().to_owned());
            async { Ok::<_, String>(()) }
        })
        .poll_interval(Duration::from_millis(50));
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));

    assert_eq!(send("msg_before").await, StatusCode::ACCEPTED);
    assert_eq!(
        tokio::time::timeout(PATIENCE, handled.recv())
            .await
            .unwrap()
            .as_deref(),
        Some("msg_before")
    );
    // Handled is not yet committed: stopping the server before the commit
    // lands would leave the job to run again once its lease lapses.
    common::eventually("msg_before committed", || async {
        inbox.counts().await.is_ok_and(|counts| counts.done == 1)
    })
    .await;
    server.pg_ctl("stop");
    for _ in 0..3 {
        // Gemini's retries while the database is down.
        assert_eq!(send("msg_during").await, StatusCode::SERVICE_UNAVAILABLE);
    }
    server.pg_ctl("start");
    assert_eq!(send("msg_during").await, StatusCode::ACCEPTED);
    assert_eq!(
        tokio::time::timeout(PATIENCE, handled.recv())
            .await
            .unwrap()
            .as_deref(),
        Some("msg_during")
    );
    let _ = stop.send(());
    worker.await.unwrap();
    let counts = inbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.done, counts.dead), (0, 2, 0));
    assert!(handled.try_recv().is_err(), "nothing handled twice");
}

/// `examples/inbox_results.rs` against a mock of the Gemini API: a
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_on_a_polled_completion_is_retried_and_handled_once() {
    use common::gemini_mock::{self, GeminiMock};
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let mock = GeminiMock::start().await;
    mock.set(
        "batches/kill1",
        gemini_mock::batch("batches/kill1", "SUCCEEDED"),
    );
    // Its webhook never comes; the metadata makes attempt 1 hang.
    track(
        &table,
        "batches/kill1",
        Some(Duration::ZERO),
        serde_json::json!({"hang_attempts": 1}),
    )
    .await;
    let env = [
        ("GEMINI_API_KEY", "AIzaMockKey"),
        ("GEMINI_API_BASE", mock.host.as_str()),
        ("INBOX_RECONCILE_POLL", "1"),
    ];
    let mut first = Receiver::spawn_with(&table, &secret, &env);
    wait_for_line(&first.stderr, |line| {
        line.contains(r#""started":"poll:batch:kill1""#) && line.contains(r#""attempt":1"#)
    });
    first.child.kill().unwrap(); // SIGKILL, mid-job
    first.child.wait().unwrap();
    let second = Receiver::spawn_with(&table, &secret, &env);
    let line: serde_json::Value =
        serde_json::from_str(&wait_for_line(&second.stdout, |_| true)).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "poll:batch:kill1", "type": "batch.succeeded",
                           "resource": "batches/kill1", "origin": "poll"})
    );
    // The webhook, late: acknowledged, not run.
    let late = gemini_webhooks::testing::sample_event_for("batch.succeeded", "kill1");
    let late = std::str::from_utf8(&late).unwrap();
    assert_eq!(second.send(&secret, "msg_late_kill", late).await, 200);
    wait_until_done(&table).await;
    let row = admin()
        .await
        .query_one(
            &format!(
                "SELECT state, attempts, (SELECT count(*) FROM {table}_handled), \
                   (SELECT origin FROM {table}_tracked) FROM {table}"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, &str>(0),
            row.get::<_, i32>(1),
            row.get::<_, i64>(2),
            row.get::<_, &str>(3)
        ),
        ("done", 2, 1, "poll")
    );
    assert_eq!(mock.calls("/v1beta/batches/kill1"), 1, "polled once");
    drop(second);
    drop_table(&table).await;
    drop_table(&format!("{table}_handled")).await;
}

/// The example's interface: `INBOX_RECONCILE_AFTER` replaces the kind's
/// default wait, `INBOX_RECONCILE_POLL` spaces the polls of a job still
/// running, and the handled event's line says `"origin": "poll"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_example_reconciles_as_its_environment_says() {
    use common::gemini_mock::{self, GeminiMock};
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let mock = GeminiMock::start().await;
    let name = "models/veo-3/operations/slow1";
    mock.set(name, gemini_mock::video(name, "running"));
    // The default wait of a video is 30 minutes.
    track(&table, name, None, serde_json::json!({"order": 7})).await;
    let receiver = Receiver::spawn_with(
        &table,
        &secret,
        &[
            ("GEMINI_API_KEY", "AIzaMockKey"),
            ("GEMINI_API_BASE", mock.host.as_str()),
            ("INBOX_RECONCILE_AFTER", "0"),
            ("INBOX_RECONCILE_POLL", "1"),
        ],
    );
    let path = format!("/v1beta/{name}");
    common::eventually("polled twice while running", || async {
        mock.calls(&path) >= 2
    })
    .await;
    mock.set(name, gemini_mock::video(name, "done"));
    let line: serde_json::Value =
        serde_json::from_str(&wait_for_line(&receiver.stdout, |_| true)).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "poll:video:slow1", "type": "video.generated",
                           "resource": name, "origin": "poll"})
    );
    drop(receiver);
    drop_table(&table).await;
    drop_table(&format!("{table}_handled")).await;
}

/// `batch.succeeded` becomes one row per line of the batch's results file,
/// written in the job's transaction. The first download fails (500, not
/// retried by the client): the attempt rolls back and the retry writes the
/// rows once; the delivery sent again adds none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_results_example_writes_each_result_row_exactly_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let downloads = Arc::new(AtomicUsize::new(0));
    let api = {
        let downloads = Arc::clone(&downloads);
        Router::new().fallback(move |uri: axum::http::Uri| {
            let downloads = Arc::clone(&downloads);
            async move {
                match uri.path() {
                    "/v1beta/batches/b1" => (
                        StatusCode::OK,
                        serde_json::json!({"name": "batches/b1", "done": true, "metadata": {
                            "state": "BATCH_STATE_SUCCEEDED", "output": {"responsesFile": "files/out1"}}})
                        .to_string(),
                    ),
                    "/download/v1beta/files/out1:download" => {
                        if downloads.fetch_add(1, Ordering::SeqCst) == 0 {
                            (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned())
                        } else {
                            // The last line without its newline.
                            (StatusCode::OK, "{\"key\":\"a\"}\n\n{\"key\":\"b\\\\tab\"}\n{\"key\":\"c\"}".to_owned())
                        }
                    }
                    // A video the API gives a URI for, on its own host.
                    "/v1beta/files/vid7:download" => (StatusCode::OK, "mp4 bytes".to_owned()),
                    _ => (StatusCode::NOT_FOUND, "{}".to_owned()),
                }
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await });

    let exe = inbox_receiver().with_file_name("inbox_results");
    let video_dir = std::env::temp_dir().join(format!("videos-{table}"));
    let mut child = Command::new(&exe)
        .env("INBOX_VIDEO_DIR", &video_dir)
        .env("DATABASE_URL", database_url())
        .env("GEMINI_WEBHOOK_SECRET", &secret)
        .env("GEMINI_API_KEY", "test-key")
        .env("GEMINI_API_BASE", &api_base)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("INBOX_TABLE", &table)
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{}: {err}", exe.display()));
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());
    let listening = wait_for_line(&stderr, |line| line.starts_with("listening on "));
    let url = format!("{}/webhooks/gemini", &listening["listening on ".len()..]);
    let body = serde_json::json!({"type": "batch.succeeded", "version": "v1",
        "timestamp": "2026-12-02T00:00:00Z", "data": {"id": "b1", "output_file_uri": "files/out1"}})
    .to_string();
    let send = |url: String, secret: String, body: String| async move {
        let headers = Signer::hmac(&secret)
            .unwrap()
            .id("msg_results")
            .sign(body.as_bytes());
        common::client::post(&url, headers, body)
            .await
            .unwrap()
            .status
    };
    assert_eq!(send(url.clone(), secret.clone(), body.clone()).await, 202);
    let line: serde_json::Value = serde_json::from_str(&wait_for_line(&stdout, |_| true)).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "msg_results", "type": "batch.succeeded", "resource": "batches/b1", "rows": 3})
    );
    let url_for_video = url.clone();
    assert_eq!(
        send(url, secret.clone(), body).await,
        200,
        "the copy is a duplicate"
    );
    let rows = admin()
        .await
        .query(
            &format!("SELECT line FROM {table}_results ORDER BY line_no"),
            &[],
        )
        .await
        .unwrap();
    let rows: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(
        rows,
        [
            "{\"key\":\"a\"}",
            "{\"key\":\"b\\\\tab\"}",
            "{\"key\":\"c\"}"
        ]
    );
    assert_eq!(
        downloads.load(Ordering::SeqCst),
        2,
        "one failed attempt, one that wrote"
    );
    // A video whose event names only the operation's last segment: its
    // bytes come through the client, from the event's URI.
    let video = serde_json::json!({"type": "video.generated", "version": "v1",
        "timestamp": "2026-12-02T00:00:00Z",
        "data": {"id": "vid7op", "video_uri": format!("{api_base}/v1beta/files/vid7:download?alt=media")}})
    .to_string();
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_video")
        .sign(video.as_bytes());
    let answer = common::client::post(&url_for_video, headers, video)
        .await
        .unwrap();
    assert_eq!(answer.status, 202);
    let line: serde_json::Value = serde_json::from_str(&wait_for_line(&stdout, |_| true)).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"id": "msg_video", "type": "video.generated", "resource": "vid7op", "rows": 1})
    );
    let row = admin()
        .await
        .query_one(&format!("SELECT path, bytes FROM {table}_videos"), &[])
        .await
        .unwrap();
    let (path, bytes): (String, i64) = (row.get(0), row.get(1));
    assert_eq!(bytes, 9);
    assert_eq!(std::fs::read(&path).unwrap(), b"mp4 bytes");
    let _ = std::fs::remove_dir_all(&video_dir);
    let _ = child.kill();
    let _ = child.wait();
    drop_table(&table).await;
    drop_table(&format!("{table}_results")).await;
    drop_table(&format!("{table}_videos")).await;
}

/// Cloud Run's interface: with `BIND_ADDR` unset the example listens on
/// every interface at the port `PORT` names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bind_addr_the_receiver_listens_on_port_on_every_interface() {
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let port = common::throwaway::free_port().to_string();
    let receiver = Receiver::spawn_with(
        &table,
        &secret,
        &[("BIND_ADDR", ""), ("PORT", &port), ("INBOX_WORKERS", "0")],
    );
    assert_eq!(
        receiver.url,
        format!("http://0.0.0.0:{port}/webhooks/gemini")
    );
    let body = gemini_webhooks::testing::sample_event("batch.succeeded");
    let status = receiver
        .send(&secret, "msg_port", std::str::from_utf8(&body).unwrap())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    drop(receiver);
    drop_table(&table).await;
    drop_table(&format!("{table}_handled")).await;
}

/// `examples/inbox_receiver` with no settings holds at most the 9
/// PostgreSQL connections the README counts (ingest 2, jobs 4,
/// bookkeeping 2, `LISTEN` 1), even with every job slot busy: the jobs
/// are held on a lock of the handler's table, so each slot keeps its
/// connection while the count is watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_with_no_settings_holds_at_most_nine_connections() {
    let admin = admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let name = format!("budget_{table}");
    let url = format!("{}?application_name={name}", database_url());
    let mut child = Command::new(common::inbox_process::inbox_receiver())
        .env("DATABASE_URL", &url)
        .env("GEMINI_WEBHOOK_SECRET", &secret)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("INBOX_TABLE", &table)
        .env("INBOX_POLL_MS", "50")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let listening = wait_for_line(&stderr, |line| line.starts_with("listening on "));
    let receiver = format!("{}/webhooks/gemini", &listening["listening on ".len()..]);
    // Every job's handler waits on this lock.
    let mut holder = common::pg::connect(&database_url()).await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute(&format!(
        "LOCK TABLE {table}_handled IN ACCESS EXCLUSIVE MODE"
    ))
    .await
    .unwrap();
    for i in 0..20 {
        let body = common::event_with(&format!(r#""n":{i}"#))
            .replace("batches/1", &format!("batches/budget_{i}"));
        let headers = Signer::hmac(&secret)
            .unwrap()
            .id(format!("msg_budget_{i}"))
            .sign(body.as_bytes());
        let answer = common::client::post(&receiver, headers, body)
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::ACCEPTED);
    }
    let count = format!(
        "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) \
         FROM pg_stat_activity WHERE application_name = '{name}'"
    );
    let sample = async || -> (i64, i64) {
        let row = admin.query_one(&count, &[]).await.unwrap();
        (row.get(0), row.get(1))
    };
    // Until the job slots are all busy (a minute at most, however slow
    // the machine), then for a while longer: the most connections seen.
    let mut most = 0;
    let mut busy = 0;
    for _ in 0..PATIENCE.as_millis() / 50 {
        let (waiting, connections) = sample().await;
        most = most.max(connections);
        busy = busy.max(waiting);
        if busy >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        busy >= 4,
        "the four job slots never all held a job ({busy})"
    );
    for _ in 0..20 {
        most = most.max(sample().await.1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(most <= 9, "{most} connections");
    let (waiting, _) = sample().await;
    assert_eq!(waiting, 4, "four jobs at once by default");
    lock.rollback().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    admin
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}_handled"))
        .await
        .unwrap();
    drop_table(&table).await;
}
