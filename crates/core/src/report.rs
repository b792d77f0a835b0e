//! Reports over a date range (s003.ack-target-reported): time to
//! acknowledge and to resolve against the policy's targets, incidents by
//! severity, service and week, status updates on time, escalations,
//! postmortems and action items on time, obligations met.
//!
//! Pure: incidents with their logs, the policy and `now` in, numbers out.
//! Drills are left out by the caller's query and again here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::incident::{
    ActionStatus, DeadlineStatus, Event, EventKind, Incident, PostmortemState, deadlines,
};
use crate::{Policy, Timestamp};

/// One incident's numbers: the report's rows, and its CSV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentRow {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub services: Vec<String>,
    pub declared_at: Timestamp,
    /// Seconds from declaration to the first acknowledgement.
    pub time_to_ack: Option<i64>,
    /// Seconds from declaration to resolution.
    pub time_to_resolve: Option<i64>,
    /// Acknowledged within the severity's `ack_within` (none: no target).
    pub ack_on_target: Option<bool>,
    pub resolve_on_target: Option<bool>,
    /// Status updates owed by the cadence, and those posted in time.
    pub updates_owed: u32,
    pub updates_on_time: u32,
    /// Escalation steps fired after the first.
    pub escalations: u32,
    /// `none`, or the postmortem's state, `overdue` when past due.
    pub postmortem: String,
}

/// Durations of a set of incidents, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timing {
    /// How many incidents have this duration.
    pub count: u32,
    pub mean: Option<i64>,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub max: Option<i64>,
    /// The policy's target, in seconds, if it sets one.
    pub target: Option<i64>,
    /// Of those with a target: how many made it.
    pub on_target: u32,
    pub with_target: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeverityRow {
    pub severity: String,
    pub incidents: u32,
    /// Time to acknowledge (MTTA is its mean).
    pub acknowledge: Timing,
    /// Time to resolve (MTTR is its mean).
    pub resolve: Timing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeekRow {
    /// The Monday the week starts on, in the calendar's time zone.
    pub week: String,
    pub incidents: u32,
    /// Severity → incidents that week.
    pub by_severity: BTreeMap<String, u32>,
}

/// Done, on time, late, and still owed past due.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnTime {
    pub total: u32,
    pub on_time: u32,
    pub late: u32,
    pub overdue: u32,
}

/// A report over `[since, until)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub since: Timestamp,
    pub until: Timestamp,
    pub incidents: u32,
    /// The range held more incidents than a report reads; these numbers
    /// are of the newest only.
    #[serde(default)]
    pub truncated: bool,
    /// All severities together.
    pub acknowledge: Timing,
    pub resolve: Timing,
    /// In the policy's ladder order.
    pub by_severity: Vec<SeverityRow>,
    /// Service → incidents.
    pub by_service: BTreeMap<String, u32>,
    pub by_week: Vec<WeekRow>,
    /// Status updates owed by the cadence, and posted in time.
    pub updates: OnTime,
    /// Incidents that escalated past their first step, and steps fired so.
    pub escalated_incidents: u32,
    pub escalations: u32,
    pub postmortems: OnTime,
    pub action_items: OnTime,
    pub obligations: OnTime,
    pub rows: Vec<IncidentRow>,
}

/// The report of `incidents` (each with its log) declared in `[since, until)`.
pub fn report(
    policy: &Policy,
    incidents: &[(Incident, Vec<Event>)],
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
) -> Report {
    let chosen: Vec<&(Incident, Vec<Event>)> = incidents
        .iter()
        .filter(|(i, _)| !i.drill && i.declared_at >= since && i.declared_at < until)
        .collect();
    let rows: Vec<IncidentRow> = chosen
        .iter()
        .map(|(i, log)| row(policy, i, log, now))
        .collect();

    let severities: Vec<String> = policy
        .severities
        .iter()
        .map(|s| s.name.clone())
        .chain(rows.iter().map(|r| r.severity.clone()))
        .fold(Vec::new(), |mut acc, s| {
            if !acc.contains(&s) {
                acc.push(s);
            }
            acc
        });
    let by_severity = severities
        .iter()
        .filter_map(|sev| {
            let these: Vec<&IncidentRow> = rows.iter().filter(|r| &r.severity == sev).collect();
            if these.is_empty() {
                return None;
            }
            let s = policy.severity(sev);
            Some(SeverityRow {
                severity: sev.clone(),
                incidents: these.len() as u32,
                acknowledge: timing(
                    these.iter().map(|r| (r.time_to_ack, r.ack_on_target)),
                    s.and_then(|s| s.ack_within).map(|d| d.as_secs()),
                ),
                resolve: timing(
                    these
                        .iter()
                        .map(|r| (r.time_to_resolve, r.resolve_on_target)),
                    s.and_then(|s| s.resolve_within).map(|d| d.as_secs()),
                ),
            })
        })
        .collect();

    let mut by_service = BTreeMap::new();
    for r in &rows {
        for s in &r.services {
            *by_service.entry(s.clone()).or_insert(0) += 1;
        }
    }
    let tz = jiff::tz::TimeZone::get(&policy.calendar.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut weeks: BTreeMap<String, WeekRow> = BTreeMap::new();
    for r in &rows {
        let day = r.declared_at.to_zoned(tz.clone()).date();
        let monday = day
            .checked_sub(jiff::Span::new().days(i64::from(day.weekday().to_monday_zero_offset())))
            .unwrap_or(day);
        let w = weeks.entry(monday.to_string()).or_insert_with(|| WeekRow {
            week: monday.to_string(),
            incidents: 0,
            by_severity: BTreeMap::new(),
        });
        w.incidents += 1;
        *w.by_severity.entry(r.severity.clone()).or_insert(0) += 1;
    }

    let mut updates = OnTime::default();
    for r in &rows {
        updates.total += r.updates_owed;
        updates.on_time += r.updates_on_time;
    }
    updates.late = updates.total - updates.on_time;

    let mut postmortems = OnTime::default();
    let mut action_items = OnTime::default();
    let mut obligations = OnTime::default();
    for (i, _) in &chosen {
        if let Some(pm) = &i.postmortem {
            postmortems.total += 1;
            match (pm.published_at, pm.due_at) {
                (Some(p), Some(d)) if p <= d => postmortems.on_time += 1,
                (Some(_), None) => postmortems.on_time += 1,
                (Some(_), Some(_)) => postmortems.late += 1,
                (None, Some(d)) if d < now => postmortems.overdue += 1,
                (None, _) => {}
            }
        }
        for a in &i.action_items {
            action_items.total += 1;
            match (a.completed_at, a.due_at) {
                (Some(c), Some(d)) if c <= d => action_items.on_time += 1,
                (Some(_), None) => action_items.on_time += 1,
                (Some(_), Some(_)) => action_items.late += 1,
                (None, Some(d)) if d < now && a.status != ActionStatus::Complete => {
                    action_items.overdue += 1
                }
                (None, _) => {}
            }
        }
        for d in deadlines(i, policy, now)
            .into_iter()
            .filter(|d| d.key.starts_with("obligation:"))
        {
            obligations.total += 1;
            match d.status {
                DeadlineStatus::Met => obligations.on_time += 1,
                DeadlineStatus::MetLate => obligations.late += 1,
                DeadlineStatus::Breached => obligations.overdue += 1,
                DeadlineStatus::Pending | DeadlineStatus::Closed => {}
            }
        }
    }

    Report {
        since,
        until,
        incidents: rows.len() as u32,
        truncated: false,
        acknowledge: timing(rows.iter().map(|r| (r.time_to_ack, r.ack_on_target)), None),
        resolve: timing(
            rows.iter()
                .map(|r| (r.time_to_resolve, r.resolve_on_target)),
            None,
        ),
        by_severity,
        by_service,
        by_week: weeks.into_values().collect(),
        updates,
        escalated_incidents: rows.iter().filter(|r| r.escalations > 0).count() as u32,
        escalations: rows.iter().map(|r| r.escalations).sum(),
        postmortems,
        action_items,
        obligations,
        rows,
    }
}

fn row(policy: &Policy, i: &Incident, log: &[Event], now: Timestamp) -> IncidentRow {
    let sev = policy.severity(&i.severity);
    let secs = |t: Option<Timestamp>| t.map(|t| t.duration_since(i.declared_at).as_secs().max(0));
    // The first acknowledgement counts, even if a reopen cleared it since.
    let acked = log.iter().find_map(|e| match e.kind {
        EventKind::Acknowledged => Some(e.at),
        _ => None,
    });
    let time_to_ack = secs(acked);
    let time_to_resolve = secs(i.resolved_at);
    let target = |d: Option<crate::Duration>, t: Option<i64>| match (d, t) {
        (Some(d), Some(t)) => Some(t <= d.as_secs()),
        (Some(d), None) => {
            (now.duration_since(i.declared_at).as_secs() > d.as_secs()).then_some(false)
        }
        (None, _) => None,
    };
    let (updates_owed, updates_on_time) = match sev.and_then(|s| s.update_every) {
        Some(every) => cadence(i, log, every.as_secs(), now),
        None => (0, 0),
    };
    let escalations = log
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Escalated { level, .. } if level > 0))
        .count() as u32;
    let postmortem = match &i.postmortem {
        None => "none".to_string(),
        Some(pm)
            if pm.state != PostmortemState::Published && pm.due_at.is_some_and(|d| d < now) =>
        {
            "overdue".to_string()
        }
        Some(pm) => pm.state.as_str().to_string(),
    };
    IncidentRow {
        id: i.id.clone(),
        title: i.title.clone(),
        severity: i.severity.clone(),
        services: i.services.clone(),
        declared_at: i.declared_at,
        time_to_ack,
        time_to_resolve,
        ack_on_target: target(sev.and_then(|s| s.ack_within), time_to_ack),
        resolve_on_target: target(sev.and_then(|s| s.resolve_within), time_to_resolve),
        updates_owed,
        updates_on_time,
        escalations,
        postmortem,
    }
}

/// Status updates owed by a cadence of `every` seconds and those in time:
/// each update made while open is owed, and on time if it came within
/// `every` of the one before (or of the declaration); a last gap longer
/// than `every` before resolution (or now) is one more owed and missed.
fn cadence(i: &Incident, log: &[Event], every: i64, now: Timestamp) -> (u32, u32) {
    let end = i.resolved_at.unwrap_or(now);
    let mut prev = i.declared_at;
    let (mut owed, mut on_time) = (0, 0);
    for e in log {
        if e.at > end {
            break;
        }
        if let EventKind::StatusUpdated { .. } = e.kind {
            owed += 1;
            if e.at.duration_since(prev).as_secs() <= every {
                on_time += 1;
            }
            prev = e.at;
        }
    }
    if end.duration_since(prev).as_secs() > every {
        owed += 1;
    }
    (owed, on_time)
}

fn timing(
    values: impl Iterator<Item = (Option<i64>, Option<bool>)>,
    target: Option<i64>,
) -> Timing {
    let mut t = Timing {
        target,
        ..Timing::default()
    };
    let mut all: Vec<i64> = Vec::new();
    for (v, on) in values {
        if let Some(v) = v {
            all.push(v);
        }
        if let Some(on) = on {
            t.with_target += 1;
            if on {
                t.on_target += 1;
            }
        }
    }
    all.sort_unstable();
    t.count = all.len() as u32;
    if !all.is_empty() {
        t.mean = Some(all.iter().sum::<i64>() / all.len() as i64);
        t.p50 = Some(rank(&all, 50));
        t.p90 = Some(rank(&all, 90));
        t.max = all.last().copied();
    }
    t
}

/// The nearest-rank percentile of sorted values.
fn rank(sorted: &[i64], p: usize) -> i64 {
    let n = sorted.len();
    let k = (p * n).div_ceil(100).clamp(1, n);
    sorted[k - 1]
}
