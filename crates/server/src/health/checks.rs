//! The health-check runner: every `[[checks]]` entry probed on its interval.
//!
//! Thousands of checks must not fire in the same millisecond, so each one's
//! first probe is placed in its interval by a hash of its name
//! ([`spread_offset_ms`]) and it keeps that rhythm. Probes run concurrently,
//! at most [`super::MAX_PROBES_IN_FLIGHT`] at once, and a check whose previous probe
//! is still running is not started again (its timeout is shorter than its
//! interval, so that only happens when probes queue for a slot). A policy
//! reload takes effect at the next tick: new checks are scheduled and
//! removed ones forgotten (their firing alerts are resolved by
//! [`super::resolve_removed_monitors`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebell_core::Policy;
use firebell_core::alert::AlertSource;
use firebell_core::alert::health::{
    CheckPhase, ProbeResult, check_key, observe_check, spread_offset_ms,
};
use firebell_core::policy::{CheckKind, HealthCheck};

use super::{
    HealthError, LastProbe, Monitors, probe, report_failed, reported, stored_firing, submit,
};

/// The runner looks at the schedule at least this often (policy reloads).
const TICK: Duration = Duration::from_secs(1);

/// What one probe did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRun {
    pub result: ProbeResult,
    /// Where the check stands afterwards.
    pub phase: CheckPhase,
    /// The probe fired or resolved the check's alert (and it was stored).
    pub reported: bool,
}

/// Probe check `name` once now and report what changed. Tests drive checks
/// with this; the runner does the same on its schedule.
pub async fn run_check_once(state: &Monitors, name: &str) -> Result<CheckRun, HealthError> {
    let policy = state.pipeline.policy.policy();
    let check = policy
        .checks
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| HealthError::UnknownCheck(name.to_string()))?;
    probe_and_report(state, &policy, check).await
}

/// Probe every check once, concurrently (bounded like the runner), and wait
/// for all of them. Results in policy order.
pub async fn run_all_checks_once(state: &Monitors) -> Vec<(String, Result<CheckRun, HealthError>)> {
    let policy = state.pipeline.policy.policy();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, check) in policy.checks.iter().enumerate() {
        let (state, policy, check) = (state.clone(), policy.clone(), check.clone());
        tasks.spawn(async move { (i, probe_and_report(&state, &policy, &check).await) });
    }
    let mut results: Vec<Option<Result<CheckRun, HealthError>>> =
        policy.checks.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, result)) => results[i] = Some(result),
            Err(e) => tracing::error!(error = %e, "a check probe task failed"),
        }
    }
    policy
        .checks
        .iter()
        .zip(results)
        .filter_map(|(c, r)| Some((c.name.clone(), r?)))
        .collect()
}

async fn probe_and_report(
    state: &Monitors,
    policy: &Policy,
    check: &HealthCheck,
) -> Result<CheckRun, HealthError> {
    let health = &state.health;
    let name = check.name.as_str();
    // One slot for the store read and the probe; the semaphore is never
    // closed, and without a permit the probe would still run.
    let permit = health.inner.probes.clone().acquire_owned().await.ok();
    if !health.check(name).restored {
        let firing = stored_firing(state, &check_key(name), AlertSource::Check).await?;
        let mut checks = health.checks();
        let entry = checks.entry(name.to_string()).or_default();
        if !entry.restored {
            entry.restored = true;
            entry.tracker.firing |= firing;
        }
    }
    let started = Instant::now();
    let result = probe::run(&health.inner.http, check).await;
    let duration = started.elapsed();
    drop(permit);
    let kind = match check.kind {
        Some(CheckKind::Tcp) => "tcp",
        _ => "http",
    };
    metrics::histogram!("firebell_check_duration_seconds", "kind" => kind)
        .record(duration.as_secs_f64());
    let outcome = match &result {
        Ok(()) => "up",
        Err(f) => f.kind(),
    };
    metrics::counter!("firebell_checks_total", "check" => name.to_string(), "result" => outcome)
        .increment(1);
    if let Err(failure) = &result {
        tracing::debug!(check = name, %failure, "check failed");
    }

    let now = state.pipeline.clock.now();
    let outcome = {
        let mut checks = health.checks();
        let entry = checks.entry(name.to_string()).or_default();
        let outcome = observe_check(policy, check, &entry.tracker, &result, now);
        entry.last = Some(LastProbe {
            at: now,
            result: result.clone(),
            duration,
        });
        if outcome.alert.is_none() {
            entry.tracker = outcome.tracker.clone();
        }
        outcome
    };
    let Some(alert) = outcome.alert else {
        return Ok(CheckRun {
            result,
            phase: outcome.tracker.phase(),
            reported: false,
        });
    };
    let alerts = vec![alert];
    match submit(state, alerts.clone()).await {
        Ok(()) => {
            reported("check", &alerts, now);
            if let Some(entry) = health.checks().get_mut(name) {
                entry.tracker = outcome.tracker.clone();
            }
            Ok(CheckRun {
                result,
                phase: outcome.tracker.phase(),
                reported: true,
            })
        }
        Err(e) => {
            report_failed("check", &e);
            Err(e.into())
        }
    }
}

/// Run the checks on their schedules until the task is dropped.
pub async fn run(state: Monitors) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    let mut seen: Option<Arc<Policy>> = None;
    let mut lease = super::Lease::new("health-checks");
    loop {
        if !lease
            .hold(
                &state.pipeline.store,
                state.pipeline.clock.as_ref(),
                &state.replica,
            )
            .await
        {
            // Another replica runs the checks; start afresh if we take over.
            due.clear();
            tokio::time::sleep(TICK).await;
            continue;
        }
        let policy = state.pipeline.policy.policy();
        if seen.as_ref().is_none_or(|p| !Arc::ptr_eq(p, &policy)) {
            let names: BTreeSet<&str> = policy.checks.iter().map(|c| c.name.as_str()).collect();
            due.retain(|n, _| names.contains(n.as_str()));
            state.health.retain_checks(&names);
            seen = Some(policy.clone());
        }
        let now = Instant::now();
        let mut next = now + TICK;
        for check in &policy.checks {
            let interval = check.interval().as_signed().unsigned_abs();
            let at = due.entry(check.name.clone()).or_insert_with(|| {
                now + Duration::from_millis(spread_offset_ms(&check.name, check.interval()))
            });
            if *at <= now {
                // Keep the rhythm; after a stall, skip the missed rounds.
                *at += interval;
                if *at <= now {
                    *at = now + interval;
                }
                if state.health.begin(&check.name) {
                    let (state, policy, check) = (state.clone(), policy.clone(), check.clone());
                    tokio::spawn(async move {
                        if let Err(e) = probe_and_report(&state, &policy, &check).await {
                            tracing::warn!(check = %check.name, error = %e, "check round failed");
                        }
                        state.health.end(&check.name);
                    });
                } else {
                    metrics::counter!("firebell_checks_skipped_total", "check" => check.name.clone())
                        .increment(1);
                }
            }
            next = next.min(*at);
        }
        tokio::time::sleep_until(next.into()).await;
    }
}
