//! The statements an operator's view reads: a [`JobFilter`]'s clause
//! (shared with redrive), a page of the jobs it matches, and the last
//! day's activity by minute.
//!
//! The filter's parameters: `$1` the shown state (NULL: any; redrive:
//! `dead` or `done`), `$2` the event type, `$3`/`$4` the half-open range of
//! `received_at`, `$5` an `ILIKE` pattern over key, webhook id, Gemini job
//! and last error (each NULL: unbounded). Bounds are `coalesce`d to
//! infinities rather than `$n IS NULL OR …`, so they stay index conditions
//! on `(state, received_at, id)`.
//!
//! [`JobFilter`]: crate::inbox::JobFilter

use super::{BROWSE, JOB_COLUMNS, SHOWN_STATE};
use crate::connection::derived_name;

/// The filter without its text, `$1` aside: what an index walks. (Macros,
/// so the constants below can `concat!` them.)
macro_rules! indexed {
    () => {
        "($2::text IS NULL OR event_type = $2) \
         AND received_at >= coalesce($3::timestamptz, '-infinity') \
         AND received_at < coalesce($4::timestamptz, 'infinity')"
    };
}

/// The text part of the filter: `$5` anywhere in key, webhook id, Gemini
/// job, last error or envelope (its resource, `batches/…`, included; the
/// body's bytes read as text, any non-ASCII escaped).
macro_rules! text_matches {
    () => {
        "($5::text IS NULL OR id ILIKE $5 OR webhook_id ILIKE $5 \
          OR job_key ILIKE $5 OR last_error ILIKE $5 OR encode(body, 'escape') ILIKE $5)"
    };
}

/// The filter's clause, `$1` aside.
pub(in crate::inbox) const MATCHES: &str = concat!(indexed!(), " AND ", text_matches!());

/// [`indexed!`] as a constant.
const INDEXED: &str = indexed!();

/// [`text_matches!`] as a constant.
const TEXT: &str = text_matches!();

/// The states a row is stored in.
pub(in crate::inbox) const STORED: [&str; 3] = ["pending", "done", "dead"];

/// Up to `$8` jobs in the stored states `arms` matching the filter, newest
/// first, from before the cursor (`$6` received at, `$7` key; NULL: the
/// newest), without bodies. One index range scan per stored state, merged:
/// a plain `ORDER BY … LIMIT` over every state would walk the whole table
/// when the index leads with the state. `$5` (the text) must be NULL:
/// [`search`] reads a text filter.
pub(in crate::inbox) fn page(table: &str, arms: &[&str]) -> String {
    // `$5` named once, for its type: a statement must use each parameter.
    format!(
        "SELECT * FROM ({}) AS job WHERE $5::text IS NULL",
        newest(table, arms, "$8", "NULL::bytea")
    )
}

/// [`page`] for a filter with text (`$5`): the text is looked for in the
/// newest `$9` jobs the rest of the filter matches, not in the whole table
/// (an `ILIKE` uses no index). Rows with `window_end` false are the
/// matches (up to `$8`); a row with it true, present only when the window
/// was full, is the window's oldest job: where the next search resumes.
/// The rows carry their bodies (the text is looked for in them too).
pub(in crate::inbox) fn search(table: &str, arms: &[&str]) -> String {
    format!(
        "WITH scanned AS ({newest}), \
         matched AS (SELECT * FROM scanned WHERE {text} \
           ORDER BY received_at DESC, id DESC LIMIT $8) \
         (SELECT *, false AS window_end FROM matched) \
         UNION ALL \
         (SELECT *, true FROM scanned WHERE (SELECT count(*) FROM scanned) = $9 \
           ORDER BY received_at, id LIMIT 1)",
        newest = newest(table, arms, "$9", "body"),
        text = TEXT,
    )
}

/// Up to `limit` (a parameter) jobs of the filter without its text, with
/// `body` as their body (`NULL::bytea`: none).
fn newest(table: &str, arms: &[&str], limit: &str, body: &str) -> String {
    let arm = |state: &str| {
        format!(
            "(SELECT {JOB_COLUMNS}, {body} AS body FROM {table} \
              WHERE state = '{state}' AND ($1::text IS NULL OR {SHOWN_STATE} = $1) AND {INDEXED} \
                AND (received_at, id) < (coalesce($6::timestamptz, 'infinity'), coalesce($7::text, '')) \
              ORDER BY received_at DESC, id DESC LIMIT {limit})"
        )
    };
    let arms: Vec<String> = arms.iter().map(|state| arm(state)).collect();
    format!(
        "SELECT * FROM ({}) AS job ORDER BY received_at DESC, id DESC LIMIT {limit}",
        arms.join(" UNION ALL ")
    )
}

/// Per minute of the last 24 hours: deliveries received, attempts that
/// failed (a job's last failure), and jobs that went dead; only minutes
/// with any. Reads the browse index for receptions and the failure index
/// for the rest.
pub(in crate::inbox) fn activity(table: &str) -> String {
    format!(
        "SELECT minute, sum(received)::bigint AS received, sum(failed)::bigint AS failed, \
           sum(dead)::bigint AS dead FROM (\
           SELECT date_trunc('minute', received_at) AS minute, 1 AS received, 0 AS failed, 0 AS dead \
             FROM {table} WHERE state IN ('pending', 'done', 'dead') \
               AND received_at >= now() - interval '24 hours' \
           UNION ALL \
           SELECT date_trunc('minute', failed_at), 0, 1, (state = 'dead')::int \
             FROM {table} WHERE failed_at >= now() - interval '24 hours') AS events \
         GROUP BY minute ORDER BY minute"
    )
}

/// Jobs by shown state, each count stopping at `$1`: through the browse
/// index (only-index for done and dead), so a million done rows cost a
/// hundredth of counting them all.
pub(in crate::inbox) fn counts_up_to(table: &str) -> String {
    let up_to = |condition: &str| {
        format!(
            "(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {condition} LIMIT $1) AS counted)"
        )
    };
    format!(
        "SELECT {pending} AS pending, {running} AS running, {done} AS done, {dead} AS dead",
        pending = up_to("state = 'pending' AND (lease IS NULL OR run_at <= now())"),
        running = up_to("state = 'pending' AND lease IS NOT NULL AND run_at > now()"),
        done = up_to("state = 'done'"),
        dead = up_to("state = 'dead'"),
    )
}

/// When the oldest pending job was received (NULL: none pending).
pub(in crate::inbox) fn oldest_pending(table: &str) -> String {
    format!("SELECT min(received_at) AS oldest FROM {table} WHERE state = 'pending'")
}

/// The indexes of an operator's view: jobs by state and reception (the
/// listing, redrive's walk, the counts) and failures by time (the chart).
pub(in crate::inbox) fn indexes(table: &str) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {browse} ON {table} (state, received_at, id);\n\
         CREATE INDEX IF NOT EXISTS {failed} ON {table} (failed_at) WHERE failed_at IS NOT NULL;",
        browse = derived_name(table, BROWSE),
        failed = derived_name(table, super::FAILED),
    )
}
