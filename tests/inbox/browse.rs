//! An operator's view of the inbox: pages of the jobs a filter matches,
//! newest first and each once; filters by state, type, time and text
//! (taken literally); the same filter requeues what it shows; the last
//! day's activity.

use std::collections::HashSet;

use crate::common::pg::{drop_table, fresh_inbox};
use crate::order::delivery;
use gemini_webhooks::testing::generate_secret;
use gemini_webhooks_postgres::inbox::{Inbox, Job, JobFilter, JobState};

/// Every key `filter` matches, page after page of `size`.
async fn keys(inbox: &Inbox, filter: &JobFilter, size: u32) -> Vec<String> {
    let mut keys = Vec::new();
    let mut page = inbox.browse(filter, None, size).await.unwrap();
    loop {
        assert!(page.jobs.len() <= size as usize);
        keys.extend(page.jobs.iter().map(|job| job.key.clone()));
        let Some(next) = page.next else { break };
        assert_eq!(
            page.jobs.len(),
            size as usize,
            "a full page before the last"
        );
        page = inbox.browse(filter, Some(&next), size).await.unwrap();
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_filters_and_activity_show_what_the_inbox_holds() {
    let (table, inbox) = fresh_inbox().await;
    let secret = generate_secret();
    let verifier = gemini_webhooks::Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    // Stored one by one, so each is received after the one before.
    let stored = [
        ("msg_ok1", "batch.succeeded", "b1"),
        ("msg_bad1", "batch.failed", "b2"),
        ("msgXbad2", "batch.failed", "b3"),
        ("msg_ok2", "batch.succeeded", "b4"),
        ("msg_bad3", "batch.succeeded", "b5"),
    ];
    for (id, event_type, job) in stored {
        let delivery = delivery(
            &verifier,
            &secret,
            id,
            event_type,
            &format!("batches/{job}"),
            0,
        );
        inbox.ingest(&delivery).await.unwrap();
    }
    let worker = inbox
        .worker(|job: Job| async move {
            match job.delivery().id().contains("bad") {
                true => Err("Quota exceeded"),
                false => Ok(()),
            }
        })
        .max_attempts(1);
    let mut dead = 0;
    loop {
        let batch = worker.run_once().await.unwrap();
        if batch.claimed == 0 {
            break;
        }
        dead += batch.dead;
    }
    assert_eq!(dead, 3);

    let newest_first: Vec<&str> = stored.iter().rev().map(|(id, ..)| *id).collect();
    for size in [1, 2, 5, 9] {
        assert_eq!(
            keys(&inbox, &JobFilter::every_state(), size).await,
            newest_first
        );
    }
    let dead = JobFilter::new(JobState::Dead);
    assert_eq!(
        keys(&inbox, &dead, 2).await,
        ["msg_bad3", "msgXbad2", "msg_bad1"]
    );
    assert_eq!(
        keys(&inbox, &JobFilter::new(JobState::Done), 9).await,
        ["msg_ok2", "msg_ok1"]
    );
    let failed_type = JobFilter::every_state().event_type("batch.failed");
    assert_eq!(
        keys(&inbox, &failed_type, 9).await,
        ["msgXbad2", "msg_bad1"]
    );
    // Case ignored; `_` is a character, not a wildcard.
    assert_eq!(
        keys(&inbox, &JobFilter::every_state().text("QUOTA"), 9)
            .await
            .len(),
        3
    );
    assert_eq!(
        keys(&inbox, &JobFilter::every_state().text("msg_bad"), 9).await,
        ["msg_bad3", "msg_bad1"]
    );
    assert_eq!(
        keys(&inbox, &JobFilter::every_state().text("batch:b4"), 9).await,
        ["msg_ok2"],
        "the Gemini job is searched"
    );
    assert_eq!(
        keys(&inbox, &JobFilter::every_state().text("BATCHES/b4"), 9).await,
        ["msg_ok2"],
        "and the envelope: its resource"
    );
    let found = inbox
        .browse(&JobFilter::every_state().text("b4"), None, 9)
        .await
        .unwrap();
    assert!(found.jobs[0].body.is_empty(), "a page carries no body");
    let record = inbox.browse(&dead, None, 1).await.unwrap().jobs.remove(0);
    assert_eq!(record.event_type.as_deref(), Some("batch.succeeded"));
    assert_eq!(record.job_key.as_deref(), Some("batch:b5"));
    assert_eq!(record.last_error.as_deref(), Some("Quota exceeded"));
    // A time range: from the second job's reception, before the fourth's.
    let all = inbox
        .browse(&JobFilter::every_state(), None, 9)
        .await
        .unwrap()
        .jobs;
    let (second, fourth) = (all[3].received_at, all[1].received_at);
    let range = JobFilter::every_state().since(second).until(fourth);
    assert_eq!(keys(&inbox, &range, 9).await, ["msgXbad2", "msg_bad1"]);

    assert_eq!(
        inbox.counts_up_to(100).await.unwrap(),
        inbox.counts().await.unwrap()
    );
    let capped = inbox.counts_up_to(2).await.unwrap();
    assert_eq!(
        (capped.pending, capped.done, capped.dead),
        (0, 2, 2),
        "3 dead, counted up to 2"
    );

    let activity = inbox.activity().await.unwrap();
    let sum = |count: fn(&_) -> u64| activity.minutes.iter().map(count).sum::<u64>();
    assert_eq!(sum(|minute| minute.received), 5);
    assert_eq!(sum(|minute| minute.failed), 3);
    assert_eq!(sum(|minute| minute.dead), 3);
    assert_eq!(activity.oldest_pending, None);

    // What a filter shows is what it requeues.
    let shown = dead.clone().text("msg_bad");
    assert_eq!(inbox.count_matching(&shown).await.unwrap(), 2);
    assert_eq!(inbox.requeue_matching(&shown, |_| ()).await.unwrap(), 2);
    let pending: HashSet<String> = keys(&inbox, &JobFilter::new(JobState::Pending), 9)
        .await
        .into_iter()
        .collect();
    assert_eq!(
        pending,
        HashSet::from(["msg_bad1".into(), "msg_bad3".into()])
    );
    assert_eq!(
        inbox.activity().await.unwrap().oldest_pending,
        Some(all[3].received_at)
    );
    drop_table(&table).await;
}
