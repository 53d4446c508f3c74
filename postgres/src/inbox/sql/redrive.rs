//! The statements of redrive: jobs chosen by a filter (state, event type,
//! when they were received) counted, or made pending again in batches
//! that walk the table in `(received_at, id)` order, so a job requeued and
//! finished again meanwhile is behind the walk and never taken twice.
//!
//! Parameters shared by both: `$1` the state (`dead` or `done`: only a
//! finished job is requeued), `$2` the event type (NULL: any), `$3` and
//! `$4` the half-open range of `received_at` (NULL: unbounded).

/// The filter's `WHERE` clause.
const MATCHES: &str = "state = $1 AND state IN ('dead', 'done') \
    AND ($2::text IS NULL OR event_type = $2) \
    AND ($3::timestamptz IS NULL OR received_at >= $3) \
    AND ($4::timestamptz IS NULL OR received_at < $4)";

/// How many jobs match.
pub(in crate::inbox) fn count(table: &str) -> String {
    format!("SELECT count(*) AS matching FROM {table} WHERE {MATCHES}")
}

/// Up to `$7` matching jobs after the walk's position (`$5`, `$6`: the
/// last batch's last `received_at` and id; NULL at the start) made pending
/// from attempt 1, the workers on `channel` woken (one notification: a
/// transaction's identical ones are delivered once). Returns each
/// requeued job's position, in the walk's order (the database's, whose
/// collation may sort ids otherwise than bytes do).
pub(in crate::inbox) fn requeue(table: &str, channel: &str) -> String {
    format!(
        "WITH picked AS (\
           SELECT id FROM {table} WHERE {MATCHES} \
             AND ($5::timestamptz IS NULL OR (received_at, id) > ($5, $6::text)) \
           ORDER BY received_at, id LIMIT $7 FOR UPDATE SKIP LOCKED), \
         requeued AS (\
           UPDATE {table} AS t SET state = 'pending', attempts = 0, run_at = now(), \
             lease = NULL, finished_at = NULL \
           FROM picked WHERE t.id = picked.id RETURNING t.received_at, t.id) \
         SELECT received_at, id, pg_notify('{channel}', '') AS woken FROM requeued \
         ORDER BY received_at, id"
    )
}
