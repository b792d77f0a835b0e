//! Commands: what people ask of an incident. [`decide`] checks a command against
//! the incident, the policy and `now`, and returns the events to append — or a
//! [`CommandError`] that says why not. Nothing here mutates state or does I/O.

use std::collections::BTreeMap;

use super::event::{
    AlertBrief, Event, EventKind, OpenedChecklistItem, StartedObligation, Status, Visibility,
};
use super::message::render_template_linked;
use super::postmortem::{
    ActionItem, ActionItemChange, ActionStatus, PostmortemState, Priority, TrackerIssue,
};
use super::state::Incident;
use crate::{Policy, Timestamp};

/// The role every policy's commander-related rules refer to.
pub const COMMANDER_ROLE: &str = "incident_commander";

/// Longest free text accepted in a single field (titles are shorter).
const MAX_TEXT: usize = 20_000;
const MAX_TITLE: usize = 300;
/// Longest postmortem document accepted.
const MAX_DOCUMENT: usize = 200_000;
/// Alerts named on the timeline per change; the rest are counted.
pub const MAX_ALERT_SAMPLE: usize = 5;

/// What a command is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub now: Timestamp,
    /// Who is acting: a person key, `token:<name>` or `system`.
    pub actor: &'a str,
    /// Where people reach this Firebell (`https://firebell.example`), so
    /// messages can carry the incident's own link; empty when unknown.
    pub link_base: &'a str,
}

impl Context<'_> {
    /// The incident's one link (its room in the console), if the base is known.
    pub fn incident_link(&self, id: &str) -> Option<String> {
        (!self.link_base.is_empty())
            .then(|| format!("{}/incidents/{id}", self.link_base.trim_end_matches('/')))
    }
}

/// Declare a new incident.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Declare {
    pub title: String,
    pub severity: String,
    pub summary: String,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    /// When the problem was detected, if before the declaration.
    pub detected_at: Option<Timestamp>,
    /// Assign an incident commander at once.
    pub commander: Option<String>,
    /// Escalation policy to page with (an alert's route sets it); otherwise
    /// the first affected service's, then the severity's, then the default.
    pub escalation_policy: Option<String>,
    /// A drill: it pages and escalates, but is never public nor reported;
    /// its title is marked `[DRILL]` so every page says so.
    pub drill: bool,
}

/// The text of a status update: typed, or rendered from a policy template.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateMessage {
    Text(String),
    Template {
        name: String,
        /// Defaults to the policy's default locale.
        locale: Option<String>,
        /// Extra values the template may use as `vars.<key>` (impact, eta, ...).
        vars: BTreeMap<String, String>,
    },
}

/// A command on an existing incident.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Acknowledge,
    AssignRole {
        role: String,
        person: String,
    },
    UnassignRole {
        role: String,
        person: String,
    },
    PostUpdate {
        /// New status; `None` keeps the current one.
        status: Option<Status>,
        visibility: Visibility,
        message: UpdateMessage,
    },
    ChangeSeverity {
        severity: String,
        reason: String,
    },
    AddNote {
        text: String,
    },
    TickChecklistItem {
        item: String,
    },
    Handoff {
        /// Role handed over; defaults to incident commander.
        role: Option<String>,
        to: String,
        /// Escalation level of the new owner, e.g. `L2`, shown in the announcement.
        level: Option<String>,
        /// What was tried: commands run, changes made.
        summary: String,
        metrics: String,
        evidence: String,
        next_steps: String,
    },
    Resolve {
        summary: String,
    },
    Reopen {
        reason: String,
    },
    /// Raise or lower flags at any time (`data-loss`, `cannot-rollback`,
    /// `personal-data-breach`): the rules, checklists and obligations that
    /// name a tag apply from the moment it is added.
    ChangeTags {
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Record that an obligation on the incident was fulfilled (SDAIA
    /// notified), with the evidence; its reminders stop.
    MeetObligation {
        key: String,
        evidence: String,
    },
    /// Override what the status page shows for `component` (its id,
    /// `<service>.<slug>`) while this incident is open: a status name, or
    /// `auto` to go back to the state derived from incidents and maintenance.
    SetComponentState {
        component: String,
        status: String,
        reason: String,
    },
    /// Save the postmortem's document, or change its owner. On a resolved
    /// incident whose severity required none, the first edit opens one.
    EditPostmortem {
        document: Option<String>,
        owner: Option<String>,
    },
    /// Move the postmortem on (draft → in review → published) or back.
    SetPostmortemState {
        state: PostmortemState,
    },
    /// Set or move the postmortem's review meeting. No participants keeps
    /// the ones invited already.
    ScheduleReview {
        at: Timestamp,
        place: Option<String>,
        participants: Vec<String>,
    },
    AddActionItem {
        title: String,
        owner: String,
        due_at: Option<Timestamp>,
        priority: Priority,
    },
    UpdateActionItem {
        id: u32,
        change: ActionItemChange,
    },
    /// From the tracker export: the issue an item was filed as, or its
    /// state there read back (a closed issue completes the item).
    RecordTrackerIssue {
        id: u32,
        issue: TrackerIssue,
    },
    /// From the alert processor: alerts attached, resolved or fired again.
    /// With `all_resolved`, the severity's `on_alerts_resolved` decides
    /// whether the incident resolves itself.
    RecordAlerts {
        attached: u64,
        resolved: u64,
        refired: u64,
        firing: u64,
        total: u64,
        sample: Vec<AlertBrief>,
        /// Runbooks whose matchers hold for one of the alerts.
        runbooks: Vec<String>,
        /// Rollback criteria an alert shows: name and the alert.
        criteria: Vec<(String, String)>,
    },
    /// Attach a runbook's steps by hand (a scenario people recognise).
    AttachRunbook {
        runbook: String,
    },
    /// A rollback criterion held: a check-in value above its threshold.
    MeetRollbackCriterion {
        criterion: String,
        detail: String,
    },
    /// Record the rollback decision. `RolledBack` names the change undone
    /// (the server fills in its kind, service and previous version) and
    /// opens the post-rollback checklist; with `resolve` the incident
    /// resolves "via rollback", publicly.
    DecideRollback {
        decision: super::rollback::RollbackDecision,
        change: Option<ChangeRef>,
        note: String,
        resolve: bool,
    },
    /// The rollback hook's outcome, recorded after a confirmed call.
    RecordRollbackHook {
        change: Option<String>,
        url: String,
        ok: bool,
        outcome: String,
    },
    /// An upstream provider's status page changed (an outage, a recovery).
    RecordUpstreamStatus {
        provider: String,
        name: String,
        indicator: String,
        description: String,
    },
    /// An admin let deploys through a freeze this incident holds.
    RecordFreezeOverride {
        freeze: String,
        environment: Option<String>,
        service: Option<String>,
        reason: String,
        until: Timestamp,
    },
}

/// The change a rollback undoes, as the store knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRef {
    pub id: String,
    pub kind: crate::change::ChangeKind,
    pub service: Option<String>,
    pub previous_version: Option<String>,
}

impl Command {
    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Acknowledge => "acknowledge",
            Command::AssignRole { .. } => "assign_role",
            Command::UnassignRole { .. } => "unassign_role",
            Command::PostUpdate { .. } => "post_update",
            Command::ChangeSeverity { .. } => "change_severity",
            Command::AddNote { .. } => "add_note",
            Command::TickChecklistItem { .. } => "tick_checklist_item",
            Command::Handoff { .. } => "handoff",
            Command::Resolve { .. } => "resolve",
            Command::Reopen { .. } => "reopen",
            Command::SetComponentState { .. } => "set_component_state",
            Command::ChangeTags { .. } => "change_tags",
            Command::MeetObligation { .. } => "meet_obligation",
            Command::RecordAlerts { .. } => "record_alerts",
            Command::EditPostmortem { .. } => "edit_postmortem",
            Command::SetPostmortemState { .. } => "set_postmortem_state",
            Command::ScheduleReview { .. } => "schedule_review",
            Command::AddActionItem { .. } => "add_action_item",
            Command::UpdateActionItem { .. } => "update_action_item",
            Command::RecordTrackerIssue { .. } => "record_tracker_issue",
            Command::AttachRunbook { .. } => "attach_runbook",
            Command::MeetRollbackCriterion { .. } => "meet_rollback_criterion",
            Command::DecideRollback { .. } => "decide_rollback",
            Command::RecordRollbackHook { .. } => "record_rollback_hook",
            Command::RecordFreezeOverride { .. } => "record_freeze_override",
            Command::RecordUpstreamStatus { .. } => "record_upstream_status",
        }
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The command is well-formed but not allowed in the incident's current state.
    InvalidTransition,
    /// The command names something that does not exist or is malformed.
    InvalidInput,
}

/// A refused command: a stable machine `code`, a human message, and its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
    pub rejection: Rejection,
}

impl CommandError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            code,
            message: message.into(),
            rejection: Rejection::InvalidInput,
        }
    }

    pub fn transition(code: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            code,
            message: message.into(),
            rejection: Rejection::InvalidTransition,
        }
    }
}

/// Turn decided event kinds into log entries following `version`.
pub fn stamp(kinds: Vec<EventKind>, version: u64, at: Timestamp, actor: &str) -> Vec<Event> {
    kinds
        .into_iter()
        .zip(version + 1..)
        .map(|(kind, seq)| Event {
            seq,
            at,
            actor: actor.to_string(),
            kind,
        })
        .collect()
}

/// The id stem for an incident declared at `now`: `{prefix}-{YYYYMMDD}` in the
/// policy's id time zone. The store appends the day's sequence number.
pub fn incident_id_stem(policy: &Policy, now: Timestamp) -> String {
    let ids = &policy.incident_ids;
    // The loader validated the zone; UTC is only a fallback for hand-built policies.
    let tz = jiff::tz::TimeZone::get(&ids.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    format!("{}-{}", ids.prefix, now.to_zoned(tz).strftime("%Y%m%d"))
}

/// Check a declaration and return the incident it opens with its first
/// events, stamped at `ctx.now` by `ctx.actor`. The incident's `id` is empty:
/// the store numbers it when it is written.
pub fn declare(d: &Declare, ctx: &Context) -> Result<(Incident, Vec<Event>), CommandError> {
    let mut kinds = declared_events(d, ctx)?;
    let opened = || {
        let events = stamp(kinds.clone(), 0, ctx.now, ctx.actor);
        Incident::from_events("", &events).ok_or_else(|| {
            CommandError::invalid(
                "invalid_declaration",
                "the declaration produced no incident",
            )
        })
    };
    if let Some(notice) = customer_notice(ctx, &opened()?)? {
        kinds.push(notice);
    }
    let events = stamp(kinds, 0, ctx.now, ctx.actor);
    let incident = Incident::from_events("", &events).ok_or_else(|| {
        CommandError::invalid(
            "invalid_declaration",
            "the declaration produced no incident",
        )
    })?;
    Ok((incident, events))
}

fn customer_notice_template<'p>(policy: &'p Policy, severity: &str) -> Option<&'p str> {
    policy
        .severity(severity)
        .and_then(|s| s.customer_notice.as_deref())
}

/// The public update a severity's `customer_notice` posts, rendered in the
/// status page's first locale against `incident` (at declaration its id
/// is not yet known, so a notice should not name it: customers do not need
/// it). `None` when the severity has no notice or the incident is on no
/// public service.
fn customer_notice(ctx: &Context, incident: &Incident) -> Result<Option<EventKind>, CommandError> {
    let policy = ctx.policy;
    let Some(name) = customer_notice_template(policy, &incident.severity) else {
        return Ok(None);
    };
    if !crate::status_page::is_public(policy, incident) {
        return Ok(None);
    }
    let locale = policy.status_locales().first().map(|l| l.to_string());
    let r = render_template_linked(
        policy,
        incident,
        name,
        locale.as_deref(),
        &BTreeMap::new(),
        ctx.now,
        ctx.link_base,
    )?;
    Ok(Some(EventKind::StatusUpdated {
        status: incident.status,
        visibility: Visibility::Public,
        message: r.text,
        template: Some(name.to_string()),
        locale: Some(r.locale),
        direction: r.direction,
    }))
}

/// The events that open an incident declared as `d`, the first `Declared`.
fn declared_events(d: &Declare, ctx: &Context) -> Result<Vec<EventKind>, CommandError> {
    let policy = ctx.policy;
    let mut title = required_text("title", &d.title, MAX_TITLE)?;
    if d.drill && !title.starts_with("[DRILL]") {
        title = format!("[DRILL] {title}");
    }
    let severity = canonical_severity(policy, &d.severity)?;
    let summary = optional_text("summary", &d.summary)?;
    let services = known_services(policy, &d.services)?;
    let tags = valid_tags(&d.tags)?;
    if let Some(detected) = d.detected_at
        && detected < Timestamp::UNIX_EPOCH
    {
        return Err(CommandError::invalid(
            "invalid_detected_at",
            format!("detected_at {detected} is before 1970"),
        ));
    }
    if let Some(detected) = d.detected_at
        && detected > ctx.now
    {
        return Err(CommandError::invalid(
            "invalid_detected_at",
            format!(
                "detected_at {detected} is in the future (now is {})",
                ctx.now
            ),
        ));
    }
    let detected_at = d.detected_at.unwrap_or(ctx.now);
    let escalation_policy = match &d.escalation_policy {
        Some(name) => Some(
            policy
                .escalation_policy(name)
                .map(|p| p.name.clone())
                .ok_or_else(|| {
                    CommandError::invalid(
                        "unknown_escalation_policy",
                        format!(
                            "unknown escalation policy {name:?}; the policy defines: {}",
                            policy
                                .escalation_policies
                                .iter()
                                .map(|p| p.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?,
        ),
        None => services
            .iter()
            .find_map(|s| policy.services.get(s)?.escalation_policy.clone()),
    };

    let checklist = opened_checklist(policy, &severity, &tags, ctx.now);
    let obligations = started_obligations(policy, &tags, detected_at);

    let mut events = vec![EventKind::Declared {
        title,
        severity,
        summary,
        services,
        tags,
        detected_at: d.detected_at,
        checklist,
        obligations,
        escalation_policy,
        drill: d.drill,
    }];
    if let Some(person) = &d.commander {
        let role = commander_role(policy)?;
        let person = known_person(policy, person)?;
        events.push(EventKind::RoleAssigned { role, person });
    }
    let EventKind::Declared { services, tags, .. } = &events[0] else {
        unreachable!("the first event is the declaration")
    };
    let attached: Vec<EventKind> = policy
        .runbooks
        .iter()
        .filter_map(|rb| {
            let why = runbook_reason(rb, services, tags)?;
            Some(runbook_attached(rb, why, detected_at, ctx.now))
        })
        .collect();
    events.extend(attached);
    Ok(events)
}

/// Why `runbook` applies to an incident on `services` with `tags`, if it does.
pub fn runbook_reason(
    runbook: &crate::policy::Runbook,
    services: &[String],
    tags: &[String],
) -> Option<String> {
    if let Some(s) = runbook.services.iter().find(|s| services.contains(s)) {
        return Some(format!("service {s}"));
    }
    runbook
        .tags
        .iter()
        .find(|t| tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
        .map(|t| format!("tag {t}"))
}

/// The event attaching `runbook`: its steps as checklist items, phases
/// counted from the outage's start, deadlines from `now`.
pub fn runbook_attached(
    runbook: &crate::policy::Runbook,
    reason: String,
    start: Timestamp,
    now: Timestamp,
) -> EventKind {
    let title = match &runbook.scenario {
        Some(n) => format!("{n} {}", runbook.title),
        None => runbook.title.clone(),
    };
    EventKind::RunbookAttached {
        runbook: runbook.key.clone(),
        title: title.clone(),
        reason,
        checklist: runbook
            .steps
            .iter()
            .map(|step| OpenedChecklistItem {
                id: format!("{}.{}", runbook.key, step.key),
                checklist: title.clone(),
                text: step.text.clone(),
                due_at: step.within.map(|w| now + w.as_signed()),
                command: step.command.clone(),
                link: step.link.clone(),
                applies_from: step.after.map(|d| start + d.as_signed()),
                applies_until: step.before.map(|d| start + d.as_signed()),
                done_when: None,
            })
            .collect(),
    }
}

/// The checklist items an incident of `severity` with `tags` has, their
/// deadlines counted from `now`.
fn opened_checklist(
    policy: &Policy,
    severity: &str,
    tags: &[String],
    now: Timestamp,
) -> Vec<OpenedChecklistItem> {
    policy
        .checklists_for(severity, tags)
        .flat_map(|c| {
            c.items.iter().map(move |item| OpenedChecklistItem {
                id: format!("{}.{}", c.key, item.key),
                checklist: c.title.clone(),
                text: item.text.clone(),
                due_at: item.within.or(c.within).map(|w| now + w.as_signed()),
                command: None,
                link: None,
                applies_from: None,
                applies_until: None,
                done_when: item.done_when,
            })
        })
        .collect()
}

/// The obligations `tags` start, their clocks running from `detected_at`.
fn started_obligations(
    policy: &Policy,
    tags: &[String],
    detected_at: Timestamp,
) -> Vec<StartedObligation> {
    policy
        .obligations_for(tags)
        .map(|o| StartedObligation {
            key: o.key.clone(),
            title: o.title.clone(),
            due_at: o.within.map(|w| detected_at + w.as_signed()),
            steps: o.steps.clone(),
        })
        .collect()
}

/// Check `cmd` against `incident` and return the events it produces.
pub fn decide(
    incident: &Incident,
    cmd: &Command,
    ctx: &Context,
) -> Result<Vec<EventKind>, CommandError> {
    let policy = ctx.policy;
    // Notes and late alert news still belong on a resolved incident's timeline.
    // So does the learning loop, which mostly happens after resolution.
    let allowed_when_resolved = matches!(
        cmd,
        Command::AddNote { .. }
            | Command::Reopen { .. }
            | Command::RecordAlerts { .. }
            | Command::EditPostmortem { .. }
            | Command::SetPostmortemState { .. }
            | Command::ScheduleReview { .. }
            | Command::AddActionItem { .. }
            | Command::UpdateActionItem { .. }
            | Command::RecordTrackerIssue { .. }
            | Command::RecordRollbackHook { .. }
    );
    if !incident.is_open() && !allowed_when_resolved {
        return Err(CommandError::transition(
            "incident_resolved",
            format!(
                "incident {} is resolved; {} is not allowed (reopen it first)",
                incident.id,
                cmd.name().replace('_', " ")
            ),
        ));
    }

    let events = match cmd {
        Command::Acknowledge => {
            if let (Some(at), Some(by)) = (incident.acknowledged_at, &incident.acknowledged_by) {
                return Err(CommandError::transition(
                    "already_acknowledged",
                    format!(
                        "incident {} was already acknowledged by {by} at {at}",
                        incident.id
                    ),
                ));
            }
            vec![EventKind::Acknowledged]
        }
        Command::AssignRole { role, person } => {
            let role = known_role(policy, role)?;
            let person = known_person(policy, person)?;
            if incident.holders(&role).contains(&person) {
                return Err(CommandError::transition(
                    "role_already_held",
                    format!("{person} already holds role {role} on {}", incident.id),
                ));
            }
            let single = policy.role(&role).is_some_and(|r| !r.multiple);
            match incident.holders(&role).first() {
                // One holder at a time: the new one takes over, on the
                // record, so templates and reminders name one person.
                Some(from) if single => {
                    let name = policy
                        .role(&role)
                        .map_or(role.as_str(), |r| r.name.as_str());
                    let message = format!(
                        "HANDOFF: {name} now {} (was {})",
                        display_name(policy, &person),
                        display_name(policy, from)
                    );
                    vec![EventKind::HandedOff {
                        role,
                        from: Some(from.clone()),
                        to: person,
                        summary: String::new(),
                        metrics: String::new(),
                        evidence: String::new(),
                        next_steps: String::new(),
                        message,
                    }]
                }
                _ => vec![EventKind::RoleAssigned { role, person }],
            }
        }
        Command::UnassignRole { role, person } => {
            let role = known_role(policy, role)?;
            if !incident.holders(&role).iter().any(|p| p == person) {
                return Err(CommandError::transition(
                    "role_not_held",
                    format!("{person} does not hold role {role} on {}", incident.id),
                ));
            }
            vec![EventKind::RoleUnassigned {
                role,
                person: person.clone(),
            }]
        }
        Command::PostUpdate {
            status,
            visibility,
            message,
        } => {
            let status = status.unwrap_or(incident.status);
            let (message, template, locale, direction) = match message {
                UpdateMessage::Text(text) => (
                    required_text("message", text, MAX_TEXT)?,
                    None,
                    None,
                    Default::default(),
                ),
                UpdateMessage::Template { name, locale, vars } => {
                    // Render against the incident as it will be after this update.
                    let mut preview = incident.clone();
                    preview.status = status;
                    let r = render_template_linked(
                        policy,
                        &preview,
                        name,
                        locale.as_deref(),
                        vars,
                        ctx.now,
                        ctx.link_base,
                    )?;
                    (r.text, Some(name.clone()), Some(r.locale), r.direction)
                }
            };
            let mut events = vec![EventKind::StatusUpdated {
                status,
                visibility: *visibility,
                message,
                template,
                locale,
                direction,
            }];
            if status == Status::Resolved {
                events.push(EventKind::Resolved {
                    summary: String::new(),
                });
            }
            events
        }
        Command::ChangeSeverity { severity, reason } => {
            let to = canonical_severity(policy, severity)?;
            let reason = required_text("reason", reason, MAX_TEXT)?;
            if to == incident.severity {
                return Err(CommandError::transition(
                    "severity_unchanged",
                    format!("incident {} is already {to}", incident.id),
                ));
            }
            let notice_before = policy
                .severity(&incident.severity)
                .and_then(|s| s.customer_notice.clone());
            let mut raised = incident.clone();
            raised.severity = to.clone();
            let mut events = vec![EventKind::SeverityChanged {
                from: incident.severity.clone(),
                to,
                reason,
            }];
            // Raised to a severity that tells customers at once, from one
            // that did not tell them this: tell them now.
            if let Some(notice) = customer_notice(ctx, &raised)?
                && notice_before.as_deref() != customer_notice_template(policy, &raised.severity)
            {
                events.push(notice);
            }
            events
        }
        Command::ChangeTags { add, remove } => {
            let add = valid_tags(add)?;
            let remove = valid_tags(remove)?;
            let has = |tags: &[String], t: &str| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
            if let Some(both) = add.iter().find(|t| has(&remove, t)) {
                return Err(CommandError::invalid(
                    "invalid_tag",
                    format!("tag {both:?} is both added and removed"),
                ));
            }
            let added: Vec<String> = add
                .into_iter()
                .filter(|t| !has(&incident.tags, t))
                .collect();
            let removed: Vec<String> = incident
                .tags
                .iter()
                .filter(|t| has(&remove, t))
                .cloned()
                .collect();
            if added.is_empty() && removed.is_empty() {
                return Err(CommandError::transition(
                    "tags_unchanged",
                    format!(
                        "incident {} already has those tags ({})",
                        incident.id,
                        incident.tags.join(", ")
                    ),
                ));
            }
            let mut tags: Vec<String> = incident
                .tags
                .iter()
                .filter(|t| !has(&removed, t))
                .cloned()
                .collect();
            tags.extend(added.iter().cloned());
            if tags.len() > MAX_TAGS {
                return Err(CommandError::invalid(
                    "invalid_tag",
                    format!("an incident carries at most {MAX_TAGS} tags"),
                ));
            }
            // What the new flags open: checklist items and obligations not
            // already on the incident; clocks run from detection, as at
            // declaration. Obligations no remaining tag asks for end.
            let checklist = opened_checklist(policy, &incident.severity, &tags, ctx.now)
                .into_iter()
                .filter(|item| !incident.checklist.iter().any(|c| c.item.id == item.id))
                .collect();
            let wanted: Vec<StartedObligation> =
                started_obligations(policy, &tags, incident.detected_at);
            let obligations = wanted
                .iter()
                .filter(|o| !incident.obligations.iter().any(|x| x.key == o.key))
                .cloned()
                .collect();
            let obligations_ended = incident
                .obligations
                .iter()
                .filter(|o| !wanted.iter().any(|w| w.key == o.key))
                .map(|o| o.key.clone())
                .collect();
            let runbooks: Vec<EventKind> = policy
                .runbooks
                .iter()
                .filter(|rb| !incident.runbooks.contains(&rb.key))
                .filter_map(|rb| {
                    let why = runbook_reason(rb, &[], &added)?;
                    Some(runbook_attached(rb, why, incident.detected_at, ctx.now))
                })
                .collect();
            let mut events = vec![EventKind::TagsChanged {
                added,
                removed,
                checklist,
                obligations,
                obligations_ended,
            }];
            events.extend(runbooks);
            events
        }
        Command::MeetObligation { key, evidence } => {
            let Some(ob) = incident.obligations.iter().find(|o| o.key == *key) else {
                let keys: Vec<&str> = incident
                    .obligations
                    .iter()
                    .map(|o| o.key.as_str())
                    .collect();
                return Err(CommandError::invalid(
                    "unknown_obligation",
                    format!(
                        "incident {} has no obligation {key:?}; it has {}",
                        incident.id,
                        if keys.is_empty() {
                            "none".to_string()
                        } else {
                            keys.join(", ")
                        }
                    ),
                ));
            };
            if let Some(met) = incident.obligations_met.get(&ob.key) {
                return Err(CommandError::transition(
                    "obligation_already_met",
                    format!(
                        "{} was recorded as met at {} by {}",
                        ob.title, met.at, met.by
                    ),
                ));
            }
            vec![EventKind::ObligationMet {
                key: ob.key.clone(),
                evidence: required_text("evidence", evidence, MAX_TEXT)?,
            }]
        }
        Command::AddNote { text } => vec![EventKind::NoteAdded {
            text: required_text("text", text, MAX_TEXT)?,
        }],
        Command::SetComponentState {
            component,
            status,
            reason,
        } => {
            let known = crate::status_page::components(policy);
            let Some(found) = known.iter().find(|c| c.id == *component) else {
                let ids: Vec<&str> = known.iter().map(|c| c.id.as_str()).collect();
                return Err(CommandError::invalid(
                    "unknown_component",
                    format!(
                        "unknown component {component:?}; the status page has {}",
                        if ids.is_empty() {
                            "none".to_string()
                        } else {
                            ids.join(", ")
                        }
                    ),
                ));
            };
            let status = match status.trim() {
                "auto" => None,
                s => Some(
                    s.parse::<crate::status_page::ComponentStatus>()
                        .map_err(|e| CommandError::invalid("unknown_component_status", e))?
                        .as_str()
                        .to_string(),
                ),
            };
            vec![EventKind::ComponentStateSet {
                component: found.id.clone(),
                status,
                reason: required_text("reason", reason, MAX_TEXT)?,
            }]
        }
        Command::TickChecklistItem { item } => {
            let found = find_checklist_item(incident, item)?;
            if let Some(at) = found.ticked_at {
                return Err(CommandError::transition(
                    "checklist_item_already_ticked",
                    format!(
                        "checklist item {} was already ticked at {at}",
                        found.item.id
                    ),
                ));
            }
            vec![EventKind::ChecklistItemTicked {
                item: found.item.id.clone(),
            }]
        }
        Command::Handoff {
            role,
            to,
            level,
            summary,
            metrics,
            evidence,
            next_steps,
        } => {
            let role = match role {
                Some(r) => known_role(policy, r)?,
                None => commander_role(policy)?,
            };
            let to = known_person(policy, to)?;
            let summary = required_text("summary", summary, MAX_TEXT)?;
            let next_steps = required_text("next_steps", next_steps, MAX_TEXT)?;
            let from = incident.holders(&role).first().cloned();
            if from.as_deref() == Some(to.as_str()) {
                return Err(CommandError::transition(
                    "handoff_to_self",
                    format!("{to} already owns role {role} on {}", incident.id),
                ));
            }
            let level = level
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let mut message = format!(
                "HANDOFF: Incident now owned by {}{level}\nSummary: {summary}\nNext Steps: {next_steps}",
                display_name(policy, &to)
            );
            // s003.incident-doc-link: the one link, and the channel beside it.
            if let Some(link) = ctx.incident_link(&incident.id) {
                message.push_str(&format!("\nIncident: {link}"));
            }
            if let Some(channel) = &policy.organization.incident_channel {
                message.push_str(&format!("\nChannel: {channel}"));
            }
            vec![EventKind::HandedOff {
                role,
                from,
                to,
                summary,
                metrics: optional_text("metrics", metrics)?,
                evidence: optional_text("evidence", evidence)?,
                next_steps,
                message,
            }]
        }
        Command::Resolve { summary } => {
            let mut summary = optional_text("summary", summary)?;
            let rolled_back = incident
                .rollback
                .decision
                .as_ref()
                .is_some_and(|d| d.decision == super::rollback::RollbackDecision::RolledBack);
            if summary.is_empty() && rolled_back {
                summary = ROLLBACK_RESOLVED.into();
            }
            vec![EventKind::Resolved { summary }]
        }
        Command::Reopen { reason } => {
            if incident.is_open() {
                return Err(CommandError::transition(
                    "incident_open",
                    format!(
                        "incident {} is not resolved (status {})",
                        incident.id, incident.status
                    ),
                ));
            }
            vec![EventKind::Reopened {
                reason: required_text("reason", reason, MAX_TEXT)?,
            }]
        }
        Command::RecordAlerts {
            attached,
            resolved,
            refired,
            firing,
            total,
            sample,
            runbooks,
            criteria,
        } => {
            // "All resolved" only on the change that takes the last one down.
            let all_resolved =
                *firing == 0 && *total > 0 && (*resolved > 0 || incident.alerts_firing > 0);
            let mut events = vec![EventKind::AlertsChanged {
                attached: *attached,
                resolved: *resolved,
                refired: *refired,
                firing: *firing,
                total: *total,
                sample: sample.iter().take(MAX_ALERT_SAMPLE).cloned().collect(),
                all_resolved,
            }];
            let auto_resolve = policy
                .severity(&incident.severity)
                .is_some_and(|s| s.on_alerts_resolved == crate::policy::OnAlertsResolved::Resolve);
            if incident.is_open() {
                events.extend(alert_signals(policy, incident, runbooks, criteria, ctx.now));
            }
            if all_resolved && auto_resolve && incident.is_open() {
                events.push(EventKind::Resolved {
                    summary: "all alerts resolved".into(),
                });
            }
            events
        }
        Command::AttachRunbook { runbook } => {
            let Some(rb) = policy.runbooks.iter().find(|r| r.key == *runbook) else {
                return Err(CommandError::invalid(
                    "unknown_runbook",
                    format!(
                        "unknown runbook {runbook:?}; the policy has {}",
                        list_or_none(
                            &policy
                                .runbooks
                                .iter()
                                .map(|r| r.key.as_str())
                                .collect::<Vec<_>>()
                        )
                    ),
                ));
            };
            if incident.runbooks.contains(&rb.key) {
                return Err(CommandError::transition(
                    "runbook_attached",
                    format!("runbook {runbook} is already on {}", incident.id),
                ));
            }
            vec![runbook_attached(
                rb,
                format!("attached by {}", ctx.actor),
                incident.detected_at,
                ctx.now,
            )]
        }
        Command::MeetRollbackCriterion { criterion, detail } => {
            if !policy
                .rollback
                .criteria
                .iter()
                .any(|c| c.name == *criterion)
            {
                return Err(CommandError::invalid(
                    "unknown_criterion",
                    format!("unknown rollback criterion {criterion:?}"),
                ));
            }
            if incident
                .rollback
                .criteria_met
                .iter()
                .any(|c| c.criterion == *criterion)
            {
                return Err(CommandError::transition(
                    "criterion_met",
                    format!(
                        "rollback criterion {criterion} is already met on {}",
                        incident.id
                    ),
                ));
            }
            vec![EventKind::RollbackCriterionMet {
                criterion: criterion.clone(),
                detail: optional_text("detail", detail)?,
            }]
        }
        Command::DecideRollback {
            decision,
            change,
            note,
            resolve,
        } => decide_rollback(incident, *decision, change.as_ref(), note, *resolve, ctx)?,
        Command::RecordRollbackHook {
            change,
            url,
            ok,
            outcome,
        } => vec![EventKind::RollbackHookCalled {
            change: change.clone(),
            url: url.clone(),
            ok: *ok,
            outcome: optional_text("outcome", outcome)?,
        }],
        Command::RecordUpstreamStatus {
            provider,
            name,
            indicator,
            description,
        } => vec![EventKind::UpstreamStatusChanged {
            provider: provider.clone(),
            name: name.clone(),
            indicator: indicator.clone(),
            description: description.clone(),
        }],
        Command::RecordFreezeOverride {
            freeze,
            environment,
            service,
            reason,
            until,
        } => vec![EventKind::FreezeOverridden {
            freeze: freeze.clone(),
            environment: environment.clone(),
            service: service.clone(),
            reason: required_text("reason", reason, MAX_TEXT)?,
            until: *until,
        }],
        Command::EditPostmortem { .. }
        | Command::SetPostmortemState { .. }
        | Command::ScheduleReview { .. }
        | Command::AddActionItem { .. }
        | Command::UpdateActionItem { .. }
        | Command::RecordTrackerIssue { .. } => follow_up(incident, cmd, ctx)?,
    };
    let mut events = events;
    // Whatever resolved it, a severity that requires a postmortem gets one.
    if events
        .iter()
        .any(|e| matches!(e, EventKind::Resolved { .. }))
        && let Some(opened) =
            super::postmortem::opened_on_resolution(incident, policy, ctx.now, ctx.actor)
    {
        events.push(opened);
    }
    Ok(events)
}

/// What alerts bring besides counts: runbooks their matchers attach and
/// rollback criteria they show, each once per incident.
pub fn alert_signals(
    policy: &Policy,
    incident: &Incident,
    runbooks: &[String],
    criteria: &[(String, String)],
    now: Timestamp,
) -> Vec<EventKind> {
    let mut events = Vec::new();
    for key in runbooks {
        if incident.runbooks.contains(key) {
            continue;
        }
        if let Some(rb) = policy.runbooks.iter().find(|r| &r.key == key) {
            events.push(runbook_attached(
                rb,
                "an alert matched its route".into(),
                incident.detected_at,
                now,
            ));
        }
    }
    for (criterion, detail) in criteria {
        let met =
            |c: &str| {
                incident.rollback.criteria_met.iter().any(|m| m.criterion == c)
                || events.iter().any(|e| {
                    matches!(e, EventKind::RollbackCriterionMet { criterion: x, .. } if x == c)
                })
            };
        if !met(criterion) {
            events.push(EventKind::RollbackCriterionMet {
                criterion: criterion.clone(),
                detail: detail.clone(),
            });
        }
    }
    events
}

/// The events of a rollback decision (s003.post-rollback): the record, the
/// post-rollback checklist through the policy's rollback tag, and with
/// `resolve` the public "resolved via rollback".
fn decide_rollback(
    incident: &Incident,
    decision: super::rollback::RollbackDecision,
    change: Option<&ChangeRef>,
    note: &str,
    resolve: bool,
    ctx: &Context,
) -> Result<Vec<EventKind>, CommandError> {
    use super::rollback::RollbackDecision;
    let policy = ctx.policy;
    if let Some(done) = &incident.rollback.decision
        && done.decision == RollbackDecision::RolledBack
    {
        return Err(CommandError::transition(
            "rolled_back",
            format!(
                "incident {} was rolled back already ({})",
                incident.id,
                done.change.as_deref().unwrap_or("no change named")
            ),
        ));
    }
    let note = optional_text("note", note)?;
    let mut events = vec![EventKind::RollbackDecided {
        decision,
        change: change.map(|c| c.id.clone()),
        kind: change.map(|c| c.kind),
        service: change.and_then(|c| c.service.clone()),
        to_version: change.and_then(|c| c.previous_version.clone()),
        note: note.clone(),
    }];
    if decision == RollbackDecision::FixForward {
        if resolve {
            return Err(CommandError::invalid(
                "invalid_decision",
                "only a rollback resolves with the decision; resolve a fix forward on its own",
            ));
        }
        return Ok(events);
    }
    let tag = policy.rollback.tag.trim();
    if !tag.is_empty() && !incident.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
        let mut next = incident.clone();
        let (after, _) = next.advance(events.clone(), ctx.now, ctx.actor);
        next = after;
        events.extend(decide(
            &next,
            &Command::ChangeTags {
                add: vec![tag.to_string()],
                remove: Vec::new(),
            },
            ctx,
        )?);
    }
    if !resolve {
        // "Update incident channel with rollback status" (seed 003): the
        // rollback is an update, so the update clock starts again.
        let what = match change {
            Some(c) => format!(
                "Rolled back {}{}{}; verifying recovery.",
                c.id,
                c.service
                    .as_deref()
                    .map(|s| format!(" on {s}"))
                    .unwrap_or_default(),
                c.previous_version
                    .as_deref()
                    .map(|v| format!(" to {v}"))
                    .unwrap_or_default()
            ),
            None => "Rolled back; verifying recovery.".to_string(),
        };
        events.push(EventKind::StatusUpdated {
            status: incident.status,
            visibility: Visibility::Internal,
            message: if note.is_empty() {
                what
            } else {
                format!("{what} {note}")
            },
            template: None,
            locale: None,
            direction: Default::default(),
        });
    }
    if resolve {
        events.push(EventKind::StatusUpdated {
            status: Status::Resolved,
            visibility: Visibility::Public,
            message: ROLLBACK_RESOLVED.into(),
            template: None,
            locale: None,
            direction: Default::default(),
        });
        events.push(EventKind::Resolved {
            summary: if note.is_empty() {
                ROLLBACK_RESOLVED.into()
            } else {
                format!("{ROLLBACK_RESOLVED}: {note}")
            },
        });
    }
    Ok(events)
}

/// What a resolution by rollback says, on the timeline and the status page.
pub const ROLLBACK_RESOLVED: &str = "Incident resolved via rollback";

/// A person's display name from the policy, or the key itself.
/// The learning loop's commands: postmortem and action items.
fn follow_up(
    incident: &Incident,
    cmd: &Command,
    ctx: &Context,
) -> Result<Vec<EventKind>, CommandError> {
    let policy = ctx.policy;
    let no_postmortem = || {
        CommandError::transition(
            "no_postmortem",
            format!(
                "incident {} has no postmortem: one opens when an incident whose severity \
                 requires it is resolved, or with a first edit after resolution",
                incident.id
            ),
        )
    };
    let item = |id: u32| {
        incident
            .action_items
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| {
                CommandError::invalid(
                    "unknown_action_item",
                    format!("incident {} has no action item {id}", incident.id),
                )
            })
    };
    Ok(match cmd {
        Command::EditPostmortem { document, owner } => {
            let document = document
                .as_deref()
                .map(|d| required_text("document", d, MAX_DOCUMENT))
                .transpose()?;
            let owner = owner
                .as_deref()
                .map(|o| known_person(policy, o))
                .transpose()?;
            if document.is_none() && owner.is_none() {
                return Err(CommandError::invalid(
                    "missing_field",
                    "give a document, an owner, or both",
                ));
            }
            let mut events = Vec::new();
            match &incident.postmortem {
                Some(pm) if pm.state == PostmortemState::Published && document.is_some() => {
                    return Err(CommandError::transition(
                        "postmortem_published",
                        format!(
                            "the postmortem of {} is published; move it back to in_review to edit it",
                            incident.id
                        ),
                    ));
                }
                Some(_) => {}
                None if incident.is_open() => return Err(no_postmortem()),
                None => events.push(EventKind::PostmortemOpened {
                    owner: None,
                    due_at: None,
                    review: None,
                }),
            }
            events.push(EventKind::PostmortemEdited { document, owner });
            events
        }
        Command::SetPostmortemState { state } => {
            let pm = incident.postmortem.as_ref().ok_or_else(no_postmortem)?;
            if pm.state == *state {
                return Err(CommandError::transition(
                    "postmortem_state_unchanged",
                    format!(
                        "the postmortem of {} is {} already",
                        incident.id,
                        state.as_str()
                    ),
                ));
            }
            if *state > pm.state {
                let Some(doc) = &pm.document else {
                    return Err(CommandError::transition(
                        "postmortem_unwritten",
                        format!(
                            "the postmortem of {} has not been written yet: save its document first \
                             (firebell postmortem edit {})",
                            incident.id, incident.id
                        ),
                    ));
                };
                let missing = super::postmortem::unfinished(doc, policy, &incident.severity);
                if !missing.is_empty() {
                    return Err(CommandError::transition(
                        "postmortem_unfinished",
                        format!(
                            "the postmortem of {} is not finished; write these sections first: {}",
                            incident.id,
                            missing.join(", ")
                        ),
                    ));
                }
            }
            vec![EventKind::PostmortemStateChanged {
                from: pm.state,
                to: *state,
            }]
        }
        Command::ScheduleReview {
            at,
            place,
            participants,
        } => {
            let pm = incident.postmortem.as_ref().ok_or_else(no_postmortem)?;
            let participants = if participants.is_empty() {
                pm.review
                    .as_ref()
                    .map(|r| r.participants.clone())
                    .unwrap_or_default()
            } else {
                participants
                    .iter()
                    .map(|p| known_person(policy, p))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let place = match place {
                Some(p) => optional_text("place", p)?,
                None => pm
                    .review
                    .as_ref()
                    .and_then(|r| r.place.clone())
                    .unwrap_or_default(),
            };
            vec![EventKind::ReviewScheduled {
                review: super::postmortem::Review {
                    at: *at,
                    place: (!place.is_empty()).then_some(place),
                    participants,
                },
            }]
        }
        Command::AddActionItem {
            title,
            owner,
            due_at,
            priority,
        } => {
            let title = required_text("title", title, MAX_TITLE)?;
            let owner = required_text("owner", owner, MAX_TITLE)?;
            vec![EventKind::ActionItemAdded {
                item: ActionItem {
                    id: super::postmortem::next_action_id(incident),
                    title,
                    owner,
                    due_at: *due_at,
                    priority: *priority,
                    status: ActionStatus::NotStarted,
                    created_at: ctx.now,
                    completed_at: None,
                    tracker: None,
                },
            }]
        }
        Command::UpdateActionItem { id, change } => {
            let current = item(*id)?;
            let mut change = change.clone();
            if let Some(t) = &change.title {
                change.title = Some(required_text("title", t, MAX_TITLE)?);
            }
            if let Some(o) = &change.owner {
                change.owner = Some(required_text("owner", o, MAX_TITLE)?);
            }
            // Only what differs is a change.
            if change.title.as_ref() == Some(&current.title) {
                change.title = None;
            }
            if change.owner.as_ref() == Some(&current.owner) {
                change.owner = None;
            }
            if change.due_at.is_some() && change.due_at == current.due_at {
                change.due_at = None;
            }
            if change.priority == Some(current.priority) {
                change.priority = None;
            }
            if change.status == Some(current.status) {
                change.status = None;
            }
            if change.is_empty() {
                return Err(CommandError::transition(
                    "action_item_unchanged",
                    format!("action item {id} of {} is like that already", incident.id),
                ));
            }
            vec![EventKind::ActionItemUpdated { id: *id, change }]
        }
        Command::RecordTrackerIssue { id, issue } => {
            let current = item(*id)?;
            if current.tracker.as_ref() == Some(issue) {
                return Ok(Vec::new());
            }
            let mut events = vec![EventKind::ActionItemFiled {
                id: *id,
                issue: issue.clone(),
            }];
            let was_closed = current
                .tracker
                .as_ref()
                .is_some_and(|t| t.state == "closed");
            if issue.state == "closed" && !was_closed && current.status != ActionStatus::Complete {
                events.push(EventKind::ActionItemUpdated {
                    id: *id,
                    change: ActionItemChange {
                        status: Some(ActionStatus::Complete),
                        ..Default::default()
                    },
                });
            }
            events
        }
        other => {
            return Err(CommandError::invalid(
                "unsupported_command",
                format!("{} is not a follow-up command", other.name()),
            ));
        }
    })
}

pub fn display_name(policy: &Policy, person: &str) -> String {
    policy
        .people
        .get(person)
        .map(|p| p.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| person.to_string())
}

fn required_text(field: &str, value: &str, max: usize) -> Result<String, CommandError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CommandError::invalid(
            "missing_field",
            format!("{field} must not be empty"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(CommandError::invalid(
            "invalid_text",
            format!("{field} contains control characters; only newlines and tabs are allowed"),
        ));
    }
    if v.chars().count() > max {
        return Err(CommandError::invalid(
            "field_too_long",
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(v.to_string())
}

fn optional_text(field: &str, value: &str) -> Result<String, CommandError> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        required_text(field, value, MAX_TEXT)
    }
}

fn canonical_severity(policy: &Policy, name: &str) -> Result<String, CommandError> {
    policy
        .severity(name.trim())
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            CommandError::invalid(
                "unknown_severity",
                format!(
                    "unknown severity {name:?}; the policy defines {}",
                    policy.severity_names().join(", ")
                ),
            )
        })
}

fn known_role(policy: &Policy, role: &str) -> Result<String, CommandError> {
    policy
        .role(role.trim())
        .map(|r| r.key.clone())
        .ok_or_else(|| {
            let known: Vec<_> = policy.roles.iter().map(|r| r.key.as_str()).collect();
            CommandError::invalid(
                "unknown_role",
                format!(
                    "unknown role {role:?}; the policy defines {}",
                    list_or_none(&known)
                ),
            )
        })
}

fn commander_role(policy: &Policy) -> Result<String, CommandError> {
    policy
        .role(COMMANDER_ROLE)
        .map(|r| r.key.clone())
        .ok_or_else(|| {
            CommandError::invalid(
                "unknown_role",
                format!("the policy defines no `{COMMANDER_ROLE}` role to assign"),
            )
        })
}

/// People must be in the policy when it lists any; a policy without `[people]`
/// accepts any name (a two-person team should not have to write a directory).
fn known_person(policy: &Policy, person: &str) -> Result<String, CommandError> {
    let p = required_text("person", person, 200)?;
    if policy.people.is_empty() || policy.people.contains_key(&p) {
        return Ok(p);
    }
    let known: Vec<_> = policy.people.keys().map(String::as_str).collect();
    Err(CommandError::invalid(
        "unknown_person",
        format!(
            "unknown person {p:?}; the policy defines {}",
            known.join(", ")
        ),
    ))
}

/// Services must be in the policy when it lists any.
fn known_services(policy: &Policy, services: &[String]) -> Result<Vec<String>, CommandError> {
    let mut out: Vec<String> = Vec::new();
    for s in services {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        if !policy.services.is_empty() && !policy.services.contains_key(s) {
            let known: Vec<_> = policy.services.keys().map(String::as_str).collect();
            return Err(CommandError::invalid(
                "unknown_service",
                format!(
                    "unknown service {s:?}; the policy defines {}",
                    known.join(", ")
                ),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Most tags an incident may carry.
pub const MAX_TAGS: usize = 50;

fn valid_tags(tags: &[String]) -> Result<Vec<String>, CommandError> {
    if tags.len() > MAX_TAGS {
        return Err(CommandError::invalid(
            "invalid_tag",
            format!(
                "{} tags; an incident carries at most {MAX_TAGS}",
                tags.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim();
        if !is_valid_tag(t) {
            return Err(CommandError::invalid(
                "invalid_tag",
                format!("invalid tag {t:?}: use 1-64 characters of letters, digits, - _ . : /"),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Whether `tag` may be an incident's tag: 1-64 letters, digits, - _ . : /.
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
}

/// Find a checklist item by full id (`list.item`) or, if unambiguous, by item key.
fn find_checklist_item<'a>(
    incident: &'a Incident,
    item: &str,
) -> Result<&'a super::state::ChecklistItemState, CommandError> {
    let item = item.trim();
    if let Some(found) = incident.checklist.iter().find(|c| c.item.id == item) {
        return Ok(found);
    }
    let by_key: Vec<_> = incident
        .checklist
        .iter()
        .filter(|c| {
            c.item
                .id
                .rsplit_once('.')
                .is_some_and(|(_, key)| key == item)
        })
        .collect();
    match by_key.as_slice() {
        [one] => Ok(one),
        [] => {
            let ids: Vec<_> = incident
                .checklist
                .iter()
                .map(|c| c.item.id.as_str())
                .collect();
            Err(CommandError::invalid(
                "unknown_checklist_item",
                format!(
                    "incident {} has no checklist item {item:?}; it has {}",
                    incident.id,
                    list_or_none(&ids)
                ),
            ))
        }
        many => {
            let ids: Vec<_> = many.iter().map(|c| c.item.id.as_str()).collect();
            Err(CommandError::invalid(
                "ambiguous_checklist_item",
                format!(
                    "checklist item {item:?} is ambiguous; use one of {}",
                    ids.join(", ")
                ),
            ))
        }
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
