//! `rockets-local`: runs ingest, consumer and query in one process on one HTTP port, on the
//! embedded backend by default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use rockets_embedded::{MemoryQueue, MemoryStore, QueueConfig};
use rockets_local::{Backend, EventSourceConfig};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    /// In-process queue and store (nothing persists).
    Embedded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The rockets system in one process: POST /messages, GET /rockets, GET /rockets/{channel}.
#[derive(Debug, Parser)]
#[command(name = "rockets-local", version)]
struct Cli {
    /// Address of the HTTP gateway.
    #[arg(long, default_value = "127.0.0.1:8088", env = "ROCKETS_LISTEN")]
    listen: SocketAddr,
    /// Where the queue and the rockets table live.
    #[arg(long, value_enum, default_value_t = BackendKind::Embedded)]
    backend: BackendKind,
    /// Concurrent consumer workers.
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Records per consumer batch (1–10, as SQS receives them).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=10))]
    batch_size: u8,
    /// Embedded queue: how long a failed record stays hidden before redelivery.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    visibility_timeout: Duration,
    /// Embedded queue: receives before a record goes to the dead-letter list.
    #[arg(long, default_value_t = 5)]
    max_receive_count: u32,
    /// Log format on stderr; the level comes from RUST_LOG.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);

    let backend = match cli.backend {
        BackendKind::Embedded => {
            let queue = Arc::new(MemoryQueue::new(QueueConfig {
                visibility_timeout: cli.visibility_timeout,
                max_receive_count: Some(cli.max_receive_count),
            }));
            Backend {
                queue: queue.clone(),
                source: queue,
                store: Arc::new(MemoryStore::new()),
            }
        }
    };
    let config = EventSourceConfig {
        workers: cli.consumers,
        batch_size: usize::from(cli.batch_size),
        ..EventSourceConfig::default()
    };

    let running = rockets_local::start(cli.listen, backend, config)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    tracing::info!(addr = %running.addr, backend = ?cli.backend, "rockets-local is up: \
        POST http://{0}/messages, GET http://{0}/rockets", running.addr);

    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

fn init_tracing(format: LogFormat) {
    // Per-message lines are INFO in the functions (one outcome line per record, as in Lambda);
    // locally they would be 100,000 lines per launcher run, so only our own INFO is on by default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,rockets_local=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
