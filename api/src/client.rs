//! [`GeminiClient`]: one `reqwest::Client`, the API key, and the one path
//! every call takes (the version prefix, the key header, the timeouts,
//! retries of what cannot have taken effect, answers read under a size
//! cap, Google's error bodies).

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, printable};
use gemini_webhooks::ConfigError;

/// Google's host for the Gemini API.
pub const GEMINI_API_HOST: &str = "https://generativelanguage.googleapis.com";

/// The API version the reference documents the webhooks and job calls
/// under ("This API is in Beta. Endpoints are under `/v1beta/`").
pub const GEMINI_API_VERSION: &str = "v1beta";

/// A client of the Gemini API's webhooks and job-status calls.
///
/// Cheap to clone (one connection pool). The API key goes in the
/// `x-goog-api-key` header to the client's host only: redirects elsewhere
/// are not followed, and the key is never in `Debug`, logs or errors.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_api::GeminiClient;
///
/// let client = GeminiClient::new(std::env::var("GEMINI_API_KEY")?)?;
/// for webhook in client.list_webhooks().await? {
///     println!("{} {} {:?}", webhook.id, webhook.uri, webhook.state);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GeminiClient {
    http: reqwest::Client,
    /// `https://host/v1beta`, no trailing slash.
    base: String,
    /// `https://host`, for the download paths outside the version prefix.
    host: String,
    version: String,
    key: String,
    retry: Retry,
    /// How long a whole call may take (JSON calls; a download's body is
    /// bounded per read instead).
    timeout: Duration,
}

/// Whether a call with `method` ends the same however often it runs (GET,
/// PATCH with one mask, DELETE); a `POST` (create, rotate, ping) may have
/// taken effect before an error, so it is never repeated after one.
fn idempotent(method: &Method) -> bool {
    *method != Method::POST
}

/// What [`GeminiClient::send`] does with a redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Redirects {
    /// An error ([`ApiError::Redirected`]): the key never follows one.
    Refuse,
    /// The redirect is the answer: the caller follows it without the key.
    Return,
}

/// The most a JSON answer (or an error body) may hold: far above any
/// answer of these calls, far below what would hurt a receiver the
/// reconciler runs in.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// How answers are retried: 429 (Google did not process the call) always;
/// 503 only for calls that change nothing when repeated.
#[derive(Clone, Copy, Debug)]
struct Retry {
    max_retries: u32,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl Retry {
    /// Whether an answer `status` to a `method` call is retried: 429 for
    /// every method (Google's "not processed"); 503 for every method but
    /// `POST` (GET, PATCH with the same mask and DELETE end the same however
    /// often they run; a `POST` may have taken effect before the 503).
    fn retries(&self, method: &Method, status: StatusCode) -> bool {
        status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && idempotent(method))
    }

    /// The pause before retry `retry` (0-based): `Retry-After` when the
    /// answer gave one, else the backoff doubled per retry; at most
    /// `max_backoff` either way, so a call's time stays bounded.
    fn pause(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or_else(|| {
                gemini_webhooks::__private::doubled(self.first_backoff, retry, self.max_backoff)
            })
            .min(self.max_backoff)
    }
}

/// Configures a [`GeminiClient`]; from [`GeminiClient::builder`].
#[must_use]
pub struct GeminiClientBuilder {
    key: String,
    host: String,
    version: String,
    timeout: Duration,
    retry: Retry,
}

impl GeminiClient {
    /// A client with the defaults, for the API key `api_key`.
    pub fn new(api_key: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder(api_key).build()
    }

    /// A builder, for the API key `api_key`.
    pub fn builder(api_key: impl Into<String>) -> GeminiClientBuilder {
        GeminiClientBuilder {
            key: api_key.into(),
            host: GEMINI_API_HOST.to_owned(),
            version: GEMINI_API_VERSION.to_owned(),
            timeout: Duration::from_secs(30),
            retry: Retry {
                max_retries: 4,
                first_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(30),
            },
        }
    }

    /// Calls `method path` (under the version prefix) with `query` and the
    /// JSON `body`, and reads the answer as `T` (an empty body as `{}`).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &'static str,
    ) -> Result<T, ApiError> {
        let url = format!("{}/{path}", self.base);
        let repeatable = idempotent(&method);
        let outcome = async {
            let response = self
                .send(
                    method,
                    &url,
                    query,
                    body,
                    Some(self.timeout),
                    Redirects::Refuse,
                )
                .await?;
            read_capped(response, MAX_ANSWER_BYTES).await
        }
        .await;
        let text = match outcome {
            Ok(text) => text,
            Err(err) if !repeatable && err.after_sending() => {
                return Err(ApiError::Ambiguous {
                    call: what,
                    source: Box::new(err),
                });
            }
            Err(err) => return Err(err),
        };
        let text = String::from_utf8_lossy(&text);
        let text = if text.trim().is_empty() { "{}" } else { &text };
        serde_json::from_str(text).map_err(|source| ApiError::Decode { what, source })
    }

    /// Sends a request to `url` (on this client's host) until it succeeds:
    /// a 429 (Google did not process it) is retried within the bound, and a
    /// 503 too unless the method is `POST` (a `POST` may have taken effect
    /// before the 503: repeating it could create a second webhook); a
    /// redirect (unless `redirects` says to return it) or any other answer
    /// is an error. `timeout` bounds the whole call, body included (`None`:
    /// each read only). The successful response, body unread.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Option<Duration>,
        redirects: Redirects,
    ) -> Result<reqwest::Response, ApiError> {
        let mut retries = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .header("x-goog-api-key", &self.key);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.map_err(ApiError::Unreachable)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status.is_redirection() {
                return match redirects {
                    Redirects::Refuse => Err(self.redirected(&response)),
                    Redirects::Return => Ok(response),
                };
            }
            let retry_after = retry_after(response.headers());
            if self.retry.retries(&method, status) && retries < self.retry.max_retries {
                tokio::time::sleep(self.retry.pause(retries, retry_after)).await;
                retries += 1;
                continue;
            }
            return Err(failed_answer(response, retries).await);
        }
    }

    /// The API version the paths go under.
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The HTTP client, for what is sent without the key (a redirect's
    /// target).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn redirected(&self, response: &reqwest::Response) -> ApiError {
        let host = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(|location| reqwest::Url::parse(location).ok())
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        ApiError::Redirected {
            host: printable(&host),
            expected: self.host.clone(),
        }
    }

    /// The host this client calls (`https://generativelanguage.googleapis.com`).
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl GeminiClientBuilder {
    /// The API's host (default [`GEMINI_API_HOST`]), for proxies and tests:
    /// `http(s)://host[:port]`, without the version.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The API version the paths go under (default [`GEMINI_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// How long one call may take, connecting and reading its answer
    /// included (default 30 s). A [`download`](GeminiClient::download) is
    /// bounded per read instead: it fails only when no byte arrives for
    /// this long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a 429 answer, or a 503 to a call other than `POST`, is
    /// retried (default 4), and the first pause (default 500 ms, doubled per
    /// retry; `Retry-After` when the answer gives one in seconds; at most
    /// 30 s each). Other answers are never retried, and a `POST` that got a
    /// 5xx or no answer fails with [`ApiError::Ambiguous`].
    pub fn retries(mut self, max_retries: u32, first_backoff: Duration) -> Self {
        self.retry.max_retries = max_retries;
        self.retry.first_backoff = first_backoff;
        self
    }

    /// The client. Fails on a host that is not an `http(s)` URL, an empty
    /// key or version.
    pub fn build(self) -> Result<GeminiClient, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidUrl {
            service: "Gemini API",
            reason: reason.to_owned(),
        };
        let host = self.host.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&host).map_err(|err| invalid(&err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("the host must be an http(s) URL with a host name"));
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(invalid(
                "give the host only; the client adds the version and paths",
            ));
        }
        let version = self.version.trim_matches('/');
        if version.is_empty() || version.contains(['/', '?', '#']) {
            return Err(invalid(
                "the API version must be one path segment, such as v1beta",
            ));
        }
        if self.key.trim().is_empty() {
            return Err(ConfigError::MissingSetting {
                setting: "the API key (GEMINI_API_KEY)",
            });
        }
        // Connecting and each read are bounded here; a whole JSON call by
        // `timeout` per request, so a download that keeps moving may take
        // as long as it needs.
        let http = reqwest::Client::builder()
            .connect_timeout(self.timeout)
            .read_timeout(self.timeout)
            // The key is a header of ours, which reqwest keeps on a
            // redirect to another host: follow none, report them.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| ConfigError::Pool(Box::new(err)))?;
        Ok(GeminiClient {
            http,
            base: format!("{host}/{version}"),
            host,
            version: version.to_owned(),
            key: self.key,
            retry: self.retry,
            timeout: self.timeout,
        })
    }
}

/// A non-success `response` as an [`ApiError::Status`], its body read
/// under the cap (an unreadable body is an answer without a message).
pub(crate) async fn failed_answer(response: reqwest::Response, retries: u32) -> ApiError {
    let status = response.status();
    let text = read_capped(response, MAX_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    status_error(status, &String::from_utf8_lossy(&text), retries)
}

/// A non-success answer as an [`ApiError::Status`], with Google's
/// `{"error": {"code", "message", "status"}}` when the body has it.
fn status_error(status: StatusCode, text: &str, retries: u32) -> ApiError {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let error = body.as_ref().and_then(|body| body.get("error"));
    let field = |name: &str| {
        error
            .and_then(|error| error.get(name))
            .and_then(Value::as_str)
            .map(printable)
    };
    ApiError::Status {
        status,
        google_status: field("status"),
        message: field("message").unwrap_or_else(|| "the answer has no error message".to_owned()),
        retries,
    }
}

/// Reads `response`'s body, refusing it past `limit` bytes
/// ([`ApiError::TooLarge`]) without holding more than that.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ApiError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ApiError::Unreachable)? {
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After` in seconds (the form Google sends); an HTTP date is
/// ignored (the backoff applies).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

impl fmt::Debug for GeminiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiClient")
            .field("base", &self.base)
            .field("key", &"[redacted]")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for GeminiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiClientBuilder")
            .field("host", &self.host)
            .field("version", &self.version)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_follow_retry_after_and_stay_bounded() {
        let retry = Retry {
            max_retries: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        };
        assert_eq!(retry.pause(0, None), Duration::from_millis(500));
        assert_eq!(retry.pause(2, None), Duration::from_secs(2));
        assert_eq!(retry.pause(10, None), Duration::from_secs(30));
        assert_eq!(
            retry.pause(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            retry.pause(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn only_what_cannot_have_taken_effect_is_retried() {
        let retry = Retry {
            max_retries: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        };
        for method in [Method::GET, Method::PATCH, Method::DELETE, Method::POST] {
            assert!(
                retry.retries(&method, StatusCode::TOO_MANY_REQUESTS),
                "{method} 429"
            );
            let after_503 = retry.retries(&method, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(after_503, method != Method::POST, "{method} 503");
            for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY] {
                assert!(!retry.retries(&method, status), "{method} {status}");
            }
        }
    }

    #[test]
    fn google_s_error_body_is_read_and_anything_else_tolerated() {
        let body = r#"{"error": {"code": 403, "message": "API key not valid\u001b[2J", "status": "PERMISSION_DENIED"}}"#;
        let err = status_error(StatusCode::FORBIDDEN, body, 0);
        assert_eq!(
            err.to_string(),
            "the Gemini API answered 403 Forbidden PERMISSION_DENIED: API key not valid\\u{1b}[2J"
        );
        let err = status_error(StatusCode::BAD_GATEWAY, "<html>", 2);
        assert!(
            matches!(
                err,
                ApiError::Status {
                    retries: 2,
                    google_status: None,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn bad_settings_are_build_errors_and_the_key_is_never_shown() {
        for host in [
            "generativelanguage.googleapis.com",
            "ftp://h",
            "https://h/v1beta",
        ] {
            assert!(
                GeminiClient::builder("k").host(host).build().is_err(),
                "{host}"
            );
        }
        assert!(
            GeminiClient::builder("k")
                .api_version("v1/x")
                .build()
                .is_err()
        );
        assert!(GeminiClient::new(" ").is_err());
        let client = GeminiClient::new("AIzaSecretKey").unwrap();
        assert!(!format!("{client:?}").contains("AIzaSecretKey"));
        let builder = GeminiClient::builder("AIzaSecretKey");
        assert!(!format!("{builder:?}").contains("AIzaSecretKey"));
        assert_eq!(
            client.base,
            "https://generativelanguage.googleapis.com/v1beta"
        );
    }

    #[test]
    fn retry_after_in_seconds_is_read() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
