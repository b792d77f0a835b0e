//! Heartbeats and health checks, the server's half: the sockets, the timers
//! and the memory between probes. What each observation means (fire,
//! resolve, nothing) is decided by [`firebell_core::alert::health`]; the
//! alerts it produces enter through [`crate::ingest::IngestQueue::submit`]
//! like any other source, so routing, grouping, silences, maintenance and
//! incidents treat them the same.
//!
//! - [`checks`]: the runner that probes every `[[checks]]` entry on its
//!   interval, spread over it and bounded in flight; [`checks::run_check_once`]
//!   for tests.
//! - [`heartbeats`]: the monitor that notices a `[[heartbeats]]` entry that
//!   stopped pinging; [`heartbeats::check_heartbeats_once`] for tests.
//! - `probe`: one HTTP or TCP probe, its failure described for people.
//!
//! **Restarts.** Heartbeat pings are in the store. Whether a monitor's alert
//! is firing is read back from the alert itself (key `check:<name>` /
//! `heartbeat:<name>`) the first time a monitor is seen, so a success after a
//! restart still resolves it. A report is committed to memory only after
//! the ingest queue stored it: a failed submission is simply made again on
//! the next observation, and reporting a firing alert twice is harmless
//! (alerts merge by key).
//!
//! **Replicas.** One replica runs the monitors: the holder of a lease row
//! (`health-checks`, `heartbeat-monitor`), renewed every 5 s for 15 s. If it
//! stops, another takes over within 15 s and reads the alerts' state back as
//! after a restart. (Were two ever to run at once, their reports would merge
//! by key: duplicate probes, never duplicate incidents.)

pub mod checks;
pub mod heartbeats;
mod probe;

/// A singleton duty's lease, as its background loop sees it.
pub(crate) struct Lease {
    name: &'static str,
    renew_at: Option<std::time::Instant>,
    held: bool,
}

/// How long a lease lasts, and how often its holder renews it.
const LEASE_TTL: jiff::SignedDuration = jiff::SignedDuration::from_secs(15);
const LEASE_RENEW: Duration = Duration::from_secs(5);

impl Lease {
    pub(crate) fn new(name: &'static str) -> Lease {
        Lease {
            name,
            renew_at: None,
            held: false,
        }
    }

    /// [`Lease::hold`] for a loop that keeps its lease behind a mutex.
    pub(crate) async fn held(
        lease: &tokio::sync::Mutex<Lease>,
        store: &Store,
        clock: &dyn Clock,
        replica: &str,
    ) -> bool {
        lease.lock().await.hold(store, clock, replica).await
    }

    /// Whether `replica` holds the lease now (taking or renewing it when due).
    pub(crate) async fn hold(&mut self, store: &Store, clock: &dyn Clock, replica: &str) -> bool {
        let now = std::time::Instant::now();
        if !clock.trusted() {
            // Our "until" would be wrong for everyone else: let go now, so
            // another replica takes the duty without waiting it out.
            if self.held {
                if let Err(e) = store.release_lease(self.name, replica).await {
                    tracing::warn!(lease = self.name, error = %e, "cannot release a lease");
                }
                tracing::info!(
                    lease = self.name,
                    "lease released: the clock is not trusted"
                );
                self.held = false;
            }
            self.renew_at = None;
            return false;
        }
        if self.renew_at.is_some_and(|at| now < at) {
            return self.held;
        }
        let at = clock.now();
        let held = match store
            .try_lease(self.name, replica, at, at + LEASE_TTL)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = self.name, error = %e, "cannot renew a lease; pausing its duty");
                false
            }
        };
        if held != self.held {
            tracing::info!(lease = self.name, held, "lease changed hands");
        }
        self.held = held;
        // Not held: look again soon, so a lapsed holder is replaced quickly.
        self.renew_at = Some(
            now + if held {
                LEASE_RENEW
            } else {
                Duration::from_secs(1)
            },
        );
        held
    }
}

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use firebell_core::Timestamp;
use firebell_core::alert::health::{CheckTracker, ProbeResult};
use firebell_core::alert::{Alert, AlertSource, IncomingAlert, LabelSet};
use firebell_store::{AlertFilter, Store, StoreError};
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::ingest::{IngestError, Pipeline};

/// Probes in flight at once, across all checks.
pub const MAX_PROBES_IN_FLIGHT: usize = 256;

/// How often a full ingest queue is retried before a report waits for the
/// next observation.
const SUBMIT_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("no check named {0:?} in the policy")]
    UnknownCheck(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not report the alert: {0}")]
    Ingest(#[from] IngestError),
}

/// The monitors' handles: the checks runner and the heartbeat monitor.
#[derive(Clone)]
pub struct Monitors {
    pipeline: Pipeline,
    /// Their memory between observations.
    pub health: HealthState,
    /// This process among replicas (the monitors' lease holder).
    replica: Arc<str>,
    /// Heartbeats never seen are waited for from the server's start.
    started_at: Timestamp,
}

impl Monitors {
    pub fn new(
        pipeline: Pipeline,
        health: HealthState,
        replica: Arc<str>,
        started_at: Timestamp,
    ) -> Monitors {
        Monitors {
            pipeline,
            health,
            replica,
            started_at,
        }
    }
}

/// The monitors' shared memory (see [`Monitors`]).
#[derive(Clone)]
pub struct HealthState {
    inner: Arc<Inner>,
}

struct Inner {
    /// One client for every HTTP probe (no connection reuse: see [`probe`]).
    http: reqwest::Client,
    probes: Arc<Semaphore>,
    checks: Mutex<HashMap<String, CheckEntry>>,
    heartbeats: Mutex<HeartbeatsMemory>,
}

/// What the server remembers about one check.
#[derive(Clone, Debug, Default)]
pub struct CheckEntry {
    pub tracker: CheckTracker,
    /// Whether `tracker.firing` was read back from the store yet.
    restored: bool,
    /// The latest probe, once one ran.
    pub last: Option<LastProbe>,
    /// A probe is running now (the runner starts no second one).
    running: bool,
}

/// One probe's result, for `GET /api/v1/checks`.
#[derive(Clone, Debug)]
pub struct LastProbe {
    pub at: Timestamp,
    pub result: ProbeResult,
    pub duration: Duration,
}

#[derive(Default)]
struct HeartbeatsMemory {
    /// The first round has run: heartbeats seen later were added by a reload.
    started: bool,
    entries: HashMap<String, HeartbeatEntry>,
}

#[derive(Clone, Copy, Debug)]
struct HeartbeatEntry {
    firing: bool,
    restored: bool,
    /// When Firebell began waiting for a heartbeat that never pinged.
    waiting_since: Timestamp,
}

impl HealthState {
    pub fn new() -> anyhow::Result<HealthState> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("firebell-health-check/", env!("CARGO_PKG_VERSION")))
            // A fresh connection per probe: what a new visitor gets, and no
            // false alarm from a keep-alive connection the server dropped.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the health-check HTTP client: {e}"))?;
        Ok(HealthState {
            inner: Arc::new(Inner {
                http,
                probes: Arc::new(Semaphore::new(MAX_PROBES_IN_FLIGHT)),
                checks: Mutex::default(),
                heartbeats: Mutex::default(),
            }),
        })
    }

    fn checks(&self) -> MutexGuard<'_, HashMap<String, CheckEntry>> {
        self.inner.checks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn heartbeats(&self) -> MutexGuard<'_, HeartbeatsMemory> {
        self.inner
            .heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// What is known about a check (a default entry if it never ran).
    pub fn check(&self, name: &str) -> CheckEntry {
        self.checks().get(name).cloned().unwrap_or_default()
    }

    /// When Firebell began waiting for a heartbeat that never pinged, if the
    /// monitor has seen it.
    pub fn heartbeat_waiting_since(&self, name: &str) -> Option<Timestamp> {
        self.heartbeats().entries.get(name).map(|e| e.waiting_since)
    }

    /// Mark a check running; false if it already is.
    fn begin(&self, name: &str) -> bool {
        let mut checks = self.checks();
        let entry = checks.entry(name.to_string()).or_default();
        !std::mem::replace(&mut entry.running, true)
    }

    fn end(&self, name: &str) {
        if let Some(entry) = self.checks().get_mut(name) {
            entry.running = false;
        }
    }

    /// Forget monitors the policy no longer has.
    fn retain_checks(&self, names: &BTreeSet<&str>) {
        self.checks().retain(|n, _| names.contains(n.as_str()));
    }
}

/// Whether the alert stored under `key` is firing now (read once per monitor
/// after a start, so a success resolves what fired before a restart).
async fn stored_firing(
    state: &Monitors,
    key: &str,
    source: AlertSource,
) -> Result<bool, StoreError> {
    crate::ingest::settle(&state.pipeline).await?;
    let now = state.pipeline.clock.now();
    Ok(state
        .pipeline
        .store
        .get_alert(key)
        .await?
        .is_some_and(|a| a.source == source && a.is_firing(now)))
}

/// Hand alerts to the ingest queue, retrying briefly while it is full.
async fn submit(state: &Monitors, alerts: Vec<IncomingAlert>) -> Result<(), IngestError> {
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=SUBMIT_ATTEMPTS {
        match state.pipeline.ingest.submit(alerts.clone()).await {
            Err(IngestError::Full | IngestError::Backlog(_)) if attempt < SUBMIT_ATTEMPTS => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    Err(IngestError::Full)
}

/// Count and log a monitor's report.
fn reported(source: &'static str, alerts: &[IncomingAlert], now: Timestamp) {
    for a in alerts {
        let transition = if a.ends_at.is_some_and(|end| end <= now) {
            "resolved"
        } else {
            "fired"
        };
        metrics::counter!("firebell_monitor_alerts_total", "source" => source, "transition" => transition)
            .increment(1);
        tracing::info!(key = %a.key, transition, "{source} alert reported");
    }
}

fn report_failed(source: &'static str, error: &dyn std::fmt::Display) {
    metrics::counter!("firebell_monitor_report_errors_total", "source" => source).increment(1);
    tracing::warn!(%error, "{source} alert not reported; it is reported again at the next observation");
}

/// Resolve the firing alerts of heartbeats and checks the policy no longer
/// has (removed or renamed by a reload, or while Firebell was down): nothing
/// would ever resolve them otherwise. Returns how many. The heartbeat
/// monitor calls this whenever the policy changes.
pub async fn resolve_removed_monitors(state: &Monitors) -> Result<usize, HealthError> {
    crate::ingest::settle(&state.pipeline).await?;
    let policy = state.pipeline.policy.policy();
    let now = state.pipeline.clock.now();
    let heartbeats: BTreeSet<&str> = policy.heartbeats.iter().map(|h| h.name.as_str()).collect();
    let checks: BTreeSet<&str> = policy.checks.iter().map(|c| c.name.as_str()).collect();
    let removed = |a: &Alert| {
        let (prefix, names) = match a.source {
            AlertSource::Heartbeat => ("heartbeat:", &heartbeats),
            AlertSource::Check => ("check:", &checks),
            _ => return false,
        };
        a.key
            .strip_prefix(prefix)
            .is_some_and(|name| !names.contains(name))
    };
    let retired: Vec<IncomingAlert> = state
        .pipeline
        .store
        .list_alerts(&AlertFilter {
            incident_id: None,
            firing_at: Some(now),
            limit: 0,
            after: None,
            labels: Vec::new(),
        })
        .await?
        .into_iter()
        .filter(|a| removed(a))
        .map(|a| {
            let summary = a.annotations.get("summary").cloned().unwrap_or_default();
            IncomingAlert {
                source: a.source,
                annotations: LabelSet::from([
                    ("summary".to_string(), summary),
                    (
                        "description".to_string(),
                        "Resolved: the policy no longer has this monitor.".to_string(),
                    ),
                ]),
                starts_at: a.starts_at,
                ends_at: Some(now),
                generator_url: a.generator_url,
                service: None,
                severity: None,
                key: a.key,
                labels: a.labels,
            }
        })
        .collect();
    if retired.is_empty() {
        return Ok(0);
    }
    let n = retired.len();
    submit(state, retired.clone()).await?;
    reported("monitor", &retired, now);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OffsetClock;
    use crate::skew::{ClockGuard, DEFAULT_MAX_SKEW};
    use jiff::SignedDuration;

    #[tokio::test]
    async fn a_lease_is_let_go_when_the_clock_is_not_trusted() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let clock = OffsetClock::new(SignedDuration::ZERO);
        let guard = ClockGuard::new(Arc::new(clock.clone()), DEFAULT_MAX_SKEW);
        let mut lease = Lease::new("health-checks");
        assert!(lease.hold(&store, &guard, "a").await);
        let other = |now: Timestamp| {
            let store = store.clone();
            async move {
                store
                    .try_lease("health-checks", "b", now, now + LEASE_TTL)
                    .await
                    .unwrap()
            }
        };
        assert!(!other(Timestamp::now()).await, "held by a");

        // An hour fast: a's lease would have kept b out for an hour.
        clock.set_offset(SignedDuration::from_secs(3600));
        guard.check(&store).await.unwrap();
        assert!(!lease.hold(&store, &guard, "a").await);
        assert!(other(Timestamp::now()).await, "released at once");
    }
}
