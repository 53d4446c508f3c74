//! The configuration file: its keys, read and checked before anything
//! starts, so a mistake is exit code 2 and a message naming the file, the
//! key and the problem (never a secret: values are not shown).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the file says.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen; default `0.0.0.0:$PORT`, else `0.0.0.0:8080`.
    pub listen: Option<String>,
    pub verify: Verify,
    pub dedup: Option<Dedup>,
    pub inbox: Option<InboxConfig>,
    pub reconcile: Option<ReconcileConfig>,
    #[serde(rename = "route")]
    pub routes: Vec<Route>,
    pub sinks: BTreeMap<String, SinkConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The variable holding comma-separated `whsec_` secrets.
    pub secrets_env: Option<String>,
    /// `whsec_` secrets written in the file.
    pub secrets: Option<Vec<String>>,
    /// Google's JWKS, for dynamic webhooks.
    pub jwks_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dedup {
    pub redis_url: Option<String>,
    pub postgres_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
// Read only with the feature; without it the table is refused at start.
#[cfg_attr(not(feature = "inbox"), allow(dead_code))]
pub struct InboxConfig {
    pub database_url: String,
    /// Jobs each route's workers publish at once (default 16).
    pub concurrency: Option<usize>,
    /// The variable holding the operator's dashboard token: when it is
    /// set, each route's inbox has a dashboard at `/inbox/<table>/`.
    pub dashboard_token_env: Option<String>,
}

#[cfg_attr(not(feature = "inbox"), allow(dead_code))]
impl InboxConfig {
    /// The dashboard's token, if one is configured and set.
    pub fn dashboard_token(&self) -> Option<String> {
        let variable = self.dashboard_token_env.as_deref()?;
        std::env::var(variable)
            .ok()
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
    }
}

/// Polling tracked jobs whose webhook has not come (outbox mode).
#[derive(Debug, Deserialize)]
// Read only with the feature; without it the table is refused at start.
#[cfg_attr(not(feature = "reconcile"), allow(dead_code))]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// The variable holding the Gemini API key (default `GEMINI_API_KEY`).
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
    /// The API's host (default Google's; a mock's in tests).
    pub api_base: Option<String>,
    /// Seconds between polls of a job still running (default 300).
    pub poll_interval_secs: Option<u64>,
    /// The static webhook whose state is watched (`webhooks/…` id).
    pub webhook_id: Option<String>,
}

fn default_api_key_env() -> String {
    "GEMINI_API_KEY".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub path: String,
    pub sink: String,
    /// Event types to publish (`batch.*`, `video.generated`); default all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Outbox mode: the inbox table of this route (default
    /// `gemini_bridge_` and the sink's name).
    pub table: Option<String>,
}

/// One sink, by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    Nats {
        url: String,
        subject: String,
    },
    Redis {
        url: String,
        stream: String,
    },
    Http {
        url: String,
        /// The variable holding the `whsec_` secret the bridge signs with.
        secret_env: String,
    },
    Rabbitmq {
        url: String,
        #[serde(default)]
        exchange: String,
        routing_key: String,
    },
    Pubsub {
        project: String,
        topic: String,
        /// Ordering key = the Gemini job.
        #[serde(default)]
        order_by_job: bool,
    },
    Sqs {
        queue_url: String,
        region: String,
    },
    River {
        database_url: String,
        queue: String,
        kind: String,
    },
}

impl SinkConfig {
    /// The `type` as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Nats { .. } => "nats",
            Self::Redis { .. } => "redis",
            Self::Http { .. } => "http",
            Self::Rabbitmq { .. } => "rabbitmq",
            Self::Pubsub { .. } => "pubsub",
            Self::Sqs { .. } => "sqs",
            Self::River { .. } => "river",
        }
    }
}

/// A key of the file and what is wrong with it.
pub type Problem = (String, String);

fn problem(key: impl Into<String>, what: impl Into<String>) -> Problem {
    (key.into(), what.into())
}

/// A configuration that cannot be used: shown as `FILE: KEY: PROBLEM`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {problem}", file.display())]
pub struct ConfigError {
    file: PathBuf,
    key: String,
    problem: String,
}

impl ConfigError {
    pub fn new(file: &Path, key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}

impl Config {
    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file)
            .map_err(|err| ConfigError::new(file, "(file)", format!("cannot be read: {err}")))?;
        let config =
            Self::parse(&text).map_err(|(key, problem)| ConfigError::new(file, key, problem))?;
        config
            .check()
            .map_err(|(key, problem)| ConfigError::new(file, key, problem))?;
        Ok(config)
    }

    /// Parses the file's text; an error names the key and the line, and
    /// quotes no value (toml's own display quotes the line, which may hold
    /// a secret).
    fn parse(text: &str) -> Result<Self, (String, String)> {
        let line = |span: Option<std::ops::Range<usize>>| {
            span.map(|span| text[..span.start.min(text.len())].lines().count().max(1))
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|err| {
            let at = line(err.span()).map_or(String::new(), |n| format!(" (line {n})"));
            ("(syntax)".to_owned(), format!("{}{at}", err.message()))
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = match err.path().to_string() {
                path if path == "." => "(top level)".to_owned(),
                path => path,
            };
            let inner = err.into_inner();
            let at = line(inner.span()).map_or(String::new(), |n| format!(" (line {n})"));
            (key, format!("{}{at}", inner.message()))
        })
    }

    /// What serde cannot check: references, templates, combinations.
    fn check(&self) -> Result<(), Problem> {
        if let Some(listen) = &self.listen {
            listen
                .parse::<SocketAddr>()
                .map_err(|_| problem("listen", "not an address:port"))?;
        }
        if self.verify.secrets_env.is_none()
            && self.verify.secrets.is_none()
            && self.verify.jwks_url.is_none()
        {
            return Err(problem("verify", "give secrets_env, secrets or jwks_url"));
        }
        if self.reconcile.is_some() && self.inbox.is_none() {
            return Err(problem(
                "reconcile",
                "polled completions go through the inbox: add [inbox]",
            ));
        }
        if let Some(dedup) = &self.dedup {
            if dedup.redis_url.is_some() && dedup.postgres_url.is_some() {
                return Err(problem("dedup", "give redis_url or postgres_url, not both"));
            }
            if self.inbox.is_some() {
                return Err(problem(
                    "dedup",
                    "with [inbox], the inbox's table de-duplicates: remove [dedup]",
                ));
            }
        }
        self.check_routes()
    }

    /// Each route's path, sink, events and (in outbox mode) table.
    fn check_routes(&self) -> Result<(), Problem> {
        if self.routes.is_empty() {
            return Err(problem("route", "at least one [[route]] is needed"));
        }
        let mut tables = BTreeMap::new();
        for (index, route) in self.routes.iter().enumerate() {
            let key = |field: &str| format!("route[{index}].{field}");
            if !route.path.starts_with('/') {
                return Err(problem(key("path"), "must start with /"));
            }
            if !self.sinks.contains_key(&route.sink) {
                let missing = format!("no [sinks.{}] is configured", route.sink);
                return Err(problem(key("sink"), missing));
            }
            gemini_webhooks_bridge::EventFilter::new(&route.events)
                .map_err(|err| problem(key("events"), err.to_string()))?;
            let table = self.inbox.as_ref().map(|_| self.table(route));
            if let Some(previous) = table.and_then(|table| tables.insert(table, index)) {
                let shared = format!(
                    "route[{previous}] uses the same inbox table: give each route its own `table`"
                );
                return Err(problem(key("table"), shared));
            }
        }
        Ok(())
    }

    /// A route's inbox table in outbox mode.
    pub fn table(&self, route: &Route) -> String {
        route
            .table
            .clone()
            .unwrap_or_else(|| format!("gemini_bridge_{}", route.sink.replace('-', "_")))
    }

    /// Where to listen.
    pub fn listen(&self) -> SocketAddr {
        if let Some(listen) = self.listen.as_ref().and_then(|listen| listen.parse().ok()) {
            return listen;
        }
        let port = std::env::var("PORT")
            .ok()
            .and_then(|port| port.parse().ok())
            .unwrap_or(8080);
        SocketAddr::from(([0, 0, 0, 0], port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:8080"
[verify]
secrets_env = "GEMINI_WEBHOOK_SECRET"
[[route]]
path = "/webhooks/gemini"
sink = "events"
events = ["batch.*"]
[sinks.events]
type = "nats"
url = "nats://127.0.0.1:4222"
subject = "gemini.{type}"
"#;

    fn problem(text: &str) -> (String, String) {
        match Config::parse(text) {
            Ok(config) => config.check().unwrap_err(),
            Err(problem) => problem,
        }
    }

    #[test]
    fn the_documented_file_reads() {
        let config = Config::parse(GOOD).unwrap();
        config.check().unwrap();
        assert_eq!(config.listen(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.table(&config.routes[0]), "gemini_bridge_events");
        assert_eq!(config.sinks["events"].kind(), "nats");
    }

    #[test]
    fn a_missing_key_is_named_with_its_path() {
        let (key, problem) = problem(&GOOD.replace("subject = \"gemini.{type}\"\n", ""));
        assert_eq!(key, "sinks.events");
        assert!(problem.contains("subject"), "{problem}");
    }

    #[test]
    fn an_unknown_key_is_named_and_no_value_is_shown() {
        let text = GOOD.replace("[verify]\n", "[verify]\nsecret = \"whsec_do_not_show\"\n");
        let (key, problem) = problem(&text);
        assert_eq!(key, "verify.secret");
        assert!(problem.contains("unknown field `secret`"), "{problem}");
        assert!(!problem.contains("whsec_do_not_show"), "{problem}");
    }

    #[test]
    fn a_syntax_error_names_the_line_without_quoting_it() {
        let text = GOOD.replace("[verify]\n", "[verify]\nsecrets = [\"whsec_do_not_show\"\n");
        let (key, problem) = problem(&text);
        assert_eq!(key, "(syntax)");
        assert!(problem.contains("line"), "{problem}");
        assert!(!problem.contains("whsec_do_not_show"), "{problem}");
    }

    #[test]
    fn references_and_combinations_are_checked() {
        assert_eq!(
            problem(&GOOD.replace("sink = \"events\"", "sink = \"other\"")).0,
            "route[0].sink"
        );
        assert_eq!(
            problem(&GOOD.replace("\"batch.*\"", "\"batch*\"")).0,
            "route[0].events"
        );
        assert_eq!(
            problem(&GOOD.replace("path = \"/webhooks", "path = \"webhooks")).0,
            "route[0].path"
        );
        assert_eq!(
            problem(&GOOD.replace("127.0.0.1:8080", "nowhere")).0,
            "listen"
        );
        assert_eq!(
            problem(&GOOD.replace("secrets_env = \"GEMINI_WEBHOOK_SECRET\"", "")).0,
            "verify"
        );
        let polled = format!("{GOOD}\n[reconcile]\n");
        assert_eq!(problem(&polled).0, "reconcile");
        let both = format!(
            "{GOOD}\n[dedup]\nredis_url = \"redis://x\"\npostgres_url = \"postgres://x\"\n"
        );
        assert_eq!(problem(&both).0, "dedup");
        let twice = GOOD.replace(
            "[sinks.events]",
            "[[route]]\npath = \"/b\"\nsink = \"events\"\n[sinks.events]",
        );
        assert!(
            Config::parse(&twice).unwrap().check().is_ok(),
            "in the request, routes may share a sink"
        );
        let outbox = twice.replace(
            "[verify]",
            "[inbox]\ndatabase_url = \"postgres://x\"\n[verify]",
        );
        assert_eq!(problem(&outbox).0, "route[1].table");
        assert_eq!(
            problem(&GOOD.replace("type = \"nats\"", "type = \"kafka\"")).0,
            "sinks.events.type"
        );
    }
}
