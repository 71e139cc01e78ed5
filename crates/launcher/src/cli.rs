//! The command line, mirroring the real `rockets` program (`launch <url>`, `help`, `version`,
//! and its five flags), plus the launcher's own extras for verification and harsher traffic.

use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::parse_go_duration;

/// Default `--concurrency-level`.
pub const DEFAULT_CONCURRENCY: usize = 3;
/// Default `--max-messages`.
pub const DEFAULT_MAX_MESSAGES: u64 = 100_000;
/// Default `--seed`.
pub const DEFAULT_SEED: u64 = 444;
/// Default `--rockets`.
pub const DEFAULT_ROCKETS: usize = 20;
/// Default `--verify-timeout`.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(120);
/// Default `--give-up-after`.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(120);
/// Default `--request-timeout`, the real client's.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--retry-interval`, the real client's.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// `rockets-launcher`: simulated rockets posting telemetry like the real test program.
#[derive(Debug, Parser)]
#[command(name = "rockets-launcher", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands (`help` is added by clap).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Launch the rockets: post their messages to the URL.
    Launch(LaunchArgs),
    /// Print the version.
    Version,
}

/// How much is logged (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures, progress every 10,000 messages, and the summary.
    #[default]
    Info,
    /// Also one line per message sent.
    Debug,
}

/// Everything `launch` takes; build one with [`LaunchArgs::new`] to call [`crate::run`]
/// in-process.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct LaunchArgs {
    /// Where messages are posted, e.g. http://127.0.0.1:8088/messages.
    #[arg(value_name = "URL")]
    pub target: String,

    /// Number of concurrent senders.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub concurrency_level: usize,

    /// Pause of each sender after each message, as a Go duration (500ms, 20ms, 1s).
    #[arg(long, value_parser = parse_go_duration)]
    pub message_delay: Option<Duration>,

    /// Total messages of the run, all rockets together (duplicates not counted).
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGES)]
    pub max_messages: u64,

    /// Random seed: the same seed sends the same messages, except messageTime.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,

    /// Log level.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// After sending, check the query API at this base URL (e.g. http://127.0.0.1:8088).
    #[arg(long, value_name = "API_BASE_URL")]
    pub verify: Option<String>,

    /// How long --verify waits for every rocket to converge.
    #[arg(long, default_value = "120s", value_parser = parse_go_duration)]
    pub verify_timeout: Duration,

    /// Fraction (0..1) of messages sent a second time, later, as a redelivery would.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub duplicates: f64,

    /// Shuffle the send order within windows of this many messages (0: off).
    #[arg(long, default_value_t = 0)]
    pub reorder_window: usize,

    /// Number of rockets (channels).
    #[arg(long, default_value_t = DEFAULT_ROCKETS)]
    pub rockets: usize,

    /// Allow a target or API host that is not loopback (refused by default for safety).
    #[arg(long)]
    pub allow_remote: bool,

    /// Give a message up when it still fails this long after its first attempt.
    #[arg(long, default_value = "120s", value_parser = parse_go_duration)]
    pub give_up_after: Duration,

    /// Time limit of one attempt; then the request is resent.
    #[arg(long, default_value = "10s", value_parser = parse_go_duration)]
    pub request_timeout: Duration,

    /// Pause before retrying after a non-2xx answer or a connection error.
    #[arg(long, default_value = "500ms", value_parser = parse_go_duration)]
    pub retry_interval: Duration,
}

impl LaunchArgs {
    /// The defaults of the command line, posting to `target`.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            concurrency_level: DEFAULT_CONCURRENCY,
            message_delay: None,
            max_messages: DEFAULT_MAX_MESSAGES,
            seed: DEFAULT_SEED,
            log_level: LogLevel::Info,
            verify: None,
            verify_timeout: DEFAULT_VERIFY_TIMEOUT,
            duplicates: 0.0,
            reorder_window: 0,
            rockets: DEFAULT_ROCKETS,
            allow_remote: false,
            give_up_after: DEFAULT_GIVE_UP_AFTER,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry_interval: DEFAULT_RETRY_INTERVAL,
        }
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is not between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    fn launch(args: &[&str]) -> LaunchArgs {
        let argv = ["rockets-launcher", "launch"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Launch(args) => args,
            Command::Version => panic!("not launch"),
        }
    }

    #[test]
    fn defaults_match_the_real_program_and_new() {
        assert_eq!(
            launch(&["http://127.0.0.1:8088/messages"]),
            LaunchArgs::new("http://127.0.0.1:8088/messages")
        );
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let a = launch(&[
            "u",
            "--concurrency-level=1",
            "--message-delay=500ms",
            "--max-messages",
            "10",
            "--seed",
            "7",
            "--log-level=debug",
            "--duplicates=0.25",
            "--reorder-window",
            "40",
            "--verify=http://127.0.0.1:8088",
            "--verify-timeout",
            "1m30s",
        ]);
        assert_eq!(a.concurrency_level, 1);
        assert_eq!(a.message_delay, Some(Duration::from_millis(500)));
        assert_eq!((a.max_messages, a.seed), (10, 7));
        assert_eq!(a.log_level, LogLevel::Debug);
        assert_eq!((a.duplicates, a.reorder_window), (0.25, 40));
        assert_eq!(a.verify.as_deref(), Some("http://127.0.0.1:8088"));
        assert_eq!(a.verify_timeout, Duration::from_secs(90));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["u", "--duplicates=1.5"][..],
            &["u", "--message-delay=5"],
            &["u", "--concurrency-level=0"],
            &["u", "--log-level=loud"],
            &["u", "--nope"],
            &[],
        ] {
            let argv = ["rockets-launcher", "launch"].iter().chain(bad);
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn help_and_version_subcommands_exist() {
        let help = Cli::try_parse_from(["rockets-launcher", "help"]).unwrap_err();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        let version = Cli::try_parse_from(["rockets-launcher", "version"]).unwrap();
        assert!(matches!(version.command, Command::Version));
    }
}
