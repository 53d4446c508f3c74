//! The de-duplication record: one Durable Object per webhook id, holding
//! that delivery's claim, with the crate's `ReplayStore` contract.
//!
//! A Durable Object is the Workers store that can claim atomically: each
//! object is a single thread of execution that the runtime runs in one
//! place, and its input gate holds back every other request while a
//! storage read or write is in progress, so "read the record, write a
//! claim" cannot interleave with a second copy's. Workers KV is eventually
//! consistent (two isolates can both read "absent" and both write), so it
//! cannot claim; D1 with a unique key could, at the cost of an SQL round
//! trip to one database for every delivery of every endpoint. A Durable
//! Object per id spreads deliveries over many objects, and needs no schema.
//!
//! The contract, as `gemini_webhooks::replay::ReplayStore` states it:
//! - `claim` → new (with a token) when there is no record or its claim has
//!   lapsed; in flight while a live claim holds it; done once committed.
//! - `commit(token)` → done for [`DEDUP_TTL_MS`] (longer than Gemini's 24 hours
//!   of retries), only while that token still holds the claim.
//! - `release(token)` → the record is gone, so the next copy runs; only
//!   by the token that holds it.
//! - a claim neither committed nor released lapses after
//!   [`IN_FLIGHT_TTL_MS`]; an alarm deletes the record once it has expired.

use gemini_webhooks::replay::ClaimToken;
use serde::{Deserialize, Serialize};
use worker::{
    Date, DurableObject, Env, Method, Request, RequestInit, Response, State, Stub, durable_object,
};

/// How long a claim holds when its owner neither commits nor releases it.
pub const IN_FLIGHT_TTL_MS: u64 = 10 * 60 * 1000;
/// How long a handled delivery is remembered: 25 hours.
pub const DEDUP_TTL_MS: u64 = 25 * 60 * 60 * 1000;

/// What a claim found.
pub enum Claimed {
    /// No live record: the caller owns the delivery under this token.
    New(u128),
    /// A live claim by someone else.
    InFlight,
    /// Already handled.
    Done,
}

/// The worker's side: a stub of the object named after the webhook id.
pub struct Record {
    stub: Stub,
}

impl Record {
    /// The record of the delivery `id`.
    pub fn open(env: &Env, id: &str) -> worker::Result<Self> {
        let stub = env.durable_object("DEDUPE")?.get_by_name(id)?;
        Ok(Self { stub })
    }

    async fn call(&self, operation: &str, token: u128) -> worker::Result<String> {
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(token.to_string().into()));
        let request = Request::new_with_init(&format!("https://dedupe/{operation}"), &init)?;
        let mut response = self.stub.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "the record answered {} to {operation}",
                response.status_code()
            )));
        }
        response.text().await
    }

    /// Claims the delivery under a fresh token.
    pub async fn claim(&self) -> worker::Result<Claimed> {
        let token = ClaimToken::new().as_u128();
        match self.call("claim", token).await?.as_str() {
            "new" => Ok(Claimed::New(token)),
            "in_flight" => Ok(Claimed::InFlight),
            "done" => Ok(Claimed::Done),
            other => Err(worker::Error::RustError(format!(
                "unexpected claim answer {other:?}"
            ))),
        }
    }

    /// Marks the delivery handled, if `token` still holds its claim.
    pub async fn commit(&self, token: u128) -> worker::Result<()> {
        match self.call("commit", token).await?.as_str() {
            "committed" => Ok(()),
            _ => Err(worker::Error::RustError("the claim had lapsed".to_owned())),
        }
    }

    /// Gives the delivery up, if `token` still holds its claim.
    pub async fn release(&self, token: u128) -> worker::Result<()> {
        self.call("release", token).await.map(drop)
    }
}

#[derive(Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Phase {
    InFlight,
    Done,
}

/// What the object stores under [`KEY`].
#[derive(Serialize, Deserialize)]
struct Stored {
    phase: Phase,
    /// The claim's token, as a decimal string (JSON numbers lose u128s).
    token: String,
    /// When the record stops counting, in milliseconds since the epoch.
    until_ms: u64,
}

const KEY: &str = "record";

/// The object: one per webhook id.
#[durable_object]
pub struct Dedupe {
    state: State,
}

impl DurableObject for Dedupe {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        let operation = request.path();
        let token = request.text().await?;
        let now = Date::now().as_millis();
        let storage = self.state.storage();
        // Expired records count as absent: the alarm may not have run yet.
        let live = storage
            .get::<Stored>(KEY)
            .await?
            .filter(|stored| stored.until_ms > now);
        let holds = |stored: &Stored| stored.phase == Phase::InFlight && stored.token == token;
        let answer = match (operation.as_str(), live) {
            ("/claim", Some(stored)) if stored.phase == Phase::Done => "done",
            ("/claim", Some(_)) => "in_flight",
            ("/claim", None) => {
                self.store(Phase::InFlight, token, now, IN_FLIGHT_TTL_MS)
                    .await?;
                "new"
            }
            ("/commit", Some(stored)) if holds(&stored) => {
                self.store(Phase::Done, token, now, DEDUP_TTL_MS).await?;
                "committed"
            }
            ("/commit", _) => "lost",
            ("/release", Some(stored)) if holds(&stored) => {
                storage.delete(KEY).await?;
                storage.delete_alarm().await?;
                "released"
            }
            ("/release", _) => "lost",
            _ => return Response::error("unknown operation", 404),
        };
        Response::ok(answer)
    }

    /// Deletes the record once it has expired (the object then holds
    /// nothing and costs nothing).
    async fn alarm(&self) -> worker::Result<Response> {
        let storage = self.state.storage();
        let now = Date::now().as_millis();
        match storage.get::<Stored>(KEY).await? {
            Some(stored) if stored.until_ms > now => {
                storage
                    .set_alarm(std::time::Duration::from_millis(stored.until_ms - now))
                    .await?;
            }
            _ => storage.delete_all().await?,
        }
        Response::ok("")
    }
}

impl Dedupe {
    /// Stores the record for `ttl_ms` from `now`, and the alarm that
    /// deletes it then.
    async fn store(
        &self,
        phase: Phase,
        token: String,
        now: u64,
        ttl_ms: u64,
    ) -> worker::Result<()> {
        let storage = self.state.storage();
        let until_ms = now + ttl_ms;
        storage
            .put(
                KEY,
                Stored {
                    phase,
                    token,
                    until_ms,
                },
            )
            .await?;
        storage
            .set_alarm(std::time::Duration::from_millis(ttl_ms))
            .await
    }
}
