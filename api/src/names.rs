//! Resource names: the path segments the calls are built from, checked so
//! no id can add a path, a query or a custom method of its own; and
//! [`JobName`], which job a name or a webhook event points to.

use std::fmt;

use super::error::{ApiError, printable};
use gemini_webhooks::GeminiEvent;
use gemini_webhooks::event::JobKind;

/// `name` without a leading `collection/`.
pub(crate) fn strip_collection<'a>(name: &'a str, collection: &str) -> &'a str {
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name)
}

/// `id` if it is one plain path segment: letters, digits, `-`, `_`, `.`,
/// `~` (not `.` or `..`).
pub(crate) fn segment<'a>(id: &'a str, what: &str) -> Result<&'a str, ApiError> {
    let plain = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if plain {
        Ok(id)
    } else {
        Err(ApiError::InvalidArgument(format!(
            "not a {what}: {:?} (letters, digits, '-', '_', '.' only)",
            printable(id)
        )))
    }
}

/// A long-running job whose status the API can tell.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobName {
    /// `batches/{id}`.
    Batch(String),
    /// `models/{model}/operations/{id}`: a video generation
    /// (`:predictLongRunning`).
    Operation {
        /// The model (`veo-3.1-generate-preview`).
        model: String,
        /// The operation's id.
        id: String,
    },
    /// `interactions/{id}`.
    Interaction(String),
}

impl JobName {
    /// The kind of job this names.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Batch(_) => JobKind::Batch,
            Self::Operation { .. } => JobKind::Video,
            Self::Interaction(_) => JobKind::Interaction,
        }
    }

    /// Reads `batches/…`, `models/…/operations/…` or `interactions/…`.
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        let parts: Vec<&str> = name.trim_matches('/').split('/').collect();
        let job = match parts.as_slice() {
            ["batches", id] => Self::Batch(segment(id, "batch id")?.to_owned()),
            ["interactions", id] => Self::Interaction(segment(id, "interaction id")?.to_owned()),
            ["models", model, "operations", id] => Self::Operation {
                model: segment(model, "model")?.to_owned(),
                id: segment(id, "operation id")?.to_owned(),
            },
            _ => {
                return Err(ApiError::InvalidArgument(format!(
                    "not a job name: {:?} (batches/ID, models/MODEL/operations/ID or interactions/ID)",
                    printable(name)
                )));
            }
        };
        Ok(job)
    }

    /// The job a webhook event is about, when its `data.id` names it: a
    /// batch event's id with or without `batches/` (Google's examples show
    /// `batch_123456`), an interaction event's with or without
    /// `interactions/`, a video event's full operation name. `None` for
    /// other events, and for a video event whose id is not a full name
    /// (its model is not in it).
    pub fn of_event(event: &GeminiEvent) -> Option<Self> {
        let id = event.resource_id()?;
        let kind = event.event_type().split('.').next()?;
        match kind {
            "batch" => segment(strip_collection(id, "batches"), "batch id")
                .ok()
                .map(|id| Self::Batch(id.to_owned())),
            "interaction" => segment(strip_collection(id, "interactions"), "interaction id")
                .ok()
                .map(|id| Self::Interaction(id.to_owned())),
            "video" => match Self::parse(id) {
                Ok(operation @ Self::Operation { .. }) => Some(operation),
                _ => None,
            },
            _ => None,
        }
    }

    /// Its last path segment: the id the API and events agree on.
    pub fn id(&self) -> &str {
        match self {
            Self::Batch(id) | Self::Interaction(id) | Self::Operation { id, .. } => id,
        }
    }

    /// Whether `name` (any form: `batch_1`, `batches/batch_1`) names this
    /// job: compared by last path segment.
    pub fn is(&self, name: &str) -> bool {
        name.rsplit('/').next() == Some(self.id())
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Batch(id) => write!(f, "batches/{id}"),
            Self::Interaction(id) => write!(f, "interactions/{id}"),
            Self::Operation { model, id } => write!(f, "models/{model}/operations/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, id: &str) -> GeminiEvent {
        let body = serde_json::json!({
            "type": event_type, "version": "v1", "timestamp": "2026-12-01T00:00:00Z",
            "data": {"id": id}
        });
        GeminiEvent::from_slice(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn names_parse_in_each_form_and_print_back() {
        for name in [
            "batches/b1",
            "interactions/i_1",
            "models/veo-3.1-generate-preview/operations/vz341u0pmdlc",
        ] {
            assert_eq!(JobName::parse(name).unwrap().to_string(), name);
        }
        for bad in [
            "batches/",
            "batches/a/b",
            "files/x",
            "models/m/operations",
            "batches/a?b",
            "interactions/..",
        ] {
            assert!(JobName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_event_names_its_job_with_or_without_the_collection() {
        let bare = JobName::of_event(&event("batch.succeeded", "batch_123456")).unwrap();
        let prefixed = JobName::of_event(&event("batch.failed", "batches/batch_123456")).unwrap();
        assert_eq!(bare, prefixed);
        assert_eq!(bare.to_string(), "batches/batch_123456");
        assert!(bare.is("batches/batch_123456") && bare.is("batch_123456") && !bare.is("batch_1"));
        assert_eq!(
            JobName::of_event(&event("interaction.completed", "interactions/v1_abc")),
            Some(JobName::Interaction("v1_abc".into()))
        );
        assert_eq!(
            JobName::of_event(&event("video.generated", "models/veo/operations/op1")),
            Some(JobName::Operation {
                model: "veo".into(),
                id: "op1".into()
            })
        );
        assert_eq!(
            JobName::of_event(&event("video.generated", "op1")),
            None,
            "no model in it"
        );
        assert_eq!(JobName::of_event(&event("batch.succeeded", "a/b/c")), None);
    }
}
