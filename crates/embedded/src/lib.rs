//! The embedded backend: an in-process queue with SQS standard-queue semantics and an in-process
//! store with the DynamoDB adapter's compare-and-swap contract. It is the default backend of
//! `rockets-local` and the double the handler tests run on. Nothing here survives a restart.

pub mod queue;
pub mod store;

pub use queue::{DeadLetter, MemoryQueue, QueueConfig, QueueDepth};
pub use store::MemoryStore;
