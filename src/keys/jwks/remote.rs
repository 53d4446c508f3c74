use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use sha2::Digest as _;

use super::source::Snapshot;
use super::{JwksError, JwksKeys};

/// Where Google publishes the keys that sign Gemini's dynamic webhooks.
pub const GEMINI_JWKS_URL: &str = "https://generativelanguage.googleapis.com/.well-known/jwks.json";

/// A JWKS fetched over HTTPS, cached, and refreshed when needed.
///
/// - Freshness comes from the response's `Cache-Control: max-age`, clamped
///   to [`freshness`](RemoteJwksBuilder::freshness) (default 5 min – 24 h).
///   Once stale, the next delivery starts a refresh in the background and is
///   verified with the cached keys meanwhile.
/// - When a delivery fails on the cached keys (a `v1a` entry verifies under
///   none of them, or a JWT names an unknown `kid`), one refresh runs before
///   it is refused, at most once per
///   [`min_refresh_interval`](RemoteJwksBuilder::min_refresh_interval)
///   (default 30 s), single-flight: concurrent deliveries wait for the same
///   fetch, and deliveries that verify with cached keys never wait at all.
/// - A failed refresh keeps the cached keys serving (with a warning) up to
///   [`max_staleness`](RemoteJwksBuilder::max_staleness) (default 7 days);
///   with no usable keys left, deliveries get `503` so Gemini retries.
pub struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    config: RemoteJwksBuilder,
    cached: RwLock<Option<Arc<Cached>>>,
    /// Counts the loads that changed the usable keys (not every load).
    generation: AtomicU64,
    /// Held only by refreshers, across the fetch: the single flight.
    refresh: tokio::sync::Mutex<Option<Instant>>,
}

struct Cached {
    keys: Arc<JwksKeys>,
    /// SHA-256 of the document the keys came from, to tell a refresh that
    /// changed nothing.
    digest: [u8; 32],
    fetched_at: Instant,
    fresh_for: Duration,
}

impl RemoteJwks {
    /// Fetches Gemini's JWKS ([`GEMINI_JWKS_URL`]) with the defaults.
    /// Fails only if the HTTP client cannot be built (its TLS backend).
    pub fn gemini() -> Result<Self, JwksError> {
        Self::builder(GEMINI_JWKS_URL).build()
    }

    /// Configures a JWKS fetched from `url`.
    /// Nothing is checked until [`build`](RemoteJwksBuilder::build).
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            url: url.into(),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_document_size: 256 * 1024,
            min_fresh: Duration::from_secs(5 * 60),
            max_fresh: Duration::from_secs(24 * 60 * 60),
            min_refresh_interval: Duration::from_secs(30),
            max_staleness: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }

    /// The URL keys are fetched from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Loads the keys now (at start-up), whatever the refresh interval.
    pub async fn prefetch(&self) -> Result<(), JwksError> {
        let mut last_attempt = self.refresh.lock().await;
        *last_attempt = Some(Instant::now());
        self.load().await
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        // The read lock is held only to clone an `Arc`, never across I/O.
        let generation = self.generation.load(Ordering::Acquire);
        let cached = self
            .cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let keys = cached
            .filter(|cached| cached.fetched_at.elapsed() <= self.config.max_staleness)
            .map(|cached| Arc::clone(&cached.keys));
        Snapshot { keys, generation }
    }

    /// Whether the cached keys are past their freshness (or absent).
    pub(crate) fn is_stale(&self) -> bool {
        self.cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_none_or(|cached| cached.fetched_at.elapsed() >= cached.fresh_for)
    }

    /// Refreshes unless the keys changed since `seen_generation` or the last
    /// attempt is more recent than the minimum interval. Callers that find
    /// a refresh in flight wait for it instead of starting another.
    ///
    /// Returns whether the usable keys changed since `seen_generation`: a
    /// delivery is worth checking again only then.
    pub(crate) async fn refresh(&self, seen_generation: u64) -> bool {
        let mut last_attempt = self.refresh.lock().await;
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return true;
        }
        if last_attempt.is_some_and(|at| at.elapsed() < self.config.min_refresh_interval) {
            return false;
        }
        *last_attempt = Some(Instant::now());
        if let Err(err) = self.load().await {
            let serving = self.snapshot().keys.is_some();
            tracing::warn!(url = %self.url, error = %crate::error_chain::ErrorChain(&err), serving_cached_keys = serving, "JWKS refresh failed");
        }
        self.generation.load(Ordering::Acquire) != seen_generation
    }

    /// Starts a refresh in the background if the keys are stale and nobody
    /// is refreshing; never waits.
    pub(crate) fn refresh_in_background(self: &Arc<Self>) {
        if !self.is_stale() || self.refresh.try_lock().is_err() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (remote, generation) = (Arc::clone(self), self.generation.load(Ordering::Acquire));
        runtime.spawn(async move { remote.refresh(generation).await });
    }

    async fn load(&self) -> Result<(), JwksError> {
        // The client has its own timeouts; this one also bounds reading a
        // body that trickles in.
        let (keys, digest, max_age) = tokio::time::timeout(self.config.timeout, self.fetch())
            .await
            .map_err(|_| JwksError::Request("timed out".into()))??;
        let fresh_for = max_age
            .unwrap_or(self.config.min_fresh)
            .clamp(self.config.min_fresh, self.config.max_fresh);
        tracing::info!(url = %self.url, keys = keys.len(), fresh_for_secs = fresh_for.as_secs(), "JWKS loaded");
        let mut cached = self.cached.write().unwrap_or_else(PoisonError::into_inner);
        // The same document as the one serving (and still serving) changes
        // nothing a delivery could be checked against.
        let unchanged = cached.as_ref().is_some_and(|old| {
            old.digest == digest && old.fetched_at.elapsed() <= self.config.max_staleness
        });
        *cached = Some(Arc::new(Cached {
            keys: Arc::new(keys),
            digest,
            fetched_at: Instant::now(),
            fresh_for,
        }));
        if !unchanged {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    async fn fetch(&self) -> Result<(JwksKeys, [u8; 32], Option<Duration>), JwksError> {
        let request_failed =
            |err: reqwest::Error| JwksError::Request(err.without_url().to_string());
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(request_failed)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status()));
        }
        let limit = self.config.max_document_size;
        if response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(JwksError::TooLarge(limit));
        }
        let max_age = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let mut document = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
            if document.len() + chunk.len() > limit {
                return Err(JwksError::TooLarge(limit));
            }
            document.extend_from_slice(&chunk);
        }
        let keys = JwksKeys::from_json(&document)?;
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        let digest = sha2::Sha256::digest(&document).into();
        Ok((keys, digest, max_age))
    }
}

/// `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url)
            .field("config", &self.config)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Configures a [`RemoteJwks`]; every setting has a default.
#[derive(Debug, Clone)]
#[must_use]
pub struct RemoteJwksBuilder {
    url: String,
    connect_timeout: Duration,
    timeout: Duration,
    max_document_size: usize,
    min_fresh: Duration,
    max_fresh: Duration,
    min_refresh_interval: Duration,
    max_staleness: Duration,
}

impl RemoteJwksBuilder {
    /// Connect timeout (default 2 s) and total request timeout (default 5 s).
    pub fn timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.timeout = total;
        self
    }

    /// Largest JWKS document accepted (default 256 KiB).
    pub fn max_document_size(mut self, bytes: usize) -> Self {
        self.max_document_size = bytes;
        self
    }

    /// Bounds for the freshness taken from `Cache-Control: max-age`
    /// (default 5 minutes to 24 hours; the lower bound when absent).
    pub fn freshness(mut self, min: Duration, max: Duration) -> Self {
        self.min_fresh = min;
        self.max_fresh = max.max(min);
        self
    }

    /// Shortest time between two refreshes triggered by unknown keys
    /// (default 30 s), so a flood of forged deliveries cannot hammer the
    /// key server.
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// How long cached keys keep serving after refreshes start failing
    /// (default 7 days).
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// Builds the source. Nothing is fetched until
    /// [`prefetch`](RemoteJwks::prefetch) or the first delivery.
    ///
    /// Fails with [`JwksError::InvalidUrl`] unless the URL is `https://`
    /// (`http://` is accepted only for a loopback host, for tests). Redirects
    /// are followed (at most 5) only to URLs that pass the same check, and
    /// never from `https` to `http`.
    pub fn build(self) -> Result<RemoteJwks, JwksError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|_| JwksError::InvalidUrl("URL does not parse"))?;
        check_url(&url)?;
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            match may_follow(attempt.previous(), attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(reason),
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .redirect(redirects)
            .user_agent(concat!("gemini-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| JwksError::Request(err.to_string()))?;
        Ok(RemoteJwks {
            url: self.url.clone(),
            client,
            config: self,
            cached: RwLock::new(None),
            generation: AtomicU64::new(0),
            refresh: tokio::sync::Mutex::new(None),
        })
    }
}

/// Most redirects followed for one fetch.
const MAX_REDIRECTS: usize = 5;

/// Whether a redirect to `next` may be followed, after the URLs in
/// `previous` (the first is the one asked for): at most [`MAX_REDIRECTS`],
/// each to a URL [`check_url`] accepts, and never from `https` to `http`.
fn may_follow(previous: &[reqwest::Url], next: &reqwest::Url) -> Result<(), &'static str> {
    let from_https = previous
        .first()
        .is_some_and(|first| first.scheme() == "https");
    if previous.len() > MAX_REDIRECTS {
        Err("too many redirects")
    } else if check_url(next).is_err() || (from_https && next.scheme() != "https") {
        Err("refusing to follow a redirect to a non-https URL")
    } else {
        Ok(())
    }
}

/// `https`, or `http` to a loopback host (tests); anything else is refused
/// so keys are never taken from a network an attacker can sit on.
fn check_url(url: &reqwest::Url) -> Result<(), JwksError> {
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(JwksError::InvalidUrl(
            "URL must use https (http only for a loopback host)",
        )),
        _ => Err(JwksError::InvalidUrl("URL must use https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=3600, must-revalidate"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(max_age("MAX-AGE = \"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=-1"), None);
        assert_eq!(max_age("max-age=99999999999999999999999"), None);
    }

    /// A key server on a loopback port serving whatever `document` holds.
    #[cfg(feature = "test-util")]
    async fn serve(document: Arc<std::sync::Mutex<String>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let document = document.lock().unwrap().clone();
                async move { document }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[cfg(feature = "test-util")]
    fn set_of(key: &crate::testing::Ed25519KeyPair) -> String {
        serde_json::json!({"keys": [key.jwk(None)]}).to_string()
    }

    #[cfg(feature = "test-util")]
    #[tokio::test]
    async fn a_refresh_reports_whether_the_keys_changed() {
        let (first, second) = (
            crate::testing::generate_ed25519_key(),
            crate::testing::generate_ed25519_key(),
        );
        let document = Arc::new(std::sync::Mutex::new(set_of(&first)));
        let url = serve(Arc::clone(&document)).await;
        let remote = RemoteJwks::builder(url)
            .min_refresh_interval(Duration::ZERO)
            .build()
            .unwrap();

        assert!(remote.refresh(0).await, "the first load changes the keys");
        let loaded = remote.snapshot().generation;
        assert!(!remote.refresh(loaded).await, "the same document again");
        assert_eq!(remote.snapshot().generation, loaded);
        // A caller that saw an older generation learns that keys changed
        // since, without fetching.
        assert!(remote.refresh(loaded - 1).await);

        *document.lock().unwrap() = set_of(&second);
        assert!(remote.refresh(loaded).await, "a new key");
        assert_eq!(remote.snapshot().generation, loaded + 1);

        // Within the minimum interval nothing is fetched, so nothing changes.
        let limited = RemoteJwks::builder(remote.url())
            .min_refresh_interval(Duration::from_secs(3600))
            .build()
            .unwrap();
        limited.prefetch().await.unwrap();
        let seen = limited.snapshot().generation;
        *document.lock().unwrap() = set_of(&first);
        assert!(!limited.refresh(seen).await);
    }

    #[test]
    fn redirects_stay_on_https_and_are_bounded() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let https = url("https://keys.example/a");
        let local = url("http://127.0.0.1:9/a");
        assert_eq!(
            may_follow(std::slice::from_ref(&https), &url("https://cdn.example/b")),
            Ok(())
        );
        let downgrade = Err("refusing to follow a redirect to a non-https URL");
        assert_eq!(may_follow(std::slice::from_ref(&https), &local), downgrade);
        assert_eq!(
            may_follow(std::slice::from_ref(&https), &url("http://keys.example/b")),
            downgrade
        );
        // Loopback http (tests) may redirect on loopback, not outside it.
        assert_eq!(
            may_follow(std::slice::from_ref(&local), &url("http://localhost:9/b")),
            Ok(())
        );
        assert_eq!(
            may_follow(std::slice::from_ref(&local), &url("http://keys.example/b")),
            downgrade
        );
        assert_eq!(may_follow(std::slice::from_ref(&local), &https), Ok(()));
        // The sixth redirect is one too many.
        let five = vec![https.clone(); MAX_REDIRECTS];
        assert_eq!(may_follow(&five, &https), Ok(()));
        let six = vec![https.clone(); MAX_REDIRECTS + 1];
        assert_eq!(may_follow(&six, &https), Err("too many redirects"));
        assert_eq!(MAX_REDIRECTS, 5);
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        let check = |url: &str| check_url(&reqwest::Url::parse(url).unwrap());
        for ok in [
            "https://generativelanguage.googleapis.com/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks.json",
            "http://127.8.0.1/jwks.json",
            "http://[::1]:9/jwks.json",
            "http://localhost/jwks.json",
            "http://LOCALHOST/jwks.json",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/jwks.json",
            "http://10.0.0.1/jwks.json",
            "http://localhost.example.com/jwks.json",
            "ftp://127.0.0.1/jwks.json",
            "file:///etc/jwks.json",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            RemoteJwks::builder("not a url").build(),
            Err(JwksError::InvalidUrl("URL does not parse"))
        ));
    }
}
