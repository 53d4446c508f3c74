//! Every statement of tracking and reconciliation, in one place. The
//! tracked jobs' table is created with the inbox's (`inbox::sql::schema`);
//! ingest marks the jobs its events name (`inbox::sql::insert`).
//!
//! A round of the reconciler, in one transaction: **claim** due open jobs
//! (`FOR UPDATE SKIP LOCKED`: replicas share the work, a crashed one's
//! locks go with its connection), poll them, then for each **store** the
//! completion (`ON CONFLICT DO NOTHING`: a webhook's copy, stored first,
//! wins) and **close** the job, or **reschedule** it; all commit
//! together, so a completion is stored exactly when its job is closed.

/// `$1` the job key, `$2` the resource, `$3` its `user_metadata` (JSON
/// text), `$4` the expected wait (ms), `$5` the horizon (ms), `$6` whether
/// the wait is the kind's default. A job tracked twice keeps its first row;
/// a job only remembered as ended by its webhook becomes tracked, and stays
/// done (never polled).
pub(super) fn track(tracked: &str) -> String {
    format!(
        "INSERT INTO {tracked} (job_key, resource, user_metadata, expect_within_ms, \
           default_deadline, deadline, horizon, next_poll_at) \
         VALUES ($1, $2, $3, $4, $6, now() + $4 * interval '1 millisecond', \
           now() + $5 * interval '1 millisecond', now() + $4 * interval '1 millisecond') \
         ON CONFLICT (job_key) DO UPDATE SET tracked = true, resource = excluded.resource, \
           user_metadata = excluded.user_metadata, tracked_at = now() \
         WHERE NOT {tracked}.tracked"
    )
}

/// Job `$1` open again after it was abandoned, polled now, its horizon
/// `$2` ms from now at the earliest.
pub(super) fn reopen(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET state = 'open', closed_at = NULL, failures = 0, last_error = NULL, \
           next_poll_at = now(), \
           horizon = greatest(horizon, now() + $2 * interval '1 millisecond') \
         WHERE job_key = $1 AND state = 'abandoned'"
    )
}

/// Jobs tracked with their kind's default wait get the reconciler's own
/// (`$1` ms) instead, once.
pub(super) fn override_default(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET expect_within_ms = $1, default_deadline = false, \
           deadline = tracked_at + $1 * interval '1 millisecond', \
           next_poll_at = CASE WHEN polls = 0 AND failures = 0 \
             THEN tracked_at + $1 * interval '1 millisecond' ELSE next_poll_at END \
         WHERE default_deadline AND state = 'open'"
    )
}

/// Up to `$1` due open jobs, locked until the round commits.
pub(super) fn claim(tracked: &str) -> String {
    format!(
        "SELECT job_key, resource, user_metadata, polls, failures, \
           horizon <= now() AS past_horizon, last_error \
         FROM {tracked} WHERE state = 'open' AND next_poll_at <= now() \
         ORDER BY next_poll_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    )
}

/// A polled event into inbox `table`: `$1` the replay key (also the
/// webhook id), `$2` the unix time, `$3` the body, `$4` the completion key.
/// Returns a row when it was stored (no copy was there first).
pub(super) fn store(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, completion_key) \
         VALUES ($1, $1, $2, 'poll', $3, $4) ON CONFLICT DO NOTHING RETURNING id"
    )
}

/// Closes job `$1`: `$2` its last state, `$3` whether the poll stored the
/// completion (else a webhook had).
pub(super) fn close(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET state = 'done', closed_at = now(), polls = polls + 1, \
           last_status = $2, last_error = NULL, \
           origin = CASE WHEN $3 THEN 'poll' ELSE 'webhook' END \
         WHERE job_key = $1"
    )
}

/// Job `$1` polled again in `$3` ms: `$2` its state.
pub(super) fn reschedule(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET polls = polls + 1, failures = 0, last_status = $2, \
           last_error = NULL, next_poll_at = now() + $3 * interval '1 millisecond' \
         WHERE job_key = $1"
    )
}

/// Job `$1`'s poll failed with `$2`: tried again in `$3` ms.
pub(super) fn failed(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET failures = failures + 1, last_error = $2, \
           next_poll_at = now() + $3 * interval '1 millisecond' \
         WHERE job_key = $1"
    )
}

/// Job `$1` given up at its horizon, not ended: `$2` its last state, `$3`
/// the last error.
pub(super) fn abandon(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET state = 'abandoned', closed_at = now(), \
           last_status = coalesce($2, last_status), last_error = $3 \
         WHERE job_key = $1"
    )
}

/// Tracked jobs by state: open, open and overdue (unpolled past the
/// deadline), done by webhook, done by poll, abandoned.
pub(super) fn counts(tracked: &str) -> String {
    format!(
        "SELECT count(*) FILTER (WHERE state = 'open') AS open, \
           count(*) FILTER (WHERE state = 'open' AND polls = 0 AND failures = 0 \
             AND next_poll_at <= now()) AS overdue, \
           count(*) FILTER (WHERE state = 'done' AND origin = 'webhook') AS by_webhook, \
           count(*) FILTER (WHERE state = 'done' AND origin = 'poll') AS by_poll, \
           count(*) FILTER (WHERE state = 'abandoned') AS abandoned \
         FROM {tracked} WHERE tracked"
    )
}

/// Every open job due now: the endpoint stopped delivering.
pub(super) fn due_now(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET next_poll_at = now() \
         WHERE state = 'open' AND next_poll_at > now()"
    )
}
