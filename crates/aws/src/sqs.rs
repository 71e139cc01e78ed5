//! The telemetry queue on SQS: [`SqsQueue`] implements both [`MessageQueue`] (ingest sends) and
//! [`QueueSource`] (the local event-source loop receives and deletes), plus provisioning
//! ([`ensure_queues`]) and moving dead letters back ([`redrive`]).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message::SendMessageError;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use rockets_core::{Delivery, MessageQueue, QueueError, QueueSource};

use crate::ResourceError;
use crate::config::{CONNECT_TIMEOUT, OPERATION_TIMEOUT};

/// SQS's largest batch for receive, send-batch and delete-batch.
const MAX_BATCH: usize = 10;
/// SQS's longest long-poll wait.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// Dead letters are kept for SQS's maximum, 14 days, so there is time to look at them.
const DLQ_RETENTION_SECONDS: &str = "1209600";

/// One SQS queue, addressed by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// The queue at `queue_url` (as `CreateQueue` or `GetQueueUrl` returns it).
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

/// Some entries of a batch call failed on the server side.
#[derive(Debug, thiserror::Error)]
#[error("{failed} entries of {operation} failed (codes: {codes})")]
pub struct BatchEntriesFailed {
    /// The batch operation.
    pub operation: &'static str,
    /// How many entries failed.
    pub failed: usize,
    /// Their error codes, comma-separated.
    pub codes: String,
}

#[async_trait]
impl MessageQueue for SqsQueue {
    #[tracing::instrument(skip(self, body), fields(queue = %self.queue_url, bytes = body.len()))]
    async fn send(&self, body: String) -> Result<(), QueueError> {
        let sent = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send();
        match sent.await {
            Ok(_) => Ok(()),
            Err(e) => match rejection_reason(&e) {
                Some(reason) => {
                    tracing::warn!(error = %DisplayErrorContext(&e), "SQS rejected the message");
                    Err(QueueError::Rejected(reason.to_owned()))
                }
                None => Err(unavailable("SendMessage", e)),
            },
        }
    }
}

#[async_trait]
impl QueueSource for SqsQueue {
    #[tracing::instrument(skip(self), fields(queue = %self.queue_url))]
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let wait = wait.min(MAX_WAIT);
        let max = max.clamp(1, MAX_BATCH) as i32;
        // A long poll legitimately outlasts the default 3 s attempt timeout: widen it for this
        // call only, keeping a margin for the response itself.
        let timeouts = aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(wait + Duration::from_secs(5))
            .operation_timeout(wait + OPERATION_TIMEOUT)
            .build();
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .map_err(|e| unavailable("ReceiveMessage", e))?;

        let mut deliveries = Vec::new();
        for message in output.messages.unwrap_or_default() {
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            match (message.message_id, message.receipt_handle) {
                (Some(message_id), Some(receipt)) => deliveries.push(Delivery {
                    message_id,
                    receipt,
                    body: message.body.unwrap_or_default(),
                    receive_count,
                }),
                // SQS always sends both; without them the message could be neither reported nor
                // deleted, so leave it to come back after its visibility timeout.
                _ => tracing::error!("SQS returned a message without id or receipt handle"),
            }
        }
        Ok(deliveries)
    }

    #[tracing::instrument(
        skip(self, receipts),
        fields(queue = %self.queue_url, count = receipts.len())
    )]
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        delete_batch(&self.client, &self.queue_url, receipts).await
    }
}

/// Deletes in batches of ten. Entries SQS blames on the sender (an unknown or expired receipt)
/// are ignored, as the port allows; server-side entry failures are reported as unavailable once
/// every batch has been tried, so a retry deletes the rest (deleting twice is harmless).
async fn delete_batch(
    client: &Client,
    queue_url: &str,
    receipts: &[String],
) -> Result<(), QueueError> {
    let mut server_failures = Vec::new();
    for chunk in receipts.chunks(MAX_BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| unavailable("DeleteMessageBatch", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| unavailable("DeleteMessageBatch", e))?;
        for failure in output.failed {
            if failure.sender_fault {
                tracing::warn!(code = %failure.code, "delete ignored a stale receipt");
            } else {
                server_failures.push(failure.code);
            }
        }
    }
    if server_failures.is_empty() {
        Ok(())
    } else {
        let err = BatchEntriesFailed {
            operation: "DeleteMessageBatch",
            failed: server_failures.len(),
            codes: server_failures.join(", "),
        };
        Err(unavailable("DeleteMessageBatch", err))
    }
}

/// Why SQS refuses a message for good, or `None` when the failure is transient.
/// `InvalidMessageContents` is modelled; the size limit (1 MiB) comes back as the unmodelled
/// `InvalidParameterValue` code, matched by code, never by message text.
fn rejection_reason<R>(err: &SdkError<SendMessageError, R>) -> Option<&'static str> {
    let service = err.as_service_error()?;
    if service.is_invalid_message_contents() {
        Some("the message contains characters the queue does not accept")
    } else if service.code() == Some("InvalidParameterValue") {
        Some("the message is too large for the queue")
    } else {
        None
    }
}

fn unavailable<E>(operation: &'static str, err: E) -> QueueError
where
    E: std::error::Error + Send + Sync + 'static,
{
    tracing::error!(operation, error = %DisplayErrorContext(&err), "SQS call failed");
    QueueError::Unavailable(Box::new(err))
}

/// The URLs of the ingest queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    /// The ingest queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dlq_url: String,
}

/// Creates the dead-letter queue and the queue (standard queues) unless they exist, with a
/// redrive policy moving a message to the DLQ after `max_receive_count` receives. Existing queues
/// get their attributes brought to these values, so calling it again is safe and converges.
///
/// # Errors
/// [`ResourceError`] when SQS refuses a call.
#[tracing::instrument(skip(client))]
pub async fn ensure_queues(
    client: &Client,
    queue_name: &str,
    dlq_name: &str,
    max_receive_count: u32,
    visibility_timeout: Duration,
) -> Result<QueueUrls, ResourceError> {
    let dlq_attributes = HashMap::from([(
        QueueAttributeName::MessageRetentionPeriod,
        DLQ_RETENTION_SECONDS.into(),
    )]);
    let dlq_url = create_or_update_queue(client, dlq_name, dlq_attributes).await?;

    // The ARN embeds the account id, which differs between AWS, moto and LocalStack: read it.
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| ResourceError::sdk("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| ResourceError::Unexpected(format!("no QueueArn for {dlq_url}")))?;

    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let attributes = HashMap::from([
        (QueueAttributeName::RedrivePolicy, policy.to_string()),
        (
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        ),
    ]);
    let queue_url = create_or_update_queue(client, queue_name, attributes).await?;
    Ok(QueueUrls { queue_url, dlq_url })
}

/// `CreateQueue` is idempotent only for identical attributes; on `QueueAlreadyExists` the queue
/// is looked up and its attributes set instead.
async fn create_or_update_queue(
    client: &Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, ResourceError> {
    let created = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await;
    match created {
        Ok(out) => out
            .queue_url
            .ok_or_else(|| ResourceError::Unexpected(format!("no QueueUrl for {name}"))),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_name_exists()) =>
        {
            let url = client
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| ResourceError::sdk("GetQueueUrl", e))?
                .queue_url
                .ok_or_else(|| ResourceError::Unexpected(format!("no QueueUrl for {name}")))?;
            client
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(|e| ResourceError::sdk("SetQueueAttributes", e))?;
            tracing::info!(queue = name, "existing queue updated");
            Ok(url)
        }
        Err(e) => Err(ResourceError::sdk("CreateQueue", e)),
    }
}

/// What a [`redrive`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Messages sent to the queue and deleted from the DLQ.
    pub moved: usize,
}

/// Moves up to `max_messages` messages (bodies only) from the dead-letter queue back to the
/// queue, ten at a time, until the DLQ looks empty.
///
/// A message is deleted from the DLQ only after the queue accepted its copy, so nothing is lost.
/// If the process dies between the send and the delete, the message stays in the DLQ and a later
/// redrive sends it again: at worst a duplicate, which the consumer's idempotency (identity
/// `(channel, messageNumber)`) absorbs. Safe to repeat.
///
/// # Errors
/// [`ResourceError`] when SQS refuses a call; messages already moved stay moved.
#[tracing::instrument(skip(client))]
pub async fn redrive(
    client: &Client,
    dlq_url: &str,
    queue_url: &str,
    max_messages: usize,
) -> Result<RedriveReport, ResourceError> {
    let mut report = RedriveReport::default();
    while report.moved < max_messages {
        let want = (max_messages - report.moved).min(MAX_BATCH) as i32;
        // A visibility timeout longer than one round keeps a message from being received twice
        // in this loop; a short wait lets a long poll find messages on a lightly used queue.
        let messages = client
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(want)
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| ResourceError::sdk("ReceiveMessage", e))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            break;
        }

        let mut receipts: HashMap<String, String> = HashMap::new();
        let mut entries = Vec::new();
        for (i, message) in messages.into_iter().enumerate() {
            let (Some(receipt), Some(body)) = (message.receipt_handle, message.body) else {
                continue;
            };
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .map_err(|e| ResourceError::sdk("SendMessageBatch", e))?;
            entries.push(entry);
            receipts.insert(i.to_string(), receipt);
        }
        if entries.is_empty() {
            break;
        }
        let sent = client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| ResourceError::sdk("SendMessageBatch", e))?;
        for failure in &sent.failed {
            tracing::warn!(code = %failure.code, "redrive could not send; it stays in the DLQ");
        }

        let to_delete: Vec<String> = sent
            .successful
            .iter()
            .filter_map(|ok| receipts.remove(&ok.id))
            .collect();
        delete_batch(client, dlq_url, &to_delete)
            .await
            .map_err(|e| ResourceError::sdk("DeleteMessageBatch", e))?;
        report.moved += to_delete.len();
        if !sent.failed.is_empty() {
            break;
        }
    }
    tracing::info!(moved = report.moved, "redrive finished");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::operation::send_message::SendMessageError;
    use aws_sdk_sqs::types::error::{InvalidMessageContents, RequestThrottled};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn service_error(e: SendMessageError) -> SdkError<SendMessageError, Response> {
        SdkError::service_error(
            e,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn content_and_size_errors_are_rejections_and_throttling_is_not() {
        let contents = SendMessageError::InvalidMessageContents(
            InvalidMessageContents::builder().message("bad").build(),
        );
        assert!(rejection_reason(&service_error(contents)).is_some());

        let too_large = SendMessageError::generic(
            ErrorMetadata::builder()
                .code("InvalidParameterValue")
                .message("too long")
                .build(),
        );
        assert!(rejection_reason(&service_error(too_large)).is_some());

        let throttled =
            SendMessageError::RequestThrottled(RequestThrottled::builder().message("x").build());
        assert!(rejection_reason(&service_error(throttled)).is_none());
        let timeout: SdkError<SendMessageError, Response> = SdkError::timeout_error("slow");
        assert!(rejection_reason(&timeout).is_none());
    }
}
