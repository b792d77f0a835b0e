//! The heartbeat monitor: every second, is any `[[heartbeats]]` entry
//! missing?
//!
//! A ping (`POST /api/v1/heartbeats/{name}`) only writes the time to the
//! store; this monitor compares each heartbeat's last ping with its
//! `interval + grace` and reports the alert when that changes: missing →
//! firing, pinged again → resolved. Reading the pings from the store each
//! round keeps it right across restarts and replicas. A heartbeat that never
//! pinged is counted from when the server started (or from the reload that
//! added it).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use firebell_core::alert::health::{LastPing, heartbeat_key, observe_heartbeat};
use firebell_core::alert::{AlertSource, Labels};
use firebell_core::{Policy, Timestamp};

use super::{
    HealthError, HeartbeatEntry, Monitors, report_failed, reported, resolve_removed_monitors,
    stored_firing, submit,
};

/// How often the monitor looks.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What one round reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatRound {
    pub fired: usize,
    pub resolved: usize,
}

/// Run the monitor until the task is dropped.
pub async fn run(state: Monitors) {
    let mut seen: Option<Arc<Policy>> = None;
    let mut lease = super::Lease::new("heartbeat-monitor");
    loop {
        if !lease
            .hold(
                &state.pipeline.store,
                state.pipeline.clock.as_ref(),
                &state.replica,
            )
            .await
        {
            tokio::time::sleep(CHECK_EVERY).await;
            continue;
        }
        let policy = state.pipeline.policy.policy();
        if seen.as_ref().is_none_or(|p| !Arc::ptr_eq(p, &policy)) {
            // Retried every round until it works.
            match resolve_removed_monitors(&state).await {
                Ok(_) => seen = Some(policy.clone()),
                Err(e) => report_failed("monitor", &e),
            }
        }
        if let Err(e) = check_heartbeats_once(&state).await {
            report_failed("heartbeat", &e);
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// One round: report every heartbeat whose missing/pinged state changed.
/// Tests call this directly with the manual clock.
pub async fn check_heartbeats_once(state: &Monitors) -> Result<HeartbeatRound, HealthError> {
    let policy = state.pipeline.policy.policy();
    let now = state.pipeline.clock.now();
    let health = &state.health;

    // Heartbeats seen for the first time: when to count a silent one from,
    // and whether their alert was firing before a restart.
    let unrestored: Vec<String> = {
        let mut memory = health.heartbeats();
        let since = if memory.started {
            now
        } else {
            state.started_at
        };
        memory.started = true;
        let names: BTreeSet<&str> = policy.heartbeats.iter().map(|h| h.name.as_str()).collect();
        memory.entries.retain(|n, _| names.contains(n.as_str()));
        for name in names {
            memory
                .entries
                .entry(name.to_string())
                .or_insert(HeartbeatEntry {
                    firing: false,
                    restored: false,
                    waiting_since: since,
                });
        }
        memory
            .entries
            .iter()
            .filter(|(_, e)| !e.restored)
            .map(|(n, _)| n.clone())
            .collect()
    };
    for name in unrestored {
        let firing = stored_firing(state, &heartbeat_key(&name), AlertSource::Heartbeat).await?;
        if let Some(entry) = health.heartbeats().entries.get_mut(&name)
            && !entry.restored
        {
            entry.restored = true;
            entry.firing = firing;
        }
    }
    if policy.heartbeats.is_empty() {
        return Ok(HeartbeatRound::default());
    }

    let pings: HashMap<String, Timestamp> = state
        .pipeline
        .store
        .heartbeats()
        .await?
        .into_iter()
        .map(|p| (p.name, p.last_seen_at))
        .collect();
    let mut alerts = Vec::new();
    let mut changes = Vec::new();
    {
        let memory = health.heartbeats();
        for hb in &policy.heartbeats {
            let Some(entry) = memory.entries.get(&hb.name) else {
                continue;
            };
            let last = match pings.get(&hb.name) {
                Some(t) => LastPing::At(*t),
                None => LastPing::Never {
                    waiting_since: entry.waiting_since,
                },
            };
            let outcome = observe_heartbeat(&policy, hb, entry.firing, last, now);
            if let Some(alert) = outcome.alert {
                alerts.push(alert);
                changes.push((hb.name.clone(), outcome.firing));
            }
        }
    }
    if alerts.is_empty() {
        return Ok(HeartbeatRound::default());
    }
    if let Err(e) = submit(state, alerts.clone()).await {
        report_failed("heartbeat", &e);
        return Err(e.into());
    }
    reported("heartbeat", &alerts, now);
    let mut round = HeartbeatRound::default();
    let mut memory = health.heartbeats();
    for (name, firing) in changes {
        if firing {
            round.fired += 1;
        } else {
            round.resolved += 1;
        }
        if let Some(entry) = memory.entries.get_mut(&name) {
            entry.firing = firing;
        }
    }
    Ok(round)
}

/// Reports that are a heartbeat's watchdog (Prometheus's always-firing
/// `Watchdog`) count as its ping and go no further: they are not an
/// incident. The other reports are returned. A watchdog report that says
/// it has ended is no ping.
pub async fn take_watchdogs(
    store: &firebell_store::Store,
    policy: &Policy,
    now: Timestamp,
    alerts: Vec<firebell_core::alert::IncomingAlert>,
) -> Result<Vec<firebell_core::alert::IncomingAlert>, firebell_store::StoreError> {
    let pings = ping_watchdogs(
        store,
        policy,
        now,
        alerts.iter().map(|a| (&a.labels, a.ends_at)),
    )
    .await?;
    Ok(alerts
        .into_iter()
        .zip(pings)
        .filter_map(|(a, ping)| (!ping).then_some(a))
        .collect())
}

/// [`take_watchdogs`] for alerts however their labels are held: records the
/// pings and says which alerts were watchdogs (true).
pub async fn ping_watchdogs<'a, L: Labels + ?Sized + 'a>(
    store: &firebell_store::Store,
    policy: &Policy,
    now: Timestamp,
    alerts: impl Iterator<Item = (&'a L, Option<Timestamp>)>,
) -> Result<Vec<bool>, firebell_store::StoreError> {
    let watchdogs: Vec<&firebell_core::policy::Heartbeat> = policy
        .heartbeats
        .iter()
        .filter(|h| !h.watchdog.is_empty())
        .collect();
    let mut pinged: Vec<&str> = Vec::new();
    let mut pings = Vec::with_capacity(alerts.size_hint().0);
    for (labels, ends_at) in alerts {
        let watchdog = watchdogs.iter().find(|h| h.is_watchdog(labels));
        if let Some(h) = watchdog {
            let firing = ends_at.is_none_or(|end| end > now);
            if firing && !pinged.contains(&h.name.as_str()) {
                pinged.push(&h.name);
            }
        }
        pings.push(watchdog.is_some());
    }
    for name in pinged {
        store.record_heartbeat(name, now).await?;
        metrics::counter!("firebell_heartbeat_pings_total", "heartbeat" => name.to_string())
            .increment(1);
    }
    Ok(pings)
}
