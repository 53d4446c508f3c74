//! Typed Gemini webhook events.
//!
//! This module owns the envelope
//! `{"type", "version", "timestamp", "data", "user_metadata"}` and the
//! catalogue of event types. Unknown event types and unknown fields are never
//! errors: Google adds events, and an old receiver must keep working.

mod data;
mod error;

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

/// Declares the catalogue once; parsing and accessors are generated from it.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident($data:ty) = $name:literal,)*) => {
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
    BatchSucceeded(BatchSucceeded) = "batch.succeeded",
    /// `batch.cancelled`: a batch job was cancelled.
    BatchCancelled(ResourceRef) = "batch.cancelled",
    /// `batch.expired`: a batch job expired before it finished.
    BatchExpired(ResourceRef) = "batch.expired",
    /// `batch.failed`: a batch job failed.
    BatchFailed(Failure) = "batch.failed",
    /// `interaction.requires_action`: an interaction waits for the caller.
    InteractionRequiresAction(ResourceRef) = "interaction.requires_action",
    /// `interaction.completed`: an interaction finished.
    InteractionCompleted(ResourceRef) = "interaction.completed",
    /// `interaction.failed`: an interaction failed.
    InteractionFailed(Failure) = "interaction.failed",
    /// `interaction.cancelled`: an interaction was cancelled.
    InteractionCancelled(ResourceRef) = "interaction.cancelled",
    /// `video.generated`: a video generation finished.
    VideoGenerated(VideoGenerated) = "video.generated",
    /// `video.failed`: a video generation ended in an error. Gemini sends
    /// no such webhook (its catalogue has no failure event for video); an
    /// inbox's reconciler delivers it when a polled operation failed.
    VideoFailed(Failure) = "video.failed",
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
