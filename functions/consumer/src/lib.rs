//! The consumer: applies a batch of queued messages to the rockets store.
//!
//! Each record is decoded on its own, so one bad body fails one record, not the batch. Valid
//! messages are grouped by rocket; each group is folded into that rocket's aggregate with the
//! pure [`Aggregate::fold`] and written back with one compare-and-swap. A lost swap re-reads and
//! re-folds, a bounded number of times; after that the rocket's records are reported as failed
//! so the queue redelivers them. Only failed records are reported, the rest are deleted: SQS
//! partial batch responses
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>).

pub mod lambda;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use rockets_core::{Aggregate, Disposition, FoldReport, Message, Note, RocketStore, StoreError};
use tracing::Instrument;

/// One queued message as the event source hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The queue's message id, reported back on failure.
    pub message_id: String,
    /// The body as enqueued by ingest.
    pub body: String,
}

/// Tuning of the batch loop.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerConfig {
    /// Fold-and-swap attempts per rocket per batch before its records are handed back.
    pub max_attempts: u32,
    /// Pause before the second attempt; doubled each time after.
    pub conflict_backoff: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            conflict_backoff: Duration::from_millis(5),
        }
    }
}

/// Counters of one batch, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Messages applied to a state, including ones drained from pending.
    pub applied: u64,
    /// Incoming messages stored in pending.
    pub buffered: u64,
    /// Incoming messages already applied or pending.
    pub duplicates: u64,
    /// Incoming messages beyond the pending bounds, handed back.
    pub deferred: u64,
    /// Records whose body did not validate (poison; they reach the DLQ).
    pub invalid: u64,
    /// Lost compare-and-swaps that were retried.
    pub conflicts: u64,
    /// Records reported as failed, all causes.
    pub failed: u64,
    /// Unknown message types consumed as no-ops.
    pub unknown_types: u64,
    /// Largest pending count of a rocket written in this batch.
    pub max_pending: u64,
    /// Store writes made.
    pub writes: u64,
}

/// The result of a batch: which records to hand back, and what happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Message ids of records that must be redelivered, in input order.
    pub failed: Vec<String>,
    /// Counters.
    pub stats: BatchStats,
}

/// Applies a batch. Never fails as a whole: every problem is a failed record.
pub async fn process_batch(
    store: &dyn RocketStore,
    records: &[Record],
    config: ConsumerConfig,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut failed = vec![false; records.len()];
    let mut by_rocket: BTreeMap<String, Vec<(usize, Message)>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        match Message::parse(record.body.as_bytes()) {
            Ok(message) => by_rocket
                .entry(message.channel.clone())
                .or_default()
                .push((i, message)),
            Err(error) => {
                tracing::warn!(message_id = %record.message_id, outcome = "invalid",
                    error = %error, "poison message: handing it back towards the DLQ");
                outcome.stats.invalid += 1;
                failed[i] = true;
            }
        }
    }

    // Rockets are independent aggregates, so their folds and writes run concurrently; each
    // rocket's own messages are folded together in number order.
    let results = join_all(by_rocket.into_iter().map(|(channel, group)| {
        let span = tracing::info_span!("rocket", channel = %channel);
        async move {
            let result = apply_to_rocket(store, &channel, &group, config).await;
            (group, result)
        }
        .instrument(span)
    }))
    .await;

    for (group, result) in results {
        let stats = &mut outcome.stats;
        stats.conflicts += u64::from(result.conflicts);
        stats.writes += u64::from(result.wrote);
        match result.report {
            Some((report, pending)) => {
                stats.applied += report.applied.len() as u64;
                stats.unknown_types += report
                    .applied
                    .iter()
                    .filter(|a| a.1 == Some(Note::UnknownType))
                    .count() as u64;
                stats.max_pending = stats.max_pending.max(pending);
                for ((i, message), disposition) in group.iter().zip(&report.dispositions) {
                    log_disposition(&records[*i], message, *disposition);
                    match disposition {
                        Disposition::Applied => {}
                        Disposition::Buffered => stats.buffered += 1,
                        Disposition::Duplicate => stats.duplicates += 1,
                        Disposition::Deferred => {
                            stats.deferred += 1;
                            failed[*i] = true;
                        }
                    }
                }
            }
            None => {
                for (i, _) in &group {
                    failed[*i] = true;
                }
            }
        }
    }

    outcome.failed = records
        .iter()
        .zip(&failed)
        .filter(|(_, f)| **f)
        .map(|(r, _)| r.message_id.clone())
        .collect();
    outcome.stats.failed = outcome.failed.len() as u64;
    outcome
}

struct RocketResult {
    /// The final fold's report and the pending count written; `None` if the rocket gave up.
    report: Option<(FoldReport, u64)>,
    conflicts: u32,
    wrote: bool,
}

async fn apply_to_rocket(
    store: &dyn RocketStore,
    channel: &str,
    group: &[(usize, Message)],
    config: ConsumerConfig,
) -> RocketResult {
    let messages: Vec<Message> = group.iter().map(|(_, m)| m.clone()).collect();
    let mut conflicts = 0;
    let mut backoff = config.conflict_backoff;
    for attempt in 1..=config.max_attempts {
        let mut aggregate = match store.load(channel).await {
            Ok(found) => found.unwrap_or_else(|| Aggregate::new(channel)),
            Err(error) => return give_up(channel, &error, conflicts),
        };
        let report = aggregate.fold(&messages);
        for (number, note) in &report.applied {
            if let Some(note) = note {
                tracing::info!(channel, messageNumber = number, note = ?note,
                    "applied with a note");
            }
        }
        let pending = aggregate.pending.len() as u64;
        if !report.changed() {
            return RocketResult {
                report: Some((report, pending)),
                conflicts,
                wrote: false,
            };
        }
        match store.save(&aggregate).await {
            Ok(_) => {
                return RocketResult {
                    report: Some((report, pending)),
                    conflicts,
                    wrote: true,
                };
            }
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                tracing::debug!(channel, attempt, "lost the compare-and-swap; re-reading");
                if attempt < config.max_attempts {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
            Err(error) => return give_up(channel, &error, conflicts),
        }
    }
    tracing::error!(
        channel,
        attempts = config.max_attempts,
        outcome = "contended",
        "too many concurrent writers; handing the rocket's records back to the queue"
    );
    RocketResult {
        report: None,
        conflicts,
        wrote: false,
    }
}

fn give_up(channel: &str, error: &StoreError, conflicts: u32) -> RocketResult {
    tracing::error!(channel, error = %error, source = ?std::error::Error::source(error),
        outcome = "store_failed", "handing the rocket's records back to the queue");
    RocketResult {
        report: None,
        conflicts,
        wrote: false,
    }
}

fn log_disposition(record: &Record, message: &Message, disposition: Disposition) {
    let outcome = match disposition {
        Disposition::Applied => "applied",
        Disposition::Buffered => "buffered",
        Disposition::Duplicate => "duplicate",
        Disposition::Deferred => "deferred",
    };
    if disposition == Disposition::Deferred {
        tracing::warn!(message_id = %record.message_id, channel = %message.channel,
            messageNumber = message.number, outcome, "beyond the pending window; retry later");
    } else {
        tracing::info!(message_id = %record.message_id, channel = %message.channel,
            messageNumber = message.number, outcome, "message processed");
    }
}
