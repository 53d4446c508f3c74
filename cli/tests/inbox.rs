//! `gemini-webhooks inbox …` against a real PostgreSQL (`DATABASE_URL`, or a
//! throwaway server of the test's own): counts, lists without bodies, one
//! job in full, requeue.

use std::process::{Command, Output};
use std::time::Duration;

use gemini_webhooks::testing::{Signer, generate_secret, sample_event_for};
use gemini_webhooks_postgres::inbox::{Inbox, Job};

use testdb as throwaway;

fn inbox_cli(url: &str, table: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gemini-webhooks"))
        .env("DATABASE_URL", url)
        .args(["inbox", "--table", table])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stores a verified delivery per `(webhook id, event type, resource)`.
async fn ingest(inbox: &Inbox, deliveries: &[(&str, &str, &str)]) {
    let secret = generate_secret();
    let verifier = gemini_webhooks::Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    for (id, event_type, resource) in deliveries {
        let body = sample_event_for(event_type, resource);
        let headers = Signer::hmac(&secret).unwrap().id(*id).sign(&body);
        inbox
            .ingest(&verifier.verify(&headers, body).unwrap())
            .await
            .unwrap();
    }
}

#[test]
fn inbox_commands_count_list_show_and_requeue_jobs() {
    let url = throwaway::postgres_url();
    let table = format!("cli_inbox_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inbox = Inbox::builder(&url).table(&table).build().unwrap();
    runtime.block_on(async {
        ingest(
            &inbox,
            &[
                ("msg_fine", "batch.succeeded", "batches/msg_fine"),
                ("msg_poison", "batch.succeeded", "batches/msg_poison"),
            ],
        )
        .await;
        let worker = inbox
            .worker(|job: Job| async move {
                if job.delivery().id() == "msg_poison" {
                    return Err("poisoned\nwith a newline");
                }
                Ok(())
            })
            .max_attempts(1)
            .poll_interval(Duration::from_millis(20));
        let task = tokio::spawn(worker.run());
        // Bounded (60 s), so the state decides, not the clock.
        let mut settled = false;
        for _ in 0..3_000 {
            let counts = inbox.counts().await.unwrap();
            if counts.done == 1 && counts.dead == 1 {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        assert!(settled, "one job done and one dead within 60 s");
    });

    let stats = inbox_cli(&url, &table, &["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(
        stats,
        serde_json::json!({"pending": 0, "running": 0, "done": 1, "dead": 1,
            "gate": {"paused": false, "rate": null},
            "tracked": {"open": 0, "overdue": 0, "by_webhook": 0, "by_poll": 0, "abandoned": 0}})
    );

    let dead = stdout(&inbox_cli(&url, &table, &["list", "--state", "dead"]));
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(dead.contains("msg_poison  dead  attempts 1"), "{dead}");
    assert!(
        dead.contains("last error: poisoned\\nwith a newline"),
        "escaped: {dead}"
    );
    assert!(
        !dead.contains("batch.succeeded"),
        "no body in a list: {dead}"
    );
    assert_eq!(
        stdout(&inbox_cli(&url, &table, &["list"])).lines().count(),
        2
    );

    let shown = stdout(&inbox_cli(&url, &table, &["show", "msg_poison"]));
    assert!(shown.contains("batch.succeeded"), "the body: {shown}");
    let missing = inbox_cli(&url, &table, &["show", "msg_nowhere"]);
    assert_eq!(missing.status.code(), Some(2));

    let requeued = inbox_cli(&url, &table, &["requeue", "msg_poison"]);
    assert_eq!(stdout(&requeued).trim(), "requeued msg_poison");
    assert!(stdout(&inbox_cli(&url, &table, &["stats"])).contains("pending 1"));
    assert_eq!(
        inbox_cli(&url, &table, &["requeue", "msg_poison"])
            .status
            .code(),
        Some(2),
        "no longer dead"
    );
    assert!(stdout(&inbox_cli(&url, &table, &["requeue", "--all-dead"])).contains("requeued 0"));

    let no_database = Command::new(env!("CARGO_BIN_EXE_gemini-webhooks"))
        .env_remove("DATABASE_URL")
        .args(["inbox", "stats"])
        .output()
        .unwrap();
    assert_eq!(no_database.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_database.stderr).contains("DATABASE_URL"));
    let wrong_table = inbox_cli(&url, "no_such_inbox", &["stats"]);
    assert_eq!(wrong_table.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong_table.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&wrong_table.stderr)
    );

    runtime.block_on(async {
        let client = inbox.connection().await.unwrap();
        client
            .batch_execute(&format!(
                "DROP TABLE {table}, {table}_tracked, {table}_gate"
            ))
            .await
            .unwrap();
    });
}

/// `pause` stops every worker's claims while ingest goes on storing;
/// `resume --rate` lets them claim again at a bounded rate, `resume`
/// at full speed; `stats` shows which.
#[test]
fn inbox_pause_and_resume_gate_the_workers() {
    let url = throwaway::postgres_url();
    let table = format!("cli_gate_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inbox = Inbox::builder(&url).table(&table).build().unwrap();
    runtime.block_on(inbox.check()).unwrap();
    let paused = inbox_cli(&url, &table, &["pause"]);
    assert_eq!(stdout(&paused).trim(), "workers: paused");
    let worker = inbox.worker(|_: Job| async { Ok::<_, std::io::Error>(()) });
    runtime.block_on(async {
        ingest(&inbox, &[("msg_1", "batch.succeeded", "batches/b1")]).await;
        assert_eq!(worker.run_once().await.unwrap().claimed, 0, "paused");
    });
    assert!(stdout(&inbox_cli(&url, &table, &["stats"])).contains("workers: paused"));

    let resumed = inbox_cli(&url, &table, &["resume", "--rate", "5"]);
    assert_eq!(stdout(&resumed).trim(), "workers: open, at most 5 jobs/s");
    let stats = inbox_cli(&url, &table, &["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(
        stats["gate"],
        serde_json::json!({"paused": false, "rate": 5})
    );
    runtime.block_on(async {
        assert_eq!(worker.run_once().await.unwrap().handled, 1);
    });
    assert_eq!(
        stdout(&inbox_cli(&url, &table, &["resume"])).trim(),
        "workers: open"
    );
    let zero = inbox_cli(&url, &table, &["resume", "--rate", "0"]);
    assert_eq!(zero.status.code(), Some(2), "a rate of 0 is a pause");
}

#[test]
fn inbox_track_records_a_job_with_its_wait_and_metadata() {
    let url = throwaway::postgres_url();
    let table = format!("cli_track_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inbox = Inbox::builder(&url).table(&table).build().unwrap();
    // The receiver made the tables.
    runtime.block_on(inbox.check()).unwrap();
    let tracked = inbox_cli(
        &url,
        &table,
        &[
            "track",
            "batches/b42",
            "--expect-within",
            "120",
            "--metadata",
            r#"{"order":42}"#,
            "--json",
        ],
    );
    assert!(tracked.status.success(), "{tracked:?}");
    let answer: serde_json::Value = serde_json::from_slice(&tracked.stdout).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"tracked": "batches/b42", "new": true, "expect_within": 120})
    );
    let again = stdout(&inbox_cli(
        &url,
        &table,
        &["track", "batches/b42", "--expect-within", "5"],
    ));
    assert_eq!(again.trim(), "batches/b42 was tracked already");
    for (args, says) in [
        (
            &["track", "b42", "--expect-within", "5"][..],
            "not a job name",
        ),
        (
            &[
                "track",
                "batches/b43",
                "--expect-within",
                "5",
                "--metadata",
                "[1]",
            ][..],
            "--metadata must be a JSON object",
        ),
        (
            &["track", "batches/b44", "--expect-within", "4000000000"][..],
            "expect_within of 4000000000 s is longer than the 3153600000 s",
        ),
        (
            &["track", "batches/b44", "--expect-within", "5", "--reopen"][..],
            "cannot be used with",
        ),
    ] {
        let refused = inbox_cli(&url, &table, args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Without --expect-within: the kind's default (a batch: 24 h).
    let defaulted = stdout(&inbox_cli(&url, &table, &["track", "batches/b45"]));
    assert_eq!(
        defaulted.trim(),
        "tracking batches/b45: polled if unseen after 86400 s"
    );
    // Only an abandoned job is reopened.
    let reopened = stdout(&inbox_cli(
        &url,
        &table,
        &["track", "batches/b42", "--reopen"],
    ));
    assert_eq!(
        reopened.trim(),
        "batches/b42 is not an abandoned tracked job; nothing changed"
    );
    let stats = stdout(&inbox_cli(&url, &table, &["stats"]));
    assert!(
        stats.contains("tracked: open 2 (overdue 0)  by webhook 0"),
        "{stats}"
    );
    // Listed, the latest tracked first; one tracked by mistake removed.
    let listed = stdout(&inbox_cli(&url, &table, &["tracked", "--state", "open"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("batches/b45  open  deadline "),
        "{listed}"
    );
    assert!(
        lines[1].starts_with("batches/b42  open  deadline "),
        "{listed}"
    );
    assert!(lines[1].ends_with("polls 0"), "{listed}");
    let abandoned = stdout(&inbox_cli(
        &url,
        &table,
        &["tracked", "--state", "abandoned"],
    ));
    assert_eq!(abandoned.trim(), "no tracked jobs");
    let json = inbox_cli(&url, &table, &["tracked", "--limit", "1", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (json["job"].as_str(), json["key"].as_str()),
        (Some("batches/b45"), Some("batch:b45"))
    );
    let untracked = stdout(&inbox_cli(&url, &table, &["untrack", "batches/b45"]));
    assert_eq!(untracked.trim(), "batches/b45 no longer tracked");
    let again = inbox_cli(&url, &table, &["untrack", "batches/b45"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("batches/b45 is not tracked"));
    let stats = stdout(&inbox_cli(&url, &table, &["stats"]));
    assert!(stats.contains("tracked: open 1 (overdue 0)"), "{stats}");
    runtime.block_on(async {
        let client = inbox.connection().await.unwrap();
        let row = client
            .query_one(
                &format!(
                    "SELECT resource, user_metadata, \
                       extract(epoch FROM next_poll_at - tracked_at)::float8 \
                     FROM {table}_tracked WHERE resource = 'batches/b42'"
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, &str>(0), "batches/b42");
        assert_eq!(row.get::<_, Option<&str>>(1), Some(r#"{"order":42}"#));
        assert!((row.get::<_, f64>(2) - 120.0).abs() < 1.0);
        client
            .batch_execute(&format!(
                "DROP TABLE {table}, {table}_tracked, {table}_gate"
            ))
            .await
            .unwrap();
    });
}

/// `requeue --state … --type … --since … --until … [--dry-run]` counts or
/// requeues the finished jobs a filter matches; `requeue KEY --done` runs a
/// done job again.
#[test]
fn inbox_requeue_by_filter_and_a_done_job_again() {
    let url = throwaway::postgres_url();
    let table = format!("cli_redrive_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inbox = Inbox::builder(&url).table(&table).build().unwrap();
    let failing = inbox
        .worker(|_: Job| async { Err::<(), _>("down") })
        .max_attempts(1);
    let working = inbox.worker(|_: Job| async { Ok::<_, std::io::Error>(()) });
    runtime.block_on(async {
        ingest(
            &inbox,
            &[
                ("msg_a", "batch.failed", "batches/msg_a"),
                ("msg_b", "batch.failed", "batches/msg_b"),
                ("msg_c", "batch.succeeded", "batches/msg_c"),
            ],
        )
        .await;
        assert_eq!(failing.run_once().await.unwrap().dead, 3);
    });
    let requeue = |args: &[&str]| inbox_cli(&url, &table, &[&["requeue"], args].concat());

    let dry = requeue(&["--state", "dead", "--type", "batch.failed", "--dry-run"]);
    assert_eq!(stdout(&dry).trim(), "2 would be requeued");
    let later = requeue(&[
        "--state",
        "dead",
        "--since",
        "2999-01-01T00:00:00Z",
        "--dry-run",
    ]);
    assert_eq!(stdout(&later).trim(), "0 would be requeued");
    let earlier = requeue(&[
        "--state",
        "dead",
        "--until",
        "2999-01-01T00:00:00Z",
        "--dry-run",
    ]);
    assert_eq!(stdout(&earlier).trim(), "3 would be requeued");
    let bad_time = requeue(&["--state", "dead", "--since", "yesterday"]);
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("RFC 3339"));
    assert_eq!(requeue(&["--state", "pending"]).status.code(), Some(2));
    assert_eq!(requeue(&["--type", "batch.failed"]).status.code(), Some(2));

    let requeued = requeue(&["--state", "dead", "--type", "batch.failed"]);
    assert_eq!(stdout(&requeued).trim(), "requeued 2");
    assert!(
        stdout(&inbox_cli(&url, &table, &["stats"]))
            .contains("pending 2  running 0  done 0  dead 1")
    );
    runtime.block_on(async {
        assert_eq!(working.run_once().await.unwrap().handled, 2);
    });

    let not_done = requeue(&["msg_c", "--done"]);
    assert_eq!(not_done.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_done.stderr).contains("no done job"));
    assert_eq!(
        stdout(&requeue(&["msg_a", "--done"])).trim(),
        "requeued msg_a"
    );
    let rest = requeue(&["--state", "done", "--json"]);
    let rest: serde_json::Value = serde_json::from_slice(&rest.stdout).unwrap();
    assert_eq!(rest, serde_json::json!({"requeued": 1}), "msg_b, done");
    assert!(
        stdout(&inbox_cli(&url, &table, &["stats"]))
            .contains("pending 2  running 0  done 0  dead 1")
    );
}
