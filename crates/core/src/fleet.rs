//! The fleet listing behind `GET /rockets`: query parameters, filters, the sort order, and
//! keyset pagination with an opaque cursor.
//!
//! The order is total: the sort key in the requested direction, missing values (a rocket not yet
//! launched has no speed) last in both directions, then the channel ascending. A cursor carries
//! the sort key and channel of the last rocket returned, so the next page starts strictly after
//! it even when rockets are added or change between requests.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::rocket::{RocketView, Status};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub const MAX_LIMIT: usize = 1_000;

/// What to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SortKey {
    /// The rocket id.
    Channel,
    /// The model.
    Type,
    /// The mission.
    Mission,
    /// The current speed.
    Speed,
    /// Lifecycle order: awaitingLaunch, active, exploded.
    Status,
    /// Launch instant.
    LaunchedAt,
    /// Instant of the last applied message.
    UpdatedAt,
}

impl SortKey {
    const ALL: [(Self, &'static str); 7] = [
        (Self::Channel, "channel"),
        (Self::Type, "type"),
        (Self::Mission, "mission"),
        (Self::Speed, "speed"),
        (Self::Status, "status"),
        (Self::LaunchedAt, "launchedAt"),
        (Self::UpdatedAt, "updatedAt"),
    ];

    fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(key, _)| *key)
    }

    /// The comparable value of `view` under this key; `None` sorts last.
    fn value(self, view: &RocketView) -> Option<SortValue> {
        match self {
            Self::Channel => Some(SortValue::Text(view.channel.clone())),
            Self::Type => view.rocket_type.clone().map(SortValue::Text),
            Self::Mission => view.mission.clone().map(SortValue::Text),
            Self::Speed => view.speed.map(|s| SortValue::Number(i128::from(s))),
            Self::Status => Some(SortValue::Number(view.status as i128)),
            Self::LaunchedAt => view
                .launched_at
                .as_ref()
                .map(|t| SortValue::Number(t.unix_nanos())),
            Self::UpdatedAt => view
                .updated_at
                .as_ref()
                .map(|t| SortValue::Number(t.unix_nanos())),
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// Exact-match filters; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Only rockets in this status.
    pub status: Option<Status>,
    /// Only rockets on this mission.
    pub mission: Option<String>,
    /// Only rockets of this model.
    pub rocket_type: Option<String>,
}

impl Filters {
    /// Whether `view` passes every filter.
    pub fn matches(&self, view: &RocketView) -> bool {
        self.status.is_none_or(|s| view.status == s)
            && self
                .mission
                .as_ref()
                .is_none_or(|m| view.mission.as_ref() == Some(m))
            && self
                .rocket_type
                .as_ref()
                .is_none_or(|t| view.rocket_type.as_ref() == Some(t))
    }
}

/// A parsed `GET /rockets` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Sort key (default `channel`).
    pub sort: SortKey,
    /// Direction (default `asc`).
    pub order: Order,
    /// Filters.
    pub filters: Filters,
    /// Page size, 1–1000 (default 100).
    pub limit: usize,
    cursor: Option<Cursor>,
}

/// A query parameter the listing cannot accept; the message is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{parameter}`: {problem}")]
pub struct ListParamsError {
    /// The parameter's name.
    pub parameter: String,
    /// What is wrong with it.
    pub problem: String,
}

fn param_error(parameter: &str, problem: impl Into<String>) -> ListParamsError {
    ListParamsError {
        parameter: parameter.to_owned(),
        problem: problem.into(),
    }
}

/// The cursor's content. Serialized as base64url JSON; clients must treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "s")]
    sort: SortKey,
    #[serde(rename = "o")]
    order: Order,
    #[serde(rename = "f")]
    filters: Filters,
    #[serde(rename = "k")]
    key: Option<SortValue>,
    #[serde(rename = "c")]
    channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum SortValue {
    Number(i128),
    Text(String),
}

/// One page of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The rockets of this page, in order.
    pub rockets: Vec<RocketView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Default for ListParams {
    fn default() -> Self {
        Self {
            sort: SortKey::Channel,
            order: Order::Asc,
            filters: Filters::default(),
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl ListParams {
    /// Parses decoded query pairs. Unknown parameters, repeated parameters and unknown values
    /// are errors, so a typo never silently returns an unfiltered list.
    ///
    /// # Errors
    /// [`ListParamsError`] naming the parameter.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ListParamsError> {
        let mut params = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut cursor_text = None;
        for (name, value) in pairs {
            if seen.contains(&name) {
                return Err(param_error(name, "may be given only once"));
            }
            seen.push(name);
            match name {
                "sort" => {
                    params.sort = SortKey::parse(value).ok_or_else(|| {
                        param_error(
                            name,
                            "must be one of channel, type, mission, speed, status, launchedAt, \
                             updatedAt",
                        )
                    })?;
                }
                "order" => {
                    params.order = match value {
                        "asc" => Order::Asc,
                        "desc" => Order::Desc,
                        _ => return Err(param_error(name, "must be asc or desc")),
                    };
                }
                "status" => {
                    params.filters.status = Some(Status::parse(value).ok_or_else(|| {
                        param_error(name, "must be one of awaitingLaunch, active, exploded")
                    })?);
                }
                "mission" => params.filters.mission = Some(value.to_owned()),
                "type" => params.filters.rocket_type = Some(value.to_owned()),
                "limit" => {
                    params.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| param_error(name, "must be an integer from 1 to 1000"))?;
                }
                "cursor" => cursor_text = Some(value),
                _ => {
                    return Err(param_error(
                        name,
                        "is not supported (use sort, order, status, mission, type, limit, cursor)",
                    ));
                }
            }
        }
        if let Some(text) = cursor_text {
            let cursor = decode_cursor(text)
                .ok_or_else(|| param_error("cursor", "is not a cursor this API issued"))?;
            if cursor.sort != params.sort
                || cursor.order != params.order
                || cursor.filters != params.filters
            {
                return Err(param_error(
                    "cursor",
                    "belongs to a listing with another sort, order or filter",
                ));
            }
            params.cursor = Some(cursor);
        }
        Ok(params)
    }

    /// Compares two rockets in the listing's total order.
    fn compare(&self, a: &RocketView, b: &RocketView) -> Ordering {
        compare_keys(
            self.order,
            &self.sort.value(a),
            &a.channel,
            &self.sort.value(b),
            &b.channel,
        )
    }

    /// Filters, sorts and cuts one page out of `rockets` (which may be unfiltered and unordered).
    pub fn page(&self, mut rockets: Vec<RocketView>) -> Page {
        rockets.retain(|r| self.filters.matches(r));
        if let Some(c) = &self.cursor {
            rockets.retain(|r| {
                let key = self.sort.value(r);
                compare_keys(self.order, &key, &r.channel, &c.key, &c.channel) == Ordering::Greater
            });
        }
        rockets.sort_by(|a, b| self.compare(a, b));

        let more = rockets.len() > self.limit;
        rockets.truncate(self.limit);
        let next_cursor = match rockets.last() {
            Some(last) if more => Some(encode_cursor(&Cursor {
                sort: self.sort,
                order: self.order,
                filters: self.filters.clone(),
                key: self.sort.value(last),
                channel: last.channel.clone(),
            })),
            _ => None,
        };
        Page {
            rockets,
            next_cursor,
        }
    }
}

fn compare_keys(
    order: Order,
    a: &Option<SortValue>,
    a_channel: &str,
    b: &Option<SortValue>,
    b_channel: &str,
) -> Ordering {
    let primary = match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => match order {
            Order::Asc => x.cmp(y),
            Order::Desc => y.cmp(x),
        },
    };
    primary.then_with(|| a_channel.cmp(b_channel))
}

fn encode_cursor(cursor: &Cursor) -> String {
    // Serializing this plain struct cannot fail; an empty cursor would only restart the listing.
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(text: &str) -> Option<Cursor> {
    let json = URL_SAFE_NO_PAD.decode(text).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageTime;

    fn rocket(channel: &str, speed: Option<i64>, mission: &str, status: Status) -> RocketView {
        RocketView {
            channel: channel.into(),
            status,
            rocket_type: speed.map(|_| "Falcon-9".into()),
            mission: Some(mission.into()),
            speed,
            launch_speed: speed,
            explosion_reason: None,
            launched_at: MessageTime::parse("2026-10-01T17:39:42.8989223+02:00"),
            updated_at: None,
            last_message_number: 1,
            pending_messages: 0,
        }
    }

    fn fleet() -> Vec<RocketView> {
        vec![
            rocket("d", Some(1000), "B", Status::Active),
            rocket("a", Some(3000), "A", Status::Exploded),
            rocket("c", None, "A", Status::AwaitingLaunch),
            rocket("b", Some(1000), "A", Status::Active),
            rocket("e", Some(500), "B", Status::Active),
        ]
    }

    fn channels(page: &Page) -> Vec<&str> {
        page.rockets.iter().map(|r| r.channel.as_str()).collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ListParams, ListParamsError> {
        ListParams::parse(pairs.iter().copied())
    }

    #[test]
    fn default_sort_is_channel_ascending() {
        let page = ListParams::default().page(fleet());
        assert_eq!(channels(&page), ["a", "b", "c", "d", "e"]);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn speed_sorts_with_ties_by_channel_and_missing_last() {
        let asc = parse(&[("sort", "speed")]).unwrap().page(fleet());
        assert_eq!(channels(&asc), ["e", "b", "d", "a", "c"]);
        let desc = parse(&[("sort", "speed"), ("order", "desc")])
            .unwrap()
            .page(fleet());
        assert_eq!(channels(&desc), ["a", "b", "d", "e", "c"]);
    }

    #[test]
    fn filters_combine() {
        let page = parse(&[("mission", "A"), ("status", "active")])
            .unwrap()
            .page(fleet());
        assert_eq!(channels(&page), ["b"]);
        let page = parse(&[("type", "nope")]).unwrap().page(fleet());
        assert!(page.rockets.is_empty());
    }

    #[test]
    fn cursors_walk_every_rocket_once() {
        for sort in [
            "channel",
            "speed",
            "status",
            "mission",
            "type",
            "launchedAt",
            "updatedAt",
        ] {
            for order in ["asc", "desc"] {
                let base = [("sort", sort), ("order", order), ("limit", "2")];
                let whole = parse(&base[..2]).unwrap().page(fleet());
                let mut seen = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut q = base.to_vec();
                    if let Some(c) = &cursor {
                        q.push(("cursor", c));
                    }
                    let page = parse(&q).unwrap().page(fleet());
                    assert!(page.rockets.len() <= 2);
                    seen.extend(page.rockets.into_iter().map(|r| r.channel));
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                let expected: Vec<String> = whole.rockets.into_iter().map(|r| r.channel).collect();
                assert_eq!(seen, expected, "sort={sort} order={order}");
            }
        }
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (name, value) in [
            ("sort", "colour"),
            ("order", "up"),
            ("status", "flying"),
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "ten"),
            ("cursor", "!!"),
            ("colour", "red"),
        ] {
            assert_eq!(parse(&[(name, value)]).unwrap_err().parameter, name);
        }
        assert_eq!(
            parse(&[("sort", "speed"), ("sort", "type")])
                .unwrap_err()
                .parameter,
            "sort"
        );
    }

    #[test]
    fn a_cursor_is_bound_to_its_query() {
        let page = parse(&[("limit", "1")]).unwrap().page(fleet());
        let cursor = page.next_cursor.unwrap();
        let err = parse(&[("limit", "1"), ("sort", "speed"), ("cursor", &cursor)]).unwrap_err();
        assert_eq!(err.parameter, "cursor");
        let next = parse(&[("limit", "3"), ("cursor", &cursor)])
            .unwrap()
            .page(fleet());
        assert_eq!(channels(&next), ["b", "c", "d"]);
    }
}
