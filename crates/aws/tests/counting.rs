//! The request-counting interceptor, attached to a DynamoDB client talking to moto.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use aws_sdk_dynamodb::config::SharedInterceptor;
use rockets_aws::counting_interceptor;
use rockets_core::{Aggregate, RocketStore};

#[tokio::test]
async fn the_interceptor_counts_each_operation_by_name() {
    let (interceptor, counter) = counting_interceptor();
    let client = common::dynamo_client_with(Some(SharedInterceptor::new(interceptor)));
    let store = common::new_store(client).await;
    assert!(
        counter.operations("CreateTable") == 1,
        "set-up is counted too"
    );
    counter.reset();
    assert!(counter.snapshot().is_empty());

    let mut aggregate = Aggregate::new("c-count");
    aggregate.fold(&[common::launch("c-count", 1, "ARTEMIS")]);
    store.save(&aggregate).await.unwrap();
    let loaded = store.load("c-count").await.unwrap().unwrap();
    store.save(&loaded).await.unwrap();
    store.get("c-count").await.unwrap();

    assert_eq!(counter.operations("PutItem"), 2);
    assert_eq!(counter.operations("GetItem"), 2);
    assert_eq!(
        counter.attempts("PutItem"),
        2,
        "no retries against a healthy moto"
    );
    assert_eq!(counter.operations("Scan"), 0);
    assert_eq!(counter.snapshot().len(), 2);
}
