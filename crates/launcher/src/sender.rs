//! The concurrent senders: each pulls the next job from the shared stream, posts it until a 2xx
//! answer (retrying like the real program), and counts what happened.
//!
//! Unlike the real program, a message is never dropped at the end of the run: it is retried
//! until it succeeds or `give_up_after` has passed since its first attempt.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::task::JoinSet;
use tracing::{debug, error, info};

use crate::error::LaunchError;
use crate::http::{ExchangeError, post_json};
use crate::target::Target;
use crate::traffic::{Job, Traffic};

/// A progress line is logged at info level every this many delivered messages.
const PROGRESS_EVERY: u64 = 10_000;

/// How each message is delivered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Number of concurrent senders.
    pub senders: usize,
    /// Pause of each sender after each message.
    pub message_delay: Option<Duration>,
    /// Time limit of one attempt; then the request is resent at once.
    pub request_timeout: Duration,
    /// Pause after a non-2xx answer or a connection error.
    pub retry_interval: Duration,
    /// A message still failing this long after its first attempt is given up.
    pub give_up_after: Duration,
}

/// Counters shared by the senders.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Distinct messages delivered (2xx).
    pub delivered: AtomicU64,
    /// Deliberate duplicate copies delivered.
    pub duplicates: AtomicU64,
    /// Requests sent, every attempt counted.
    pub requests: AtomicU64,
    /// Attempts after the first one of a job.
    pub retries: AtomicU64,
    /// Attempts that hit the time limit.
    pub timeouts: AtomicU64,
    /// Jobs given up.
    pub failed: AtomicU64,
    /// Total planned, for progress lines.
    pub planned: AtomicU64,
}

/// Runs `policy.senders` senders over `traffic` until it is drained.
///
/// # Errors
/// [`LaunchError::Sender`] if a sender task panicked.
pub(crate) async fn send_all(
    traffic: Arc<Mutex<Traffic>>,
    target: Arc<Target>,
    policy: Policy,
    counters: Arc<Counters>,
) -> Result<(), LaunchError> {
    let mut senders = JoinSet::new();
    for _ in 0..policy.senders.max(1) {
        let (traffic, target, counters) = (traffic.clone(), target.clone(), counters.clone());
        senders.spawn(async move {
            while let Some(job) = next_job(&traffic) {
                deliver(&job, &target, &policy, &counters).await;
                if let Some(delay) = policy.message_delay {
                    tokio::time::sleep(delay).await;
                }
            }
        });
    }
    while let Some(joined) = senders.join_next().await {
        joined?;
    }
    Ok(())
}

fn next_job(traffic: &Mutex<Traffic>) -> Option<Job> {
    // A poisoned lock means a sender panicked mid-`next_job`; the join reports that panic, and
    // the stream itself stays consistent enough to keep handing out what it has.
    let mut traffic = traffic.lock().unwrap_or_else(PoisonError::into_inner);
    traffic.next_job(OffsetDateTime::now_utc())
}

/// Posts one job until it is accepted or given up.
async fn deliver(job: &Job, target: &Target, policy: &Policy, counters: &Counters) {
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if attempts > 1 {
            counters.retries.fetch_add(1, Relaxed);
        }
        counters.requests.fetch_add(1, Relaxed);
        let outcome = post_json(target, job.body.clone(), policy.request_timeout).await;
        let timed_out = matches!(outcome, Err(ExchangeError::Timeout(_)));
        match outcome {
            Ok(reply) if reply.status.is_success() => {
                debug!("Message sent to {}", target.url);
                record_delivery(job, counters);
                return;
            }
            Ok(reply) => error!(
                "Message {}#{} to {} answered {}; retrying",
                job.channel, job.number, target.url, reply.status
            ),
            Err(e) => {
                if timed_out {
                    counters.timeouts.fetch_add(1, Relaxed);
                }
                error!(
                    "Message {}#{} to {} failed: {e}; retrying",
                    job.channel, job.number, target.url
                );
            }
        }

        if started.elapsed() >= policy.give_up_after {
            counters.failed.fetch_add(1, Relaxed);
            error!(
                "Giving up on message {}#{} after {attempts} attempts in {}",
                job.channel,
                job.number,
                humantime::format_duration(round_to_millis(started.elapsed()))
            );
            return;
        }
        // A timed-out request is resent at once, as the real client does.
        if !timed_out {
            tokio::time::sleep(policy.retry_interval).await;
        }
    }
}

fn record_delivery(job: &Job, counters: &Counters) {
    if job.duplicate {
        counters.duplicates.fetch_add(1, Relaxed);
        return;
    }
    let delivered = counters.delivered.fetch_add(1, Relaxed) + 1;
    if delivered.is_multiple_of(PROGRESS_EVERY) {
        let planned = counters.planned.load(Relaxed);
        info!("Progress: {delivered} of {planned} messages delivered");
    }
}

/// Durations in log lines, without the nanosecond noise.
pub(crate) fn round_to_millis(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}
