//! `rockets-local`: the whole system in one process. The ingest and query routers are served on
//! one HTTP port, as API Gateway would route them, and consumer workers poll the queue, as an
//! SQS event source mapping would: batches of up to `batch_size`, successful records deleted,
//! failed ones left to reappear after the visibility timeout. The backend is the embedded one
//! or SQS and DynamoDB ([`aws`]).

pub mod aws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use consumer::{ConsumerConfig, Record};
use rockets_core::{MessageQueue, QueueSource, RocketStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long [`Running::shutdown`] waits for open requests and batches.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The ports one running system uses.
#[derive(Clone)]
pub struct Backend {
    /// Where ingest sends.
    pub queue: Arc<dyn MessageQueue>,
    /// Where the consumer workers receive.
    pub source: Arc<dyn QueueSource>,
    /// The rockets table.
    pub store: Arc<dyn RocketStore>,
}

/// How the event source loop drives the consumer.
#[derive(Debug, Clone, Copy)]
pub struct EventSourceConfig {
    /// Concurrent consumer workers (Lambda's concurrency).
    pub workers: usize,
    /// Records per batch, at most.
    pub batch_size: usize,
    /// Long-poll wait of one receive.
    pub wait: Duration,
    /// The consumer's own tuning.
    pub consumer: ConsumerConfig,
}

impl Default for EventSourceConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            batch_size: 10,
            wait: Duration::from_secs(1),
            consumer: ConsumerConfig::default(),
        }
    }
}

/// All three functions' HTTP routes on one router.
pub fn gateway(backend: &Backend) -> Router {
    ingest::app(ingest::IngestState::new(backend.queue.clone()))
        .merge(query::app(query::QueryState::new(backend.store.clone())))
        .fallback(rockets_http::not_found)
}

/// A running system; dropping it does not stop it, call [`Running::shutdown`].
pub struct Running {
    /// The address the gateway listens on.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight requests and batches finish, and waits for
    /// every task, at most [`SHUTDOWN_GRACE`]: a client that holds a half-sent request must not
    /// keep the process alive.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("a task did not finish within the shutdown grace; aborting it");
                abort.abort();
            }
        }
    }
}

/// Binds `listen` and starts the gateway and the consumer workers.
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(
    listen: SocketAddr,
    backend: Backend,
    config: EventSourceConfig,
) -> std::io::Result<Running> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);

    let mut tasks = Vec::new();
    let app = gateway(&backend);
    let mut http_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        });
        if let Err(error) = server.await {
            tracing::error!(error = %error, "HTTP server failed");
        }
    }));
    for worker in 0..config.workers.max(1) {
        let backend = backend.clone();
        let stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            consume(worker, &backend, config, stopped).await;
        }));
    }
    Ok(Running { addr, stop, tasks })
}

/// One consumer worker: receive, process, delete the successes, until stopped.
async fn consume(
    worker: usize,
    backend: &Backend,
    config: EventSourceConfig,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let deliveries = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            received = backend.source.receive(config.batch_size, config.wait) => received,
        };
        let deliveries = match deliveries {
            Ok(d) if d.is_empty() => continue,
            Ok(d) => d,
            Err(error) => {
                tracing::error!(worker, error = %error, "receive failed; backing off");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };

        let records: Vec<Record> = deliveries
            .iter()
            .map(|d| Record {
                message_id: d.message_id.clone(),
                body: d.body.clone(),
            })
            .collect();
        let outcome =
            consumer::process_batch(backend.store.as_ref(), &records, config.consumer).await;
        let done: Vec<String> = deliveries
            .into_iter()
            .filter(|d| !outcome.failed.contains(&d.message_id))
            .map(|d| d.receipt)
            .collect();
        if !outcome.failed.is_empty() {
            tracing::warn!(
                worker,
                failed = outcome.failed.len(),
                "records left for redelivery"
            );
        }
        if let Err(error) = backend.source.delete(&done).await {
            // Undeleted records come back after the visibility timeout and fold as duplicates.
            tracing::error!(worker, error = %error, "delete failed; records will be redelivered");
        }
    }
}
