//! Several consumers (the real batch loop) folding the same shuffled, duplicated stream into
//! DynamoDB on moto at once:
//! the compare-and-swap must make the end state equal the sequential fold, losing nothing.
//!
//! NOTE: moto 5.2's conditional PutItem is not atomic under concurrent requests: it reads the
//! current item, builds the new one and evaluates the condition without a lock, so two writers
//! with the same expected revision can both succeed (reproduced with 8 threads and items holding
//! a few hundred list entries). Real DynamoDB evaluates the condition atomically. The harness
//! therefore sends one conditional write at a time ([`OneWriteAtATime`]): the consumers' reads,
//! folds and writes still interleave, which is where CAS conflicts come from, but moto never
//! evaluates two conditions at once. Remove the gate when the emulator serialises writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::SharedInterceptor;
use consumer::{ConsumerConfig, Record, process_batch};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rockets_aws::{DynamoStore, counting_interceptor};
use rockets_core::{Aggregate, Filters, Message, MessageBody, RocketStore, RocketView, StoreError};

const ROCKETS: usize = 24;
const MESSAGES_PER_ROCKET: u64 = 220;
/// The stream is shuffled within windows this long (and duplicates land within one), so a
/// rocket's messages arrive up to ~20 places out of order. moto spends about a millisecond per
/// pending entry on every read and write, so a whole-stream shuffle (a hundred pending per
/// rocket) would take minutes without testing anything more.
const SHUFFLE_WINDOW: usize = 500;
const WORKERS: usize = 4;
const BATCH: usize = 10;

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
        // Back at the front, as a short visibility timeout would make them visible again soon;
        // at the back, every later message of their rockets would pile up in pending.
        for message in retry.into_iter().rev() {
            queue.push_front(message);
        }
        *in_flight -= taken;
    }
}

/// A store that lets one conditional write reach moto at a time; see the module note. Reads
/// need no gate: moto replaces an item whole, so a read sees the old or the new one.
struct OneWriteAtATime {
    inner: DynamoStore,
    gate: tokio::sync::Mutex<()>,
    /// Every `(channel, revision)` a save reported writing: a CAS never grants one twice.
    written: Mutex<HashSet<(String, u64)>>,
}

#[async_trait]
impl RocketStore for OneWriteAtATime {
    async fn load(&self, channel: &str) -> Result<Option<Aggregate>, StoreError> {
        self.inner.load(channel).await
    }

    async fn save(&self, aggregate: &Aggregate) -> Result<u64, StoreError> {
        let _one = self.gate.lock().await;
        let revision = self.inner.save(aggregate).await?;
        let fresh = self
            .written
            .lock()
            .unwrap()
            .insert((aggregate.channel.clone(), revision));
        assert!(
            fresh,
            "{}: revision {revision} was granted to two writers",
            aggregate.channel
        );
        Ok(revision)
    }

    async fn get(&self, channel: &str) -> Result<Option<RocketView>, StoreError> {
        self.inner.get(channel).await
    }

    async fn scan(&self, filters: &Filters) -> Result<Vec<RocketView>, StoreError> {
        self.inner.scan(filters).await
    }
}

#[derive(Default)]
struct Stats {
    conflicts: AtomicU64,
    requeued: AtomicU64,
    batches: AtomicU64,
}

/// One consumer: takes batches and runs them through the real batch loop,
/// [`consumer::process_batch`]; records it reports as failed go back to the work queue, as SQS
/// would redeliver them.
async fn worker(store: Arc<OneWriteAtATime>, work: Arc<Work>, stats: Arc<Stats>) {
    let config = ConsumerConfig::default();
    while let Some(batch) = tokio::task::block_in_place(|| work.take()) {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        let records: Vec<Record> = batch
            .iter()
            .enumerate()
            .map(|(i, m)| Record {
                message_id: i.to_string(),
                body: m.to_queue_body(),
            })
            .collect();
        let outcome = process_batch(store.as_ref(), &records, config).await;
        stats
            .conflicts
            .fetch_add(outcome.stats.conflicts, Ordering::Relaxed);
        let retry: Vec<Message> = batch
            .iter()
            .zip(&records)
            .filter(|(_, r)| outcome.failed.contains(&r.message_id))
            .map(|(m, _)| m.clone())
            .collect();
        stats
            .requeued
            .fetch_add(retry.len() as u64, Ordering::Relaxed);
        work.done(batch.len(), retry);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consumers_reach_the_sequential_state() {
    let (interceptor, counter) = counting_interceptor();
    let client = common::dynamo_client_with(Some(SharedInterceptor::new(interceptor)));
    let inner = common::new_store(client).await;
    let store = Arc::new(OneWriteAtATime {
        inner,
        gate: tokio::sync::Mutex::new(()),
        written: Mutex::new(HashSet::new()),
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
