//! Completion keys: which job an event is about, and — for an event that
//! ends its job — the key that makes the completion unique in the inbox,
//! whichever copy comes first (a webhook, the same event under another
//! webhook id, the reconciler's poll).
//!
//! A job's ending is keyed per **job**, never per event type: the poll
//! names an ending from the API's state (`incomplete` is
//! `interaction.failed`, a cancelled batch `batch.cancelled`), which may
//! differ from what the webhook says, and the first of them is the one
//! handled.

use gemini_webhooks::event::{EventType, GeminiEvent, JobKind};

/// Where a job's event came from: [`Job::origin`](super::Job::origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// A verified webhook delivery.
    Webhook,
    /// The reconciler's poll of the Gemini API: the webhook had not come
    /// by the job's deadline.
    Poll,
}

impl Origin {
    /// `webhook` or `poll`: the label it is counted under.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Poll => "poll",
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventKeys {
    /// `{kind}:{id}`: the job, as tracking knows it.
    pub(crate) job: String,
    /// Whether the event ends the job.
    pub(crate) ends: bool,
}

impl EventKeys {
    /// The completion key of an event that ends its job: the job's key (one
    /// ending per job, whatever its type); `None` for any other event.
    pub(crate) fn completion(&self) -> Option<&str> {
        self.ends.then_some(self.job.as_str())
    }
}

/// The completion key of an event of `event_type` about `id`: the job's
/// key (`{kind}:{last path segment}`) for an event that ends the job, so
/// `interaction.failed` and `interaction.completed` of one interaction are
/// one completion; `{type}:{last path segment}` for any other event.
#[cfg(feature = "reconcile")]
pub(crate) fn completion_key(event_type: EventType, id: &str) -> String {
    if event_type.ends_job() {
        event_type.job_kind().job_key(id)
    } else {
        format!("{event_type}:{}", last_segment(id))
    }
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The keys of an event about a batch, a video or an interaction with an
/// id; `None` for anything else.
pub(crate) fn keys_of(event: &GeminiEvent) -> Option<EventKeys> {
    let event_type = event.event_type();
    let id = event
        .resource_id()
        .filter(|id| !last_segment(id).is_empty())?;
    // A type not in the catalogue yet is still about its kind's job (it
    // pushes the job's deadline out); only a catalogued one ends it.
    let known = EventType::parse(event_type);
    let kind = match known {
        Some(known) => known.job_kind(),
        None => JobKind::parse(event_type.split_once('.')?.0)?,
    };
    Some(EventKeys {
        job: kind.job_key(id),
        ends: known.is_some_and(EventType::ends_job),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(body: &str) -> Option<EventKeys> {
        keys_of(&GeminiEvent::from_slice(body.as_bytes()).unwrap())
    }

    #[test]
    fn a_completion_is_keyed_by_type_and_last_segment() {
        let full = keys(r#"{"type":"batch.succeeded","data":{"id":"batches/b1"}}"#).unwrap();
        let bare = keys(r#"{"type":"batch.succeeded","data":{"id":"b1"}}"#).unwrap();
        assert_eq!(full, bare, "data.id with or without batches/");
        assert_eq!(full.job, "batch:b1");
        assert_eq!(full.completion(), Some("batch:b1"));
        // A video's data.id: the operation's name, or only its last
        // segment (the guide does not say which): one job either way.
        let video =
            keys(r#"{"type":"video.generated","data":{"id":"models/veo/operations/o1"}}"#).unwrap();
        let short = keys(r#"{"type":"video.generated","data":{"id":"o1"}}"#).unwrap();
        assert_eq!(video, short);
        assert_eq!(
            (video.job.as_str(), video.completion()),
            ("video:o1", Some("video:o1"))
        );
    }

    #[test]
    fn every_ending_of_one_job_has_one_key_whatever_its_type() {
        for (kind, types) in [
            (
                "batch",
                &[
                    "batch.succeeded",
                    "batch.failed",
                    "batch.expired",
                    "batch.cancelled",
                ][..],
            ),
            ("video", &["video.generated", "video.failed"][..]),
            (
                "interaction",
                &[
                    "interaction.completed",
                    "interaction.failed",
                    "interaction.cancelled",
                ][..],
            ),
        ] {
            for event_type in types {
                let body = format!(r#"{{"type":"{event_type}","data":{{"id":"x/j9"}}}}"#);
                let keys = keys(&body).unwrap();
                assert_eq!(
                    keys.completion(),
                    Some(format!("{kind}:j9").as_str()),
                    "{event_type}"
                );
                #[cfg(feature = "reconcile")]
                assert_eq!(
                    completion_key(EventType::parse(event_type).unwrap(), "j9"),
                    format!("{kind}:j9")
                );
            }
        }
        // An event that does not end its job keeps its own identity.
        #[cfg(feature = "reconcile")]
        assert_eq!(
            completion_key(EventType::InteractionRequiresAction, "interactions/i1"),
            "interaction.requires_action:i1"
        );
    }

    #[test]
    fn only_terminal_events_complete_a_job() {
        let action =
            keys(r#"{"type":"interaction.requires_action","data":{"id":"interactions/i1"}}"#)
                .unwrap();
        assert_eq!(action.job, "interaction:i1");
        assert_eq!(action.completion(), None, "it can recur");
        let ending: Vec<_> = EventType::ALL.iter().filter(|t| t.ends_job()).collect();
        assert_eq!(ending.len(), 9, "every type but requires_action");
        for event_type in ending {
            let body = format!(r#"{{"type":"{event_type}","data":{{"id":"x/j9"}}}}"#);
            let keys = keys(&body).unwrap();
            assert_eq!(keys.completion(), Some(keys.job.as_str()), "{event_type}");
        }
    }

    #[test]
    fn origins_are_labelled_as_documented() {
        assert_eq!(
            (Origin::Webhook.as_str(), Origin::Poll.as_str()),
            ("webhook", "poll")
        );
        assert_eq!(Origin::Poll.to_string(), "poll");
        assert_eq!(format!("{}", Origin::Webhook), "webhook");
    }

    #[test]
    fn events_about_no_job_have_no_keys() {
        assert_eq!(keys(r#"{"type":"batch.succeeded","data":{"id":""}}"#), None);
        assert_eq!(
            keys(r#"{"type":"batch.succeeded","data":{"id":"batches/"}}"#),
            None
        );
        assert_eq!(
            keys(r#"{"type":"file.deleted","data":{"id":"files/f1"}}"#),
            None
        );
        assert_eq!(keys(r#"{"type":"ping","data":{}}"#), None);
        // A type the catalogue does not know yet is about its kind's job,
        // and ends nothing.
        let unknown = keys(r#"{"type":"batch.paused","data":{"id":"batches/b2"}}"#).unwrap();
        assert_eq!((unknown.job.as_str(), unknown.ends), ("batch:b2", false));
        assert_eq!(keys(r#"{"type":"batchsucceeded","data":{"id":"b"}}"#), None);
    }
}
