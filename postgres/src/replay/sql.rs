//! Every statement of the PostgreSQL replay store, in one place: the
//! schema, and the claim, commit, release, extend and cleanup built once
//! per store (they name its table).

use super::CLEANUP_BATCH;
use crate::connection::derived_name;

/// The suffix of the expiry index's name, declared once beside its DDL.
const EXPIRES_AT: &str = "expires_at";

/// Every name derived from the table (the builder checks their length).
pub(super) const DERIVED: [&str; 1] = [EXPIRES_AT];

/// The table and its expiry index (idempotent).
pub(super) fn schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n\
         \x20   id TEXT PRIMARY KEY,\n\
         \x20   token TEXT,\n\
         \x20   done BOOLEAN NOT NULL DEFAULT false,\n\
         \x20   expires_at TIMESTAMPTZ NOT NULL\n\
         );\n\
         CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at);",
        index = derived_name(table, EXPIRES_AT),
    )
}

/// The statements the store runs, built once (they name its table).
pub(super) struct StoreSql {
    pub(super) claim: String,
    pub(super) commit: String,
    pub(super) release: String,
    pub(super) extend: String,
    pub(super) cleanup: String,
}

impl StoreSql {
    pub(super) fn new(table: &str) -> Self {
        Self {
            // A live row wins; an expired one is taken over. The outer
            // SELECT reads the snapshot from before the INSERT: a row it
            // cannot see was just claimed by a concurrent copy, which is in
            // flight.
            claim: format!(
                "WITH claimed AS (\
                   INSERT INTO {table} AS t (id, token, done, expires_at) \
                   VALUES ($1, $2, false, now() + $3 * interval '1 millisecond') \
                   ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, done = false, \
                     expires_at = EXCLUDED.expires_at \
                   WHERE t.expires_at <= now() \
                   RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM claimed), \
                        (SELECT done FROM {table} WHERE id = $1 AND expires_at > now())"
            ),
            // Like the Redis store: the commit stands if this claim still
            // holds the id, or nobody does (it lapsed, or the claim never
            // landed), or the id is already done.
            commit: format!(
                "INSERT INTO {table} AS t (id, token, done, expires_at) \
                 VALUES ($1, NULL, true, now() + $3 * interval '1 millisecond') \
                 ON CONFLICT (id) DO UPDATE SET token = NULL, done = true, \
                   expires_at = EXCLUDED.expires_at \
                 WHERE t.token = $2 OR t.done OR t.expires_at <= now()"
            ),
            release: format!("DELETE FROM {table} WHERE id = $1 AND token = $2 AND NOT done"),
            extend: format!(
                "UPDATE {table} SET expires_at = now() + $3 * interval '1 millisecond' \
                 WHERE id = $1 AND token = $2 AND NOT done"
            ),
            // The oldest expired rows by the expiry index, then deleted by
            // id. Without `ORDER BY`, and with no statistics yet, PostgreSQL
            // expects a third of the rows to have expired and reads the
            // whole table to find them.
            cleanup: format!(
                "DELETE FROM {table} WHERE id = ANY (ARRAY (\
                   SELECT id FROM {table} WHERE expires_at < now() ORDER BY expires_at LIMIT {CLEANUP_BATCH}))"
            ),
        }
    }
}
