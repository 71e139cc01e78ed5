//! Benchmark: DynamoDB write requests per message, counted by an SDK interceptor on the real
//! consumer batch loop against DynamoDB on moto (`AWS_ENDPOINT_URL`, started by
//! `scripts/bench.sh`). Reports ratios for in-order and shuffled traffic at batch sizes 10 and
//! 100; prints a Markdown table. Not a test: it asserts only that every state converged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly on purpose

use aws_sdk_dynamodb::config::Builder;
use consumer::{ConsumerConfig, Record, process_batch};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rockets_aws::{DynamoStore, counting_interceptor, create_table_if_missing, load_sdk_config};
use rockets_core::{Aggregate, Message, RocketStore};
use serde_json::json;

const MESSAGES: usize = 5_000;
/// "Shuffled" permutes the stream within windows of this many messages (about 25 per rocket
/// at 20 rockets): far more disorder than the real program's 1–2 positions, while keeping
/// pending lists short enough for moto, whose writes slow down with item size.
const SHUFFLE_WINDOW: usize = 500;

/// A launcher-like stream: rockets interleaved at random, each numbered 1.. with its launch first.
fn stream(rockets: usize, rng: &mut ChaCha8Rng) -> Vec<Message> {
    let mut next = vec![1u64; rockets];
    (0..MESSAGES)
        .map(|_| {
            let r = rng.random_range(0..rockets);
            let number = next[r];
            next[r] += 1;
            let (kind, body) = if number == 1 {
                (
                    "RocketLaunched",
                    json!({"type": "Falcon-9", "launchSpeed": 500, "mission": "M"}),
                )
            } else {
                ("RocketSpeedIncreased", json!({"by": 500}))
            };
            Message::from_value(&json!({
                "metadata": {
                    "channel": format!("bench-rocket-{r:02}"),
                    "messageNumber": number,
                    "messageTime": "2026-10-01T17:39:42.8989223+02:00",
                    "messageType": kind,
                },
                "message": body,
            }))
            .unwrap()
        })
        .collect()
}

struct Row {
    traffic: &'static str,
    rockets: usize,
    batch: usize,
    puts: u64,
    gets: u64,
    conflicts: u64,
}

async fn run(
    sdk: &aws_config::SdkConfig,
    traffic: &'static str,
    rockets: usize,
    batch: usize,
) -> Row {
    let mut rng = ChaCha8Rng::seed_from_u64(444);
    let mut messages = stream(rockets, &mut rng);
    if traffic == "shuffled" {
        for window in messages.chunks_mut(SHUFFLE_WINDOW) {
            window.shuffle(&mut rng);
        }
    }

    let (interceptor, counter) = counting_interceptor();
    let client =
        aws_sdk_dynamodb::Client::from_conf(Builder::from(sdk).interceptor(interceptor).build());
    let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
    create_table_if_missing(&client, &table).await.unwrap();
    let store = DynamoStore::new(client, table);
    counter.reset();

    // Deferred or contended records are redelivered, as SQS would, until all are applied.
    let mut queue: Vec<Record> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Record {
            message_id: i.to_string(),
            body: m.to_queue_body(),
        })
        .collect();
    let mut conflicts = 0;
    while !queue.is_empty() {
        let mut retry = Vec::new();
        for chunk in queue.chunks(batch) {
            let outcome = process_batch(&store, chunk, ConsumerConfig::default()).await;
            conflicts += outcome.stats.conflicts;
            retry.extend(
                chunk
                    .iter()
                    .filter(|r| outcome.failed.contains(&r.message_id))
                    .cloned(),
            );
        }
        queue = retry;
    }
    let puts = counter.attempts("PutItem");
    let gets = counter.attempts("GetItem");

    for r in 0..rockets {
        let channel = format!("bench-rocket-{r:02}");
        let mut expected = Aggregate::new(&channel);
        let own: Vec<Message> = stream(rockets, &mut ChaCha8Rng::seed_from_u64(444))
            .into_iter()
            .filter(|m| m.channel == channel)
            .collect();
        expected.fold(&own);
        let stored = store.get(&channel).await.unwrap().unwrap();
        assert_eq!(
            stored,
            expected.view(),
            "{traffic} {rockets} rockets, batch {batch}"
        );
    }
    Row {
        traffic,
        rockets,
        batch,
        puts,
        gets,
        conflicts,
    }
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "run through scripts/bench.sh (moto)"
    );
    let sdk = load_sdk_config().await;

    let mut rows = Vec::new();
    for (traffic, rockets, batch) in [
        ("in order", 1, 10),
        ("in order", 20, 10),
        ("shuffled", 20, 10),
        ("in order", 20, 100),
        ("shuffled", 20, 100),
    ] {
        rows.push(run(&sdk, traffic, rockets, batch).await);
    }

    println!(
        "\nDynamoDB requests per message, {MESSAGES} messages, consumer on moto \
         (shuffled = permuted within windows of {SHUFFLE_WINDOW}):\n"
    );
    println!("| traffic | rockets | batch | PutItem/msg | GetItem/msg | CAS conflicts |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let per = |n: u64| n as f64 / MESSAGES as f64;
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {} |",
            r.traffic,
            r.rockets,
            r.batch,
            per(r.puts),
            per(r.gets),
            r.conflicts
        );
    }
}
