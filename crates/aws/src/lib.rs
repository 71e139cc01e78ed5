//! AWS adapters behind the `rockets-core` ports: the rockets table on DynamoDB
//! ([`DynamoStore`]), the telemetry queue on SQS ([`SqsQueue`]), resource provisioning for
//! `rockets-local --create-resources` ([`create_table_if_missing`], [`ensure_queues`],
//! [`redrive`]), the cold-start SDK configuration ([`config`]), CloudWatch EMF metrics ([`emf`])
//! and a request-counting interceptor for benchmarks ([`counting`]).
//!
//! SDK errors are classified with the SDK's typed predicates and kept as error sources; logs
//! print them with `DisplayErrorContext`, since their plain `Display` is only a category word.

pub mod config;
pub mod counting;
pub mod dynamo;
pub mod emf;
pub mod sqs;

use rockets_core::ports::BoxError;

pub use config::{ConfigError, load_sdk_config, optional_env, required_env};
pub use counting::{Counter, CountingInterceptor, OperationCount, counting_interceptor};
pub use dynamo::{DynamoStore, MAX_ITEM_BYTES, approximate_item_size, create_table_if_missing};
pub use emf::{Metric, Metrics};
pub use sqs::{QueueUrls, RedriveReport, SqsQueue, ensure_queues, redrive};

/// Provisioning or administration (creating resources, redriving) failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// An SDK call failed; the source has the details.
    #[error("{operation} failed")]
    Call {
        /// The operation that failed.
        operation: &'static str,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The service answered without something it always sends.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

impl ResourceError {
    fn sdk(operation: &'static str, err: impl std::error::Error + Send + Sync + 'static) -> Self {
        tracing::error!(
            operation,
            error = %aws_smithy_types::error::display::DisplayErrorContext(&err),
            "AWS call failed"
        );
        Self::Call {
            operation,
            source: Box::new(err),
        }
    }
}
