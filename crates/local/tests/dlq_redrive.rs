//! The DLQ path on moto, through the real binaries' code: messages that cannot be applied
//! (here: the table does not exist yet) reach the dead-letter queue after `maxReceiveCount`;
//! once the cause is fixed, `rockets-local redrive` returns them, a second redrive moves
//! nothing, and each message is applied exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use rockets_aws::{create_table_if_missing, load_sdk_config};
use rockets_local::aws::{AwsNames, Provisioning};
use rockets_local::{EventSourceConfig, start};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn moto() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "AWS_ENDPOINT_URL must point at a loopback moto_server (got {endpoint:?}); \
         run the tests through scripts/test.sh"
    );
    endpoint
}

/// A minimal HTTP/1.1 exchange on a fresh connection; returns (status, body).
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn message(channel: &str, number: u64, kind: &str, body: Value) -> String {
    json!({
        "metadata": {"channel": channel, "messageNumber": number,
                     "messageTime": "2026-10-01T17:39:42.8989223+02:00", "messageType": kind},
        "message": body,
    })
    .to_string()
}

async fn dlq_depth(sqs: &aws_sdk_sqs::Client, dlq: &str) -> usize {
    let url = sqs
        .get_queue_url()
        .queue_name(dlq)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap()
}

fn redrive(names: &AwsNames) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_rockets-local"))
        .args(["redrive", "--queue", &names.queue, "--dlq", &names.dlq])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapplicable_messages_reach_the_dlq_and_apply_exactly_once_after_redrive() {
    moto();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let names = AwsNames {
        table: format!("dlq-state-{suffix}"),
        queue: format!("dlq-messages-{suffix}"),
        dlq: format!("dlq-dlq-{suffix}"),
    };
    let sdk = load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    rockets_aws::ensure_queues(&sqs, &names.queue, &names.dlq, 2, Duration::from_secs(1))
        .await
        .unwrap();

    // The table is missing: every fold fails with a store error and is handed back.
    let provisioning = Provisioning {
        create_resources: false,
        max_receive_count: 2,
        visibility_timeout: Duration::from_secs(1),
    };
    let backend = rockets_local::aws::backend(&names, provisioning)
        .await
        .unwrap();
    let config = EventSourceConfig {
        workers: 1,
        ..EventSourceConfig::default()
    };
    let running = start(([127, 0, 0, 1], 0).into(), backend, config)
        .await
        .unwrap();
    let launch = json!({"type": "Falcon-9", "launchSpeed": 500, "mission": "ARTEMIS"});
    for body in [
        message("r-1", 1, "RocketLaunched", launch),
        message("r-1", 2, "RocketSpeedIncreased", json!({"by": 500})),
    ] {
        assert_eq!(http(running.addr, "POST", "/messages", &body).await.0, 202);
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    while dlq_depth(&sqs, &names.dlq).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the messages never reached the DLQ"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        http(running.addr, "GET", "/rockets/r-1", "").await.0,
        503,
        "no table yet"
    );

    // Fix the cause, then redrive: twice, the second finds nothing.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table_if_missing(&dynamodb, &names.table)
        .await
        .unwrap();
    assert!(redrive(&names).starts_with("moved 2 message(s)"));
    assert!(redrive(&names).starts_with("moved 0 message(s)"));

    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let (status, view) = http(running.addr, "GET", "/rockets/r-1", "").await;
        if status == 200 && view["lastMessageNumber"] == 2 {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "redriven messages were not applied: {view}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    running.shutdown().await;
    assert_eq!(view["speed"], 1000, "each message applied exactly once");
    assert_eq!(view["status"], "active");
    assert_eq!(dlq_depth(&sqs, &names.dlq).await, 0);
}
