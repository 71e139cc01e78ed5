//! The query function: the dashboard API over the rockets store.
//!
//! - `GET /rockets/{channel}`: one rocket's view, `404` if unknown;
//! - `GET /rockets`: the fleet, filtered, sorted and paged with an opaque cursor
//!   (rules in [`rockets_core::fleet`]);
//! - `GET /health`: liveness.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rockets_core::{ListParams, RocketStore, StoreError};
use rockets_http::{Problem, json};
use serde_json::json as json_value;

/// What the handlers need: the store to read.
#[derive(Clone)]
pub struct QueryState {
    store: Arc<dyn RocketStore>,
}

impl QueryState {
    /// Wraps the store port.
    pub fn new(store: Arc<dyn RocketStore>) -> Self {
        Self { store }
    }
}

/// The query routes, ready for `lambda_http::run` or a local server.
pub fn app(state: QueryState) -> Router {
    Router::new()
        .route(
            "/rockets",
            get(list_rockets).fallback(rockets_http::method_not_allowed),
        )
        .route(
            "/rockets/{channel}",
            get(get_rocket).fallback(rockets_http::method_not_allowed),
        )
        .route(
            "/health",
            get(health).fallback(rockets_http::method_not_allowed),
        )
        .with_state(state)
}

async fn get_rocket(
    State(state): State<QueryState>,
    channel: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(channel)) = channel else {
        return bad_parameter("channel", "the channel in the path is not valid UTF-8")
            .into_response();
    };
    match state.store.get(&channel).await {
        Ok(Some(view)) => json(StatusCode::OK, &view),
        Ok(None) => unknown_rocket(&channel).into_response(),
        Err(error) => store_failure(&error).into_response(),
    }
}

async fn list_rockets(State(state): State<QueryState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = match serde_urlencoded_pairs(&query) {
        Some(pairs) => pairs,
        None => {
            return bad_parameter("query", "the query string is not valid URL encoding")
                .into_response();
        }
    };
    let params = match ListParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(params) => params,
        Err(error) => return bad_parameter(&error.parameter, &error.to_string()).into_response(),
    };

    match state.store.scan(&params.filters).await {
        Ok(rockets) => json(StatusCode::OK, &params.page(rockets)),
        Err(error) => store_failure(&error).into_response(),
    }
}

async fn health() -> Response {
    json(StatusCode::OK, &json_value!({"status": "ok"}))
}

/// Decodes `a=1&b=2` into pairs, `None` if the encoding is broken.
fn serde_urlencoded_pairs(query: &str) -> Option<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{query}").parse().ok()?)
        .ok()
        .map(|q| q.0)
}

fn unknown_rocket(channel: &str) -> Problem {
    let problem = Problem::new(
        StatusCode::NOT_FOUND,
        "/problems/unknown-rocket",
        "Unknown rocket",
    );
    // Echo only what could be a channel: a longer one can never have been accepted.
    if channel.len() <= rockets_core::message::MAX_CHANNEL_BYTES {
        problem.detail(format!(
            "no messages have been received for channel {channel:?}"
        ))
    } else {
        problem.detail("no such channel: channels are at most 256 bytes")
    }
}

fn bad_parameter(parameter: &str, detail: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "/problems/invalid-parameter",
        "Invalid parameter",
    )
    .detail(detail)
    .field(parameter)
}

fn store_failure(error: &StoreError) -> Problem {
    let source = std::error::Error::source(error);
    tracing::error!(error = %error, source = ?source, "store read failed");
    Problem::unavailable("rockets table")
}
