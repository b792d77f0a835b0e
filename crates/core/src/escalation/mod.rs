//! Escalation, reminders and breaches: what is owed to an incident next, and
//! what happens when it falls due. Pure: state + policy + on-call overrides +
//! `now` in, timeline events and notification intents out.
//!
//! Everything "later" is a *duty* with a stable key and a due time:
//!
//! | duty | key | due |
//! |---|---|---|
//! | the next step of the escalation policy | `step:<level>` | previous step's due time + the step's delay (off-hours delay if the previous step fell outside business hours); moved into business hours for `paging = "business_hours"` |
//! | an escalation rule | `rule:<name>` (`rule:<name>:<ms>` for `update_overdue_for`) | its clock (`unresolved_for` …) after declaration, or at once |
//! | status update overdue | `reminder:update:<ms>:<n>` | last update + n × `update_every`, repeating until an update is posted |
//! | no incident commander | `reminder:commander` | declaration + `commander_within` |
//! | response target breached | `breach:respond` | the severity's response due time; escalates to the next step |
//! | an obligation's `remind_before` | `reminder:obligation:<key>:<i>` | its due time − remind_before |
//! | the postmortem's `remind_before`, then overdue | `followup:postmortem:<i>`, `followup:postmortem:overdue` | its due time − remind_before; its due time |
//! | the review meeting's invitation and reminders | `followup:review:<ms>:invite`, `followup:review:<ms>:<i>` | when it was set; its start − remind_before |
//! | an overdue action item | `followup:action:<id>:<n>` | its due time + (n − 1) × `remind_every` |
//!
//! [`agenda`] lists the duties in force; the store keeps them as timer rows,
//! rewritten in the transaction of every event. [`fire`] fires every duty due
//! at `now`, in due order, each exactly once: firing appends an event that
//! removes the duty from the agenda (the step level rises, the rule's key is
//! recorded), and the append is conditional on the incident's version, so two
//! schedulers racing, a late tick or a clock that jumps back cannot fire one
//! twice. A tick that comes late fires each missed step (the next step's delay
//! counts from the missed step's due time, not from the late tick); a
//! repeating update reminder fires once for the whole gap.

use serde::Serialize;

mod duty;
mod follow_up;
pub use duty::{Duty, InvalidDuty, Milestone};

use crate::incident::{EventKind, Incident, Notified};
use crate::policy::{ContactKind, EscalationPolicy, Paging, Policy, StopOn};
use crate::schedule::{Override, on_call};
use crate::{Duration, Timestamp};

/// Default wait between the last step of a round and the next round.
pub const DEFAULT_REPEAT_AFTER: Duration = Duration::from_mins_const(30);

/// Longest page text: a page about an incident with thousands of alerts
/// carries a summary, a few alerts and a count, never the list.
pub const MAX_PAGE_TEXT: usize = 2_000;

/// Most duties one call of [`fire`] handles; the rest wait for the next tick.
const MAX_FIRINGS: usize = 64;

/// Something owed to an incident at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Due {
    /// Called `key` on the wire, as it always was.
    #[serde(rename = "key")]
    pub duty: Duty,
    pub at: Timestamp,
}

/// A message to send to one person through one channel. `key` is unique per
/// incident, so writing the same intent twice is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Intent {
    /// `<duty>/<person>/<channel>`, then `@<ack_round>` after a reopen: a
    /// reopened ladder's steps are new pages, not repeats of the first
    /// round's.
    pub key: String,
    pub duty: Duty,
    pub person: String,
    /// The kind of contact it goes to.
    pub channel: ContactKind,
    pub address: String,
    pub locale: String,
    pub subject: String,
    pub text: String,
    /// An acknowledgement cancels it if not yet sent (pages); reminders are
    /// cancelled only by resolution.
    pub stop_on_ack: bool,
    /// The incident's acknowledgement round when it was decided; its ack
    /// link is good for this round only.
    pub ack_round: u32,
}

impl Intent {
    /// The key of an intent for `duty/person/channel` in `ack_round`.
    pub fn key_for(duty: &Duty, person: &str, channel: ContactKind, ack_round: u32) -> String {
        match ack_round {
            0 => format!("{duty}/{person}/{channel}"),
            n => format!("{duty}/{person}/{channel}@{n}"),
        }
    }
}

/// What firing the due duties produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Firing {
    pub events: Vec<EventKind>,
    pub intents: Vec<Intent>,
}

/// The escalation policy that applies to `incident`: chosen at declaration
/// (route or service), else the severity's, else the organization's default.
pub fn policy_of<'p>(incident: &Incident, policy: &'p Policy) -> Option<&'p EscalationPolicy> {
    let name = incident
        .escalation_policy
        .as_deref()
        .or_else(|| {
            policy
                .severity(&incident.severity)?
                .escalation_policy
                .as_deref()
        })
        .or(policy.organization.escalation_policy.as_deref())?;
    policy.escalation_policy(name)
}

/// Every duty in force for `incident`, soonest first. Due times may be in the
/// past: they are owed and fire at the next tick.
pub fn agenda(incident: &Incident, policy: &Policy) -> Vec<Due> {
    let mut out = Vec::new();
    if let Some((level, at)) = next_step(incident, policy) {
        out.push(Due {
            duty: Duty::Step { level },
            at,
        });
    }
    for rule in &policy.escalation_rules {
        if let Some((duty, at)) = rule_due(incident, policy, rule) {
            out.push(Due { duty, at });
        }
    }
    let sev = policy.severity(&incident.severity);
    if incident.is_open()
        && let Some(every) = sev.and_then(|s| s.update_every)
    {
        let n = incident.update_reminders + 1;
        if let Some(at) = add(incident.last_update_at, every, n) {
            out.push(Due {
                duty: update_duty(incident, n),
                at,
            });
        }
    }
    if incident.is_open()
        && incident.commander_assigned_at.is_none()
        && policy.role(crate::incident::COMMANDER_ROLE).is_some()
        && !incident.duties_done.contains(&Duty::CommanderReminder)
        && let Some(within) = sev.and_then(|s| s.commander_within)
        && let Some(at) = add(incident.declared_at, within, 1)
    {
        out.push(Due {
            duty: Duty::CommanderReminder,
            at,
        });
    }
    if incident.is_open()
        && incident.acknowledged_at.is_none()
        && !incident.duties_done.contains(&Duty::ResponseBreach)
        && let Some(at) = policy.response_due(&incident.severity, incident.declared_at)
    {
        out.push(Due {
            duty: Duty::ResponseBreach,
            at,
        });
    }
    // A fulfilled obligation reminds no more.
    for ob in incident
        .obligations
        .iter()
        .filter(|o| !incident.obligations_met.contains_key(&o.key))
    {
        let (Some(due), Some(def)) = (
            ob.due_at,
            policy.obligations.iter().find(|o| o.key == ob.key),
        ) else {
            continue;
        };
        for (i, before) in def.remind_before.iter().enumerate() {
            let duty = Duty::ObligationReminder {
                key: ob.key.clone(),
                index: i,
            };
            if !incident.duties_done.contains(&duty)
                && let Ok(at) = due.checked_sub(before.as_signed())
            {
                out.push(Due { duty, at });
            }
        }
    }
    // s002.notify-mitigated-and-resolved: once each, even after resolution.
    if !stakeholders(incident, policy).is_empty() {
        for (milestone, at) in [
            (Milestone::Mitigated, incident.mitigated_at),
            (Milestone::Resolved, incident.resolved_at),
        ] {
            let duty = Duty::Stakeholders { milestone };
            if let Some(at) = at
                && !incident.duties_done.contains(&duty)
            {
                out.push(Due { duty, at });
            }
        }
    }
    change_duties(incident, policy, &mut out);
    follow_up::agenda(incident, policy, &mut out);
    // At the same instant the ladder's own step goes first, so a rule that
    // escalates "at once" moves on from it rather than firing it.
    // Then by the duty's text, the order duties have always fired in.
    out.sort_by_cached_key(|d| (d.at, !d.duty.is_step(), d.duty.to_string()));
    out
}

/// The change-safety duties: the rollback decision and its verification
/// (s003.rollback-criteria), and the runbook phases that begin on the clock
/// (s003.dependency-outage).
fn change_duties(incident: &Incident, policy: &Policy, out: &mut Vec<Due>) {
    if !incident.is_open() {
        return;
    }
    let done = |d: &Duty| incident.duties_done.contains(d);
    let rb = &policy.rollback;
    if incident.rollback.decision.is_none()
        && let (Some(first), Some(within)) =
            (incident.rollback.criteria_met.first(), rb.decide_within)
        && !done(&Duty::RollbackDecision)
    {
        out.push(Due {
            duty: Duty::RollbackDecision,
            at: first.at + within.as_signed(),
        });
    }
    if let (Some(decision), Some(after)) = (&incident.rollback.decision, rb.verify_after)
        && decision.decision == crate::incident::RollbackDecision::RolledBack
        && !done(&Duty::RollbackVerify)
    {
        out.push(Due {
            duty: Duty::RollbackVerify,
            at: decision.at + after.as_signed(),
        });
    }
    let mut phases: Vec<(String, Timestamp)> = Vec::new();
    for c in &incident.checklist {
        let Some(from) = c.item.applies_from else {
            continue;
        };
        let Some((runbook, _)) = c.item.id.split_once('.') else {
            continue;
        };
        // A runbook the policy no longer has owes nothing (its duty could
        // not fire, and would hold up every duty after it).
        if incident.runbooks.iter().any(|r| r == runbook)
            && policy.runbooks.iter().any(|r| r.key == runbook)
            && !phases.iter().any(|(r, t)| r == runbook && *t == from)
        {
            phases.push((runbook.to_string(), from));
        }
    }
    for (runbook, at) in phases {
        let duty = Duty::RunbookPhase {
            runbook,
            at: at.as_millisecond(),
        };
        if !done(&duty) {
            out.push(Due { duty, at });
        }
    }
}

/// Fire every duty due at or before `now`, in due order. The events are to be
/// appended (stamped at `now`, actor `system`) together with the intents, in
/// one transaction conditional on the incident's version.
pub fn fire(
    incident: &Incident,
    policy: &Policy,
    overrides: &[Override],
    now: Timestamp,
) -> Firing {
    let mut state = incident.clone();
    let mut firing = Firing::default();
    for _ in 0..MAX_FIRINGS {
        let Some(due) = agenda(&state, policy).into_iter().find(|d| d.at <= now) else {
            break;
        };
        let before = firing.events.len();
        fire_one(&state, policy, overrides, now, &due, &mut firing);
        if firing.events.len() == before {
            break; // Nothing changed: the agenda would offer the same duty again.
        }
        apply_all(&mut state, &firing.events[before..], now);
    }
    firing
}

/// How the admins appear among those notified when a step reached nobody.
pub const ADMIN_TARGET: &str = "admins (nobody reachable)";

fn fire_one(
    incident: &Incident,
    policy: &Policy,
    overrides: &[Override],
    now: Timestamp,
    due: &Due,
    out: &mut Firing,
) {
    let ctx = Ctx {
        incident,
        policy,
        overrides,
        now,
    };
    match &due.duty {
        Duty::Step { level } => {
            // Say what the ladder waits for: a policy that stops only on
            // resolution climbs past an acknowledgement.
            let waits_for = match policy_of(incident, policy).map(|p| p.stop_on) {
                Some(StopOn::Resolve) if incident.acknowledged_at.is_some() => {
                    "acknowledged but not resolved"
                }
                Some(StopOn::Resolve) => "not resolved",
                _ => "not acknowledged",
            };
            let reason = format!("{waits_for} by {}", fmt_time(due.at));
            ctx.step(*level, due.at, reason, out);
        }
        Duty::Rule { name, .. } => {
            let Some(rule) = policy.escalation_rules.iter().find(|r| &r.name == name) else {
                return;
            };
            let reason = rule_reason(rule, incident);
            let (notified, unreachable) = ctx.notify(
                &due.duty,
                &rule.notify,
                false,
                rule_stops_on_ack(rule),
                &reason,
                out,
            );
            out.events.push(EventKind::RuleTriggered {
                rule: rule.name.clone(),
                duty: due.duty.clone(),
                due_at: due.at,
                reason: reason.clone(),
                notified,
                unreachable,
            });
            if let Some(target) = &rule.escalate_to {
                escalate_to(
                    &ctx,
                    out,
                    due.at,
                    target,
                    format!("escalated at once: {reason}"),
                );
            } else if rule.escalate {
                escalate_now(&ctx, out, due.at, format!("escalated at once: {reason}"));
            }
        }
        Duty::UpdateReminder { .. } => {
            let every = policy
                .severity(&incident.severity)
                .and_then(|s| s.update_every)
                .unwrap_or(Duration::from_mins(15));
            // One reminder for the whole gap, numbered by how many periods passed.
            let elapsed = now.duration_since(incident.last_update_at).as_secs();
            let n = u32::try_from(elapsed / every.as_secs().max(1))
                .unwrap_or(u32::MAX)
                .max(incident.update_reminders + 1);
            let duty = update_duty(incident, n);
            let reason = format!(
                "status update overdue: the last was at {} and {} is due every {every}",
                fmt_time(incident.last_update_at),
                incident.severity
            );
            let (notified, unreachable) =
                ctx.notify(&duty, &policy.reminders.update, true, false, &reason, out);
            out.events.push(EventKind::Reminded {
                reminder: "update".into(),
                duty,
                n,
                due_at: due.at,
                reason,
                notified,
                unreachable,
            });
        }
        Duty::CommanderReminder => {
            let reason = format!(
                "no incident commander {} after declaration",
                policy
                    .severity(&incident.severity)
                    .and_then(|s| s.commander_within)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            );
            ctx.remind(
                due,
                "commander".into(),
                &policy.reminders.commander,
                true,
                reason,
                out,
            );
        }
        Duty::ResponseBreach => {
            let reason = format!(
                "response target breached: {} not acknowledged by {}",
                incident.severity,
                fmt_time(due.at)
            );
            out.events.push(EventKind::Reminded {
                reminder: "respond".into(),
                duty: due.duty.clone(),
                n: 1,
                due_at: due.at,
                reason: reason.clone(),
                notified: Vec::new(),
                unreachable: Vec::new(),
            });
            // A breach escalates: the next step fires now instead of on its timer.
            escalate_now(&ctx, out, due.at, reason);
        }
        Duty::ObligationReminder { key, .. } => {
            let Some(ob) = incident.obligations.iter().find(|o| &o.key == key) else {
                return;
            };
            let reason = format!(
                "{} is due at {}",
                ob.title,
                ob.due_at.map(fmt_time).unwrap_or_default()
            );
            let reminder = format!("obligation:{}", ob.key);
            ctx.remind(
                due,
                reminder,
                &policy.reminders.obligation,
                true,
                reason,
                out,
            );
        }
        Duty::Stakeholders { milestone } => {
            let reason = match milestone {
                Milestone::Mitigated => format!(
                    "impact mitigated at {}; the incident stays open until fully resolved",
                    fmt_time(due.at)
                ),
                Milestone::Resolved => format!(
                    "fully resolved at {}, {} after declaration",
                    fmt_time(due.at),
                    Duration::from_secs(
                        due.at.duration_since(incident.declared_at).as_secs().max(0)
                    )
                ),
            };
            let targets = stakeholders(incident, policy);
            let reminder = format!("stakeholders:{}", milestone.as_str());
            ctx.remind(due, reminder, &targets, false, reason, out);
        }
        Duty::PostmortemReminder { .. }
        | Duty::ReviewReminder { .. }
        | Duty::ActionItemReminder { .. } => follow_up::fire(&ctx, due, out),
        Duty::RollbackDecision | Duty::RollbackVerify | Duty::RunbookPhase { .. } => {
            let rollback_targets = if policy.rollback.notify.is_empty() {
                &policy.reminders.update
            } else {
                &policy.rollback.notify
            };
            let (reminder, targets, reason) = match &due.duty {
                Duty::RollbackDecision => (
                    "rollback-decision".to_string(),
                    rollback_targets,
                    format!(
                        "roll back or fix forward? Decide now: rollback criteria met ({}); see the advice on the incident",
                        incident
                            .rollback
                            .criteria_met
                            .iter()
                            .map(|c| c.criterion.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Duty::RollbackVerify => (
                    "rollback-verify".to_string(),
                    rollback_targets,
                    "verify the rollback: health endpoint, error rate and latency back to baseline, critical flows"
                        .to_string(),
                ),
                Duty::RunbookPhase { runbook, at } => {
                    let Some(rb) = policy.runbooks.iter().find(|r| &r.key == runbook) else {
                        return;
                    };
                    let steps: Vec<&str> = incident
                        .checklist
                        .iter()
                        .filter(|c| {
                            c.item.id.starts_with(&format!("{runbook}."))
                                && c.item.applies_from.map(|t| t.as_millisecond()) == Some(*at)
                        })
                        .map(|c| c.item.text.as_str())
                        .collect();
                    (
                        format!("runbook:{runbook}"),
                        &rb.notify,
                        format!(
                            "{}: the outage has lasted {}; these steps now apply: {}",
                            rb.title,
                            Duration::from_secs(
                                (*at - incident.detected_at.as_millisecond()).max(0) / 1000
                            ),
                            steps.join(" / ")
                        ),
                    )
                }
                _ => unreachable!(),
            };
            ctx.remind(due, reminder, targets, true, reason, out);
        }
        // Sent by the duties' own loop, never on an incident's agenda.
        Duty::Recurring { .. } => {}
        // Written by the dispatcher, never on an agenda.
        Duty::DeadLetter { .. } => {}
    }
}

/// Fire the ladder's next step at `at` instead of on its timer — unless a
/// a step above the first already fired at that very instant: two reasons to
/// escalate at the same moment (a breach and a "down for 15 min" rule, or a
/// step's own timer) climb one level, not two.
fn escalate_now(ctx: &Ctx, out: &mut Firing, at: Timestamp, reason: String) {
    let climbed_now = out.events.iter().any(
        |e| matches!(e, EventKind::Escalated { level, due_at, .. } if *level > 0 && *due_at == at),
    );
    if climbed_now {
        return;
    }
    let state = applied(ctx.incident, out);
    if let Some((level, _)) = next_step(&state, ctx.policy) {
        let ctx = Ctx {
            incident: &state,
            ..*ctx
        };
        ctx.step(level, at, reason, out);
    }
}

/// Jump the incident's step policy to its step named `target` (first
/// round) now, if it has one and has not reached it: that step's targets
/// are paged, the ones between are skipped, and the ladder goes on from
/// there.
fn escalate_to(ctx: &Ctx, out: &mut Firing, at: Timestamp, target: &str, reason: String) {
    let state = applied(ctx.incident, out);
    let Some(ep) = policy_of(&state, ctx.policy) else {
        return;
    };
    let Some(index) = ep.steps.iter().position(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(target))
    }) else {
        return;
    };
    let level = index as u32;
    // Only forward, and only while the ladder still runs.
    if state.escalation_level > level || next_step(&state, ctx.policy).is_none() {
        return;
    }
    let ctx = Ctx {
        incident: &state,
        ..*ctx
    };
    ctx.step(level, at, reason, out);
}

/// `incident` with the events fired so far in this call applied.
fn applied(incident: &Incident, out: &Firing) -> Incident {
    let mut state = incident.clone();
    let at = state.updated_at;
    apply_all(&mut state, &out.events, at);
    state
}

/// Apply fired event kinds to a working copy of the state, as the append will.
fn apply_all(state: &mut Incident, kinds: &[EventKind], at: Timestamp) {
    *state = state.advance(kinds.to_vec(), at, "system").0;
}

/// The stakeholders of the incident's services, each target once, in the
/// policy's order.
fn stakeholders(incident: &Incident, policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for service in &incident.services {
        for target in policy
            .services
            .get(service)
            .map(|s| s.stakeholders.as_slice())
            .unwrap_or_default()
        {
            if !out.contains(target) {
                out.push(target.clone());
            }
        }
    }
    out
}

/// The next step of the ladder and when it is due, if one is owed.
fn next_step(incident: &Incident, policy: &Policy) -> Option<(u32, Timestamp)> {
    if !incident.is_open() {
        return None;
    }
    let ep = policy_of(incident, policy)?;
    if ep.stop_on == StopOn::Acknowledge && incident.acknowledged_at.is_some() {
        return None;
    }
    let sev = policy.severity(&incident.severity);
    let paging = sev.map(|s| s.paging).unwrap_or_default();
    if paging == Paging::Never || ep.steps.is_empty() {
        return None;
    }
    let n = ep.steps.len() as u32;
    let level = incident.escalation_level;
    if level >= n.saturating_mul(ep.repeat + 1) {
        return None;
    }
    let step = &ep.steps[(level % n) as usize];
    let (prev, delay) = match (level, incident.escalation_due_at) {
        (0, _) | (_, None) => (
            incident.escalation_started_at,
            step.after.unwrap_or(Duration::ZERO),
        ),
        (l, Some(prev)) if l % n == 0 => (prev, ep.repeat_after.unwrap_or(DEFAULT_REPEAT_AFTER)),
        (_, Some(prev)) => {
            let off_hours = !policy.calendar.is_business_time(prev);
            let delay = match (off_hours, step.after_off_hours) {
                (true, Some(d)) => d,
                _ => step.after.unwrap_or(Duration::ZERO),
            };
            (prev, delay)
        }
    };
    let mut at = prev.checked_add(delay.as_signed()).ok()?;
    if paging == Paging::BusinessHours {
        at = policy.calendar.next_business_time(at);
    }
    Some((level, at))
}

fn rule_stops_on_ack(rule: &crate::policy::EscalationRule) -> bool {
    rule.stop_on == Some(StopOn::Acknowledge)
}

/// The rule's duty and due time, if it is in force and not yet fired.
fn rule_due(
    incident: &Incident,
    policy: &Policy,
    rule: &crate::policy::EscalationRule,
) -> Option<(Duty, Timestamp)> {
    if !incident.is_open() || (rule_stops_on_ack(rule) && incident.acknowledged_at.is_some()) {
        return None;
    }
    let w = &rule.when;
    let any = |wanted: &[String], have: &[String]| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|x| have.iter().any(|h| h.eq_ignore_ascii_case(x)))
    };
    if !any(&w.severities, std::slice::from_ref(&incident.severity))
        || !any(&w.tags, &incident.tags)
        || !any(&w.services, &incident.services)
    {
        return None;
    }
    let declared = incident.declared_at;
    let (key, at) = if let Some(d) = w.update_overdue_for {
        let every = policy.severity(&incident.severity)?.update_every?;
        let at = incident
            .last_update_at
            .checked_add(every.as_signed())
            .ok()?
            .checked_add(d.as_signed())
            .ok()?;
        (
            Duty::Rule {
                name: rule.name.clone(),
                update_clock: Some(incident.last_update_at.as_millisecond()),
            },
            at,
        )
    } else {
        let at = if let Some(d) = w.unresolved_for {
            add(declared, d, 1)?
        } else if let Some(d) = w.unacknowledged_for {
            if incident.acknowledged_at.is_some() {
                return None;
            }
            add(declared, d, 1)?
        } else if let Some(d) = w.no_commander_for {
            if incident.commander_assigned_at.is_some() {
                return None;
            }
            add(declared, d, 1)?
        } else if let Some(d) = w.still_investigating_for {
            if incident.investigated_at.is_some() {
                return None;
            }
            add(declared, d, 1)?
        } else {
            declared
        };
        (
            Duty::Rule {
                name: rule.name.clone(),
                update_clock: None,
            },
            at,
        )
    };
    (!incident.duties_done.contains(&key)).then_some((key, at))
}

fn rule_reason(rule: &crate::policy::EscalationRule, incident: &Incident) -> String {
    let w = &rule.when;
    let mut parts = Vec::new();
    if !w.severities.is_empty() {
        parts.push(incident.severity.clone());
    }
    let matched: Vec<&str> = incident
        .tags
        .iter()
        .filter(|t| w.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
        .map(String::as_str)
        .collect();
    if !matched.is_empty() {
        parts.push(format!("tagged {}", matched.join(", ")));
    }
    if let Some(d) = w.unresolved_for {
        parts.push(format!("unresolved for {d}"));
    }
    if let Some(d) = w.unacknowledged_for {
        parts.push(format!("unacknowledged for {d}"));
    }
    if let Some(d) = w.no_commander_for {
        parts.push(format!("no incident commander for {d}"));
    }
    if let Some(d) = w.update_overdue_for {
        parts.push(format!("status update overdue by {d}"));
    }
    if let Some(d) = w.still_investigating_for {
        parts.push(format!("still investigating after {d}"));
    }
    format!("rule {}: {}", rule.name, parts.join(", "))
}

fn update_duty(incident: &Incident, n: u32) -> Duty {
    Duty::UpdateReminder {
        last_update: incident.last_update_at.as_millisecond(),
        n,
    }
}

fn add(from: Timestamp, d: Duration, times: u32) -> Option<Timestamp> {
    let secs = d.as_secs().checked_mul(i64::from(times))?;
    from.checked_add(jiff::SignedDuration::from_secs(secs)).ok()
}

fn fmt_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    incident: &'a Incident,
    policy: &'a Policy,
    overrides: &'a [Override],
    now: Timestamp,
}

impl Ctx<'_> {
    /// A one-off reminder for `due`: `targets` notified (only the first
    /// that reaches someone, with `first_only`), and the `reminded` event
    /// that takes the duty off the agenda.
    fn remind(
        &self,
        due: &Due,
        reminder: String,
        targets: &[String],
        first_only: bool,
        reason: String,
        out: &mut Firing,
    ) {
        let (notified, unreachable) =
            self.notify(&due.duty, targets, first_only, false, &reason, out);
        out.events.push(EventKind::Reminded {
            reminder,
            duty: due.duty.clone(),
            n: 1,
            due_at: due.at,
            reason,
            notified,
            unreachable,
        });
    }

    /// Fire step `level` of the incident's policy.
    fn step(&self, level: u32, due_at: Timestamp, reason: String, out: &mut Firing) {
        let Some(ep) = policy_of(self.incident, self.policy) else {
            return;
        };
        let n = ep.steps.len() as u32;
        let step = &ep.steps[(level % n) as usize];
        let name = step
            .name
            .clone()
            .unwrap_or_else(|| format!("step {}", level % n + 1));
        let stops = ep.stop_on == StopOn::Acknowledge;
        let duty = Duty::Step { level };
        let reason = if level == 0 {
            "declared".to_string()
        } else {
            reason
        };
        let why = format!("escalation {} {name}: {reason}", ep.name);
        let (mut notified, unreachable) =
            self.notify(&duty, &step.targets, false, stops, &why, out);
        if notified.iter().all(|n| n.channels.is_empty()) {
            self.tell_admins(&duty, &why, &unreachable, &mut notified, out);
        }
        out.events.push(EventKind::Escalated {
            policy: ep.name.clone(),
            level,
            step: name,
            round: level / n,
            due_at,
            reason,
            notified,
            unreachable,
        });
    }

    /// A step reached nobody: tell the policy's admins, on any channel they
    /// can be reached on, so a page into the void is not silent.
    fn tell_admins(
        &self,
        duty: &Duty,
        why: &str,
        unreachable: &[String],
        notified: &mut Vec<Notified>,
        out: &mut Firing,
    ) {
        let reason = format!("NOBODY REACHABLE ({}) — {why}", unreachable.join("; "));
        for admin in &self.policy.organization.admins {
            let Some(person) = self.policy.people.get(admin) else {
                continue;
            };
            let Some((kind, address)) = person.contacts.iter().find_map(|c| {
                let kind = c.kind.parse::<ContactKind>().ok()?;
                self.policy
                    .notifiers
                    .contains_key(kind.as_str())
                    .then(|| (kind, c.address.clone()))
            }) else {
                continue;
            };
            out.intents
                .push(self.intent(duty, admin, kind, &address, &reason, false));
            notified.push(Notified {
                person: admin.clone(),
                via: ADMIN_TARGET.into(),
                channels: vec![kind.to_string()],
            });
        }
    }

    /// Resolve `targets` to people and write an intent per person and
    /// channel. With `first_only`, the first target that reaches anyone wins
    /// (reminders: "the comms lead, else the commander, else whoever was paged").
    fn notify(
        &self,
        duty: &Duty,
        targets: &[String],
        first_only: bool,
        stop_on_ack: bool,
        reason: &str,
        out: &mut Firing,
    ) -> (Vec<Notified>, Vec<String>) {
        let mut notified: Vec<Notified> = Vec::new();
        let mut unreachable = Vec::new();
        // In a fallback chain, a link that reaches nobody is only worth
        // reporting when the whole chain reaches nobody.
        let mut skipped = Vec::new();
        for target in targets {
            let people = self.resolve(
                target,
                if first_only {
                    &mut skipped
                } else {
                    &mut unreachable
                },
            );
            for person in people {
                if notified.iter().any(|n| n.person == person) {
                    continue;
                }
                let channels = self.channels_of(&person);
                if channels.is_empty() {
                    unreachable.push(format!(
                        "{person}: no contact with a configured notifier for the channels of {}",
                        self.incident.severity
                    ));
                }
                for (channel, address) in &channels {
                    out.intents.push(self.intent(
                        duty,
                        &person,
                        *channel,
                        address,
                        reason,
                        stop_on_ack,
                    ));
                }
                notified.push(Notified {
                    person,
                    via: target.clone(),
                    channels: channels.into_iter().map(|(c, _)| c.to_string()).collect(),
                });
            }
            if first_only && !notified.is_empty() {
                break;
            }
        }
        if first_only && notified.is_empty() {
            // Nobody in the chain: say so rather than staying silent.
            unreachable.append(&mut skipped);
            unreachable.push(format!("nobody to tell ({})", targets.join(", ")));
        }
        (notified, unreachable)
    }

    fn resolve(&self, target: &str, unreachable: &mut Vec<String>) -> Vec<String> {
        if target == "paged" {
            return self.incident.paged.clone();
        }
        let Some((kind, name)) = target.split_once(':') else {
            return Vec::new();
        };
        let on_call = |schedule: &str, unreachable: &mut Vec<String>| match on_call(
            self.policy,
            schedule,
            self.now,
            self.overrides,
        ) {
            Some(oc) => vec![oc.person],
            None => {
                unreachable.push(format!("schedule {schedule}: nobody on call"));
                Vec::new()
            }
        };
        match kind {
            "person" => vec![name.to_string()],
            "schedule" => on_call(name, unreachable),
            "team" => match self.policy.teams.get(name) {
                Some(team) => match &team.schedule {
                    Some(schedule) => on_call(schedule, unreachable),
                    None => team.members.clone(),
                },
                None => Vec::new(),
            },
            "role" => {
                let role = self.policy.role(name).map_or(name, |r| r.key.as_str());
                let holders = self.incident.holders(role).to_vec();
                if holders.is_empty() && !target.is_empty() {
                    unreachable.push(format!("role {role}: nobody holds it"));
                }
                holders
            }
            _ => Vec::new(),
        }
    }

    /// The person's contacts the severity's channels allow and a notifier
    /// can reach, in their order. `chat` reaches a `slack` contact; no
    /// channels listed allows every contact.
    fn channels_of(&self, person: &str) -> Vec<(ContactKind, String)> {
        let Some(p) = self.policy.people.get(person) else {
            return Vec::new();
        };
        let severity = self.policy.severity(&self.incident.severity);
        let mut out: Vec<(ContactKind, String)> = Vec::new();
        for c in &p.contacts {
            // Validated at load; a kind that does not parse reaches nobody.
            let Ok(kind) = c.kind.parse::<ContactKind>() else {
                continue;
            };
            // Only channels the policy can deliver on: an intent nobody can
            // send would only dead-letter.
            let ok = self.policy.notifiers.contains_key(kind.as_str())
                && severity.is_none_or(|s| s.allows(kind));
            if ok && !out.iter().any(|(k, _)| *k == kind) {
                out.push((kind, c.address.clone()));
            }
        }
        out
    }

    fn intent(
        &self,
        duty: &Duty,
        person: &str,
        channel: ContactKind,
        address: &str,
        reason: &str,
        stop_on_ack: bool,
    ) -> Intent {
        let i = self.incident;
        let locale = self
            .policy
            .people
            .get(person)
            .and_then(|p| p.locale.clone())
            .unwrap_or_else(|| self.policy.default_locale().to_string());
        let subject = truncate(&format!("[{}] {} {}", i.severity, i.id, i.title), 200);
        let l = Labels::of(&locale);
        let mut text = format!(
            "{subject}\n{}: {}\n{}: {reason}\n",
            l.status,
            l.status_name(i.status),
            l.why
        );
        if !i.services.is_empty() {
            text.push_str(&format!("{}: {}\n", l.services, i.services.join(", ")));
        }
        if !i.summary.is_empty() {
            text.push_str(&format!("{}: {}\n", l.summary, truncate(&i.summary, 500)));
        }
        if i.alerts_total > 0 {
            text.push_str(&format!(
                "{}: {} {} {}\n",
                l.alerts, i.alerts_firing, l.firing_of, i.alerts_total
            ));
            for a in i.alert_sample.iter().take(3) {
                text.push_str(&format!("  - {}\n", truncate(&a.summary, 150)));
            }
            if i.alerts_total > 3 {
                text.push_str(&format!(
                    "  … {} {} {}\n",
                    l.and,
                    i.alerts_total.saturating_sub(3),
                    l.more
                ));
            }
        }
        Intent {
            key: Intent::key_for(duty, person, channel, i.ack_round),
            duty: duty.clone(),
            person: person.to_string(),
            channel,
            address: address.to_string(),
            locale,
            subject,
            text: truncate(&text, MAX_PAGE_TEXT),
            stop_on_ack,
            ack_round: i.ack_round,
        }
    }
}

/// The fixed words of a page, in the recipient's language (English unless
/// the policy's people speak Arabic; the reasons stay as the timeline has them).
struct Labels {
    status: &'static str,
    why: &'static str,
    services: &'static str,
    summary: &'static str,
    alerts: &'static str,
    firing_of: &'static str,
    and: &'static str,
    more: &'static str,
    arabic: bool,
}

impl Labels {
    fn of(locale: &str) -> Labels {
        if locale.split(['-', '_']).next() == Some("ar") {
            Labels {
                status: "الحالة",
                why: "سبب التنبيه",
                services: "الخدمات",
                summary: "الملخص",
                alerts: "التنبيهات",
                firing_of: "نشطة من أصل",
                and: "و",
                more: "أخرى",
                arabic: true,
            }
        } else {
            Labels {
                status: "Status",
                why: "Why you",
                services: "Services",
                summary: "Summary",
                alerts: "Alerts",
                firing_of: "firing of",
                and: "and",
                more: "more",
                arabic: false,
            }
        }
    }

    fn status_name(&self, status: crate::incident::Status) -> &'static str {
        use crate::incident::Status as S;
        if !self.arabic {
            return status.as_str();
        }
        match status {
            S::Investigating => "قيد التحقيق",
            S::Identified => "تم تحديد السبب",
            S::Mitigated => "تم احتواء الأثر",
            S::Monitoring => "تحت المراقبة",
            S::Resolved => "تم الحل",
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{AlertBrief, Context, Declare, declare};

    /// A page about an incident with thousands of alerts carries a summary,
    /// the first few alerts and a count — never the list.
    #[test]
    fn a_page_about_thousands_of_alerts_stays_small() {
        let policy = Policy::parse(
            r#"
version = 1
[[severities]]
name = "P1"
[people.a]
name = "A"
contacts = [{ kind = "sms", address = "+1 555 0100" }]
[people.b]
name = "B"
locale = "ar"
contacts = [{ kind = "sms", address = "+966 11 555 0100" }]
[[escalation_policies]]
name = "p"
[[escalation_policies.steps]]
targets = ["person:a", "person:b"]
[notifiers.sms]
url = "https://sms.example/send"
"#,
            "test.toml",
        )
        .unwrap();
        let now: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let ctx = Context {
            policy: &policy,
            now,
            actor: "t",
            link_base: "",
        };
        let (declared, _) = declare(
            &Declare {
                title: "Disk full".into(),
                severity: "P1".into(),
                escalation_policy: Some("p".into()),
                ..Default::default()
            },
            &ctx,
        )
        .unwrap();
        let (mut incident, _) = declared.advance(
            vec![EventKind::AlertsChanged {
                attached: 5000,
                resolved: 0,
                refired: 0,
                firing: 5000,
                total: 5000,
                sample: (0..5)
                    .map(|i| AlertBrief {
                        key: format!("k{i}"),
                        summary: format!("DiskFull{{instance=\"node-{i}\"}}"),
                        firing: true,
                    })
                    .collect(),
                all_resolved: false,
            }],
            now,
            "t",
        );
        incident.id = "INC-1".into();
        let firing = fire(&incident, &policy, &[], now);
        assert_eq!(firing.intents.len(), 2);
        // B reads Arabic: the page's own words are Arabic, in B's locale.
        let arabic = &firing.intents[1];
        assert_eq!(arabic.locale, "ar");
        assert!(
            arabic.text.contains("الحالة: قيد التحقيق"),
            "{}",
            arabic.text
        );
        assert!(arabic.text.contains("و 4997 أخرى"), "{}", arabic.text);
        let text = &firing.intents[0].text;
        assert!(text.len() <= MAX_PAGE_TEXT, "{}", text.len());
        assert!(text.contains("Alerts: 5000 firing of 5000"), "{text}");
        assert!(text.contains("node-0") && text.contains("node-2"), "{text}");
        assert!(!text.contains("node-3"), "only the first three: {text}");
        assert!(text.contains("and 4997 more"), "{text}");
    }
}
