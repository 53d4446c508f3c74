//! [`Download`]: a file the API holds (a batch's `responsesFile`), streamed
//! chunk by chunk rather than read into memory.

use bytes::Bytes;
use http::Method;

use super::client::{GeminiClient, Redirects, failed_answer};
use super::error::ApiError;
use super::names::{segment, strip_collection};

/// A file being downloaded: read it with [`chunk`](Self::chunk) until
/// `None`.
///
/// ```no_run
/// # async fn run(client: gemini_webhooks_api::GeminiClient) -> Result<(), Box<dyn std::error::Error>> {
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

/// A request's query parameters.
type Query = Vec<(&'static str, String)>;

/// How many redirects a download follows (each without the key).
const MAX_REDIRECTS: usize = 5;

impl GeminiClient {
    /// Starts downloading a file the API holds, with the same retries as
    /// every call:
    /// - `files/{id}` or `{id}` (a batch's
    ///   [`responses_file`](super::Batch::responses_file)):
    ///   `GET {host}/download/{version}/files/{id}:download?alt=media`;
    /// - a URI on the client's host, as the API gives them (a video's
    ///   [`video_uris`](super::VideoOperation::video_uris), a `video.generated`
    ///   event's `video_uri`): fetched as it is. A URI on another host is
    ///   refused: the API key is only ever sent to the client's host.
    ///
    /// A redirect (the API sends a file's bytes from a storage host) is
    /// followed, up to five hops, **without** the API key, over `https` (or
    /// the client host's own scheme). The body is not bounded as a whole:
    /// a read fails only when no byte arrives for the client's
    /// [`timeout`](super::GeminiClientBuilder::timeout), so a slow but
    /// moving download of any size succeeds.
    pub async fn download(&self, file: &str) -> Result<Download, ApiError> {
        let (url, query) = self.download_url(file)?;
        let mut response = self
            .send(Method::GET, &url, &query, None, None, Redirects::Return)
            .await?;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                return Ok(Download { response });
            }
            response = self.follow_without_key(&response).await?;
        }
        Err(self.redirected(&response))
    }

    /// The URL and query to download `file` from.
    fn download_url(&self, file: &str) -> Result<(String, Query), ApiError> {
        if file.contains("://") {
            let on_host = file
                .strip_prefix(self.host())
                .is_some_and(|rest| rest.starts_with('/'));
            if !on_host {
                return Err(ApiError::InvalidArgument(format!(
                    "not a URI on {}: {:?}; the API key is only sent there",
                    self.host(),
                    super::error::printable(file)
                )));
            }
            return Ok((file.to_owned(), Vec::new()));
        }
        let id = segment(strip_collection(file, "files"), "file id")?;
        let url = format!(
            "{}/download/{}/files/{id}:download",
            self.host(),
            self.version()
        );
        Ok((url, vec![("alt", "media".to_owned())]))
    }

    /// Follows `redirect` without the API key: to `https`, or to the
    /// client host's own scheme (a local mock's `http`).
    async fn follow_without_key(
        &self,
        redirect: &reqwest::Response,
    ) -> Result<reqwest::Response, ApiError> {
        let target = redirect
            .headers()
            .get(http::header::LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(|location| redirect.url().join(location).ok())
            .filter(|target| {
                target.scheme() == "https"
                    || self.host().starts_with(&format!("{}:", target.scheme()))
            })
            .ok_or_else(|| self.redirected(redirect))?;
        let response = self
            .http()
            .get(target)
            .send()
            .await
            .map_err(ApiError::Unreachable)?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(response);
        }
        Err(failed_answer(response, 0).await)
    }
}
