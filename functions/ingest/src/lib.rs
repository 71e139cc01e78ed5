//! The ingest function: `POST /messages` validates one telemetry message and enqueues it.
//!
//! A valid message (duplicates and out-of-order ones included, and unknown types) is answered
//! `202 Accepted` only once the queue has it. Invalid input is answered `400`/`413` with a
//! problem body naming the field and is never enqueued. A queue outage is `503`, so the sender
//! retries and nothing valid is lost.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rockets_core::{Message, MessageQueue, QueueError, ValidationError};
use rockets_http::{Problem, json};
use serde::Serialize;

/// Largest accepted body. Real messages are a few hundred bytes; SQS would take 256 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handler needs: the queue to send to.
#[derive(Clone)]
pub struct IngestState {
    queue: Arc<dyn MessageQueue>,
}

impl IngestState {
    /// Wraps the queue port.
    pub fn new(queue: Arc<dyn MessageQueue>) -> Self {
        Self { queue }
    }
}

/// The `202` body: which message was accepted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    status: &'static str,
    channel: &'a str,
    message_number: u64,
}

/// The ingest routes, ready for `lambda_http::run` or a local server.
pub fn app(state: IngestState) -> Router {
    Router::new()
        .route(
            "/messages",
            post(post_message).fallback(rockets_http::method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn post_message(
    State(state): State<IngestState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(
                outcome = "rejected",
                reason = "too_large",
                "message rejected"
            );
            return too_large().into_response();
        }
        Err(rejection) => {
            tracing::warn!(outcome = "rejected", error = %rejection, "unreadable body");
            return invalid(&ValidationError::Malformed(rejection.body_text())).into_response();
        }
    };

    let message = match Message::parse(&body) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(outcome = "rejected", field = error.field(), error = %error,
                "message rejected");
            return invalid(&error).into_response();
        }
    };

    match state.queue.send(message.to_queue_body()).await {
        Ok(()) => {
            tracing::info!(outcome = "accepted", channel = %message.channel,
                messageNumber = message.number, "message enqueued");
            json(
                StatusCode::ACCEPTED,
                &Accepted {
                    status: "accepted",
                    channel: &message.channel,
                    message_number: message.number,
                },
            )
        }
        Err(QueueError::Unavailable(source)) => {
            tracing::error!(outcome = "failed", channel = %message.channel,
                messageNumber = message.number, error = %source, "queue unavailable");
            Problem::unavailable("queue").into_response()
        }
        Err(QueueError::Rejected(reason)) => {
            // The queue body is re-encoded by us, so a rejection is our bug, not the sender's.
            tracing::error!(outcome = "failed", channel = %message.channel,
                messageNumber = message.number, error = %reason, "queue rejected the body");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "/problems/internal",
                "Internal error",
            )
            .detail("the message could not be queued")
            .into_response()
        }
    }
}

fn invalid(error: &ValidationError) -> Problem {
    let problem = Problem::new(
        StatusCode::BAD_REQUEST,
        "/problems/invalid-message",
        "Invalid message",
    )
    .detail(error.to_string());
    match error.field() {
        Some(field) => problem.field(field),
        None => problem,
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "/problems/too-large",
        "Message too large",
    )
    .detail(format!("the body exceeds {MAX_BODY_BYTES} bytes"))
}
