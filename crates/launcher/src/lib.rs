//! `rockets-launcher`: the project's own stand-in for the closed `rockets` test program.
//!
//! It simulates rockets from a seed, posts their telemetry with the real program's traffic
//! shape (concurrent senders, one new TCP connection per message, retries every 500 ms, a
//! resend after 10 s), optionally adds duplicates and wider reordering, and can then check the
//! query API against its own model of every rocket. [`run`] does all of it in-process, so
//! end-to-end tests call it directly; `main.rs` is only the command line around it.
//!
//! Safety: the target and the `--verify` API must be loopback hosts (127.0.0.0/8, `[::1]`,
//! `localhost`) unless `--allow-remote` is given, so that a mistyped URL cannot load-test a
//! machine nobody meant to.

pub mod cli;
pub mod duration;
pub mod error;
mod http;
pub mod logging;
pub mod model;
mod sender;
mod target;
mod traffic;
pub mod verify;

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::info;

pub use crate::cli::{LaunchArgs, LogLevel};
pub use crate::error::LaunchError;
use crate::model::Simulation;
use crate::sender::{Counters, Policy};
use crate::target::Target;
pub use crate::traffic::format_message_time;
use crate::traffic::{Shape, Traffic};
pub use crate::verify::{ExpectedRocket, RocketStatus, Verified, VerifyFailure};

/// Largest accepted `--rockets`: the model keeps a small record per rocket, so this bounds memory.
pub const MAX_ROCKETS: usize = 100_000;

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The URL messages were posted to.
    pub target: String,
    /// Distinct messages the simulation generated (at most `--max-messages`).
    pub generated: u64,
    /// Distinct messages delivered with a 2xx answer.
    pub messages: u64,
    /// Deliberate duplicate copies delivered (`--duplicates`).
    pub duplicates: u64,
    /// HTTP requests made, every attempt counted; each on a new connection.
    pub requests: u64,
    /// Attempts beyond the first of a message (non-2xx, connection errors, timeouts).
    pub retries: u64,
    /// Attempts that hit `--request-timeout` and were resent.
    pub timeouts: u64,
    /// Messages and copies given up after `--give-up-after`.
    pub failed: u64,
    /// Time spent sending (verification not included).
    pub elapsed: Duration,
    /// The expected final view of every rocket that was sent a message.
    pub rockets: Vec<ExpectedRocket>,
    /// Set when `--verify` was given and passed.
    pub verified: Option<Verified>,
}

impl Summary {
    /// Delivered messages (distinct and duplicate) per second of sending.
    pub fn messages_per_sec(&self) -> f64 {
        (self.messages + self.duplicates) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// How many of the simulated rockets exploded.
    pub fn exploded(&self) -> usize {
        self.rockets
            .iter()
            .filter(|r| r.status == RocketStatus::Exploded)
            .count()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sent {} messages ({} duplicates, {} retries, {} given up) to {} in {:.2}s: \
             {:.0} messages/s",
            self.messages,
            self.duplicates,
            self.retries,
            self.failed,
            self.target,
            self.elapsed.as_secs_f64(),
            self.messages_per_sec()
        )
    }
}

/// Runs one launch: sends every message, then verifies if `args.verify` is set.
///
/// # Errors
/// - [`LaunchError::InvalidUrl`], [`LaunchError::RemoteTarget`], [`LaunchError::Resolve`],
///   [`LaunchError::InvalidArgument`] before anything is sent;
/// - [`LaunchError::Undelivered`] when some message was given up (verification is skipped);
/// - [`LaunchError::Verification`] when the query API did not converge to the model in time.
pub async fn run(args: LaunchArgs) -> Result<Summary, LaunchError> {
    validate(&args)?;
    let target = Arc::new(Target::resolve(&args.target, args.allow_remote).await?);
    let api = match &args.verify {
        Some(base) => Some(Target::resolve(base, args.allow_remote).await?),
        None => None,
    };

    let simulation = Simulation::new(args.seed, args.rockets, args.max_messages);
    let shape = Shape {
        seed: args.seed,
        reorder_window: args.reorder_window,
        duplicates: args.duplicates,
    };
    let traffic = Arc::new(Mutex::new(Traffic::new(simulation, shape)));
    let policy = Policy {
        senders: args.concurrency_level,
        message_delay: args.message_delay.filter(|d| !d.is_zero()),
        request_timeout: args.request_timeout,
        retry_interval: args.retry_interval,
        give_up_after: args.give_up_after,
    };
    let counters = Arc::new(Counters::default());
    counters.planned.store(args.max_messages, Relaxed);

    let started = Instant::now();
    sender::send_all(traffic.clone(), target.clone(), policy, counters.clone()).await?;
    let elapsed = started.elapsed();

    let (generated, rockets) = {
        let traffic = traffic.lock().unwrap_or_else(PoisonError::into_inner);
        (traffic.generated(), traffic.expected())
    };
    let mut summary = Summary {
        target: args.target.clone(),
        generated,
        messages: counters.delivered.load(Relaxed),
        duplicates: counters.duplicates.load(Relaxed),
        requests: counters.requests.load(Relaxed),
        retries: counters.retries.load(Relaxed),
        timeouts: counters.timeouts.load(Relaxed),
        failed: counters.failed.load(Relaxed),
        elapsed,
        rockets,
        verified: None,
    };
    info!("{summary}");
    if summary.failed > 0 {
        let give_up_after = args.give_up_after;
        return Err(LaunchError::Undelivered {
            summary: Box::new(summary),
            give_up_after,
        });
    }

    if let Some(api) = api {
        info!("Verifying {} rockets at {}", summary.rockets.len(), api.url);
        match verify::verify(&api, &summary.rockets, args.verify_timeout).await {
            Ok(verified) => summary.verified = Some(verified),
            Err(failure) => {
                return Err(LaunchError::Verification {
                    failure,
                    summary: Box::new(summary),
                });
            }
        }
    }
    Ok(summary)
}

fn validate(args: &LaunchArgs) -> Result<(), LaunchError> {
    let invalid = |what: &str| Err(LaunchError::InvalidArgument(what.to_owned()));
    if !(0.0..=1.0).contains(&args.duplicates) {
        return invalid("--duplicates must be between 0 and 1");
    }
    if args.concurrency_level == 0 {
        return invalid("--concurrency-level must be at least 1");
    }
    if args.rockets > MAX_ROCKETS {
        return Err(LaunchError::InvalidArgument(format!(
            "--rockets must be at most {MAX_ROCKETS}"
        )));
    }
    if args.request_timeout.is_zero() {
        return invalid("--request-timeout must be positive");
    }
    Ok(())
}
