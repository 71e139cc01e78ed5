//! The rockets table on DynamoDB: [`DynamoStore`] implements [`RocketStore`] with one item per
//! rocket and a compare-and-swap on a `revision` attribute.
//!
//! Item layout (key `channel`, S):
//!
//! - the [`RocketView`] fields under their API names, top-level: `channel`, `status`, `type`,
//!   `mission`, `speed`, `launchSpeed`, `explosionReason`, `launchedAt`, `updatedAt` (S or N),
//!   `lastMessageNumber`, `pendingMessages` (N); unknown (`null`) values are omitted;
//! - `speedDelta` (N): the sum of applied speed changes, which the state keeps apart from the
//!   launch speed;
//! - `revision` (N): the compare-and-swap token, 1 after the first write;
//! - `pending` (L): the buffered messages, each `[number, time, type, body]` (N, S, S, M),
//!   omitted when empty.
//!
//! The view attributes are top-level so the list query can project and filter them without
//! reading `pending`, which is by far the largest part of a busy rocket's item. `pending` is a
//! native list rather than a JSON string because DynamoDB stores its strings unescaped and its
//! numbers packed: each entry then costs less than [`Message::stored_size`] (the channel is the
//! item's key and is not repeated), so the fold's byte budget bounds the item size even for
//! texts full of quotes or control characters, which JSON would inflate up to six-fold.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use rockets_core::{
    Aggregate, Filters, Message, MessageBody, MessageTime, RocketState, RocketStore, RocketView,
    StoreError,
};

use crate::ResourceError;

/// The key attribute.
const KEY: &str = "channel";

/// The attributes the API view is made of: what `get` and `scan` read.
const VIEW_ATTRIBUTES: [&str; 11] = RocketView::FIELDS;

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// How long `create_table_if_missing` waits for the table to become `ACTIVE`.
const TABLE_ACTIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A [`RocketStore`] on one DynamoDB table keyed by `channel` (S).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    scan_page_size: Option<i32>,
}

impl DynamoStore {
    /// A store on `table`, which must exist with key `channel` (S); see
    /// [`create_table_if_missing`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            scan_page_size: None,
        }
    }

    /// Caps the items each Scan request evaluates (DynamoDB's `Limit`). Without it DynamoDB pages
    /// at 1 MB; tests use a small size to exercise paging.
    pub fn with_scan_page_size(mut self, items: i32) -> Self {
        self.scan_page_size = Some(items.max(1));
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl RocketStore for DynamoStore {
    #[tracing::instrument(skip(self), fields(table = %self.table))]
    async fn load(&self, channel: &str) -> Result<Option<Aggregate>, StoreError> {
        // Strongly consistent: the aggregate read here decides the next conditional write.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(channel.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        output
            .item
            .map(|item| aggregate_from_item(channel, item))
            .transpose()
    }

    #[tracing::instrument(
        skip(self, aggregate),
        fields(table = %self.table, channel = %aggregate.channel, revision = aggregate.revision)
    )]
    async fn save(&self, aggregate: &Aggregate) -> Result<u64, StoreError> {
        let next = aggregate.revision + 1;
        let item = item_from_aggregate(aggregate, next)?;

        // The CAS: the write lands only if nobody wrote since our strongly consistent read.
        // Revision 0 means we read nothing, so the item must still be absent; two consumers that
        // both saw a new rocket then race on `attribute_not_exists` instead of overwriting each
        // other. Otherwise the stored revision must still be the one we read.
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = if aggregate.revision == 0 {
            request
                .condition_expression("attribute_not_exists(#channel)")
                .expression_attribute_names("#channel", KEY)
        } else {
            // A missing item has no revision, so this also fails if the rocket was deleted.
            request
                .condition_expression("#revision = :expected")
                .expression_attribute_names("#revision", "revision")
                .expression_attribute_values(":expected", number(aggregate.revision))
        };

        match request.send().await {
            Ok(_) => Ok(next),
            Err(e) if is_conditional_check_failed(&e) => {
                tracing::debug!("conditional write lost");
                Err(StoreError::Conflict {
                    channel: aggregate.channel.clone(),
                })
            }
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    #[tracing::instrument(skip(self), fields(table = %self.table))]
    async fn get(&self, channel: &str) -> Result<Option<RocketView>, StoreError> {
        // Eventually consistent on purpose: the dashboard may lag a write by a moment, and the
        // read costs half as much.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(channel.to_owned()))
            .projection_expression(projection())
            .set_expression_attribute_names(Some(view_names()))
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        output
            .item
            .map(|item| view_from_item(channel, item))
            .transpose()
    }

    #[tracing::instrument(skip(self), fields(table = %self.table))]
    async fn scan(&self, filters: &Filters) -> Result<Vec<RocketView>, StoreError> {
        let (filter, values) = filter_expression(filters);
        // Eventually consistent, like `get`; the filters run on the server, the sort does not
        // (DynamoDB has no global order over partition keys).
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .projection_expression(projection())
            .set_expression_attribute_names(Some(view_names()))
            .set_filter_expression(filter)
            .set_expression_attribute_values(values)
            .set_limit(self.scan_page_size)
            .into_paginator()
            .items()
            .send();

        let mut views = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| unavailable("Scan", e))?;
            let channel = match item.get(KEY) {
                Some(AttributeValue::S(c)) => c.clone(),
                _ => String::from("<no channel>"),
            };
            views.push(view_from_item(&channel, item)?);
        }
        Ok(views)
    }
}

/// Whether a write failed only because its `ConditionExpression` did not hold.
fn is_conditional_check_failed<R>(err: &SdkError<PutItemError, R>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

/// Logs an SDK error with its whole source chain and wraps it, source kept, as retryable.
fn unavailable<E>(operation: &'static str, err: E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    tracing::error!(operation, error = %DisplayErrorContext(&err), "DynamoDB call failed");
    StoreError::Unavailable(Box::new(err))
}

fn corrupt(channel: &str, reason: impl Into<String>) -> StoreError {
    let reason = reason.into();
    tracing::error!(channel, reason = %reason, "unreadable rocket item");
    StoreError::Corrupt {
        channel: channel.to_owned(),
        reason,
    }
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn projection() -> String {
    VIEW_ATTRIBUTES
        .iter()
        .map(|a| format!("#{a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders for every view attribute: `type` and `status` are reserved words, and naming
/// them all the same way keeps the expressions uniform.
fn view_names() -> HashMap<String, String> {
    VIEW_ATTRIBUTES
        .iter()
        .map(|a| (format!("#{a}"), (*a).to_owned()))
        .collect()
}

type FilterParts = (Option<String>, Option<HashMap<String, AttributeValue>>);

/// The server-side filter for `filters`; both parts `None` when nothing is filtered.
fn filter_expression(filters: &Filters) -> FilterParts {
    let mut terms = Vec::new();
    let mut values = HashMap::new();
    if let Some(status) = filters.status {
        terms.push("#status = :status");
        values.insert(
            ":status".to_owned(),
            AttributeValue::S(status.as_str().to_owned()),
        );
    }
    if let Some(mission) = &filters.mission {
        terms.push("#mission = :mission");
        values.insert(":mission".to_owned(), AttributeValue::S(mission.clone()));
    }
    if let Some(rocket_type) = &filters.rocket_type {
        terms.push("#type = :type");
        values.insert(":type".to_owned(), AttributeValue::S(rocket_type.clone()));
    }
    if terms.is_empty() {
        (None, None)
    } else {
        (Some(terms.join(" AND ")), Some(values))
    }
}

/// One buffered message as stored: the channel is the item's key, so it is not repeated.
type StoredPending = (u64, MessageTime, String, MessageBody);

fn item_from_aggregate(
    aggregate: &Aggregate,
    revision: u64,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(aggregate.view())
        .map_err(|e| corrupt(&aggregate.channel, format!("cannot encode the view: {e}")))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    item.insert("speedDelta".to_owned(), number(aggregate.state.speed_delta));
    item.insert("revision".to_owned(), number(revision));
    if !aggregate.pending.is_empty() {
        let pending: Vec<(u64, &MessageTime, &str, &MessageBody)> = aggregate
            .pending
            .values()
            .map(|m| (m.number, &m.time, m.message_type.as_str(), &m.body))
            .collect();
        let list = serde_dynamo::to_attribute_value(pending)
            .map_err(|e| corrupt(&aggregate.channel, format!("cannot encode pending: {e}")))?;
        item.insert("pending".to_owned(), list);
    }
    Ok(item)
}

fn view_from_item(
    channel: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<RocketView, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt(channel, format!("bad view attributes: {e}")))
}

fn aggregate_from_item(
    channel: &str,
    mut item: HashMap<String, AttributeValue>,
) -> Result<Aggregate, StoreError> {
    let revision: u64 = take_number(channel, &mut item, "revision")?;
    let speed_delta: i64 = take_number(channel, &mut item, "speedDelta")?;
    let pending: Vec<StoredPending> = match item.remove("pending") {
        None => Vec::new(),
        Some(list) => serde_dynamo::from_attribute_value(list)
            .map_err(|e| corrupt(channel, format!("bad pending: {e}")))?,
    };
    let view = view_from_item(channel, item)?;

    let state = RocketState {
        rocket_type: view.rocket_type.clone(),
        launch_speed: view.launch_speed,
        speed_delta,
        mission: view.mission.clone(),
        explosion_reason: view.explosion_reason.clone(),
        launched_at: view.launched_at.clone(),
        updated_at: view.updated_at.clone(),
        last_message_number: view.last_message_number,
    };
    let pending = pending
        .into_iter()
        .map(|(number, time, message_type, body)| {
            let message = Message {
                channel: channel.to_owned(),
                number,
                time,
                message_type,
                body,
            };
            (number, message)
        })
        .collect();
    let aggregate = Aggregate {
        channel: channel.to_owned(),
        state,
        pending,
        revision,
    };

    // The derived attributes must agree with the state they were derived from; a mismatch means
    // a manual edit or a writer bug, and folding on top of it would spread the damage.
    if view.channel != channel || aggregate.view() != view {
        return Err(corrupt(
            channel,
            "derived attributes disagree with the stored state",
        ));
    }
    Ok(aggregate)
}

fn take_number<T: std::str::FromStr>(
    channel: &str,
    item: &mut HashMap<String, AttributeValue>,
    name: &str,
) -> Result<T, StoreError> {
    match item.remove(name) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| corrupt(channel, format!("{name} is not an integer: {n}"))),
        _ => Err(corrupt(
            channel,
            format!("{name} is missing or not a number"),
        )),
    }
}

/// An upper bound of the size DynamoDB charges for `item` (attribute names plus values, numbers
/// counted by their digits), to compare with [`MAX_ITEM_BYTES`].
pub fn approximate_item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(String::len).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, x)| 1 + k.len() + value_size(x))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Creates the rockets table (on-demand capacity, key `channel` S) unless it exists, then waits
/// until it is `ACTIVE`. Safe to call repeatedly and concurrently.
///
/// # Errors
/// [`ResourceError`] when DynamoDB refuses or the table does not become active within a minute.
#[tracing::instrument(skip(client))]
pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), ResourceError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let created = client
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(KEY)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| ResourceError::sdk("CreateTable", e))?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(KEY)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(|e| ResourceError::sdk("CreateTable", e))?,
                )
                .send()
                .await;
            match created {
                Ok(_) => tracing::info!("table created"),
                // Someone else created it between our describe and create: fine.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception()) => {}
                Err(e) => return Err(ResourceError::sdk("CreateTable", e)),
            }
        }
        Err(e) => return Err(ResourceError::sdk("DescribeTable", e)),
    }

    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(TABLE_ACTIVE_WAIT)
        .await
        .map_err(|e| ResourceError::sdk("DescribeTable (waiting for ACTIVE)", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException,
    };
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use rockets_core::Status;

    use super::*;

    fn service_error(e: PutItemError) -> SdkError<PutItemError, Response> {
        SdkError::service_error(
            e,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn only_a_failed_condition_is_a_conflict() {
        let failed = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("x")
                .build(),
        );
        assert!(is_conditional_check_failed(&service_error(failed)));
        let throttled = PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("x")
                .build(),
        );
        assert!(!is_conditional_check_failed(&service_error(throttled)));
        let timeout: SdkError<PutItemError, Response> = SdkError::timeout_error("slow");
        assert!(!is_conditional_check_failed(&timeout));
    }

    #[test]
    fn filters_use_placeholders_for_reserved_words() {
        assert_eq!(filter_expression(&Filters::default()), (None, None));
        let filters = Filters {
            status: Some(Status::Active),
            mission: Some("ARTEMIS".into()),
            rocket_type: Some("Falcon-9".into()),
        };
        let (expr, values) = filter_expression(&filters);
        assert_eq!(
            expr.unwrap(),
            "#status = :status AND #mission = :mission AND #type = :type"
        );
        assert_eq!(
            values.unwrap()[":status"],
            AttributeValue::S("active".into())
        );
        let names = view_names();
        assert!(projection().split(", ").all(|p| names.contains_key(p)));
    }

    #[test]
    fn an_item_round_trips_to_the_same_aggregate() {
        let mut agg = Aggregate::new("c-1");
        let time = MessageTime::parse("2026-10-01T17:00:03.1234567+02:00").unwrap();
        let message = |number, body| Message {
            channel: "c-1".into(),
            number,
            time: time.clone(),
            message_type: "RocketSpeedIncreased".into(),
            body,
        };
        agg.fold(&[message(3, MessageBody::SpeedIncreased { by: 5 })]);
        agg.revision = 4;
        let item = item_from_aggregate(&agg, 5).unwrap();
        assert!(!item.contains_key("type"), "unknown values are omitted");
        assert_eq!(item["revision"], AttributeValue::N("5".into()));
        let mut back = aggregate_from_item("c-1", item).unwrap();
        back.revision = 4;
        assert_eq!(back, agg);
    }
}
