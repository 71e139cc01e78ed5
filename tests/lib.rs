//! Shared set-up of the end-to-end tests: a `rockets-local` started in-process on a free
//! loopback port, on the embedded backend or on SQS and DynamoDB served by moto.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rockets_embedded::{MemoryQueue, MemoryStore, QueueConfig};
use rockets_launcher::LaunchArgs;
use rockets_local::aws::{AwsNames, Provisioning};
use rockets_local::{Backend, EventSourceConfig, Running};

/// Starts `rockets-local` on the embedded backend.
pub async fn start_embedded() -> Running {
    let queue = Arc::new(MemoryQueue::new(QueueConfig {
        visibility_timeout: Duration::from_secs(5),
        max_receive_count: Some(50),
    }));
    let backend = Backend {
        queue: queue.clone(),
        source: queue,
        store: Arc::new(MemoryStore::new()),
    };
    start(backend, EventSourceConfig::default()).await
}

/// The moto endpoint the test command started, from `AWS_ENDPOINT_URL`.
///
/// # Panics
/// When it is unset or not on loopback: these tests never skip and never leave the machine.
pub fn moto_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://[::1]:"),
        "AWS_ENDPOINT_URL must point at a loopback moto_server (got {endpoint:?}); \
         run the tests through scripts/test.sh"
    );
    endpoint
}

/// Starts `rockets-local --backend aws --create-resources` against moto, with fresh resource
/// names so tests sharing one moto do not meet.
pub async fn start_on_moto() -> Running {
    moto_endpoint();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let names = AwsNames {
        table: format!("e2e-state-{suffix}"),
        queue: format!("e2e-messages-{suffix}"),
        dlq: format!("e2e-dlq-{suffix}"),
    };
    let provisioning = Provisioning {
        create_resources: true,
        max_receive_count: 50,
        // Longer than any batch takes on a loaded moto: a shorter one redelivers records still
        // being processed, and their deletes then miss.
        visibility_timeout: Duration::from_secs(30),
    };
    // NOTE: moto checks a PutItem condition and writes without a lock, so two concurrent
    // writers can both win a compare-and-swap there (never on DynamoDB). One consumer worker
    // keeps moto's writes sequential; drop this once moto serialises conditional writes.
    let config = EventSourceConfig {
        workers: 1,
        ..EventSourceConfig::default()
    };
    match rockets_local::aws::backend(&names, provisioning).await {
        Ok(backend) => start(backend, config).await,
        Err(error) => panic!("cannot provision on moto: {error:?}"),
    }
}

async fn start(backend: Backend, config: EventSourceConfig) -> Running {
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    match rockets_local::start(listen, backend, config).await {
        Ok(running) => running,
        Err(error) => panic!("cannot start rockets-local: {error}"),
    }
}

/// Launcher arguments aimed at `running`, verifying against it.
pub fn launch_args(running: &Running, max_messages: u64) -> LaunchArgs {
    let base = format!("http://{}", running.addr);
    let mut args = LaunchArgs::new(format!("{base}/messages"));
    args.max_messages = max_messages;
    args.verify = Some(base);
    args.verify_timeout = Duration::from_secs(120);
    args
}
