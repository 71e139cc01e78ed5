//! A rocket's applied state, how one in-order message changes it, and the API view of it.
//!
//! Speed is kept as the launch speed plus a running sum of deltas, so that speed changes that
//! happen to be applied before the launch (possible only if a sender numbers them that way) still
//! count once the launch arrives: speed = launchSpeed + increases − decreases, always.

use serde::{Deserialize, Serialize};

use crate::message::{Message, MessageBody, MessageTime};

/// A rocket's lifecycle as the dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Messages arrived but the launch has not been applied yet.
    AwaitingLaunch,
    /// Launched and not exploded.
    Active,
    /// Exploded; permanent.
    Exploded,
}

impl Status {
    /// The API spelling (`awaitingLaunch`, `active`, `exploded`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingLaunch => "awaitingLaunch",
            Self::Active => "active",
            Self::Exploded => "exploded",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::AwaitingLaunch, Self::Active, Self::Exploded]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The state of one rocket after applying messages `1..=last_message_number` in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RocketState {
    /// The model from the applied launch.
    pub rocket_type: Option<String>,
    /// The speed from the applied launch.
    pub launch_speed: Option<i64>,
    /// Sum of applied increases minus decreases.
    pub speed_delta: i64,
    /// The mission set by the highest-numbered applied launch or mission change.
    pub mission: Option<String>,
    /// The reason of the first applied explosion.
    pub explosion_reason: Option<String>,
    /// `messageTime` of the applied launch.
    pub launched_at: Option<MessageTime>,
    /// `messageTime` of the last applied message.
    pub updated_at: Option<MessageTime>,
    /// Highest applied message number (0 before any).
    pub last_message_number: u64,
}

/// What applying a message did beyond the obvious, worth a log line and a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// A second `RocketLaunched`: its slot is filled, its content ignored.
    RepeatedLaunch,
    /// A second `RocketExploded`: the first reason is kept.
    RepeatedExplosion,
    /// An unknown `messageType`: consumed as a no-op.
    UnknownType,
}

impl RocketState {
    /// The lifecycle status derived from the state.
    pub fn status(&self) -> Status {
        if self.explosion_reason.is_some() {
            Status::Exploded
        } else if self.rocket_type.is_some() {
            Status::Active
        } else {
            Status::AwaitingLaunch
        }
    }

    /// The current speed, `None` until launched. Saturates at the `i64` bounds, which needs more
    /// than a billion maximal deltas and is documented as a limit.
    pub fn speed(&self) -> Option<i64> {
        self.launch_speed
            .map(|s| s.saturating_add(self.speed_delta))
    }

    /// Applies the message that comes next in the rocket's stream.
    ///
    /// The caller guarantees `message.number == self.last_message_number + 1`; the aggregate's
    /// fold is the only caller.
    pub(crate) fn apply(&mut self, message: &Message) -> Option<Note> {
        debug_assert_eq!(message.number, self.last_message_number + 1);
        self.last_message_number = message.number;
        self.updated_at = Some(message.time.clone());
        match &message.body {
            MessageBody::Launched {
                rocket_type,
                launch_speed,
                mission,
            } => {
                if self.rocket_type.is_some() {
                    return Some(Note::RepeatedLaunch);
                }
                self.rocket_type = Some(rocket_type.clone());
                self.launch_speed = Some(*launch_speed);
                self.mission = Some(mission.clone());
                self.launched_at = Some(message.time.clone());
                None
            }
            MessageBody::SpeedIncreased { by } => {
                self.speed_delta = self.speed_delta.saturating_add(*by);
                None
            }
            MessageBody::SpeedDecreased { by } => {
                self.speed_delta = self.speed_delta.saturating_sub(*by);
                None
            }
            MessageBody::Exploded { reason } => {
                if self.explosion_reason.is_some() {
                    return Some(Note::RepeatedExplosion);
                }
                self.explosion_reason = Some(reason.clone());
                None
            }
            MessageBody::MissionChanged { new_mission } => {
                self.mission = Some(new_mission.clone());
                None
            }
            MessageBody::Unknown => Some(Note::UnknownType),
        }
    }

    /// The API view of this state.
    pub fn view(&self, channel: &str, pending_messages: usize) -> RocketView {
        RocketView {
            channel: channel.to_owned(),
            status: self.status(),
            rocket_type: self.rocket_type.clone(),
            mission: self.mission.clone(),
            speed: self.speed(),
            launch_speed: self.launch_speed,
            explosion_reason: self.explosion_reason.clone(),
            launched_at: self.launched_at.clone(),
            updated_at: self.updated_at.clone(),
            last_message_number: self.last_message_number,
            pending_messages: pending_messages as u64,
        }
    }
}

impl RocketView {
    /// The JSON field names of a view, in declaration order: what stores project when they
    /// read views.
    pub const FIELDS: [&'static str; 11] = [
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
}

/// One rocket as `GET /rockets/{channel}` returns it: exactly these fields, `null` where unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RocketView {
    /// The rocket's id.
    pub channel: String,
    /// Lifecycle status.
    pub status: Status,
    /// The model, `null` until launched.
    #[serde(rename = "type")]
    pub rocket_type: Option<String>,
    /// The current mission.
    pub mission: Option<String>,
    /// The current speed, `null` until launched.
    pub speed: Option<i64>,
    /// The speed at launch.
    pub launch_speed: Option<i64>,
    /// Why it exploded, `null` unless exploded.
    pub explosion_reason: Option<String>,
    /// `messageTime` of the launch.
    pub launched_at: Option<MessageTime>,
    /// `messageTime` of the last applied message.
    pub updated_at: Option<MessageTime>,
    /// Highest applied message number, 0 if none.
    pub last_message_number: u64,
    /// Messages received and waiting for a gap in the numbering to fill.
    pub pending_messages: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_exactly_the_serialized_view_keys() {
        let view = RocketState::default().view("c", 0);
        let json = serde_json::to_value(&view).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = RocketView::FIELDS.to_vec();
        fields.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, fields);
    }
}
