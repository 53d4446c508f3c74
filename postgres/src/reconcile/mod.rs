//! No job's completion missed (feature `reconcile`): the Gemini jobs the
//! application tracks beside its [`Inbox`](crate::inbox::Inbox)
//! ([`Tracking::track`]) are handled exactly once, by their webhook when
//! it comes, by the [`Reconciler`]'s poll of the Gemini API when it has
//! not come by the job's deadline. In the inbox a "job" is a stored
//! delivery; here it is always the Gemini job (a batch, a video, an
//! interaction) being tracked.
//!
//! - **Tracking** ([`Tracking`], [`TrackedJob`]): a row per job beside the inbox table
//!   (`<table>_tracked`), with its deadline, its horizon, and its
//!   `user_metadata`. A verified delivery whose event ends a tracked job
//!   closes the row, in ingest's own statement; any other event about it
//!   (`interaction.requires_action`) pushes its deadline out.
//! - **Exactly once**: an event that ends a job has a completion key (the
//!   job's kind and the last segment of its resource name, whatever the
//!   ending's type) unique in the inbox, beside the webhook id; whichever
//!   copy comes first — a webhook, the same event under another webhook
//!   id, a poll that names the ending otherwise — is stored and handled,
//!   and the others are no-ops.
//! - **Polling** ([`Reconciler`]): due jobs are claimed with `FOR UPDATE
//!   SKIP LOCKED`, polled, and turned into an inbox row in the transaction
//!   that closes them; jobs still running are polled again with backoff,
//!   until their kind's [horizon](horizon()). The handler gets the
//!   event a webhook would have carried, and tells it apart by
//!   [`Job::origin`](crate::inbox::Job::origin).
//!
//! The guide [`crate::guide::reconcile`] tells the whole story.

mod db;
mod health;
mod polled;
mod reconciler;
mod record;

mod track;

use std::time::Duration;

pub use reconciler::{Reconciler, Round};
pub use record::{TrackedRecord, TrackedState, WatchedWebhook};
pub use track::{MAX_EXPECT_WITHIN, TrackedJob, Tracking, TrackingCounts};

/// What kind of job is tracked: the event catalogue's kind
/// ([`gemini_webhooks::event::JobKind`]), here with the waits the reconciler assumes
/// for it unless told otherwise.
///
/// | kind | expected within | horizon | why |
/// |---|---|---|---|
/// | `batch` | 24 h | 72 h | Google's target turnaround is 24 h; a batch expires after 48 h (then `batch.expired` is polled) |
/// | `video` | 30 min | 36 h | Veo takes minutes; Google keeps a generated video 2 days, so reconciliation ends well inside them |
/// | `interaction` | 1 h | 23 h | background interactions take minutes; the free tier keeps them 1 day |
pub use gemini_webhooks::event::JobKind;

const HOUR: Duration = Duration::from_secs(3600);

/// How long an event of a job of `kind` may take, unless tracked with a
/// wait of its own.
pub fn default_expect_within(kind: JobKind) -> Duration {
    match kind {
        JobKind::Batch => 24 * HOUR,
        JobKind::Video => HOUR / 2,
        JobKind::Interaction => HOUR,
        // A kind newer than this crate: as long as the longest known.
        _ => 24 * HOUR,
    }
}

/// How long after tracking a job of `kind` still not ended is polled: then
/// it is abandoned, with an ERROR.
pub fn horizon(kind: JobKind) -> Duration {
    match kind {
        JobKind::Batch => 72 * HOUR,
        JobKind::Video => 36 * HOUR,
        JobKind::Interaction => 23 * HOUR,
        _ => 72 * HOUR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_the_documented_waits() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        for (name, kind, within, horizon) in [
            ("batches/b", JobKind::Batch, hours(24), hours(72)),
            (
                "models/veo/operations/o",
                JobKind::Video,
                Duration::from_secs(1800),
                hours(36),
            ),
            ("interactions/i", JobKind::Interaction, hours(1), hours(23)),
        ] {
            let job = gemini_webhooks_api::JobName::parse(name).unwrap();
            assert_eq!(job.kind(), kind);
            assert_eq!(default_expect_within(kind), within, "{name}");
            assert_eq!(self::horizon(kind), horizon, "{name}");
            assert!(self::horizon(kind) > default_expect_within(kind));
        }
        assert_eq!(
            [JobKind::Batch, JobKind::Video, JobKind::Interaction].map(JobKind::as_str),
            ["batch", "video", "interaction"]
        );
    }
}
