//! The launcher against `rockets-local --backend aws --create-resources` on moto's SQS and
//! DynamoDB: duplicated, reordered traffic converges to the model through the real adapters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use rockets_e2e::{launch_args, start_on_moto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_duplicated_traffic_converges_on_sqs_and_dynamodb() {
    let running = start_on_moto().await;
    let mut args = launch_args(&running, 2_000);
    args.duplicates = 0.1;
    args.reorder_window = 50;
    args.seed = 11;

    let summary = rockets_launcher::run(args).await.expect("launch verified");
    running.shutdown().await;

    assert_eq!(summary.verified.expect("verification ran").rockets, 20);
    assert_eq!(summary.failed, 0);
    assert!(summary.duplicates > 100);
}
