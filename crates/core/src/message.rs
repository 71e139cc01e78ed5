//! The telemetry wire format: parsing and validating one posted message into a typed
//! [`Message`], and writing it back out as the canonical envelope that travels through the queue.
//!
//! Validation walks a `serde_json::Value` by hand rather than deriving `Deserialize`, so that every
//! rejection names the exact field (`metadata.messageNumber`, `message.by`) and says what was
//! expected. Unknown extra fields are ignored; an unknown `messageType` with valid metadata is
//! accepted and becomes [`MessageBody::Unknown`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Longest accepted `metadata.channel`, in bytes. It is the DynamoDB partition key and appears in
/// URLs, so it is kept far below DynamoDB's 2 KiB key limit.
pub const MAX_CHANNEL_BYTES: usize = 256;

/// A message that passed validation. Its identity is `(channel, number)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The rocket's id (`metadata.channel`).
    pub channel: String,
    /// Position in the rocket's stream, starting at 1 (`metadata.messageNumber`).
    pub number: u64,
    /// When the rocket sent it (`metadata.messageTime`), kept as received.
    pub time: MessageTime,
    /// The type as received (`metadata.messageType`), kept so unknown types round-trip.
    pub message_type: String,
    /// The typed body.
    pub body: MessageBody,
}

/// The body of a message, by type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum MessageBody {
    /// `RocketLaunched {type, launchSpeed, mission}`.
    Launched {
        /// The rocket model (`type`).
        rocket_type: String,
        /// The speed at launch.
        launch_speed: i64,
        /// The initial mission.
        mission: String,
    },
    /// `RocketSpeedIncreased {by}`.
    SpeedIncreased {
        /// The increase, never negative.
        by: i64,
    },
    /// `RocketSpeedDecreased {by}`.
    SpeedDecreased {
        /// The decrease, never negative.
        by: i64,
    },
    /// `RocketExploded {reason}`.
    Exploded {
        /// Why it exploded.
        reason: String,
    },
    /// `RocketMissionChanged {newMission}`.
    MissionChanged {
        /// The mission from now on.
        new_mission: String,
    },
    /// A type this version does not know. It fills its slot in the stream and changes nothing.
    Unknown,
}

/// A `messageTime`: the RFC 3339 text as received (what the API shows) plus the instant it
/// denotes (what sorting uses, since texts with different UTC offsets do not sort as strings).
#[derive(Clone, PartialEq, Eq)]
pub struct MessageTime {
    text: String,
    unix_nanos: i128,
}

/// Why a posted message was rejected. `field` is the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// A required field is absent (or `null`).
    #[error("`{field}` is required")]
    Missing {
        /// JSON path of the field.
        field: &'static str,
    },
    /// A field is present but has the wrong type or an unacceptable value.
    #[error("`{field}` {expected}")]
    Invalid {
        /// JSON path of the field.
        field: &'static str,
        /// What the field must be, phrased to follow the field name.
        expected: &'static str,
    },
}

impl ValidationError {
    /// The JSON path of the offending field, or `None` when the body as a whole is unreadable.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Malformed(_) => None,
            Self::Missing { field } | Self::Invalid { field, .. } => Some(field),
        }
    }
}

impl Message {
    /// Parses and validates one posted message.
    ///
    /// # Errors
    /// [`ValidationError`] naming the first offending field; nothing about the message is kept.
    pub fn parse(bytes: &[u8]) -> Result<Self, ValidationError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ValidationError::Malformed(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Validates an already parsed JSON document; see [`Message::parse`].
    ///
    /// # Errors
    /// [`ValidationError`] naming the first offending field.
    pub fn from_value(value: &Value) -> Result<Self, ValidationError> {
        let root = value.as_object().ok_or(ValidationError::Invalid {
            field: "$",
            expected: "must be a JSON object",
        })?;
        let metadata = object(root, "metadata", "metadata")?;

        let channel = string(metadata, "channel", "metadata.channel")?;
        if channel.trim().is_empty() {
            return Err(invalid("metadata.channel", "must not be empty"));
        }
        if channel.len() > MAX_CHANNEL_BYTES || channel.chars().any(char::is_control) {
            return Err(invalid(
                "metadata.channel",
                "must be at most 256 bytes with no control characters",
            ));
        }
        let number = required(metadata, "messageNumber", "metadata.messageNumber")?
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or(invalid(
                "metadata.messageNumber",
                "must be an integer of at least 1",
            ))?;
        let time = MessageTime::parse(&string(metadata, "messageTime", "metadata.messageTime")?)
            .ok_or(invalid(
                "metadata.messageTime",
                "must be an RFC 3339 timestamp with a UTC offset",
            ))?;
        let message_type = string(metadata, "messageType", "metadata.messageType")?;
        if message_type.is_empty() {
            return Err(invalid("metadata.messageType", "must not be empty"));
        }

        let body = match message_type.as_str() {
            "RocketLaunched" => {
                let m = object(root, "message", "message")?;
                MessageBody::Launched {
                    rocket_type: string(m, "type", "message.type")?,
                    launch_speed: non_negative(m, "launchSpeed", "message.launchSpeed")?,
                    mission: string(m, "mission", "message.mission")?,
                }
            }
            "RocketSpeedIncreased" => {
                let m = object(root, "message", "message")?;
                MessageBody::SpeedIncreased {
                    by: non_negative(m, "by", "message.by")?,
                }
            }
            "RocketSpeedDecreased" => {
                let m = object(root, "message", "message")?;
                MessageBody::SpeedDecreased {
                    by: non_negative(m, "by", "message.by")?,
                }
            }
            "RocketExploded" => {
                let m = object(root, "message", "message")?;
                MessageBody::Exploded {
                    reason: string(m, "reason", "message.reason")?,
                }
            }
            "RocketMissionChanged" => {
                let m = object(root, "message", "message")?;
                MessageBody::MissionChanged {
                    new_mission: string(m, "newMission", "message.newMission")?,
                }
            }
            _ => MessageBody::Unknown,
        };

        Ok(Self {
            channel,
            number,
            time,
            message_type,
            body,
        })
    }

    /// The canonical wire envelope (`{metadata, message}`), which [`Message::parse`] reads back
    /// to an equal message. Unknown fields of the original are not carried.
    pub fn to_wire(&self) -> Value {
        let message = match &self.body {
            MessageBody::Launched {
                rocket_type,
                launch_speed,
                mission,
            } => {
                json!({"type": rocket_type, "launchSpeed": launch_speed, "mission": mission})
            }
            MessageBody::SpeedIncreased { by } | MessageBody::SpeedDecreased { by } => {
                json!({ "by": by })
            }
            MessageBody::Exploded { reason } => json!({ "reason": reason }),
            MessageBody::MissionChanged { new_mission } => json!({ "newMission": new_mission }),
            MessageBody::Unknown => json!({}),
        };
        json!({
            "metadata": {
                "channel": self.channel,
                "messageNumber": self.number,
                "messageTime": self.time.as_str(),
                "messageType": self.message_type,
            },
            "message": message,
        })
    }

    /// The body sent through the queue: the canonical envelope as compact JSON. The two
    /// noncharacters SQS refuses (U+FFFE, U+FFFF) are written as JSON escapes, which read back
    /// to the same string; serde_json already escapes every control character.
    pub fn to_queue_body(&self) -> String {
        let text = self.to_wire().to_string();
        if text.contains(['\u{fffe}', '\u{ffff}']) {
            text.replace('\u{fffe}', "\\ufffe")
                .replace('\u{ffff}', "\\uffff")
        } else {
            text
        }
    }

    /// A rough upper bound of the bytes this message takes when stored as pending. Used to keep
    /// an aggregate well inside DynamoDB's 400 KB item limit.
    pub fn stored_size(&self) -> usize {
        let strings = match &self.body {
            MessageBody::Launched {
                rocket_type,
                mission,
                ..
            } => rocket_type.len() + mission.len(),
            MessageBody::Exploded { reason } => reason.len(),
            MessageBody::MissionChanged { new_mission } => new_mission.len(),
            MessageBody::SpeedIncreased { .. }
            | MessageBody::SpeedDecreased { .. }
            | MessageBody::Unknown => 0,
        };
        // Field names, numbers and JSON punctuation of the stored form stay under 96 bytes.
        96 + self.time.as_str().len() + self.message_type.len() + strings
    }
}

impl MessageTime {
    /// Parses an RFC 3339 timestamp (any number of fractional digits, any UTC offset).
    pub fn parse(text: &str) -> Option<Self> {
        let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Self {
            text: text.to_owned(),
            unix_nanos: at.unix_timestamp_nanos(),
        })
    }

    /// The timestamp exactly as the rocket sent it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The instant, in nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.unix_nanos
    }
}

impl fmt::Debug for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl Serialize for MessageTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MessageTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

fn invalid(field: &'static str, expected: &'static str) -> ValidationError {
    ValidationError::Invalid { field, expected }
}

/// A field that must be present; JSON `null` counts as absent.
fn required<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'a Value, ValidationError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(ValidationError::Missing { field }),
        Some(v) => Ok(v),
    }
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'a Map<String, Value>, ValidationError> {
    required(obj, key, field)?
        .as_object()
        .ok_or(invalid(field, "must be a JSON object"))
}

fn string(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, ValidationError> {
    required(obj, key, field)?
        .as_str()
        .map(str::to_owned)
        .ok_or(invalid(field, "must be a string"))
}

/// A non-negative integer that fits in an `i64`. Floats such as `500.0` are rejected: speeds are
/// exact integers and a float hints at a sender bug.
fn non_negative(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<i64, ValidationError> {
    required(obj, key, field)?
        .as_i64()
        .filter(|n| *n >= 0)
        .ok_or(invalid(field, "must be a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch_json() -> Value {
        json!({
            "metadata": {
                "channel": "193270a9-c9cf-404a-8f83-838e71d9ae67",
                "messageNumber": 1,
                "messageTime": "2022-02-02T19:39:05.86337+01:00",
                "messageType": "RocketLaunched"
            },
            "message": {"type": "Falcon-9", "launchSpeed": 500, "mission": "ARTEMIS"}
        })
    }

    fn rejection(mutate: impl FnOnce(&mut Value)) -> ValidationError {
        let mut v = launch_json();
        mutate(&mut v);
        match Message::from_value(&v) {
            Ok(m) => panic!("expected a rejection, got {m:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn valid_launch_is_parsed_with_its_fields() {
        let m = Message::from_value(&launch_json()).unwrap();
        assert_eq!(m.channel, "193270a9-c9cf-404a-8f83-838e71d9ae67");
        assert_eq!(m.number, 1);
        assert_eq!(m.time.as_str(), "2022-02-02T19:39:05.86337+01:00");
        assert_eq!(
            m.body,
            MessageBody::Launched {
                rocket_type: "Falcon-9".into(),
                launch_speed: 500,
                mission: "ARTEMIS".into()
            }
        );
    }

    #[test]
    fn each_invalid_input_names_its_field() {
        type Mutation = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("metadata", Box::new(|v| v["metadata"] = Value::Null)),
            ("metadata", Box::new(|v| v["metadata"] = json!("x"))),
            (
                "metadata.channel",
                Box::new(|v| v["metadata"]["channel"] = json!(7)),
            ),
            (
                "metadata.channel",
                Box::new(|v| v["metadata"]["channel"] = json!(" ")),
            ),
            (
                "metadata.channel",
                Box::new(|v| v["metadata"]["channel"] = json!("a\nb")),
            ),
            (
                "metadata.messageNumber",
                Box::new(|v| v["metadata"]["messageNumber"] = json!(0)),
            ),
            (
                "metadata.messageNumber",
                Box::new(|v| v["metadata"]["messageNumber"] = json!(-3)),
            ),
            (
                "metadata.messageNumber",
                Box::new(|v| v["metadata"]["messageNumber"] = json!(1.5)),
            ),
            (
                "metadata.messageNumber",
                Box::new(|v| v["metadata"]["messageNumber"] = json!("1")),
            ),
            (
                "metadata.messageTime",
                Box::new(|v| v["metadata"]["messageTime"] = json!("today")),
            ),
            (
                "metadata.messageTime",
                Box::new(|v| v["metadata"]["messageTime"] = json!(12)),
            ),
            (
                "metadata.messageType",
                Box::new(|v| v["metadata"]["messageType"] = json!(null)),
            ),
            ("message", Box::new(|v| v["message"] = Value::Null)),
            (
                "message.type",
                Box::new(|v| v["message"]["type"] = Value::Null),
            ),
            (
                "message.launchSpeed",
                Box::new(|v| v["message"]["launchSpeed"] = json!("fast")),
            ),
            (
                "message.launchSpeed",
                Box::new(|v| v["message"]["launchSpeed"] = json!(-500)),
            ),
            (
                "message.mission",
                Box::new(|v| v["message"]["mission"] = json!(["a"])),
            ),
        ];
        for (field, mutate) in cases {
            assert_eq!(rejection(mutate).field(), Some(field), "case for {field}");
        }
    }

    #[test]
    fn speed_change_without_by_is_rejected() {
        let e = rejection(|v| {
            v["metadata"]["messageType"] = json!("RocketSpeedIncreased");
            v["message"] = json!({"amount": 5});
        });
        assert_eq!(
            e,
            ValidationError::Missing {
                field: "message.by"
            }
        );
    }

    #[test]
    fn unknown_type_is_accepted_without_a_body() {
        let mut v = launch_json();
        v["metadata"]["messageType"] = json!("RocketRefuelled");
        v.as_object_mut().unwrap().remove("message");
        let m = Message::from_value(&v).unwrap();
        assert_eq!(m.body, MessageBody::Unknown);
        assert_eq!(m.message_type, "RocketRefuelled");
    }

    #[test]
    fn extra_fields_are_ignored() {
        let mut v = launch_json();
        v["metadata"]["extra"] = json!(true);
        v["message"]["colour"] = json!("red");
        v["trailer"] = json!(1);
        assert!(Message::from_value(&v).is_ok());
    }

    #[test]
    fn malformed_json_and_non_objects_are_rejected() {
        assert!(matches!(
            Message::parse(b"{"),
            Err(ValidationError::Malformed(_))
        ));
        assert_eq!(Message::parse(b"[]").unwrap_err().field(), Some("$"));
    }

    #[test]
    fn wire_form_round_trips() {
        let m = Message::from_value(&launch_json()).unwrap();
        let back = Message::from_value(&m.to_wire()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn queue_body_avoids_characters_sqs_refuses_and_reads_back() {
        let mut v = launch_json();
        v["message"]["mission"] = json!("odd\u{fffe}\u{ffff}\u{0}end");
        let m = Message::from_value(&v).unwrap();
        let body = m.to_queue_body();
        assert!(!body.contains(['\u{fffe}', '\u{ffff}', '\u{0}']));
        assert_eq!(Message::parse(body.as_bytes()).unwrap(), m);
    }

    #[test]
    fn times_with_different_offsets_compare_as_instants() {
        let a = MessageTime::parse("2026-10-01T17:39:42.8989223+02:00").unwrap();
        let b = MessageTime::parse("2026-10-01T16:39:42.8989223+00:00").unwrap();
        assert!(a.unix_nanos() < b.unix_nanos());
        assert!(
            a.as_str() > b.as_str(),
            "as text they would sort the other way"
        );
    }
}
