//! An in-process queue with the SQS standard-queue semantics the consumer is built for:
//! at-least-once delivery, a visibility timeout after which an undeleted message is delivered
//! again, a receive count, and a dead-letter list after `max_receive_count` receives.
//!
//! Time comes from `tokio::time`, so tests can pause and advance it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rockets_core::{Delivery, MessageQueue, QueueError, QueueSource};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout_at};

/// Queue behaviour, mirroring the SQS attributes of the same names.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// How long a received message stays hidden before it is delivered again.
    pub visibility_timeout: Duration,
    /// Receives after which a message goes to the dead-letter list instead (the redrive
    /// policy's `maxReceiveCount`); `None` keeps it forever.
    pub max_receive_count: Option<u32>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: Some(5),
        }
    }
}

/// A message that exhausted its receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id it had in the queue.
    pub message_id: String,
    /// Its body.
    pub body: String,
    /// How often it was received.
    pub receive_count: u32,
}

/// Counts for health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting to be received.
    pub visible: usize,
    /// Received, neither deleted nor timed out yet.
    pub in_flight: usize,
    /// In the dead-letter list.
    pub dead: usize,
}

/// The queue. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryQueue {
    config: QueueConfig,
    inner: Mutex<Inner>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    messages: HashMap<u64, Entry>,
    ready: VecDeque<u64>,
    /// (deadline, id, generation); stale entries (deleted, or received again) are skipped.
    in_flight: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    dead: Vec<DeadLetter>,
}

#[derive(Debug)]
struct Entry {
    body: String,
    receive_count: u32,
    /// Set while in flight: which receive it is (receipts of older receives are stale).
    in_flight: Option<u32>,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::default()),
            arrived: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Current counts.
    pub fn depth(&self) -> QueueDepth {
        let inner = self.lock();
        let in_flight = inner
            .messages
            .values()
            .filter(|e| e.in_flight.is_some())
            .count();
        QueueDepth {
            visible: inner.messages.len() - in_flight,
            in_flight,
            dead: inner.dead.len(),
        }
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead.clone()
    }

    /// Moves every dead letter back into the queue with a fresh receive count; returns how many.
    pub fn redrive(&self) -> usize {
        let moved = {
            let mut inner = self.lock();
            let dead = std::mem::take(&mut inner.dead);
            for letter in &dead {
                inner.push(letter.body.clone());
            }
            dead.len()
        };
        self.arrived.notify_waiters();
        moved
    }

    /// Takes up to `max` visible messages, first returning timed-out ones to visibility.
    fn take(&self, max: usize, now: Instant) -> (Vec<Delivery>, Option<Instant>) {
        let mut inner = self.lock();
        inner.expire(now, self.config.max_receive_count);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(id) = inner.ready.pop_front() else {
                break;
            };
            let deadline = now + self.config.visibility_timeout;
            let Some(entry) = inner.messages.get_mut(&id) else {
                continue;
            };
            entry.receive_count += 1;
            entry.in_flight = Some(entry.receive_count);
            out.push(Delivery {
                message_id: format!("m-{id}"),
                receipt: format!("{id}:{}", entry.receive_count),
                body: entry.body.clone(),
                receive_count: entry.receive_count,
            });
            let generation = entry.receive_count;
            inner.in_flight.push(Reverse((deadline, id, generation)));
        }
        let next_expiry = inner.in_flight.peek().map(|Reverse((at, _, _))| *at);
        (out, next_expiry)
    }
}

impl Inner {
    fn push(&mut self, body: String) {
        let id = self.next_id;
        self.next_id += 1;
        self.messages.insert(
            id,
            Entry {
                body,
                receive_count: 0,
                in_flight: None,
            },
        );
        self.ready.push_back(id);
    }

    /// Makes messages whose visibility timeout passed visible again, or dead.
    fn expire(&mut self, now: Instant, max_receive_count: Option<u32>) {
        while let Some(Reverse((deadline, id, generation))) = self.in_flight.peek().copied() {
            if deadline > now {
                break;
            }
            self.in_flight.pop();
            let Some(entry) = self.messages.get_mut(&id) else {
                continue;
            };
            if entry.in_flight != Some(generation) {
                continue;
            }
            entry.in_flight = None;
            if max_receive_count.is_some_and(|max| entry.receive_count >= max) {
                if let Some(entry) = self.messages.remove(&id) {
                    // In-memory dead letters are gone with the process: say so loudly.
                    tracing::error!(message_id = %format!("m-{id}"), receive_count =
                        entry.receive_count, body = %entry.body,
                        "message moved to the dead-letter list after too many receives");
                    self.dead.push(DeadLetter {
                        message_id: format!("m-{id}"),
                        body: entry.body,
                        receive_count: entry.receive_count,
                    });
                }
            } else {
                self.ready.push_back(id);
            }
        }
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, body: String) -> Result<(), QueueError> {
        self.lock().push(body);
        self.arrived.notify_one();
        Ok(())
    }
}

#[async_trait]
impl QueueSource for MemoryQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let give_up = Instant::now() + wait;
        loop {
            // Register interest before looking, so a send between the look and the wait is seen.
            let arrived = self.arrived.notified();
            let (batch, next_expiry) = self.take(max, Instant::now());
            if !batch.is_empty() {
                return Ok(batch);
            }
            let wake = next_expiry.map_or(give_up, |at| at.min(give_up));
            if timeout_at(wake, arrived).await.is_err() && Instant::now() >= give_up {
                return Ok(Vec::new());
            }
        }
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for receipt in receipts {
            let Some((id, generation)) = receipt.split_once(':') else {
                continue;
            };
            let (Ok(id), Ok(generation)) = (id.parse::<u64>(), generation.parse::<u32>()) else {
                continue;
            };
            if inner
                .messages
                .get(&id)
                .is_some_and(|e| e.in_flight == Some(generation))
            {
                inner.messages.remove(&id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(visibility_secs: u64, max_receive_count: Option<u32>) -> MemoryQueue {
        MemoryQueue::new(QueueConfig {
            visibility_timeout: Duration::from_secs(visibility_secs),
            max_receive_count,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn undeleted_messages_come_back_after_the_visibility_timeout() {
        let q = queue(30, None);
        q.send("a".into()).await.unwrap();
        let first = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(
            q.receive(10, Duration::from_secs(10))
                .await
                .unwrap()
                .is_empty()
        );

        let again = q.receive(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].message_id, first[0].message_id);
        assert_eq!(again[0].receive_count, 2);

        // The first receipt is stale now: deleting with it must not remove the message.
        q.delete(std::slice::from_ref(&first[0].receipt))
            .await
            .unwrap();
        assert_eq!(q.depth().in_flight, 1);
        q.delete(std::slice::from_ref(&again[0].receipt))
            .await
            .unwrap();
        assert_eq!(q.depth(), QueueDepth::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_received_too_often_becomes_a_dead_letter_and_can_be_redriven() {
        let q = queue(1, Some(3));
        q.send("poison".into()).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                q.receive(10, Duration::from_secs(5)).await.unwrap().len(),
                1
            );
        }
        assert!(
            q.receive(10, Duration::from_secs(5))
                .await
                .unwrap()
                .is_empty()
        );
        let dead = q.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].body.as_str(), dead[0].receive_count),
            ("poison", 3)
        );

        assert_eq!(q.redrive(), 1);
        assert_eq!(q.redrive(), 0);
        let back = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(back[0].receive_count, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receiver_wakes_on_send() {
        let q = std::sync::Arc::new(queue(30, None));
        let receiver = {
            let q = q.clone();
            tokio::spawn(async move { q.receive(10, Duration::from_secs(20)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        q.send("late".into()).await.unwrap();
        let got = receiver.await.unwrap().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "late");
    }

    #[tokio::test]
    async fn receive_never_returns_more_than_asked() {
        let q = queue(30, None);
        for i in 0..25 {
            q.send(i.to_string()).await.unwrap();
        }
        assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 10);
        assert_eq!(
            q.depth(),
            QueueDepth {
                visible: 15,
                in_flight: 10,
                dead: 0
            }
        );
    }
}
