//! Every statement of tracking and reconciliation, in one place: the
//! tracked jobs' table (created with the inbox's, [`super::schema`]), the
//! marks ingest makes in its own statement ([`ingest_ctes`]), the
//! housekeeping, and the reconciler's round. Compiled with the inbox
//! whether or not reconciliation is (feature `reconcile`): ingest closes tracked
//! jobs either way.
//!
//! A round of the reconciler, in one transaction: **claim** due open jobs
//! (`FOR UPDATE SKIP LOCKED`: replicas share the work, a crashed one's
//! locks go with its connection), poll them, then for each **store** the
//! completion (`ON CONFLICT DO NOTHING`: a webhook's copy, stored first,
//! wins) and **close** the job, or **reschedule** it; all commit
//! together, so a completion is stored exactly when its job is closed.

#![cfg_attr(not(feature = "reconcile"), allow(dead_code))]

use super::CLEANUP_BATCH;
use crate::connection::derived_name;

/// The suffixes of the tracked table and its indexes, each declared once,
/// here beside the DDL that uses it.
const TABLE: &str = "tracked";
const DUE: &str = "tracked_due";
const DEFAULT: &str = "tracked_default";
const CLOSED: &str = "tracked_closed";
const WEBHOOKS: &str = "webhooks";

/// Every name derived from the inbox table for tracking.
pub(super) const DERIVED: [&str; 5] = [TABLE, DUE, DEFAULT, CLOSED, WEBHOOKS];

/// How long a job ended by a webhook is remembered in the tracked table,
/// tracked or not: at least the longest reconcile horizon (a batch's
/// 72 h), so a job tracked after its webhook was handled (even once its
/// done row is gone, after 25 h) is found done and never polled.
const ENDINGS_REMEMBERED_FOR: &str = "72 hours";

/// How long a closed tracked row (done or abandoned) is kept past its
/// horizon before the workers' housekeeping removes it.
const TRACKED_KEPT_PAST_HORIZON: &str = "24 hours";

/// The table of tracked jobs beside inbox `table` (same schema).
pub(crate) fn tracked_table(table: &str) -> String {
    format!("{table}_{TABLE}")
}

/// The table of the webhooks reconcilers watch, beside inbox `table`:
/// each one's state at its last check.
fn webhooks_table(table: &str) -> String {
    format!("{table}_{WEBHOOKS}")
}

/// Records watched webhook `$1`'s state `$2` as checked now.
pub(crate) fn record_webhook(table: &str) -> String {
    format!(
        "INSERT INTO {webhooks} (webhook, state) VALUES ($1, $2) \
         ON CONFLICT (webhook) DO UPDATE SET state = $2, checked_at = now()",
        webhooks = webhooks_table(table)
    )
}

/// Every watched webhook's last seen state.
pub(crate) fn webhooks(table: &str) -> String {
    format!(
        "SELECT webhook, state, checked_at FROM {webhooks} ORDER BY webhook",
        webhooks = webhooks_table(table)
    )
}

/// The tracked table and its indexes (idempotent). `tracked` is false for
/// a job only remembered as ended (its ending came by webhook and nobody
/// tracked it): a later `track` finds it done.
pub(super) fn schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {tracked} (\n\
         \x20   job_key TEXT PRIMARY KEY,\n\
         \x20   resource TEXT NOT NULL,\n\
         \x20   user_metadata TEXT,\n\
         \x20   state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'abandoned')),\n\
         \x20   origin TEXT,\n\
         \x20   expect_within_ms DOUBLE PRECISION NOT NULL,\n\
         \x20   default_deadline BOOLEAN NOT NULL DEFAULT false,\n\
         \x20   deadline TIMESTAMPTZ NOT NULL,\n\
         \x20   horizon TIMESTAMPTZ NOT NULL,\n\
         \x20   next_poll_at TIMESTAMPTZ NOT NULL,\n\
         \x20   polls INTEGER NOT NULL DEFAULT 0,\n\
         \x20   failures INTEGER NOT NULL DEFAULT 0,\n\
         \x20   last_status TEXT,\n\
         \x20   last_error TEXT,\n\
         \x20   tracked_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n\
         \x20   closed_at TIMESTAMPTZ\n\
         );\n\
         ALTER TABLE {tracked} ADD COLUMN IF NOT EXISTS tracked BOOLEAN NOT NULL DEFAULT true;\n\
         CREATE INDEX IF NOT EXISTS {tracked_due} ON {tracked} (next_poll_at) WHERE state = 'open';\n\
         CREATE INDEX IF NOT EXISTS {tracked_default} ON {tracked} (job_key) \
           WHERE default_deadline AND state = 'open';\n\
         CREATE INDEX IF NOT EXISTS {tracked_closed} ON {tracked} (horizon) WHERE state <> 'open';\n\
         CREATE TABLE IF NOT EXISTS {webhooks} (\n\
         \x20   webhook TEXT PRIMARY KEY,\n\
         \x20   state TEXT NOT NULL,\n\
         \x20   checked_at TIMESTAMPTZ NOT NULL DEFAULT now()\n\
         );",
        webhooks = webhooks_table(table),
        tracked = tracked_table(table),
        tracked_due = derived_name(table, DUE),
        tracked_default = derived_name(table, DEFAULT),
        tracked_closed = derived_name(table, CLOSED),
    )
}

/// The parts of ingest's `INSERT` (after its `inserted` part) that mark
/// the tracked jobs the batch's events name: closed by a completion (the
/// job keys in `$ended`), their deadline pushed out by any other event
/// (`$deferred`); a job ended and not tracked is remembered as done
/// ([`ENDINGS_REMEMBERED_FOR`]). Rows a reconciler holds are skipped, not
/// waited for: its poll finds the completion stored and closes the job
/// itself.
pub(super) fn ingest_ctes(table: &str, ended: &str, deferred: &str) -> String {
    let tracked = tracked_table(table);
    format!(
        "closed AS (\
           UPDATE {tracked} SET state = 'done', origin = 'webhook', closed_at = now() \
           WHERE job_key IN (SELECT job_key FROM {tracked} WHERE job_key = ANY({ended}::text[]) \
             AND state = 'open' FOR UPDATE SKIP LOCKED)), \
         remembered AS (\
           INSERT INTO {tracked} (job_key, resource, state, origin, expect_within_ms, \
             deadline, horizon, next_poll_at, closed_at, tracked) \
           SELECT DISTINCT job_key, job_key, 'done', 'webhook', 0, now(), \
             now() + interval '{ENDINGS_REMEMBERED_FOR}', now(), now(), false \
           FROM unnest({ended}::text[]) AS ended(job_key) \
           ON CONFLICT (job_key) DO NOTHING), \
         deferred AS (\
           UPDATE {tracked} \
           SET next_poll_at = now() + expect_within_ms * interval '1 millisecond' \
           WHERE job_key IN (SELECT job_key FROM {tracked} WHERE job_key = ANY({deferred}::text[]) \
             AND state = 'open' FOR UPDATE SKIP LOCKED))"
    )
}

/// Deletes one batch of closed tracked rows (done, abandoned, remembered)
/// past their horizon by [`TRACKED_KEPT_PAST_HORIZON`]; open ones stay
/// (the reconciler abandons them at their horizon).
pub(crate) fn cleanup(table: &str) -> String {
    let tracked = tracked_table(table);
    format!(
        "DELETE FROM {tracked} WHERE job_key IN (SELECT job_key FROM {tracked} \
         WHERE state <> 'open' AND horizon < now() - interval '{TRACKED_KEPT_PAST_HORIZON}' \
         LIMIT {CLEANUP_BATCH})"
    )
}

/// `$1` the job key, `$2` the resource, `$3` its `user_metadata` (JSON
/// text), `$4` the expected wait (ms), `$5` the horizon (ms), `$6` whether
/// the wait is the kind's default. A job tracked twice keeps its first row;
/// a job only remembered as ended by its webhook becomes tracked, and stays
/// done (never polled).
pub(crate) fn track(tracked: &str) -> String {
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
pub(crate) fn reopen(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET state = 'open', closed_at = NULL, failures = 0, last_error = NULL, \
           next_poll_at = now(), \
           horizon = greatest(horizon, now() + $2 * interval '1 millisecond') \
         WHERE job_key = $1 AND state = 'abandoned'"
    )
}

/// Jobs tracked with their kind's default wait get the reconciler's own
/// (`$1` ms) instead, once.
pub(crate) fn override_default(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET expect_within_ms = $1, default_deadline = false, \
           deadline = tracked_at + $1 * interval '1 millisecond', \
           next_poll_at = CASE WHEN polls = 0 AND failures = 0 \
             THEN tracked_at + $1 * interval '1 millisecond' ELSE next_poll_at END \
         WHERE default_deadline AND state = 'open'"
    )
}

/// Up to `$1` due open jobs, locked until the round commits.
pub(crate) fn claim(tracked: &str) -> String {
    format!(
        "SELECT job_key, resource, user_metadata, polls, failures, \
           horizon <= now() AS past_horizon, last_error \
         FROM {tracked} WHERE state = 'open' AND next_poll_at <= now() \
         ORDER BY next_poll_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    )
}

/// A polled event into inbox `table`: `$1` the replay key (also the
/// webhook id), `$2` the unix time (also the event's), `$3` the body, `$4`
/// the completion key, `$5` the event type, `$6` the job's key, `$7` the
/// round's trace context. Returns a row when it was stored (no copy was
/// there first).
pub(crate) fn store(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, completion_key, \
           event_type, job_key, event_at, trace_context) \
         VALUES ($1, $1, $2, 'poll', $3, $4, $5, $6, to_timestamp($2::int8), $7) \
         ON CONFLICT DO NOTHING RETURNING id"
    )
}

/// Closes job `$1`: `$2` its last state, `$3` whether the poll stored the
/// completion (else a webhook had).
pub(crate) fn close(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET state = 'done', closed_at = now(), polls = polls + 1, \
           last_status = $2, last_error = NULL, \
           origin = CASE WHEN $3 THEN 'poll' ELSE 'webhook' END \
         WHERE job_key = $1"
    )
}

/// Job `$1` polled again in `$3` ms: `$2` its state.
pub(crate) fn reschedule(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET polls = polls + 1, failures = 0, last_status = $2, \
           last_error = NULL, next_poll_at = now() + $3 * interval '1 millisecond' \
         WHERE job_key = $1"
    )
}

/// Job `$1`'s poll failed with `$2`: tried again in `$3` ms.
pub(crate) fn failed(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET failures = failures + 1, last_error = $2, \
           next_poll_at = now() + $3 * interval '1 millisecond' \
         WHERE job_key = $1"
    )
}

/// Job `$1` given up at its horizon, not ended: `$2` its last state, `$3`
/// the last error.
pub(crate) fn abandon(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET state = 'abandoned', closed_at = now(), \
           last_status = coalesce($2, last_status), last_error = $3 \
         WHERE job_key = $1"
    )
}

/// Tracked jobs by state: open, open and overdue (unpolled past the
/// deadline), done by webhook, done by poll, abandoned.
pub(crate) fn counts(tracked: &str) -> String {
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

/// Tracked jobs in state `$1` (all when NULL), the latest tracked first,
/// at most `$2`.
pub(crate) fn list(tracked: &str) -> String {
    format!(
        "SELECT job_key, resource, state, origin, deadline, horizon, next_poll_at, polls, \
           failures, last_status, last_error, tracked_at, closed_at \
         FROM {tracked} WHERE tracked AND ($1::text IS NULL OR state = $1) \
         ORDER BY tracked_at DESC, job_key LIMIT $2"
    )
}

/// Job `$1` no longer tracked: an open or abandoned row is removed; a done
/// one is kept as a remembered ending (a later `track` finds it done).
/// Returns `untracked`.
pub(crate) fn untrack(tracked: &str) -> String {
    format!(
        "WITH removed AS (\
           DELETE FROM {tracked} WHERE job_key = $1 AND tracked AND state <> 'done' RETURNING 1), \
         forgotten AS (\
           UPDATE {tracked} SET tracked = false \
           WHERE job_key = $1 AND tracked AND state = 'done' RETURNING 1) \
         SELECT (SELECT count(*) FROM removed) + (SELECT count(*) FROM forgotten) AS untracked"
    )
}

/// Every open job due now: the endpoint stopped delivering.
pub(crate) fn due_now(tracked: &str) -> String {
    format!(
        "UPDATE {tracked} SET next_poll_at = now() \
         WHERE state = 'open' AND next_poll_at > now()"
    )
}
