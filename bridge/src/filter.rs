//! [`EventFilter`]: which event types a route publishes.

/// A list of event types to publish: exact names (`video.generated`) or
/// a kind's prefix with `*` (`batch.*`). Events it does not match are
/// answered `200` and counted, not published.
///
/// ```
/// use gemini_webhooks_bridge::EventFilter;
///
/// let filter = EventFilter::new(["batch.*", "video.generated"])?;
/// assert!(filter.matches("batch.failed"));
/// assert!(filter.matches("video.generated"));
/// assert!(!filter.matches("interaction.completed"));
/// assert!(EventFilter::all().matches("anything.at_all"));
/// # Ok::<(), gemini_webhooks_bridge::EventFilterError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Empty: every type.
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// `batch.*` keeps `batch.`.
    Prefix(String),
}

/// A pattern that is empty or has a `*` other than a final `.*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event pattern `{pattern}`: write an event type (`batch.succeeded`) or a prefix and `.*` (`batch.*`)"
)]
pub struct EventFilterError {
    pattern: String,
}

impl EventFilter {
    /// Every event type.
    pub fn all() -> Self {
        Self::default()
    }

    /// The types that match one of `patterns`; an empty list means all.
    pub fn new<P: AsRef<str>>(
        patterns: impl IntoIterator<Item = P>,
    ) -> Result<Self, EventFilterError> {
        let patterns = patterns
            .into_iter()
            .map(|pattern| Pattern::parse(pattern.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether events of `event_type` are published.
    pub fn matches(&self, event_type: &str) -> bool {
        self.patterns.is_empty()
            || self.patterns.iter().any(|pattern| match pattern {
                Pattern::Exact(name) => name == event_type,
                Pattern::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            })
    }
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Self, EventFilterError> {
        let refuse = || EventFilterError {
            pattern: pattern.to_owned(),
        };
        match pattern.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('.') && !prefix.contains('*') && prefix.len() > 1 => {
                Ok(Self::Prefix(prefix.to_owned()))
            }
            None if !pattern.is_empty() && !pattern.contains('*') => {
                Ok(Self::Exact(pattern.to_owned()))
            }
            _ => Err(refuse()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_matches_its_kind_only() {
        let filter = EventFilter::new(["batch.*"]).unwrap();
        assert!(filter.matches("batch.succeeded"));
        assert!(!filter.matches("batchx.succeeded"));
        assert!(!filter.matches("video.generated"));
    }

    #[test]
    fn an_exact_name_matches_itself_only() {
        let filter = EventFilter::new(["video.generated"]).unwrap();
        assert!(filter.matches("video.generated"));
        assert!(!filter.matches("video.generated.more"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "*", ".*", "batch*", "*.succeeded", "a.*.*"] {
            assert!(EventFilter::new([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_pattern_matches_everything() {
        assert!(
            EventFilter::new(Vec::<String>::new())
                .unwrap()
                .matches("x.y")
        );
    }
}
