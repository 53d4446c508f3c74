//! [`replay_store_contract`]: the [`ReplayStore`] contract as one test any
//! store runs, ours and yours.

use std::time::Duration;

use crate::replay::{Claim, ClaimToken, Extension, ReplayStore};

/// The TTL the contract commits with when it checks that a commit's TTL is
/// honoured.
const SHORT_COMMIT_TTL: Duration = Duration::from_secs(1);

/// The longest in-flight TTL the contract waits out.
const LONGEST_WAIT: Duration = Duration::from_secs(30);

/// How many copies claim one fresh id at once.
const COPIES: usize = 16;

/// Checks that `store` keeps the [`ReplayStore`] contract, and panics with
/// a message naming the broken rule if it does not:
///
/// 1. a fresh id's claim is [`Claim::New`]; of 16
///    concurrent claims of one fresh id exactly one is `New`, the others
///    [`Claim::InFlight`];
/// 2. a claimed id is `InFlight` to every other claim;
/// 3. a token that does not hold the id cannot commit it (an error, the
///    claim unchanged), release it (the claim unchanged) or extend it
///    ([`Extension::Lost`], not an error: an error means "the store did
///    not answer", and the receiver keeps trying);
/// 4. the holder's `extend` is [`Extension::Renewed`]; its `commit` makes
///    the id [`Claim::Done`], after which `extend` is `Lost` and a
///    `release` with the old token changes nothing;
/// 5. the holder's `release` makes the id `New` to the next claim, under a
///    new token, which the released one cannot commit over;
/// 6. a claim neither extended nor settled lapses after
///    [`in_flight_ttl`](ReplayStore::in_flight_ttl): the next claim is
///    `New`, and the lapsed token can no longer commit;
/// 7. a commit's TTL is honoured: committed for 1 s, the id is `New` again
///    once it has passed; committed for an hour, it is still `Done` after
///    the in-flight TTL.
///
/// Every id is fresh and random, so one store instance (and one database
/// or Redis) serves a whole test run, beside other tests. Build the store
/// with a short in-flight TTL (1 s is good; more than 30 s is refused):
/// the contract waits it out once, in real time: run it on a runtime whose
/// time is not paused, since stores keep time on clocks of their own
/// (moka's for the memory store's handled ids, Redis's, PostgreSQL's).
///
/// ```
/// use std::time::Duration;
/// use gemini_webhooks::replay::MemoryReplayStore;
/// use gemini_webhooks::testing::replay_store_contract;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryReplayStore::builder()
///     .in_flight_ttl(Duration::from_secs(1))
///     .build();
/// replay_store_contract(&store).await;
/// # }
/// ```
///
/// A store of your own (DynamoDB, SQLite, …) runs it the same way, in a
/// `#[tokio::test]`.
pub async fn replay_store_contract<S: ReplayStore>(store: &S) {
    let ttl = store.in_flight_ttl();
    assert!(
        !ttl.is_zero() && ttl <= LONGEST_WAIT,
        "replay_store_contract: build the store with an in-flight TTL above 0 \
         and at most {LONGEST_WAIT:?} (it is {ttl:?}); the contract waits it out"
    );
    let run = Run::new();
    one_claim_among_concurrent_copies(store, &run).await;
    let committed = strangers_change_nothing_and_commit_makes_done(store, &run).await;
    release_makes_new(store, &run).await;
    // What needs time to pass shares one wait.
    let lapsing = run.id("lapsing");
    let lapsed = run.claim_new(store, &lapsing, "6: a fresh id").await;
    let short = run.id("short-commit");
    let token = run.claim_new(store, &short, "7: a fresh id").await;
    expect_ok(
        store.commit(&short, &token, SHORT_COMMIT_TTL).await,
        "7: the holder's commit",
    );
    tokio::time::sleep(ttl.max(SHORT_COMMIT_TTL) + Duration::from_millis(250)).await;
    claims_lapse_after_the_in_flight_ttl(store, &run, &lapsing, lapsed).await;
    expect(
        store,
        &short,
        |claim| matches!(claim, Claim::New(_)),
        "7: an id committed for 1 s must be New once the second has passed",
    )
    .await;
    expect(
        store,
        &committed,
        |claim| *claim == Claim::Done,
        "7: an id committed for an hour must still be Done after the in-flight TTL",
    )
    .await;
}

/// Rule 1.
async fn one_claim_among_concurrent_copies<S: ReplayStore>(store: &S, run: &Run) {
    let id = run.id("concurrent");
    let claims = futures_util::future::join_all((0..COPIES).map(|_| store.claim(&id))).await;
    let mut new = 0;
    for claim in claims {
        match claim {
            Ok(Claim::New(_)) => new += 1,
            Ok(Claim::InFlight) => {}
            other => panic!(
                "ReplayStore contract, rule 1: concurrent claims of a fresh id must be New \
                 or InFlight, got {other:?}"
            ),
        }
    }
    assert_eq!(
        new, 1,
        "ReplayStore contract, rule 1: of {COPIES} concurrent claims of a fresh id, \
         exactly one must be New ({new} were)"
    );
}

/// Rules 2–4; returns the id it committed (for an hour).
async fn strangers_change_nothing_and_commit_makes_done<S: ReplayStore>(
    store: &S,
    run: &Run,
) -> String {
    let id = run.id("settle");
    let token = run.claim_new(store, &id, "1: a fresh id").await;
    let in_flight = |claim: &Claim| *claim == Claim::InFlight;
    expect(store, &id, in_flight, "2: a claimed id must be InFlight").await;
    strangers_change_nothing(store, &id).await;
    expect_extension(
        store.extend(&id, &token).await,
        Extension::Renewed,
        "4: the holder's extend",
    );
    expect_ok(
        store.commit(&id, &token, Duration::from_secs(3600)).await,
        "4: the holder's commit",
    );
    let done = |claim: &Claim| *claim == Claim::Done;
    expect(store, &id, done, "4: a committed id must be Done").await;
    expect_extension(
        store.extend(&id, &token).await,
        Extension::Lost,
        "4: extend after commit",
    );
    let _ = store.release(&id, &token).await;
    expect(
        store,
        &id,
        done,
        "4: a release after commit must leave it Done",
    )
    .await;
    id
}

/// Rule 3: a token that does not hold `id` commits, releases and extends
/// nothing.
async fn strangers_change_nothing<S: ReplayStore>(store: &S, id: &str) {
    let in_flight = |claim: &Claim| *claim == Claim::InFlight;
    let stranger = ClaimToken::new();
    assert!(
        store
            .commit(id, &stranger, Duration::from_secs(3600))
            .await
            .is_err(),
        "ReplayStore contract, rule 3: a commit with a token that does not hold the id \
         must be an error"
    );
    expect(
        store,
        id,
        in_flight,
        "3: a stranger's commit must leave the claim",
    )
    .await;
    let _ = store.release(id, &stranger).await;
    expect(
        store,
        id,
        in_flight,
        "3: a stranger's release must leave the claim",
    )
    .await;
    expect_extension(
        store.extend(id, &stranger).await,
        Extension::Lost,
        "3: extend with a token that does not hold the id",
    );
}

/// Rule 5.
async fn release_makes_new<S: ReplayStore>(store: &S, run: &Run) {
    let id = run.id("release");
    let token = run.claim_new(store, &id, "1: a fresh id").await;
    expect_ok(store.release(&id, &token).await, "5: the holder's release");
    let again = run
        .claim_new(store, &id, "5: a released id must be New to the next claim")
        .await;
    assert_ne!(
        again, token,
        "ReplayStore contract, rule 5: a new claim must get a new token"
    );
    assert!(
        store
            .commit(&id, &token, Duration::from_secs(3600))
            .await
            .is_err(),
        "ReplayStore contract, rule 5: a released token must not commit over the next claim"
    );
    expect(
        store,
        &id,
        |claim| *claim == Claim::InFlight,
        "5: the next claim must hold after the released token's commit",
    )
    .await;
}

/// Rule 6, once the in-flight TTL has passed since `lapsed` was claimed.
async fn claims_lapse_after_the_in_flight_ttl<S: ReplayStore>(
    store: &S,
    run: &Run,
    id: &str,
    lapsed: ClaimToken,
) {
    let token = run
        .claim_new(
            store,
            id,
            "6: a claim neither extended nor settled must lapse after in_flight_ttl()",
        )
        .await;
    assert!(
        store
            .commit(id, &lapsed, Duration::from_secs(3600))
            .await
            .is_err(),
        "ReplayStore contract, rule 6: a lapsed claim's token must not commit over the new claim"
    );
    expect(
        store,
        id,
        |claim| *claim == Claim::InFlight,
        "6: the new claim must hold after the lapsed token's commit",
    )
    .await;
    let _ = store.release(id, &token).await;
}

/// One run's fresh ids.
struct Run(String);

impl Run {
    fn new() -> Self {
        Self(format!("contract-{}", super::random_id()))
    }

    fn id(&self, rule: &str) -> String {
        format!("{}-{rule}", self.0)
    }

    /// Claims `id`, which must be `New`.
    async fn claim_new<S: ReplayStore>(&self, store: &S, id: &str, rule: &str) -> ClaimToken {
        match store.claim(id).await {
            Ok(Claim::New(token)) => token,
            other => panic!("ReplayStore contract, rule {rule}: expected New, got {other:?}"),
        }
    }
}

/// Claims `id` and checks the answer with `want`.
async fn expect<S: ReplayStore>(store: &S, id: &str, want: impl Fn(&Claim) -> bool, rule: &str) {
    match store.claim(id).await {
        Ok(claim) if want(&claim) => {}
        other => panic!("ReplayStore contract, rule {rule}; the claim was {other:?}"),
    }
}

fn expect_ok(result: Result<(), crate::replay::ReplayError>, rule: &str) {
    if let Err(err) = result {
        panic!("ReplayStore contract, rule {rule} must succeed; it failed: {err}");
    }
}

fn expect_extension(
    result: Result<Extension, crate::replay::ReplayError>,
    expected: Extension,
    rule: &str,
) {
    match result {
        Ok(extension) if extension == expected => {}
        Ok(extension) => {
            panic!("ReplayStore contract, rule {rule} must be {expected:?}; it was {extension:?}")
        }
        Err(err) => panic!(
            "ReplayStore contract, rule {rule} must be {expected:?}; it failed: {err} \
             (an error means the store did not answer)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::replay::{MemoryReplayStore, ReplayError};

    /// How a store under test breaks the contract.
    #[derive(Clone, Copy, PartialEq)]
    enum Break {
        Nothing,
        /// Every claim is New.
        NotAtomic,
        /// Commit, release and extend accept any token.
        AnyToken,
        /// Release leaves the claim.
        ReleaseKeeps,
        /// Claims last an hour whatever `in_flight_ttl` says.
        NeverLapses,
        /// Every commit lasts an hour.
        CommitTtlIgnored,
        /// An extension by a token that does not hold the id is an error,
        /// not `Lost`.
        LostAsError,
        /// Extend (only) accepts any token.
        StrangerExtends,
    }

    /// A memory store, broken on purpose one way.
    struct Broken {
        inner: MemoryReplayStore,
        how: Break,
        /// Each id's real token, for `AnyToken`.
        tokens: Mutex<HashMap<String, ClaimToken>>,
    }

    impl Broken {
        fn new(how: Break) -> Self {
            let ttl = if how == Break::NeverLapses { 3600 } else { 1 };
            Self {
                inner: MemoryReplayStore::builder()
                    .in_flight_ttl(Duration::from_secs(ttl))
                    .build(),
                how,
                tokens: Mutex::default(),
            }
        }

        fn token(&self, id: &str, token: &ClaimToken) -> ClaimToken {
            match self.how {
                Break::AnyToken => self.tokens.lock().unwrap()[id].clone(),
                _ => token.clone(),
            }
        }
    }

    impl ReplayStore for Broken {
        async fn claim(&self, id: &str) -> Result<Claim, ReplayError> {
            let claim = self.inner.claim(id).await?;
            if let Claim::New(token) = &claim {
                self.tokens
                    .lock()
                    .unwrap()
                    .insert(id.to_owned(), token.clone());
            }
            match (self.how, claim) {
                (Break::NotAtomic, Claim::InFlight) => Ok(Claim::New(ClaimToken::new())),
                (_, claim) => Ok(claim),
            }
        }

        async fn commit(
            &self,
            id: &str,
            token: &ClaimToken,
            ttl: Duration,
        ) -> Result<(), ReplayError> {
            let ttl = match self.how {
                Break::CommitTtlIgnored => Duration::from_secs(3600),
                _ => ttl,
            };
            self.inner.commit(id, &self.token(id, token), ttl).await
        }

        async fn release(&self, id: &str, token: &ClaimToken) -> Result<(), ReplayError> {
            if self.how == Break::ReleaseKeeps {
                return Ok(());
            }
            self.inner.release(id, &self.token(id, token)).await
        }

        async fn extend(&self, id: &str, token: &ClaimToken) -> Result<Extension, ReplayError> {
            let token = match self.how {
                Break::StrangerExtends => self.tokens.lock().unwrap()[id].clone(),
                _ => self.token(id, token),
            };
            match self.inner.extend(id, &token).await? {
                Extension::Lost if self.how == Break::LostAsError => {
                    Err(ReplayError::new("not held"))
                }
                extension => Ok(extension),
            }
        }

        fn in_flight_ttl(&self) -> Duration {
            Duration::from_secs(1)
        }
    }

    /// The contract's panic message for a store broken `how`, or `None`.
    async fn verdict(how: Break) -> Option<String> {
        let outcome = tokio::spawn(async move { replay_store_contract(&Broken::new(how)).await });
        match outcome.await {
            Ok(()) => None,
            Err(err) => {
                let panic = err.into_panic();
                let text = match panic.downcast::<String>() {
                    Ok(text) => *text,
                    Err(panic) => panic
                        .downcast::<&str>()
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                };
                Some(text)
            }
        }
    }

    #[tokio::test]
    async fn each_broken_rule_is_named() {
        let (
            intact,
            not_atomic,
            any_token,
            release_keeps,
            never_lapses,
            ttl_ignored,
            lost_as_error,
        ) = tokio::join!(
            verdict(Break::Nothing),
            verdict(Break::NotAtomic),
            verdict(Break::AnyToken),
            verdict(Break::ReleaseKeeps),
            verdict(Break::NeverLapses),
            verdict(Break::CommitTtlIgnored),
            verdict(Break::LostAsError),
        );
        let stranger_extends = verdict(Break::StrangerExtends).await;
        assert_eq!(intact, None);
        for (verdict, rule) in [
            (
                not_atomic,
                "rule 1: of 16 concurrent claims of a fresh id, exactly one must be New (16 were)",
            ),
            (
                any_token,
                "rule 3: a commit with a token that does not hold the id must be an error",
            ),
            (
                release_keeps,
                "rule 5: a released id must be New to the next claim",
            ),
            (
                never_lapses,
                "rule 6: a claim neither extended nor settled must lapse",
            ),
            (ttl_ignored, "rule 7: an id committed for 1 s must be New"),
            (
                lost_as_error,
                "rule 3: extend with a token that does not hold the id must be Lost; it failed",
            ),
            (
                stranger_extends,
                "rule 3: extend with a token that does not hold the id must be Lost; it was \
                 Renewed",
            ),
        ] {
            let verdict = verdict.unwrap_or_default();
            assert!(verdict.contains(rule), "{verdict:?} does not name {rule:?}");
        }
    }

    #[tokio::test]
    #[should_panic(expected = "an in-flight TTL above 0 and at most 30s (it is 600s)")]
    async fn a_long_in_flight_ttl_is_refused_before_any_wait() {
        replay_store_contract(&MemoryReplayStore::new()).await;
    }
}
