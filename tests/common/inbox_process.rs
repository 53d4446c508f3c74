//! `examples/inbox_receiver.rs` as a process: started with an
//! environment, its stdout and stderr read line by line, killed; and jobs
//! tracked for its reconciler.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gemini_webhooks::testing::Signer;
use gemini_webhooks_postgres::inbox::Inbox;
use http::StatusCode;

use super::pg::database_url;
pub use super::process::lines;

/// Generous bound for anything that should happen: the test fails instead
/// of hanging, and no busy machine reaches it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `inbox_receiver`, built next to this test by `cargo test`.
pub fn inbox_receiver() -> PathBuf {
    super::process::example_binary("inbox_receiver", "axum")
}

/// One `inbox_receiver` process, its stdout and stderr read line by line.
pub struct Receiver {
    pub child: Child,
    pub url: String,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
}

impl Receiver {
    pub fn spawn(table: &str, secret: &str) -> Self {
        Self::spawn_with(table, secret, &[])
    }

    /// With more environment: `GEMINI_API_KEY`, … for a reconciler.
    pub fn spawn_with(table: &str, secret: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(inbox_receiver())
            .env("DATABASE_URL", database_url())
            .env("GEMINI_WEBHOOK_SECRET", secret)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("INBOX_TABLE", table)
            .env("INBOX_WORKERS", "2")
            .env("INBOX_POLL_MS", "50")
            .env("LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let listening = wait_for_line(&stderr, |line| line.starts_with("listening on "));
        let url = format!("{}/webhooks/gemini", &listening["listening on ".len()..]);
        Self {
            child,
            url,
            stdout,
            stderr,
        }
    }

    pub async fn send(&self, secret: &str, id: &str, body: &str) -> StatusCode {
        let headers = Signer::hmac(secret).unwrap().id(id).sign(body.as_bytes());
        super::client::post(&self.url, headers, body.to_owned())
            .await
            .unwrap()
            .status
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line that `matches`, skipping others.
pub fn wait_for_line(lines: &mpsc::Receiver<String>, matches: impl Fn(&str) -> bool) -> String {
    loop {
        let line = lines
            .recv_timeout(PATIENCE)
            .expect("the process said nothing expected");
        if matches(&line) {
            return line;
        }
    }
}

/// SIGTERM (what Kubernetes and systemd send) while deliveries pour in:
/// the process stops accepting, answers what it accepted, lets its workers
/// finish or release their jobs, and exits 0; every delivery it
/// acknowledged is in the inbox, and another process handles them all.
/// Waits (at most a minute) until every job in `table` is done: a
/// handler prints its line before its job's transaction commits, so a
/// test that saw the line must wait for the commit before reading rows.
pub async fn wait_until_done(table: &str) {
    let client = super::pg::admin().await;
    let query = format!("SELECT count(*) FROM {table} WHERE state <> 'done'");
    super::eventually("every job done", || async {
        let pending: i64 = client.query_one(&query, &[]).await.unwrap().get(0);
        pending == 0
    })
    .await;
}

/// Tracks `name` on `table` (due at once unless `within` says otherwise).
pub async fn track(table: &str, name: &str, within: Option<Duration>, metadata: serde_json::Value) {
    use gemini_webhooks_api::JobName;
    use gemini_webhooks_postgres::reconcile::{TrackedJob, Tracking};
    let inbox = Inbox::builder(database_url()).table(table).build().unwrap();
    let mut job = TrackedJob::new(JobName::parse(name).unwrap())
        .user_metadata(metadata.as_object().unwrap().clone());
    if let Some(within) = within {
        job = job.expect_within(within);
    }
    assert!(Tracking::new(&inbox).track(&job).await.unwrap());
}
