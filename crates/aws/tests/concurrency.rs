//! Several consumers folding the same shuffled, duplicated stream into DynamoDB on moto at once:
//! the compare-and-swap must make the end state equal the sequential fold, losing nothing.
//!
//! NOTE: moto 5.2's conditional PutItem is not atomic under concurrent requests: it reads the
//! current item, builds the new one and evaluates the condition without a lock, so two writers
//! with the same expected revision can both succeed (reproduced with 8 threads and items holding
//! a few hundred list entries). Real DynamoDB evaluates the condition atomically. The harness
//! therefore sends one DynamoDB request at a time ([`OneRequestAtATime`]): the consumers' reads,
//! folds and writes still interleave, which is where CAS conflicts come from, but moto never
//! evaluates two conditions at once. Remove the gate when the emulator serialises writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::SharedInterceptor;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rockets_aws::{DynamoStore, counting_interceptor};
use rockets_core::{
    Aggregate, Disposition, Filters, Message, MessageBody, RocketStore, RocketView, StoreError,
};

const ROCKETS: usize = 24;
const MESSAGES_PER_ROCKET: u64 = 220;
/// The stream is shuffled within windows this long (and duplicates land within one), so a
/// rocket's messages arrive up to ~20 places out of order. moto spends about a millisecond per
/// pending entry on every read and write, so a whole-stream shuffle (a hundred pending per
/// rocket) would take minutes without testing anything more.
const SHUFFLE_WINDOW: usize = 500;
const WORKERS: usize = 4;
const BATCH: usize = 10;
/// Conflicts tolerated for one rocket in one batch before its messages go back to the queue.
const MAX_ATTEMPTS: u32 = 3;

/// Each rocket's stream: a launch, speed changes, a mission change every 25 messages, and for
/// every fourth rocket an explosion two thirds in (later messages still apply).
fn streams() -> BTreeMap<String, Vec<Message>> {
    let mut streams = BTreeMap::new();
    for r in 0..ROCKETS {
        let channel = format!("rocket-{r:02}");
        let mut stream = vec![common::launch(&channel, 1, "ARTEMIS")];
        for n in 2..=MESSAGES_PER_ROCKET {
            let body = if r % 4 == 0 && n == MESSAGES_PER_ROCKET * 2 / 3 {
                MessageBody::Exploded {
                    reason: format!("ENGINE-{r}"),
                }
            } else if n % 25 == 0 {
                MessageBody::MissionChanged {
                    new_mission: format!("MISSION-{n}"),
                }
            } else if n % 3 == 0 {
                MessageBody::SpeedDecreased {
                    by: (n % 7) as i64 * 100,
                }
            } else {
                MessageBody::SpeedIncreased {
                    by: (n % 11) as i64 * 100,
                }
            };
            stream.push(common::message(&channel, n, body));
        }
        streams.insert(channel, stream);
    }
    streams
}

/// A work queue with "in flight" accounting, so workers stop only when nothing is left anywhere.
struct Work {
    queue: Mutex<(VecDeque<Message>, usize)>,
}

impl Work {
    fn take(&self) -> Option<Vec<Message>> {
        loop {
            {
                let mut guard = self.queue.lock().unwrap();
                let (queue, in_flight) = &mut *guard;
                if !queue.is_empty() {
                    let n = queue.len().min(BATCH);
                    *in_flight += n;
                    return Some(queue.drain(..n).collect());
                }
                if *in_flight == 0 {
                    return None;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    fn done(&self, taken: usize, retry: Vec<Message>) {
        let mut guard = self.queue.lock().unwrap();
        let (queue, in_flight) = &mut *guard;
        queue.extend(retry);
        *in_flight -= taken;
    }
}

/// A store that lets one request reach moto at a time; see the module note.
struct OneRequestAtATime {
    inner: DynamoStore,
    gate: tokio::sync::Mutex<()>,
}

#[async_trait]
impl RocketStore for OneRequestAtATime {
    async fn load(&self, channel: &str) -> Result<Option<Aggregate>, StoreError> {
        let _one = self.gate.lock().await;
        self.inner.load(channel).await
    }

    async fn save(&self, aggregate: &Aggregate) -> Result<u64, StoreError> {
        let _one = self.gate.lock().await;
        self.inner.save(aggregate).await
    }

    async fn get(&self, channel: &str) -> Result<Option<RocketView>, StoreError> {
        let _one = self.gate.lock().await;
        self.inner.get(channel).await
    }

    async fn scan(&self, filters: &Filters) -> Result<Vec<RocketView>, StoreError> {
        let _one = self.gate.lock().await;
        self.inner.scan(filters).await
    }
}

#[derive(Default)]
struct Stats {
    conflicts: AtomicU64,
    requeued: AtomicU64,
    batches: AtomicU64,
    /// Every `(channel, revision)` a save reported writing: a CAS never grants one twice.
    written: Mutex<HashSet<(String, u64)>>,
}

/// One rocket's part of a batch: load, fold, conditional save; re-read and re-fold on conflict.
/// Returns the messages that must be retried later.
async fn apply(
    store: &dyn RocketStore,
    channel: &str,
    messages: Vec<Message>,
    stats: &Stats,
) -> Vec<Message> {
    for _ in 0..MAX_ATTEMPTS {
        let mut aggregate = store
            .load(channel)
            .await
            .expect("load")
            .unwrap_or_else(|| Aggregate::new(channel));
        let report = aggregate.fold(&messages);
        let deferred: Vec<Message> = messages
            .iter()
            .zip(&report.dispositions)
            .filter(|(_, d)| **d == Disposition::Deferred)
            .map(|(m, _)| m.clone())
            .collect();
        if !report.changed() {
            return deferred;
        }
        match store.save(&aggregate).await {
            Ok(revision) => {
                let fresh = stats
                    .written
                    .lock()
                    .unwrap()
                    .insert((channel.to_owned(), revision));
                assert!(
                    fresh,
                    "{channel}: revision {revision} was granted to two writers"
                );
                return deferred;
            }
            Err(StoreError::Conflict { .. }) => {
                stats.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => panic!("save failed: {e:?}"),
        }
    }
    stats
        .requeued
        .fetch_add(messages.len() as u64, Ordering::Relaxed);
    messages
}

async fn worker(store: Arc<OneRequestAtATime>, work: Arc<Work>, stats: Arc<Stats>) {
    while let Some(batch) = tokio::task::block_in_place(|| work.take()) {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        let taken = batch.len();
        let mut by_channel: BTreeMap<String, Vec<Message>> = BTreeMap::new();
        for message in batch {
            by_channel
                .entry(message.channel.clone())
                .or_default()
                .push(message);
        }
        let mut retry = Vec::new();
        for (channel, messages) in by_channel {
            retry.extend(apply(store.as_ref(), &channel, messages, &stats).await);
        }
        work.done(taken, retry);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consumers_reach_the_sequential_state() {
    let (interceptor, counter) = counting_interceptor();
    let client = common::dynamo_client_with(Some(SharedInterceptor::new(interceptor)));
    let inner = common::new_store(client).await;
    let store = Arc::new(OneRequestAtATime {
        inner,
        gate: tokio::sync::Mutex::new(()),
    });
    let streams = streams();

    // GIVEN the rockets' streams interleaved as concurrent senders would, plus ~10% duplicates
    // next to their originals, shuffled window by window with a fixed seed.
    let mut rng = ChaCha8Rng::seed_from_u64(20261001);
    let mut cursors: Vec<std::slice::Iter<'_, Message>> =
        streams.values().map(|s| s.iter()).collect();
    let mut delivered: Vec<Message> = Vec::new();
    while !cursors.is_empty() {
        let i = rng.random_range(0..cursors.len());
        match cursors[i].next() {
            Some(message) => {
                delivered.push(message.clone());
                if rng.random_ratio(1, 10) {
                    delivered.push(message.clone());
                }
            }
            None => {
                let _ = cursors.swap_remove(i);
            }
        }
    }
    let originals = streams.values().map(Vec::len).sum::<usize>();
    for window in delivered.chunks_mut(SHUFFLE_WINDOW) {
        window.shuffle(&mut rng);
    }
    let total = delivered.len();
    assert!(originals >= 5_000 && streams.len() >= 20);

    // WHEN four consumers work through it concurrently.
    let work = Arc::new(Work {
        queue: Mutex::new((delivered.into(), 0)),
    });
    let stats = Arc::new(Stats::default());
    counter.reset();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(worker(store.clone(), work.clone(), stats.clone())))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // THEN every rocket holds exactly what a sequential fold gives, with nothing pending.
    for (channel, stream) in &streams {
        let mut sequential = Aggregate::new(channel.as_str());
        for message in stream {
            sequential.fold(std::slice::from_ref(message));
        }
        let stored = store
            .load(channel)
            .await
            .unwrap()
            .expect("the rocket is stored");
        assert_eq!(stored.state, sequential.state, "{channel}");
        assert!(stored.pending.is_empty(), "{channel} has nothing pending");
        assert_eq!(
            store.get(channel).await.unwrap().unwrap(),
            sequential.view()
        );
    }

    let puts = counter.operations("PutItem");
    eprintln!(
        "concurrency: {originals} messages + {} duplicates, {ROCKETS} rockets, {WORKERS} workers, \
         {} batches in {:.1?}: {} CAS conflicts retried, {} messages requeued, {puts} PutItem \
         ({:.2} writes/message)",
        total - originals,
        stats.batches.load(Ordering::Relaxed),
        started.elapsed(),
        stats.conflicts.load(Ordering::Relaxed),
        stats.requeued.load(Ordering::Relaxed),
        puts as f64 / total as f64,
    );
}
