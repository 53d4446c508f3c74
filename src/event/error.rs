use std::fmt;

use serde_json::error::Category;

/// A verified body that is not the JSON the caller asked for.
///
/// Its message names where parsing failed (a path such as `data.id`) and
/// what kind of failure it was, but never quotes the body: serde's own
/// message, which may, is available through
/// [`std::error::Error::source`]. Receivers answer it with `422`.
#[derive(Debug)]
pub struct EventError {
    path: String,
    source: serde_json::Error,
}

impl EventError {
    pub(crate) fn new(path: String, source: serde_json::Error) -> Self {
        Self { path, source }
    }

    /// Where parsing failed, as a dotted path (`data.id`, `timestamp`);
    /// `.` for the body as a whole.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The HTTP status to answer with: `422 Unprocessable Entity`.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::UNPROCESSABLE_ENTITY
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.source.to_string();
        let what = match self.source.classify() {
            Category::Syntax => "not valid JSON",
            Category::Eof => "JSON ends early",
            Category::Io => "could not be read",
            // serde's "missing field `x`" names only our own field names;
            // other data messages may quote the body, so they stay out.
            Category::Data if message.starts_with("missing field") => {
                return write!(
                    f,
                    "invalid event body at `{}`: {}",
                    self.path,
                    trim_position(&message)
                );
            }
            Category::Data => "unexpected type or value",
        };
        write!(f, "invalid event body at `{}`: {what}", self.path)
    }
}

/// serde_json appends " at line L column C"; the path says more.
fn trim_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

impl std::error::Error for EventError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
