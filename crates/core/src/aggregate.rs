//! The per-rocket aggregate (state, pending messages, revision) and the pure fold that turns any
//! interleaving of duplicated, out-of-order messages into the state a strictly sequential stream
//! would give.
//!
//! Policies, all enforced here:
//! - identity is `(channel, messageNumber)`; the first copy folded wins, later ones are
//!   duplicates whatever their content (within one fold, the first in input order);
//! - messages apply strictly in number order from 1; a later number waits in `pending` until the
//!   gap before it fills;
//! - `pending` is bounded by [`PENDING_WINDOW`] numbers ahead of the last applied one and by
//!   [`PENDING_MAX_BYTES`]; a message outside the bounds is [`Disposition::Deferred`]: not
//!   recorded, so the caller must hand it back to the queue for a later attempt.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::rocket::{RocketState, RocketView};

pub use crate::rocket::Note;

/// How far past the last applied number a message may be and still be buffered.
pub const PENDING_WINDOW: u64 = 1_000;

/// Budget for the pending messages of one rocket, in [`Message::stored_size`] bytes. The state
/// holds at most three strings from messages of at most 64 KiB each (type, mission, explosion
/// reason: under 192 KiB), so state plus pending stays under DynamoDB's 400 KB item limit
/// whatever valid messages arrive.
pub const PENDING_MAX_BYTES: usize = 160 * 1024;

/// Everything the system keeps for one rocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The rocket's id.
    pub channel: String,
    /// State after applying messages `1..=state.last_message_number`.
    pub state: RocketState,
    /// Received messages with numbers above the last applied one, by number.
    pub pending: BTreeMap<u64, Message>,
    /// The stored revision this aggregate was read at; 0 for a rocket not stored yet. Stores use
    /// it as the compare-and-swap token and write `revision + 1`.
    pub revision: u64,
}

/// What the fold did with one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Applied to the state (possibly after others from pending).
    Applied,
    /// Stored in pending, waiting for the gap before it.
    Buffered,
    /// Already applied or already pending: nothing to do, acknowledge it.
    Duplicate,
    /// Beyond the pending bounds: not recorded, must be redelivered later.
    Deferred,
}

/// The result of one fold: the outcome of every incoming message, in input order, and every
/// message number the fold applied (incoming or drained from pending), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldReport {
    /// One entry per incoming message, in the order given.
    pub dispositions: Vec<Disposition>,
    /// `(messageNumber, note)` for each message applied, in application order.
    pub applied: Vec<(u64, Option<Note>)>,
}

impl FoldReport {
    /// Whether the aggregate changed, i.e. whether it must be written back.
    pub fn changed(&self) -> bool {
        self.dispositions
            .iter()
            .any(|d| matches!(d, Disposition::Applied | Disposition::Buffered))
    }

    /// How many incoming messages ended with disposition `d`.
    pub fn count(&self, d: Disposition) -> usize {
        self.dispositions.iter().filter(|x| **x == d).count()
    }
}

impl Aggregate {
    /// A rocket nothing is known about yet.
    pub fn new(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            state: RocketState::default(),
            pending: BTreeMap::new(),
            revision: 0,
        }
    }

    /// The API view.
    pub fn view(&self) -> RocketView {
        self.state.view(&self.channel, self.pending.len())
    }

    /// Folds incoming messages of this rocket into the aggregate.
    ///
    /// Messages are taken in number order (ties keep input order, so the first copy received
    /// wins). Messages of another channel are a caller bug and are reported
    /// [`Disposition::Deferred`] without being looked at, so they are never lost.
    pub fn fold(&mut self, incoming: &[Message]) -> FoldReport {
        let mut report = FoldReport {
            dispositions: vec![Disposition::Deferred; incoming.len()],
            applied: Vec::new(),
        };
        let mut order: Vec<usize> = (0..incoming.len())
            .filter(|&i| incoming[i].channel == self.channel)
            .collect();
        order.sort_by_key(|&i| incoming[i].number);

        let mut pending_bytes: usize = self.pending.values().map(Message::stored_size).sum();
        for i in order {
            let message = &incoming[i];
            let last = self.state.last_message_number;
            report.dispositions[i] =
                if message.number <= last || self.pending.contains_key(&message.number) {
                    Disposition::Duplicate
                } else if message.number == last + 1 {
                    let note = self.state.apply(message);
                    report.applied.push((message.number, note));
                    pending_bytes -= self.drain_pending(&mut report.applied);
                    Disposition::Applied
                } else if message.number - last > PENDING_WINDOW
                    || pending_bytes + message.stored_size() > PENDING_MAX_BYTES
                {
                    Disposition::Deferred
                } else {
                    pending_bytes += message.stored_size();
                    self.pending.insert(message.number, message.clone());
                    Disposition::Buffered
                };
        }
        report
    }

    /// Applies every pending message that is now next in line; returns the bytes released.
    fn drain_pending(&mut self, applied: &mut Vec<(u64, Option<Note>)>) -> usize {
        let mut released = 0;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.state.last_message_number + 1 {
                break;
            }
            let message = entry.remove();
            released += message.stored_size();
            applied.push((message.number, self.state.apply(&message)));
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::message::{MessageBody, MessageTime};
    use crate::rocket::Status;

    const CHANNEL: &str = "c-1";

    fn msg(number: u64, body: MessageBody) -> Message {
        let time = format!(
            "2026-10-01T17:{:02}:{:02}.1234567+02:00",
            number / 60 % 60,
            number % 60
        );
        let message_type = match &body {
            MessageBody::Launched { .. } => "RocketLaunched",
            MessageBody::SpeedIncreased { .. } => "RocketSpeedIncreased",
            MessageBody::SpeedDecreased { .. } => "RocketSpeedDecreased",
            MessageBody::Exploded { .. } => "RocketExploded",
            MessageBody::MissionChanged { .. } => "RocketMissionChanged",
            MessageBody::Unknown => "RocketRefuelled",
        };
        Message {
            channel: CHANNEL.into(),
            number,
            time: MessageTime::parse(&time).unwrap(),
            message_type: message_type.into(),
            body,
        }
    }

    fn launch(n: u64) -> Message {
        msg(
            n,
            MessageBody::Launched {
                rocket_type: "Falcon-9".into(),
                launch_speed: 500,
                mission: "ARTEMIS".into(),
            },
        )
    }

    fn up(n: u64, by: i64) -> Message {
        msg(n, MessageBody::SpeedIncreased { by })
    }

    #[test]
    fn in_order_messages_apply_immediately() {
        let mut agg = Aggregate::new(CHANNEL);
        let report = agg.fold(&[launch(1), up(2, 1000), up(3, 500)]);
        assert_eq!(report.dispositions, vec![Disposition::Applied; 3]);
        assert_eq!(agg.state.speed(), Some(2000));
        assert_eq!(agg.state.last_message_number, 3);
        assert!(agg.pending.is_empty());
    }

    #[test]
    fn a_gap_buffers_until_it_fills() {
        let mut agg = Aggregate::new(CHANNEL);
        let report = agg.fold(&[up(3, 500), up(2, 1000)]);
        assert_eq!(report.dispositions, vec![Disposition::Buffered; 2]);
        assert_eq!(agg.view().status, Status::AwaitingLaunch);
        assert_eq!(agg.view().pending_messages, 2);

        let report = agg.fold(&[launch(1)]);
        assert_eq!(report.dispositions, vec![Disposition::Applied]);
        assert_eq!(
            report.applied.iter().map(|a| a.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(agg.state.speed(), Some(2000));
        assert!(agg.pending.is_empty());
    }

    #[test]
    fn first_copy_wins_and_later_copies_are_duplicates() {
        let mut agg = Aggregate::new(CHANNEL);
        let report = agg.fold(&[launch(1), up(2, 500), up(2, 9999), up(4, 1), up(4, 7)]);
        assert_eq!(
            report.dispositions,
            vec![
                Disposition::Applied,
                Disposition::Applied,
                Disposition::Duplicate,
                Disposition::Buffered,
                Disposition::Duplicate
            ]
        );
        assert_eq!(agg.state.speed(), Some(1000));
        assert_eq!(agg.pending[&4].body, MessageBody::SpeedIncreased { by: 1 });
        assert!(!agg.fold(&[launch(1), up(4, 3)]).changed());
    }

    #[test]
    fn messages_beyond_the_window_are_deferred_not_recorded() {
        let mut agg = Aggregate::new(CHANNEL);
        let report = agg.fold(&[up(PENDING_WINDOW, 5), up(PENDING_WINDOW + 1, 5)]);
        assert_eq!(
            report.dispositions,
            vec![Disposition::Buffered, Disposition::Deferred]
        );
        assert_eq!(agg.pending.len(), 1);
    }

    #[test]
    fn pending_is_bounded_in_bytes() {
        let mut agg = Aggregate::new(CHANNEL);
        let big = "m".repeat(60 * 1024);
        let changes: Vec<Message> = (2..=5)
            .map(|n| {
                msg(
                    n,
                    MessageBody::MissionChanged {
                        new_mission: big.clone(),
                    },
                )
            })
            .collect();
        let report = agg.fold(&changes);
        assert_eq!(report.count(Disposition::Buffered), 2);
        assert_eq!(report.count(Disposition::Deferred), 2);
        let stored: usize = agg.pending.values().map(Message::stored_size).sum();
        assert!(stored <= PENDING_MAX_BYTES);
    }

    #[test]
    fn explosion_is_permanent_but_later_messages_still_apply() {
        let mut agg = Aggregate::new(CHANNEL);
        agg.fold(&[
            launch(1),
            msg(
                2,
                MessageBody::Exploded {
                    reason: "PRESSURE_VESSEL_FAILURE".into(),
                },
            ),
            msg(
                3,
                MessageBody::Exploded {
                    reason: "second".into(),
                },
            ),
            up(4, 500),
            msg(
                5,
                MessageBody::MissionChanged {
                    new_mission: "GEMINI".into(),
                },
            ),
        ]);
        let view = agg.view();
        assert_eq!(view.status, Status::Exploded);
        assert_eq!(
            view.explosion_reason.as_deref(),
            Some("PRESSURE_VESSEL_FAILURE")
        );
        assert_eq!(view.speed, Some(1000));
        assert_eq!(view.mission.as_deref(), Some("GEMINI"));
    }

    #[test]
    fn repeated_launch_and_unknown_type_fill_their_slot_only() {
        let mut agg = Aggregate::new(CHANNEL);
        let mut relaunch = launch(2);
        relaunch.body = MessageBody::Launched {
            rocket_type: "Other".into(),
            launch_speed: 9000,
            mission: "OTHER".into(),
        };
        let report = agg.fold(&[
            launch(1),
            relaunch,
            msg(3, MessageBody::Unknown),
            up(4, 500),
        ]);
        assert_eq!(
            report.applied,
            vec![
                (1, None),
                (2, Some(Note::RepeatedLaunch)),
                (3, Some(Note::UnknownType)),
                (4, None)
            ]
        );
        let view = agg.view();
        assert_eq!(view.rocket_type.as_deref(), Some("Falcon-9"));
        assert_eq!(view.mission.as_deref(), Some("ARTEMIS"));
        assert_eq!(view.speed, Some(1000));
        assert_eq!(view.last_message_number, 4);
        assert_eq!(
            view.updated_at.as_ref().map(|t| t.as_str()),
            Some(agg_time(4).as_str())
        );
    }

    fn agg_time(n: u64) -> String {
        msg(n, MessageBody::Unknown).time.as_str().to_owned()
    }

    #[test]
    fn decreases_are_not_clamped() {
        let mut agg = Aggregate::new(CHANNEL);
        agg.fold(&[launch(1), msg(2, MessageBody::SpeedDecreased { by: 1500 })]);
        assert_eq!(agg.state.speed(), Some(-1000));
    }

    #[test]
    fn foreign_channel_is_deferred_untouched() {
        let mut agg = Aggregate::new(CHANNEL);
        let mut other = launch(1);
        other.channel = "c-2".into();
        let report = agg.fold(&[other]);
        assert_eq!(report.dispositions, vec![Disposition::Deferred]);
        assert_eq!(agg, Aggregate::new(CHANNEL));
    }

    fn body_strategy() -> impl Strategy<Value = MessageBody> {
        prop_oneof![
            (0i64..20).prop_map(|k| MessageBody::SpeedIncreased { by: k * 500 }),
            (0i64..20).prop_map(|k| MessageBody::SpeedDecreased { by: k * 500 }),
            (0u8..4).prop_map(|k| MessageBody::MissionChanged {
                new_mission: format!("M{k}")
            }),
            Just(MessageBody::Exploded {
                reason: "BOOM".into()
            }),
            Just(MessageBody::Unknown),
            Just(MessageBody::Launched {
                rocket_type: "Again".into(),
                launch_speed: 1,
                mission: "X".into()
            }),
        ]
    }

    /// A stream `1..=n`, then a delivery of it: every message at least once, in any order, split
    /// into batches of any size.
    fn delivery_strategy() -> impl Strategy<Value = (Vec<Message>, Vec<Vec<Message>>)> {
        prop::collection::vec(body_strategy(), 0..60)
            .prop_flat_map(|bodies| {
                let mut stream = vec![launch(1)];
                stream.extend(
                    bodies
                        .into_iter()
                        .enumerate()
                        .map(|(i, b)| msg(i as u64 + 2, b)),
                );
                let n = stream.len();
                let copies = prop::collection::vec(0..n, 0..n);
                (Just(stream), copies)
            })
            .prop_flat_map(|(stream, copies)| {
                let mut delivered: Vec<Message> = stream.clone();
                delivered.extend(copies.iter().map(|&i| stream[i].clone()));
                let len = delivered.len();
                (
                    Just(stream),
                    Just(delivered).prop_shuffle(),
                    prop::collection::vec(1..12usize, len),
                )
            })
            .prop_map(|(stream, delivered, sizes)| {
                let mut batches = Vec::new();
                let mut rest = delivered.as_slice();
                for size in sizes {
                    if rest.is_empty() {
                        break;
                    }
                    let (head, tail) = rest.split_at(size.min(rest.len()));
                    batches.push(head.to_vec());
                    rest = tail;
                }
                (stream, batches)
            })
    }

    proptest! {
        #[test]
        fn any_interleaving_with_duplicates_gives_the_sequential_result(
            (stream, batches) in delivery_strategy()
        ) {
            let mut sequential = Aggregate::new(CHANNEL);
            for m in &stream {
                sequential.fold(std::slice::from_ref(m));
            }

            let mut folded = Aggregate::new(CHANNEL);
            let mut applied = Vec::new();
            for batch in &batches {
                let report = folded.fold(batch);
                prop_assert!(!report.dispositions.contains(&Disposition::Deferred));
                applied.extend(report.applied.iter().map(|a| a.0));
            }

            prop_assert_eq!(&folded.state, &sequential.state);
            prop_assert!(folded.pending.is_empty());
            let expected: Vec<u64> = (1..=stream.len() as u64).collect();
            prop_assert_eq!(applied, expected, "each message applied exactly once, in order");
        }

        #[test]
        fn a_prefix_with_gaps_never_applies_past_the_first_gap(
            numbers in prop::collection::vec(1u64..40, 0..80)
        ) {
            let mut agg = Aggregate::new(CHANNEL);
            let batch: Vec<Message> = numbers.iter().map(|&n| up(n, 500)).collect();
            agg.fold(&batch);
            let mut first_gap = 1;
            while numbers.contains(&first_gap) {
                first_gap += 1;
            }
            prop_assert_eq!(agg.state.last_message_number, first_gap - 1);
            prop_assert!(agg.pending.keys().all(|&n| n > first_gap));
        }
    }
}
