//! An SDK interceptor that counts requests per operation, for benchmarks such as "DynamoDB writes
//! per message". Attach it to any client's config (DynamoDB, SQS):
//!
//! ```no_run
//! # async fn demo(sdk: aws_config::SdkConfig) {
//! let (interceptor, counter) = rockets_aws::counting_interceptor();
//! let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(interceptor).build();
//! let client = aws_sdk_dynamodb::Client::from_conf(config);
//! // ... run the workload ...
//! let writes = counter.operations("PutItem");
//! # let _ = (client, writes);
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// How often one operation ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCount {
    /// Calls made by the program (`client.put_item()...send()`), once each whatever the retries.
    pub operations: u64,
    /// HTTP requests sent for them, retries included: what the service sees and bills.
    pub attempts: u64,
}

/// The shared tally of a [`CountingInterceptor`]; clones see the same counts.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    counts: Arc<Mutex<BTreeMap<String, OperationCount>>>,
}

impl Counter {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, OperationCount>> {
        // The map stays consistent even if a holder panicked, so a poisoned lock is still usable.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, cfg: &ConfigBag, attempt: bool) {
        let name = cfg
            .load::<Metadata>()
            .map_or("<unknown>", Metadata::name)
            .to_owned();
        let mut counts = self.lock();
        let count = counts.entry(name).or_default();
        if attempt {
            count.attempts += 1;
        } else {
            count.operations += 1;
        }
    }

    /// Operations started with this name (`"PutItem"`, `"GetItem"`, `"SendMessage"`...).
    pub fn operations(&self, name: &str) -> u64 {
        self.lock().get(name).map_or(0, |c| c.operations)
    }

    /// HTTP attempts sent for operations with this name, retries included.
    pub fn attempts(&self, name: &str) -> u64 {
        self.lock().get(name).map_or(0, |c| c.attempts)
    }

    /// Every operation seen so far, by name.
    pub fn snapshot(&self) -> BTreeMap<String, OperationCount> {
        self.lock().clone()
    }

    /// Forgets every count, e.g. between the set-up and the measured phase of a benchmark.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

/// Counts every operation and attempt of the client it is attached to into its [`Counter`].
#[derive(Debug)]
pub struct CountingInterceptor {
    counter: Counter,
}

/// A new interceptor and the counter it feeds.
pub fn counting_interceptor() -> (CountingInterceptor, Counter) {
    let counter = Counter::default();
    (
        CountingInterceptor {
            counter: counter.clone(),
        },
        counter,
    )
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "RocketsCountingInterceptor"
    }

    // Not `read_before_execution`: the operation's metadata is not in the config bag yet there.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counter.record(cfg, false);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counter.record(cfg, true);
        Ok(())
    }
}
