//! The ingest validation table: every kind of bad input gets a 4xx problem naming the field
//! and enqueues nothing; everything valid is enqueued exactly as its canonical envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ingest::{IngestState, MAX_BODY_BYTES, app};
use rockets_core::{Message, MessageQueue, QueueError, QueueSource};
use rockets_embedded::{MemoryQueue, QueueConfig};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

fn launch() -> Value {
    json!({
        "metadata": {
            "channel": "193270a9-c9cf-404a-8f83-838e71d9ae67",
            "messageNumber": 1,
            "messageTime": "2022-02-02T19:39:05.86337+01:00",
            "messageType": "RocketLaunched"
        },
        "message": {"type": "Falcon-9", "launchSpeed": 500, "mission": "ARTEMIS"}
    })
}

async fn post(queue: Arc<dyn MessageQueue>, body: impl Into<Body>) -> (StatusCode, String, Value) {
    let request = Request::post("/messages")
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = app(IngestState::new(queue)).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, value)
}

async fn queued(queue: &MemoryQueue) -> Vec<String> {
    let deliveries = queue.receive(10, Duration::ZERO).await.unwrap();
    deliveries.into_iter().map(|d| d.body).collect()
}

#[tokio::test]
async fn valid_message_is_accepted_and_enqueued_once() {
    let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
    let (status, content_type, body) = post(queue.clone(), launch().to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(content_type, "application/json");
    assert_eq!(body["messageNumber"], 1);

    let bodies = queued(&queue).await;
    assert_eq!(bodies.len(), 1);
    let enqueued = Message::parse(bodies[0].as_bytes()).unwrap();
    assert_eq!(enqueued, Message::from_value(&launch()).unwrap());
}

#[tokio::test]
async fn duplicates_out_of_order_and_unknown_types_are_all_accepted() {
    let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
    let mut late = launch();
    late["metadata"]["messageNumber"] = json!(7);
    late["metadata"]["messageType"] = json!("RocketSpeedIncreased");
    late["message"] = json!({"by": 500});
    let mut unknown = launch();
    unknown["metadata"]["messageNumber"] = json!(3);
    unknown["metadata"]["messageType"] = json!("RocketRefuelled");
    unknown["message"] = json!({"litres": 9});
    for body in [launch(), launch(), late, unknown] {
        let (status, _, _) = post(queue.clone(), body.to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(queued(&queue).await.len(), 4);
}

#[tokio::test]
async fn invalid_input_is_rejected_with_the_field_and_never_enqueued() {
    let cases: Vec<(&str, String)> = vec![
        ("$", "[1,2]".to_owned()),
        ("metadata", json!({"message": {}}).to_string()),
        (
            "metadata.channel",
            with(|v| v["metadata"]["channel"] = json!(null)),
        ),
        (
            "metadata.channel",
            with(|v| v["metadata"]["channel"] = json!(42)),
        ),
        (
            "metadata.channel",
            with(|v| v["metadata"]["channel"] = json!("")),
        ),
        (
            "metadata.messageNumber",
            with(|v| v["metadata"]["messageNumber"] = json!(0)),
        ),
        (
            "metadata.messageNumber",
            with(|v| v["metadata"]["messageNumber"] = json!("1")),
        ),
        (
            "metadata.messageNumber",
            with(|v| v["metadata"]["messageNumber"] = json!(2.5)),
        ),
        (
            "metadata.messageTime",
            with(|v| v["metadata"]["messageTime"] = json!("noon")),
        ),
        (
            "metadata.messageType",
            with(|v| v["metadata"]["messageType"] = json!(5)),
        ),
        ("message", with(|v| v["message"] = json!("fast"))),
        (
            "message.launchSpeed",
            with(|v| v["message"]["launchSpeed"] = json!("500")),
        ),
        (
            "message.mission",
            with(|v| {
                v["message"].as_object_mut().unwrap().remove("mission");
            }),
        ),
        (
            "message.by",
            with(|v| {
                v["metadata"]["messageType"] = json!("RocketSpeedDecreased");
                v["message"] = json!({});
            }),
        ),
        (
            "message.reason",
            with(|v| {
                v["metadata"]["messageType"] = json!("RocketExploded");
                v["message"] = json!({"reason": 1});
            }),
        ),
        (
            "message.newMission",
            with(|v| {
                v["metadata"]["messageType"] = json!("RocketMissionChanged");
                v["message"] = json!({"mission": "X"});
            }),
        ),
    ];
    let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
    for (field, body) in cases {
        let (status, content_type, problem) = post(queue.clone(), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["field"], field, "{body}");
        assert_eq!(problem["status"], 400);
        assert!(problem["detail"].as_str().unwrap().contains(field) || field == "$");
    }
    assert!(queued(&queue).await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400_without_a_field() {
    let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
    for body in ["{\"metadata\":", "", "not json"] {
        let (status, _, problem) = post(queue.clone(), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(problem["type"], "/problems/invalid-message");
        assert!(problem.get("field").is_none());
    }
    assert!(queued(&queue).await.is_empty());
}

#[tokio::test]
async fn oversized_body_is_a_413() {
    let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
    let mut big = launch();
    big["message"]["mission"] = json!("x".repeat(MAX_BODY_BYTES));
    let (status, content_type, _) = post(queue.clone(), big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type, "application/problem+json");
    assert!(queued(&queue).await.is_empty());
}

struct DownQueue(AtomicBool);

#[async_trait]
impl MessageQueue for DownQueue {
    async fn send(&self, _body: String) -> Result<(), QueueError> {
        self.0.store(true, Ordering::SeqCst);
        Err(QueueError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn queue_outage_is_a_503_with_retry_after() {
    let queue = Arc::new(DownQueue(AtomicBool::new(false)));
    let request = Request::post("/messages")
        .body(Body::from(launch().to_string()))
        .unwrap();
    let response = app(IngestState::new(queue.clone()))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(queue.0.load(Ordering::SeqCst), "the send was attempted");
}

#[tokio::test]
async fn other_methods_are_405() {
    let queue: Arc<dyn MessageQueue> = Arc::new(MemoryQueue::new(QueueConfig::default()));
    let request = Request::get("/messages").body(Body::empty()).unwrap();
    let response = app(IngestState::new(queue)).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

fn with(mutate: impl FnOnce(&mut Value)) -> String {
    let mut v = launch();
    mutate(&mut v);
    v.to_string()
}
