//! [`RedisReplayStore`]: the replay store many receiver replicas share,
//! on Redis: claims, commits and releases as token-checked scripts, and
//! what a timed-out one leaves undone settled in the background.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;

use super::{
    Claim, ClaimToken, DEFAULT_DEDUP_TTL, DEFAULT_IN_FLIGHT_TTL, Extension, ReplayError,
    ReplayStore, background,
};
use crate::config_error::ConfigError;

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "gemini-webhooks:";

/// What a handled id's key holds; a claim holds its token instead.
const DONE: &str = "done";

/// Sets the done marker unless another claim holds the key: while it holds
/// this claim's token, and also when it is free (this claim lapsed, or
/// never landed, and nobody took over: the handler did succeed) or already
/// done. So a commit retried after a timeout is right in whatever order it
/// and a late claim reach Redis: a late `SET NX` finds the marker and fails.
const COMMIT: &str = r"
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] or held == false or held == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0";

/// Deletes the key only while it still holds this claim's token (same
/// arguments as `COMMIT`; the marker and TTL are not needed).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Pushes the claim's expiry to a full in-flight TTL from now, only while
/// the key still holds this claim's token (same arguments as `COMMIT`).
const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0";

/// A [`ReplayStore`] in Redis, shared by every replica of a receiver
/// (feature `redis`).
///
/// One round trip per operation:
/// - claim: `SET key <token> NX GET PX <in-flight ttl>` — sets the claim if
///   the key is free, and otherwise returns what holds it (the done marker,
///   or another claim's token), atomically;
/// - commit: a script that replaces the claim with the done marker for the
///   dedup TTL, unless another claim holds the key (a replica whose claim
///   expired and was taken over cannot clobber the new owner);
/// - release: a script that deletes the key only while it holds this
///   claim's token;
/// - extend (while a handler runs): a script that renews the claim's expiry
///   under that condition.
///
/// Needs Redis 7.0 or later (`SET … NX GET`).
///
/// The connection (a `redis` connection manager that reconnects) is opened
/// on first use. If Redis cannot answer within the timeout, `claim` fails
/// and the receiver answers 503 so Gemini retries (fail closed); with
/// [`fail_open`](RedisReplayStoreBuilder::fail_open) the delivery goes
/// through unprotected instead, with a warning. A claim that timed out may
/// still reach Redis later (a slow or paused server): fail closed, the
/// store then releases it in the background (token-checked, retried until
/// Redis answers or the claim would have lapsed anyway), so the retry is
/// not answered 409 for the whole in-flight TTL; fail open, the handler
/// runs under that same token. A commit that timed out is retried the same
/// way, so a handled delivery is recorded once Redis answers again.
///
/// ```no_run
/// use gemini_webhooks::replay::RedisReplayStore;
/// use gemini_webhooks::{Verifier, tower::WebhookLayer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisReplayStore::builder("redis://127.0.0.1:6379").build()?;
/// let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
/// let layer = WebhookLayer::new(verifier).replay_store(store);
/// # Ok(())
/// # }
/// ```
pub struct RedisReplayStore {
    client: Client,
    connection: OnceCell<ConnectionManager>,
    settings: StoreSettings,
    commit: Script,
    release: Script,
    extend: Script,
}

/// What a builder configures and a store keeps (everything but the URL,
/// which may carry a password and is never shown).
#[derive(Debug, Clone)]
struct StoreSettings {
    prefix: String,
    in_flight_ttl: Duration,
    dedup_ttl: Duration,
    timeout: Duration,
    fail_open: bool,
}

impl RedisReplayStore {
    /// Configures a store on the Redis at `url` (e.g. `redis://127.0.0.1:6379`).
    pub fn builder(url: impl Into<String>) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            url: url.into(),
            settings: StoreSettings {
                prefix: DEFAULT_KEY_PREFIX.to_owned(),
                in_flight_ttl: DEFAULT_IN_FLIGHT_TTL,
                dedup_ttl: DEFAULT_DEDUP_TTL,
                timeout: Duration::from_secs(1),
                fail_open: false,
            },
        }
    }

    /// Checks that Redis answers (`PING`) within the timeout. Call it at
    /// start-up to fail fast on what would otherwise be a 503 for every
    /// delivery: a wrong URL or password, a server that is not there. The
    /// error shows its cause with [`ErrorChain`](crate::ErrorChain).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks::replay::RedisReplayStore;
    ///
    /// let store = RedisReplayStore::builder(std::env::var("REDIS_URL")?).build()?;
    /// if let Err(err) = store.check().await {
    ///     eprintln!("replay store unusable: {}", gemini_webhooks::ErrorChain(&err));
    ///     std::process::exit(1);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check(&self) -> Result<(), ReplayError> {
        self.run("ping", async |mut connection| {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// The Redis key for `id`.
    pub fn key(&self, id: &str) -> String {
        format!("{}{id}", self.settings.prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, ReplayError> {
        self.connection
            .get_or_try_init(|| {
                let timeout = self.settings.timeout;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(timeout);
                self.client.get_connection_manager_with_config(config)
            })
            .await
            .cloned()
            .map_err(|err| unavailable("could not connect to Redis", err))
    }

    /// Runs `operation` against Redis within the timeout.
    async fn run<T>(
        &self,
        what: &'static str,
        operation: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, ReplayError> {
        let attempt = async {
            let connection = self.connection().await?;
            operation(connection)
                .await
                .map_err(|err| unavailable(what, err))
        };
        tokio::time::timeout(self.settings.timeout, attempt)
            .await
            .map_err(|_| ReplayError::new(format!("{what}: Redis timed out")))?
    }

    async fn claim_in_redis(&self, id: &str, token: &ClaimToken) -> Result<Claim, ReplayError> {
        let key = self.key(id);
        let value = token_value(token);
        let ttl = millis_u64(self.settings.in_flight_ttl);
        let previous: Option<String> = self
            .run("claim", async |mut connection| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("NX")
                    .arg("GET")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(match previous.as_deref() {
            None => Claim::New(token.clone()),
            Some(DONE) => Claim::Done,
            Some(_) => Claim::InFlight,
        })
    }

    /// Runs a token-checked script (release or commit) in the background
    /// until Redis answers it, or the claim would have lapsed anyway: what a
    /// timed-out operation leaves undone. A command whose caller gave up
    /// may never have been sent, so it is sent again.
    fn settle_in_background(&self, script: &Script, id: &str, token: &ClaimToken, ttl: Duration) {
        let (Some(connection), Ok(runtime)) = (
            self.connection.get().cloned(),
            tokio::runtime::Handle::try_current(),
        ) else {
            // Never connected: nothing was sent.
            return;
        };
        let settle = Settle {
            connection,
            script: script.clone(),
            key: self.key(id),
            value: token_value(token),
            ttl,
            timeout: self.settings.timeout,
            give_up_after: self.settings.in_flight_ttl,
        };
        runtime.spawn(settle.run());
    }
}

/// A token-checked script that must reach Redis eventually.
struct Settle {
    connection: ConnectionManager,
    script: Script,
    key: String,
    value: String,
    ttl: Duration,
    timeout: Duration,
    give_up_after: Duration,
}

impl Settle {
    async fn run(self) {
        let settled = background::retry_until(self.give_up_after, MAX_SETTLE_PAUSE, || {
            let mut connection = self.connection.clone();
            let mut invocation = self.script.key(&self.key);
            invocation
                .arg(&self.value)
                .arg(DONE)
                .arg(millis_u64(self.ttl));
            async move {
                let attempt = invocation.invoke_async::<i64>(&mut connection);
                match tokio::time::timeout(self.timeout, attempt).await {
                    Ok(Ok(_)) => true,
                    Ok(Err(err)) => {
                        tracing::debug!(error = %crate::error_chain::ErrorChain(&err), "settling a claim after a timeout failed; retrying");
                        false
                    }
                    Err(_) => {
                        tracing::debug!("settling a claim after a timeout timed out; retrying");
                        false
                    }
                }
            }
        })
        .await;
        if !settled {
            tracing::warn!(key = %self.key, "could not settle a claim after a timeout; it lapses after the in-flight TTL");
        }
    }
}

/// The longest pause between two tries to settle a claim.
const MAX_SETTLE_PAUSE: Duration = Duration::from_secs(2);

impl ReplayStore for RedisReplayStore {
    async fn claim(&self, id: &str) -> Result<Claim, ReplayError> {
        let token = ClaimToken::new();
        match self.claim_in_redis(id, &token).await {
            Err(err) if self.settings.fail_open => {
                Ok(background::fail_open_claim("redis", id, &err, token))
            }
            Err(err) => {
                // The claim may still land (a slow or paused Redis).
                self.settle_in_background(&self.release, id, &token, Duration::ZERO);
                Err(err)
            }
            outcome => outcome,
        }
    }

    async fn commit(&self, id: &str, token: &ClaimToken, ttl: Duration) -> Result<(), ReplayError> {
        let committed = self
            .while_claimed("commit", &self.commit, id, token, ttl)
            .await
            .inspect_err(|_| self.settle_in_background(&self.commit, id, token, ttl))?;
        committed
            .then_some(())
            .ok_or_else(|| ReplayError::new("another claim took over before commit"))
    }

    async fn release(&self, id: &str, token: &ClaimToken) -> Result<(), ReplayError> {
        // Releasing a claim that already lapsed is not an error.
        self.while_claimed("release", &self.release, id, token, Duration::ZERO)
            .await
            .map(drop)
    }

    async fn extend(&self, id: &str, token: &ClaimToken) -> Result<Extension, ReplayError> {
        let ttl = self.settings.in_flight_ttl;
        match self
            .while_claimed("extend", &self.extend, id, token, ttl)
            .await
        {
            Ok(true) => Ok(Extension::Renewed),
            Ok(false) => Ok(Extension::Lost),
            Err(err) => super::background::fail_open_extension(self.settings.fail_open, id, err),
        }
    }

    fn in_flight_ttl(&self) -> Duration {
        self.settings.in_flight_ttl
    }

    fn dedup_ttl(&self) -> Duration {
        self.settings.dedup_ttl
    }
}

impl RedisReplayStore {
    /// Runs a token-checked script (`KEYS[1]` the id's key, `ARGV` the
    /// token, the done marker and a TTL in ms); whether the key still held
    /// the token.
    async fn while_claimed(
        &self,
        what: &'static str,
        script: &Script,
        id: &str,
        token: &ClaimToken,
        ttl: Duration,
    ) -> Result<bool, ReplayError> {
        let (key, value) = (self.key(id), token_value(token));
        let held: i64 = self
            .run(what, async |mut connection| {
                script
                    .key(&key)
                    .arg(&value)
                    .arg(DONE)
                    .arg(millis_u64(ttl))
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Ok(held == 1)
    }
}

fn token_value(token: &ClaimToken) -> String {
    format!("claim:{}", background::token_hex(token))
}

/// Milliseconds for `PX`, at least 1 (Redis refuses 0).
fn millis_u64(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn unavailable(what: &'static str, err: redis::RedisError) -> ReplayError {
    ReplayError::with_source(what, err)
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisReplayStore`].
#[must_use]
pub struct RedisReplayStoreBuilder {
    url: String,
    settings: StoreSettings,
}

impl RedisReplayStoreBuilder {
    /// Prefix of every key (default `gemini-webhooks:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// How long a claim holds when its owner neither commits nor releases
    /// it, e.g. because the replica died (default 10 minutes). Keep it
    /// longer than your slowest handler.
    pub fn in_flight_ttl(mut self, ttl: Duration) -> Self {
        self.settings.in_flight_ttl = ttl;
        self
    }

    /// How long handled ids are remembered (default 25 h, longer than
    /// Gemini's 24 hours of retries): the TTL the receiver commits with.
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.settings.dedup_ttl = ttl;
        self
    }

    /// How long one operation, connecting included, may take before it
    /// counts as Redis being unavailable (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// When Redis cannot answer, let deliveries through (with a warning)
    /// instead of answering 503. Off by default: with it on, a duplicate can
    /// run twice while Redis is down.
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.settings.fail_open = fail_open;
        self
    }

    /// Builds the store; fails only on a malformed URL (the connection is
    /// opened on first use).
    pub fn build(self) -> Result<RedisReplayStore, ConfigError> {
        let client = Client::open(self.url.as_str()).map_err(|err| ConfigError::InvalidUrl {
            service: "Redis",
            reason: err.to_string(),
        })?;
        Ok(RedisReplayStore {
            client,
            connection: OnceCell::new(),
            settings: self.settings,
            commit: Script::new(COMMIT),
            release: Script::new(RELEASE),
            extend: Script::new(EXTEND),
        })
    }
}

impl fmt::Debug for RedisReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStoreBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
