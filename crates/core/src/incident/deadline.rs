//! Deadlines an incident owes under the policy, and whether each was met.
//!
//! A pure view over state + policy + `now`: nothing is stored, so a policy
//! change moves future deadlines at once and history stays untouched. The
//! API shows these on every incident ("a breach is visible"); the scheduler
//! of later issues fires reminders and escalations from the same function.

use serde::Serialize;

use super::command::COMMANDER_ROLE;
use super::state::Incident;
use crate::{Policy, Timestamp};

/// Where a deadline stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeadlineStatus {
    /// Not yet due and not yet done.
    Pending,
    /// Done by its due time.
    Met,
    /// Done, but late.
    MetLate,
    /// Due time passed and not done.
    Breached,
    /// Not done, and no longer owed: the incident was resolved before it
    /// was due (an acknowledgement or a checklist step of an incident
    /// that is over).
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deadline {
    /// Stable key: `acknowledge`, `respond`, `commander`, `next_update`,
    /// `investigate`, `resolve`, `postmortem`, `checklist:<item id>`,
    /// `obligation:<key>`, `action:<item id>`.
    pub key: String,
    pub title: String,
    pub due_at: Timestamp,
    pub done_at: Option<Timestamp>,
    pub status: DeadlineStatus,
}

impl Deadline {
    fn new(
        key: impl Into<String>,
        title: impl Into<String>,
        due_at: Timestamp,
        done_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        Deadline::owed_until(key, title, due_at, done_at, None, now)
    }

    /// A deadline owed only while the incident is open: once `closed_at`
    /// (its resolution) comes before it is due, it is closed, not pending.
    fn owed_until(
        key: impl Into<String>,
        title: impl Into<String>,
        due_at: Timestamp,
        done_at: Option<Timestamp>,
        closed_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        let status = match (done_at, closed_at) {
            (Some(done), _) if done <= due_at => DeadlineStatus::Met,
            (Some(_), _) => DeadlineStatus::MetLate,
            (None, Some(closed)) if closed <= due_at => DeadlineStatus::Closed,
            (None, _) if now > due_at => DeadlineStatus::Breached,
            (None, _) => DeadlineStatus::Pending,
        };
        Deadline {
            key: key.into(),
            title: title.into(),
            due_at,
            done_at,
            status,
        }
    }
}

/// Every deadline of `incident` under `policy`, as of `now`, soonest first.
pub fn deadlines(incident: &Incident, policy: &Policy, now: Timestamp) -> Vec<Deadline> {
    let mut out = Vec::new();
    let declared = incident.declared_at;
    let closed = incident.resolved_at;
    let add = |d: Option<crate::Duration>| d.and_then(|d| declared.checked_add(d.as_signed()).ok());
    if let Some(sev) = policy.severity(&incident.severity) {
        if let Some(due) = add(sev.ack_within) {
            out.push(Deadline::owed_until(
                "acknowledge",
                "Acknowledge",
                due,
                incident.acknowledged_at,
                closed,
                now,
            ));
        }
        // The first response is the first acknowledgement: someone has engaged.
        if let Some(due) = policy.response_due(&incident.severity, declared) {
            out.push(Deadline::owed_until(
                "respond",
                "First response",
                due,
                incident.acknowledged_at,
                closed,
                now,
            ));
        }
        if let Some(due) = add(sev.commander_within)
            && policy.role(COMMANDER_ROLE).is_some()
        {
            out.push(Deadline::owed_until(
                "commander",
                "Assign an incident commander",
                due,
                incident.commander_assigned_at,
                closed,
                now,
            ));
        }
        if let Some(due) = add(sev.investigate_within) {
            out.push(Deadline::owed_until(
                "investigate",
                "Cause identified (investigation timebox)",
                due,
                incident.investigated_at,
                closed,
                now,
            ));
        }
        if let Some(due) = add(sev.resolve_within) {
            out.push(Deadline::new(
                "resolve",
                "Resolve",
                due,
                incident.resolved_at,
                now,
            ));
        }
        // Status updates are owed only while the incident is open.
        if let Some(every) = sev.update_every
            && incident.is_open()
            && let Ok(due) = incident.last_update_at.checked_add(every.as_signed())
        {
            out.push(Deadline::new(
                "next_update",
                format!("Next status update (every {every})"),
                due,
                None,
                now,
            ));
        }
        // As set when the postmortem opened; for incidents resolved before
        // postmortems were kept, from the rule.
        let due = match &incident.postmortem {
            Some(pm) => pm.due_at,
            None => incident
                .resolved_at
                .filter(|_| sev.postmortem.as_ref().is_some_and(|p| p.required))
                .and_then(|resolved| policy.postmortem_due(&incident.severity, resolved)),
        };
        if let Some(due) = due {
            let published = incident.postmortem.as_ref().and_then(|p| p.published_at);
            out.push(Deadline::new(
                "postmortem",
                "Postmortem",
                due,
                published,
                now,
            ));
        }
    }
    for item in &incident.action_items {
        if let Some(due) = item.due_at {
            out.push(Deadline::new(
                format!("action:{}", item.id),
                format!("Action item {}: {}", item.id, item.title),
                due,
                item.completed_at,
                now,
            ));
        }
    }
    for item in &incident.checklist {
        if let Some(due) = item.item.due_at {
            out.push(Deadline::owed_until(
                format!("checklist:{}", item.item.id),
                item.item.text.clone(),
                due,
                item.ticked_at,
                closed,
                now,
            ));
        }
    }
    for ob in &incident.obligations {
        if let Some(due) = ob.due_at {
            out.push(Deadline::new(
                format!("obligation:{}", ob.key),
                ob.title.clone(),
                due,
                incident.obligations_met.get(&ob.key).map(|m| m.at),
                now,
            ));
        }
    }
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.key.cmp(&b.key)));
    out
}
