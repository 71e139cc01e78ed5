//! The launcher against a throwaway loopback server: delivery, retries, resends, duplicates,
//! determinism, one connection per request, and `--verify` against a fake query API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use rockets_launcher::model::Simulation;
use rockets_launcher::verify::Mismatch;
use rockets_launcher::{LaunchArgs, LaunchError, run};
use serde_json::Value;
use support::{Script, TestServer};

fn args(server: &TestServer, max_messages: u64) -> LaunchArgs {
    LaunchArgs {
        max_messages,
        retry_interval: Duration::from_millis(20),
        ..LaunchArgs::new(server.messages_url())
    }
}

type Key = (String, u64);

fn key(body: &Value) -> Key {
    let m = &body["metadata"];
    (
        m["channel"].as_str().unwrap().to_owned(),
        m["messageNumber"].as_u64().unwrap(),
    )
}

/// Every distinct message received, first copy, by (channel, number).
fn distinct(server: &TestServer) -> BTreeMap<Key, Value> {
    let mut out = BTreeMap::new();
    for body in server.bodies() {
        out.entry(key(&body)).or_insert(body);
    }
    out
}

/// Asserts the received messages form the documented shape: per channel contiguous numbers
/// from 1, the launch first, nothing after an explosion.
fn assert_traffic_shape(messages: &BTreeMap<Key, Value>) {
    let mut by_channel: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for ((channel, _), body) in messages {
        by_channel.entry(channel).or_default().push(body);
    }
    for (channel, bodies) in by_channel {
        for (i, body) in bodies.iter().enumerate() {
            let kind = body["metadata"]["messageType"].as_str().unwrap();
            assert_eq!(
                key(body).1,
                i as u64 + 1,
                "{channel}: gap before message {}",
                i + 1
            );
            assert_eq!(
                kind == "RocketLaunched",
                i == 0,
                "{channel} #{}: {kind}",
                i + 1
            );
            if kind == "RocketExploded" {
                assert_eq!(
                    i + 1,
                    bodies.len(),
                    "{channel}: messages after the explosion"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_once_on_its_own_connection() {
    let server = TestServer::start(Script::default()).await;
    let summary = run(args(&server, 3_000)).await.unwrap();

    assert_eq!(
        (summary.generated, summary.messages, summary.failed),
        (3_000, 3_000, 0)
    );
    assert_eq!(
        (summary.requests, summary.retries, summary.duplicates),
        (3_000, 0, 0)
    );
    let messages = distinct(&server);
    assert_eq!(messages.len(), 3_000);
    assert_eq!(
        server.bodies().len(),
        3_000,
        "no failure, so no second copy"
    );
    assert_traffic_shape(&messages);
    assert_eq!(
        server.state.connections.load(SeqCst),
        3_000,
        "one connection per request"
    );
    assert_eq!(summary.rockets.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sender_delivers_in_order() {
    let server = TestServer::start(Script::default()).await;
    run(LaunchArgs {
        concurrency_level: 1,
        ..args(&server, 1_000)
    })
    .await
    .unwrap();
    let mut last: HashMap<String, u64> = HashMap::new();
    for body in server.bodies() {
        let (channel, number) = key(&body);
        let previous = last.insert(channel, number).unwrap_or(0);
        assert_eq!(number, previous + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_delay_paces_each_sender() {
    let server = TestServer::start(Script::default()).await;
    let launch = LaunchArgs {
        concurrency_level: 2,
        message_delay: Some(Duration::from_millis(50)),
        ..args(&server, 10)
    };
    let summary = run(launch).await.unwrap();
    // Two senders, five messages each, a pause after every one.
    assert!(
        summary.elapsed >= Duration::from_millis(250),
        "{:?}",
        summary.elapsed
    );
    assert_eq!(distinct(&server).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_arguments_are_refused_before_sending() {
    let server = TestServer::start(Script::default()).await;
    for launch in [
        LaunchArgs {
            duplicates: 1.5,
            ..args(&server, 10)
        },
        LaunchArgs {
            concurrency_level: 0,
            ..args(&server, 10)
        },
        LaunchArgs {
            rockets: usize::MAX,
            ..args(&server, 10)
        },
        LaunchArgs {
            verify: Some("http://192.0.2.1:8088".into()),
            ..args(&server, 10)
        },
    ] {
        let err = run(launch).await.unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
    }
    assert_eq!(server.state.posts.load(SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_accepted() {
    let server = TestServer::start(Script {
        fail_every: Some(5),
        ..Script::default()
    })
    .await;
    let summary = run(args(&server, 2_000)).await.unwrap();

    let posts = server.state.posts.load(SeqCst);
    assert_eq!(summary.requests, posts);
    assert_eq!(
        summary.retries,
        posts / 5,
        "each 500 costs exactly one retry"
    );
    assert!(summary.retries >= 400, "{} retries", summary.retries);
    assert_eq!(summary.messages, 2_000);
    let messages = distinct(&server);
    assert_eq!(messages.len(), 2_000);
    assert_traffic_shape(&messages);
    assert_eq!(server.state.connections.load(SeqCst), posts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_resent_and_the_copies_are_identical() {
    let script = Script {
        slow_every: Some(150),
        slow_for: Duration::from_millis(800),
        ..Script::default()
    };
    let server = TestServer::start(script).await;
    let launch = LaunchArgs {
        request_timeout: Duration::from_millis(300),
        ..args(&server, 900)
    };
    let summary = run(launch).await.unwrap();

    assert!(summary.timeouts >= 5, "{} timeouts", summary.timeouts);
    assert_eq!(summary.retries, summary.timeouts);
    let mut copies: HashMap<Key, Vec<axum::body::Bytes>> = HashMap::new();
    for raw in server.raw_bodies() {
        copies
            .entry(key(&serde_json::from_slice(&raw).unwrap()))
            .or_default()
            .push(raw);
    }
    assert_eq!(copies.len(), 900);
    let resent: Vec<_> = copies.values().filter(|c| c.len() > 1).collect();
    assert!(
        resent.len() as u64 >= summary.timeouts,
        "a timed-out request still arrived once"
    );
    assert!(
        resent.iter().all(|c| c.iter().all(|b| *b == c[0])),
        "a resend changed the body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_flag_resends_a_share_of_messages_later_unchanged() {
    let server = TestServer::start(Script::default()).await;
    let summary = run(LaunchArgs {
        duplicates: 0.1,
        ..args(&server, 4_000)
    })
    .await
    .unwrap();

    assert!(
        (250..=550).contains(&summary.duplicates),
        "{} duplicates",
        summary.duplicates
    );
    let raw = server.raw_bodies();
    assert_eq!(raw.len() as u64, 4_000 + summary.duplicates);
    let mut seen: HashMap<Key, axum::body::Bytes> = HashMap::new();
    let mut repeated = 0;
    for body in raw {
        let k = key(&serde_json::from_slice(&body).unwrap());
        if let Some(first) = seen.get(&k) {
            assert_eq!(
                *first, body,
                "a duplicate must repeat the body byte for byte"
            );
            repeated += 1;
        } else {
            seen.insert(k, body);
        }
    }
    assert_eq!(repeated, summary.duplicates);
}

fn without_times(server: &TestServer) -> Vec<String> {
    let mut bodies: Vec<String> = distinct(server)
        .into_values()
        .map(|mut v| {
            v["metadata"]["messageTime"] = Value::Null;
            v.to_string()
        })
        .collect();
    bodies.sort();
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_sends_the_same_messages() {
    let (a, b, c) = (
        TestServer::start(Script::default()).await,
        TestServer::start(Script::default()).await,
        TestServer::start(Script::default()).await,
    );
    run(LaunchArgs {
        seed: 9,
        ..args(&a, 1_500)
    })
    .await
    .unwrap();
    run(LaunchArgs {
        seed: 9,
        reorder_window: 25,
        ..args(&b, 1_500)
    })
    .await
    .unwrap();
    run(LaunchArgs {
        seed: 10,
        ..args(&c, 1_500)
    })
    .await
    .unwrap();
    assert_eq!(without_times(&a), without_times(&b));
    assert_ne!(without_times(&a), without_times(&c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_still_failing_after_the_limit_are_reported() {
    let server = TestServer::start(Script {
        fail_every: Some(1),
        ..Script::default()
    })
    .await;
    let launch = LaunchArgs {
        give_up_after: Duration::from_millis(150),
        ..args(&server, 6)
    };
    let err = run(launch).await.unwrap_err();

    let LaunchError::Undelivered { summary, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((summary.failed, summary.messages), (6, 0));
    assert!(summary.retries >= 6 * 3, "{} retries", summary.retries);
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string()
            .starts_with("6 of 6 messages were not delivered"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_until_the_server_is_up() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let launch = LaunchArgs {
        max_messages: 50,
        retry_interval: Duration::from_millis(50),
        ..LaunchArgs::new(format!("http://127.0.0.1:{port}/messages"))
    };
    let launcher = tokio::spawn(run(launch));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let server = TestServer::start_on(port, Script::default()).await;

    let summary = launcher.await.unwrap().unwrap();
    assert!(summary.retries >= 3, "{} retries", summary.retries);
    assert_eq!(distinct(&server).len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_against_a_correct_query_api() {
    let server = TestServer::start(Script {
        fail_every: Some(97),
        ..Script::default()
    })
    .await;
    let launch = LaunchArgs {
        duplicates: 0.05,
        reorder_window: 40,
        verify: Some(server.base_url()),
        ..args(&server, 5_000)
    };
    let summary = run(launch).await.unwrap();
    let verified = summary.verified.expect("verification ran");
    assert_eq!((verified.rockets, verified.messages), (20, 5_000));
    let exploded = summary.exploded();
    assert!(
        exploded >= 1,
        "some rocket should explode in 5,000 messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_wrong_speed_per_rocket_and_field() {
    let server = TestServer::start(Script::default()).await;
    let victim = Simulation::new(444, 20, 2_000).rockets()[3]
        .channel_text
        .clone();
    *server.state.wrong_speed_for.lock().unwrap() = Some(victim.clone());
    let launch = LaunchArgs {
        verify: Some(server.base_url()),
        verify_timeout: Duration::from_secs(3),
        ..args(&server, 2_000)
    };
    let err = run(launch).await.unwrap_err();

    let LaunchError::Verification { failure, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(failure.rockets.len(), 1, "{err}");
    let Some(Mismatch::Fields(diffs)) = failure.rockets.get(&victim) else {
        panic!("{err}")
    };
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].field, "speed");
    let (expected, actual) = (diffs[0].expected.clone(), diffs[0].actual.clone());
    assert_eq!(
        actual.unwrap().as_i64().unwrap() - expected.unwrap().as_i64().unwrap(),
        500
    );
    assert!(failure.listing.is_empty());
    assert_eq!(err.exit_code(), 1);
    let text = err.to_string();
    assert!(
        text.contains(&format!("rocket {victim}:\n    speed")),
        "{text}"
    );
    assert!(
        server.state.gets.load(SeqCst) > 20,
        "it polled more than once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_rocket_missing_from_the_listing() {
    // The fake API only knows channels it received; verifying a second, larger run's model
    // against a server that saw only a smaller run leaves rockets unseen (404 and unlisted).
    let server = TestServer::start(Script::default()).await;
    run(args(&server, 10)).await.unwrap();
    let other = TestServer::start(Script::default()).await;
    let launch = LaunchArgs {
        verify: Some(server.base_url()),
        verify_timeout: Duration::from_millis(100),
        ..args(&other, 200)
    };
    let err = run(launch).await.unwrap_err();
    let LaunchError::Verification { failure, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        failure
            .rockets
            .values()
            .any(|m| matches!(m, Mismatch::Response(r) if r.contains("404")))
    );
}

fn launcher(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rockets-launcher"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_binary_has_help_version_and_usage_errors() {
    let version = launcher(&["version"]);
    assert_eq!(String::from_utf8_lossy(&version.stdout), "0.1.0\n");
    let help = launcher(&["help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("launch"));
    for bad in [
        &["launch"][..],
        &["launch", "http://127.0.0.1:1/m", "--message-delay=10"],
        &["launch", "http://192.0.2.1/messages"],
        &["launch", "not a url"],
    ] {
        let out = launcher(bad);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_verifies_and_says_so() {
    let server = TestServer::start(Script::default()).await;
    let (url, base) = (server.messages_url(), server.base_url());
    let out = tokio::task::spawn_blocking(move || {
        launcher(&[
            "launch",
            &url,
            "--max-messages=3000",
            "--verify",
            &base,
            "--log-level=info",
        ])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "verified 20 rockets, 3000 messages\n"
    );
    assert!(
        stderr.contains(" [info]      Sent 3000 messages"),
        "{stderr}"
    );
}
