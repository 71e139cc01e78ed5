//! A throwaway loopback server for the launcher's tests.
//!
//! `POST /messages` records every body and answers `202`, or `500` / slowly by a script; the
//! accepted TCP connections are counted. `GET /rockets/{channel}` and `GET /rockets` serve a
//! fake query API folded from what was received (first copy wins, applied in number order), with
//! an optional deliberate bug: a wrong speed for one channel.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How `POST /messages` answers; request numbers count from 1 over all posts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Script {
    /// Every n-th request is answered `500`.
    pub fail_every: Option<u64>,
    /// Every n-th request is answered `202` only after `slow_for`.
    pub slow_every: Option<u64>,
    /// How long a slow answer takes.
    pub slow_for: Duration,
}

#[derive(Default)]
pub struct Recorder {
    script: Script,
    bodies: Mutex<Vec<Bytes>>,
    pub connections: AtomicU64,
    pub posts: AtomicU64,
    pub gets: AtomicU64,
    pub wrong_speed_for: Mutex<Option<String>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<Recorder>,
}

impl TestServer {
    /// Binds `127.0.0.1:port` (0: any free port) and serves in the background.
    pub async fn start_on(port: u16, script: Script) -> Self {
        let state = Arc::new(Recorder {
            script,
            ..Recorder::default()
        });
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counted = state.clone();
        let listener = listener.tap_io(move |_| {
            counted.connections.fetch_add(1, SeqCst);
        });
        let app = Router::new()
            .route("/messages", post(record))
            .route("/rockets", get(list))
            .route("/rockets/{channel}", get(one))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    pub async fn start(script: Script) -> Self {
        Self::start_on(0, script).await
    }

    pub fn messages_url(&self) -> String {
        format!("http://{}/messages", self.addr)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every body received, in arrival order, parsed.
    pub fn bodies(&self) -> Vec<Value> {
        let bodies = self.state.bodies.lock().unwrap();
        bodies
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect()
    }

    /// Every body received, raw.
    pub fn raw_bodies(&self) -> Vec<Bytes> {
        self.state.bodies.lock().unwrap().clone()
    }
}

async fn record(State(state): State<Arc<Recorder>>, body: Bytes) -> StatusCode {
    // Recorded first: a client that times out still left its request here.
    state.bodies.lock().unwrap().push(body);
    let n = state.posts.fetch_add(1, SeqCst) + 1;
    let script = state.script;
    if script.fail_every.is_some_and(|k| n % k == 0) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if script.slow_every.is_some_and(|k| n % k == 0) {
        tokio::time::sleep(script.slow_for).await;
    }
    StatusCode::ACCEPTED
}

async fn one(
    State(state): State<Arc<Recorder>>,
    Path(channel): Path<String>,
) -> Result<axum::Json<Value>, StatusCode> {
    state.gets.fetch_add(1, SeqCst);
    views(&state)
        .remove(&channel)
        .map(axum::Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn list(
    State(state): State<Arc<Recorder>>,
    Query(params): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    state.gets.fetch_add(1, SeqCst);
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    let start: usize = params
        .get("cursor")
        .and_then(|c| c.strip_prefix("after:")?.parse().ok())
        .unwrap_or(0);
    let all: Vec<Value> = views(&state).into_values().collect();
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let end = start + page.len();
    let next = (end < all.len()).then(|| format!("after:{end}"));
    axum::Json(json!({"rockets": page, "nextCursor": next}))
}

/// Folds what was received into one view per channel, sorted by channel.
fn views(state: &Recorder) -> BTreeMap<String, Value> {
    let mut by_channel: BTreeMap<String, BTreeMap<u64, Value>> = BTreeMap::new();
    for body in state.bodies.lock().unwrap().iter() {
        let v: Value = serde_json::from_slice(body).unwrap();
        let channel = v["metadata"]["channel"].as_str().unwrap().to_owned();
        let number = v["metadata"]["messageNumber"].as_u64().unwrap();
        by_channel
            .entry(channel)
            .or_default()
            .entry(number)
            .or_insert(v);
    }
    let wrong = state.wrong_speed_for.lock().unwrap().clone();
    by_channel
        .into_iter()
        .map(|(channel, messages)| {
            let mut view = fold(&channel, &messages);
            if wrong.as_deref() == Some(channel.as_str()) {
                view["speed"] = json!(view["speed"].as_i64().unwrap() + 500);
            }
            (channel, view)
        })
        .collect()
}

fn fold(channel: &str, messages: &BTreeMap<u64, Value>) -> Value {
    let mut view = json!({
        "channel": channel, "status": "awaitingLaunch", "type": null, "mission": null,
        "speed": null, "launchSpeed": null, "explosionReason": null, "launchedAt": null,
        "updatedAt": null, "lastMessageNumber": 0, "pendingMessages": 0,
    });
    let mut last = 0;
    let mut speed = 0i64;
    for (number, m) in messages {
        if *number != last + 1 {
            break;
        }
        last = *number;
        let body = &m["message"];
        view["updatedAt"] = m["metadata"]["messageTime"].clone();
        match m["metadata"]["messageType"].as_str().unwrap() {
            "RocketLaunched" => {
                view["type"] = body["type"].clone();
                view["mission"] = body["mission"].clone();
                view["launchSpeed"] = body["launchSpeed"].clone();
                view["launchedAt"] = m["metadata"]["messageTime"].clone();
                view["status"] = json!("active");
                speed += body["launchSpeed"].as_i64().unwrap();
            }
            "RocketSpeedIncreased" => speed += body["by"].as_i64().unwrap(),
            "RocketSpeedDecreased" => speed -= body["by"].as_i64().unwrap(),
            "RocketMissionChanged" => view["mission"] = body["newMission"].clone(),
            "RocketExploded" => {
                view["explosionReason"] = body["reason"].clone();
                view["status"] = json!("exploded");
            }
            other => panic!("unexpected type {other}"),
        }
    }
    if !view["launchSpeed"].is_null() {
        view["speed"] = json!(speed);
    }
    view["lastMessageNumber"] = json!(last);
    view["pendingMessages"] = json!(messages.len() as u64 - last);
    view
}
