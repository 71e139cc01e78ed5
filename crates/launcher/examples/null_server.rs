//! A do-nothing loopback server for measuring the launcher's offered load: it answers `202` to
//! every `POST /messages` and counts requests, printing the count once a second when it changes.
//!
//! `cargo run --release -p rockets-launcher --example null_server -- 127.0.0.1:9999`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let app = Router::new().route(
        "/messages",
        post(move || {
            counter.fetch_add(1, Relaxed);
            async { StatusCode::ACCEPTED }
        }),
    );
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = count.load(Relaxed);
            if now != last {
                println!("{now} requests ({} in the last second)", now - last);
                last = now;
            }
        }
    });
    eprintln!("null server listening on http://{addr}/messages");
    axum::serve(listener, app).await
}
