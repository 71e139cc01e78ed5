//! The dashboard API over the embedded store: one rocket, 404, the fleet list's sorting,
//! filters, cursor paging and parameter errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use query::{QueryState, app};
use rockets_core::{Aggregate, Message, RocketStore};
use rockets_embedded::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt;

fn message(channel: &str, number: u64, kind: &str, body: Value) -> Message {
    Message::from_value(&json!({
        "metadata": {
            "channel": channel,
            "messageNumber": number,
            "messageTime": format!("2026-10-01T17:39:{:02}.8989223+02:00", number),
            "messageType": kind,
        },
        "message": body,
    }))
    .unwrap()
}

/// Stores a rocket launched with `speed` on `mission`, exploded if `exploded`.
async fn rocket(store: &MemoryStore, channel: &str, speed: i64, mission: &str, exploded: bool) {
    let mut messages = vec![message(
        channel,
        1,
        "RocketLaunched",
        json!({"type": "Falcon-9", "launchSpeed": speed, "mission": mission}),
    )];
    if exploded {
        messages.push(message(
            channel,
            2,
            "RocketExploded",
            json!({"reason": "BOOM"}),
        ));
    }
    let mut aggregate = Aggregate::new(channel);
    aggregate.fold(&messages);
    store.save(&aggregate).await.unwrap();
}

async fn fleet() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    rocket(&store, "delta", 1000, "B", false).await;
    rocket(&store, "alpha", 3000, "A", true).await;
    rocket(&store, "bravo", 1000, "A", false).await;
    rocket(&store, "echo", 500, "B", false).await;
    // Only message 2 has arrived: awaiting launch.
    let mut waiting = Aggregate::new("charlie");
    waiting.fold(&[message(
        "charlie",
        2,
        "RocketSpeedIncreased",
        json!({"by": 500}),
    )]);
    store.save(&waiting).await.unwrap();
    store
}

async fn get(store: Arc<MemoryStore>, uri: &str) -> (StatusCode, String, Value) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app(QueryState::new(store)).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

fn channels(page: &Value) -> Vec<&str> {
    page["rockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["channel"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn one_rocket_has_exactly_the_documented_fields() {
    let (status, content_type, body) = get(fleet().await, "/rockets/alpha").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        json!({
            "channel": "alpha",
            "status": "exploded",
            "type": "Falcon-9",
            "mission": "A",
            "speed": 3000,
            "launchSpeed": 3000,
            "explosionReason": "BOOM",
            "launchedAt": "2026-10-01T17:39:01.8989223+02:00",
            "updatedAt": "2026-10-01T17:39:02.8989223+02:00",
            "lastMessageNumber": 2,
            "pendingMessages": 0
        })
    );
}

#[tokio::test]
async fn a_rocket_awaiting_launch_has_null_fields_and_pending() {
    let (status, _, body) = get(fleet().await, "/rockets/charlie").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "awaitingLaunch");
    assert_eq!(body["type"], Value::Null);
    assert_eq!(body["speed"], Value::Null);
    assert_eq!(body["lastMessageNumber"], 0);
    assert_eq!(body["pendingMessages"], 1);
}

#[tokio::test]
async fn unknown_rocket_is_a_404_problem() {
    let (status, content_type, body) = get(fleet().await, "/rockets/zulu").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], 404);
}

#[tokio::test]
async fn list_sorts_and_breaks_ties_by_channel() {
    let store = fleet().await;
    let (_, _, page) = get(store.clone(), "/rockets").await;
    assert_eq!(
        channels(&page),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(page["nextCursor"], Value::Null);

    let (_, _, page) = get(store.clone(), "/rockets?sort=speed&order=desc").await;
    assert_eq!(
        channels(&page),
        ["alpha", "bravo", "delta", "echo", "charlie"]
    );

    let (_, _, page) = get(store.clone(), "/rockets?sort=status").await;
    assert_eq!(
        channels(&page),
        ["charlie", "bravo", "delta", "echo", "alpha"]
    );
}

#[tokio::test]
async fn list_filters_by_status_mission_and_type() {
    let store = fleet().await;
    let (_, _, page) = get(store.clone(), "/rockets?status=active&mission=A").await;
    assert_eq!(channels(&page), ["bravo"]);
    let (_, _, page) = get(store.clone(), "/rockets?type=Falcon-9&sort=speed").await;
    assert_eq!(channels(&page), ["echo", "bravo", "delta", "alpha"]);
    let (_, _, page) = get(store, "/rockets?mission=Mars%20One").await;
    assert_eq!(channels(&page), Vec::<&str>::new());
}

#[tokio::test]
async fn cursor_pages_reach_every_rocket_once() {
    let store = fleet().await;
    let mut seen = Vec::new();
    let mut uri = "/rockets?sort=speed&limit=2".to_owned();
    loop {
        let (status, _, page) = get(store.clone(), &uri).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page["rockets"].as_array().unwrap().len() <= 2);
        seen.extend(channels(&page).into_iter().map(str::to_owned));
        match page["nextCursor"].as_str() {
            Some(cursor) => uri = format!("/rockets?sort=speed&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["echo", "bravo", "delta", "alpha", "charlie"]);
}

#[tokio::test]
async fn bad_parameters_are_400_problems_naming_the_parameter() {
    let store = fleet().await;
    for (uri, parameter) in [
        ("/rockets?sort=colour", "sort"),
        ("/rockets?order=sideways", "order"),
        ("/rockets?status=flying", "status"),
        ("/rockets?limit=0", "limit"),
        ("/rockets?limit=1001", "limit"),
        ("/rockets?limit=abc", "limit"),
        ("/rockets?cursor=garbage", "cursor"),
        ("/rockets?colour=red", "colour"),
    ] {
        let (status, content_type, body) = get(store.clone(), uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["field"], parameter, "{uri}");
    }
}

#[tokio::test]
async fn health_answers_ok() {
    let (status, _, body) = get(Arc::new(MemoryStore::new()), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn a_channel_that_is_not_utf8_is_a_400_problem() {
    let (status, content_type, body) = get(fleet().await, "/rockets/%C3").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["field"], "channel");
}

#[tokio::test]
async fn an_impossibly_long_channel_is_not_echoed() {
    let long = "x".repeat(5_000);
    let (status, _, body) = get(fleet().await, &format!("/rockets/{long}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["detail"].as_str().unwrap().len() < 200);
}
