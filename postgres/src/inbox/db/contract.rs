//! The worker door's contract, against a real PostgreSQL (`DATABASE_URL`
//! or a throwaway one): what each statement of [`WorkerDb`] promises the
//! worker, one rule per test, as `replay_store_contract` does for stores.
//! A lease is the proof of a claim: every statement but the claim does
//! nothing for a lease that is not the row's.

use std::sync::Arc;
use std::time::Duration;

use super::{Fail, FailRecorded, InboxDb, WorkerDb};
use crate::connection::plan_check;
use crate::inbox::Gate;
use crate::inbox::Inbox;

const LEASE_FOR: Duration = Duration::from_secs(60);

/// A fresh inbox table holding `keys`, due now, and the door to it.
async fn door(name: &str, keys: &[&str]) -> (Arc<InboxDb>, WorkerDb) {
    door_of(name, keys, None).await
}

/// As [`door`], for a worker that completes in batches (`Some(max_attempts)`).
async fn door_of(name: &str, keys: &[&str], in_batches: Option<u32>) -> (Arc<InboxDb>, WorkerDb) {
    let inbox = inbox_holding(name, keys).await;
    let db = Arc::clone(&inbox.shared.db);
    let pool = db.pool.clone();
    let worker = WorkerDb::new(Arc::clone(&db), pool.clone(), pool, Some(750), in_batches);
    (db, worker)
}

/// A fresh inbox table holding `keys`, due now.
async fn inbox_holding(name: &str, keys: &[&str]) -> Inbox {
    let table = format!("door_{name}_{}", std::process::id());
    let inbox = Inbox::builder(plan_check::test_database_url())
        .table(&table)
        .build()
        .unwrap();
    store_rows(&inbox, keys).await;
    inbox
}

/// Creates `inbox`'s table and stores a delivery with an empty body under
/// each of `keys`, due now (for tests of the inbox's own crate).
pub(crate) async fn store_rows(inbox: &Inbox, keys: &[&str]) {
    inbox.check().await.unwrap();
    store_rows_in(&inbox.shared.db, keys).await;
}

/// Lets the lease on `key` lapse, due now: as if its worker had died.
async fn lapse(db: &InboxDb, key: &str) {
    let table = &db.settings.table;
    plan_check::client()
        .await
        .execute(
            &format!("UPDATE {table} SET run_at = now(), lease = NULL WHERE id = $1"),
            &[&key],
        )
        .await
        .unwrap();
}

/// The row's state and attempts.
async fn row(db: &InboxDb, key: &str) -> (String, i32) {
    let table = &db.settings.table;
    let row = plan_check::client()
        .await
        .query_one(
            &format!("SELECT state, attempts FROM {table} WHERE id = $1"),
            &[&key],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_claim_takes_each_due_job_once_under_its_lease() {
    let (_db, door) = door("claim", &["a", "b", "c"]).await;
    let first = door.claim(2, "lease1", LEASE_FOR).await.unwrap();
    assert_eq!(first.len(), 2, "at most the limit");
    let second = door.claim(5, "lease2", LEASE_FOR).await.unwrap();
    let keys: Vec<_> = first
        .iter()
        .chain(&second)
        .map(|job| job.key.clone())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, ["a", "b", "c"], "each once: {keys:?}");
    assert!(door.claim(5, "lease3", LEASE_FOR).await.unwrap().is_empty());
    let job = &first[0];
    assert_eq!((job.attempts, job.abandoned), (0, false));
    assert_eq!(job.stored.webhook_id, job.key);
    assert_eq!(&job.body[..], b"{}");
}

#[tokio::test]
async fn only_the_lease_holder_begins_starts_and_completes() {
    let (db, door) = door("begin", &["a"]).await;
    door.claim(1, "mine", LEASE_FOR).await.unwrap();
    assert!(door.begin("a", "theirs", 60_000).await.unwrap().is_none());
    assert_eq!(door.start("a", "theirs").await.unwrap(), None);
    let connection = door.begin("a", "mine", 60_000).await.unwrap().unwrap();
    assert_eq!(door.start("a", "mine").await.unwrap(), Some(1));
    assert_eq!(
        row(&db, "a").await,
        ("pending".to_owned(), 1),
        "counted before the handler"
    );
    door.complete(&connection, "a", "mine").await.unwrap();
    assert_eq!(row(&db, "a").await.0, "done");
    assert_eq!(db.counts().await.unwrap().done, 1);
}

#[tokio::test]
async fn a_failure_retries_until_the_last_attempt_and_dead_is_at_once() {
    let (db, door) = door("fail", &["a", "b"]).await;
    door.claim(2, "l1", LEASE_FOR).await.unwrap();
    let retry = Fail::Retry {
        max_attempts: 2,
        pause: Duration::ZERO,
    };
    assert_eq!(
        door.fail("a", "other", retry, "e").await.unwrap(),
        FailRecorded::NotHeld
    );
    door.start("a", "l1").await.unwrap();
    assert_eq!(
        door.fail("a", "l1", retry, "first").await.unwrap(),
        FailRecorded::Retrying
    );
    assert_eq!(row(&db, "a").await.0, "pending");
    // Due again at once (no pause), under a new lease: the second attempt
    // is the last.
    let again = door.claim(1, "l2", LEASE_FOR).await.unwrap();
    assert_eq!(again[0].key, "a");
    door.start("a", "l2").await.unwrap();
    assert_eq!(
        door.fail("a", "l2", retry, "second").await.unwrap(),
        FailRecorded::Dead
    );
    // A permanent failure is dead whatever the attempts.
    assert_eq!(
        door.fail("b", "l1", Fail::Dead, "bad body").await.unwrap(),
        FailRecorded::Dead
    );
    let dead = db.dead_letters(10).await.unwrap();
    let errors: Vec<_> = dead
        .iter()
        .map(|job| job.last_error.clone().unwrap())
        .collect();
    assert_eq!(errors.len(), 2);
    assert!(errors.contains(&"second".to_owned()) && errors.contains(&"bad body".to_owned()));
}

#[tokio::test]
async fn a_release_makes_the_job_due_again_with_its_attempt_counted() {
    let (db, door) = door("release", &["a"]).await;
    door.claim(1, "l1", LEASE_FOR).await.unwrap();
    door.start("a", "l1").await.unwrap();
    door.release("a", "other").await.unwrap();
    assert!(
        door.claim(1, "l2", LEASE_FOR).await.unwrap().is_empty(),
        "not released"
    );
    door.release("a", "l1").await.unwrap();
    let again = door.claim(1, "l2", LEASE_FOR).await.unwrap();
    assert_eq!((again[0].attempts, again[0].abandoned), (1, false));
    assert_eq!(row(&db, "a").await, ("pending".to_owned(), 1));
}

#[tokio::test]
async fn a_lapsed_lease_is_claimed_again_and_shown_abandoned() {
    let (_db, door) = door("lapsed", &["a"]).await;
    door.claim(1, "l1", Duration::ZERO).await.unwrap();
    let again = door.claim(1, "l2", LEASE_FOR).await.unwrap();
    assert_eq!(again.len(), 1, "the lease lapsed");
    assert!(again[0].abandoned, "an earlier lease was left on it");
    // The first worker's lease no longer holds anything.
    assert!(door.begin("a", "l1", 60_000).await.unwrap().is_none());
}

#[tokio::test]
async fn renewals_push_out_only_the_leases_still_held() {
    let (_db, door) = door("renew", &["a", "b"]).await;
    door.claim(2, "l1", Duration::from_millis(1)).await.unwrap();
    let keys = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let renewed = door
        .renew(&keys, &["l1".to_owned()], LEASE_FOR)
        .await
        .unwrap();
    let mut renewed = renewed;
    renewed.sort();
    assert_eq!(renewed, ["a", "b"]);
    assert!(
        door.renew(&keys, &["other".to_owned()], LEASE_FOR)
            .await
            .unwrap()
            .is_empty()
    );
    // Renewed for a minute: not due, so not claimed.
    assert!(door.claim(2, "l2", LEASE_FOR).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rolled_back_job_leaves_its_row_as_it_was() {
    let (db, door) = door("rollback", &["a"]).await;
    door.claim(1, "l1", LEASE_FOR).await.unwrap();
    let connection = door.begin("a", "l1", 60_000).await.unwrap().unwrap();
    door.start("a", "l1").await.unwrap();
    door.roll_back(&connection).await;
    assert_eq!(row(&db, "a").await, ("pending".to_owned(), 1));
    let cleaned = door.cleanup().await.unwrap();
    assert_eq!((cleaned.done, cleaned.tracked), (0, 0));
}

#[tokio::test]
async fn in_batches_the_claim_counts_and_only_held_jobs_are_marked_done() {
    let (db, door) = door_of("batches", &["a", "b", "c"], Some(2)).await;
    let claimed = door.claim(3, "mine", LEASE_FOR).await.unwrap();
    assert!(
        claimed.iter().all(|job| job.attempts == 0),
        "the count before this claim"
    );
    assert_eq!(row(&db, "a").await, ("pending".to_owned(), 1), "counted");
    let mut marked = door
        .complete_batch(&["a", "b", "c"], &["mine", "theirs", "mine"])
        .await
        .unwrap();
    marked.sort();
    assert_eq!(marked, ["a", "c"], "each under its own lease");
    assert_eq!(row(&db, "a").await, ("done".to_owned(), 1));
    assert_eq!(row(&db, "b").await, ("pending".to_owned(), 1));
    assert!(
        door.complete_batch(&["a"], &["mine"])
            .await
            .unwrap()
            .is_empty(),
        "a done job has no lease to match"
    );
    assert!(door.complete_batch(&[], &[]).await.unwrap().is_empty());
    // "b", claimed again after its lease: the second and last attempt,
    // then, used up, claimed without a third count.
    lapse(&db, "b").await;
    let again = door.claim(3, "later", LEASE_FOR).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    assert_eq!(row(&db, "b").await.1, 2);
    lapse(&db, "b").await;
    let used_up = door.claim(3, "last", LEASE_FOR).await.unwrap();
    assert_eq!(used_up[0].attempts, 2, "the count before: used up");
    assert_eq!(row(&db, "b").await.1, 2, "not counted past max_attempts");
}

/// Moves the gate's bucket clock: refilled `ago` before now (negative:
/// in the future), its tokens `tokens`; the test's clock for the rate.
async fn set_bucket(db: &InboxDb, tokens: f64, ago_ms: f64) {
    let gate = crate::inbox::sql::gate::gate_table(&db.settings.table);
    plan_check::client()
        .await
        .execute(
            &format!(
                "UPDATE {gate} SET tokens = $1, \
                   refilled_at = clock_timestamp() - $2 * interval '1 millisecond'"
            ),
            &[&tokens, &ago_ms],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_paused_gate_lets_no_claim_through_until_resumed() {
    let (db, door) = door("paused", &["a", "b"]).await;
    assert_eq!(db.gate().await.unwrap(), Gate::OPEN);
    db.set_gate(Gate::PAUSED).await.unwrap();
    assert_eq!(db.gate().await.unwrap(), Gate::PAUSED);
    assert!(door.claim(5, "l1", LEASE_FOR).await.unwrap().is_empty());
    let counted = WorkerDb::new(
        Arc::clone(&db),
        db.pool.clone(),
        db.pool.clone(),
        None,
        Some(3),
    );
    assert!(counted.claim(5, "l2", LEASE_FOR).await.unwrap().is_empty());
    assert_eq!(db.counts().await.unwrap().pending, 2, "stored, waiting");
    db.set_gate(Gate::OPEN).await.unwrap();
    assert_eq!(door.claim(5, "l3", LEASE_FOR).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_rate_lets_through_the_whole_tokens_of_the_bucket_and_charges_them() {
    let keys: Vec<String> = (0..40).map(|n| format!("k{n:02}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (db, door) = door("rate", &keys).await;
    let three = std::num::NonZeroU32::new(3).unwrap();
    db.set_gate(Gate::rate(three)).await.unwrap();
    assert_eq!(db.gate().await.unwrap().rate, Some(three));
    // A resume starts with a full bucket: one second's worth.
    assert_eq!(door.claim(10, "l1", LEASE_FOR).await.unwrap().len(), 3);
    // Refilled "in the future": no time passes for the bucket, so only
    // the tokens set count, whatever the machine's speed.
    set_bucket(&db, 0.0, -3_600_000.0).await;
    assert!(door.claim(10, "l2", LEASE_FOR).await.unwrap().is_empty());
    set_bucket(&db, 2.5, -3_600_000.0).await;
    assert_eq!(door.claim(10, "l3", LEASE_FOR).await.unwrap().len(), 2);
    assert_eq!(tokens(&db).await, 0.5, "charged for what it claimed");
    // A long pause refills one second's worth at most, and a claim takes
    // no more than it asks.
    set_bucket(&db, 0.0, 3_600_000.0).await;
    assert_eq!(door.claim(2, "l4", LEASE_FOR).await.unwrap().len(), 2);
    set_bucket(&db, 0.0, 3_600_000.0).await;
    assert_eq!(door.claim(10, "l5", LEASE_FOR).await.unwrap().len(), 3);
    // Refilled at the rate: at 100/s, 50 ms (or more) makes 5 tokens or more.
    db.set_gate(Gate::rate(std::num::NonZeroU32::new(100).unwrap()))
        .await
        .unwrap();
    set_bucket(&db, 0.0, 50.0).await;
    let refilled = door.claim(10, "l6", LEASE_FOR).await.unwrap().len();
    assert!((5..=10).contains(&refilled), "{refilled}");
    db.set_gate(Gate::OPEN).await.unwrap();
    assert_eq!(db.gate().await.unwrap(), Gate::OPEN);
    let rest = door.claim(40, "l7", LEASE_FOR).await.unwrap();
    assert_eq!(
        rest.len(),
        40 - 3 - 2 - 2 - 3 - refilled,
        "as fast as asked"
    );
}

/// The tokens in the gate's bucket.
async fn tokens(db: &InboxDb) -> f64 {
    let gate = crate::inbox::sql::gate::gate_table(&db.settings.table);
    let client = plan_check::client().await;
    let row = client
        .query_one(&format!("SELECT tokens FROM {gate}"), &[])
        .await
        .unwrap();
    row.get(0)
}

/// Sets `key`'s state, event type and reception `hours_ago`.
async fn finish(db: &InboxDb, key: &str, state: &str, event_type: &str, hours_ago: f64) {
    let table = &db.settings.table;
    plan_check::client()
        .await
        .execute(
            &format!(
                "UPDATE {table} SET state = $2, event_type = $3, attempts = 3, \
                   received_at = now() - $4 * interval '1 hour', \
                   finished_at = CASE WHEN $2 = 'done' THEN now() END WHERE id = $1"
            ),
            &[&key, &state, &event_type, &hours_ago],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_filter_counts_and_requeues_the_finished_jobs_it_matches() {
    use crate::inbox::{JobFilter, JobState};
    use std::time::SystemTime;
    let inbox = inbox_holding("redrive", &["old", "new", "video", "done", "waiting"]).await;
    let db = Arc::clone(&inbox.shared.db);
    finish(&db, "old", "dead", "batch.failed", 2.0).await;
    finish(&db, "new", "dead", "batch.failed", 0.0).await;
    finish(&db, "video", "dead", "video.generated", 0.0).await;
    finish(&db, "done", "done", "batch.failed", 0.0).await;
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let failed = JobFilter::new(JobState::Dead).event_type("batch.failed");
    assert_eq!(inbox.count_matching(&failed).await.unwrap(), 2);
    let recent = failed.clone().since(hour_ago);
    assert_eq!(inbox.count_matching(&recent).await.unwrap(), 1);
    let older = failed.clone().until(hour_ago);
    assert_eq!(inbox.count_matching(&older).await.unwrap(), 1);
    let dead = JobFilter::new(JobState::Dead);
    assert_eq!(inbox.count_matching(&dead).await.unwrap(), 3);
    let pending = JobFilter::new(JobState::Pending);
    assert!(inbox.count_matching(&pending).await.is_err());
    assert!(inbox.requeue_matching(&pending, |_| ()).await.is_err());

    let mut told = Vec::new();
    let requeued = inbox
        .requeue_matching(&failed, |so_far| told.push(so_far))
        .await
        .unwrap();
    assert_eq!((requeued, told), (2, vec![2]));
    assert_eq!(
        row(&db, "old").await,
        ("pending".to_owned(), 0),
        "from attempt 1"
    );
    assert_eq!(row(&db, "new").await, ("pending".to_owned(), 0));
    assert_eq!(row(&db, "video").await.0, "dead", "another type");
    assert_eq!(row(&db, "done").await.0, "done", "another state");
    assert_eq!(inbox.count_matching(&failed).await.unwrap(), 0);

    assert!(
        !inbox.requeue_done("video").await.unwrap(),
        "dead, not done"
    );
    assert!(inbox.requeue_done("done").await.unwrap());
    assert_eq!(row(&db, "done").await, ("pending".to_owned(), 0));
    assert!(!inbox.requeue_done("done").await.unwrap(), "no longer done");
}

#[tokio::test]
async fn a_large_redrive_goes_in_batches_each_job_once() {
    use crate::inbox::{JobFilter, JobState};
    let keys: Vec<String> = (0..2_500).map(|n| format!("k{n:04}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let inbox = inbox_holding("redrive_big", &keys).await;
    let db = Arc::clone(&inbox.shared.db);
    let table = &db.settings.table;
    // One reception time for all: the walk's order is then the ids'.
    plan_check::client()
        .await
        .execute(
            &format!("UPDATE {table} SET state = 'done', received_at = now() - interval '1 hour'"),
            &[],
        )
        .await
        .unwrap();
    let mut told = Vec::new();
    let requeued = inbox
        .requeue_matching(&JobFilter::new(JobState::Done), |so_far| told.push(so_far))
        .await
        .unwrap();
    assert_eq!((requeued, told), (2_500, vec![1_000, 2_000, 2_500]));
    assert_eq!(db.counts().await.unwrap().pending, 2_500);
}

/// A fresh inbox kept in job order, holding `keys` (due now), and its
/// worker door; each key's job and event time set by `events`.
async fn ordered_door(
    name: &str,
    events: &[(&str, Option<&str>, i32)],
) -> (Arc<InboxDb>, WorkerDb) {
    let table = format!("door_{name}_{}", std::process::id());
    let inbox = Inbox::builder(plan_check::test_database_url())
        .table(&table)
        .in_job_order()
        .build()
        .unwrap();
    let keys: Vec<&str> = events.iter().map(|(key, ..)| *key).collect();
    store_rows(&inbox, &keys).await;
    let db = Arc::clone(&inbox.shared.db);
    for (key, job, second) in events {
        set_event(&db, key, *job, *second).await;
    }
    let pool = db.pool.clone();
    let worker = WorkerDb::new(Arc::clone(&db), pool.clone(), pool, Some(750), None);
    (db, worker)
}

/// Sets `key`'s Gemini job and envelope time (`second` past a fixed minute).
async fn set_event(db: &InboxDb, key: &str, job: Option<&str>, second: i32) {
    let second = f64::from(second);
    let table = &db.settings.table;
    plan_check::client()
        .await
        .execute(
            &format!(
                "UPDATE {table} SET job_key = $2, \
                   event_at = '2026-12-01T00:00:00Z'::timestamptz + $3 * interval '1 second' \
                 WHERE id = $1"
            ),
            &[&key, &job, &second],
        )
        .await
        .unwrap();
}

/// The keys a claim of up to 10 took, sorted.
async fn claimed_keys(door: &WorkerDb, lease: &str) -> Vec<String> {
    let mut keys: Vec<_> = door
        .claim(10, lease, LEASE_FOR)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.key)
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn in_job_order_a_claim_takes_only_the_first_pending_event_of_each_job() {
    let (_db, door) = ordered_door(
        "order",
        &[
            ("a_late", Some("interaction:a"), 2),
            ("a_early", Some("interaction:a"), 1),
            ("b", Some("batch:b"), 3),
            ("no_job", None, 0),
        ],
    )
    .await;
    assert_eq!(claimed_keys(&door, "l1").await, ["a_early", "b", "no_job"]);
    assert!(claimed_keys(&door, "l2").await.is_empty(), "a_late waits");
    let connection = door.begin("a_early", "l1", 60_000).await.unwrap().unwrap();
    door.start("a_early", "l1").await.unwrap();
    door.complete(&connection, "a_early", "l1").await.unwrap();
    assert_eq!(claimed_keys(&door, "l3").await, ["a_late"]);
}

#[tokio::test]
async fn in_job_order_an_event_arriving_late_waits_for_the_running_one() {
    let (db, door) = ordered_door("late", &[("a_second", Some("interaction:a"), 2)]).await;
    assert_eq!(claimed_keys(&door, "l1").await, ["a_second"]);
    let running = door.begin("a_second", "l1", 60_000).await.unwrap().unwrap();
    // The earlier event arrives while the later one runs: first of its job
    // now, so claimed, but its transaction cannot take the job's lock.
    store_rows_in(&db, &["a_first"]).await;
    set_event(&db, "a_first", Some("interaction:a"), 1).await;
    assert_eq!(claimed_keys(&door, "l2").await, ["a_first"]);
    assert!(
        door.begin("a_first", "l2", 60_000).await.unwrap().is_none(),
        "held back"
    );
    door.start("a_second", "l1").await.unwrap();
    door.complete(&running, "a_second", "l1").await.unwrap();
    lapse(&db, "a_first").await;
    assert_eq!(claimed_keys(&door, "l3").await, ["a_first"]);
    assert!(door.begin("a_first", "l3", 60_000).await.unwrap().is_some());
}

/// Stores rows with an empty body under `keys` in `db`'s table.
async fn store_rows_in(db: &InboxDb, keys: &[&str]) {
    let table = &db.settings.table;
    let client = plan_check::client().await;
    for key in keys {
        client
            .execute(
                &format!(
                    "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body) \
                     VALUES ($1, $1, 0, 'secret:0', '{{}}')"
                ),
                &[key],
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn requeue_runs_a_dead_letter_again_and_requeue_all_every_one() {
    let inbox = inbox_holding("requeue", &["a", "b", "c", "done"]).await;
    let db = Arc::clone(&inbox.shared.db);
    for key in ["a", "b", "c"] {
        finish(&db, key, "dead", "batch.failed", 0.0).await;
    }
    finish(&db, "done", "done", "batch.succeeded", 0.0).await;
    assert!(inbox.requeue("a").await.unwrap());
    assert_eq!(row(&db, "a").await, ("pending".to_owned(), 0));
    assert!(!inbox.requeue("a").await.unwrap(), "no longer dead");
    assert!(!inbox.requeue("done").await.unwrap(), "done, not dead");
    assert_eq!(inbox.requeue_all().await.unwrap(), 2);
    assert_eq!(inbox.requeue_all().await.unwrap(), 0);
    assert_eq!(row(&db, "done").await.0, "done");
}

#[test]
fn the_builder_shows_its_settings_never_the_url() {
    let builder = Inbox::builder("postgres://app:hunter2@db.internal/app").in_job_order();
    let shown = format!("{builder:?}");
    assert!(shown.starts_with("InboxBuilder {"), "{shown}");
    assert!(
        shown.contains("keep_done") && shown.contains("in_job_order: true"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn the_inbox_pauses_resumes_and_drains_at_a_rate_through_its_gate() {
    let inbox = inbox_holding("inbox_gate", &["a"]).await;
    let worker = inbox.worker(|_: gemini_webhooks::Delivery| async { Ok::<_, std::io::Error>(()) });
    inbox.pause().await.unwrap();
    assert_eq!(inbox.gate().await.unwrap(), Gate::PAUSED);
    assert_eq!(worker.run_once().await.unwrap().claimed, 0, "paused");
    let five = std::num::NonZeroU32::new(5).unwrap();
    inbox.resume_at(five).await.unwrap();
    assert_eq!(inbox.gate().await.unwrap(), Gate::rate(five));
    inbox.set_gate(Gate::PAUSED).await.unwrap();
    assert!(inbox.gate().await.unwrap().paused);
    inbox.resume().await.unwrap();
    assert_eq!(inbox.gate().await.unwrap(), Gate::OPEN);
    assert_eq!(worker.run_once().await.unwrap().handled, 1);
}

#[tokio::test]
async fn each_inbox_has_a_gate_of_its_own() {
    let paused = inbox_holding("gate_one", &["a"]).await;
    let open = inbox_holding("gate_two", &["a"]).await;
    paused.pause().await.unwrap();
    assert_eq!(open.gate().await.unwrap(), Gate::OPEN);
    let worker = open.worker(|_: gemini_webhooks::Delivery| async { Ok::<_, std::io::Error>(()) });
    assert_eq!(
        worker.run_once().await.unwrap().handled,
        1,
        "the other inbox runs on"
    );
    assert_eq!(paused.gate().await.unwrap(), Gate::PAUSED);
}

/// A text search reads a window of the newest jobs at a time: a window
/// with no match is a short (even empty) page whose `next` resumes below
/// it, until the match and then the inbox's end.
#[tokio::test]
async fn a_text_search_goes_back_one_window_at_a_time() {
    let inbox = inbox_holding("search_window", &["k1", "k2", "k3", "k4", "k5"]).await;
    let filter = crate::inbox::JobFilter::every_state().text("K2");
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = inbox
            .browse_in_windows(&filter, after.as_ref(), 10, 2)
            .await
            .unwrap();
        pages.push(
            page.jobs
                .iter()
                .map(|job| job.key.clone())
                .collect::<Vec<_>>(),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // Newest first (same reception: by key): [k5 k4] [k3 k2] [k1].
    assert_eq!(pages, [vec![], vec!["k2".to_owned()], vec![]]);
    let whole = inbox.browse_in_windows(&filter, None, 10, 6).await.unwrap();
    assert_eq!(
        (whole.jobs.len(), whole.next),
        (1, None),
        "a window wider than the inbox"
    );
    let full = inbox
        .browse_in_windows(
            &crate::inbox::JobFilter::every_state().text("k"),
            None,
            2,
            4,
        )
        .await
        .unwrap();
    let keys: Vec<_> = full.jobs.iter().map(|job| job.key.as_str()).collect();
    assert_eq!(keys, ["k5", "k4"]);
    assert_eq!(
        full.next.map(|next| next.key).as_deref(),
        Some("k4"),
        "more matches than the page"
    );
}

/// A page as long as what is left has no `next`; capped counts stop at
/// their cap; a polled row reads as the poll's.
#[tokio::test]
async fn pages_end_where_the_jobs_do_and_counts_stop_at_their_cap() {
    let inbox = inbox_holding("browse_end", &["k1", "k2", "k3"]).await;
    let every = crate::inbox::JobFilter::every_state();
    assert_eq!(inbox.browse(&every, None, 3).await.unwrap().next, None);
    let two = inbox.browse(&every, None, 2).await.unwrap();
    assert_eq!(two.next.map(|next| next.key).as_deref(), Some("k2"));
    let counts = inbox.counts_up_to(2).await.unwrap();
    assert_eq!((counts.pending, counts.done, counts.dead), (2, 0, 0));
    assert_eq!(inbox.counts_up_to(10).await.unwrap().pending, 3);
    let db = Arc::clone(&inbox.shared.db);
    let sql = format!(
        "UPDATE {} SET verified_by = 'poll' WHERE id = 'k1'",
        db.settings.table
    );
    db.run("mark polled", |client| async move {
        client.execute(&sql, &[]).await
    })
    .await
    .unwrap();
    let origin = |key: &'static str| {
        let inbox = inbox.clone();
        async move { inbox.job(key).await.unwrap().unwrap().origin }
    };
    assert_eq!(origin("k1").await, crate::inbox::Origin::Poll);
    assert_eq!(origin("k2").await, crate::inbox::Origin::Webhook);
    let activity = inbox.activity().await.unwrap();
    let received: u64 = activity.minutes.iter().map(|minute| minute.received).sum();
    assert_eq!(received, 3);
    assert!(activity.oldest_pending.is_some());
}

/// What a reconciler saw of its watched webhook is kept, latest state
/// only, for the dashboard.
#[cfg(feature = "reconcile")]
#[tokio::test]
async fn a_watched_webhooks_latest_state_is_kept() {
    use crate::reconcile::{Reconciler, Tracking};
    let inbox = inbox_holding("watched", &[]).await;
    let client = gemini_webhooks_api::GeminiClient::new("AIzaUnused").unwrap();
    let reconciler = Reconciler::new(&inbox, client);
    let tracking = Tracking::new(&inbox);
    assert!(tracking.webhooks().await.unwrap().is_empty());
    reconciler.record_webhook("wh_1", "enabled").await.unwrap();
    reconciler
        .record_webhook("wh_1", "disabled_due_to_failed_deliveries")
        .await
        .unwrap();
    let watched = tracking.webhooks().await.unwrap();
    let seen: Vec<_> = watched
        .iter()
        .map(|w| (w.webhook.as_str(), w.state.as_str()))
        .collect();
    assert_eq!(seen, [("wh_1", "disabled_due_to_failed_deliveries")]);
    let other = inbox_holding("watched_other", &[]).await;
    assert!(
        Tracking::new(&other).webhooks().await.unwrap().is_empty(),
        "each inbox its own"
    );
}
