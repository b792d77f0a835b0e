//! Incident state: a pure fold over the event log.

use serde::{Deserialize, Serialize};

use std::collections::BTreeSet;

use super::event::{
    AlertBrief, Event, EventKind, Notified, OpenedChecklistItem, RoleHolders, StartedObligation,
    Status, Visibility,
};
use super::postmortem::{ActionItem, ActionStatus, Postmortem, PostmortemState};
use super::rollback::{CriterionMet, RollbackRecord, RollbackState};
use crate::Timestamp;
use crate::escalation::Duty;
use crate::policy::DoneWhen;

/// A checklist item and whether it is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChecklistItemState {
    #[serde(flatten)]
    pub item: OpenedChecklistItem,
    pub ticked_at: Option<Timestamp>,
    pub ticked_by: Option<String>,
}

/// An obligation fulfilled: the regulator was notified, say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetObligation {
    pub at: Timestamp,
    pub by: String,
    /// What proves it: a reference number, who was told, how.
    pub evidence: String,
}

/// The incident as it stands after its last event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub severity: String,
    /// A drill: pages like any incident, never public, never reported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
    pub status: Status,
    pub summary: String,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub declared_at: Timestamp,
    pub declared_by: String,
    pub detected_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub roles: RoleHolders,
    /// When an incident commander was first assigned.
    #[serde(default)]
    pub commander_assigned_at: Option<Timestamp>,
    pub checklist: Vec<ChecklistItemState>,
    pub obligations: Vec<StartedObligation>,
    /// Time of the latest status update (any visibility), or declaration.
    pub last_update_at: Timestamp,
    pub last_public_update_at: Option<Timestamp>,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Alerts on the incident: firing now, and ever attached.
    #[serde(default)]
    pub alerts_firing: u64,
    #[serde(default)]
    pub alerts_total: u64,
    /// The last few alerts named on the timeline (for pages: never the whole list).
    #[serde(default)]
    pub alert_sample: Vec<AlertBrief>,
    /// Escalation policy chosen at declaration, if any (see `escalation::policy_of`).
    #[serde(default)]
    pub escalation_policy: Option<String>,
    /// Steps fired so far (counting repeats); the next step is this index.
    #[serde(default)]
    pub escalation_level: u32,
    /// When the last fired step was due: the next step's delay counts from here.
    #[serde(default)]
    pub escalation_due_at: Option<Timestamp>,
    /// When the ladder (re)started: declaration or reopening.
    pub escalation_started_at: Timestamp,
    /// Rules and one-off reminders already fired (their duty keys).
    #[serde(default)]
    pub duties_done: BTreeSet<Duty>,
    /// Update reminders sent since the last status update.
    #[serde(default)]
    pub update_reminders: u32,
    /// Status page components whose state a person set while this incident
    /// is open: component id → status name.
    #[serde(default)]
    pub component_states: std::collections::BTreeMap<String, String>,
    /// Obligations fulfilled (a regulator notified): key → when, by whom,
    /// with what evidence.
    #[serde(default)]
    pub obligations_met: std::collections::BTreeMap<String, MetObligation>,
    /// When the status first moved past `investigating` (a cause
    /// identified, or later): the end of the investigation phase.
    #[serde(default)]
    pub investigated_at: Option<Timestamp>,
    /// Everyone paged or notified for this incident, in first-paged order.
    #[serde(default)]
    pub paged: Vec<String>,
    /// The acknowledgement round: 0 at declaration, one more per reopen.
    /// Ack links carry it, so a reopen retires every earlier link.
    #[serde(default)]
    pub ack_round: u32,
    /// Opened by a resolution whose severity requires one.
    #[serde(default)]
    pub postmortem: Option<Postmortem>,
    #[serde(default)]
    pub action_items: Vec<ActionItem>,
    /// Rollback criteria met and the decision taken.
    #[serde(default, skip_serializing_if = "RollbackState::is_empty")]
    pub rollback: RollbackState,
    /// Runbooks attached, by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runbooks: Vec<String>,
    /// Upstream providers' indicators as last recorded on the timeline.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub upstreams: std::collections::BTreeMap<String, String>,
    pub updated_at: Timestamp,
    /// `seq` of the last event applied; commands must name it to be accepted.
    pub version: u64,
}

impl Incident {
    /// Rebuild state from the full log. Returns `None` for an empty log or one
    /// that does not start with `Declared` (which the store never produces).
    /// Stamp `kinds` after this incident's last event (at `at`, by `actor`)
    /// and apply them: the state after them, and the events to append.
    pub fn advance(
        &self,
        kinds: Vec<EventKind>,
        at: Timestamp,
        actor: &str,
    ) -> (Incident, Vec<Event>) {
        let events = super::stamp(kinds, self.version, at, actor);
        let mut next = self.clone();
        for e in &events {
            next.apply(e);
        }
        (next, events)
    }

    pub fn from_events(id: &str, events: &[Event]) -> Option<Incident> {
        let (first, rest) = events.split_first()?;
        let mut incident = Incident::declared(id, first)?;
        for e in rest {
            incident.apply(e);
        }
        Some(incident)
    }

    fn declared(id: &str, e: &Event) -> Option<Incident> {
        let EventKind::Declared {
            title,
            severity,
            summary,
            services,
            tags,
            detected_at,
            checklist,
            obligations,
            escalation_policy,
            drill,
        } = &e.kind
        else {
            return None;
        };
        Some(Incident {
            id: id.to_string(),
            title: title.clone(),
            severity: severity.clone(),
            drill: *drill,
            status: Status::Investigating,
            summary: summary.clone(),
            services: services.clone(),
            tags: tags.clone(),
            declared_at: e.at,
            declared_by: e.actor.clone(),
            detected_at: detected_at.unwrap_or(e.at),
            acknowledged_at: None,
            acknowledged_by: None,
            roles: RoleHolders::new(),
            commander_assigned_at: None,
            checklist: checklist
                .iter()
                .map(|item| ChecklistItemState {
                    item: item.clone(),
                    ticked_at: None,
                    ticked_by: None,
                })
                .collect(),
            obligations: obligations.clone(),
            last_update_at: e.at,
            last_public_update_at: None,
            mitigated_at: None,
            resolved_at: None,
            alerts_firing: 0,
            alerts_total: 0,
            alert_sample: Vec::new(),
            escalation_policy: escalation_policy.clone(),
            escalation_level: 0,
            escalation_due_at: None,
            escalation_started_at: e.at,
            duties_done: BTreeSet::new(),
            update_reminders: 0,
            component_states: Default::default(),
            obligations_met: Default::default(),
            investigated_at: None,
            paged: Vec::new(),
            ack_round: 0,
            postmortem: None,
            action_items: Vec::new(),
            rollback: RollbackState::default(),
            runbooks: Vec::new(),
            upstreams: Default::default(),
            updated_at: e.at,
            version: e.seq,
        })
    }

    /// Apply one event. Events were validated when decided, so this never fails.
    pub fn apply(&mut self, e: &Event) {
        self.version = e.seq;
        self.updated_at = e.at;
        match &e.kind {
            EventKind::Declared { .. } => {}
            EventKind::Acknowledged => {
                self.acknowledged_at = Some(e.at);
                self.acknowledged_by = Some(e.actor.clone());
                self.tick_when(DoneWhen::Acknowledged, e);
            }
            EventKind::RoleAssigned { role, person } => {
                self.note_commander(role, e.at);
                if role == super::command::COMMANDER_ROLE {
                    self.tick_when(DoneWhen::Commander, e);
                }
                let holders = self.roles.entry(role.clone()).or_default();
                if !holders.contains(person) {
                    holders.push(person.clone());
                }
            }
            EventKind::RoleUnassigned { role, person } => self.unassign(role, person),
            EventKind::StatusUpdated {
                status, visibility, ..
            } => {
                self.last_update_at = e.at;
                self.update_reminders = 0;
                if *visibility == Visibility::Public {
                    self.last_public_update_at = Some(e.at);
                }
                if *status != Status::Investigating && self.investigated_at.is_none() {
                    self.investigated_at = Some(e.at);
                }
                if *status == Status::Mitigated && self.mitigated_at.is_none() {
                    self.mitigated_at = Some(e.at);
                }
                self.tick_when(DoneWhen::Update, e);
                if *visibility == Visibility::Public {
                    self.tick_when(DoneWhen::PublicUpdate, e);
                }
                // Resolution is its own event; an update only moves open statuses.
                if *status != Status::Resolved {
                    self.status = *status;
                }
            }
            EventKind::SeverityChanged { to, .. } => self.severity = to.clone(),
            EventKind::NoteAdded { .. } => {}
            EventKind::ChecklistItemTicked { item } => {
                if let Some(i) = self.checklist.iter_mut().find(|c| &c.item.id == item) {
                    i.ticked_at = Some(e.at);
                    i.ticked_by = Some(e.actor.clone());
                }
            }
            EventKind::HandedOff { role, from, to, .. } => {
                if let Some(from) = from {
                    self.unassign(role, from);
                }
                self.note_commander(role, e.at);
                if role == super::command::COMMANDER_ROLE {
                    self.tick_when(DoneWhen::Commander, e);
                }
                let holders = self.roles.entry(role.clone()).or_default();
                if !holders.contains(to) {
                    holders.push(to.clone());
                }
            }
            EventKind::Resolved { .. } => {
                self.investigated_at.get_or_insert(e.at);
                self.status = Status::Resolved;
                self.resolved_at = Some(e.at);
            }
            EventKind::TagsChanged {
                added,
                removed,
                checklist,
                obligations,
                obligations_ended,
            } => {
                self.tags
                    .retain(|t| !removed.iter().any(|r| r.eq_ignore_ascii_case(t)));
                for t in added {
                    if !self.tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                        self.tags.push(t.clone());
                    }
                }
                self.open_checklist(checklist, e);
                self.obligations
                    .retain(|o| !obligations_ended.contains(&o.key));
                for o in obligations {
                    if !self.obligations.iter().any(|x| x.key == o.key) {
                        self.obligations.push(o.clone());
                    }
                }
            }
            EventKind::RollbackCriterionMet { criterion, detail } => {
                if !self
                    .rollback
                    .criteria_met
                    .iter()
                    .any(|c| &c.criterion == criterion)
                {
                    self.rollback.criteria_met.push(CriterionMet {
                        criterion: criterion.clone(),
                        detail: detail.clone(),
                        at: e.at,
                    });
                }
            }
            EventKind::RollbackDecided {
                decision,
                change,
                kind,
                service,
                to_version,
                note,
            } => {
                self.rollback.decision = Some(RollbackRecord {
                    decision: *decision,
                    change: change.clone(),
                    kind: *kind,
                    service: service.clone(),
                    to_version: to_version.clone(),
                    note: note.clone(),
                    at: e.at,
                    by: e.actor.clone(),
                });
            }
            EventKind::RollbackHookCalled { .. } | EventKind::FreezeOverridden { .. } => {}
            EventKind::UpstreamStatusChanged {
                provider,
                indicator,
                ..
            } => {
                self.upstreams.insert(provider.clone(), indicator.clone());
            }
            EventKind::RunbookAttached {
                runbook, checklist, ..
            } => {
                if !self.runbooks.contains(runbook) {
                    self.runbooks.push(runbook.clone());
                }
                self.open_checklist(checklist, e);
            }
            EventKind::ObligationMet { key, evidence } => {
                self.obligations_met.insert(
                    key.clone(),
                    MetObligation {
                        at: e.at,
                        by: e.actor.clone(),
                        evidence: evidence.clone(),
                    },
                );
            }
            EventKind::PostmortemOpened {
                owner,
                due_at,
                review,
            } => {
                self.postmortem = Some(Postmortem {
                    state: PostmortemState::Draft,
                    owner: owner.clone(),
                    due_at: *due_at,
                    opened_at: e.at,
                    document: None,
                    edited_at: None,
                    edited_by: None,
                    published_at: None,
                    review_set_at: review.as_ref().map(|_| e.at),
                    review: review.clone(),
                });
            }
            EventKind::PostmortemEdited { document, owner } => {
                if let Some(pm) = &mut self.postmortem {
                    if let Some(d) = document {
                        pm.document = Some(d.clone());
                        pm.edited_at = Some(e.at);
                        pm.edited_by = Some(e.actor.clone());
                    }
                    if let Some(o) = owner {
                        pm.owner = Some(o.clone());
                    }
                }
            }
            EventKind::PostmortemStateChanged { to, .. } => {
                if let Some(pm) = &mut self.postmortem {
                    pm.state = *to;
                    // Taken back from published, the deadline is owed again.
                    pm.published_at = (*to == PostmortemState::Published).then_some(e.at);
                }
            }
            EventKind::ReviewScheduled { review } => {
                if let Some(pm) = &mut self.postmortem {
                    pm.review = Some(review.clone());
                    pm.review_set_at = Some(e.at);
                }
            }
            EventKind::ActionItemAdded { item } => self.action_items.push(item.clone()),
            EventKind::ActionItemUpdated { id, change } => {
                if let Some(a) = self.action_items.iter_mut().find(|a| a.id == *id) {
                    if let Some(t) = &change.title {
                        a.title = t.clone();
                    }
                    if let Some(o) = &change.owner {
                        a.owner = o.clone();
                    }
                    if let Some(d) = change.due_at {
                        a.due_at = Some(d);
                    }
                    if let Some(p) = change.priority {
                        a.priority = p;
                    }
                    if let Some(s) = change.status {
                        a.status = s;
                        a.completed_at = (s == ActionStatus::Complete).then_some(e.at);
                    }
                }
            }
            EventKind::ActionItemFiled { id, issue } => {
                if let Some(a) = self.action_items.iter_mut().find(|a| a.id == *id) {
                    a.tracker = Some(issue.clone());
                }
            }
            EventKind::ComponentStateSet {
                component, status, ..
            } => match status {
                Some(status) => {
                    self.component_states
                        .insert(component.clone(), status.clone());
                }
                None => {
                    self.component_states.remove(component);
                }
            },
            EventKind::Reopened { .. } => {
                self.status = Status::Investigating;
                self.resolved_at = None;
                // Back to unacknowledged, as a re-triggered page is: a ladder
                // that stops on acknowledgement must page again until
                // someone owns the reopened incident.
                self.acknowledged_at = None;
                self.acknowledged_by = None;
                // The ladder starts again from its first step.
                self.escalation_level = 0;
                self.escalation_due_at = None;
                self.escalation_started_at = e.at;
                self.ack_round += 1;
            }
            EventKind::AlertsChanged {
                firing,
                total,
                sample,
                ..
            } => {
                self.alerts_firing = *firing;
                self.alerts_total = *total;
                if !sample.is_empty() {
                    self.alert_sample = sample.clone();
                }
            }
            EventKind::Escalated {
                level,
                due_at,
                notified,
                ..
            } => {
                self.escalation_level = level + 1;
                self.escalation_due_at = Some(*due_at);
                self.note_paged(notified);
            }
            EventKind::RuleTriggered { duty, notified, .. } => {
                self.duties_done.insert(duty.clone());
                self.note_paged(notified);
            }
            EventKind::Reminded { duty, n, .. } => {
                if matches!(duty, Duty::UpdateReminder { .. }) {
                    self.update_reminders = *n;
                } else {
                    self.duties_done.insert(duty.clone());
                }
            }
            EventKind::Notification { .. } => {}
        }
    }

    /// Open checklist items not already on the incident; one whose
    /// `done_when` already happened is ticked at once.
    fn open_checklist(&mut self, items: &[OpenedChecklistItem], e: &Event) {
        for item in items {
            if !self.checklist.iter().any(|c| c.item.id == item.id) {
                let done = item.done_when.is_some_and(|w| match w {
                    DoneWhen::Acknowledged => self.acknowledged_at.is_some(),
                    DoneWhen::Commander => !self.holders(super::command::COMMANDER_ROLE).is_empty(),
                    DoneWhen::Update => self.last_update_at > self.declared_at,
                    DoneWhen::PublicUpdate => self.last_public_update_at.is_some(),
                });
                self.checklist.push(ChecklistItemState {
                    item: item.clone(),
                    ticked_at: done.then_some(e.at),
                    ticked_by: done.then(|| e.actor.clone()),
                });
            }
        }
    }

    /// Tick the open items that `what` completes, as done by `e`'s actor.
    fn tick_when(&mut self, what: DoneWhen, e: &Event) {
        for c in &mut self.checklist {
            if c.ticked_at.is_none() && c.item.done_when == Some(what) {
                c.ticked_at = Some(e.at);
                c.ticked_by = Some(e.actor.clone());
            }
        }
    }

    fn note_paged(&mut self, notified: &[Notified]) {
        for n in notified {
            if !self.paged.contains(&n.person) {
                self.paged.push(n.person.clone());
            }
        }
    }

    fn note_commander(&mut self, role: &str, at: Timestamp) {
        if role == super::command::COMMANDER_ROLE && self.commander_assigned_at.is_none() {
            self.commander_assigned_at = Some(at);
        }
    }

    fn unassign(&mut self, role: &str, person: &str) {
        if let Some(holders) = self.roles.get_mut(role) {
            holders.retain(|p| p != person);
            if holders.is_empty() {
                self.roles.remove(role);
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// People holding a role, in assignment order.
    pub fn holders(&self, role: &str) -> &[String] {
        self.roles.get(role).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Checklist items not yet ticked.
    pub fn open_checklist_items(&self) -> impl Iterator<Item = &ChecklistItemState> {
        self.checklist.iter().filter(|c| c.ticked_at.is_none())
    }
}
