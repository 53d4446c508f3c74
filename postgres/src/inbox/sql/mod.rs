//! Every statement of the inbox, in one place: the table (`schema`), the
//! batched insert of ingest, the administration (dead letters, requeue,
//! counts, cleanup, `NOTIFY`), and the statements of a worker's protocol
//! ([`JobSql`], built once per worker; they name its table), which the
//! worker's loop and a job's attempt run.
//!
//! The protocol, as `model/inbox.pml` checks it:
//!
//! - **claim** (autocommit, bounded by the server's `statement_timeout`):
//!   as many due jobs as the [`gate`] allows (none while paused); a due
//!   `pending` row gets a fresh lease token and `run_at` = now +
//!   lease. No attempt is counted: a claim whose answer is lost costs one
//!   lease, nothing more.
//! - **begin** (the job's own transaction): the row is locked `FOR KEY
//!   SHARE` if the lease is still ours. Claims (`FOR UPDATE SKIP LOCKED`)
//!   skip a locked row, while the lease's renewals and the attempt count,
//!   which change no key, pass through the lock.
//! - **start** (autocommit): the attempt is counted, committed before the
//!   handler runs, so a handler that kills its worker every time still
//!   reaches the dead letters.
//! - **renew** (autocommit, every third of the lease): `run_at` pushed
//!   out for every job the worker still holds.
//! - **complete** (the job's transaction): marked done, committed with the
//!   handler's writes. **fail** / **release** (autocommit): the lease
//!   dropped, the job due again (or dead).
//!
//! A lease is set only on a `pending` row, and every way out of `pending`
//! (done, failed for good, requeued) clears it: so `lease = $2` implies
//! `pending`, and no statement repeats `state = 'pending'`, which matches
//! the due index's predicate and makes the plan PostgreSQL keeps from a
//! small table scan that whole index (`plan_check` catches it).

pub(crate) mod browse;
pub(crate) mod gate;
pub(crate) mod redrive;
pub(crate) mod tracked;

use crate::connection::derived_name;

/// The suffixes of the index names derived from an inbox table, and of
/// its channel: each declared once, here beside the DDL that uses it.
const DUE: &str = "due";
const FINISHED: &str = "finished";
const COMPLETION: &str = "completion";
const ORDERED: &str = "ordered";
const BROWSE: &str = "browse";
const FAILED: &str = "failed";
const CHANNEL: &str = "new";

/// Every name derived from an inbox table (the builder checks that each
/// fits PostgreSQL's 63 bytes), the tracked table's included.
pub(in crate::inbox) const DERIVED: [&str; 13] = [
    gate::TABLE,
    ORDERED,
    BROWSE,
    FAILED,
    DUE,
    FINISHED,
    COMPLETION,
    CHANNEL,
    tracked::DERIVED[0],
    tracked::DERIVED[1],
    tracked::DERIVED[2],
    tracked::DERIVED[3],
    tracked::DERIVED[4],
];

/// The channel workers are woken on: `<table>_new`.
pub(in crate::inbox) fn channel(table: &str) -> String {
    derived_name(table, CHANNEL)
}

/// The tables and their indexes (idempotent): what `Inbox::schema_sql`
/// gives. An inbox table made by a version before completion keys gains
/// its column and index here. In the tracked table, `tracked` is false for
/// a job only remembered as ended (its ending came by webhook and nobody
/// tracked it): a later `track` finds it done.
pub(super) fn schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n\
         \x20   id TEXT PRIMARY KEY,\n\
         \x20   webhook_id TEXT NOT NULL,\n\
         \x20   signed_at BIGINT NOT NULL,\n\
         \x20   verified_by TEXT NOT NULL,\n\
         \x20   jwt_claims TEXT,\n\
         \x20   body BYTEA NOT NULL,\n\
         \x20   state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),\n\
         \x20   attempts INTEGER NOT NULL DEFAULT 0,\n\
         \x20   run_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n\
         \x20   lease TEXT,\n\
         \x20   received_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n\
         \x20   failed_at TIMESTAMPTZ,\n\
         \x20   finished_at TIMESTAMPTZ,\n\
         \x20   last_error TEXT,\n\
         \x20   completion_key TEXT,\n\
         \x20   event_type TEXT,\n\
         \x20   job_key TEXT,\n\
         \x20   event_at TIMESTAMPTZ,\n\
         \x20   trace_context TEXT\n\
         );\n\
         ALTER TABLE {table} ADD COLUMN IF NOT EXISTS completion_key TEXT;\n\
         ALTER TABLE {table} ADD COLUMN IF NOT EXISTS event_type TEXT;\n\
         ALTER TABLE {table} ADD COLUMN IF NOT EXISTS job_key TEXT;\n\
         ALTER TABLE {table} ADD COLUMN IF NOT EXISTS event_at TIMESTAMPTZ;\n\
         ALTER TABLE {table} ADD COLUMN IF NOT EXISTS trace_context TEXT;\n\
         CREATE INDEX IF NOT EXISTS {due} ON {table} (run_at) WHERE state = 'pending';\n\
         CREATE INDEX IF NOT EXISTS {finished} ON {table} (finished_at) WHERE state = 'done';\n\
         CREATE UNIQUE INDEX IF NOT EXISTS {completion} ON {table} (completion_key) \
           WHERE completion_key IS NOT NULL;\n\
         CREATE INDEX IF NOT EXISTS {ordered} ON {table} (job_key, event_at, id) \
           WHERE state = 'pending' AND job_key IS NOT NULL;\n\
         {browse}\n\
         {rekey}\n\
         {tracked}\n\
         {gate}",
        due = derived_name(table, DUE),
        finished = derived_name(table, FINISHED),
        completion = derived_name(table, COMPLETION),
        ordered = derived_name(table, ORDERED),
        browse = browse::indexes(table),
        rekey = rekey_completions(table),
        tracked = tracked::schema(table),
        gate = gate::schema(table),
    )
}

/// Completion keys of endings stored before they were keyed per job
/// (`batch.succeeded:b1`) become the job's key (`batch:b1`), so a later
/// ending of another type is still a no-op. One row per job is re-keyed;
/// a second ending of one job, stored by that older version, keeps its old
/// key. A no-op once done; it reads the completion keys each time the
/// schema is created (at start-up), never per delivery.
fn rekey_completions(table: &str) -> String {
    let terminal = gemini_webhooks::event::EventType::ALL
        .iter()
        .filter(|event_type| event_type.ends_job())
        .map(|event_type| format!("'{event_type}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let job_key =
        "split_part(completion_key, '.', 1) || substr(completion_key, strpos(completion_key, ':'))";
    format!(
        "UPDATE {table} SET completion_key = {job_key} WHERE id IN (\
           SELECT DISTINCT ON (job_key) id FROM (\
             SELECT id, {job_key} AS job_key FROM {table} \
             WHERE completion_key IS NOT NULL \
               AND split_part(completion_key, ':', 1) IN ({terminal})) AS old \
           WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE completion_key = old.job_key) \
           ORDER BY job_key, id);"
    )
}

/// The batch `INSERT` into `table`, built once per inbox: a completion
/// already stored under another replay key (another webhook id, a poll) is
/// a conflict too, so nothing is written. In the same statement, the
/// tracked jobs the batch's events name are marked: closed by a completion
/// (`$8`), their deadline pushed out by any other event (`$9`); a job
/// ended and not tracked is remembered as done ([`ENDINGS_REMEMBERED_FOR`]). Rows a
/// reconciler holds are skipped, not waited for: its poll finds the
/// completion stored and closes the job itself. Returns one row: the keys
/// stored, and how many of the batch's completions a poll had stored
/// first (late webhooks).
pub(super) fn insert(table: &str) -> String {
    format!(
        "WITH inserted AS (\
           INSERT INTO {table} (id, webhook_id, signed_at, verified_by, jwt_claims, body, \
             completion_key, event_type, job_key, event_at, trace_context) \
           SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], \
             $6::bytea[], $7::text[], $10::text[], $11::text[], $12::timestamptz[], \
             $13::text[]) \
           ON CONFLICT DO NOTHING RETURNING id), \
         {tracking} \
         SELECT ARRAY(SELECT id FROM inserted) AS inserted, \
           (SELECT count(*) FROM {table} WHERE completion_key = ANY($7::text[]) \
             AND verified_by = 'poll') AS late",
        tracking = tracked::ingest_ctes(table, "$8", "$9"),
    )
}

/// Wakes the workers `LISTEN`ing on `channel`.
pub(super) fn notify(channel: &str) -> String {
    format!("NOTIFY {channel}")
}

/// What a worker runs to be woken on `channel`.
pub(super) fn listen(channel: &str) -> String {
    format!("LISTEN {channel}")
}

/// How many rows one cleanup deletes at most.
pub(super) const CLEANUP_BATCH: i64 = 1_000;

/// Deletes one batch of done rows older than `$1` milliseconds.
pub(super) fn cleanup(table: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE state = 'done' \
         AND finished_at < now() - $1 * interval '1 millisecond' LIMIT {CLEANUP_BATCH})"
    )
}

/// Up to `$1` dead letters, oldest failure first, bodies included (the
/// columns of [`jobs`]).
pub(super) fn dead_letters(table: &str) -> String {
    format!(
        "SELECT {JOB_COLUMNS}, body FROM {table} WHERE state = 'dead' \
         ORDER BY failed_at, id LIMIT $1"
    )
}

/// The finished job (`$2`: `dead` or `done`) with replay key `$1` (every
/// one when `$1` is NULL) made pending again from attempt 1, the workers
/// woken; returns `requeued`.
pub(super) fn requeue(table: &str, channel: &str) -> String {
    format!(
        "WITH requeued AS (\
           UPDATE {table} SET state = 'pending', attempts = 0, run_at = now(), lease = NULL, \
             finished_at = NULL \
           WHERE ($1::text IS NULL OR id = $1) AND state = $2 AND state IN ('dead', 'done') \
           RETURNING 1) \
         SELECT (SELECT count(*) FROM requeued) AS requeued, pg_notify('{channel}', '')"
    )
}

/// Jobs by state: due, leased, done, dead.
pub(super) fn counts(table: &str) -> String {
    format!(
        "SELECT \
           count(*) FILTER (WHERE state = 'pending' AND (lease IS NULL OR run_at <= now())) \
             AS pending, \
           count(*) FILTER (WHERE state = 'pending' AND lease IS NOT NULL AND run_at > now()) \
             AS running, \
           count(*) FILTER (WHERE state = 'done') AS done, \
           count(*) FILTER (WHERE state = 'dead') AS dead \
         FROM {table}"
    )
}

/// See the [module documentation](self).
pub(super) struct JobSql {
    pub(super) claim: String,
    pub(super) claim_counted: String,
    /// The claims while a rate is set: they take tokens from the bucket.
    pub(super) claim_rated: String,
    pub(super) claim_counted_rated: String,
    /// Whether a rate is set (`rated`).
    pub(super) rated: String,
    pub(super) begin: String,
    pub(super) start: String,
    pub(super) renew: String,
    pub(super) complete: String,
    pub(super) complete_batch: String,
    pub(super) fail: String,
    pub(super) release: String,
}

impl JobSql {
    /// The statements on `table`; `in_job_order`: a claim takes a job only
    /// if no earlier event of its Gemini job is pending, and the job's
    /// transaction holds its Gemini job's lock while its handler runs.
    pub(super) fn new(table: &str, in_job_order: bool) -> Self {
        let order = if in_job_order {
            first_of_its_job(table)
        } else {
            String::new()
        };
        Self {
            // `$1` jobs at most (fewer as the gate allows), lease `$2` for
            // `$3` ms. Returns, besides the row, whether an earlier lease was
            // left on it (its worker died or lost its connection mid-attempt).
            claim: plain_claim(table, CLAIM_SET, "", &order, "t.attempts"),
            claim_counted: plain_claim(
                table,
                CLAIM_COUNTED_SET,
                ", attempts AS before",
                &order,
                "due.before",
            ),
            claim_rated: gated_claim(table, CLAIM_SET, "", &order, "t.attempts"),
            claim_counted_rated: gated_claim(
                table,
                CLAIM_COUNTED_SET,
                ", attempts AS before",
                &order,
                "due.before",
            ),
            rated: gate::rated(table),
            begin: begin(table, in_job_order),
            start: format!(
                "UPDATE {table} SET attempts = attempts + 1 \
                 WHERE id = $1 AND lease = $2 RETURNING attempts"
            ),
            // Run unprepared (planned with its arguments). The two `ANY`s are
            // as exact as pairs: lease tokens are random and this worker's
            // own, so a row with one of its keys and one of its leases is
            // one it claimed under that lease.
            renew: format!(
                "UPDATE {table} SET run_at = now() + $3 * interval '1 millisecond' \
                 WHERE id = ANY($1::text[]) AND lease = ANY($2::text[]) RETURNING id"
            ),
            complete: format!(
                "UPDATE {table} SET state = 'done', finished_at = now(), lease = NULL, \
                   last_error = NULL WHERE id = $1 AND lease = $2"
            ),
            // Many jobs at once, each still under its lease (pairs, as
            // `unnest` zips them); the keys marked.
            complete_batch: format!(
                "UPDATE {table} AS t SET state = 'done', finished_at = now(), lease = NULL, \
                   last_error = NULL \
                 FROM unnest($1::text[], $2::text[]) AS done(id, lease) \
                 WHERE t.id = done.id AND t.lease = done.lease RETURNING t.id"
            ),
            fail: format!(
                "UPDATE {table} SET state = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END, \
                   run_at = now() + $4 * interval '1 millisecond', lease = NULL, failed_at = now(), \
                   last_error = $5 \
                 WHERE id = $1 AND lease = $2 RETURNING state"
            ),
            // The attempt stays counted: a handler that hangs until every
            // shutdown still reaches the dead letters.
            release: format!(
                "UPDATE {table} SET run_at = now(), lease = NULL \
                 WHERE id = $1 AND lease = $2"
            ),
        }
    }
}

/// A claim's `SET`: lease `$2` for `$3` ms. It returns, besides the row,
/// whether an earlier lease was left on it (its worker died or lost its
/// connection mid-attempt).
const CLAIM_SET: &str = "lease = $2, run_at = now() + $3 * interval '1 millisecond'";

/// The `SET` of a worker that completes in batches, which has no `start`:
/// the claim counts the attempt, unless the `$4` allowed are used up (the
/// job is buried, not counted again), and returns the count before it.
const CLAIM_COUNTED_SET: &str = "lease = $2, run_at = now() + $3 * interval '1 millisecond', \
     attempts = CASE WHEN t.attempts < $4 THEN t.attempts + 1 ELSE t.attempts END";

/// A claim of up to `$1` due jobs of `table` while no rate is set: none
/// while paused (read in the same statement). `set`, `due_columns`,
/// `order` and `attempts` as for [`gated_claim`].
fn plain_claim(table: &str, set: &str, due_columns: &str, order: &str, attempts: &str) -> String {
    format!(
        "UPDATE {table} AS t SET {set} \
         FROM (SELECT id, lease AS left_lease{due_columns} FROM {table} AS d \
               WHERE state = 'pending' AND run_at <= now(){order} \
                 AND NOT EXISTS (SELECT 1 FROM {gate} WHERE paused) \
               ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS due \
         WHERE t.id = due.id \
         RETURNING t.id, t.webhook_id, t.signed_at, t.verified_by, t.jwt_claims, t.body, \
           {attempts} AS attempts, t.received_at, due.left_lease IS NOT NULL AS abandoned, \
           t.trace_context",
        gate = gate::gate_table(table),
    )
}

/// Locks the job's row `FOR KEY SHARE` if the lease is still ours; `free`:
/// in job order, the lock of the job's Gemini job, held by this
/// transaction until it ends (false: another event of the job is running;
/// the claim lapses and the job waits). The state is checked on the row
/// found, not in the WHERE clause: there it matches the due index's
/// predicate, and the plan PostgreSQL keeps from when the table was small
/// scans that whole index for every job.
fn begin(table: &str, in_job_order: bool) -> String {
    let free = if in_job_order {
        format!(
            "job_key IS NULL OR \
             pg_try_advisory_xact_lock(hashtextextended('{table}/' || job_key, 0))"
        )
    } else {
        "true".to_owned()
    };
    format!("SELECT state, {free} AS free FROM {table} WHERE id = $1 AND lease = $2 FOR KEY SHARE")
}

/// The claim's condition in job order: no earlier event of the job (by
/// envelope timestamp, then key) is pending, running or retrying. Rows
/// without a job or a timestamp are not ordered.
fn first_of_its_job(table: &str) -> String {
    format!(
        " AND (d.job_key IS NULL OR NOT EXISTS (SELECT 1 FROM {table} AS e \
           WHERE e.job_key = d.job_key AND e.state = 'pending' \
             AND (e.event_at, e.id) < (d.event_at, d.id)))"
    )
}

/// A claim of the due jobs of `table` that obeys the gate
/// ([`gate::claim_ctes`]): `set` is its `SET` list, `due_columns` what
/// else the due subquery reads, `order` what else a due job must meet,
/// `attempts` the attempt count it returns.
fn gated_claim(table: &str, set: &str, due_columns: &str, order: &str, attempts: &str) -> String {
    // The scan's LIMIT is the parameter, known when the statement is
    // planned, and the gate cuts its rows after: a LIMIT computed by a
    // subquery is estimated at a tenth of the table, and PostgreSQL then
    // joins by scanning the whole table (measured: 20 ms a claim on
    // 100,000 pending rows against 0.3 ms, and the inbox's flow at a fifth
    // of its speed). While paused, the scan reads nothing.
    format!(
        "WITH {gate}, \
         claimed AS (\
           UPDATE {table} AS t SET {set} \
           FROM (SELECT *, row_number() OVER () AS place FROM (\
                   SELECT id, lease AS left_lease{due_columns} FROM {table} AS d \
                   WHERE state = 'pending' AND run_at <= now(){order} \
                     AND NOT EXISTS (SELECT 1 FROM {gate_table} WHERE paused) \
                   ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS candidates) AS due \
           WHERE t.id = due.id AND due.place <= (SELECT jobs FROM allowed) \
           RETURNING t.id, t.webhook_id, t.signed_at, t.verified_by, t.jwt_claims, t.body, \
             {attempts} AS attempts, t.received_at, due.left_lease IS NOT NULL AS abandoned, \
             t.trace_context), \
         {charge} \
         SELECT * FROM claimed",
        gate = gate::claim_ctes(table),
        gate_table = gate::gate_table(table),
        charge = gate::charge(table),
    )
}

/// A row's state as shown: a pending row whose lease is still running is
/// `running`. (A macro, so `JOB_COLUMNS` can `concat!` it.)
macro_rules! shown_state {
    () => {
        "CASE WHEN state = 'pending' AND lease IS NOT NULL AND run_at > now() \
         THEN 'running' ELSE state END"
    };
}

/// [`shown_state!`] as a constant.
const SHOWN_STATE: &str = shown_state!();

/// The columns a job is shown with, `body` aside.
const JOB_COLUMNS: &str = concat!(
    "id, webhook_id, ",
    shown_state!(),
    " AS shown_state, attempts, last_error, received_at, run_at, failed_at, finished_at, \
     event_type, job_key, verified_by"
);

/// Jobs in the shown state `$1` (all when NULL), newest first, at most
/// `$2`, without their bodies (`body` is NULL). A pending row whose lease
/// is still running shows as `running`.
pub(super) fn jobs(table: &str) -> String {
    format!(
        "SELECT * FROM (SELECT {JOB_COLUMNS}, NULL::bytea AS body FROM {table}) AS job \
         WHERE $1::text IS NULL OR shown_state = $1 \
         ORDER BY received_at DESC, id LIMIT $2"
    )
}

/// The job with replay key `$1`, body included.
pub(super) fn job(table: &str) -> String {
    format!("SELECT {JOB_COLUMNS}, body FROM {table} WHERE id = $1")
}
