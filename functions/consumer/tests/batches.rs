//! The consumer's batch contract on the embedded store: per-record failures, one write per
//! rocket, compare-and-swap retries, and handing records back when a rocket cannot be written.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use consumer::{ConsumerConfig, Record, process_batch};
use rockets_core::aggregate::PENDING_WINDOW;
use rockets_core::fleet::Filters;
use rockets_core::{Aggregate, Message, RocketStore, RocketView, StoreError};
use rockets_embedded::MemoryStore;
use serde_json::{Value, json};

fn body(channel: &str, number: u64, kind: &str, message: Value) -> String {
    json!({
        "metadata": {
            "channel": channel,
            "messageNumber": number,
            "messageTime": "2026-10-01T17:39:42.8989223+02:00",
            "messageType": kind,
        },
        "message": message,
    })
    .to_string()
}

fn launch(channel: &str) -> String {
    body(
        channel,
        1,
        "RocketLaunched",
        json!({"type": "Falcon-9", "launchSpeed": 500, "mission": "M"}),
    )
}

fn up(channel: &str, number: u64, by: i64) -> String {
    body(channel, number, "RocketSpeedIncreased", json!({ "by": by }))
}

fn records(bodies: &[String]) -> Vec<Record> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| Record {
            message_id: format!("id-{i}"),
            body: b.clone(),
        })
        .collect()
}

fn fast() -> ConsumerConfig {
    ConsumerConfig {
        max_attempts: 3,
        conflict_backoff: std::time::Duration::from_millis(1),
    }
}

async fn speed(store: &dyn RocketStore, channel: &str) -> Option<i64> {
    store.get(channel).await.unwrap().and_then(|v| v.speed)
}

#[tokio::test]
async fn a_poison_record_fails_alone() {
    let store = MemoryStore::new();
    let batch = records(&[
        launch("a"),
        "{not json".into(),
        up("a", 2, 500),
        up("b", 2, 5),
    ]);
    let outcome = process_batch(&store, &batch, fast()).await;
    assert_eq!(outcome.failed, ["id-1"]);
    assert_eq!(outcome.stats.invalid, 1);
    assert_eq!(speed(&store, "a").await, Some(1000));
    // "b" got a speed change first: buffered, waiting for its launch.
    assert_eq!(store.get("b").await.unwrap().unwrap().pending_messages, 1);
}

#[tokio::test]
async fn out_of_order_and_duplicate_records_are_acknowledged() {
    let store = MemoryStore::new();
    let first = process_batch(
        &store,
        &records(&[up("a", 3, 500), up("a", 2, 500)]),
        fast(),
    )
    .await;
    assert!(first.failed.is_empty());
    assert_eq!(first.stats.buffered, 2);

    let second = process_batch(&store, &records(&[launch("a"), up("a", 3, 500)]), fast()).await;
    assert!(second.failed.is_empty());
    assert_eq!((second.stats.applied, second.stats.duplicates), (3, 1));
    assert_eq!(speed(&store, "a").await, Some(1500));
}

#[tokio::test]
async fn a_message_beyond_the_window_is_handed_back_then_applied_when_redelivered() {
    let store = MemoryStore::new();
    let far = up("a", PENDING_WINDOW + 2, 500);
    let outcome = process_batch(&store, &records(&[launch("a"), far.clone()]), fast()).await;
    assert_eq!(outcome.failed, ["id-1"]);
    assert_eq!(outcome.stats.deferred, 1);

    let fill: Vec<String> = (2..=PENDING_WINDOW + 1).map(|n| up("a", n, 0)).collect();
    for chunk in fill.chunks(10) {
        assert!(
            process_batch(&store, &records(chunk), fast())
                .await
                .failed
                .is_empty()
        );
    }
    let redelivered = process_batch(&store, &records(&[far]), fast()).await;
    assert!(redelivered.failed.is_empty());
    assert_eq!(speed(&store, "a").await, Some(1000));
}

/// Counts saves, and lets a competing writer land an update of the same rocket before each of
/// the first `races` saves of that rocket.
struct RacingStore {
    inner: MemoryStore,
    saves: AtomicU32,
    races: u32,
    rival: Mutex<Vec<Message>>,
}

#[async_trait]
impl RocketStore for RacingStore {
    async fn load(&self, channel: &str) -> Result<Option<Aggregate>, StoreError> {
        self.inner.load(channel).await
    }
    async fn save(&self, aggregate: &Aggregate) -> Result<u64, StoreError> {
        let n = self.saves.fetch_add(1, Ordering::SeqCst);
        if n < self.races {
            let rival = {
                let mut rivals = self.rival.lock().unwrap();
                let ours = rivals
                    .last()
                    .is_some_and(|m| m.channel == aggregate.channel);
                if ours { rivals.pop() } else { None }
            };
            if let Some(message) = rival {
                let mut theirs = self
                    .inner
                    .load(&aggregate.channel)
                    .await?
                    .unwrap_or_else(|| Aggregate::new(&aggregate.channel));
                theirs.fold(&[message]);
                self.inner.save(&theirs).await?;
            }
        }
        self.inner.save(aggregate).await
    }
    async fn get(&self, channel: &str) -> Result<Option<RocketView>, StoreError> {
        self.inner.get(channel).await
    }
    async fn scan(&self, filters: &Filters) -> Result<Vec<RocketView>, StoreError> {
        self.inner.scan(filters).await
    }
}

fn racing(races: u32, rival: Vec<String>) -> RacingStore {
    RacingStore {
        inner: MemoryStore::new(),
        saves: AtomicU32::new(0),
        races,
        rival: Mutex::new(
            rival
                .iter()
                .map(|b| Message::parse(b.as_bytes()).unwrap())
                .collect(),
        ),
    }
}

#[tokio::test]
async fn a_lost_swap_is_re_read_and_re_folded_so_both_writers_count_once() {
    // The rival writer applies message 2 while we hold a fold of 1 and 3.
    let store = racing(1, vec![up("a", 2, 1000)]);
    let outcome = process_batch(&store, &records(&[launch("a"), up("a", 3, 500)]), fast()).await;
    assert!(outcome.failed.is_empty());
    assert_eq!(outcome.stats.conflicts, 1);
    let view = store.get("a").await.unwrap().unwrap();
    assert_eq!((view.speed, view.last_message_number), (Some(2000), 3));
}

#[tokio::test]
async fn persistent_contention_hands_only_that_rockets_records_back() {
    // A rival lands a write of rocket "a" before each of its three save attempts, so "a" loses
    // every swap, while "b" in the same batch saves undisturbed.
    let rivals: Vec<String> = (2..=4).map(|n| up("a", n, 500)).collect();
    let store = racing(4, rivals);
    let batch = records(&[launch("a"), up("a", 9, 500), launch("b")]);
    let outcome = process_batch(&store, &batch, fast()).await;
    assert_eq!(outcome.failed, ["id-0", "id-1"]);
    assert_eq!(outcome.stats.conflicts, 3);
    assert_eq!(speed(&store, "b").await, Some(500));

    // Redelivered, "a"'s records now apply on top of the rivals' writes.
    let retry = process_batch(&store, &batch[..2], fast()).await;
    assert!(retry.failed.is_empty());
    let view = store.get("a").await.unwrap().unwrap();
    assert_eq!(
        (view.speed, view.last_message_number, view.pending_messages),
        (Some(2000), 4, 1)
    );
}

#[tokio::test]
async fn one_write_per_rocket_per_batch_and_none_for_pure_duplicates() {
    let store = racing(0, Vec::new());
    let batch: Vec<String> = [
        launch("a"),
        up("a", 2, 5),
        up("a", 3, 5),
        launch("b"),
        up("b", 2, 5),
    ]
    .into();
    let outcome = process_batch(&store, &records(&batch), fast()).await;
    assert_eq!(outcome.stats.writes, 2);
    assert_eq!(store.saves.load(Ordering::SeqCst), 2);

    let again = process_batch(&store, &records(&batch), fast()).await;
    assert_eq!(again.stats.duplicates, 5);
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        2,
        "duplicates must not write"
    );
}

struct DownStore;

#[async_trait]
impl RocketStore for DownStore {
    async fn load(&self, _: &str) -> Result<Option<Aggregate>, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn save(&self, _: &Aggregate) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn get(&self, _: &str) -> Result<Option<RocketView>, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
    async fn scan(&self, _: &Filters) -> Result<Vec<RocketView>, StoreError> {
        Err(StoreError::Unavailable("throttled".into()))
    }
}

#[tokio::test]
async fn a_store_outage_fails_every_valid_record() {
    let batch = records(&[launch("a"), up("b", 2, 5)]);
    let outcome = process_batch(&DownStore, &batch, fast()).await;
    assert_eq!(outcome.failed, ["id-0", "id-1"]);
}
