//! [`RedisSink`]: Redis Streams, the webhook id's claim and the `XADD` in
//! one script, so a delivery published twice within the dedup TTL is
//! one entry.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;

use crate::sink::{Message, PublishError, Published, Subject};

const KIND: &str = "redis";

/// Adds the entry unless the webhook id was added within the TTL:
/// `{0, entry id}` when added, `{1, earlier entry id}` for a duplicate.
/// KEYS: the stream, the id's marker; ARGV: the TTL in ms, then the
/// entry's field/value pairs.
const ADD_ONCE: &str = r"
local earlier = redis.call('GET', KEYS[2])
if earlier then return {1, earlier} end
local entry = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[2], entry, 'PX', ARGV[1])
return {0, entry}
";

/// Publishes each message as an entry of a stream (which may hold
/// `{type}`) with the fields `webhook-id`, `webhook-timestamp`,
/// `gemini-event-type` and `body` (the raw verified body). A webhook id
/// already added within the dedup TTL (25 hours by default, a day and
/// Gemini's retry window) is confirmed as a
/// [duplicate](Published::duplicate) without a second entry: the marker
/// `gemini-webhooks:stream:{stream}:{id}` and the entry are written by one
/// script, atomically. In a Redis Cluster, put the stream name in a hash
/// tag (`{gemini}`) so both keys share a slot.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_bridge::{redis::RedisSink, sink::Subject};
///
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let sink = RedisSink::new(client, Subject::parse("gemini:{type}")?);
/// # Ok(()) }
/// ```
pub struct RedisSink {
    client: Client,
    connection: OnceCell<ConnectionManager>,
    stream: Subject,
    dedup_ttl: Duration,
    timeout: Duration,
    add_once: Script,
}

impl std::fmt::Debug for RedisSink {
    // Not the client: its URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSink")
            .field("stream", &self.stream)
            .field("dedup_ttl", &self.dedup_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisSink {
    /// Adds to `stream` through `client`, connecting on first use (so the
    /// sink can be built while Redis is down).
    pub fn new(client: Client, stream: Subject) -> Self {
        Self {
            client,
            connection: OnceCell::new(),
            stream,
            dedup_ttl: Duration::from_secs(25 * 3600),
            timeout: Duration::from_secs(5),
            add_once: Script::new(ADD_ONCE),
        }
    }

    /// How long a webhook id's marker is kept (default 25 hours).
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// How long to wait to connect and for each reply (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connection(&self) -> Result<ConnectionManager, PublishError> {
        self.connection
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.timeout);
                self.client.get_connection_manager_with_config(config)
            })
            .await
            .cloned()
            .map_err(|err| PublishError::not_published(KIND, "could not connect", err))
    }

    async fn add(&self, message: &Message) -> Result<Published, PublishError> {
        let mut connection = self.connection().await?;
        let stream = self.stream.render(message.event_type());
        let marker = format!("gemini-webhooks:stream:{stream}:{}", message.id());
        let mut invocation = self.add_once.key(stream.as_ref());
        invocation.key(marker).arg(ttl_ms(self.dedup_ttl));
        for (name, value) in message.headers() {
            invocation.arg(name).arg(value);
        }
        invocation.arg("body").arg(message.body().as_ref());
        let (duplicate, entry): (u8, String) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(classify)?;
        let published = Published::with_id(entry);
        Ok(if duplicate == 1 {
            published.duplicate()
        } else {
            published
        })
    }
}

/// Refused before sending, or refused by the server: not added. Lost on
/// the way back (an I/O error other than a refused connection: a timeout,
/// a dropped connection): the script may have run.
fn classify(err: redis::RedisError) -> PublishError {
    if err.is_connection_refusal() || !err.is_io_error() {
        PublishError::not_published(KIND, "not added", err)
    } else {
        PublishError::unconfirmed(KIND, "no reply", err)
    }
}

/// At least 1 ms: `PX 0` is an error.
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

crate::sink::macros::sink_impl!(RedisSink, add {
    /// Redis answers `PING`.
    fn ready(&self) -> crate::sink::BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async {
            let mut connection = self.connection().await?;
            let ping = redis::cmd("PING");
            crate::sink::answers_within(KIND, ping.query_async::<()>(&mut connection)).await
        })
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_error_on_the_way_back_may_have_added() {
        use std::io::{Error, ErrorKind};
        let io = |kind| classify(redis::RedisError::from(Error::from(kind)));
        assert!(!io(ErrorKind::ConnectionRefused).may_have_published());
        for lost in [
            ErrorKind::ConnectionReset,
            ErrorKind::TimedOut,
            ErrorKind::UnexpectedEof,
        ] {
            assert!(io(lost).may_have_published(), "{lost:?}");
        }
    }

    #[test]
    fn the_ttl_is_whole_milliseconds_and_never_zero() {
        assert_eq!(ttl_ms(Duration::from_secs(2)), 2000);
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::MAX), u64::MAX);
    }
}
