//! The `RocketStore` contract, run against both implementations: the embedded `MemoryStore` and
//! `DynamoStore` on moto. Each behaviour is one generic function over `&dyn RocketStore`; the
//! macro at the bottom makes a test of it per backend.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::BTreeSet;

use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_dynamodb::types::AttributeValue;
use rockets_aws::{DynamoStore, MAX_ITEM_BYTES, approximate_item_size, counting_interceptor};
use rockets_core::aggregate::{PENDING_MAX_BYTES, PENDING_WINDOW};
use rockets_core::{
    Aggregate, Disposition, Filters, ListParams, MessageBody, RocketStore, Status, StoreError,
};

use common::{launch, message};

/// Scan pages this small make a 250-rocket table take many DynamoDB pages.
const SCAN_PAGE_SIZE: i32 = 16;

async fn dynamo_store() -> DynamoStore {
    common::new_store(common::dynamo_client())
        .await
        .with_scan_page_size(SCAN_PAGE_SIZE)
}

fn folded(channel: &str, messages: &[rockets_core::Message]) -> Aggregate {
    let mut aggregate = Aggregate::new(channel);
    aggregate.fold(messages);
    aggregate
}

fn up(channel: &str, number: u64, by: i64) -> rockets_core::Message {
    message(channel, number, MessageBody::SpeedIncreased { by })
}

fn is_conflict(result: Result<u64, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

async fn load_of_a_missing_rocket_is_none(store: &dyn RocketStore) {
    assert_eq!(store.load("nobody").await.unwrap(), None);
    assert_eq!(store.get("nobody").await.unwrap(), None);
}

async fn saving_a_new_rocket_returns_revision_one(store: &dyn RocketStore) {
    let aggregate = folded(
        "c-new",
        &[launch("c-new", 1, "ARTEMIS"), up("c-new", 2, 100)],
    );
    assert_eq!(store.save(&aggregate).await.unwrap(), 1);

    let loaded = store.load("c-new").await.unwrap().unwrap();
    assert_eq!(loaded.revision, 1);
    assert_eq!(
        Aggregate {
            revision: 0,
            ..loaded
        },
        aggregate
    );
}

async fn a_second_create_of_the_same_rocket_conflicts(store: &dyn RocketStore) {
    let first = folded("c-race", &[launch("c-race", 1, "ARTEMIS")]);
    let second = folded(
        "c-race",
        &[launch("c-race", 1, "GEMINI"), up("c-race", 2, 5)],
    );
    assert_eq!(store.save(&first).await.unwrap(), 1);

    assert!(is_conflict(store.save(&second).await));
    let stored = store.load("c-race").await.unwrap().unwrap();
    assert_eq!(stored.view(), first.view(), "the loser wrote nothing");
}

async fn a_stale_revision_conflicts_and_changes_nothing(store: &dyn RocketStore) {
    store
        .save(&folded("c-stale", &[launch("c-stale", 1, "ARTEMIS")]))
        .await
        .unwrap();
    let mut winner = store.load("c-stale").await.unwrap().unwrap();
    let mut loser = winner.clone();

    winner.fold(&[up("c-stale", 2, 1000)]);
    assert_eq!(store.save(&winner).await.unwrap(), 2);
    loser.fold(&[up("c-stale", 2, 7), up("c-stale", 3, 7)]);
    assert!(is_conflict(store.save(&loser).await));

    let stored = store.load("c-stale").await.unwrap().unwrap();
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.state, winner.state);
    assert_eq!(
        store.get("c-stale").await.unwrap().unwrap().speed,
        Some(1500)
    );
}

async fn the_cas_happy_path_increments_the_revision(store: &dyn RocketStore) {
    let channel = "c-cas";
    store
        .save(&folded(channel, &[launch(channel, 1, "ARTEMIS")]))
        .await
        .unwrap();
    for number in 2..=6 {
        let mut aggregate = store.load(channel).await.unwrap().unwrap();
        let before = aggregate.revision;
        aggregate.fold(&[up(channel, number, 10)]);
        assert_eq!(store.save(&aggregate).await.unwrap(), before + 1);
    }
    let stored = store.load(channel).await.unwrap().unwrap();
    assert_eq!(stored.revision, 6);
    assert_eq!(stored.state.speed(), Some(550));
}

async fn pending_messages_round_trip_exactly(store: &dyn RocketStore) {
    // Every kind of body, waiting for the missing message 1.
    let channel = "c-kinds";
    let kinds = vec![
        launch(channel, 2, "SECOND LAUNCH"),
        up(channel, 3, 500),
        message(channel, 4, MessageBody::SpeedDecreased { by: 200 }),
        message(
            channel,
            5,
            MessageBody::MissionChanged {
                new_mission: "quote \" \\ \n".into(),
            },
        ),
        message(
            channel,
            6,
            MessageBody::Exploded {
                reason: "PRESSURE".into(),
            },
        ),
        message(channel, 7, MessageBody::Unknown),
    ];
    let aggregate = folded(channel, &kinds);
    assert_eq!(aggregate.pending.len(), kinds.len());
    assert_round_trip(store, &aggregate).await;

    // Then the gap fills and pending drains.
    let mut drained = store.load(channel).await.unwrap().unwrap();
    drained.fold(&[launch(channel, 1, "ARTEMIS")]);
    assert!(drained.pending.is_empty());
    assert_eq!(store.save(&drained).await.unwrap(), 2);
    let stored = store.load(channel).await.unwrap().unwrap();
    assert_eq!(stored.state, drained.state);
    assert!(stored.pending.is_empty());
    assert_eq!(
        store.get(channel).await.unwrap().unwrap().pending_messages,
        0
    );
}

async fn a_full_pending_window_round_trips(store: &dyn RocketStore) {
    let aggregate = full_window("c-window");
    assert_round_trip(store, &aggregate).await;
}

async fn a_pending_set_at_the_byte_budget_round_trips(store: &dyn RocketStore) {
    let aggregate = full_bytes("c-bytes");
    assert_round_trip(store, &aggregate).await;
}

/// Messages 2..=PENDING_WINDOW: the most a rocket can buffer by count.
fn full_window(channel: &str) -> Aggregate {
    let messages: Vec<_> = (2..=PENDING_WINDOW + 1)
        .map(|n| up(channel, n, 10))
        .collect();
    let mut aggregate = Aggregate::new(channel);
    let report = aggregate.fold(&messages);
    assert_eq!(report.count(Disposition::Deferred), 1, "the window is full");
    assert_eq!(aggregate.pending.len() as u64, PENDING_WINDOW - 1);
    aggregate
}

/// Large mission changes, full of characters that JSON escapes, until the byte budget refuses.
fn full_bytes(channel: &str) -> Aggregate {
    let text = "\"\\\u{1}".repeat(1000);
    let messages: Vec<_> = (2..200)
        .map(|n| {
            message(
                channel,
                n,
                MessageBody::MissionChanged {
                    new_mission: text.clone(),
                },
            )
        })
        .collect();
    let mut aggregate = Aggregate::new(channel);
    let report = aggregate.fold(&messages);
    assert!(
        report.count(Disposition::Deferred) > 0,
        "the byte budget is reached"
    );
    let bytes: usize = aggregate
        .pending
        .values()
        .map(rockets_core::Message::stored_size)
        .sum();
    assert!(bytes > PENDING_MAX_BYTES - 4 * 1024 && bytes <= PENDING_MAX_BYTES);
    aggregate
}

async fn assert_round_trip(store: &dyn RocketStore, aggregate: &Aggregate) {
    let channel = &aggregate.channel;
    assert_eq!(store.save(aggregate).await.unwrap(), 1);
    let loaded = store.load(channel).await.unwrap().unwrap();
    assert_eq!(loaded.revision, 1);
    assert_eq!(
        loaded.pending, aggregate.pending,
        "pending round-trips exactly"
    );
    assert_eq!(
        Aggregate {
            revision: 0,
            ..loaded
        },
        *aggregate
    );
    assert_eq!(store.get(channel).await.unwrap().unwrap(), aggregate.view());
}

async fn get_returns_exactly_the_view(store: &dyn RocketStore) {
    let cases = [
        folded("v-awaiting", &[up("v-awaiting", 2, 5)]),
        folded(
            "v-active",
            &[launch("v-active", 1, "ARTEMIS"), up("v-active", 2, 250)],
        ),
        folded(
            "v-exploded",
            &[
                launch("v-exploded", 1, "ARTEMIS"),
                message(
                    "v-exploded",
                    2,
                    MessageBody::Exploded {
                        reason: "BOOM".into(),
                    },
                ),
                up("v-exploded", 4, 1),
            ],
        ),
    ];
    for aggregate in &cases {
        store.save(aggregate).await.unwrap();
        assert_eq!(
            store.get(&aggregate.channel).await.unwrap().unwrap(),
            aggregate.view()
        );
    }
}

/// 250 rockets with three missions, two types, all three statuses.
async fn store_fleet(store: &dyn RocketStore) -> Vec<Aggregate> {
    let mut fleet = Vec::new();
    for i in 0..250u64 {
        let channel = format!("r-{i:03}");
        let mission = ["ARTEMIS", "GEMINI", "APOLLO"][i as usize % 3];
        let mut messages = Vec::new();
        if i % 10 != 9 {
            let mut first = launch(&channel, 1, mission);
            if i % 2 == 0 {
                first.body = MessageBody::Launched {
                    rocket_type: "Saturn-V".into(),
                    launch_speed: 700,
                    mission: mission.into(),
                };
            }
            messages.push(first);
        }
        messages.push(up(&channel, 2, (i as i64 % 17) * 100));
        if i % 7 == 0 {
            messages.push(message(
                &channel,
                3,
                MessageBody::Exploded { reason: "X".into() },
            ));
        }
        let aggregate = folded(&channel, &messages);
        store.save(&aggregate).await.unwrap();
        fleet.push(aggregate);
    }
    fleet
}

fn sorted_views(views: Vec<rockets_core::RocketView>) -> Vec<rockets_core::RocketView> {
    let mut views = views;
    views.sort_by(|a, b| a.channel.cmp(&b.channel));
    views
}

async fn scan_filters_on_status_mission_and_type(store: &dyn RocketStore) {
    let fleet = store_fleet(store).await;
    let all: Vec<_> = fleet.iter().map(Aggregate::view).collect();
    let filter_sets = [
        Filters::default(),
        Filters {
            status: Some(Status::Exploded),
            ..Filters::default()
        },
        Filters {
            status: Some(Status::AwaitingLaunch),
            ..Filters::default()
        },
        Filters {
            mission: Some("GEMINI".into()),
            ..Filters::default()
        },
        Filters {
            rocket_type: Some("Saturn-V".into()),
            ..Filters::default()
        },
        Filters {
            status: Some(Status::Active),
            mission: Some("APOLLO".into()),
            rocket_type: Some("Falcon-9".into()),
        },
        Filters {
            mission: Some("NONE".into()),
            ..Filters::default()
        },
    ];
    for filters in &filter_sets {
        let expected: Vec<_> = all.iter().filter(|v| filters.matches(v)).cloned().collect();
        let got = sorted_views(store.scan(filters).await.unwrap());
        assert_eq!(got, expected, "filters {filters:?}");
    }
}

async fn listing_pages_through_every_rocket_once_in_order(store: &dyn RocketStore) {
    let fleet = store_fleet(store).await;
    for query in [
        vec![],
        vec![("sort", "speed"), ("order", "desc"), ("status", "active")],
    ] {
        let mut all = query.clone();
        all.push(("limit", "1000"));
        let whole = ListParams::parse(all.iter().copied()).unwrap();
        let expected: Vec<String> = whole
            .page(fleet.iter().map(Aggregate::view).collect())
            .rockets
            .into_iter()
            .map(|v| v.channel)
            .collect();
        assert!(expected.len() > 20, "the query spans many pages");

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut pairs = query.clone();
            pairs.push(("limit", "7"));
            if let Some(c) = &cursor {
                pairs.push(("cursor", c));
            }
            let params = ListParams::parse(pairs.iter().copied()).unwrap();
            let page = params.page(store.scan(&params.filters).await.unwrap());
            assert!(page.rockets.len() <= 7);
            seen.extend(page.rockets.into_iter().map(|v| v.channel));
            pages += 1;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, expected, "every rocket once, in order, for {query:?}");
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), seen.len());
        assert_eq!(pages, expected.len().div_ceil(7).max(1));
    }
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&rockets_embedded::MemoryStore::new()).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::dynamo_store().await).await;
                }
            )*
        }
    };
}

contract_tests!(
    load_of_a_missing_rocket_is_none,
    saving_a_new_rocket_returns_revision_one,
    a_second_create_of_the_same_rocket_conflicts,
    a_stale_revision_conflicts_and_changes_nothing,
    the_cas_happy_path_increments_the_revision,
    pending_messages_round_trip_exactly,
    a_full_pending_window_round_trips,
    a_pending_set_at_the_byte_budget_round_trips,
    get_returns_exactly_the_view,
    scan_filters_on_status_mission_and_type,
    listing_pages_through_every_rocket_once_in_order,
);

// DynamoDB-only properties: the stored item itself, and that Scan really pages.

async fn raw_item(
    store: &DynamoStore,
    channel: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    common::dynamo_client()
        .get_item()
        .table_name(store.table())
        .key("channel", AttributeValue::S(channel.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test]
async fn dynamo_items_at_the_pending_bounds_stay_under_the_item_limit() {
    let store = dynamo_store().await;
    for aggregate in [full_window("c-window"), full_bytes("c-bytes")] {
        store.save(&aggregate).await.unwrap();
        let item = raw_item(&store, &aggregate.channel).await;
        let size = approximate_item_size(&item);
        let budget: usize = aggregate
            .pending
            .values()
            .map(rockets_core::Message::stored_size)
            .sum::<usize>()
            + 1024;
        eprintln!(
            "{}: {} pending, item ≈ {size} bytes",
            aggregate.channel,
            aggregate.pending.len()
        );
        assert!(
            size < budget,
            "pending costs no more than its stored_size budget"
        );
        assert!(size < MAX_ITEM_BYTES);
    }
}

/// The largest aggregate valid messages can build: three state strings from bodies of almost
/// 64 KiB each (the ingest limit), and pending filled to its byte budget.
fn largest_possible(channel: &str) -> Aggregate {
    let huge = "x".repeat(63 * 1024);
    let launch = message(
        channel,
        1,
        MessageBody::Launched {
            rocket_type: huge.clone(),
            launch_speed: 500,
            mission: "M".into(),
        },
    );
    let mission = message(
        channel,
        2,
        MessageBody::MissionChanged {
            new_mission: huge.clone(),
        },
    );
    let boom = message(channel, 3, MessageBody::Exploded { reason: huge });
    let mut aggregate = Aggregate::new(channel);
    aggregate.fold(&[launch, mission, boom]);
    let filler = full_bytes(channel);
    let pending: Vec<_> = filler
        .pending
        .into_values()
        .map(|mut m| {
            m.number += 3;
            m
        })
        .collect();
    let report = aggregate.fold(&pending);
    assert_eq!(report.count(Disposition::Deferred), 0);
    aggregate
}

#[tokio::test]
async fn dynamo_the_largest_aggregate_valid_messages_can_build_fits_in_an_item() {
    let store = dynamo_store().await;
    let aggregate = largest_possible("c-largest");
    store.save(&aggregate).await.expect("the item fits");
    let size = approximate_item_size(&raw_item(&store, "c-largest").await);
    eprintln!("largest aggregate: item ≈ {size} bytes");
    assert!(size < MAX_ITEM_BYTES);
    assert_eq!(
        store.load("c-largest").await.unwrap().unwrap().pending,
        aggregate.pending
    );
}

#[tokio::test]
async fn dynamo_item_layout_has_the_view_attributes_at_the_top_level() {
    let store = dynamo_store().await;
    let aggregate = folded(
        "c-layout",
        &[launch("c-layout", 1, "ARTEMIS"), up("c-layout", 3, 5)],
    );
    store.save(&aggregate).await.unwrap();
    let item = raw_item(&store, "c-layout").await;
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "channel",
            "lastMessageNumber",
            "launchSpeed",
            "launchedAt",
            "mission",
            "pending",
            "pendingMessages",
            "revision",
            "speed",
            "speedDelta",
            "status",
            "type",
            "updatedAt",
        ],
        "explosionReason is unknown, so omitted"
    );
    assert_eq!(item["status"], AttributeValue::S("active".into()));
    assert_eq!(item["speed"], AttributeValue::N("500".into()));
}

#[tokio::test]
async fn dynamo_scan_follows_every_page() {
    let (interceptor, counter) = counting_interceptor();
    let client = common::dynamo_client_with(Some(SharedInterceptor::new(interceptor)));
    let store = common::new_store(client)
        .await
        .with_scan_page_size(SCAN_PAGE_SIZE);
    for i in 0..100 {
        store
            .save(&folded(
                &format!("p-{i:03}"),
                &[launch(&format!("p-{i:03}"), 1, "A")],
            ))
            .await
            .unwrap();
    }
    counter.reset();
    let views = store.scan(&Filters::default()).await.unwrap();
    assert_eq!(views.len(), 100);
    let pages = counter.operations("Scan");
    eprintln!("one scan of 100 rockets took {pages} Scan pages");
    assert!(
        pages >= 100 / SCAN_PAGE_SIZE as u64,
        "Scan paged ({pages} pages)"
    );
}

#[tokio::test]
async fn dynamo_an_unreadable_item_is_corrupt() {
    let store = dynamo_store().await;
    common::dynamo_client()
        .put_item()
        .table_name(store.table())
        .item("channel", AttributeValue::S("c-bad".into()))
        .item("revision", AttributeValue::S("not a number".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.load("c-bad").await,
        Err(StoreError::Corrupt { .. })
    ));
}
