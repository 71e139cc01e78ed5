//! The consumer Lambda: SQS batches in, one conditional DynamoDB write per rocket, partial
//! batch failures out, and one EMF metrics line per batch.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use consumer::lambda::EventError;
use consumer::{BatchStats, ConsumerConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rockets_aws::DynamoStore;
use rockets_aws::config::{TABLE_NAME_VAR, load_sdk_config, required_env};
use rockets_aws::emf::{Metric, Metrics};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = required_env(TABLE_NAME_VAR)?;
    let sdk = load_sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);

    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        handle(&store, event)
    }))
    .await
}

/// Errors become a `Diagnostic` whose `errorType` names the problem (`MissingMessageId`).
async fn handle(
    store: &DynamoStore,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, EventError> {
    let (response, outcome) =
        consumer::lambda::handle_sqs_event(store, event.payload, ConsumerConfig::default()).await?;
    metrics(&outcome.stats).emit_now("consumer");
    Ok(response)
}

fn metrics(stats: &BatchStats) -> Metrics {
    let mut m = Metrics::new();
    m.add(Metric::MessagesApplied, stats.applied);
    m.add(Metric::Duplicates, stats.duplicates);
    m.add(Metric::MessagesBuffered, stats.buffered);
    m.add(Metric::MessagesDeferred, stats.deferred);
    m.add(Metric::CasConflicts, stats.conflicts);
    m.add(Metric::BatchItemFailures, stats.failed);
    m.max(Metric::PendingMessages, stats.max_pending);
    m
}
