//! What a poll found: a job's status from the API turned into the event its
//! webhook would have carried (same `type`, same `data` fields, the
//! tracked `user_metadata`), or the state of a job still running.

use serde_json::{Map, Value, json};

use crate::api::{BatchState, InteractionStatus, JobError, JobStatus};
use crate::inbox::completion::completion_key;

/// A polled job: ended (or waiting on the caller), or still running.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Polled {
    /// The event to store, under `completion_key`; `ends` when it closes
    /// the job (`interaction.requires_action` does not).
    Event {
        event_type: &'static str,
        data: Value,
        completion_key: String,
        ends: bool,
    },
    /// Not ended: its state, as the tracking row shows it.
    Running(String),
}

impl Polled {
    /// What a status says, for the job tracked as `resource`.
    pub(super) fn of(status: &JobStatus, resource: &str) -> Self {
        match status {
            JobStatus::Batch(batch) => {
                let event_type = match batch.state {
                    BatchState::Succeeded => "batch.succeeded",
                    BatchState::Failed => "batch.failed",
                    BatchState::Cancelled => "batch.cancelled",
                    BatchState::Expired => "batch.expired",
                    // `done` with a state this crate does not know.
                    _ if batch.done && batch.error.is_some() => "batch.failed",
                    _ if batch.done => "batch.succeeded",
                    ref state => return Self::Running(format!("{state:?}")),
                };
                let mut data = failure(event_type, batch.error.as_ref());
                if let Some(file) = &batch.responses_file {
                    data.insert("output_file_uri".into(), file.clone().into());
                }
                Self::ended(event_type, resource, data)
            }
            JobStatus::Video(video) => {
                if !video.done {
                    return Self::Running("running".to_owned());
                }
                // Gemini has no failure event for video: `video.failed`,
                // shaped as `batch.failed` is.
                let event_type = if video.error.is_some() {
                    "video.failed"
                } else {
                    "video.generated"
                };
                let mut data = failure(event_type, video.error.as_ref());
                if let Some(uri) = video.video_uris.first() {
                    data.insert("video_uri".into(), uri.clone().into());
                }
                if video.rai_media_filtered_count > 0 {
                    data.insert(
                        "rai_media_filtered_count".into(),
                        video.rai_media_filtered_count.into(),
                    );
                    data.insert(
                        "rai_media_filtered_reasons".into(),
                        video.rai_media_filtered_reasons.clone().into(),
                    );
                }
                Self::ended(event_type, resource, data)
            }
            JobStatus::Interaction(interaction) => {
                let event_type = match interaction.status {
                    InteractionStatus::Completed => "interaction.completed",
                    InteractionStatus::Cancelled => "interaction.cancelled",
                    InteractionStatus::Failed
                    | InteractionStatus::Incomplete
                    | InteractionStatus::BudgetExceeded => "interaction.failed",
                    InteractionStatus::RequiresAction => {
                        // Once per pending action: a new action is a new
                        // step, so the step count tells them apart.
                        let mut data = Map::new();
                        data.insert("id".into(), resource.into());
                        return Self::Event {
                            event_type: "interaction.requires_action",
                            data: Value::Object(data),
                            completion_key: format!(
                                "{}:{}",
                                completion_key("interaction.requires_action", resource),
                                interaction.steps.len()
                            ),
                            ends: false,
                        };
                    }
                    ref status => return Self::Running(format!("{status:?}")),
                };
                let mut data = failure(event_type, interaction.errors.first());
                if event_type == "interaction.failed" && interaction.errors.is_empty() {
                    // Ended short of completion without an error of its own.
                    data.insert(
                        "error_message".into(),
                        format!("interaction ended {:?}", interaction.status).into(),
                    );
                }
                Self::ended(event_type, resource, data)
            }
        }
    }

    fn ended(event_type: &'static str, resource: &str, mut data: Map<String, Value>) -> Self {
        data.insert("id".into(), resource.into());
        Self::Event {
            event_type,
            data: Value::Object(data),
            completion_key: completion_key(event_type, resource),
            ends: true,
        }
    }
}

/// `error_code` and `error_message` of a failure event, from the job's error.
fn failure(event_type: &str, error: Option<&JobError>) -> Map<String, Value> {
    let mut data = Map::new();
    if event_type.ends_with(".failed")
        && let Some(error) = error
    {
        data.insert("error_code".into(), error.code.into());
        data.insert("error_message".into(), error.message.clone().into());
    }
    data
}

/// The envelope a webhook would have carried: `type`, `version`,
/// `timestamp` (now), `data` and the tracked `user_metadata`.
pub(super) fn envelope(event_type: &str, data: &Value, user_metadata: Option<&Value>) -> Vec<u8> {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut envelope = json!({
        "type": event_type,
        "version": "v1",
        "timestamp": timestamp,
        "data": data,
    });
    if let Some(metadata) = user_metadata {
        envelope["user_metadata"] = metadata.clone();
    }
    envelope.to_string().into_bytes()
}
