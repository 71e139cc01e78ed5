//! The launcher against `rockets-local` on the embedded backend: reordered, duplicated traffic
//! ends with every rocket's state equal to the launcher's own model.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use rockets_e2e::{launch_args, start_embedded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_duplicated_traffic_converges_to_the_model() {
    let running = start_embedded().await;
    let mut args = launch_args(&running, 30_000);
    args.duplicates = 0.1;
    args.reorder_window = 200;
    args.seed = 7;

    let summary = rockets_launcher::run(args).await.expect("launch verified");
    running.shutdown().await;

    let verified = summary.verified.expect("verification ran");
    assert_eq!(verified.rockets, 20);
    assert_eq!(summary.failed, 0);
    assert!(
        summary.duplicates > 1_000,
        "duplicates were really sent: {summary:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slow_demo_shape_converges_too() {
    // One sender, a delay: in-order delivery, as `--message-delay=… --concurrency-level=1`.
    let running = start_embedded().await;
    let mut args = launch_args(&running, 400);
    args.concurrency_level = 1;
    args.message_delay = Some(std::time::Duration::from_millis(1));

    let summary = rockets_launcher::run(args).await.expect("launch verified");
    running.shutdown().await;
    assert_eq!(summary.messages, 400);
}
