//! [`Subject`]: a subject, routing key, topic or stream name that may
//! hold `{type}`, the event type.

use std::borrow::Cow;

/// A destination name with an optional `{type}` placeholder, replaced by
/// the message's event type: `gemini.{type}` →
/// `gemini.batch.succeeded`.
///
/// ```
/// use gemini_webhooks_bridge::sink::Subject;
///
/// let subject = Subject::parse("gemini.{type}")?;
/// assert_eq!(subject.render("batch.succeeded"), "gemini.batch.succeeded");
/// assert!(Subject::parse("gemini.{kind}").is_err());
/// # Ok::<(), gemini_webhooks_bridge::sink::SubjectError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    template: String,
    has_type: bool,
}

/// A template with a brace that is not `{type}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{template}` holds a `{{` or `}}` that is not part of `{{type}}`, the only placeholder")]
pub struct SubjectError {
    template: String,
}

const PLACEHOLDER: &str = "{type}";

impl Subject {
    /// Reads `template`; an error if it holds a brace outside `{type}`.
    pub fn parse(template: &str) -> Result<Self, SubjectError> {
        let rest = template.replace(PLACEHOLDER, "");
        if rest.contains(['{', '}']) {
            return Err(SubjectError {
                template: template.to_owned(),
            });
        }
        Ok(Self {
            template: template.to_owned(),
            has_type: rest.len() != template.len(),
        })
    }

    /// The name for a message of `event_type`.
    pub fn render(&self, event_type: &str) -> Cow<'_, str> {
        if self.has_type {
            Cow::Owned(self.template.replace(PLACEHOLDER, event_type))
        } else {
            Cow::Borrowed(&self.template)
        }
    }

    /// Whether the name depends on the event type.
    pub fn varies(&self) -> bool {
        self.has_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_replaced_and_a_plain_name_is_kept() {
        let subject = Subject::parse("{type}-x-{type}").unwrap();
        assert!(subject.varies());
        assert_eq!(
            subject.render("video.generated"),
            "video.generated-x-video.generated"
        );
        let plain = Subject::parse("events").unwrap();
        assert!(!plain.varies());
        assert_eq!(plain.render("batch.failed"), "events");
    }

    #[test]
    fn stray_braces_are_refused() {
        for bad in ["{kind}", "a{", "}b", "{type"] {
            assert!(Subject::parse(bad).is_err(), "{bad}");
        }
    }
}
