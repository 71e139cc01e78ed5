//! The `rockets-launcher` binary: parses the command line and runs the library's launch.
//!
//! Exit codes: 0 success, 1 undelivered messages or failed verification, 2 usage errors
//! (clap's own, and URLs it cannot check: malformed or not loopback).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use rockets_launcher::cli::{Cli, Command};
use rockets_launcher::{logging, run};

fn main() -> anyhow::Result<ExitCode> {
    let args = match Cli::parse().command {
        Command::Version => {
            // A closed stdout (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Launch(args) => args,
    };
    logging::init(args.log_level);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match runtime.block_on(run(args)) {
        Ok(summary) => {
            if let Some(v) = summary.verified {
                let _ = writeln!(
                    std::io::stdout(),
                    "verified {} rockets, {} messages",
                    v.rockets,
                    v.messages
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("rockets-launcher: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}
