//! The rocket telemetry domain, free of Lambda and AWS: the wire format and its validation
//! ([`message`]), a rocket's state ([`rocket`]), the per-rocket aggregate and the pure fold that
//! applies out-of-order, duplicated messages exactly once in order ([`aggregate`]), the fleet
//! listing rules ([`fleet`]) and the ports the adapters implement ([`ports`]).

pub mod aggregate;
pub mod fleet;
pub mod message;
pub mod ports;
pub mod rocket;

pub use aggregate::{Aggregate, Disposition, FoldReport};
pub use fleet::{Filters, ListParams, ListParamsError, Page};
pub use message::{Message, MessageBody, MessageTime, ValidationError};
pub use ports::{Delivery, MessageQueue, QueueError, QueueSource, RocketStore, StoreError};
pub use rocket::{Note, RocketState, RocketView, Status};
