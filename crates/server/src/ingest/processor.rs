//! From committed alerts to incidents.
//!
//! The processor claims alerts marked pending (new, resolved, or fired again),
//! groups them by their route's group key and, per group: declares an incident
//! if the group has none open and something unsuppressed is firing, or records
//! the change on the group's open incident. The incident write and the
//! "processed" mark on the alerts are one transaction, so a crash repeats a
//! round at worst, never loses or doubles it; an alert re-reported meanwhile
//! stays pending for the next round.
//!
//! Silenced alerts and alerts of services in maintenance are kept and shown,
//! but never open an incident by themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use firebell_core::Timestamp;
use firebell_core::alert::{Alert, MaintenanceWindow, Silence, SilenceState};
use firebell_core::incident::{self, AlertBrief, Command, Context, Declare, Incident};
use firebell_store::{AlertFilter, ProcessedAlert, StoreError};

use super::ProcessorWake;
use crate::AppState;

/// Alerts claimed per round.
pub const CLAIM: u32 = 10_000;
/// How often the processor looks even without a wake-up (for alerts whose
/// `endsAt` passes without a new report).
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The actor recorded for what the processor does.
pub const ACTOR: &str = "alerts";

/// Run until the task is dropped.
pub async fn run(state: AppState, wake: ProcessorWake) {
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        if let Err(e) = process_round(&state, false).await {
            tracing::error!(error = %e, "alert processing failed; retrying next round");
            metrics::counter!("firebell_alert_processing_errors_total").increment(1);
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub alerts: usize,
    pub declared: usize,
    pub updated: usize,
}

/// Merge the ingest log, then process everything pending now. Tests call
/// this directly with a manual clock. Rounds in one process take turns
/// ([`AppState::processing`]): two at once would both see the same pending
/// alerts and count them twice.
pub async fn process_pending(state: &AppState) -> Result<Round, StoreError> {
    process_round(state, true).await
}

/// One round; `merge`: fold in the ingest log first (the background loop
/// leaves that to the merger task, which runs alongside).
async fn process_round(state: &AppState, merge: bool) -> Result<Round, StoreError> {
    let _turn = state.processing.lock().await;
    let now = state.clock.now();
    state.store.sweep_expired_alerts(now).await?;
    let silences: Vec<Silence> = state
        .store
        .list_silences()
        .await?
        .into_iter()
        .filter(|s| s.state(now) == SilenceState::Active)
        .collect();
    let watch_after = state.policy.policy().maintenance.watch_after;
    let (maintenance, watched): (Vec<MaintenanceWindow>, Vec<MaintenanceWindow>) = state
        .store
        .list_maintenance()
        .await?
        .into_iter()
        .filter(|w| w.is_active(now) || w.ended_within(watch_after, now))
        .partition(|w| w.is_active(now));
    // A silence or window that lapsed since the last round makes alerts it was
    // holding back news again: re-queue firing alerts that have no incident.
    let active_ids: BTreeSet<String> = silences
        .iter()
        .map(|s| s.id.clone())
        .chain(maintenance.iter().map(|w| w.id.clone()))
        .collect();
    let lapsed = {
        let mut seen = state
            .suppressions_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let lapsed = match seen.as_ref() {
            Some(before) => before.difference(&active_ids).next().is_some(),
            // First round since start: something may have lapsed while we were down.
            None => true,
        };
        *seen = Some(active_ids);
        lapsed
    };
    if lapsed {
        state.store.repend_unattached_firing_alerts(now).await?;
    }
    let suppressed = |a: &Alert| {
        silences.iter().any(|s| s.matches(&a.labels))
            || maintenance.iter().any(|w| w.covers(a.service.as_deref()))
    };

    let mut round = Round::default();
    loop {
        // Fold in the next slice of the ingest log (a claim's worth) first,
        // so under a storm the first alerts become an incident while the
        // rest are still being merged.
        let merged = if merge {
            super::merge_logged(state, CLAIM as usize).await?
        } else {
            0
        };
        let pending = state.store.pending_alerts(CLAIM).await?;
        if pending.is_empty() {
            if merged > 0 {
                continue;
            }
            break;
        }
        round.alerts += pending.len();
        let mut groups: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        for a in pending {
            groups.entry(a.group_key.clone()).or_default().push(a);
        }
        for (group_key, alerts) in groups {
            match process_group(state, &group_key, alerts, now, &suppressed, &watched).await? {
                Outcome::Declared => round.declared += 1,
                Outcome::Updated => round.updated += 1,
                Outcome::Nothing => {}
            }
        }
    }
    Ok(round)
}

enum Outcome {
    Declared,
    Updated,
    Nothing,
}

fn processed(alerts: &[Alert], incident_id: Option<&str>, now: Timestamp) -> Vec<ProcessedAlert> {
    alerts
        .iter()
        .map(|a| ProcessedAlert {
            key: a.key.clone(),
            seen_updated_at: a.updated_at,
            firing: a.is_firing(now),
            incident_id: incident_id
                .map(str::to_string)
                .or_else(|| a.incident_id.clone()),
        })
        .collect()
}

async fn process_group(
    state: &AppState,
    group_key: &str,
    alerts: Vec<Alert>,
    now: Timestamp,
    suppressed: &impl Fn(&Alert) -> bool,
    watched: &[MaintenanceWindow],
) -> Result<Outcome, StoreError> {
    // Two attempts: losing a race to declare the group means attaching instead.
    for _ in 0..3 {
        if let Some(id) = state.store.open_incident_for_group(group_key).await? {
            return record_on(state, &id, &alerts, now)
                .await
                .map(|()| Outcome::Updated);
        }
        // No open incident for the group. Resolutions of alerts that belonged to
        // an earlier (now resolved) incident are news for that incident.
        let (old, fresh): (Vec<Alert>, Vec<Alert>) = alerts
            .iter()
            .cloned()
            .partition(|a| a.incident_id.is_some() && !a.is_firing(now));
        let mut by_incident: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        for a in old {
            by_incident
                .entry(a.incident_id.clone().unwrap_or_default())
                .or_default()
                .push(a);
        }
        for (id, group) in &by_incident {
            record_on(state, id, group, now).await?;
        }
        let opens = fresh.iter().any(|a| a.is_firing(now) && !suppressed(a));
        if !opens {
            state
                .store
                .mark_alerts_processed(&processed(&fresh, None, now))
                .await?;
            return Ok(Outcome::Nothing);
        }
        match declare_for(state, group_key, &fresh, now, watched).await {
            Ok(()) => return Ok(Outcome::Declared),
            Err(StoreError::GroupTaken { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Corrupt(format!(
        "group {group_key} kept changing while being processed"
    )))
}

/// Declare an incident for a group's firing alerts. One opened for a service
/// whose maintenance ended within the policy's `watch_after` is tagged
/// `maintenance-watch` and names the window: the maintenance is the first
/// suspect.
async fn declare_for(
    state: &AppState,
    group_key: &str,
    alerts: &[Alert],
    now: Timestamp,
    watched: &[MaintenanceWindow],
) -> Result<(), StoreError> {
    let policy = state.policy.policy();
    let firing: Vec<&Alert> = alerts.iter().filter(|a| a.is_firing(now)).collect();
    let lead = firing[0];
    let severity = lead
        .severity
        .clone()
        .filter(|s| policy.severity(s).is_some())
        .or_else(|| policy.severities.last().map(|s| s.name.clone()))
        .unwrap_or_default();
    let services: Vec<String> = firing
        .iter()
        .filter_map(|a| a.service.clone())
        .filter(|s| policy.services.is_empty() || policy.services.contains_key(s))
        .fold(Vec::new(), |mut v, s| {
            if !v.contains(&s) {
                v.push(s);
            }
            v
        });
    let watch: Vec<&MaintenanceWindow> = watched
        .iter()
        .filter(|w| firing.iter().any(|a| w.covers(a.service.as_deref())))
        .collect();
    let mut summary = lead
        .annotations
        .get("description")
        .map(|d| plain_text(d, 10_000))
        .unwrap_or_default();
    for w in &watch {
        let ended = w.ends_at.map(|t| t.to_string()).unwrap_or_default();
        let note = format!(
            "Opened within {} after maintenance \"{}\" ({}) ended at {ended}.",
            policy.maintenance.watch_after,
            plain_text(&w.title, 200),
            w.services.join(", ")
        );
        summary = if summary.is_empty() {
            note
        } else {
            format!("{summary}\n\n{note}")
        };
    }
    let d = Declare {
        title: title_for(lead, firing.len()),
        severity,
        summary,
        services,
        tags: if watch.is_empty() {
            Vec::new()
        } else {
            vec!["maintenance-watch".to_string()]
        },
        detected_at: firing
            .iter()
            .map(|a| a.starts_at)
            .min()
            .filter(|t| *t <= now),
        commander: None,
        // The lead alert's route decides how the incident escalates.
        escalation_policy: firebell_core::alert::routing::route(&policy, &lead.labels)
            .into_iter()
            .find_map(|m| m.escalation_policy),
    };
    let ctx = Context {
        policy: &policy,
        now,
        actor: ACTOR,
    };
    let mut kinds = incident::declare(&d, &ctx)
        .map_err(|e| StoreError::Corrupt(format!("cannot declare for alerts: {e}")))?;
    let total = alerts.len() as u64;
    kinds.push(firebell_core::EventKind::AlertsChanged {
        attached: total,
        resolved: 0,
        refired: 0,
        firing: firing.len() as u64,
        total,
        sample: sample(alerts, now),
        all_resolved: false,
    });
    let events = incident::stamp(kinds, 0, now, ACTOR);
    let ids = &policy.incident_ids;
    let stem = incident::incident_id_stem(&policy, now);
    // The store sets the real id on the alerts; `processed` carries a placeholder.
    let marks = processed(alerts, Some(""), now);
    let created = state
        .store
        .create_incident_for_group(&stem, ids.digits, group_key, &marks, |id| {
            let incident =
                Incident::from_events(&id, &events).expect("declare yields Declared first");
            (incident, events.clone())
        })
        .await?;
    metrics::counter!("firebell_incidents_declared_total", "severity" => created.severity.clone())
        .increment(1);
    tracing::info!(incident = %created.id, group = group_key, alerts = alerts.len(), "incident declared from alerts");
    Ok(())
}

/// Record alert changes on incident `id` (attached, resolved, fired again).
async fn record_on(
    state: &AppState,
    id: &str,
    alerts: &[Alert],
    now: Timestamp,
) -> Result<(), StoreError> {
    for _ in 0..5 {
        let events = state.store.load_events(id).await?;
        let Some(current) = Incident::from_events(id, &events) else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        // Counts follow from the incident's own state, not a COUNT over a set
        // that grows with every storm: alerts not yet linked are attached now;
        // a linked alert is only pending again when it resolved (firing again
        // after resolution is a new occurrence, which arrives unlinked).
        let new: Vec<&Alert> = alerts
            .iter()
            .filter(|a| a.incident_id.as_deref() != Some(id))
            .collect();
        let resolved = alerts
            .iter()
            .filter(|a| a.incident_id.as_deref() == Some(id) && !a.is_firing(now))
            .count() as u64;
        let new_firing = new.iter().filter(|a| a.is_firing(now)).count() as u64;
        let firing = (current.alerts_firing + new_firing).saturating_sub(resolved);
        let total = current.alerts_total + new.len() as u64;
        let refired = new.iter().filter(|a| a.incident_id.is_some()).count() as u64;
        let cmd = Command::RecordAlerts {
            attached: new.len() as u64,
            resolved,
            refired,
            firing,
            total,
            sample: sample(alerts, now),
        };
        let policy = state.policy.policy();
        let ctx = Context {
            policy: &policy,
            now,
            actor: ACTOR,
        };
        let kinds = incident::decide(&current, &cmd, &ctx)
            .map_err(|e| StoreError::Corrupt(format!("cannot record alerts on {id}: {e}")))?;
        let stamped = incident::stamp(kinds, current.version, now, ACTOR);
        let mut next = current.clone();
        for e in &stamped {
            next.apply(e);
        }
        match state
            .store
            .attach_alerts(
                &next,
                current.version,
                &stamped,
                &processed(alerts, Some(id), now),
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Corrupt(format!(
        "incident {id} kept changing while alerts were recorded"
    )))
}

/// A human title for an incident opened by alerts.
fn title_for(lead: &Alert, firing: usize) -> String {
    let name = [
        lead.annotations.get("summary"),
        lead.labels.get("alertname"),
    ]
    .into_iter()
    .flatten()
    .map(|t| plain_text(t, 200))
    .find(|t| !t.is_empty())
    .unwrap_or_else(|| "Alert".to_string());
    if firing > 1 {
        format!("{name} ({firing} alerts)")
    } else {
        name
    }
}

/// Sender text made fit for an incident: control characters (which the
/// incident core refuses) become spaces, and it is cut to `max` characters.
/// One odd annotation must never stop the processor.
fn plain_text(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .take(max)
        .collect();
    cleaned.trim().to_string()
}

/// The first few alerts, described in a line each.
fn sample(alerts: &[Alert], now: Timestamp) -> Vec<AlertBrief> {
    alerts
        .iter()
        .take(incident::MAX_ALERT_SAMPLE)
        .map(|a| AlertBrief {
            key: a.key.clone(),
            summary: brief(a),
            firing: a.is_firing(now),
        })
        .collect()
}

fn brief(a: &Alert) -> String {
    let name = a
        .labels
        .get("alertname")
        .map(String::as_str)
        .unwrap_or("alert");
    let rest: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .take(4)
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// Alerts attached to an incident, newest first (for the API).
pub async fn alerts_of(
    state: &AppState,
    incident_id: &str,
    limit: u32,
) -> Result<Vec<Alert>, StoreError> {
    super::settle(state).await?;
    state
        .store
        .list_alerts(&AlertFilter {
            incident_id: Some(incident_id.to_string()),
            firing_at: None,
            limit,
        })
        .await
}
