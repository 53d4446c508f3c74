//! Table names spliced into SQL: checked against PostgreSQL's own rules
//! (plain lower-case identifiers, no reserved word, every name derived
//! from them within 63 bytes).

use super::derived_name;

/// Checks a table name spliced into SQL against PostgreSQL's own rules,
/// with the `suffixes` of the identifiers derived from it (indexes, a
/// channel): each part a plain lower-case identifier (`name` or
/// `schema.name`), none a reserved word (which every statement would then
/// fail on), and every derived identifier within PostgreSQL's 63 bytes
/// (past them it truncates silently, and two indexes' names could meet).
pub(crate) fn check_table(table: &str, suffixes: &[&str]) -> Result<(), String> {
    let plain = |p: &str| {
        !p.is_empty()
            && p.len() <= MAX_IDENTIFIER
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|part| plain(part)) {
        return Err(TABLE_RULE.to_owned());
    }
    if let Some(word) = parts.iter().find(|part| RESERVED.contains(part)) {
        return Err(format!(
            "the table name `{table}` uses `{word}`, a reserved word in PostgreSQL: choose another"
        ));
    }
    let longest = suffixes.iter().map(|s| s.len()).max().unwrap_or(0);
    if let Some(derived) = suffixes
        .iter()
        .map(|suffix| derived_name(table, suffix))
        .find(|name| name.len() > MAX_IDENTIFIER)
    {
        return Err(format!(
            "the table name `{table}` is too long: `{derived}`, named after it, would pass \
             PostgreSQL's {MAX_IDENTIFIER} bytes and be cut short; use at most {} bytes",
            MAX_IDENTIFIER - 1 - longest
        ));
    }
    Ok(())
}

/// PostgreSQL's longest identifier (`NAMEDATALEN` - 1), in bytes.
const MAX_IDENTIFIER: usize = 63;

/// The key words PostgreSQL reserves outright or for functions and types
/// (`pg_get_keywords()` categories `R` and `T`): neither is a table name
/// unless quoted. A test checks the list against the server.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// What a builder says about a table name it refuses.
const TABLE_RULE: &str =
    "the table name must be lower-case letters, digits and `_`, optionally `schema.table`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_table_names_are_accepted() {
        let check = |table: &str| check_table(table, &["due", "finished"]);
        for good in [
            "gemini_webhook_replay",
            "app.replay",
            "_t1",
            "orders",
            "time",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Replay",
            "a-b",
            "x; DROP TABLE y",
            "a.b.c",
            "1abc",
            "a.",
            ".a",
        ] {
            assert_eq!(check(bad), Err(TABLE_RULE.to_owned()), "{bad}");
        }
        for reserved in ["order", "user", "app.table", "select.inbox"] {
            assert!(
                check(reserved).is_err_and(|err| err.contains("reserved word")),
                "{reserved}"
            );
        }
        // `<table>_finished` must fit in 63 bytes: 54 bytes of table do.
        assert_eq!(check(&"a".repeat(54)), Ok(()));
        for long in [55, 62, 63] {
            let refused = check(&"a".repeat(long)).unwrap_err();
            assert!(
                refused.contains("use at most 54 bytes"),
                "{long}: {refused}"
            );
        }
        // A schema's name counts: `app.x` gives `app_x_finished`.
        assert_eq!(check(&format!("app.{}", "a".repeat(50))), Ok(()));
        assert!(check(&format!("app.{}", "a".repeat(51))).is_err());
        assert_eq!(
            derived_name("app.replay", "expires_at"),
            "app_replay_expires_at"
        );
    }

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn the_reserved_words_are_the_servers() {
        let client = crate::connection::plan_check::client().await;
        let rows = client
            .query(
                "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY word",
                &[],
            )
            .await
            .unwrap();
        let server: Vec<String> = rows.into_iter().map(|row| row.get(0)).collect();
        let mut ours: Vec<&str> = RESERVED.to_vec();
        ours.sort_unstable();
        // Ours may hold words of a newer server (`system_user`, PostgreSQL 16).
        for word in &server {
            assert!(ours.contains(&word.as_str()), "`{word}` is missing");
        }
        for word in &server {
            let created = client
                .batch_execute(&format!("BEGIN; CREATE TABLE {word} (x int); ROLLBACK"))
                .await;
            let _ = client.batch_execute("ROLLBACK").await;
            assert!(created.is_err(), "`{word}` works as a table name");
        }
        // The unreserved words users pick do work.
        for word in ["orders", "time", "inbox"] {
            assert!(check_table(word, &[]).is_ok(), "{word}");
        }
    }
}
