//! Shared set-up for the tests against a real moto server: the endpoint from
//! `ROCKETS_TEST_ENDPOINT` (loopback only), clients with test credentials and a fixed region,
//! unique resource names, and message builders.
#![allow(dead_code)] // each test crate uses a different part of this module
#![allow(clippy::expect_used)] // set-up fails loudly on purpose

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_sdk_dynamodb::config::{Credentials, SharedInterceptor};
use rockets_aws::DynamoStore;
use rockets_core::{Message, MessageBody, MessageTime};

/// The variable naming the moto server the tests use.
pub const ENDPOINT_VAR: &str = "ROCKETS_TEST_ENDPOINT";

/// The moto endpoint. Panics with instructions when it is unset, not on loopback or not
/// answering: these tests must fail, never skip, without their server.
pub fn endpoint() -> String {
    let Ok(url) = std::env::var(ENDPOINT_VAR) else {
        panic!(
            "{ENDPOINT_VAR} is not set: start moto (scripts/moto.sh start) and export \
             {ENDPOINT_VAR}=http://127.0.0.1:PORT"
        );
    };
    let authority = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{ENDPOINT_VAR}={url} must be an http:// URL"))
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("{ENDPOINT_VAR}={url}: cannot resolve {authority}: {e}"))
        .collect();
    assert!(
        !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
        "{ENDPOINT_VAR}={url} must point at a loopback address (127.0.0.1 or [::1])"
    );
    if let Err(e) = TcpStream::connect_timeout(&addrs[0], Duration::from_secs(2)) {
        panic!("{ENDPOINT_VAR}={url} is unreachable ({e}): is moto running?");
    }
    url
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "rockets-tests")
}

/// A DynamoDB client for moto, with our production timeouts and retries.
pub fn dynamo_client() -> aws_sdk_dynamodb::Client {
    dynamo_client_with(None)
}

/// A DynamoDB client for moto with an extra interceptor.
pub fn dynamo_client_with(interceptor: Option<SharedInterceptor>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint())
        .timeout_config(rockets_aws::config::timeout_config())
        .retry_config(rockets_aws::config::retry_config());
    if let Some(interceptor) = interceptor {
        config.push_interceptor(interceptor);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// An SQS client for moto, with our production timeouts and retries.
pub fn sqs_client() -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "rockets-tests",
        ))
        .endpoint_url(endpoint())
        .timeout_config(rockets_aws::config::timeout_config())
        .retry_config(rockets_aws::config::retry_config())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A resource name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh table and a store on it.
pub async fn new_store(client: aws_sdk_dynamodb::Client) -> DynamoStore {
    let table = unique("rockets-test");
    rockets_aws::create_table_if_missing(&client, &table)
        .await
        .expect("create the test table");
    DynamoStore::new(client, table)
}

/// Message `number` of `channel` with `body`; the type follows the body.
pub fn message(channel: &str, number: u64, body: MessageBody) -> Message {
    let message_type = match &body {
        MessageBody::Launched { .. } => "RocketLaunched",
        MessageBody::SpeedIncreased { .. } => "RocketSpeedIncreased",
        MessageBody::SpeedDecreased { .. } => "RocketSpeedDecreased",
        MessageBody::Exploded { .. } => "RocketExploded",
        MessageBody::MissionChanged { .. } => "RocketMissionChanged",
        MessageBody::Unknown => "RocketRefuelled",
    };
    let time = format!(
        "2026-10-01T{:02}:{:02}:{:02}.1234567+02:00",
        number / 3600 % 24,
        number / 60 % 60,
        number % 60
    );
    Message {
        channel: channel.to_owned(),
        number,
        time: MessageTime::parse(&time).expect("a valid time"),
        message_type: message_type.to_owned(),
        body,
    }
}

/// A launch as message `number`.
pub fn launch(channel: &str, number: u64, mission: &str) -> Message {
    let body = MessageBody::Launched {
        rocket_type: "Falcon-9".into(),
        launch_speed: 500,
        mission: mission.into(),
    };
    message(channel, number, body)
}
