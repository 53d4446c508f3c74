//! Every statement of the workers' gate, in one place: the one-row table
//! beside the inbox that says whether workers may start jobs and how many
//! per second (created with the inbox's, [`super::schema`]), the operator's
//! writes to it, and the part of every claim that obeys it.
//!
//! A claim reads the pause in its own statement. Only while a rate is set
//! does a worker claim with the statement that takes tokens (it reads
//! whether one is set at most once a second): planned afresh for every
//! claim, that statement costs more than the plain one.
//!
//! The rate is a token bucket kept in the row: `tokens` refill at `rate`
//! per second up to `rate` (a burst of at most one second's worth), and a
//! claim takes at most the whole tokens there are, then pays for what it
//! claimed. The bucket is read `FOR UPDATE` only while a rate is set (the
//! lock's `WHERE rate IS NOT NULL` selects no row otherwise), so claims at
//! full speed never queue on it.

/// The suffix of the gate's table, declared once, here beside its DDL.
pub(in crate::inbox) const TABLE: &str = "gate";

/// The gate's table beside inbox `table` (same schema).
pub(in crate::inbox) fn gate_table(table: &str) -> String {
    format!("{table}_{TABLE}")
}

/// The gate's table and its one row, open (idempotent).
pub(super) fn schema(table: &str) -> String {
    let gate = gate_table(table);
    format!(
        "CREATE TABLE IF NOT EXISTS {gate} (\n\
         \x20   one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),\n\
         \x20   paused BOOLEAN NOT NULL DEFAULT false,\n\
         \x20   rate INTEGER CHECK (rate > 0),\n\
         \x20   tokens DOUBLE PRECISION NOT NULL DEFAULT 0,\n\
         \x20   refilled_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n\
         \x20   changed_at TIMESTAMPTZ NOT NULL DEFAULT now()\n\
         );\n\
         INSERT INTO {gate} (one) VALUES (true) ON CONFLICT DO NOTHING;"
    )
}

/// Sets the gate: paused (`$1`), the rate (`$2`, NULL for none) with a
/// full bucket, and wakes the workers on `channel` (a resume starts them
/// now, not at their next poll).
pub(in crate::inbox) fn set(table: &str, channel: &str) -> String {
    format!(
        "UPDATE {gate} SET paused = $1, rate = $2, tokens = coalesce($2, 0), \
           refilled_at = clock_timestamp(), changed_at = now() \
         RETURNING pg_notify('{channel}', '')",
        gate = gate_table(table),
    )
}

/// The gate as it is (no row: open).
pub(in crate::inbox) fn read(table: &str) -> String {
    format!(
        "SELECT bool_or(paused) AS paused, max(rate) AS rate FROM {gate}",
        gate = gate_table(table),
    )
}

/// Whether a rate is set: the worker reads it (at most once a second) to
/// choose between the plain claim and the one that takes tokens.
pub(in crate::inbox) fn rated(table: &str) -> String {
    format!(
        "SELECT coalesce(bool_or(rate IS NOT NULL), false) AS rated FROM {gate}",
        gate = gate_table(table),
    )
}

/// The common table expressions a claim of at most `$1` jobs starts with:
/// `bucket` (the refilled tokens, the row locked, only while a rate is
/// set) and `allowed` (how many jobs the claim may take: none while
/// paused, `$1` at most, the whole tokens while a rate is set).
pub(super) fn claim_ctes(table: &str) -> String {
    format!(
        "bucket AS (\
           SELECT least(rate, tokens + rate * greatest(0, \
               extract(epoch FROM clock_timestamp() - refilled_at))) AS tokens, \
             clock_timestamp() AS at \
           FROM {gate} WHERE rate IS NOT NULL FOR UPDATE), \
         allowed AS (\
           SELECT CASE WHEN EXISTS (SELECT 1 FROM {gate} WHERE paused) THEN 0::int8 \
             ELSE least($1::int8, coalesce((SELECT floor(tokens)::int8 FROM bucket), $1::int8)) \
             END AS jobs)",
        gate = gate_table(table),
    )
}

/// The common table expression a claim ends with: what the claimed jobs
/// (`claimed`) cost is taken from the bucket, if there is one.
pub(super) fn charge(table: &str) -> String {
    format!(
        "charged AS (\
           UPDATE {gate} AS g SET tokens = bucket.tokens - (SELECT count(*) FROM claimed), \
             refilled_at = bucket.at \
           FROM bucket WHERE g.rate IS NOT NULL)",
        gate = gate_table(table),
    )
}
