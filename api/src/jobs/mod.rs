//! Job status: a batch, a video generation's operation, an interaction, as
//! the API reference describes them; what a reconciler or a person checks
//! when a webhook did not come: what they share, [`JobStatus`] and
//! the calls; each kind in a file of its own.

mod batch;
mod interaction;
mod video;

pub use batch::{Batch, BatchState};
use interaction::InteractionBody;
pub use interaction::{Interaction, InteractionStatus};
pub use video::VideoOperation;

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
        .map(str::to_owned)
}

/// An Operation from JSON, for the tests of the job kinds.
#[cfg(test)]
fn operation(value: Value) -> Operation {
    serde_json::from_value(value).unwrap()
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
    /// Reads the API's answer about `job` (the JSON `get_job` receives):
    /// for a recorded answer, or a test of code that takes a status.
    ///
    /// ```
    /// use gemini_webhooks_api::{JobName, JobStatus};
    ///
    /// let job = JobName::parse("batches/b1")?;
    /// let answer = serde_json::json!({"name": "batches/b1", "done": true,
    ///     "metadata": {"state": "BATCH_STATE_SUCCEEDED"}});
    /// assert!(JobStatus::from_json(&job, answer)?.is_final());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_json(job: &JobName, answer: Value) -> Result<Self, serde_json::Error> {
        Ok(match job {
            JobName::Batch(_) => {
                Self::Batch(Batch::from_operation(serde_json::from_value(answer)?))
            }
            JobName::Operation { .. } => Self::Video(VideoOperation::from_operation(
                serde_json::from_value(answer)?,
            )),
            JobName::Interaction(_) => Self::Interaction(Interaction::from(
                serde_json::from_value::<InteractionBody>(answer)?,
            )),
        })
    }

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
    /// failed. The API's text is shown with control characters escaped
    /// (the fields themselves hold it as the API sent it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = |error: &Option<JobError>| {
            error
                .as_ref()
                .map(|e| format!(", error {}: {}", e.code, printable(&e.message)))
                .unwrap_or_default()
        };
        match self {
            Self::Batch(batch) => {
                write!(f, "{} {}", printable(&batch.name), batch.state)?;
                if let Some(file) = &batch.responses_file {
                    write!(f, ", results in {}", printable(file))?;
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
                write!(f, "{} {state}", printable(&video.name))?;
                for uri in &video.video_uris {
                    write!(f, ", video {}", printable(uri))?;
                }
                if video.rai_media_filtered_count > 0 {
                    write!(
                        f,
                        ", {} filtered ({})",
                        video.rai_media_filtered_count,
                        printable(&video.rai_media_filtered_reasons.join("; "))
                    )?;
                }
                write!(f, "{}", error(&video.error))
            }
            Self::Interaction(interaction) => {
                write!(
                    f,
                    "interactions/{} {}",
                    printable(&interaction.id),
                    interaction.status
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
                JobStatus::Interaction(Interaction::from(body))
            }
        })
    }
}
