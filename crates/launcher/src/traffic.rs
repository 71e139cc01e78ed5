//! The one ordered stream all senders pull from: the simulation's messages, optionally shuffled
//! within windows, interleaved with delayed duplicates, and stamped with `messageTime` as they
//! are handed out.
//!
//! The stream also keeps the send times the model needs (`launchedAt`, `updatedAt`), which exist
//! only once a message has been stamped.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use time::OffsetDateTime;

use crate::model::{Event, Planned, Simulation};
use crate::verify::{ExpectedRocket, RocketStatus};

/// Duplicates are resent between 1 and this many stream positions after their original.
const MAX_DUPLICATE_DELAY: u64 = 2_000;
/// RNG streams derived from the seed, so that turning duplicates or reordering on does not change
/// the messages themselves.
const REORDER_STREAM: u64 = 1;
const DUPLICATE_STREAM: u64 = 2;

/// One message ready to send: its final body, sent byte for byte on every attempt and copy.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The `metadata.channel`.
    pub channel: String,
    /// The `metadata.messageNumber`.
    pub number: u64,
    /// The JSON envelope.
    pub body: Bytes,
    /// Whether this is a deliberate second copy (`--duplicates`).
    pub duplicate: bool,
}

/// How the stream is shaped on top of the simulation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The seed of the run.
    pub seed: u64,
    /// Shuffle the order within consecutive windows of this many messages (0 or 1: off).
    pub reorder_window: usize,
    /// Fraction of messages sent a second time, later.
    pub duplicates: f64,
}

/// The shared stream; see the module docs.
#[derive(Debug)]
pub(crate) struct Traffic {
    simulation: Simulation,
    shape: Shape,
    window: Vec<Planned>,
    reorder_rng: ChaCha8Rng,
    duplicate_rng: ChaCha8Rng,
    delayed: BinaryHeap<Reverse<Delayed>>,
    /// Positions handed out so far (originals and duplicates).
    position: u64,
    times: Vec<SendTimes>,
}

#[derive(Debug, Clone, Default)]
struct SendTimes {
    launched_at: Option<String>,
    last_number: u64,
    updated_at: Option<String>,
}

/// A duplicate waiting for its position; ordered by position, then by scheduling order.
#[derive(Debug)]
struct Delayed {
    release_at: u64,
    sequence: u64,
    job: Job,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.release_at, self.sequence).cmp(&(other.release_at, other.sequence))
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    metadata: Metadata<'a>,
    message: Event,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    channel: &'a str,
    message_number: u64,
    message_time: &'a str,
    message_type: &'static str,
}

impl Traffic {
    /// The stream over `simulation`, shaped by `shape`.
    pub fn new(simulation: Simulation, shape: Shape) -> Self {
        let stream_rng = |stream| {
            let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
            rng.set_stream(stream);
            rng
        };
        let times = vec![SendTimes::default(); simulation.rockets().len()];
        Self {
            simulation,
            shape,
            window: Vec::new(),
            reorder_rng: stream_rng(REORDER_STREAM),
            duplicate_rng: stream_rng(DUPLICATE_STREAM),
            delayed: BinaryHeap::new(),
            position: 0,
            times,
        }
    }

    /// The next message to send, stamped with `now`; `None` once everything was handed out.
    pub fn next_job(&mut self, now: OffsetDateTime) -> Option<Job> {
        self.position += 1;
        if self
            .delayed
            .peek()
            .is_some_and(|d| d.0.release_at <= self.position)
        {
            return self.delayed.pop().map(|d| d.0.job);
        }
        let Some(planned) = self.next_planned() else {
            // The simulation is over: flush the duplicates still waiting.
            return self.delayed.pop().map(|d| d.0.job);
        };

        let time = format_message_time(now);
        let job = self.stamp(planned, time);
        if self.shape.duplicates > 0.0 && self.duplicate_rng.random_bool(self.shape.duplicates) {
            let delay = self.duplicate_rng.random_range(1..=MAX_DUPLICATE_DELAY);
            let copy = Job {
                duplicate: true,
                ..job.clone()
            };
            let sequence = self.position;
            self.delayed.push(Reverse(Delayed {
                release_at: self.position + delay,
                sequence,
                job: copy,
            }));
        }
        Some(job)
    }

    /// The expected final view of every rocket that was sent at least one message.
    pub fn expected(&self) -> Vec<ExpectedRocket> {
        let rockets = self.simulation.rockets().iter().zip(&self.times);
        rockets
            .filter(|(rocket, _)| rocket.messages > 0)
            .map(|(rocket, times)| ExpectedRocket {
                channel: rocket.channel_text.clone(),
                status: if rocket.exploded() {
                    RocketStatus::Exploded
                } else {
                    RocketStatus::Active
                },
                rocket_type: rocket.rocket_type.to_owned(),
                mission: rocket.mission.to_owned(),
                speed: rocket.speed,
                launch_speed: rocket.launch_speed,
                explosion_reason: rocket.explosion_reason.map(str::to_owned),
                launched_at: times.launched_at.clone().unwrap_or_default(),
                updated_at: times.updated_at.clone().unwrap_or_default(),
                last_message_number: rocket.messages,
            })
            .collect()
    }

    /// How many distinct messages the simulation generated.
    pub fn generated(&self) -> u64 {
        self.simulation.emitted()
    }

    fn next_planned(&mut self) -> Option<Planned> {
        if self.shape.reorder_window <= 1 {
            return self.simulation.next();
        }
        if self.window.is_empty() {
            self.window
                .extend(self.simulation.by_ref().take(self.shape.reorder_window));
            self.window.shuffle(&mut self.reorder_rng);
        }
        self.window.pop()
    }

    fn stamp(&mut self, planned: Planned, time: String) -> Job {
        let channel = &self.simulation.rockets()[planned.rocket].channel_text;
        let envelope = Envelope {
            metadata: Metadata {
                channel,
                message_number: planned.number,
                message_time: &time,
                message_type: planned.event.message_type(),
            },
            message: planned.event,
        };
        // Serializing borrowed strings and integers into a Vec cannot fail.
        let body = Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default());
        let job = Job {
            channel: channel.clone(),
            number: planned.number,
            body,
            duplicate: false,
        };

        let times = &mut self.times[planned.rocket];
        if planned.number == 1 {
            times.launched_at = Some(time.clone());
        }
        if planned.number > times.last_number {
            times.last_number = planned.number;
            times.updated_at = Some(time);
        }
        job
    }
}

/// Formats a `messageTime` like the real program: RFC 3339 with 7 fractional digits and the
/// offset as `+hh:mm`, e.g. `2026-10-01T17:39:42.8989223+02:00`.
pub fn format_message_time(at: OffsetDateTime) -> String {
    let offset = at.offset();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}{sign}{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100,
        offset.whole_hours().unsigned_abs(),
        offset.minutes_past_hour().unsigned_abs(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::Value;
    use time::macros::datetime;

    use super::*;

    fn traffic(max: u64, reorder_window: usize, duplicates: f64) -> Traffic {
        Traffic::new(
            Simulation::new(444, 20, max),
            Shape {
                seed: 444,
                reorder_window,
                duplicates,
            },
        )
    }

    /// Hands out every job, each stamped 1 µs after the previous one.
    fn drain(mut traffic: Traffic) -> (Vec<Job>, Traffic) {
        let start = OffsetDateTime::now_utc();
        let mut tick = 0;
        let jobs = std::iter::from_fn(|| {
            tick += 1;
            traffic.next_job(start + time::Duration::microseconds(tick))
        })
        .collect();
        (jobs, traffic)
    }

    #[test]
    fn message_time_has_seven_fractional_digits_and_an_offset() {
        let at = datetime!(2026-10-01 17:39:42.898_922_345 +02:00);
        assert_eq!(format_message_time(at), "2026-10-01T17:39:42.8989223+02:00");
        let utc = datetime!(2026-01-02 03:04:05.000_000_1 UTC);
        assert_eq!(
            format_message_time(utc),
            "2026-01-02T03:04:05.0000001+00:00"
        );
        let west = datetime!(2026-01-02 03:04:05 -05:30);
        assert_eq!(
            format_message_time(west),
            "2026-01-02T03:04:05.0000000-05:30"
        );
    }

    #[test]
    fn bodies_are_the_documented_envelope() {
        let (jobs, _) = drain(traffic(10, 0, 0.0));
        let first: Value = serde_json::from_slice(&jobs[0].body).unwrap();
        assert_eq!(first["metadata"]["messageNumber"], 1);
        assert_eq!(first["metadata"]["messageType"], "RocketLaunched");
        assert_eq!(first["metadata"]["channel"], jobs[0].channel.as_str());
        assert!(
            first["metadata"]["messageTime"]
                .as_str()
                .unwrap()
                .ends_with("+00:00")
        );
        assert!(first["message"]["launchSpeed"].as_i64().unwrap() >= 500);
    }

    #[test]
    fn duplicates_repeat_the_exact_body_later() {
        let (jobs, traffic) = drain(traffic(5_000, 0, 0.2));
        let originals: Vec<&Job> = jobs.iter().filter(|j| !j.duplicate).collect();
        let copies: Vec<&Job> = jobs.iter().filter(|j| j.duplicate).collect();
        assert_eq!(originals.len(), 5_000);
        assert_eq!(traffic.generated(), 5_000);
        assert!(
            (700..=1_300).contains(&copies.len()),
            "{} copies",
            copies.len()
        );

        let first_seen: HashMap<(&str, u64), (usize, &Bytes)> = jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| !j.duplicate)
            .map(|(i, j)| ((j.channel.as_str(), j.number), (i, &j.body)))
            .collect();
        for (i, copy) in jobs.iter().enumerate().filter(|(_, j)| j.duplicate) {
            let (at, body) = first_seen[&(copy.channel.as_str(), copy.number)];
            assert!(at < i, "a copy must come after its original");
            assert_eq!(*body, copy.body);
        }
    }

    #[test]
    fn reordering_keeps_every_message_once_and_changes_the_order() {
        let (plain, _) = drain(traffic(3_000, 0, 0.0));
        let (shuffled, _) = drain(traffic(3_000, 50, 0.0));
        let key = |j: &Job| (j.channel.clone(), j.number);
        let mut a: Vec<_> = plain.iter().map(key).collect();
        let mut b: Vec<_> = shuffled.iter().map(key).collect();
        assert_ne!(a, b);
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn the_model_takes_the_times_of_the_first_and_last_message() {
        let (jobs, traffic) = drain(traffic(2_000, 30, 0.1));
        let expected = traffic.expected();
        assert_eq!(expected.len(), 20);
        for rocket in &expected {
            let time_of = |number: u64| {
                let job = jobs
                    .iter()
                    .find(|j| j.channel == rocket.channel && j.number == number);
                let body: Value = serde_json::from_slice(&job.unwrap().body).unwrap();
                body["metadata"]["messageTime"].as_str().unwrap().to_owned()
            };
            assert_eq!(rocket.launched_at, time_of(1));
            assert_eq!(rocket.updated_at, time_of(rocket.last_message_number));
        }
    }
}
