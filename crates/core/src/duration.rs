//! Durations as people write them in a runbook: `15m`, `1h30m`, `72h`, `3d`, `1w`.
//!
//! Days and weeks are exact multiples of 24 hours here; calendar-aware arithmetic
//! (business days, DST) lives in [`crate::policy::Calendar`].

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative length of time, parsed from jiff's "friendly" format.
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
    "invalid duration {input:?}: {reason} (write it like \"15m\", \"1h30m\", \"72h\" or \"3d\")"
)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| DurationError {
            input: s.to_string(),
            reason,
        };
        let span: Span = s
            .trim()
            .parse()
            .map_err(|e: jiff::Error| err(e.to_string()))?;
        let d = span
            .to_duration(SpanRelativeTo::days_are_24_hours())
            .map_err(|e| err(e.to_string()))?;
        if d.is_negative() {
            return Err(err("durations cannot be negative".into()));
        }
        Ok(Duration(d))
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
