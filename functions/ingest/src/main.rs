//! The ingest Lambda: API Gateway HTTP API (payload v2) → validate → SQS, with one EMF line per
//! invocation counting the message as accepted or rejected.

use std::sync::Arc;

use axum::response::Response;
use ingest::IngestState;
use lambda_http::Error;
use rockets_aws::SqsQueue;
use rockets_aws::config::{QUEUE_URL_VAR, load_sdk_config, required_env};
use rockets_aws::emf::{Metric, Metrics};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let queue_url = required_env(QUEUE_URL_VAR)?;
    let sdk = load_sdk_config().await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url);

    let app = ingest::app(IngestState::new(Arc::new(queue)));
    let app = ServiceBuilder::new().map_response(count).service(app);
    lambda_http::run(app).await
}

/// Emits the invocation's metric: 2xx accepted, 4xx rejected (5xx are outages, seen as errors).
fn count(response: Response) -> Response {
    let status = response.status();
    let metric = if status.is_success() {
        Some(Metric::MessagesAccepted)
    } else if status.is_client_error() {
        Some(Metric::MessagesRejected)
    } else {
        None
    };
    if let Some(metric) = metric {
        let mut metrics = Metrics::new();
        metrics.add(metric, 1);
        metrics.emit_now("ingest");
    }
    response
}
