//! The clock guard: a replica whose clock disagrees with the database's
//! stops claiming timed work until it agrees again.
//!
//! Timers, notification claims and singleton leases are instants written by
//! one replica and compared by another. A replica an hour fast would fire
//! every escalation an hour early and take over every lease; one an hour
//! slow would page an hour late and send again what another replica holds.
//! The database's clock is the one reference all replicas share, so each
//! replica measures itself against it at start and every
//! [`CHECK_EVERY`]: [`READINGS`] round trips, keeping the one with the
//! shortest round trip, whose offset is known to within half of it.
//!
//! When the offset is beyond the bound (default 2 s) by more than that
//! uncertainty, [`Clock::trusted`] turns false: the scheduler, the
//! dispatcher and the alert processor claim nothing, singleton leases are
//! released so another replica takes them at once, and `/ready` answers 503
//! with the offset. Requests are still served: an acknowledgement at 3 a.m.
//! is not refused, though it is stamped with this replica's time.
//!
//! With SQLite the database's clock is this machine's, so a skew can only be
//! a clock that does not follow the system's (tests use [`OffsetClock`]).
//!
//! [`OffsetClock`]: crate::clock::OffsetClock

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use firebell_core::Timestamp;
use firebell_store::Store;
use jiff::SignedDuration;
use serde::Serialize;

use crate::clock::Clock;

/// How often the clock is measured again.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);
/// Round trips per measurement.
pub const READINGS: usize = 3;
/// The default bound on the offset.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(2);

/// One round trip to the database's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Our clock before and after the query, and the database's answer.
    pub sent: Timestamp,
    pub received: Timestamp,
    pub database: Timestamp,
}

/// What a measurement found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Measurement {
    /// Our clock minus the database's (positive: we are ahead).
    #[serde(serialize_with = "as_ms")]
    pub offset: SignedDuration,
    /// Half the round trip: the true offset is within this of `offset`.
    #[serde(serialize_with = "as_ms")]
    pub uncertainty: SignedDuration,
    /// When (by the database's clock).
    pub at: Timestamp,
}

fn as_ms<S: serde::Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Measurement {
    /// From round trips, the one with the shortest: it says the most.
    pub fn from_readings(readings: &[Reading]) -> Option<Measurement> {
        let best = readings
            .iter()
            .filter(|r| r.received >= r.sent)
            .min_by_key(|r| r.received.duration_since(r.sent))?;
        let half = best.received.duration_since(best.sent) / 2;
        let midpoint = best.sent + half;
        Some(Measurement {
            offset: midpoint.duration_since(best.database),
            uncertainty: half,
            at: best.database,
        })
    }

    /// Whether the offset is surely beyond `max`, whatever the round trip hid.
    pub fn beyond(&self, max: SignedDuration) -> bool {
        self.offset.abs() > max + self.uncertainty
    }
}

/// A server's clock with the guard's verdict on it; what every component
/// holds as its [`Clock`].
pub struct ClockGuard {
    inner: Arc<dyn Clock>,
    max_skew: SignedDuration,
    skewed: AtomicBool,
    last: Mutex<Option<Measurement>>,
}

impl ClockGuard {
    pub fn new(inner: Arc<dyn Clock>, max_skew: Duration) -> ClockGuard {
        ClockGuard {
            inner,
            max_skew: SignedDuration::try_from(max_skew).unwrap_or(SignedDuration::MAX),
            skewed: AtomicBool::new(false),
            last: Mutex::new(None),
        }
    }

    /// Measure against the database's clock and update the verdict. A clock
    /// that does not follow real time is not measured. A database error
    /// leaves the verdict as it was (the database being down is reported
    /// on its own).
    pub async fn check(&self, store: &Store) -> Option<Measurement> {
        if !self.inner.follows_real_time() {
            return None;
        }
        let mut readings = Vec::with_capacity(READINGS);
        for _ in 0..READINGS {
            let sent = self.inner.now();
            match store.database_time().await {
                Ok(database) => readings.push(Reading {
                    sent,
                    received: self.inner.now(),
                    database,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the database's clock");
                    return None;
                }
            }
        }
        let m = Measurement::from_readings(&readings)?;
        self.record(m);
        Some(m)
    }

    fn record(&self, m: Measurement) {
        let skewed = m.beyond(self.max_skew);
        let was = self.skewed.swap(skewed, Ordering::SeqCst);
        metrics::gauge!("firebell_clock_skew_seconds").set(m.offset.as_secs_f64());
        metrics::gauge!("firebell_clock_skewed").set(if skewed { 1.0 } else { 0.0 });
        if skewed && !was {
            tracing::error!(
                offset_ms = m.offset.as_millis() as i64,
                uncertainty_ms = m.uncertainty.as_millis() as i64,
                max_ms = self.max_skew.as_millis() as i64,
                "this replica's clock disagrees with the database's; it claims no timers, notifications or leases until they agree"
            );
        } else if was && !skewed {
            tracing::info!(
                offset_ms = m.offset.as_millis() as i64,
                "clock agrees with the database's again; claiming timed work"
            );
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
    }

    /// The last measurement, if any.
    pub fn last(&self) -> Option<Measurement> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn max_skew(&self) -> SignedDuration {
        self.max_skew
    }

    /// The `clock` section of `/ready`, and whether it is fine.
    pub fn report(&self) -> (bool, serde_json::Value) {
        let ok = self.trusted();
        let mut body = serde_json::json!({
            "ok": ok,
            "measured": self.inner.follows_real_time(),
            "max_skew_ms": self.max_skew.as_millis() as i64,
        });
        if let Some(m) = self.last() {
            body["offset_ms"] = (m.offset.as_millis() as i64).into();
            body["uncertainty_ms"] = (m.uncertainty.as_millis() as i64).into();
            body["checked_at"] = m.at.to_string().into();
        }
        if !ok {
            body["error"] = "this replica's clock disagrees with the database's by more than max_skew_ms; it claims no timed work".into();
        }
        (ok, body)
    }
}

impl Clock for ClockGuard {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    fn follows_real_time(&self) -> bool {
        self.inner.follows_real_time()
    }

    fn trusted(&self) -> bool {
        !self.skewed.load(Ordering::SeqCst)
    }
}

/// Measure every [`CHECK_EVERY`] until the task is dropped.
pub async fn run(guard: Arc<ClockGuard>, store: Store) {
    if !guard.follows_real_time() {
        return;
    }
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        guard.check(&store).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn reading(sent: &str, database: &str, received: &str) -> Reading {
        Reading {
            sent: at(sent),
            received: at(received),
            database: at(database),
        }
    }

    #[test]
    fn the_shortest_round_trip_is_believed() {
        let m = Measurement::from_readings(&[
            // 400 ms round trip, database seemingly 1.2 s behind.
            reading(
                "2026-12-04T10:00:00Z",
                "2026-12-04T09:59:59Z",
                "2026-12-04T10:00:00.4Z",
            ),
            // 20 ms round trip: we are 3 s ahead.
            reading(
                "2026-12-04T10:00:01Z",
                "2026-12-04T09:59:58.01Z",
                "2026-12-04T10:00:01.02Z",
            ),
        ])
        .unwrap();
        assert_eq!(m.offset, SignedDuration::from_secs(3));
        assert_eq!(m.uncertainty, SignedDuration::from_millis(10));
        assert_eq!(m.at, at("2026-12-04T09:59:58.01Z"));
    }

    #[test]
    fn a_skew_counts_only_when_it_is_beyond_the_bound_and_the_doubt() {
        let max = SignedDuration::from_secs(2);
        let m = |offset_ms: i64, half_rtt_ms: i64| Measurement {
            offset: SignedDuration::from_millis(offset_ms),
            uncertainty: SignedDuration::from_millis(half_rtt_ms),
            at: Timestamp::UNIX_EPOCH,
        };
        assert!(!m(1_900, 0).beyond(max));
        assert!(m(2_100, 0).beyond(max));
        assert!(m(-2_100, 0).beyond(max), "slow clocks are as bad as fast");
        assert!(!m(2_100, 200).beyond(max), "a slow round trip leaves doubt");
        assert!(m(3_600_000, 200).beyond(max));
    }

    #[test]
    fn no_usable_reading_is_no_measurement() {
        assert_eq!(Measurement::from_readings(&[]), None);
        // Our clock stepped back during the query: the reading says nothing.
        assert_eq!(
            Measurement::from_readings(&[reading(
                "2026-12-04T10:00:01Z",
                "2026-12-04T10:00:00Z",
                "2026-12-04T10:00:00Z"
            )]),
            None
        );
    }

    #[tokio::test]
    async fn a_wrong_clock_is_not_trusted_until_it_is_right_again() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let clock = crate::clock::OffsetClock::new(SignedDuration::from_secs(3600));
        let guard = ClockGuard::new(Arc::new(clock.clone()), DEFAULT_MAX_SKEW);
        assert!(guard.trusted(), "trusted until measured");
        let m = guard.check(&store).await.unwrap();
        assert!(m.offset > SignedDuration::from_secs(3599), "{m:?}");
        assert!(!guard.trusted());
        assert!(!guard.report().0);
        clock.set_offset(SignedDuration::from_millis(-1500));
        guard.check(&store).await.unwrap();
        assert!(guard.trusted(), "1.5 s slow is within the 2 s bound");
        clock.set_offset(SignedDuration::from_secs(-5));
        guard.check(&store).await.unwrap();
        assert!(!guard.trusted());
    }

    #[tokio::test]
    async fn a_manual_clock_is_never_measured() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let clock = crate::clock::ManualClock::new(at("2000-01-01T00:00:00Z"));
        let guard = ClockGuard::new(Arc::new(clock), DEFAULT_MAX_SKEW);
        assert_eq!(guard.check(&store).await, None);
        assert!(guard.trusted());
    }
}
