//! Job status: a batch, a video generation's operation, an interaction, as
//! the API reference describes them; what a reconciler or a person checks
//! when a webhook did not come.

use std::fmt;

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::client::GeminiClient;
use super::error::{ApiError, printable};
use super::names::JobName;

/// An error the API reports for a job (`{code, message}`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobError {
    /// Google's numeric code.
    #[serde(default)]
    pub code: i64,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// A batch job's state. The reference spells them `BATCH_STATE_*`; the
/// batch guide shows `JOB_STATE_*`: both are read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchState {
    /// Waiting to run.
    Pending,
    /// Running.
    Running,
    /// Done: the results are in [`Batch::responses_file`] or inlined.
    Succeeded,
    /// Failed: see [`Batch::error`].
    Failed,
    /// Cancelled.
    Cancelled,
    /// Not done before it expired.
    Expired,
    /// Not in the answer.
    Unspecified,
    /// A state this version does not know, as the API spelled it.
    Other(String),
}

impl BatchState {
    fn parse(state: &str) -> Self {
        let bare = state
            .strip_prefix("BATCH_STATE_")
            .or_else(|| state.strip_prefix("JOB_STATE_"))
            .unwrap_or(state);
        match bare {
            "PENDING" | "QUEUED" => Self::Pending,
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            "EXPIRED" => Self::Expired,
            "" | "UNSPECIFIED" => Self::Unspecified,
            _ => Self::Other(printable(state)),
        }
    }

    /// Whether the batch will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Expired
        )
    }
}

/// A batch job (`GET /v1beta/batches/{id}`, an Operation).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Batch {
    /// `batches/…`.
    pub name: String,
    /// Its state, from the Operation's metadata.
    pub state: BatchState,
    /// Whether the Operation is done.
    pub done: bool,
    /// Why it failed.
    pub error: Option<JobError>,
    /// The results file (`files/…`; download it with
    /// `GET {host}/download/v1beta/{file}:download?alt=media`).
    pub responses_file: Option<String>,
    /// Results given inline (small batches), as the API sent them.
    pub inlined_responses: Vec<Value>,
    /// When it was created, last changed, ended (RFC 3339).
    pub create_time: Option<String>,
    /// See `create_time`.
    pub update_time: Option<String>,
    /// See `create_time`.
    pub end_time: Option<String>,
}

/// The Operation envelope the batch and video calls answer with.
#[derive(Deserialize)]
struct Operation {
    #[serde(default)]
    name: String,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    error: Option<JobError>,
    #[serde(default)]
    metadata: Value,
    #[serde(default)]
    response: Value,
}

/// A field in camelCase or snake_case (the API accepts and may send either).
fn field<'a>(value: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    value.get(camel).or_else(|| value.get(snake))
}

fn text(value: &Value, camel: &str, snake: &str) -> Option<String> {
    field(value, camel, snake)
        .and_then(Value::as_str)
        .map(printable)
}

impl Batch {
    fn from_operation(operation: Operation) -> Self {
        let metadata = &operation.metadata;
        let output = field(metadata, "output", "output")
            .cloned()
            .unwrap_or_default();
        // Inlined results sit at `output.inlinedResponses.inlinedResponses[]`.
        let inlined_responses = field(&output, "inlinedResponses", "inlined_responses")
            .and_then(|inlined| field(inlined, "inlinedResponses", "inlined_responses"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Self {
            name: printable(&operation.name),
            state: BatchState::parse(
                field(metadata, "state", "state")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
            done: operation.done,
            error: operation.error,
            responses_file: text(&output, "responsesFile", "responses_file"),
            inlined_responses,
            create_time: text(metadata, "createTime", "create_time"),
            update_time: text(metadata, "updateTime", "update_time"),
            end_time: text(metadata, "endTime", "end_time"),
        }
    }
}

/// A video generation (`GET /v1beta/models/{m}/operations/{id}`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VideoOperation {
    /// `models/…/operations/…`.
    pub name: String,
    /// Whether it finished (successfully or not).
    pub done: bool,
    /// Why it failed.
    pub error: Option<JobError>,
    /// The generated videos' URIs (download them with the API key; kept 2
    /// days).
    pub video_uris: Vec<String>,
    /// How many videos the safety filters removed.
    pub rai_media_filtered_count: u64,
    /// Why they were removed.
    pub rai_media_filtered_reasons: Vec<String>,
}

impl VideoOperation {
    fn from_operation(operation: Operation) -> Self {
        let generated = field(
            &operation.response,
            "generateVideoResponse",
            "generate_video_response",
        )
        .cloned()
        .unwrap_or_default();
        let video_uris = field(&generated, "generatedSamples", "generated_samples")
            .and_then(Value::as_array)
            .map(|samples| {
                samples
                    .iter()
                    .filter_map(|sample| {
                        sample
                            .get("video")
                            .and_then(|video| text(video, "uri", "uri"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rai_media_filtered_count = field(
            &generated,
            "raiMediaFilteredCount",
            "rai_media_filtered_count",
        )
        .and_then(|count| count.as_u64().or_else(|| count.as_str()?.parse().ok()))
        .unwrap_or(0);
        let rai_media_filtered_reasons = field(
            &generated,
            "raiMediaFilteredReasons",
            "rai_media_filtered_reasons",
        )
        .and_then(Value::as_array)
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(Value::as_str)
                .map(printable)
                .collect()
        })
        .unwrap_or_default();
        Self {
            name: printable(&operation.name),
            done: operation.done,
            error: operation.error,
            video_uris,
            rai_media_filtered_count,
            rai_media_filtered_reasons,
        }
    }
}

/// An interaction's status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InteractionStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    InProgress,
    /// Waiting for you (a function call's result, a confirmation).
    RequiresAction,
    /// Done.
    Completed,
    /// Failed: see [`Interaction::errors`].
    Failed,
    /// Cancelled.
    Cancelled,
    /// Ended before it was complete.
    Incomplete,
    /// Stopped at its budget.
    BudgetExceeded,
    /// A status this version does not know, as the API spelled it.
    Other(String),
}

impl InteractionStatus {
    fn parse(status: &str) -> Self {
        match status.to_ascii_lowercase().as_str() {
            "queued" => Self::Queued,
            "in_progress" => Self::InProgress,
            "requires_action" => Self::RequiresAction,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "incomplete" => Self::Incomplete,
            "budget_exceeded" => Self::BudgetExceeded,
            _ => Self::Other(printable(status)),
        }
    }

    /// Whether the interaction will not change without you.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress | Self::Other(_))
    }
}

/// An interaction (`GET /v1beta/interactions/{id}`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Interaction {
    /// Its id.
    pub id: String,
    /// Its status.
    pub status: InteractionStatus,
    /// Why it failed.
    pub errors: Vec<JobError>,
    /// Its steps, as the API sent them.
    pub steps: Vec<Value>,
}

#[derive(Deserialize)]
struct InteractionBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<JobError>,
    #[serde(default)]
    steps: Vec<Value>,
}

/// Any job's status, from [`GeminiClient::get_job`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum JobStatus {
    /// A batch.
    Batch(Batch),
    /// A video generation.
    Video(VideoOperation),
    /// An interaction.
    Interaction(Interaction),
}

impl JobStatus {
    /// Whether the job has ended (a webhook was due).
    pub fn is_final(&self) -> bool {
        match self {
            Self::Batch(batch) => batch.done || batch.state.is_final(),
            Self::Video(video) => video.done,
            Self::Interaction(interaction) => interaction.status.is_final(),
        }
    }
}

impl fmt::Display for JobStatus {
    /// One line: the job, its state, and where its result is or why it
    /// failed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = |error: &Option<JobError>| {
            error
                .as_ref()
                .map(|e| format!(", error {}: {}", e.code, printable(&e.message)))
                .unwrap_or_default()
        };
        match self {
            Self::Batch(batch) => {
                write!(f, "{} {:?}", batch.name, batch.state)?;
                if let Some(file) = &batch.responses_file {
                    write!(f, ", results in {file}")?;
                } else if !batch.inlined_responses.is_empty() {
                    write!(f, ", {} inlined responses", batch.inlined_responses.len())?;
                }
                write!(f, "{}", error(&batch.error))
            }
            Self::Video(video) => {
                let state = if !video.done {
                    "running"
                } else if video.error.is_some() {
                    "failed"
                } else {
                    "done"
                };
                write!(f, "{} {state}", video.name)?;
                for uri in &video.video_uris {
                    write!(f, ", video {uri}")?;
                }
                if video.rai_media_filtered_count > 0 {
                    write!(
                        f,
                        ", {} filtered ({})",
                        video.rai_media_filtered_count,
                        video.rai_media_filtered_reasons.join("; ")
                    )?;
                }
                write!(f, "{}", error(&video.error))
            }
            Self::Interaction(interaction) => {
                write!(
                    f,
                    "interactions/{} {:?}",
                    interaction.id, interaction.status
                )?;
                for e in &interaction.errors {
                    write!(f, ", error {}: {}", e.code, printable(&e.message))?;
                }
                Ok(())
            }
        }
    }
}

impl GeminiClient {
    /// A batch's status (`batches/{id}` or `{id}`).
    pub async fn get_batch(&self, name: &str) -> Result<Batch, ApiError> {
        let id =
            super::names::segment(super::names::strip_collection(name, "batches"), "batch id")?;
        let operation: Operation = self
            .call(
                Method::GET,
                &format!("batches/{id}"),
                &[],
                None,
                "a batch operation",
            )
            .await?;
        Ok(Batch::from_operation(operation))
    }

    /// Any job's status.
    pub async fn get_job(&self, job: &JobName) -> Result<JobStatus, ApiError> {
        let path = job.to_string();
        Ok(match job {
            JobName::Batch(_) => {
                let operation: Operation = self
                    .call(Method::GET, &path, &[], None, "a batch operation")
                    .await?;
                JobStatus::Batch(Batch::from_operation(operation))
            }
            JobName::Operation { .. } => {
                let operation: Operation = self
                    .call(Method::GET, &path, &[], None, "an operation")
                    .await?;
                JobStatus::Video(VideoOperation::from_operation(operation))
            }
            JobName::Interaction(_) => {
                let body: InteractionBody = self
                    .call(Method::GET, &path, &[], None, "an interaction")
                    .await?;
                JobStatus::Interaction(Interaction {
                    id: printable(&body.id),
                    status: InteractionStatus::parse(&body.status),
                    errors: body.errors,
                    steps: body.steps,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn operation(value: Value) -> Operation {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn batch_states_read_both_spellings_and_keep_unknown_ones() {
        assert_eq!(
            BatchState::parse("BATCH_STATE_SUCCEEDED"),
            BatchState::Succeeded
        );
        assert_eq!(
            BatchState::parse("JOB_STATE_SUCCEEDED"),
            BatchState::Succeeded
        );
        assert_eq!(BatchState::parse("JOB_STATE_PENDING"), BatchState::Pending);
        assert_eq!(
            BatchState::parse("BATCH_STATE_PAUSED"),
            BatchState::Other("BATCH_STATE_PAUSED".into())
        );
        assert!(BatchState::Expired.is_final() && !BatchState::Running.is_final());
    }

    #[test]
    fn a_batch_reads_its_file_or_inlined_results_and_times() {
        let batch = Batch::from_operation(operation(json!({
            "name": "batches/b1", "done": true,
            "metadata": {"state": "BATCH_STATE_SUCCEEDED", "createTime": "t0", "endTime": "t2",
                         "output": {"responsesFile": "files/out-1"}}
        })));
        assert_eq!(batch.state, BatchState::Succeeded);
        assert_eq!(batch.responses_file.as_deref(), Some("files/out-1"));
        assert_eq!(
            (batch.create_time.as_deref(), batch.end_time.as_deref()),
            (Some("t0"), Some("t2"))
        );
        let inline = Batch::from_operation(operation(json!({
            "name": "batches/b2", "done": true,
            "metadata": {"state": "JOB_STATE_SUCCEEDED",
                         "output": {"inlinedResponses": {"inlinedResponses": [{"response": {}}, {"error": {}}]}}}
        })));
        assert_eq!(inline.inlined_responses.len(), 2);
        let failed = Batch::from_operation(operation(json!({
            "name": "batches/b3", "done": true, "error": {"code": 3, "message": "bad input"},
            "metadata": {"state": "BATCH_STATE_FAILED"}
        })));
        assert_eq!(failed.error.as_ref().map(|e| e.code), Some(3));
        assert_eq!(
            JobStatus::Batch(failed).to_string(),
            "batches/b3 Failed, error 3: bad input"
        );
    }

    #[test]
    fn a_video_operation_reads_its_videos_and_filtering() {
        let video = VideoOperation::from_operation(operation(json!({
            "name": "models/veo/operations/op1", "done": true,
            "response": {"generateVideoResponse": {
                "generatedSamples": [{"video": {"uri": "https://v/1"}}],
                "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["unsafe"]}}
        })));
        assert_eq!(video.video_uris, ["https://v/1"]);
        assert_eq!(video.rai_media_filtered_count, 1);
        let status = JobStatus::Video(video);
        assert!(status.is_final());
        assert_eq!(
            status.to_string(),
            "models/veo/operations/op1 done, video https://v/1, 1 filtered (unsafe)"
        );
        let running =
            VideoOperation::from_operation(operation(json!({"name": "models/veo/operations/op2"})));
        assert!(!JobStatus::Video(running).is_final());
    }

    #[test]
    fn interaction_statuses_and_unknown_ones() {
        assert_eq!(
            InteractionStatus::parse("requires_action"),
            InteractionStatus::RequiresAction
        );
        assert_eq!(
            InteractionStatus::parse("BUDGET_EXCEEDED"),
            InteractionStatus::BudgetExceeded
        );
        assert_eq!(
            InteractionStatus::parse("paused"),
            InteractionStatus::Other("paused".into())
        );
        assert!(
            InteractionStatus::Completed.is_final() && !InteractionStatus::InProgress.is_final()
        );
    }
}
