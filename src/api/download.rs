//! [`Download`]: a file the API holds (a batch's `responsesFile`), streamed
//! chunk by chunk rather than read into memory.

use bytes::Bytes;
use http::Method;

use super::client::GeminiClient;
use super::error::ApiError;
use super::names::{segment, strip_collection};

/// A file being downloaded: read it with [`chunk`](Self::chunk) until
/// `None`.
///
/// ```no_run
/// # async fn run(client: gemini_webhooks::api::GeminiClient) -> Result<(), Box<dyn std::error::Error>> {
/// let batch = client.get_batch("batches/batch_123").await?;
/// if let Some(file) = &batch.responses_file {
///     let mut download = client.download(file).await?;
///     let mut lines = Vec::new();
///     while let Some(chunk) = download.chunk().await? {
///         lines.extend_from_slice(&chunk); // JSON lines, one result each
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Download {
    response: reqwest::Response,
}

impl Download {
    /// The file's size, when the API said.
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next chunk, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        self.response.chunk().await.map_err(ApiError::Unreachable)
    }
}

impl GeminiClient {
    /// Starts downloading the file `files/{id}` (or `{id}`), e.g. a batch's
    /// [`responses_file`](super::Batch::responses_file):
    /// `GET {host}/download/{version}/files/{id}:download?alt=media`, with
    /// the same retries as every call. The body is not bounded as a whole:
    /// a read fails only when no byte arrives for the client's
    /// [`timeout`](super::GeminiClientBuilder::timeout), so a slow but
    /// moving download of any size succeeds.
    pub async fn download(&self, file: &str) -> Result<Download, ApiError> {
        let id = segment(strip_collection(file, "files"), "file id")?;
        let url = format!(
            "{}/download/{}/files/{id}:download",
            self.host(),
            self.version()
        );
        let response = self
            .send(
                Method::GET,
                &url,
                &[("alt", "media".to_owned())],
                None,
                None,
            )
            .await?;
        Ok(Download { response })
    }
}
