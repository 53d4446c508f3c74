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

/// The filter's clause, `$1` aside.
pub(in crate::inbox) const MATCHES: &str = "($2::text IS NULL OR event_type = $2) \
    AND received_at >= coalesce($3::timestamptz, '-infinity') \
    AND received_at < coalesce($4::timestamptz, 'infinity') \
    AND ($5::text IS NULL OR id ILIKE $5 OR webhook_id ILIKE $5 \
      OR job_key ILIKE $5 OR last_error ILIKE $5)";

/// The states a row is stored in.
pub(in crate::inbox) const STORED: [&str; 3] = ["pending", "done", "dead"];

/// Up to `$8` jobs in the stored states `arms` matching the filter, newest
/// first, from before the cursor (`$6` received at, `$7` key; NULL: the
/// newest), without bodies. One index range scan per stored state, merged:
/// a plain `ORDER BY … LIMIT` over every state would walk the whole table
/// when the index leads with the state.
pub(in crate::inbox) fn page(table: &str, arms: &[&str]) -> String {
    let arm = |state: &str| {
        format!(
            "(SELECT {JOB_COLUMNS}, NULL::bytea AS body FROM {table} \
              WHERE state = '{state}' AND ($1::text IS NULL OR {SHOWN_STATE} = $1) AND {MATCHES} \
                AND (received_at, id) < (coalesce($6::timestamptz, 'infinity'), coalesce($7::text, '')) \
              ORDER BY received_at DESC, id DESC LIMIT $8)"
        )
    };
    let arms: Vec<String> = arms.iter().map(|state| arm(state)).collect();
    format!(
        "SELECT * FROM ({}) AS job ORDER BY received_at DESC, id DESC LIMIT $8",
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
