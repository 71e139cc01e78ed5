//! `rockets-local`: runs ingest, consumer and query in one process on one HTTP port, on the
//! embedded backend by default or on SQS and DynamoDB (`--backend aws`, e.g. moto or
//! LocalStack via `AWS_ENDPOINT_URL`); `rockets-local redrive` moves DLQ messages back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use rockets_aws::config::{DEFAULT_DLQ_NAME, DEFAULT_QUEUE_NAME, DEFAULT_TABLE_NAME};
use rockets_embedded::{MemoryQueue, MemoryStore, QueueConfig};
use rockets_local::aws::{AwsNames, Provisioning};
use rockets_local::{Backend, EventSourceConfig};
use tracing_subscriber::EnvFilter;

/// The rockets system in one process: POST /messages, GET /rockets, GET /rockets/{channel}.
#[derive(Debug, Parser)]
#[command(
    name = "rockets-local",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    /// Log format on stderr; the level comes from RUST_LOG.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gateway and run the consumers (the default).
    Serve(ServeArgs),
    /// Move messages from the SQS dead-letter queue back to the queue (safe to repeat).
    Redrive(RedriveArgs),
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// Address of the HTTP gateway.
    #[arg(long, default_value = "127.0.0.1:8088", env = "ROCKETS_LISTEN")]
    listen: SocketAddr,
    /// Where the queue and the rockets table live.
    #[arg(long, value_enum, default_value_t = BackendKind::Embedded)]
    backend: BackendKind,
    /// Concurrent consumer workers (Lambda's concurrency).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    consumers: u16,
    /// Records per consumer batch (1–10, as SQS receives them).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=10))]
    batch_size: u8,
    /// How long a received record stays hidden before redelivery (the queue's visibility
    /// timeout; applied to SQS queues only with --create-resources). Default: 5s embedded, 30s
    /// on SQS, where a batch takes longer and must finish before its records reappear.
    #[arg(long, value_parser = humantime::parse_duration)]
    visibility_timeout: Option<Duration>,
    /// Receives before a record goes to the dead-letter queue.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_receive_count: u32,
    #[command(flatten)]
    names: NameArgs,
    /// With --backend aws: create the table, queue and DLQ when missing (and set the queue's
    /// redrive policy and visibility timeout).
    #[arg(long)]
    create_resources: bool,
}

#[derive(Debug, Clone, Args)]
struct NameArgs {
    /// DynamoDB table of rocket states (--backend aws).
    #[arg(long, env = "ROCKETS_TABLE_NAME", default_value = DEFAULT_TABLE_NAME)]
    table: String,
    /// SQS queue ingest sends to (--backend aws).
    #[arg(long, env = "ROCKETS_QUEUE_NAME", default_value = DEFAULT_QUEUE_NAME)]
    queue: String,
    /// Its dead-letter queue (--backend aws).
    #[arg(long, env = "ROCKETS_DLQ_NAME", default_value = DEFAULT_DLQ_NAME)]
    dlq: String,
}

impl NameArgs {
    fn names(&self) -> AwsNames {
        AwsNames {
            table: self.table.clone(),
            queue: self.queue.clone(),
            dlq: self.dlq.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
struct RedriveArgs {
    #[command(flatten)]
    names: NameArgs,
    /// Stop after this many messages.
    #[arg(long, default_value_t = 10_000)]
    max_messages: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    /// In-process queue and store (nothing persists).
    Embedded,
    /// SQS and DynamoDB, from the standard AWS environment (AWS_ENDPOINT_URL for moto or
    /// LocalStack).
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Some(Command::Redrive(args)) => {
            let names = args.names.names();
            let report = rockets_local::aws::redrive(&names, args.max_messages)
                .await
                .context("redrive stopped; what moved stays moved, run it again")?;
            println!(
                "moved {} message(s) from {} to {}",
                report.moved, names.dlq, names.queue
            );
            Ok(())
        }
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let backend = match args.backend {
        BackendKind::Embedded => {
            let queue = Arc::new(MemoryQueue::new(QueueConfig {
                visibility_timeout: args.visibility_timeout.unwrap_or(Duration::from_secs(5)),
                max_receive_count: Some(args.max_receive_count),
            }));
            Backend {
                queue: queue.clone(),
                source: queue,
                store: Arc::new(MemoryStore::new()),
            }
        }
        BackendKind::Aws => {
            let provisioning = Provisioning {
                create_resources: args.create_resources,
                max_receive_count: args.max_receive_count,
                visibility_timeout: args.visibility_timeout.unwrap_or(Duration::from_secs(30)),
            };
            rockets_local::aws::backend(&args.names.names(), provisioning)
                .await
                .context("cannot set up the SQS/DynamoDB backend")?
        }
    };
    let config = EventSourceConfig {
        workers: usize::from(args.consumers),
        batch_size: usize::from(args.batch_size),
        ..EventSourceConfig::default()
    };

    let running = rockets_local::start(args.listen, backend, config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(addr = %running.addr, backend = ?args.backend,
        "rockets-local is up: POST http://{0}/messages, GET http://{0}/rockets", running.addr);

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
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
