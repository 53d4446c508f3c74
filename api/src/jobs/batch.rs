//! [`Batch`]: a batch job's status, read from its Operation.

use serde_json::Value;

use super::{JobError, Operation, field, text};

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
            _ => Self::Other(state.to_owned()),
        }
    }

    /// Whether the batch will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Expired
        )
    }

    /// As the API reference spells it (`BATCH_STATE_SUCCEEDED`); an unknown
    /// state as the API sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "BATCH_STATE_PENDING",
            Self::Running => "BATCH_STATE_RUNNING",
            Self::Succeeded => "BATCH_STATE_SUCCEEDED",
            Self::Failed => "BATCH_STATE_FAILED",
            Self::Cancelled => "BATCH_STATE_CANCELLED",
            Self::Expired => "BATCH_STATE_EXPIRED",
            Self::Unspecified => "BATCH_STATE_UNSPECIFIED",
            Self::Other(state) => state,
        }
    }
}

impl std::fmt::Display for BatchState {
    /// [`as_str`](Self::as_str), control characters escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::error::printable(self.as_str()))
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

impl Batch {
    pub(super) fn from_operation(operation: Operation) -> Self {
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
            name: operation.name,
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

#[cfg(test)]
mod tests {
    use super::super::operation;
    use super::*;
    use serde_json::json;

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
    fn states_are_shown_as_the_reference_spells_them_and_read_back() {
        for spelled in [
            "BATCH_STATE_PENDING",
            "BATCH_STATE_RUNNING",
            "BATCH_STATE_SUCCEEDED",
            "BATCH_STATE_FAILED",
            "BATCH_STATE_CANCELLED",
            "BATCH_STATE_EXPIRED",
            "BATCH_STATE_UNSPECIFIED",
        ] {
            let state = BatchState::parse(spelled);
            assert_eq!(
                (state.as_str(), state.to_string()),
                (spelled, spelled.to_owned())
            );
        }
        let odd = BatchState::parse("PAUSED\n");
        assert_eq!(
            (odd.as_str(), odd.to_string().as_str()),
            ("PAUSED\n", "PAUSED\\n")
        );
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
            super::super::JobStatus::Batch(failed).to_string(),
            "batches/b3 BATCH_STATE_FAILED, error 3: bad input"
        );
    }

    #[test]
    fn api_text_is_kept_as_sent_and_escaped_when_shown() {
        let batch = Batch::from_operation(operation(json!({
            "name": "batches/b\u{1b}[2J", "done": true,
            "metadata": {"state": "BATCH_STATE_SUCCEEDED", "output": {"responsesFile": "files/o\nut"}}
        })));
        assert_eq!(
            batch.responses_file.as_deref(),
            Some("files/o\nut"),
            "as the API sent it"
        );
        let shown = super::super::JobStatus::Batch(batch).to_string();
        assert_eq!(
            shown,
            "batches/b\\u{1b}[2J BATCH_STATE_SUCCEEDED, results in files/o\\nut"
        );
    }
}
