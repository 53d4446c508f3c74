//! The `data` object of each Gemini event type.
//!
//! Field names follow Gemini's docs. Only the resource `id` is required;
//! everything else is optional, so a payload that omits a field still parses.

use serde::Deserialize;

/// A Gemini error code: numeric (a `google.rpc.Code`) or textual.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ErrorCode {
    /// A numeric code, e.g. `3`.
    Number(i64),
    /// A textual code, e.g. `"INVALID_ARGUMENT"`.
    Text(String),
}

/// `data` of `batch.succeeded`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BatchSucceeded {
    /// The batch's resource name, e.g. `batches/123`.
    pub id: String,
    /// Where the results are: a file to download with the Files API.
    #[serde(default)]
    pub output_file_uri: Option<String>,
}

/// `data` of `batch.cancelled`, `batch.expired`, `interaction.requires_action`,
/// `interaction.completed` and `interaction.cancelled`: just the resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ResourceRef {
    /// The resource's name, e.g. `batches/123` or an interaction id.
    pub id: String,
}

/// `data` of `batch.failed` and `interaction.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Failure {
    /// The resource's name.
    pub id: String,
    /// Machine-readable error code.
    #[serde(default)]
    pub error_code: Option<ErrorCode>,
    /// Human-readable error message.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `data` of `video.generated`.
///
/// Current docs send `video_uri`; older docs and cookbooks show
/// `output_file_uri` and `file_name`. All three are kept; [`uri`](Self::uri)
/// picks whichever is present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct VideoGenerated {
    /// The operation's name.
    pub id: String,
    /// Where the video is (current field).
    #[serde(default)]
    pub video_uri: Option<String>,
    /// Where the video is (older field).
    #[serde(default)]
    pub output_file_uri: Option<String>,
    /// The video's file name in the Files API (older field).
    #[serde(default)]
    pub file_name: Option<String>,
}

impl VideoGenerated {
    /// The video's location: `video_uri`, else `output_file_uri`.
    pub fn uri(&self) -> Option<&str> {
        self.video_uri
            .as_deref()
            .or(self.output_file_uri.as_deref())
    }
}
