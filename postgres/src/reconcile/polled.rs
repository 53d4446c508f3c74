//! What a poll found: a job's status from the API turned into the event its
//! webhook would have carried (same `type`, same `data` fields, the
//! tracked `user_metadata`), or the state of a job still running.

use serde_json::{Map, Value, json};

use crate::inbox::completion::completion_key;
use gemini_webhooks::event::EventType;
use gemini_webhooks::event::EventType as ET;
use gemini_webhooks_api::{
    Batch, BatchState, Interaction, InteractionStatus, JobError, JobStatus, VideoOperation,
};

/// A polled job: ended (or waiting on the caller), or still running.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Polled {
    /// The event to store, under `completion_key`; `ends` when it closes
    /// the job (`interaction.requires_action` does not).
    Event {
        event_type: EventType,
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
            JobStatus::Batch(batch) => Self::of_batch(batch, resource),
            JobStatus::Video(video) => Self::of_video(video, resource),
            JobStatus::Interaction(interaction) => Self::of_interaction(interaction, resource),
            // A kind of job newer than this crate: polled on until its
            // horizon, then abandoned with an ERROR, never guessed at.
            _ => Self::Running("unknown".to_owned()),
        }
    }

    fn of_batch(batch: &Batch, resource: &str) -> Self {
        let event_type = match batch.state {
            BatchState::Succeeded => ET::BatchSucceeded,
            BatchState::Failed => ET::BatchFailed,
            BatchState::Cancelled => ET::BatchCancelled,
            BatchState::Expired => ET::BatchExpired,
            // `done` with a state this crate does not know.
            _ if batch.done && batch.error.is_some() => ET::BatchFailed,
            _ if batch.done => ET::BatchSucceeded,
            ref state => return Self::Running(state.as_str().to_owned()),
        };
        let mut data = failure(event_type, batch.error.as_ref());
        if let Some(file) = &batch.responses_file {
            data.insert("output_file_uri".into(), file.clone().into());
        }
        Self::ended(event_type, resource, data)
    }

    fn of_video(video: &VideoOperation, resource: &str) -> Self {
        if !video.done {
            return Self::Running("running".to_owned());
        }
        // Gemini has no failure event for video: `video.failed`,
        // shaped as `batch.failed` is.
        let event_type = if video.error.is_some() {
            ET::VideoFailed
        } else {
            ET::VideoGenerated
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

    fn of_interaction(interaction: &Interaction, resource: &str) -> Self {
        let event_type = match interaction.status {
            InteractionStatus::Completed => ET::InteractionCompleted,
            InteractionStatus::Cancelled => ET::InteractionCancelled,
            InteractionStatus::Failed
            | InteractionStatus::Incomplete
            | InteractionStatus::BudgetExceeded => ET::InteractionFailed,
            InteractionStatus::RequiresAction => {
                // Once per pending action: a new action is a new
                // step, so the step count tells them apart.
                let mut data = Map::new();
                data.insert("id".into(), resource.into());
                return Self::Event {
                    event_type: ET::InteractionRequiresAction,
                    data: Value::Object(data),
                    completion_key: format!(
                        "{}:{}",
                        completion_key(ET::InteractionRequiresAction, resource),
                        interaction.steps.len()
                    ),
                    ends: false,
                };
            }
            ref status => return Self::Running(status.as_str().to_owned()),
        };
        let mut data = failure(event_type, interaction.errors.first());
        if event_type == ET::InteractionFailed && interaction.errors.is_empty() {
            // Ended short of completion without an error of its own.
            data.insert(
                "error_message".into(),
                format!("interaction ended {}", interaction.status.as_str()).into(),
            );
        }
        Self::ended(event_type, resource, data)
    }

    fn ended(event_type: EventType, resource: &str, mut data: Map<String, Value>) -> Self {
        data.insert("id".into(), resource.into());
        Self::Event {
            event_type,
            data: Value::Object(data),
            completion_key: completion_key(event_type, resource),
            ends: event_type.ends_job(),
        }
    }
}

/// `error_code` and `error_message` of a failure event, from the job's error.
fn failure(event_type: EventType, error: Option<&JobError>) -> Map<String, Value> {
    let mut data = Map::new();
    if event_type.as_str().ends_with(".failed")
        && let Some(error) = error
    {
        data.insert("error_code".into(), error.code.into());
        data.insert("error_message".into(), error.message.clone().into());
    }
    data
}

/// The envelope a webhook would have carried: `type`, `version`,
/// `timestamp` (now), `data` and the tracked `user_metadata`.
pub(super) fn envelope(
    event_type: EventType,
    data: &Value,
    user_metadata: Option<&Value>,
) -> Vec<u8> {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut envelope = json!({
        "type": event_type.as_str(),
        "version": "v1",
        "timestamp": timestamp,
        "data": data,
    });
    if let Some(metadata) = user_metadata {
        envelope["user_metadata"] = metadata.clone();
    }
    envelope.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gemini_webhooks::event::GeminiEvent;
    use gemini_webhooks_api::JobName;

    /// A status as the API answers it about `job`.
    fn status(job: &str, answer: Value) -> JobStatus {
        JobStatus::from_json(&JobName::parse(job).unwrap(), answer).unwrap()
    }

    fn batch(state: BatchState, done: bool, error: Option<Value>) -> JobStatus {
        status(
            "batches/b1",
            json!({
                "name": "batches/b1",
                "done": done,
                "error": error,
                "metadata": {"state": state.as_str(), "output": {"responsesFile": "files/out"}},
            }),
        )
    }

    fn error() -> Option<Value> {
        Some(json!({"code": 13, "message": "broke"}))
    }

    /// The event a poll stores, parsed as a handler would.
    fn event_of(polled: &Polled) -> (GeminiEvent, String, bool) {
        let Polled::Event {
            event_type,
            data,
            completion_key,
            ends,
        } = polled
        else {
            panic!("not an event: {polled:?}")
        };
        let body = envelope(*event_type, data, Some(&json!({"k": 1})));
        let event = GeminiEvent::from_slice(&body).unwrap();
        assert_eq!(event.event_type(), event_type.as_str());
        assert_eq!(
            event.user_metadata(),
            json!({"k": 1}).as_object(),
            "the tracked metadata"
        );
        assert!(event.timestamp().is_some());
        (event, completion_key.clone(), *ends)
    }

    #[test]
    fn batch_states_become_the_webhooks_events() {
        // The state decides, even before the Operation says `done`.
        let succeeded = Polled::of(&batch(BatchState::Succeeded, false, None), "batches/b1");
        let (event, key, ends) = event_of(&succeeded);
        let GeminiEvent::BatchSucceeded(event) = event else {
            panic!()
        };
        assert_eq!(event.data.id, "batches/b1");
        assert_eq!(event.data.output_file_uri.as_deref(), Some("files/out"));
        assert_eq!((key.as_str(), ends), ("batch:b1", true));

        let failed = Polled::of(&batch(BatchState::Failed, false, error()), "batches/b1");
        let GeminiEvent::BatchFailed(event) = event_of(&failed).0 else {
            panic!()
        };
        assert_eq!(event.data.error_message.as_deref(), Some("broke"));
        assert_eq!(
            event.data.error_code,
            Some(gemini_webhooks::event::ErrorCode::Number(13))
        );

        for (state, expected) in [
            (BatchState::Cancelled, "batch.cancelled"),
            (BatchState::Expired, "batch.expired"),
            (BatchState::Other("BATCH_STATE_NEW".into()), "batch.failed"),
        ] {
            let polled = Polled::of(&batch(state, true, error()), "batches/b1");
            assert_eq!(event_of(&polled).0.event_type(), expected);
        }
        // `done` in a state of no known kind, without an error: succeeded.
        let done = Polled::of(&batch(BatchState::Unspecified, true, None), "batches/b1");
        assert_eq!(event_of(&done).0.event_type(), "batch.succeeded");
        for (state, spelled) in [
            (BatchState::Pending, "BATCH_STATE_PENDING"),
            (BatchState::Running, "BATCH_STATE_RUNNING"),
        ] {
            assert_eq!(state.as_str(), spelled);
            let polled = Polled::of(&batch(state.clone(), false, None), "batches/b1");
            assert_eq!(polled, Polled::Running(state.as_str().to_owned()));
        }
        // Not `done`, a state of no known kind: still running.
        let unknown = Polled::of(
            &batch(BatchState::Other("PAUSED".into()), false, None),
            "batches/b1",
        );
        assert!(matches!(unknown, Polled::Running(_)));
    }

    fn video(done: bool, error: Option<Value>, filtered: u64) -> JobStatus {
        let samples = if filtered > 0 {
            json!([])
        } else {
            json!([{"video": {"uri": "https://v/o1.mp4"}}])
        };
        let reasons = vec!["unsafe"; usize::try_from(filtered).unwrap()];
        status(
            "models/veo/operations/o1",
            json!({
                "name": "models/veo/operations/o1",
                "done": done,
                "error": error,
                "response": {"generateVideoResponse": {
                    "generatedSamples": samples,
                    "raiMediaFilteredCount": filtered,
                    "raiMediaFilteredReasons": reasons,
                }},
            }),
        )
    }

    #[test]
    fn a_video_ends_generated_or_failed() {
        let name = "models/veo/operations/o1";
        let (event, key, _) = event_of(&Polled::of(&video(true, None, 0), name));
        let GeminiEvent::VideoGenerated(generated) = event else {
            panic!()
        };
        assert_eq!(generated.data.uri(), Some("https://v/o1.mp4"));
        assert_eq!(generated.data.id, name);
        assert_eq!(key, "video:o1");
        let Polled::Event { data, .. } = Polled::of(&video(true, None, 0), name) else {
            panic!()
        };
        assert_eq!(data.get("rai_media_filtered_count"), None, "none filtered");
        let (event, key, ends) = event_of(&Polled::of(&video(true, error(), 0), name));
        let GeminiEvent::VideoFailed(failed) = event else {
            panic!()
        };
        assert_eq!(failed.data.error_message.as_deref(), Some("broke"));
        assert_eq!((key.as_str(), ends), ("video:o1", true));
        // Every sample filtered: generated, without a video, saying why.
        let Polled::Event { data, .. } = Polled::of(&video(true, None, 2), name) else {
            panic!()
        };
        assert_eq!(data["rai_media_filtered_count"], 2);
        assert_eq!(data.get("video_uri"), None);
        assert_eq!(
            Polled::of(&video(false, None, 0), name),
            Polled::Running("running".into())
        );
    }

    fn interaction(state: InteractionStatus, steps: usize, errors: Vec<Value>) -> JobStatus {
        status(
            "interactions/i1",
            json!({
                "id": "i1",
                "status": state.as_str(),
                "errors": errors,
                "steps": vec![json!({}); steps],
            }),
        )
    }

    #[test]
    fn an_interaction_ends_or_waits_on_an_action_keyed_by_its_steps() {
        let name = "interactions/i1";
        let (_, key, ends) = event_of(&Polled::of(
            &interaction(InteractionStatus::RequiresAction, 3, vec![]),
            name,
        ));
        assert_eq!(
            (key.as_str(), ends),
            ("interaction.requires_action:i1:3", false)
        );
        for (status, expected) in [
            (InteractionStatus::Completed, "interaction.completed"),
            (InteractionStatus::Cancelled, "interaction.cancelled"),
            (InteractionStatus::Failed, "interaction.failed"),
        ] {
            let (event, key, ends) = event_of(&Polled::of(&interaction(status, 1, vec![]), name));
            assert_eq!(event.event_type(), expected);
            assert_eq!(
                (key.as_str(), ends),
                ("interaction:i1", true),
                "one key per job"
            );
        }
        // Ended short, without an error of its own: failed, saying how.
        for status in [
            InteractionStatus::Incomplete,
            InteractionStatus::BudgetExceeded,
        ] {
            let (event, ..) = event_of(&Polled::of(&interaction(status.clone(), 1, vec![]), name));
            let GeminiEvent::InteractionFailed(failed) = event else {
                panic!()
            };
            assert_eq!(
                failed.data.error_message,
                Some(format!("interaction ended {}", status.as_str()))
            );
        }
        let (event, ..) = event_of(&Polled::of(
            &interaction(InteractionStatus::Failed, 1, error().into_iter().collect()),
            name,
        ));
        let GeminiEvent::InteractionFailed(failed) = event else {
            panic!()
        };
        assert_eq!(failed.data.error_message.as_deref(), Some("broke"));
        for status in [
            InteractionStatus::Queued,
            InteractionStatus::InProgress,
            InteractionStatus::Other("paused".into()),
        ] {
            assert!(matches!(
                Polled::of(&interaction(status, 0, vec![]), name),
                Polled::Running(_)
            ));
        }
    }

    #[test]
    fn an_envelope_without_metadata_has_none() {
        let body = envelope(EventType::BatchExpired, &json!({"id": "batches/b"}), None);
        let event = GeminiEvent::from_slice(&body).unwrap();
        assert_eq!(event.user_metadata(), None);
        assert_eq!(event.resource_id(), Some("batches/b"));
    }
}
