//! Where "now" comes from. The server asks a [`Clock`]; production uses the
//! system clock, tests use [`ManualClock`] and move time by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use firebell_core::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Whether this clock claims to tell real time, so that comparing it
    /// with the database's clock means something. A manual clock does not.
    fn follows_real_time(&self) -> bool {
        false
    }

    /// Whether timed work may be claimed on this clock's word now: false
    /// while it disagrees with the database's (see [`crate::skew`]).
    fn trusted(&self) -> bool {
        true
    }
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn follows_real_time(&self) -> bool {
        true
    }
}

/// The wall clock, off by an offset that can be changed while it runs:
/// how tests make one replica's clock wrong.
#[derive(Clone, Debug, Default)]
pub struct OffsetClock(Arc<AtomicI64>);

impl OffsetClock {
    pub fn new(offset: jiff::SignedDuration) -> Self {
        let clock = OffsetClock::default();
        clock.set_offset(offset);
        clock
    }

    pub fn set_offset(&self, offset: jiff::SignedDuration) {
        let ms = i64::try_from(offset.as_millis()).unwrap_or(i64::MAX);
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let offset = jiff::SignedDuration::from_millis(self.0.load(Ordering::Relaxed));
        Timestamp::now()
            .saturating_add(offset)
            .unwrap_or(Timestamp::MAX)
    }

    fn follows_real_time(&self) -> bool {
        true
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
