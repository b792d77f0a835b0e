//! "Who would be paged or reminded when" for a hypothetical incident: the
//! policy's escalation run forward in time, without sending anything.
//!
//! [`simulate`] declares the incident of a [`Scenario`] at its start, then
//! walks time forward from one event to the next: the soonest duty on the
//! [`agenda`](crate::escalation::agenda), the scenario's acknowledgement and
//! its resolution. Duties are fired with [`escalation::fire`] exactly as the
//! server's scheduler fires them, and their events are applied to the state,
//! so what the plan shows is what the server would do (given the same
//! overrides and no human action other than the scenario's).
//!
//! Nobody posts status updates in a simulation, so update reminders repeat at
//! the severity's cadence until the incident is resolved or the scenario ends.
//! An acknowledgement or resolution at the same instant as a duty comes first:
//! an acknowledgement *by* the due time is in time.

use serde::Serialize;

use crate::escalation::{self, agenda};
use crate::incident::{
    Command, CommandError, Context, Declare, EventKind, Incident, Notified, decide, declare,
    incident_id_stem,
};
use crate::schedule::Override;
use crate::{Duration, Policy, Timestamp};

/// Most plan entries one simulation produces; a policy that reminds every
/// minute for a month stops here instead of running on.
pub const MAX_ENTRIES: usize = 10_000;

/// The actor of the simulated declaration, acknowledgement and resolution.
pub const ACTOR: &str = "simulation";

/// A hypothetical incident and what people do about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub declare: Declare,
    /// When the incident is declared.
    pub start: Timestamp,
    /// How long to look ahead from `start` (inclusive).
    pub duration: Duration,
    /// Acknowledged this long after `start`; `None`: never.
    pub ack_after: Option<Duration>,
    /// Resolved this long after `start`; `None`: never.
    pub resolve_after: Option<Duration>,
    /// On-call overrides in force during the simulation.
    pub overrides: Vec<Override>,
}

/// Someone the plan notifies, the target that named them and their channels.
pub type PlannedNotification = Notified;

/// One thing that happens in the simulated incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    pub at: Timestamp,
    /// Time since the start: `+0m`, `+30m`, `+1h15m`.
    pub offset: String,
    /// `escalated L2`, `rule p0-unresolved-30m`, `reminder: status update
    /// overdue`, `acknowledged`, `resolved`, ...
    pub what: String,
    pub reason: String,
    pub notify: Vec<PlannedNotification>,
    /// Targets that reach nobody, and why.
    pub unreachable: Vec<String>,
}

/// Run `scenario` against `policy`: every escalation, rule, reminder and
/// breach in time order, with the scenario's acknowledgement and resolution
/// among them. Fails only if the declaration itself is refused (unknown
/// severity, service or escalation policy, ...). Stops after
/// [`MAX_ENTRIES`] entries, the last one saying so.
pub fn simulate(policy: &Policy, scenario: &Scenario) -> Result<Vec<PlanEntry>, CommandError> {
    let start = scenario.start;
    let after = |d: Duration| {
        start.checked_add(d.as_signed()).map_err(|e| {
            CommandError::invalid("invalid_duration", format!("{d} after {start}: {e}"))
        })
    };
    let end = after(scenario.duration)?;
    let mut ack_at = scenario.ack_after.map(after).transpose()?;
    let mut resolve_at = scenario.resolve_after.map(after).transpose()?;

    let mut state = incident(policy, scenario)?;

    let mut plan: Vec<PlanEntry> = Vec::new();
    let mut now = start;
    // Each round appends at least one event or clears a scenario action, so
    // this bounds the loop even if a duty were ever to fire without effect.
    for _ in 0..MAX_ENTRIES * 4 {
        // Due times may lie in the past (owed): they fire at once.
        let due = agenda(&state, policy).first().map(|d| d.at.max(now));
        let action = [ack_at, resolve_at].into_iter().flatten().min();
        let Some(t) = due.into_iter().chain(action).min() else {
            break;
        };
        if t > end {
            break;
        }
        now = t;
        if plan.len() >= MAX_ENTRIES {
            // More is owed before the end: say where the plan stops.
            plan.truncate(MAX_ENTRIES - 1);
            let at = plan.last().map_or(t, |e| e.at);
            plan.push(PlanEntry {
                at,
                offset: offset(start, at),
                what: "stopped".into(),
                reason: format!(
                    "the simulation stops after {MAX_ENTRIES} entries; simulate a shorter time"
                ),
                notify: Vec::new(),
                unreachable: Vec::new(),
            });
            break;
        }

        // Both are at `t` when both are due: `t` is the soonest of everything.
        if ack_at.is_some_and(|a| a <= t) {
            ack_at = None;
            act(
                &mut state,
                policy,
                &Command::Acknowledge,
                t,
                &mut plan,
                start,
            )?;
            continue;
        }
        if resolve_at.is_some_and(|r| r <= t) {
            resolve_at = None;
            let resolve = Command::Resolve {
                summary: String::new(),
            };
            act(&mut state, policy, &resolve, t, &mut plan, start)?;
            continue;
        }

        let firing = escalation::fire(&state, policy, &scenario.overrides, t);
        if firing.events.is_empty() {
            break; // A duty that fires without effect would be offered forever.
        }
        let (next, events) = state.advance(firing.events, t, "system");
        state = next;
        plan.extend(events.iter().filter_map(|e| entry_of(&e.kind, start, t)));
    }
    Ok(plan)
}

/// The scenario's incident as declared at its start, before anything fires:
/// what [`escalation::policy_of`] and [`agenda`] are asked about.
pub fn incident(policy: &Policy, scenario: &Scenario) -> Result<Incident, CommandError> {
    let ctx = Context {
        policy,
        now: scenario.start,
        actor: ACTOR,
        link_base: "",
    };
    let (mut incident, _) = declare(&scenario.declare, &ctx)?;
    incident.id = format!("{}-SIM", incident_id_stem(policy, scenario.start));
    Ok(incident)
}

/// Apply a scenario command (acknowledge, resolve). One that no longer
/// applies (acknowledging a resolved incident) is left out of the plan.
fn act(
    state: &mut Incident,
    policy: &Policy,
    cmd: &Command,
    t: Timestamp,
    plan: &mut Vec<PlanEntry>,
    start: Timestamp,
) -> Result<(), CommandError> {
    let ctx = Context {
        policy,
        now: t,
        actor: ACTOR,
        link_base: "",
    };
    let kinds = match decide(state, cmd, &ctx) {
        Ok(kinds) => kinds,
        Err(e) if e.rejection == crate::incident::Rejection::InvalidTransition => return Ok(()),
        Err(e) => return Err(e),
    };
    *state = state.advance(kinds, t, ACTOR).0;
    let what = match cmd {
        Command::Acknowledge => "acknowledged",
        _ => "resolved",
    };
    plan.push(PlanEntry {
        at: t,
        offset: offset(start, t),
        what: what.into(),
        reason: format!(
            "{what} {} after declaration (scenario)",
            Duration::from_secs(t.duration_since(start).as_secs())
        ),
        notify: Vec::new(),
        unreachable: Vec::new(),
    });
    Ok(())
}

/// The plan entry for a fired duty's event.
fn entry_of(kind: &EventKind, start: Timestamp, t: Timestamp) -> Option<PlanEntry> {
    let (what, reason, notified, unreachable) = match kind {
        EventKind::Escalated {
            step,
            round,
            reason,
            notified,
            unreachable,
            ..
        } => {
            let what = if *round == 0 {
                format!("escalated {step}")
            } else {
                format!("escalated {step} (round {})", round + 1)
            };
            (what, reason, notified, unreachable)
        }
        EventKind::RuleTriggered {
            rule,
            reason,
            notified,
            unreachable,
            ..
        } => (format!("rule {rule}"), reason, notified, unreachable),
        EventKind::Reminded {
            reminder,
            n,
            reason,
            notified,
            unreachable,
            ..
        } => {
            let what = match reminder.as_str() {
                "update" if *n > 1 => format!("reminder: status update overdue (#{n})"),
                "update" => "reminder: status update overdue".to_string(),
                "commander" => "reminder: no incident commander".to_string(),
                "respond" => "response target breached".to_string(),
                other => match other.strip_prefix("obligation:") {
                    Some(key) => format!("reminder: obligation {key}"),
                    None => format!("reminder: {other}"),
                },
            };
            (what, reason, notified, unreachable)
        }
        _ => return None,
    };
    Some(PlanEntry {
        at: t,
        offset: offset(start, t),
        what,
        reason: reason.clone(),
        notify: notified.clone(),
        unreachable: unreachable.clone(),
    })
}

/// `+0m`, `+30m`, `+1h15m`, `+2d3h`: time since `start`, to the second.
pub fn offset(start: Timestamp, t: Timestamp) -> String {
    let secs = t.duration_since(start).as_secs();
    if secs <= 0 {
        return "+0m".into();
    }
    format!("+{}", Duration::from_secs(secs))
}
