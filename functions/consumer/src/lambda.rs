//! The Lambda adapter of the consumer: an SQS event in, a partial batch response out.
//!
//! Bodies are decoded per record inside [`process_batch`], never as a typed event, so one bad
//! body fails one record. Failures are reported by message id; the event source mapping must
//! have `FunctionResponseTypes: [ReportBatchItemFailures]` or SQS would delete them anyway
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use rockets_core::RocketStore;

use crate::{BatchOutcome, ConsumerConfig, Record, process_batch};

/// The event cannot be answered record by record.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A record without a message id cannot be reported as failed, so the whole batch fails
    /// and SQS redelivers all of it (the consumer is idempotent).
    #[error("record {index} of the SQS event has no messageId")]
    MissingMessageId {
        /// Position of the record in the event.
        index: usize,
    },
}

impl From<EventError> for lambda_runtime::Diagnostic {
    fn from(error: EventError) -> Self {
        let error_type = match error {
            EventError::MissingMessageId { .. } => "MissingMessageId",
        };
        Self {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Applies an SQS event and returns the partial batch response plus the batch's outcome.
///
/// # Errors
/// [`EventError::MissingMessageId`]: the caller returns it as the invocation error.
pub async fn handle_sqs_event(
    store: &dyn RocketStore,
    event: SqsEvent,
    config: ConsumerConfig,
) -> Result<(SqsBatchResponse, BatchOutcome), EventError> {
    let mut records = Vec::with_capacity(event.records.len());
    for (index, message) in event.records.into_iter().enumerate() {
        let message_id = message
            .message_id
            .filter(|id| !id.is_empty())
            .ok_or(EventError::MissingMessageId { index })?;
        // A missing body decodes as invalid, which fails that record only.
        records.push(Record {
            message_id,
            body: message.body.unwrap_or_default(),
        });
    }

    let outcome = process_batch(store, &records, config).await;
    // The event types are `#[non_exhaustive]`: build them from `Default`.
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = outcome
        .failed
        .iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.clone();
            failure
        })
        .collect();
    Ok((response, outcome))
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::sqs::SqsMessage;
    use rockets_embedded::MemoryStore;

    use super::*;

    fn sqs(id: Option<&str>, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = id.map(str::to_owned);
        message.body = Some(body.to_owned());
        message
    }

    fn event(records: Vec<SqsMessage>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records;
        event
    }

    #[tokio::test]
    async fn failures_are_reported_by_message_id() {
        let event = event(vec![sqs(Some("m-1"), "garbage")]);
        let (response, outcome) =
            handle_sqs_event(&MemoryStore::new(), event, ConsumerConfig::default())
                .await
                .unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(response.batch_item_failures[0].item_identifier, "m-1");
        assert_eq!(outcome.stats.invalid, 1);
    }

    #[test]
    fn the_invocation_error_names_its_type() {
        let diagnostic =
            lambda_runtime::Diagnostic::from(EventError::MissingMessageId { index: 3 });
        assert_eq!(diagnostic.error_type, "MissingMessageId");
        assert_eq!(
            diagnostic.error_message,
            "record 3 of the SQS event has no messageId"
        );
    }

    #[tokio::test]
    async fn a_record_without_an_id_fails_the_whole_batch() {
        let event = event(vec![sqs(Some("m-1"), "x"), sqs(None, "y")]);
        let result = handle_sqs_event(&MemoryStore::new(), event, ConsumerConfig::default()).await;
        assert!(matches!(
            result,
            Err(EventError::MissingMessageId { index: 1 })
        ));
    }
}
