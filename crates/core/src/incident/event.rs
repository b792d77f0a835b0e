//! Incident events: the only record of what happened. The timeline, the audit
//! trail and the postmortem timeline are all this log; state is a fold over it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::escalation::Duty;

/// One entry of an incident's log. `seq` starts at 1 and has no gaps; the
/// incident's version is the `seq` of its last event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub seq: u64,
    pub at: Timestamp,
    /// Who did it: a person key, `token:<name>`, or `system`.
    pub actor: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Lifecycle status of an incident, in the order incidents usually move through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Investigating,
    Identified,
    Mitigated,
    Monitoring,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Investigating,
        Status::Identified,
        Status::Mitigated,
        Status::Monitoring,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Mitigated => "mitigated",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
        }
    }

    pub fn is_open(self) -> bool {
        self != Status::Resolved
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown status {s:?}; expected one of investigating, identified, mitigated, monitoring, resolved"
                )
            })
    }
}

/// Who may read a status update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Internal,
    Public,
}

/// Text direction of a rendered message, so RTL locales (Arabic) display right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Ltr,
    Rtl,
}

impl Direction {
    /// Direction of a BCP-47-ish locale tag by its language subtag.
    pub fn of_locale(locale: &str) -> Direction {
        let lang = locale
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lang.as_str() {
            "ar" | "he" | "fa" | "ur" | "ps" | "yi" | "dv" | "ckb" => Direction::Rtl,
            _ => Direction::Ltr,
        }
    }
}

/// A checklist item as opened on an incident (copied from the policy at
/// declaration, so a later policy change does not rewrite history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenedChecklistItem {
    /// `<checklist key>.<item key>`, e.g. `first-10-minutes.freeze`.
    pub id: String,
    pub checklist: String,
    pub text: String,
    /// Deadline, if the policy gives one.
    pub due_at: Option<Timestamp>,
    /// A runbook step's command, shown as text to copy (never run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A runbook step that applies only from this instant (a long outage's
    /// steps) or only until it (a short outage's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_until: Option<Timestamp>,
    /// What ticks it by itself (the policy item's `done_when`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_when: Option<crate::policy::DoneWhen>,
}

impl OpenedChecklistItem {
    /// Whether the step applies at `now` (steps without a phase always do).
    pub fn applies_at(&self, now: Timestamp) -> bool {
        self.applies_from.is_none_or(|t| t <= now) && self.applies_until.is_none_or(|t| now < t)
    }
}

/// An obligation whose clock started with this incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartedObligation {
    pub key: String,
    pub title: String,
    pub due_at: Option<Timestamp>,
    pub steps: Vec<String>,
}

/// What happened. Tagged as `"type"` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Declared {
        title: String,
        severity: String,
        #[serde(default)]
        summary: String,
        #[serde(default)]
        services: Vec<String>,
        #[serde(default)]
        tags: Vec<String>,
        /// When the problem was detected, if earlier than the declaration.
        detected_at: Option<Timestamp>,
        #[serde(default)]
        checklist: Vec<OpenedChecklistItem>,
        #[serde(default)]
        obligations: Vec<StartedObligation>,
        /// Escalation policy chosen at declaration (route or service); when
        /// `None`, the severity's or the organization's applies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escalation_policy: Option<String>,
        /// A drill (a game day, a monitoring check): it pages and escalates
        /// like any incident, but never reaches the status page, its
        /// subscribers or the reports.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drill: bool,
    },
    Acknowledged,
    RoleAssigned {
        role: String,
        person: String,
    },
    RoleUnassigned {
        role: String,
        person: String,
    },
    StatusUpdated {
        status: Status,
        visibility: Visibility,
        message: String,
        /// Template name when rendered from one.
        template: Option<String>,
        locale: Option<String>,
        #[serde(default)]
        direction: Direction,
    },
    SeverityChanged {
        from: String,
        to: String,
        reason: String,
    },
    NoteAdded {
        text: String,
    },
    ChecklistItemTicked {
        item: String,
    },
    HandedOff {
        role: String,
        from: Option<String>,
        to: String,
        /// What was tried (commands run, changes made).
        summary: String,
        #[serde(default)]
        metrics: String,
        #[serde(default)]
        evidence: String,
        next_steps: String,
        /// The announcement posted with it: `HANDOFF: incident now owned by ...`.
        message: String,
    },
    Resolved {
        #[serde(default)]
        summary: String,
    },
    Reopened {
        reason: String,
    },
    /// Flags raised or lowered mid-incident, with what they opened: the
    /// checklist items and obligations the new tags call for, and the
    /// obligations no remaining tag asks for any more.
    TagsChanged {
        added: Vec<String>,
        removed: Vec<String>,
        #[serde(default)]
        checklist: Vec<OpenedChecklistItem>,
        #[serde(default)]
        obligations: Vec<StartedObligation>,
        #[serde(default)]
        obligations_ended: Vec<String>,
    },
    /// An obligation fulfilled (the regulator notified), with its evidence.
    ObligationMet {
        key: String,
        evidence: String,
    },
    /// A resolution opened the postmortem its severity requires: its owner,
    /// due date, and the review meeting the policy sets.
    PostmortemOpened {
        owner: Option<String>,
        due_at: Option<Timestamp>,
        #[serde(default)]
        review: Option<super::postmortem::Review>,
    },
    /// The postmortem's document saved, or its owner changed.
    PostmortemEdited {
        #[serde(default)]
        document: Option<String>,
        #[serde(default)]
        owner: Option<String>,
    },
    PostmortemStateChanged {
        from: super::postmortem::PostmortemState,
        to: super::postmortem::PostmortemState,
    },
    /// The review meeting set or moved.
    ReviewScheduled {
        review: super::postmortem::Review,
    },
    ActionItemAdded {
        item: super::postmortem::ActionItem,
    },
    ActionItemUpdated {
        id: u32,
        change: super::postmortem::ActionItemChange,
    },
    /// The action item filed in the issue tracker, or its state there read back.
    ActionItemFiled {
        id: u32,
        issue: super::postmortem::TrackerIssue,
    },
    /// What the status page shows for a component, set by a person while
    /// this incident is open; `None` goes back to the derived state.
    ComponentStateSet {
        component: String,
        status: Option<String>,
        reason: String,
    },
    /// A rollback criterion held: its decision clock starts at the first.
    RollbackCriterionMet {
        criterion: String,
        detail: String,
    },
    /// Rolled back, or fix forward: the decision and what it undid.
    RollbackDecided {
        decision: super::rollback::RollbackDecision,
        change: Option<String>,
        kind: Option<crate::change::ChangeKind>,
        service: Option<String>,
        to_version: Option<String>,
        #[serde(default)]
        note: String,
    },
    /// The policy's rollback hook was called on a person's confirmation.
    RollbackHookCalled {
        change: Option<String>,
        url: String,
        ok: bool,
        outcome: String,
    },
    /// An upstream provider's status page changed while this incident was
    /// open: `indicator` is Statuspage's (`none` is operational).
    UpstreamStatusChanged {
        provider: String,
        name: String,
        indicator: String,
        description: String,
    },
    /// An admin let deploys through the freeze this incident holds.
    FreezeOverridden {
        freeze: String,
        environment: Option<String>,
        service: Option<String>,
        reason: String,
        until: Timestamp,
    },
    /// A runbook's steps opened as a checklist: by an alert its matchers
    /// hold for, the incident's services or tags, or a person.
    RunbookAttached {
        runbook: String,
        title: String,
        reason: String,
        #[serde(default)]
        checklist: Vec<OpenedChecklistItem>,
    },
    /// Alerts were attached to the incident, resolved or fired again. Counts
    /// and a small sample only: an incident with thousands of alerts keeps a
    /// readable timeline (the full list is in the alerts table).
    AlertsChanged {
        attached: u64,
        resolved: u64,
        refired: u64,
        /// Firing and total alerts on the incident after this change.
        firing: u64,
        total: u64,
        #[serde(default)]
        sample: Vec<AlertBrief>,
        /// When the change leaves no alert firing: what the policy did about it.
        #[serde(default)]
        all_resolved: bool,
    },
    /// A step of the escalation policy fired: who was paged, and how.
    Escalated {
        policy: String,
        /// 0-based index of the step fired, counting repeats (`steps × round + i`).
        level: u32,
        /// The step's name (`L2`) or `step N`.
        step: String,
        round: u32,
        /// When the step was due; a late tick still fires it once.
        due_at: Timestamp,
        reason: String,
        notified: Vec<Notified>,
        /// Targets that reached nobody, and why ("schedule dba: nobody on call").
        #[serde(default)]
        unreachable: Vec<String>,
    },
    /// An escalation rule's condition held: who was told.
    RuleTriggered {
        rule: String,
        /// The rule's duty (its clock's instant too, for update clocks).
        duty: Duty,
        due_at: Timestamp,
        reason: String,
        notified: Vec<Notified>,
        #[serde(default)]
        unreachable: Vec<String>,
    },
    /// A reminder or a breached target: `update`, `commander`, `respond`,
    /// `obligation:<key>`.
    Reminded {
        reminder: String,
        duty: Duty,
        /// For repeating reminders: how many since the last status update.
        #[serde(default)]
        n: u32,
        due_at: Timestamp,
        reason: String,
        notified: Vec<Notified>,
        #[serde(default)]
        unreachable: Vec<String>,
    },
    /// What happened to one notification: delivered, failed (will retry),
    /// dead-lettered, or cancelled by an acknowledgement or resolution.
    Notification {
        notification: String,
        person: String,
        channel: String,
        outcome: NotificationOutcome,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// A person notified by an escalation, rule or reminder, and through which channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notified {
    pub person: String,
    /// How they were reached: the target that named them (`schedule:primary`).
    pub via: String,
    pub channels: Vec<String>,
}

/// The outcome of one delivery attempt (or of its cancellation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationOutcome {
    Delivered,
    Failed,
    DeadLettered,
    Cancelled,
}

impl NotificationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationOutcome::Delivered => "delivered",
            NotificationOutcome::Failed => "failed",
            NotificationOutcome::DeadLettered => "dead_lettered",
            NotificationOutcome::Cancelled => "cancelled",
        }
    }
}

/// A one-line description of an alert for the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertBrief {
    pub key: String,
    /// `alertname` and the most telling labels, e.g. `HighErrorRate{service="api"}`.
    pub summary: String,
    pub firing: bool,
}

impl EventKind {
    /// For viewers: a phone or SMS delivery's error text can echo the
    /// number (gateways do), so it is hidden (s000.private-roster).
    pub fn hide_phone_details(&mut self) {
        if let EventKind::Notification { channel, error, .. } = self
            && crate::policy::ContactKind::is_phone_kind(channel)
            && error.is_some()
        {
            *error = Some("(hidden)".into());
        }
    }

    /// The `type` tag, e.g. `role_assigned`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Declared { .. } => "declared",
            EventKind::Acknowledged => "acknowledged",
            EventKind::RoleAssigned { .. } => "role_assigned",
            EventKind::RoleUnassigned { .. } => "role_unassigned",
            EventKind::StatusUpdated { .. } => "status_updated",
            EventKind::SeverityChanged { .. } => "severity_changed",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::ChecklistItemTicked { .. } => "checklist_item_ticked",
            EventKind::HandedOff { .. } => "handed_off",
            EventKind::Resolved { .. } => "resolved",
            EventKind::Reopened { .. } => "reopened",
            EventKind::ComponentStateSet { .. } => "component_state_set",
            EventKind::TagsChanged { .. } => "tags_changed",
            EventKind::ObligationMet { .. } => "obligation_met",
            EventKind::PostmortemOpened { .. } => "postmortem_opened",
            EventKind::PostmortemEdited { .. } => "postmortem_edited",
            EventKind::PostmortemStateChanged { .. } => "postmortem_state_changed",
            EventKind::ReviewScheduled { .. } => "review_scheduled",
            EventKind::ActionItemAdded { .. } => "action_item_added",
            EventKind::ActionItemUpdated { .. } => "action_item_updated",
            EventKind::ActionItemFiled { .. } => "action_item_filed",
            EventKind::RollbackCriterionMet { .. } => "rollback_criterion_met",
            EventKind::RollbackDecided { .. } => "rollback_decided",
            EventKind::RollbackHookCalled { .. } => "rollback_hook_called",
            EventKind::FreezeOverridden { .. } => "freeze_overridden",
            EventKind::UpstreamStatusChanged { .. } => "upstream_status_changed",
            EventKind::RunbookAttached { .. } => "runbook_attached",
            EventKind::AlertsChanged { .. } => "alerts_changed",
            EventKind::Escalated { .. } => "escalated",
            EventKind::RuleTriggered { .. } => "rule_triggered",
            EventKind::Reminded { .. } => "reminded",
            EventKind::Notification { .. } => "notification",
        }
    }

    /// Whom a page, rule or reminder could not reach, and why.
    pub fn unreachable(&self) -> &[String] {
        match self {
            EventKind::Escalated { unreachable, .. }
            | EventKind::RuleTriggered { unreachable, .. }
            | EventKind::Reminded { unreachable, .. } => unreachable,
            _ => &[],
        }
    }

    /// What happened, in words, for a timeline read by people (the CLI's
    /// `show`, the console). Multi-line texts keep their line breaks.
    pub fn describe(&self) -> String {
        let people = |notified: &[Notified]| -> String {
            notified
                .iter()
                .map(|n| format!("{} ({})", n.person, n.channels.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let told = |what: String, notified: &[Notified], unreachable: &[String]| -> String {
            let mut line = what;
            if !notified.is_empty() {
                line.push_str(&format!(" — notified {}", people(notified)));
            }
            if !unreachable.is_empty() {
                line.push_str(&format!(" — UNREACHABLE: {}", unreachable.join("; ")));
            }
            line
        };
        match self {
            EventKind::Declared {
                severity,
                title,
                drill,
                ..
            } => format!(
                "declared {}{severity} {title:?}",
                if *drill { "a drill: " } else { "" }
            ),
            EventKind::Acknowledged => "acknowledged".into(),
            EventKind::RoleAssigned { role, person } => format!("assigned {role} → {person}"),
            EventKind::RoleUnassigned { role, person } => {
                format!("unassigned {person} from {role}")
            }
            EventKind::StatusUpdated {
                status,
                visibility,
                message,
                template,
                locale,
                ..
            } => {
                let visibility = match visibility {
                    Visibility::Public => "public",
                    Visibility::Internal => "internal",
                };
                let tpl = template
                    .as_ref()
                    .map(|t| format!(" (template {t}, {})", locale.as_deref().unwrap_or("")))
                    .unwrap_or_default();
                format!("update [{visibility}] {status}{tpl}:\n{message}")
            }
            EventKind::SeverityChanged { from, to, reason } => {
                format!("severity {from} → {to}: {reason}")
            }
            EventKind::NoteAdded { text } => format!("note: {text}"),
            EventKind::ChecklistItemTicked { item } => format!("ticked {item}"),
            EventKind::HandedOff { message, .. } => message.clone(),
            EventKind::Resolved { summary } => format!("resolved {summary}"),
            EventKind::Reopened { reason } => format!("reopened: {reason}"),
            EventKind::TagsChanged {
                added,
                removed,
                checklist,
                obligations,
                obligations_ended,
            } => {
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("tagged {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    parts.push(format!("untagged {}", removed.join(", ")));
                }
                if !checklist.is_empty() {
                    parts.push(format!("{} checklist items opened", checklist.len()));
                }
                for o in obligations {
                    parts.push(match o.due_at {
                        Some(due) => format!("clock started: {} (due {due})", o.title),
                        None => format!("obligation started: {}", o.title),
                    });
                }
                if !obligations_ended.is_empty() {
                    parts.push(format!(
                        "obligations ended: {}",
                        obligations_ended.join(", ")
                    ));
                }
                parts.join("; ")
            }
            EventKind::ObligationMet { key, evidence } => {
                format!("obligation {key} met: {evidence}")
            }
            EventKind::RollbackCriterionMet { criterion, detail } => {
                format!("rollback criterion met: {criterion} ({detail})")
            }
            EventKind::RollbackDecided {
                decision,
                change,
                service,
                to_version,
                note,
                ..
            } => {
                let what = match decision {
                    super::rollback::RollbackDecision::RolledBack => format!(
                        "rolled back {}{}{}",
                        change.as_deref().unwrap_or("the last change"),
                        service
                            .as_deref()
                            .map(|s| format!(" on {s}"))
                            .unwrap_or_default(),
                        to_version
                            .as_deref()
                            .map(|v| format!(" to {v}"))
                            .unwrap_or_default()
                    ),
                    super::rollback::RollbackDecision::FixForward => {
                        "decided to fix forward".into()
                    }
                };
                if note.is_empty() {
                    what
                } else {
                    format!("{what}: {note}")
                }
            }
            EventKind::RollbackHookCalled {
                url, ok, outcome, ..
            } => format!(
                "rollback hook {url} {}: {outcome}",
                if *ok { "called" } else { "FAILED" }
            ),
            EventKind::UpstreamStatusChanged {
                name,
                indicator,
                description,
                ..
            } => match indicator.as_str() {
                "none" => format!("upstream {name} recovered: {description}"),
                other => format!("upstream {name} reports an incident ({other}): {description}"),
            },
            EventKind::FreezeOverridden {
                environment,
                service,
                reason,
                until,
                ..
            } => format!(
                "deploy freeze overridden for {} until {until}: {reason}",
                [environment.as_deref(), service.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/")
            ),
            EventKind::RunbookAttached {
                title,
                reason,
                checklist,
                ..
            } => format!(
                "runbook {title:?} attached ({reason}): {} steps",
                checklist.len()
            ),
            EventKind::PostmortemOpened {
                owner,
                due_at,
                review,
            } => {
                let mut line = format!(
                    "postmortem opened, owner {}",
                    owner.as_deref().unwrap_or("unassigned")
                );
                if let Some(due) = due_at {
                    line.push_str(&format!(", due {}", fmt_utc(*due)));
                }
                if let Some(r) = review {
                    line.push_str(&format!("; review {}", describe_review(r)));
                }
                line
            }
            EventKind::PostmortemEdited { document, owner } => match (document, owner) {
                (Some(_), Some(o)) => format!("postmortem saved; owner {o}"),
                (Some(d), None) => format!("postmortem saved ({} lines)", d.lines().count()),
                (None, Some(o)) => format!("postmortem owner {o}"),
                (None, None) => "postmortem touched".into(),
            },
            EventKind::PostmortemStateChanged { from, to } => {
                format!("postmortem {} → {}", from.as_str(), to.as_str())
            }
            EventKind::ReviewScheduled { review } => {
                format!("postmortem review {}", describe_review(review))
            }
            EventKind::ActionItemAdded { item } => {
                let mut line = format!(
                    "action item {} added: {} (owner {}",
                    item.id, item.title, item.owner
                );
                if let Some(due) = item.due_at {
                    line.push_str(&format!(", due {}", fmt_utc(due)));
                }
                line.push_str(&format!(", {} priority)", item.priority.as_str()));
                line
            }
            EventKind::ActionItemUpdated { id, change } => {
                format!("action item {id}: {}", change.describe())
            }
            EventKind::ActionItemFiled { id, issue } => {
                format!(
                    "action item {id} is issue #{} ({}): {}",
                    issue.number, issue.state, issue.url
                )
            }
            EventKind::ComponentStateSet {
                component,
                status: Some(status),
                reason,
            } => format!("status page: {component} shown as {status}: {reason}"),
            EventKind::ComponentStateSet {
                component,
                status: None,
                reason,
            } => format!("status page: {component} back to its derived state: {reason}"),
            EventKind::AlertsChanged {
                attached,
                resolved,
                firing,
                total,
                sample,
                all_resolved,
                ..
            } => {
                let mut line = format!(
                    "alerts: {attached} attached, {resolved} resolved; {firing} of {total} firing"
                );
                if *all_resolved {
                    line.push_str(" — all alerts resolved");
                }
                for a in sample {
                    let state = if a.firing { "firing" } else { "resolved" };
                    line.push_str(&format!("\n{} ({state})", a.summary));
                }
                line
            }
            EventKind::Escalated {
                step,
                reason,
                notified,
                unreachable,
                ..
            } => told(
                format!("escalated: {step} ({reason})"),
                notified,
                unreachable,
            ),
            EventKind::RuleTriggered {
                rule,
                reason,
                notified,
                unreachable,
                ..
            } => told(format!("rule {rule}: {reason}"), notified, unreachable),
            EventKind::Reminded {
                reminder,
                reason,
                notified,
                unreachable,
                ..
            } => told(
                format!("reminder {reminder}: {reason}"),
                notified,
                unreachable,
            ),
            EventKind::Notification {
                person,
                channel,
                outcome,
                attempt,
                error,
                ..
            } => {
                let outcome = serde_json::to_value(outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let mut line =
                    format!("notification to {person} by {channel}: {outcome} (attempt {attempt})");
                if let Some(e) = error {
                    line.push_str(&format!(": {e}"));
                }
                line
            }
        }
    }
}

fn fmt_utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn describe_review(r: &super::postmortem::Review) -> String {
    let mut line = format!("at {}", fmt_utc(r.at));
    if let Some(p) = &r.place {
        line.push_str(&format!(" ({p})"));
    }
    if !r.participants.is_empty() {
        line.push_str(&format!(" with {}", r.participants.join(", ")));
    }
    line
}

/// Roles held on an incident: role key → people, in assignment order.
pub type RoleHolders = BTreeMap<String, Vec<String>>;
