//! The end-state check: poll the query API until every simulated rocket shows exactly what the
//! launcher's model expects, page through the listing, and otherwise explain the difference
//! per rocket and per field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::get;
use crate::target::Target;

/// Time between two polling rounds.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Time limit of one query request.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Page size used to walk the listing; small, so that paging is exercised.
const PAGE_LIMIT: usize = 7;
/// The listing walk stops after this many pages, in case a server's cursors loop.
const MAX_PAGES: usize = 100_000;
/// Fields of a rocket view, in the order a diff lists them. Deliberately not taken from
/// `rockets_core::RocketView::FIELDS`: the launcher checks the API as an outsider would, so a
/// field renamed in the core must show up here as a verification failure.
const FIELDS: [&str; 11] = [
    "channel",
    "status",
    "type",
    "mission",
    "speed",
    "launchSpeed",
    "explosionReason",
    "launchedAt",
    "updatedAt",
    "lastMessageNumber",
    "pendingMessages",
];

/// A rocket's lifecycle as the query API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RocketStatus {
    /// Messages arrived but not the launch (never expected at the end of a run).
    AwaitingLaunch,
    /// Launched, not exploded.
    Active,
    /// Exploded.
    Exploded,
}

impl RocketStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingLaunch => "awaitingLaunch",
            Self::Active => "active",
            Self::Exploded => "exploded",
        }
    }
}

/// What `GET /rockets/{channel}` must show for one simulated rocket once all is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRocket {
    /// The channel id.
    pub channel: String,
    /// `active` or `exploded`.
    pub status: RocketStatus,
    /// The model from the launch.
    pub rocket_type: String,
    /// The mission of the last launch or mission change.
    pub mission: String,
    /// Launch speed plus increases minus decreases.
    pub speed: i64,
    /// The speed at launch.
    pub launch_speed: i64,
    /// The explosion's reason, if it exploded.
    pub explosion_reason: Option<String>,
    /// `messageTime` of message 1, as sent.
    pub launched_at: String,
    /// `messageTime` of the highest-numbered message, as sent.
    pub updated_at: String,
    /// Number of the rocket's last message (= its message count).
    pub last_message_number: u64,
}

impl ExpectedRocket {
    /// The expected view as JSON, with `pendingMessages: 0`.
    pub fn to_json(&self) -> Value {
        json!({
            "channel": self.channel,
            "status": self.status.as_str(),
            "type": self.rocket_type,
            "mission": self.mission,
            "speed": self.speed,
            "launchSpeed": self.launch_speed,
            "explosionReason": self.explosion_reason,
            "launchedAt": self.launched_at,
            "updatedAt": self.updated_at,
            "lastMessageNumber": self.last_message_number,
            "pendingMessages": 0,
        })
    }
}

/// A successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Rockets checked.
    pub rockets: usize,
    /// Messages they account for (sum of `lastMessageNumber`).
    pub messages: u64,
}

/// One field that differs; `None` means the field is absent on that side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    /// The JSON field name.
    pub field: String,
    /// What the model expects.
    pub expected: Option<Value>,
    /// What the API returned.
    pub actual: Option<Value>,
}

/// Why one rocket did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The view was read and some fields differ.
    Fields(Vec<FieldDiff>),
    /// The API answered something other than a JSON object with `200`.
    Response(String),
}

/// A failed verification: the state seen in the last polling round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// How many rockets were checked.
    pub checked: usize,
    /// How long the check waited for convergence.
    pub waited: Duration,
    /// The rockets that differ, by channel.
    pub rockets: BTreeMap<String, Mismatch>,
    /// Problems with `GET /rockets` paging (channels missing or repeated, bad pages).
    pub listing: Vec<String>,
}

/// Compares an actual view to the expected one, field by field. Fields the API returns beyond
/// the documented ones are reported as unexpected.
pub fn diff_view(expected: &Value, actual: &Value) -> Vec<FieldDiff> {
    let Some(actual) = actual.as_object() else {
        return vec![FieldDiff {
            field: "$".to_owned(),
            expected: Some(Value::String("a JSON object".to_owned())),
            actual: Some(actual.clone()),
        }];
    };
    let mut diffs: Vec<FieldDiff> = FIELDS
        .iter()
        .filter_map(|field| {
            let want = expected.get(field);
            let got = actual.get(*field);
            (want != got).then(|| FieldDiff {
                field: (*field).to_owned(),
                expected: want.cloned(),
                actual: got.cloned(),
            })
        })
        .collect();
    let extra = actual.iter().filter(|(k, _)| !FIELDS.contains(&k.as_str()));
    diffs.extend(extra.map(|(field, value)| FieldDiff {
        field: field.clone(),
        expected: None,
        actual: Some(value.clone()),
    }));
    diffs
}

/// Polls until every rocket matches and the listing holds each exactly once, or `timeout`.
pub(crate) async fn verify(
    api: &Target,
    expected: &[ExpectedRocket],
    timeout: Duration,
) -> Result<Verified, Box<VerifyFailure>> {
    let started = Instant::now();
    let views: Vec<(&str, Value)> = expected
        .iter()
        .map(|r| (r.channel.as_str(), r.to_json()))
        .collect();
    loop {
        let rockets = check_rockets(api, &views).await;
        let listing = if rockets.is_empty() {
            check_listing(api, &views).await
        } else {
            vec![]
        };
        if rockets.is_empty() && listing.is_empty() {
            let messages = expected.iter().map(|r| r.last_message_number).sum();
            return Ok(Verified {
                rockets: expected.len(),
                messages,
            });
        }
        if started.elapsed() + POLL_INTERVAL > timeout {
            let waited = started.elapsed();
            return Err(Box::new(VerifyFailure {
                checked: views.len(),
                waited,
                rockets,
                listing,
            }));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn check_rockets(api: &Target, views: &[(&str, Value)]) -> BTreeMap<String, Mismatch> {
    let mut mismatches = BTreeMap::new();
    for (channel, view) in views {
        let path = api.join(&format!("/rockets/{}", encode_component(channel)));
        let mismatch = match get_json(api, &path).await {
            Ok(actual) => {
                let diffs = diff_view(view, &actual);
                (!diffs.is_empty()).then_some(Mismatch::Fields(diffs))
            }
            Err(problem) => Some(Mismatch::Response(problem)),
        };
        if let Some(mismatch) = mismatch {
            mismatches.insert((*channel).to_owned(), mismatch);
        }
    }
    mismatches
}

/// Walks `GET /rockets?limit=7` along `nextCursor` and checks every simulated channel appears
/// exactly once. Rockets the launcher did not simulate are allowed (other runs, other tests).
async fn check_listing(api: &Target, views: &[(&str, Value)]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = views.iter().map(|(c, _)| (*c, 0)).collect();
    let mut cursors = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut ended = false;
    for page in 1..=MAX_PAGES {
        let mut path = api.join(&format!("/rockets?limit={PAGE_LIMIT}"));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", encode_component(c)));
        }
        let body = match get_json(api, &path).await {
            Ok(body) => body,
            Err(problem) => return vec![format!("page {page} ({path}): {problem}")],
        };
        let Some(rockets) = body.get("rockets").and_then(Value::as_array) else {
            return vec![format!(
                "page {page} ({path}): no `rockets` array in {body}"
            )];
        };
        for channel in rockets.iter().filter_map(|r| r.get("channel")?.as_str()) {
            if let Some(count) = seen.get_mut(channel) {
                *count += 1;
            }
        }
        cursor = match body.get("nextCursor") {
            None | Some(Value::Null) => {
                ended = true;
                break;
            }
            Some(Value::String(next)) if cursors.insert(next.clone()) => Some(next.clone()),
            Some(Value::String(next)) => {
                return vec![format!(
                    "page {page}: nextCursor {next:?} was already returned"
                )];
            }
            Some(other) => {
                return vec![format!("page {page}: nextCursor is {other}, not a string")];
            }
        };
    }
    let mut problems: Vec<String> = views
        .iter()
        .filter_map(|(channel, _)| {
            let count = seen.get(channel).copied().unwrap_or(0);
            (count != 1).then(|| {
                format!("{channel} appears {count} times when paging GET /rockets (expected once)")
            })
        })
        .collect();
    if !ended {
        problems.push(format!("paging did not end within {MAX_PAGES} pages"));
    }
    problems
}

async fn get_json(api: &Target, path: &str) -> Result<Value, String> {
    let reply = get(api, path, QUERY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if reply.status != http::StatusCode::OK {
        let text = String::from_utf8_lossy(&reply.body);
        let text: String = text.chars().take(200).collect();
        return Err(format!("answered {} {text}", reply.status));
    }
    serde_json::from_slice(&reply.body).map_err(|e| format!("invalid JSON: {e}"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for path segments and query
/// values (cursors are opaque and may hold `+`, `/`, `=`).
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waited = crate::sender::round_to_millis(self.waited);
        write!(
            f,
            "verification failed after {}: {} of {} rockets differ",
            humantime::format_duration(waited),
            self.rockets.len(),
            self.checked
        )?;
        if !self.listing.is_empty() {
            write!(f, ", {} listing problems", self.listing.len())?;
        }
        for (channel, mismatch) in &self.rockets {
            write!(f, "\n  rocket {channel}:")?;
            match mismatch {
                Mismatch::Response(problem) => write!(f, " {problem}")?,
                Mismatch::Fields(diffs) => {
                    for d in diffs {
                        let side = |v: &Option<Value>| {
                            v.as_ref().map_or("(absent)".into(), |v| v.to_string())
                        };
                        write!(
                            f,
                            "\n    {:<18} expected {:<36} actual {}",
                            d.field,
                            side(&d.expected),
                            side(&d.actual)
                        )?;
                    }
                }
            }
        }
        for problem in &self.listing {
            write!(f, "\n  listing: {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> ExpectedRocket {
        ExpectedRocket {
            channel: "c1".into(),
            status: RocketStatus::Exploded,
            rocket_type: "Falcon-9".into(),
            mission: "APOLLO".into(),
            speed: 4_500,
            launch_speed: 1_000,
            explosion_reason: Some("FUEL_LEAK".into()),
            launched_at: "2026-01-01T00:00:00.0000001+00:00".into(),
            updated_at: "2026-01-01T00:00:01.0000001+00:00".into(),
            last_message_number: 42,
        }
    }

    #[test]
    fn an_equal_view_has_no_diff() {
        let view = expected().to_json();
        assert_eq!(diff_view(&view, &view.clone()), vec![]);
    }

    #[test]
    fn a_wrong_speed_is_one_field_diff() {
        let want = expected().to_json();
        let mut got = want.clone();
        got["speed"] = json!(5_000);
        assert_eq!(
            diff_view(&want, &got),
            vec![FieldDiff {
                field: "speed".into(),
                expected: Some(json!(4_500)),
                actual: Some(json!(5_000)),
            }]
        );
    }

    #[test]
    fn missing_and_unexpected_fields_are_reported() {
        let want = expected().to_json();
        let mut got = want.clone();
        let object = got.as_object_mut().unwrap();
        object.remove("updatedAt");
        object.insert("colour".into(), json!("red"));
        let diffs = diff_view(&want, &got);
        let fields: Vec<(&str, bool, bool)> = diffs
            .iter()
            .map(|d| (d.field.as_str(), d.expected.is_some(), d.actual.is_some()))
            .collect();
        assert_eq!(
            fields,
            vec![("updatedAt", true, false), ("colour", false, true)]
        );
        assert_eq!(diff_view(&want, &json!([1])).len(), 1);
    }

    #[test]
    fn an_active_rocket_expects_a_null_reason() {
        let mut rocket = expected();
        rocket.status = RocketStatus::Active;
        rocket.explosion_reason = None;
        let view = rocket.to_json();
        assert_eq!(view["status"], "active");
        assert_eq!(view["explosionReason"], Value::Null);
        assert_eq!(view["pendingMessages"], 0);
    }

    #[test]
    fn the_failure_reads_per_rocket_and_per_field() {
        let want = expected().to_json();
        let mut got = want.clone();
        got["speed"] = json!(5_000);
        let failure = VerifyFailure {
            checked: 20,
            waited: Duration::from_millis(2_500),
            rockets: BTreeMap::from([
                ("c1".to_owned(), Mismatch::Fields(diff_view(&want, &got))),
                (
                    "c2".to_owned(),
                    Mismatch::Response("answered 404 Not Found".into()),
                ),
            ]),
            listing: vec!["c2 appears 0 times".into()],
        };
        let text = failure.to_string();
        assert!(text.starts_with("verification failed after 2s 500ms: 2 of 20 rockets differ"));
        assert!(text.contains("rocket c1:\n    speed"), "{text}");
        assert!(text.contains("expected 4500"), "{text}");
        assert!(text.contains("actual 5000"), "{text}");
        assert!(text.contains("rocket c2: answered 404"), "{text}");
        assert!(text.contains("listing: c2 appears 0 times"), "{text}");
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(encode_component("ab+/=c d"), "ab%2B%2F%3Dc%20d");
    }
}
