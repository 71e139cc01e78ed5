//! The ports: what the handlers need from a store and a queue, with the semantics every adapter
//! (embedded, DynamoDB, SQS) must honour. Errors say what the caller should do next.

use std::error::Error as StdError;
use std::time::Duration;

use async_trait::async_trait;

use crate::aggregate::Aggregate;
use crate::fleet::Filters;
use crate::rocket::RocketView;

/// A boxed error source kept for logs (`DisplayErrorContext` / `source()` walks).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The compare-and-swap lost: the stored revision is not the one the aggregate was read at
    /// (or the rocket was created meanwhile). Re-read, re-fold, retry.
    #[error("the rocket {channel} was changed concurrently")]
    Conflict {
        /// The rocket whose write lost.
        channel: String,
    },
    /// Throttling, timeouts, an unreachable endpoint: retrying later may succeed.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored item could not be read back: a bug or a manual edit. Retrying will not help.
    #[error("the stored rocket {channel} is unreadable: {reason}")]
    Corrupt {
        /// The rocket whose item is unreadable.
        channel: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// The rockets table: one aggregate per rocket, written with compare-and-swap.
#[async_trait]
pub trait RocketStore: Send + Sync {
    /// Reads a rocket's whole aggregate, strongly consistent, for a fold that will be written back.
    /// `None` if nothing is stored for the channel.
    async fn load(&self, channel: &str) -> Result<Option<Aggregate>, StoreError>;

    /// Writes the aggregate if the stored revision still equals `aggregate.revision` (0 means
    /// "must not exist yet"). On success the stored revision is `aggregate.revision + 1`, which
    /// is returned.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the condition fails; nothing is written then.
    async fn save(&self, aggregate: &Aggregate) -> Result<u64, StoreError>;

    /// Reads the API view of one rocket, without its pending messages.
    async fn get(&self, channel: &str) -> Result<Option<RocketView>, StoreError>;

    /// Reads the API view of every rocket matching `filters`, in no particular order, paging
    /// through the whole table. Reads only the view's attributes.
    async fn scan(&self, filters: &Filters) -> Result<Vec<RocketView>, StoreError>;
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused for now: the message is not enqueued; retry.
    #[error("the queue is unavailable")]
    Unavailable(#[source] BoxError),
    /// The queue refused the message itself (too large, bad characters): retrying will not help.
    #[error("the queue rejected the message: {0}")]
    Rejected(String),
}

/// The producer side of the telemetry queue.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Enqueues one message body. `Ok` means the queue has it durably.
    async fn send(&self, body: String) -> Result<(), QueueError>;
}

/// One message handed out by a [`QueueSource`]. It stays invisible to other receivers until its
/// visibility timeout passes, then is delivered again unless deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue's id for the message, stable across redeliveries.
    pub message_id: String,
    /// The handle that deletes this particular delivery.
    pub receipt: String,
    /// The message body as sent.
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// The consumer side of the queue, as an SQS event source mapping drives it.
#[async_trait]
pub trait QueueSource: Send + Sync {
    /// Receives up to `max` messages, waiting up to `wait` for the first one.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Deletes processed deliveries. Unknown or expired receipts are ignored, as SQS does.
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError>;
}
