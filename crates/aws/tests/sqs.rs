//! `SqsQueue`, `ensure_queues` and `redrive` against SQS on moto.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use rockets_aws::{QueueUrls, SqsQueue, ensure_queues, redrive};
use rockets_core::{MessageQueue, QueueError, QueueSource};

async fn queues(max_receive_count: u32, visibility: Duration) -> (aws_sdk_sqs::Client, QueueUrls) {
    let client = common::sqs_client();
    let name = common::unique("rockets-q");
    let urls = ensure_queues(
        &client,
        &name,
        &format!("{name}-dlq"),
        max_receive_count,
        visibility,
    )
    .await
    .expect("create the test queues");
    (client, urls)
}

async fn attribute(client: &aws_sdk_sqs::Client, url: &str, name: QueueAttributeName) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut a| a.remove(&name))
        .unwrap_or_default()
}

async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> u64 {
    attribute(client, url, QueueAttributeName::ApproximateNumberOfMessages)
        .await
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sent_messages_are_received_once_and_deleted() {
    let (client, urls) = queues(5, Duration::from_secs(30)).await;
    let queue = SqsQueue::new(client.clone(), &urls.queue_url);
    let bodies = ["one", "two", "three"];
    for body in bodies {
        queue.send(body.to_owned()).await.unwrap();
    }

    let mut received = Vec::new();
    for _ in 0..5 {
        received.extend(queue.receive(10, Duration::from_secs(1)).await.unwrap());
        if received.len() >= bodies.len() {
            break;
        }
    }
    let mut got: Vec<&str> = received.iter().map(|d| d.body.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, ["one", "three", "two"]);
    assert!(
        received
            .iter()
            .all(|d| d.receive_count == 1 && !d.message_id.is_empty())
    );

    let receipts: Vec<String> = received.iter().map(|d| d.receipt.clone()).collect();
    queue.delete(&receipts).await.unwrap();
    queue
        .delete(&receipts)
        .await
        .expect("deleting again is harmless");
    assert!(
        queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(depth(&client, &urls.queue_url).await, 0);
}

#[tokio::test]
async fn deleting_more_than_ten_receipts_uses_several_batches() {
    let (client, urls) = queues(5, Duration::from_secs(30)).await;
    let queue = SqsQueue::new(client.clone(), &urls.queue_url);
    for i in 0..23 {
        queue.send(format!("m{i}")).await.unwrap();
    }
    let mut receipts = Vec::new();
    for _ in 0..10 {
        let batch = queue.receive(25, Duration::from_secs(1)).await.unwrap();
        assert!(batch.len() <= 10, "receive asks for at most ten");
        receipts.extend(batch.into_iter().map(|d| d.receipt));
        if receipts.len() == 23 {
            break;
        }
    }
    assert_eq!(receipts.len(), 23);
    queue.delete(&receipts).await.unwrap();
    assert_eq!(depth(&client, &urls.queue_url).await, 0);
}

#[tokio::test]
async fn ensure_queues_is_idempotent_and_sets_the_redrive_policy() {
    let client = common::sqs_client();
    let name = common::unique("rockets-q");
    let dlq = format!("{name}-dlq");
    let first = ensure_queues(&client, &name, &dlq, 3, Duration::from_secs(45))
        .await
        .unwrap();
    let again = ensure_queues(&client, &name, &dlq, 3, Duration::from_secs(45))
        .await
        .unwrap();
    assert_eq!(first, again);

    let dlq_arn = attribute(&client, &first.dlq_url, QueueAttributeName::QueueArn).await;
    let policy: serde_json::Value = serde_json::from_str(
        &attribute(&client, &first.queue_url, QueueAttributeName::RedrivePolicy).await,
    )
    .unwrap();
    assert_eq!(policy["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "3");
    let visibility = attribute(
        &client,
        &first.queue_url,
        QueueAttributeName::VisibilityTimeout,
    );
    assert_eq!(visibility.await, "45");

    // Other settings converge instead of failing with QueueAlreadyExists.
    let changed = ensure_queues(&client, &name, &dlq, 7, Duration::from_secs(45))
        .await
        .unwrap();
    assert_eq!(changed, first);
    let policy: serde_json::Value = serde_json::from_str(
        &attribute(&client, &first.queue_url, QueueAttributeName::RedrivePolicy).await,
    )
    .unwrap();
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "7");
}

#[tokio::test]
async fn an_unacknowledged_message_goes_to_the_dlq_and_redrive_brings_it_back() {
    let max_receive_count = 2;
    let (client, urls) = queues(max_receive_count, Duration::from_secs(1)).await;
    let queue = SqsQueue::new(client.clone(), &urls.queue_url);
    queue.send("poison".to_owned()).await.unwrap();

    // Receive without deleting until SQS gives up on the message.
    let mut receives = 0;
    for _ in 0..20 {
        let batch = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        receives += batch.len();
        if depth(&client, &urls.dlq_url).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        depth(&client, &urls.dlq_url).await,
        1,
        "the message reached the DLQ"
    );
    assert_eq!(
        receives, max_receive_count as usize,
        "received maxReceiveCount times"
    );

    let report = redrive(&client, &urls.dlq_url, &urls.queue_url, 100)
        .await
        .unwrap();
    assert_eq!(report.moved, 1);
    let again = redrive(&client, &urls.dlq_url, &urls.queue_url, 100)
        .await
        .unwrap();
    assert_eq!(again.moved, 0, "a second redrive finds nothing");
    assert_eq!(depth(&client, &urls.dlq_url).await, 0);

    let back = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "poison");
    assert_eq!(back[0].receive_count, 1, "a redriven message starts afresh");
}

#[tokio::test]
async fn an_oversized_message_is_rejected_not_unavailable() {
    let (client, urls) = queues(5, Duration::from_secs(30)).await;
    let queue = SqsQueue::new(client, &urls.queue_url);
    // SQS (and moto 5.2) accept up to 1 MiB since 2025; one byte more is refused for good.
    let err = queue.send("x".repeat(1024 * 1024 + 1)).await.unwrap_err();
    assert!(matches!(err, QueueError::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn a_missing_queue_is_unavailable() {
    let client = common::sqs_client();
    let url = format!(
        "{}/000000000000/{}",
        common::endpoint(),
        common::unique("missing")
    );
    let queue = SqsQueue::new(client, url);
    let err = queue.send("x".to_owned()).await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable(_)), "{err:?}");
    assert!(matches!(
        queue.receive(1, Duration::ZERO).await,
        Err(QueueError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_long_poll_outlasts_the_default_attempt_timeout() {
    let (client, urls) = queues(5, Duration::from_secs(30)).await;
    let queue = SqsQueue::new(client, &urls.queue_url);
    let started = std::time::Instant::now();
    let got = queue
        .receive(10, Duration::from_secs(5))
        .await
        .expect("no attempt timeout");
    assert!(got.is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "moto held the poll open"
    );
}
