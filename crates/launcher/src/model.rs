//! The simulated fleet: a pure, seeded generator of the global message sequence, and the model
//! of what each rocket ends up as once every message is applied.
//!
//! Everything here is a function of `(seed, rockets, max_messages)`; wall-clock times are added
//! later, when a message is sent (see `traffic`).

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uuid::Uuid;

/// Rocket models a launch may announce.
pub const ROCKET_TYPES: &[&str] = &[
    "Falcon-9",
    "Falcon Heavy",
    "Starship",
    "Electron",
    "Atlas-V",
    "New Glenn",
];
/// Missions a launch or a mission change may name.
pub const MISSIONS: &[&str] = &[
    "ARTEMIS",
    "GEMINI",
    "APOLLO",
    "DRAGON",
    "PERSEVERANCE",
    "MERCURY",
];
/// Reasons an explosion may give.
pub const EXPLOSION_REASONS: &[&str] = &[
    "PRESSURE_VESSEL_FAILURE",
    "ENGINE_FAILURE",
    "GUIDANCE_FAILURE",
    "FUEL_LEAK",
    "STRUCTURAL_FAILURE",
];
/// Every speed and every speed change is a multiple of this.
pub const SPEED_STEP: i64 = 500;
/// Speeds never drop below this.
pub const MIN_SPEED: i64 = 500;
/// Speeds never rise above this (the real program's observed maximum).
pub const MAX_SPEED: i64 = 26_000;

/// Share range of rockets doomed to explode at some point of their life (5 to 7 of 20).
const DOOMED_SHARE: std::ops::RangeInclusive<f64> = 0.25..=0.35;
/// Chance that a message after the launch is a mission change rather than a speed change.
const MISSION_CHANGE_PROBABILITY: f64 = 0.02;
/// A doomed rocket explodes after this share range of the average per-rocket budget.
const LIFETIME_SHARE: std::ops::Range<f64> = 0.07..0.95;
/// Relative weights rockets are drawn with; the spread makes per-rocket counts differ.
const WEIGHTS: std::ops::Range<f64> = 0.85..1.0;

/// What one message says, without its envelope. Serializes as the wire's `message` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// `RocketLaunched`: always a rocket's first message.
    Launched {
        /// The rocket model.
        #[serde(rename = "type")]
        rocket_type: &'static str,
        /// The speed at launch.
        #[serde(rename = "launchSpeed")]
        launch_speed: i64,
        /// The initial mission.
        mission: &'static str,
    },
    /// `RocketSpeedIncreased`.
    SpeedIncreased {
        /// A positive multiple of [`SPEED_STEP`].
        by: i64,
    },
    /// `RocketSpeedDecreased`.
    SpeedDecreased {
        /// A positive multiple of [`SPEED_STEP`].
        by: i64,
    },
    /// `RocketMissionChanged`.
    MissionChanged {
        /// The mission from now on.
        #[serde(rename = "newMission")]
        new_mission: &'static str,
    },
    /// `RocketExploded`: always a rocket's last message.
    Exploded {
        /// Why it exploded.
        reason: &'static str,
    },
}

impl Event {
    /// The wire `messageType`.
    pub fn message_type(&self) -> &'static str {
        match self {
            Self::Launched { .. } => "RocketLaunched",
            Self::SpeedIncreased { .. } => "RocketSpeedIncreased",
            Self::SpeedDecreased { .. } => "RocketSpeedDecreased",
            Self::MissionChanged { .. } => "RocketMissionChanged",
            Self::Exploded { .. } => "RocketExploded",
        }
    }
}

/// One message of the global sequence: which rocket, its number on that channel, what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Index of the rocket in [`Simulation::rockets`].
    pub rocket: usize,
    /// `messageNumber`, from 1 and contiguous per rocket.
    pub number: u64,
    /// The body.
    pub event: Event,
}

/// A simulated rocket: its fixed traits and the state after every message generated so far.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRocket {
    /// The channel id, drawn from the seeded RNG.
    pub channel: Uuid,
    /// The channel as it goes on the wire (lowercase, hyphenated).
    pub channel_text: String,
    /// Relative chance of being picked for the next message while not exploded.
    pub weight: f64,
    /// The model announced at launch.
    pub rocket_type: &'static str,
    /// The speed announced at launch.
    pub launch_speed: i64,
    /// Current speed: launch speed plus increases minus decreases.
    pub speed: i64,
    /// Current mission.
    pub mission: &'static str,
    /// For a doomed rocket, the message number of its explosion.
    pub explodes_at: Option<u64>,
    /// The reason of the explosion once it happened.
    pub explosion_reason: Option<&'static str>,
    /// Messages generated so far, which is also the last message number.
    pub messages: u64,
}

impl SimRocket {
    /// Whether the rocket exploded (and so gets no further message).
    pub fn exploded(&self) -> bool {
        self.explosion_reason.is_some()
    }
}

/// The seeded generator of the global message sequence.
///
/// Each step picks a rocket by weight among those not exploded and generates its next message.
/// It ends after `max_messages` messages, or earlier once every rocket has exploded.
#[derive(Debug, Clone)]
pub struct Simulation {
    rng: ChaCha8Rng,
    rockets: Vec<SimRocket>,
    picker: Option<WeightedIndex<f64>>,
    emitted: u64,
    max_messages: u64,
}

impl Simulation {
    /// A fleet of `rockets` rockets drawn from `seed`, to send `max_messages` messages in all.
    pub fn new(seed: u64, rockets: usize, max_messages: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let budget = max_messages as f64 / rockets.max(1) as f64;
        let mut fleet: Vec<SimRocket> = (0..rockets).map(|_| draw_rocket(&mut rng)).collect();

        // Rounded at random, so that small fleets get a doomed rocket now and then too.
        let doomed = rng.random_range(DOOMED_SHARE) * rockets as f64 + rng.random::<f64>();
        let doomed = (doomed.floor() as usize).min(rockets);
        for index in rand::seq::index::sample(&mut rng, rockets, doomed) {
            // Number 1 is the launch, so the earliest explosion is message 2.
            let at = (rng.random_range(LIFETIME_SHARE) * budget).round().max(2.0) as u64;
            fleet[index].explodes_at = Some(at);
        }
        let mut simulation = Self {
            rng,
            rockets: fleet,
            picker: None,
            emitted: 0,
            max_messages,
        };
        simulation.rebuild_picker();
        simulation
    }

    /// The rockets and their state after the messages generated so far.
    pub fn rockets(&self) -> &[SimRocket] {
        &self.rockets
    }

    /// How many messages have been generated.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    fn rebuild_picker(&mut self) {
        let weights = self
            .rockets
            .iter()
            .map(|r| if r.exploded() { 0.0 } else { r.weight });
        // Fails only when no rocket is left (or there were none): the sequence is over then.
        self.picker = WeightedIndex::new(weights).ok();
    }

    fn next_event(&mut self, index: usize) -> Event {
        let rng = &mut self.rng;
        let rocket = &self.rockets[index];
        let number = rocket.messages + 1;
        if number == 1 {
            return Event::Launched {
                rocket_type: rocket.rocket_type,
                launch_speed: rocket.launch_speed,
                mission: rocket.mission,
            };
        }
        if rocket.explodes_at == Some(number) {
            return Event::Exploded {
                reason: pick(rng, EXPLOSION_REASONS),
            };
        }
        if rng.random_bool(MISSION_CHANGE_PROBABILITY) {
            let others: Vec<&'static str> = MISSIONS
                .iter()
                .copied()
                .filter(|m| *m != rocket.mission)
                .collect();
            return Event::MissionChanged {
                new_mission: pick(rng, &others),
            };
        }
        let by = rng.random_range(1..=4) * SPEED_STEP;
        let up = rng.random_bool(0.5);
        // Turn around at the bounds; `by` is far smaller than the range, so one side always fits.
        if (up && rocket.speed + by <= MAX_SPEED) || rocket.speed - by < MIN_SPEED {
            Event::SpeedIncreased { by }
        } else {
            Event::SpeedDecreased { by }
        }
    }
}

impl Iterator for Simulation {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        if self.emitted >= self.max_messages {
            return None;
        }
        let index = self.picker.as_ref()?.sample(&mut self.rng);
        let event = self.next_event(index);

        let rocket = &mut self.rockets[index];
        rocket.messages += 1;
        match event {
            Event::Launched { .. } => {}
            Event::SpeedIncreased { by } => rocket.speed += by,
            Event::SpeedDecreased { by } => rocket.speed -= by,
            Event::MissionChanged { new_mission } => rocket.mission = new_mission,
            Event::Exploded { reason } => rocket.explosion_reason = Some(reason),
        }
        let planned = Planned {
            rocket: index,
            number: rocket.messages,
            event,
        };
        if matches!(event, Event::Exploded { .. }) {
            self.rebuild_picker();
        }
        self.emitted += 1;
        Some(planned)
    }
}

fn draw_rocket(rng: &mut ChaCha8Rng) -> SimRocket {
    let channel = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
    let launch_speed = rng.random_range(1..=10) * SPEED_STEP;
    let rocket_type = pick(rng, ROCKET_TYPES);
    let mission = pick(rng, MISSIONS);
    let weight = rng.random_range(WEIGHTS);
    SimRocket {
        channel,
        channel_text: channel.hyphenated().to_string(),
        weight,
        rocket_type,
        launch_speed,
        speed: launch_speed,
        mission,
        explodes_at: None,
        explosion_reason: None,
        messages: 0,
    }
}

fn pick(rng: &mut ChaCha8Rng, from: &[&'static str]) -> &'static str {
    from[rng.random_range(0..from.len())]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn run(seed: u64, rockets: usize, max: u64) -> (Vec<Planned>, Simulation) {
        let mut sim = Simulation::new(seed, rockets, max);
        let planned: Vec<Planned> = sim.by_ref().collect();
        (planned, sim)
    }

    #[test]
    fn same_seed_gives_the_same_sequence_and_fleet() {
        let (a, sa) = run(444, 20, 20_000);
        let (b, sb) = run(444, 20, 20_000);
        assert_eq!(a, b);
        assert_eq!(sa.rockets(), sb.rockets());
        let (c, sc) = run(445, 20, 20_000);
        assert_ne!(a, c);
        assert_ne!(sa.rockets()[0].channel, sc.rockets()[0].channel);
    }

    #[test]
    fn channels_are_distinct_v4_uuids() {
        let sim = Simulation::new(444, 20, 100_000);
        let mut channels: Vec<Uuid> = sim.rockets().iter().map(|r| r.channel).collect();
        assert!(channels.iter().all(|c| c.get_version_num() == 4));
        channels.sort();
        channels.dedup();
        assert_eq!(channels.len(), 20);
    }

    #[test]
    fn numbers_are_contiguous_and_the_launch_comes_first() {
        let (planned, sim) = run(7, 20, 50_000);
        let mut last: HashMap<usize, u64> = HashMap::new();
        for p in &planned {
            let prev = last.insert(p.rocket, p.number).unwrap_or(0);
            assert_eq!(p.number, prev + 1, "rocket {} jumped from {prev}", p.rocket);
            assert_eq!(
                p.number == 1,
                matches!(p.event, Event::Launched { .. }),
                "{p:?}"
            );
        }
        for (index, rocket) in sim.rockets().iter().enumerate() {
            assert_eq!(rocket.messages, last.get(&index).copied().unwrap_or(0));
        }
    }

    #[test]
    fn nothing_follows_an_explosion() {
        for seed in [1, 2, 444] {
            let (planned, _) = run(seed, 20, 100_000);
            let mut exploded = std::collections::HashSet::new();
            for p in &planned {
                assert!(
                    !exploded.contains(&p.rocket),
                    "seed {seed}: message after explosion"
                );
                if matches!(p.event, Event::Exploded { .. }) {
                    exploded.insert(p.rocket);
                }
            }
            assert!(!exploded.is_empty(), "seed {seed}: no rocket exploded");
        }
    }

    #[test]
    fn speeds_stay_in_bounds_in_steps_of_500() {
        let (planned, _) = run(444, 20, 100_000);
        let mut speeds: HashMap<usize, i64> = HashMap::new();
        for p in &planned {
            match p.event {
                Event::Launched { launch_speed, .. } => {
                    assert!(launch_speed >= MIN_SPEED && launch_speed % SPEED_STEP == 0);
                    speeds.insert(p.rocket, launch_speed);
                }
                Event::SpeedIncreased { by } | Event::SpeedDecreased { by } => {
                    assert!(by > 0 && by % SPEED_STEP == 0, "{p:?}");
                    let sign = if matches!(p.event, Event::SpeedIncreased { .. }) {
                        1
                    } else {
                        -1
                    };
                    let speed = speeds.entry(p.rocket).or_default();
                    *speed += sign * by;
                    assert!((MIN_SPEED..=MAX_SPEED).contains(speed), "{p:?} -> {speed}");
                }
                Event::MissionChanged { .. } | Event::Exploded { .. } => {}
            }
        }
    }

    #[test]
    fn the_model_tracks_speed_and_mission() {
        let (planned, sim) = run(3, 5, 5_000);
        for (index, rocket) in sim.rockets().iter().enumerate() {
            let mine = planned.iter().filter(|p| p.rocket == index);
            let (mut speed, mut mission) = (0, "");
            for p in mine {
                match p.event {
                    Event::Launched {
                        launch_speed,
                        mission: m,
                        ..
                    } => {
                        (speed, mission) = (launch_speed, m);
                    }
                    Event::SpeedIncreased { by } => speed += by,
                    Event::SpeedDecreased { by } => speed -= by,
                    Event::MissionChanged { new_mission } => mission = new_mission,
                    Event::Exploded { .. } => {}
                }
            }
            assert_eq!((rocket.speed, rocket.mission), (speed, mission));
        }
    }

    #[test]
    fn default_run_counts_per_rocket_look_like_the_real_program() {
        for seed in [444, 1, 2, 3, 4] {
            let (planned, sim) = run(seed, 20, 100_000);
            assert_eq!(planned.len(), 100_000, "seed {seed}");
            for rocket in sim.rockets() {
                assert!(
                    (300..=7_500).contains(&rocket.messages),
                    "seed {seed}: a rocket got {} messages",
                    rocket.messages
                );
            }
        }
    }

    #[test]
    fn about_thirty_percent_explode_over_several_seeds() {
        let seeds = 0..20;
        let exploded: usize = seeds
            .clone()
            .map(|seed| {
                run(seed, 20, 100_000)
                    .1
                    .rockets()
                    .iter()
                    .filter(|r| r.exploded())
                    .count()
            })
            .sum();
        let share = exploded as f64 / (20.0 * seeds.count() as f64);
        assert!((0.22..=0.38).contains(&share), "share exploded {share}");
    }

    #[test]
    fn the_run_stops_early_when_every_rocket_exploded() {
        // With one rocket there are runs where it is doomed; find one and check the early end.
        let doomed = (0..200)
            .map(|seed| Simulation::new(seed, 1, 1_000))
            .find(|s| s.rockets()[0].explodes_at.is_some());
        let mut sim = doomed.expect("some seed dooms a lone rocket");
        let at = sim.rockets()[0].explodes_at.expect("doomed");
        let count = sim.by_ref().count() as u64;
        assert_eq!(count, at);
        assert!(count < 1_000);
        assert!(sim.rockets()[0].exploded());
    }

    #[test]
    fn events_serialize_as_the_wire_message_object() {
        let launch = Event::Launched {
            rocket_type: "Falcon-9",
            launch_speed: 500,
            mission: "X",
        };
        assert_eq!(
            serde_json::to_value(launch).unwrap(),
            serde_json::json!({"type": "Falcon-9", "launchSpeed": 500, "mission": "X"})
        );
        let change = Event::MissionChanged { new_mission: "Y" };
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            serde_json::json!({"newMission": "Y"})
        );
        let down = Event::SpeedDecreased { by: 1000 };
        assert_eq!(
            serde_json::to_value(down).unwrap(),
            serde_json::json!({"by": 1000})
        );
        assert_eq!(down.message_type(), "RocketSpeedDecreased");
    }
}
