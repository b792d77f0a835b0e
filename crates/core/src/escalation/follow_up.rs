//! The learning loop's duties: the postmortem's reminders and overdue
//! notice, its review's invitation and reminders, and overdue action items.
//! They belong to resolved incidents, so nothing about resolution stops them;
//! publishing the postmortem and completing an item do.

use super::{Ctx, Due, Duty, Firing, fmt_time};
use crate::incident::{
    ActionStatus, EventKind, Incident, PostmortemState, postmortem_due, review_invitees,
};
use crate::policy::Policy;

/// Reminders about one overdue action item, at most.
const MAX_ACTION_REMINDERS: u32 = 30;

pub(super) fn agenda(incident: &Incident, policy: &Policy, out: &mut Vec<Due>) {
    let done = |d: &Duty| incident.duties_done.contains(d);
    if let Some(pm) = &incident.postmortem {
        if pm.state != PostmortemState::Published
            && let Some(due) = postmortem_due(incident, policy)
        {
            for (i, before) in policy.postmortems.remind_before.iter().enumerate() {
                let duty = Duty::PostmortemReminder { index: Some(i) };
                // A reminder that would fall before the postmortem existed is noise.
                if let Ok(at) = due.checked_sub(before.as_signed())
                    && at > pm.opened_at
                    && !done(&duty)
                {
                    out.push(Due { duty, at });
                }
            }
            let duty = Duty::PostmortemReminder { index: None };
            if !done(&duty) {
                out.push(Due { duty, at: due });
            }
        }
        if let (Some(review), Some(set_at)) = (&pm.review, pm.review_set_at) {
            let ms = review.at.as_millisecond();
            let invite = Duty::ReviewReminder {
                at: ms,
                index: None,
            };
            if !done(&invite) {
                out.push(Due {
                    duty: invite,
                    at: set_at,
                });
            }
            let befores = policy
                .postmortems
                .review
                .as_ref()
                .map(|r| r.remind_before.as_slice())
                .unwrap_or(&[]);
            for (i, before) in befores.iter().enumerate() {
                let duty = Duty::ReviewReminder {
                    at: ms,
                    index: Some(i),
                };
                if let Ok(at) = review.at.checked_sub(before.as_signed())
                    && at > set_at
                    && !done(&duty)
                {
                    out.push(Due { duty, at });
                }
            }
        }
    }
    let every = policy.action_items.remind_every;
    for item in &incident.action_items {
        let Some(due) = item.due_at else { continue };
        if item.status == ActionStatus::Complete {
            continue;
        }
        // Reminders about this due date: how many, and the last period.
        let due_ms = due.as_millisecond();
        let (sent, last) = incident
            .duties_done
            .iter()
            .filter_map(|d| match d {
                Duty::ActionItemReminder { id, due, n } if *id == item.id && *due == due_ms => {
                    Some(*n)
                }
                _ => None,
            })
            .fold((0u32, 0u32), |(c, m), n| (c + 1, m.max(n)));
        if sent >= MAX_ACTION_REMINDERS {
            continue;
        }
        if let Some(at) = super::add(due, every, last) {
            out.push(Due {
                duty: Duty::ActionItemReminder {
                    id: item.id,
                    due: due_ms,
                    n: last + 1,
                },
                at,
            });
        }
    }
}

pub(super) fn fire(ctx: &Ctx, due: &Due, out: &mut Firing) {
    let incident = ctx.incident;
    let policy = ctx.policy;
    let Some(pm) = &incident.postmortem else {
        if let Duty::ActionItemReminder { .. } = due.duty {
            action_item(ctx, due, None, out);
        }
        return;
    };
    match &due.duty {
        Duty::PostmortemReminder { index } => {
            let when = postmortem_due(incident, policy).unwrap_or(due.at);
            let (reminder, reason) = match index {
                Some(_) => (
                    "postmortem",
                    format!(
                        "the postmortem of {} is due at {} and is {}",
                        incident.id,
                        fmt_time(when),
                        pm.state.as_str().replace('_', " ")
                    ),
                ),
                None => (
                    "postmortem_overdue",
                    format!(
                        "the postmortem of {} is overdue: it was due at {} and is {}",
                        incident.id,
                        fmt_time(when),
                        pm.state.as_str().replace('_', " ")
                    ),
                ),
            };
            let targets = owner_first(pm.owner.as_deref(), &policy.postmortems.owner);
            ctx.remind(due, reminder.into(), &targets, true, reason, out);
        }
        Duty::ReviewReminder { index, .. } => {
            let Some(review) = &pm.review else { return };
            let place = review
                .place
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            let reason = match index {
                None => format!(
                    "you are invited to the postmortem review of {} at {}{place}",
                    incident.id,
                    fmt_time(review.at)
                ),
                Some(_) => format!(
                    "the postmortem review of {} starts at {}{place}",
                    incident.id,
                    fmt_time(review.at)
                ),
            };
            let targets: Vec<String> = review_invitees(incident, policy)
                .into_iter()
                .map(|p| format!("person:{p}"))
                .collect();
            let reminder = if index.is_none() {
                "review_invitation"
            } else {
                "review"
            };
            ctx.remind(due, reminder.into(), &targets, false, reason, out);
        }
        Duty::ActionItemReminder { .. } => action_item(ctx, due, pm.owner.as_deref(), out),
        _ => {}
    }
}

/// The item's owner when they are a person, else the postmortem's owner,
/// else whoever owns postmortems by the policy.
fn action_item(ctx: &Ctx, due: &Due, pm_owner: Option<&str>, out: &mut Firing) {
    let Duty::ActionItemReminder { id, due: due_ms, n } = &due.duty else {
        return;
    };
    let Some(item) = ctx.incident.action_items.iter().find(|a| a.id == *id) else {
        return;
    };
    // One reminder for a whole gap (a late tick, a due date set in the
    // past), numbered by the periods that passed.
    let every = ctx.policy.action_items.remind_every.as_secs().max(1);
    let periods = (ctx.now.as_millisecond() - due_ms).max(0) / 1000 / every;
    let n = (*n).max(u32::try_from(periods + 1).unwrap_or(u32::MAX));
    let duty = Duty::ActionItemReminder {
        id: *id,
        due: *due_ms,
        n,
    };
    let owner = if ctx.policy.people.contains_key(&item.owner) {
        Some(item.owner.as_str())
    } else {
        pm_owner
    };
    let reason = format!(
        "action item {} of {} ({}, owner {}) is overdue: it was due at {}",
        item.id,
        ctx.incident.id,
        item.title,
        item.owner,
        item.due_at.map(fmt_time).unwrap_or_default()
    );
    let targets = owner_first(owner, &ctx.policy.postmortems.owner);
    let (notified, unreachable) = ctx.notify(&duty, &targets, true, false, &reason, out);
    out.events.push(EventKind::Reminded {
        reminder: format!("action:{id}"),
        duty,
        n,
        due_at: due.at,
        reason,
        notified,
        unreachable,
    });
}

/// A fallback chain: the named person first, then the policy's targets.
fn owner_first(person: Option<&str>, rest: &[String]) -> Vec<String> {
    person
        .map(|p| format!("person:{p}"))
        .into_iter()
        .chain(rest.iter().cloned())
        .collect()
}
