//! The SQS and DynamoDB backend of `rockets-local`: clients from the standard AWS environment
//! (`AWS_ENDPOINT_URL` aims them at moto or LocalStack), resources created on request, and the
//! DLQ redrive by queue names.

use std::sync::Arc;
use std::time::Duration;

use rockets_aws::{
    DynamoStore, RedriveReport, ResourceError, SqsQueue, create_table_if_missing, ensure_queues,
    load_sdk_config,
};

use crate::Backend;

/// Names of the AWS resources, defaulting to the template's (`rockets-state`,
/// `rockets-messages`, `rockets-messages-dlq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsNames {
    /// DynamoDB table of rocket states.
    pub table: String,
    /// SQS queue ingest sends to.
    pub queue: String,
    /// Its dead-letter queue.
    pub dlq: String,
}

impl Default for AwsNames {
    fn default() -> Self {
        use rockets_aws::config::{DEFAULT_DLQ_NAME, DEFAULT_QUEUE_NAME, DEFAULT_TABLE_NAME};
        Self {
            table: DEFAULT_TABLE_NAME.into(),
            queue: DEFAULT_QUEUE_NAME.into(),
            dlq: DEFAULT_DLQ_NAME.into(),
        }
    }
}

/// How to provision, when asked to.
#[derive(Debug, Clone, Copy)]
pub struct Provisioning {
    /// Create the table, queue and DLQ when missing and converge the queue's attributes.
    pub create_resources: bool,
    /// The redrive policy's `maxReceiveCount`.
    pub max_receive_count: u32,
    /// The queue's visibility timeout.
    pub visibility_timeout: Duration,
}

/// Builds the SQS/DynamoDB backend.
///
/// # Errors
/// When a resource cannot be created or the queue cannot be found.
pub async fn backend(
    names: &AwsNames,
    provisioning: Provisioning,
) -> Result<Backend, ResourceError> {
    let sdk = load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);

    let queue_url = if provisioning.create_resources {
        create_table_if_missing(&dynamodb, &names.table).await?;
        let urls = ensure_queues(
            &sqs,
            &names.queue,
            &names.dlq,
            provisioning.max_receive_count,
            provisioning.visibility_timeout,
        )
        .await?;
        urls.queue_url
    } else {
        queue_url(&sqs, &names.queue).await?
    };
    tracing::info!(table = %names.table, queue = %queue_url, "using SQS and DynamoDB");

    let queue = Arc::new(SqsQueue::new(sqs, queue_url));
    Ok(Backend {
        queue: queue.clone(),
        source: queue,
        store: Arc::new(DynamoStore::new(dynamodb, names.table.clone())),
    })
}

/// Moves up to `max_messages` from the DLQ back to the queue; see [`rockets_aws::redrive`].
///
/// # Errors
/// When a queue cannot be found or SQS refuses a call; what moved stays moved.
pub async fn redrive(
    names: &AwsNames,
    max_messages: usize,
) -> Result<RedriveReport, ResourceError> {
    let sdk = load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq_url = queue_url(&sqs, &names.dlq).await?;
    let queue_url = queue_url(&sqs, &names.queue).await?;
    rockets_aws::redrive(&sqs, &dlq_url, &queue_url, max_messages).await
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, ResourceError> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| ResourceError::Call {
            operation: "GetQueueUrl",
            source: Box::new(e),
        })?
        .queue_url
        .ok_or_else(|| ResourceError::Unexpected(format!("no URL returned for queue {name}")))
}
