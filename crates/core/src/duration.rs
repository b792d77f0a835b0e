//! Durations as people write them in a runbook: `15m`, `1h30m`, `72h`, `3d`, `1w`.
//!
//! Days and weeks are exact multiples of 24 hours here; calendar-aware arithmetic
//! (business days, DST) lives in [`crate::policy::Calendar`].

use std::fmt;
use std::str::FromStr;

use jiff::SignedDuration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative length of time, written compactly (see [`Duration::from_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(SignedDuration);

impl Duration {
    pub const ZERO: Duration = Duration(SignedDuration::ZERO);

    /// For constants: `SignedDuration::from_mins` is not `const`.
    pub const fn from_mins_const(mins: i64) -> Self {
        Duration(SignedDuration::from_secs(mins * 60))
    }

    pub fn from_secs(secs: i64) -> Self {
        Duration(SignedDuration::from_secs(secs))
    }

    pub fn from_mins(mins: i64) -> Self {
        Duration(SignedDuration::from_mins(mins))
    }

    pub fn from_hours(hours: i64) -> Self {
        Duration(SignedDuration::from_hours(hours))
    }

    pub fn as_signed(self) -> SignedDuration {
        self.0
    }

    pub fn as_secs(self) -> i64 {
        self.0.as_secs()
    }
}

impl From<Duration> for SignedDuration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid duration {input:?}: {reason} (write it like \"15m\", \"1h30m\", \"72h\" or \"3d\"; units ms, s, m, h, d, w)"
)]
pub struct DurationError {
    input: String,
    reason: String,
}

/// The units, largest first: one grammar for the policy, the CLI and the API.
const UNITS: [(&str, i64); 6] = [
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Longest duration accepted: ten years, far past any deadline, and far
/// from overflowing a timestamp.
const MAX_MILLIS: i64 = 3_650 * 86_400_000;

impl FromStr for Duration {
    type Err = DurationError;

    /// Whole numbers, each followed by a unit, largest unit first:
    /// `90s`, `15m`, `1h30m`, `3d`, `2w`, `500ms`. Nothing else, so that
    /// `15 minutes`, `1y` or `PT15M` get an answer rather than a guess.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| DurationError {
            input: s.to_string(),
            reason,
        };
        let text = s.trim();
        if text.is_empty() {
            return Err(err("it is empty".into()));
        }
        if text.starts_with('-') {
            return Err(err("durations cannot be negative".into()));
        }
        let mut rest = text;
        let mut total: i64 = 0;
        // Index into UNITS of the last unit seen: each must be smaller.
        let mut last: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err(format!("expected a number at {rest:?}")));
            }
            let (number, after) = rest.split_at(digits);
            let letters = after
                .bytes()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            let (unit, after) = after.split_at(letters);
            if unit.is_empty() {
                let reason = match after.chars().next() {
                    None => format!("{number} needs a unit"),
                    Some('.') | Some(',') => {
                        "whole numbers only; write 1h30m rather than 1.5h".into()
                    }
                    Some(' ') => "no spaces; write 15m rather than 15 minutes".into(),
                    Some(c) => format!("unexpected {c:?} after {number}"),
                };
                return Err(err(reason));
            }
            let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(err(format!("unknown unit {unit:?}")));
            };
            if last.is_some_and(|l| index <= l) {
                return Err(err("units go largest first, each once, as in 1h30m".into()));
            }
            last = Some(index);
            let value = number
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(UNITS[index].1))
                .and_then(|ms| total.checked_add(ms))
                .filter(|&ms| ms <= MAX_MILLIS)
                .ok_or_else(|| err("longer than ten years".into()))?;
            total = value;
            rest = after;
        }
        Ok(Duration(SignedDuration::from_millis(total)))
    }
}

impl fmt::Display for Duration {
    /// Prints the compact friendly form, e.g. 90 minutes → `1h30m`, half a
    /// second → `500ms` (a check's timeout can be that short).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let millis = self.0.subsec_millis();
        if secs == 0 && millis == 0 {
            return f.write_str("0s");
        }
        let (d, h, m, s) = (
            secs / 86_400,
            secs % 86_400 / 3600,
            secs % 3600 / 60,
            secs % 60,
        );
        for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if millis > 0 {
            write!(f, "{millis}ms")?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runbook_durations() {
        assert_eq!("15m".parse::<Duration>().unwrap(), Duration::from_mins(15));
        assert_eq!(
            "1h30m".parse::<Duration>().unwrap(),
            Duration::from_mins(90)
        );
        assert_eq!("72h".parse::<Duration>().unwrap(), Duration::from_hours(72));
        assert_eq!("3d".parse::<Duration>().unwrap(), Duration::from_hours(72));
        assert_eq!("1w".parse::<Duration>().unwrap(), Duration::from_hours(168));
        assert_eq!("30s".parse::<Duration>().unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        let e = "soon".parse::<Duration>().unwrap_err().to_string();
        assert!(e.contains("\"soon\"") && e.contains("15m"), "{e}");
        assert!("-5m".parse::<Duration>().is_err());
    }

    /// One grammar: what the docs list and nothing else, each refusal
    /// saying what to write instead.
    #[test]
    fn one_grammar_with_friendly_refusals() {
        let refusal = |text: &str| text.parse::<Duration>().unwrap_err().to_string();
        for (text, says) in [
            ("1y", "unknown unit \"y\""),
            ("15 minutes", "no spaces"),
            ("2 hours", "no spaces"),
            ("PT15M", "expected a number"),
            ("1.5h", "whole numbers only"),
            ("30m1h", "largest first"),
            ("1h1h", "largest first"),
            ("15", "needs a unit"),
            ("", "empty"),
            ("99999999999w", "ten years"),
        ] {
            let e = refusal(text);
            assert!(e.contains(says), "{text:?}: {e}");
            assert!(e.contains("units ms, s, m, h, d, w"), "{e}");
            assert!(!e.to_lowercase().contains("span"), "no jiff internals: {e}");
        }
        assert_eq!("2w".parse::<Duration>().unwrap(), Duration::from_hours(336));
        assert_eq!(
            "1d2h3m4s5ms".parse::<Duration>().unwrap().as_signed(),
            SignedDuration::from_millis(93_784_005)
        );
        assert_eq!(
            " 15m ".parse::<Duration>().unwrap(),
            Duration::from_mins(15)
        );
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(Duration::from_mins(90).to_string(), "1h30m");
        assert_eq!(Duration::from_hours(24).to_string(), "1d");
        assert_eq!(Duration::from_secs(30).to_string(), "30s");
        for text in ["200ms", "1s500ms", "0s"] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string(), text, "sub-second parts survive a round trip");
        }
    }
}
