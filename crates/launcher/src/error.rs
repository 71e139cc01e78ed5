//! The launcher's errors, each with the exit code the binary uses for it: 2 for a command line
//! that cannot be run as given, 1 for a run that did not deliver or did not verify.

use crate::Summary;
use crate::verify::VerifyFailure;

/// Why a launch failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The target or API URL is not `http://host[:port][/path]`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host is not loopback and `--allow-remote` was not given.
    #[error("refusing to send to {host:?}: not a loopback host (pass --allow-remote to allow it)")]
    RemoteTarget {
        /// The host as given.
        host: String,
    },
    /// A host name did not resolve.
    #[error("cannot resolve {host:?}: {source}")]
    Resolve {
        /// The host as given.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// An argument is out of range (only reachable when calling [`crate::run`] directly; the
    /// command line rejects these values itself).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Some messages were still failing after `--give-up-after`; the summary says how many.
    #[error(
        "{} of {} messages were not delivered (given up after {})",
        .summary.failed,
        .summary.generated,
        humantime::format_duration(*.give_up_after)
    )]
    Undelivered {
        /// The run's counters.
        summary: Box<Summary>,
        /// The per-message limit that was reached.
        give_up_after: std::time::Duration,
    },
    /// Everything was delivered but the query API does not show the expected state.
    #[error("{failure}")]
    Verification {
        /// The per-rocket, per-field differences.
        failure: Box<VerifyFailure>,
        /// The run's counters.
        summary: Box<Summary>,
    },
    /// A sender task panicked.
    #[error("a sender task failed: {0}")]
    Sender(#[from] tokio::task::JoinError),
}

impl LaunchError {
    /// The process exit code for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidUrl { .. } | Self::RemoteTarget { .. } | Self::InvalidArgument(_) => 2,
            Self::Resolve { .. }
            | Self::Undelivered { .. }
            | Self::Verification { .. }
            | Self::Sender(_) => 1,
        }
    }
}
