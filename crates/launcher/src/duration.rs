//! Go-style durations (`500ms`, `1m30s`, `1.5h`, `0`), as the real program's flags take them.
//!
//! `humantime` reads `500ms` but not fractions such as `1.5s`, and it accepts units Go does not
//! know (`days`, `min`), so a small parser following Go's `time.ParseDuration` is kept here.

use std::time::Duration;

/// Why a duration text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (use Go syntax such as 500ms, 20ms, 1s, 1m30s)")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

/// Parses a non-negative Go duration: a sequence of decimal numbers, each with an optional
/// fraction and a unit among `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`; or a bare `0`.
///
/// # Errors
/// [`DurationError`] for an empty text, a missing or unknown unit, a negative sign, or a value
/// beyond `u64` nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError {
        text: text.to_owned(),
        reason,
    };
    let s = text.strip_prefix('+').unwrap_or(text);
    if s.starts_with('-') {
        return Err(fail("negative durations are not allowed"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(fail("empty"));
    }

    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        rest = after;

        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(fail("expected a number"));
        }
        if fraction.contains('.') {
            return Err(fail("a number has two decimal points"));
        }
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(fail("missing unit")),
            _ => return Err(fail("unknown unit")),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            digits(whole).ok_or(fail("too large"))?
        };
        // Keep at most 18 fraction digits: beyond that nothing is left of a nanosecond.
        let fraction = &fraction[..fraction.len().min(18)];
        let scale = 10u128.pow(fraction.len() as u32);
        let fraction = if fraction.is_empty() {
            0
        } else {
            digits(fraction).ok_or(fail("too large"))?
        };
        total = whole
            .checked_mul(nanos_per_unit)
            .and_then(|n| n.checked_add(fraction * nanos_per_unit / scale))
            .and_then(|n| total.checked_add(n))
            .ok_or(fail("too large"))?;
    }
    let nanos = u64::try_from(total).map_err(|_| fail("too large"))?;
    Ok(Duration::from_nanos(nanos))
}

fn digits(text: &str) -> Option<u128> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_go_duration(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn accepts_the_real_programs_examples() {
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("20ms"), Duration::from_millis(20));
        assert_eq!(ok("1s"), Duration::from_secs(1));
        assert_eq!(ok("0"), Duration::ZERO);
    }

    #[test]
    fn accepts_sequences_fractions_and_every_unit() {
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1h2m3s4ms5us6ns"), Duration::new(3_723, 4_005_006));
        assert_eq!(ok("1.5s"), Duration::from_millis(1_500));
        assert_eq!(ok(".5h"), Duration::from_secs(1_800));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("2µs"), Duration::from_micros(2));
        assert_eq!(ok("+10s"), Duration::from_secs(10));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "10",
            "1x",
            "ms",
            "1.2.3s",
            "-1s",
            "1 s",
            "1d",
            ".s",
            "99999999999h",
        ] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let message = parse_go_duration("5 min").unwrap_err().to_string();
        assert!(message.contains("\"5 min\""), "{message}");
    }
}
