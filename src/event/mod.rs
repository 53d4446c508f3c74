//! Typed Gemini webhook events.
//!
//! This module owns the envelope
//! `{"type", "version", "timestamp", "data", "user_metadata"}` and the
//! catalogue of event types. Unknown event types and unknown fields are never
//! errors: Google adds events, and an old receiver must keep working.

mod data;
mod error;

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use data::{BatchSucceeded, ErrorCode, Failure, ResourceRef, VideoGenerated};
pub use error::EventError;

/// The `user_metadata` key/value map a dynamic webhook carries with each event.
pub type UserMetadata = Map<String, Value>;

/// One known event: the envelope's fields and its typed `data`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope<D> {
    /// The envelope's `version`, e.g. `"v1"` (empty when absent).
    pub version: String,
    /// When the event happened (the envelope's RFC 3339 `timestamp`);
    /// `None` when the envelope has none (the delivery's own
    /// `webhook-timestamp` is always there: [`Delivery::timestamp`](crate::Delivery::timestamp)).
    pub timestamp: Option<OffsetDateTime>,
    /// The event's typed `data`.
    pub data: D,
    /// The job's `user_metadata`, found at the top level or inside `data`.
    pub user_metadata: Option<UserMetadata>,
}

/// An event type this version of the crate does not know, kept whole.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnknownEvent {
    /// The envelope's `type`.
    pub event_type: String,
    /// The envelope's `version` (empty when absent).
    pub version: String,
    /// The envelope's `timestamp`, when present and valid RFC 3339.
    pub timestamp: Option<OffsetDateTime>,
    /// The event's `data`, as JSON.
    pub data: Value,
    /// The job's `user_metadata`, found at the top level or inside `data`.
    pub user_metadata: Option<UserMetadata>,
}

/// Declares the catalogue once: the event enum, [`EventType`], parsing,
/// the accessors, and which job kind each type is about and whether it
/// ends that job are all generated from it.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident($data:ty) = $name:literal, $kind:ident, $ends:literal;)*) => {
        /// An event type of the catalogue, without its data: its name, the
        /// kind of job it is about, and whether it ends that job.
        ///
        /// ```
        /// use gemini_webhooks::event::{EventType, JobKind};
        ///
        /// let event_type = EventType::parse("batch.succeeded").unwrap();
        /// assert_eq!(event_type, EventType::BatchSucceeded);
        /// assert_eq!(event_type.job_kind(), JobKind::Batch);
        /// assert!(event_type.ends_job());
        /// assert!(!EventType::InteractionRequiresAction.ends_job());
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventType {
            $($(#[$doc])* $variant,)*
        }

        impl EventType {
            /// Every event type, in the catalogue's order.
            pub const ALL: &'static [EventType] = &[$(Self::$variant),*];

            /// The type as sent in `type`, e.g. `"batch.succeeded"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The kind of job an event of this type is about.
            pub const fn job_kind(self) -> JobKind {
                match self {
                    $(Self::$variant => JobKind::$kind,)*
                }
            }

            /// Whether an event of this type ends its job (one of them per
            /// job is the job's completion); `interaction.requires_action`
            /// does not.
            pub const fn ends_job(self) -> bool {
                match self {
                    $(Self::$variant => $ends,)*
                }
            }

            /// The event type named `name`; `None` for a type this crate
            /// does not know.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        /// A Gemini webhook event, typed by its `type`.
        ///
        /// ```
        /// use gemini_webhooks::GeminiEvent;
        ///
        /// let body = br#"{"type":"batch.succeeded","version":"v1",
        ///   "timestamp":"2026-01-02T03:04:05Z",
        ///   "data":{"id":"batches/42","output_file_uri":"files/out-42"}}"#;
        /// match GeminiEvent::from_slice(body)? {
        ///     GeminiEvent::BatchSucceeded(event) => {
        ///         assert_eq!(event.data.id, "batches/42");
        ///         assert_eq!(event.data.output_file_uri.as_deref(), Some("files/out-42"));
        ///     }
        ///     other => panic!("unexpected {}", other.event_type()),
        /// }
        /// # Ok::<(), gemini_webhooks::EventError>(())
        /// ```
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum GeminiEvent {
            $($(#[$doc])* $variant(Envelope<$data>),)*
            /// A type this crate does not know yet.
            Unknown(UnknownEvent),
        }

        impl GeminiEvent {
            /// Every event type this crate knows, as sent in `type` (and
            /// `video.failed`, which only a reconciler delivers).
            pub const KNOWN_TYPES: &'static [&'static str] = &[$($name),*];

            /// The event's `type`, e.g. `"batch.succeeded"`.
            pub fn event_type(&self) -> &str {
                match self {
                    $(Self::$variant(_) => $name,)*
                    Self::Unknown(event) => &event.event_type,
                }
            }

            /// The event's type from the catalogue; `None` for an
            /// [`Unknown`](Self::Unknown) one.
            pub fn known_type(&self) -> Option<EventType> {
                match self {
                    $(Self::$variant(_) => Some(EventType::$variant),)*
                    Self::Unknown(_) => None,
                }
            }

            /// The envelope's timestamp, when it has one.
            pub fn timestamp(&self) -> Option<OffsetDateTime> {
                match self {
                    $(Self::$variant(event) => event.timestamp,)*
                    Self::Unknown(event) => event.timestamp,
                }
            }

            /// The job's `user_metadata`, if the event carries any.
            pub fn user_metadata(&self) -> Option<&UserMetadata> {
                match self {
                    $(Self::$variant(event) => event.user_metadata.as_ref(),)*
                    Self::Unknown(event) => event.user_metadata.as_ref(),
                }
            }

            /// The id of the resource the event is about (`data.id`).
            pub fn resource_id(&self) -> Option<&str> {
                match self {
                    $(Self::$variant(event) => Some(&event.data.id),)*
                    Self::Unknown(event) => event.data.get("id").and_then(Value::as_str),
                }
            }

            fn from_raw(raw: RawEnvelope) -> Result<Self, EventError> {
                let RawEnvelope { event_type, version, timestamp, mut data, user_metadata } = raw;
                match event_type.as_str() {
                    $($name => {
                        // Typed `data` has no use for it: move it, not copy it.
                        let user_metadata = user_metadata.or_else(|| {
                            match data.as_object_mut()?.remove("user_metadata")? {
                                Value::Object(metadata) => Some(metadata),
                                _ => None,
                            }
                        });
                        Ok(Self::$variant(Envelope {
                            version,
                            timestamp,
                            data: parse_data(data)?,
                            user_metadata,
                        }))
                    })*
                    _ => {
                        // An unknown event keeps its `data` whole.
                        let user_metadata = user_metadata.or_else(|| {
                            data.get("user_metadata").and_then(Value::as_object).cloned()
                        });
                        Ok(Self::Unknown(UnknownEvent {
                            event_type,
                            version,
                            timestamp,
                            data,
                            user_metadata,
                        }))
                    }
                }
            }
        }
    };
}

catalogue! {
    /// `batch.succeeded`: a batch job finished; results are in `output_file_uri`.
    BatchSucceeded(BatchSucceeded) = "batch.succeeded", Batch, true;
    /// `batch.cancelled`: a batch job was cancelled.
    BatchCancelled(ResourceRef) = "batch.cancelled", Batch, true;
    /// `batch.expired`: a batch job expired before it finished.
    BatchExpired(ResourceRef) = "batch.expired", Batch, true;
    /// `batch.failed`: a batch job failed.
    BatchFailed(Failure) = "batch.failed", Batch, true;
    /// `interaction.requires_action`: an interaction waits for the caller.
    InteractionRequiresAction(ResourceRef) = "interaction.requires_action", Interaction, false;
    /// `interaction.completed`: an interaction finished.
    InteractionCompleted(ResourceRef) = "interaction.completed", Interaction, true;
    /// `interaction.failed`: an interaction failed.
    InteractionFailed(Failure) = "interaction.failed", Interaction, true;
    /// `interaction.cancelled`: an interaction was cancelled.
    InteractionCancelled(ResourceRef) = "interaction.cancelled", Interaction, true;
    /// `video.generated`: a video generation finished.
    VideoGenerated(VideoGenerated) = "video.generated", Video, true;
    /// `video.failed`: a video generation ended in an error. Gemini sends
    /// no such webhook (its catalogue has no failure event for video); an
    /// inbox's reconciler delivers it when a polled operation failed.
    VideoFailed(Failure) = "video.failed", Video, true;
}

/// The kind of Gemini job an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobKind {
    /// `batches/…`.
    Batch,
    /// `models/…/operations/…`: a video generation.
    Video,
    /// `interactions/…`.
    Interaction,
}

impl JobKind {
    /// `batch`, `video` or `interaction`: the prefix of its event types.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Video => "video",
            Self::Interaction => "interaction",
        }
    }

    /// The key of the job `id` names: `{kind}:{last path segment of id}`,
    /// so `batches/b1` (an event's `data.id`) and `b1` are one job.
    ///
    /// ```
    /// use gemini_webhooks::event::JobKind;
    ///
    /// assert_eq!(JobKind::Batch.job_key("batches/b1"), "batch:b1");
    /// assert_eq!(JobKind::Batch.job_key("b1"), "batch:b1");
    /// ```
    pub fn job_key(self, id: &str) -> String {
        format!("{}:{}", self.as_str(), last_segment(id))
    }

    /// The kind whose event types start with `prefix` (`batch`, …).
    pub fn parse(prefix: &str) -> Option<Self> {
        EventType::ALL
            .iter()
            .map(|event_type| event_type.job_kind())
            .find(|kind| kind.as_str() == prefix)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What follows the last `/` of a resource name (all of it if none).
fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The envelope before `data` is typed.
#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    version: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    timestamp: Option<OffsetDateTime>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    user_metadata: Option<UserMetadata>,
}

impl GeminiEvent {
    /// The key of the Gemini job this event ends ([`JobKind::job_key`]:
    /// `batch:b1`); `None` for an event that does not end its job or
    /// names none. One ending per job, whatever its type or sender:
    /// `interaction.completed` and `interaction.failed` of one interaction,
    /// or its webhook and a poll's reading of it, share the key — what a
    /// store or a queue de-duplicates endings on.
    ///
    /// ```
    /// use gemini_webhooks::GeminiEvent;
    ///
    /// let ended = GeminiEvent::from_slice(br#"{"type":"batch.succeeded","data":{"id":"batches/b1"}}"#)?;
    /// assert_eq!(ended.completion_key().as_deref(), Some("batch:b1"));
    /// let waiting = GeminiEvent::from_slice(br#"{"type":"interaction.requires_action","data":{"id":"interactions/i1"}}"#)?;
    /// assert_eq!(waiting.completion_key(), None);
    /// # Ok::<(), gemini_webhooks::EventError>(())
    /// ```
    pub fn completion_key(&self) -> Option<String> {
        let ends = self.known_type().filter(|known| known.ends_job())?;
        let id = self
            .resource_id()
            .filter(|id| !last_segment(id).is_empty())?;
        Some(ends.job_kind().job_key(id))
    }

    /// Parses a raw webhook body. Errors carry the path of the bad field.
    pub fn from_slice(body: &[u8]) -> Result<Self, EventError> {
        Self::from_raw(from_slice(body)?)
    }
}

impl<'de> Deserialize<'de> for GeminiEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEnvelope::deserialize(deserializer)?;
        Self::from_raw(raw).map_err(D::Error::custom)
    }
}

/// Parses JSON; on an error, parses again to find the path of the bad
/// field (path tracking costs on every field, so only failures pay it).
pub(crate) fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, EventError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => Err(from_slice_with_path::<T>(body).err().unwrap_or_else(|| {
            EventError::new(".".into(), serde_json::Error::custom("invalid JSON"))
        })),
    }
}

/// Parses JSON, keeping the path of the first error.
fn from_slice_with_path<T: DeserializeOwned>(body: &[u8]) -> Result<T, EventError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| EventError::new(e.path().to_string(), e.into_inner()))?;
    deserializer
        .end()
        .map_err(|e| EventError::new(".".into(), e))?;
    Ok(value)
}

/// Types `data`, with error paths under `data.` (tracked only on failure).
fn parse_data<T: DeserializeOwned>(data: Value) -> Result<T, EventError> {
    if let Ok(typed) = T::deserialize(&data) {
        return Ok(typed);
    }
    serde_path_to_error::deserialize(data).map_err(|e| {
        let path = match e.path().to_string() {
            root if root == "." => "data".to_owned(),
            inner => format!("data.{inner}"),
        };
        EventError::new(path, e.into_inner())
    })
}
