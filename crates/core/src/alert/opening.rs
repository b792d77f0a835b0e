//! What a group of alerts means for an incident, decided without I/O: the
//! declaration that opens one, and the news recorded on an open one.

use std::borrow::Borrow;

use super::{Alert, MaintenanceWindow, routing};
use crate::incident::{AlertBrief, Command, Declare, EventKind, Incident, MAX_ALERT_SAMPLE};
use crate::{Policy, Timestamp};

/// The tag of an incident opened soon after maintenance of its services ended.
pub const MAINTENANCE_WATCH_TAG: &str = "maintenance-watch";

/// The declaration for a group's alerts, or `None` if none is firing at
/// `now`. The lead (first firing) alert gives the title, severity (the
/// policy's lowest when it names none the policy knows), description and
/// route; every firing alert's known service is affected. An incident opened
/// for a service whose maintenance ended within the policy's `watch_after`
/// (`watched`) is tagged [`MAINTENANCE_WATCH_TAG`] and its summary names the
/// window: the maintenance is the first suspect.
pub fn declaration(
    policy: &Policy,
    alerts: &[Alert],
    watched: &[MaintenanceWindow],
    now: Timestamp,
) -> Option<Declare> {
    let firing: Vec<&Alert> = alerts.iter().filter(|a| a.is_firing(now)).collect();
    let lead = *firing.first()?;
    let severity = lead
        .severity
        .clone()
        .filter(|s| policy.severity(s).is_some())
        .or_else(|| policy.severities.last().map(|s| s.name.clone()))
        .unwrap_or_default();
    let mut services: Vec<String> = Vec::new();
    for s in firing.iter().filter_map(|a| a.service.as_ref()) {
        if (policy.services.is_empty() || policy.services.contains_key(s)) && !services.contains(s)
        {
            services.push(s.clone());
        }
    }
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
    Some(Declare {
        title: title_for(lead, firing.len()),
        severity,
        summary,
        services,
        tags: if watch.is_empty() {
            Vec::new()
        } else {
            vec![MAINTENANCE_WATCH_TAG.to_string()]
        },
        detected_at: firing
            .iter()
            .map(|a| a.starts_at)
            .min()
            .filter(|t| *t <= now),
        commander: None,
        // The lead alert's route decides how the incident escalates.
        escalation_policy: routing::route(policy, &lead.labels)
            .into_iter()
            .find_map(|m| m.escalation_policy),
        drill: false,
    })
}

/// The events that record a new incident's first alerts on its timeline:
/// their counts, then the runbooks their matchers attach (those the
/// declaration did not attach already) and the rollback criteria they show.
pub fn opened_with(
    policy: &Policy,
    declared: &Declare,
    alerts: &[Alert],
    now: Timestamp,
) -> Vec<EventKind> {
    let total = alerts.len() as u64;
    let mut events = vec![EventKind::AlertsChanged {
        attached: total,
        resolved: 0,
        refired: 0,
        firing: alerts.iter().filter(|a| a.is_firing(now)).count() as u64,
        total,
        sample: sample(alerts, now),
        all_resolved: false,
    }];
    let (runbooks, criteria) = signals(policy, alerts, now);
    let start = declared.detected_at.unwrap_or(now);
    for key in runbooks {
        let Some(rb) = policy.runbooks.iter().find(|r| r.key == key) else {
            continue;
        };
        if crate::incident::runbook_reason(rb, &declared.services, &declared.tags).is_none() {
            events.push(crate::incident::runbook_attached(
                rb,
                "an alert matched its route".into(),
                start,
                now,
            ));
        }
    }
    for (criterion, detail) in criteria {
        events.push(EventKind::RollbackCriterionMet { criterion, detail });
    }
    events
}

/// The runbooks whose matchers hold for a firing alert, and the rollback
/// criteria a firing alert shows (name, the alert), each once.
pub fn signals<A: Borrow<Alert>>(
    policy: &Policy,
    alerts: &[A],
    now: Timestamp,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut runbooks: Vec<String> = Vec::new();
    let mut criteria: Vec<(String, String)> = Vec::new();
    if policy.runbooks.is_empty() && policy.rollback.criteria.is_empty() {
        return (runbooks, criteria);
    }
    for a in alerts.iter().map(A::borrow).filter(|a| a.is_firing(now)) {
        for rb in &policy.runbooks {
            if !runbooks.contains(&rb.key) && rb.matches_alert(&a.labels) {
                runbooks.push(rb.key.clone());
            }
        }
        for c in &policy.rollback.criteria {
            if !criteria.iter().any(|(n, _)| n == &c.name) && c.matches(&a.labels) {
                criteria.push((c.name.clone(), brief(a)));
            }
        }
    }
    (runbooks, criteria)
}

/// The news a group's alerts bring to `incident`: those not yet linked to it
/// are attached; a linked alert is only pending again when it resolved
/// (firing again after resolution is a new occurrence, which arrives
/// unlinked). Counts follow from the incident's own state, not a count over a
/// set that grows with every storm.
/// `alerts` are owned or borrowed: a merge recording news lends its own.
pub fn record<A: Borrow<Alert>>(
    policy: &Policy,
    incident: &Incident,
    alerts: &[A],
    now: Timestamp,
) -> Command {
    let id = incident.id.as_str();
    let new: Vec<&Alert> = alerts
        .iter()
        .map(A::borrow)
        .filter(|a| a.incident_id.as_deref() != Some(id))
        .collect();
    let resolved = alerts
        .iter()
        .map(A::borrow)
        .filter(|a| a.incident_id.as_deref() == Some(id) && !a.is_firing(now))
        .count() as u64;
    let new_firing = new.iter().filter(|a| a.is_firing(now)).count() as u64;
    let (runbooks, criteria) = signals(policy, alerts, now);
    Command::RecordAlerts {
        runbooks,
        criteria,
        attached: new.len() as u64,
        resolved,
        refired: new.iter().filter(|a| a.incident_id.is_some()).count() as u64,
        firing: (incident.alerts_firing + new_firing).saturating_sub(resolved),
        total: incident.alerts_total + new.len() as u64,
        sample: sample(alerts, now),
    }
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
fn sample<A: Borrow<Alert>>(alerts: &[A], now: Timestamp) -> Vec<AlertBrief> {
    alerts
        .iter()
        .map(A::borrow)
        .take(MAX_ALERT_SAMPLE)
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
