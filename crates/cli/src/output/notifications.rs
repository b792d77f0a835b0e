//! Paging: the notification log, the escalation policies in force, and an
//! incident's agenda.

use firebell_core::Duration;
use firebell_core::escalation::Duty;
use firebell_core::policy::StopOn;
use firebell_server::wire::{Agenda, EscalationPolicies, NotificationList};

use super::{name, table, text, when};

/// `firebell notifications`: the outbox, newest first.
pub fn notifications(list: &NotificationList) {
    if list.items.is_empty() {
        println!("no notifications");
        return;
    }
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|n| {
            let error = text(&n.last_error);
            let error = if error.chars().count() > 80 {
                format!("{}…", error.chars().take(79).collect::<String>())
            } else {
                error.to_string()
            };
            vec![
                when(n.created_at),
                n.incident_id.clone(),
                n.person.clone(),
                n.channel.to_string(),
                n.state.as_str().to_string(),
                n.attempts.to_string(),
                error.replace('\n', " "),
            ]
        })
        .collect();
    table(
        &[
            "CREATED",
            "INCIDENT",
            "PERSON",
            "CHANNEL",
            "STATE",
            "ATTEMPTS",
            "LAST ERROR",
        ],
        &rows,
    );
}

/// `firebell escalation`: each policy as a block of steps, the rules as a
/// table, then who gets which reminder.
pub fn escalation(e: &EscalationPolicies) {
    if e.policies.is_empty() {
        println!("no escalation policies");
        println!();
    }
    for p in &e.policies {
        if p.description.is_empty() {
            println!("{}", p.name);
        } else {
            println!("{} — {}", p.name, p.description);
        }
        let cells: Vec<(String, String, String)> = p
            .steps
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let name = st.name.clone().unwrap_or_else(|| format!("step {}", i + 1));
                let mut after = match st.after {
                    Some(d) if d != Duration::ZERO => format!("after {d}"),
                    _ => "at once".to_string(),
                };
                if let Some(d) = st.after_off_hours {
                    after.push_str(&format!(" ({d} off-hours)"));
                }
                (name, after, st.targets.join(", "))
            })
            .collect();
        let name_w = cells.iter().map(|c| c.0.chars().count()).max().unwrap_or(0);
        let after_w = cells.iter().map(|c| c.1.chars().count()).max().unwrap_or(0);
        for (name, after, targets) in &cells {
            println!(
                "  {name}{}  {after}{}  → {targets}",
                " ".repeat(name_w - name.chars().count()),
                " ".repeat(after_w - after.chars().count()),
            );
        }
        let stops = format!("stops on {}", name(&p.stop_on));
        match p.repeat {
            0 => println!("  no repeat, {stops}"),
            n => {
                let after = p
                    .repeat_after
                    .unwrap_or(firebell_core::escalation::DEFAULT_REPEAT_AFTER);
                println!("  repeat {n}× after {after}, {stops}");
            }
        }
        println!();
    }
    if e.rules.is_empty() {
        println!("no escalation rules");
    } else {
        let rows: Vec<Vec<String>> = e
            .rules
            .iter()
            .map(|r| {
                let w = &r.when;
                let mut when = Vec::new();
                for (list, label) in [
                    (&w.severities, "severity"),
                    (&w.tags, "tag"),
                    (&w.services, "service"),
                ] {
                    if !list.is_empty() {
                        when.push(format!("{label} {}", list.join("|")));
                    }
                }
                for (d, label) in [
                    (w.unresolved_for, "unresolved"),
                    (w.unacknowledged_for, "unacknowledged"),
                    (w.no_commander_for, "no commander"),
                    (w.update_overdue_for, "update overdue"),
                    (w.still_investigating_for, "still investigating"),
                ] {
                    if let Some(d) = d {
                        when.push(format!("{label} {d}"));
                    }
                }
                if when.is_empty() {
                    when.push("every incident".into());
                }
                if r.stop_on == Some(StopOn::Acknowledge) {
                    when.push("until acknowledged".into());
                }
                vec![
                    r.name.clone(),
                    when.join(", "),
                    if r.notify.is_empty() {
                        "-".into()
                    } else {
                        r.notify.join(", ")
                    },
                    if r.escalate { "yes" } else { "no" }.into(),
                ]
            })
            .collect();
        table(&["NAME", "WHEN", "NOTIFY", "ESCALATE"], &rows);
    }
    let r = &e.reminders;
    println!();
    println!("reminders:");
    for (to, label) in [
        (&r.update, "status update overdue"),
        (&r.commander, "no incident commander"),
        (&r.obligation, "obligation due"),
    ] {
        let to = to.join(", ");
        println!("  {label:<21}  → {}", if to.is_empty() { "-" } else { &to });
    }
}

/// `firebell agenda ID`: the incident's escalation state, then what is owed
/// and when.
pub fn agenda(a: &Agenda) {
    match &a.escalation_policy {
        Some(p) => println!(
            "escalation policy {p}, level {} (steps fired so far)",
            a.escalation_level
        ),
        None => println!("no escalation policy"),
    }
    if a.due.is_empty() {
        println!("nothing due");
        return;
    }
    let now = firebell_core::Timestamp::now();
    let rows: Vec<Vec<String>> = a
        .due
        .iter()
        .map(|d| vec![super::when(d.at), relative_to(now, d.at), duty(&d.duty)])
        .collect();
    table(&["DUE", "IN", "DUTY"], &rows);
}

/// `in 12m`, `overdue 3m`, `now`.
fn relative_to(now: firebell_core::Timestamp, at: firebell_core::Timestamp) -> String {
    let secs = at.as_second() - now.as_second();
    let span = {
        let a = secs.unsigned_abs();
        match a {
            0 => return "now".into(),
            1..=59 => format!("{a}s"),
            60..=3599 => format!("{}m", a / 60),
            3600..=86_399 if a % 3600 / 60 == 0 => format!("{}h", a / 3600),
            3600..=86_399 => format!("{}h{}m", a / 3600, a % 3600 / 60),
            _ if a % 86_400 / 3600 == 0 => format!("{}d", a / 86_400),
            _ => format!("{}d{}h", a / 86_400, a % 86_400 / 3600),
        }
    };
    if secs > 0 {
        format!("in {span}")
    } else {
        format!("overdue {span}")
    }
}

/// A duty from the agenda, in words: `step:1` → `escalation step 2`.
fn duty(duty: &Duty) -> String {
    match duty {
        Duty::Step { level } => format!("escalation step {}", u64::from(*level) + 1),
        Duty::Rule { name, .. } => format!("rule {name}"),
        Duty::UpdateReminder { n, .. } => format!("status update reminder #{n}"),
        Duty::CommanderReminder => "incident commander reminder".into(),
        Duty::ResponseBreach => "response target".into(),
        Duty::ObligationReminder { key, .. } => format!("obligation {key} reminder"),
        Duty::DeadLetter { .. } => duty.to_string(),
        Duty::Stakeholders { milestone } => format!("stakeholders told: {}", milestone.as_str()),
        Duty::PostmortemReminder { index: Some(_) } => "postmortem reminder".into(),
        Duty::PostmortemReminder { index: None } => "postmortem overdue".into(),
        Duty::ReviewReminder { index: None, .. } => "postmortem review invitation".into(),
        Duty::ReviewReminder { index: Some(_), .. } => "postmortem review reminder".into(),
        Duty::ActionItemReminder { id, n, .. } => {
            format!("action item {id} overdue, reminder #{n}")
        }
        Duty::Recurring { key } => format!("recurring duty {key}"),
        Duty::RollbackDecision => "rollback decision due".into(),
        Duty::RollbackVerify => "verify the rollback".into(),
        Duty::RunbookPhase { runbook, .. } => format!("runbook {runbook}: next steps apply"),
    }
}
