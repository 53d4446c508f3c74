//! [`VideoOperation`]: a video generation's status, read from its
//! Operation.

use serde_json::Value;

use super::{JobError, Operation, field, text};

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
    pub(super) fn from_operation(operation: Operation) -> Self {
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
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
        Self {
            name: operation.name,
            done: operation.done,
            error: operation.error,
            video_uris,
            rai_media_filtered_count,
            rai_media_filtered_reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::operation;
    use super::*;
    use serde_json::json;

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
        let status = super::super::JobStatus::Video(video);
        assert!(status.is_final());
        assert_eq!(
            status.to_string(),
            "models/veo/operations/op1 done, video https://v/1, 1 filtered (unsafe)"
        );
        let running =
            VideoOperation::from_operation(operation(json!({"name": "models/veo/operations/op2"})));
        assert!(!super::super::JobStatus::Video(running).is_final());
    }
}
