//! The statements of redrive: jobs chosen by a filter (state, event type,
//! when they were received) counted, or made pending again in batches
//! that walk the table in `(received_at, id)` order, so a job requeued and
//! finished again meanwhile is behind the walk and never taken twice.
//!
//! Parameters shared by both: `$1` the state (`dead` or `done`: only a
//! finished job is requeued), `$2`–`$5` the rest of the filter
//! ([`super::browse::MATCHES`]).

use super::browse::MATCHES;

/// How many jobs match.
pub(in crate::inbox) fn count(table: &str) -> String {
    format!(
        "SELECT count(*) AS matching FROM {table} \
         WHERE state = $1 AND state IN ('dead', 'done') AND {MATCHES}"
    )
}

/// Up to `$8` matching jobs after the walk's position (`$6`, `$7`: the
/// last batch's last `received_at` and id; NULL at the start) made pending
/// from attempt 1, the workers on `channel` woken (one notification: a
/// transaction's identical ones are delivered once). Returns each
/// requeued job's position, in the walk's order (the database's, whose
/// collation may sort ids otherwise than bytes do).
pub(in crate::inbox) fn requeue(table: &str, channel: &str) -> String {
    format!(
        "WITH picked AS (\
           SELECT id FROM {table} WHERE state = $1 AND state IN ('dead', 'done') AND {MATCHES} \
             AND (received_at, id) > (coalesce($6::timestamptz, '-infinity'), coalesce($7::text, '')) \
           ORDER BY received_at, id LIMIT $8 FOR UPDATE SKIP LOCKED), \
         requeued AS (\
           UPDATE {table} AS t SET state = 'pending', attempts = 0, run_at = now(), \
             lease = NULL, finished_at = NULL \
           FROM picked WHERE t.id = picked.id RETURNING t.received_at, t.id) \
         SELECT received_at, id, pg_notify('{channel}', '') AS woken FROM requeued \
         ORDER BY received_at, id"
    )
}
