//! Incidents: the list, one incident with its timeline, a command's result.

use firebell_core::Incident;
use firebell_core::incident::{DeadlineStatus, Event};
use firebell_server::wire::{CommandResponse, IncidentDetail, IncidentList, RenderedMessage};

use super::{name, table, text, when};

pub fn incident_list(list: &IncidentList) {
    if list.items.is_empty() {
        println!("no incidents");
        return;
    }
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.severity.clone(),
                i.status.to_string(),
                when(i.declared_at),
                if i.acknowledged_at.is_none() {
                    "no".into()
                } else {
                    "yes".into()
                },
                i.title.clone(),
            ]
        })
        .collect();
    table(
        &["ID", "SEV", "STATUS", "DECLARED", "ACKED", "TITLE"],
        &rows,
    );
    if let Some(c) = &list.next_cursor {
        println!("more: --cursor {c}");
    }
}

fn incident_header(i: &Incident) {
    println!("{}  [{}] {}  ({})", i.id, i.severity, i.title, i.status);
    if !i.summary.is_empty() {
        println!("  {}", i.summary);
    }
    println!("  declared  {} by {}", when(i.declared_at), i.declared_by);
    if i.acknowledged_at.is_some() {
        println!(
            "  acked     {} by {}",
            when(i.acknowledged_at),
            text(&i.acknowledged_by)
        );
    }
    if i.resolved_at.is_some() {
        println!("  resolved  {}", when(i.resolved_at));
    }
    if !i.services.is_empty() {
        println!("  services  {}", i.services.join(", "));
    }
    if !i.tags.is_empty() {
        println!("  tags      {}", i.tags.join(", "));
    }
    if !i.roles.is_empty() {
        let parts: Vec<String> = i
            .roles
            .iter()
            .map(|(role, people)| format!("{role}: {}", people.join(", ")))
            .collect();
        println!("  roles     {}", parts.join("; "));
    }
    println!("  version   {}", i.version);
    if !i.checklist.is_empty() {
        println!("  checklist:");
        for c in &i.checklist {
            let mark = if c.ticked_at.is_none() { "[ ]" } else { "[x]" };
            let due = match c.item.due_at {
                None => String::new(),
                Some(due) => format!(" (due {})", when(due)),
            };
            let phase = match (c.item.applies_from, c.item.applies_until) {
                (Some(from), _) => format!(" [from {}]", when(from)),
                (None, Some(until)) => format!(" [until {}]", when(until)),
                (None, None) => String::new(),
            };
            println!("    {mark} {}  {}{due}{phase}", c.item.id, c.item.text);
            if let Some(cmd) = &c.item.command {
                println!("          $ {cmd}");
            }
            if let Some(link) = &c.item.link {
                println!("          {link}");
            }
        }
    }
    if !i.obligations.is_empty() {
        println!("  obligations:");
        for o in &i.obligations {
            println!("    {} — due {}", o.title, when(o.due_at));
        }
    }
    if let Some(pm) = &i.postmortem {
        println!(
            "  postmortem {} — owner {}, due {} (firebell postmortem show {})",
            pm.state.as_str(),
            text(&pm.owner),
            when(pm.due_at),
            i.id
        );
    }
    if !i.action_items.is_empty() {
        println!("  action items:");
        for a in &i.action_items {
            println!(
                "    {}. [{}] {} — {}, due {}",
                a.id,
                a.status.as_str(),
                a.title,
                a.owner,
                when(a.due_at)
            );
        }
    }
    if i.drill {
        println!("  DRILL: not public, not reported");
    }
}

/// One timeline line per event: time, sequence, actor, what happened.
fn event_line(e: &Event) -> String {
    let what = e.kind.describe().replace('\n', "\n      ");
    format!("  {}  #{:<3} {:<12} {what}", when(e.at), e.seq, e.actor)
}

pub fn incident_detail(d: &IncidentDetail) {
    incident_header(&d.incident);
    // Pages that reached nobody go first: on a quiet timeline they would
    // be one line among many.
    let unreachable: Vec<&Event> = d
        .timeline
        .iter()
        .filter(|e| !e.kind.unreachable().is_empty())
        .collect();
    if !unreachable.is_empty() {
        println!("UNREACHABLE — not everyone who should hear could be reached:");
        for e in unreachable.iter().rev().take(5) {
            println!(
                "  {}  #{}  {}",
                when(e.at),
                e.seq,
                e.kind.unreachable().join("; ")
            );
        }
    }
    if !d.deadlines.is_empty() {
        println!("deadlines:");
        for dl in &d.deadlines {
            let mark = match dl.status {
                DeadlineStatus::Met => "met     ",
                DeadlineStatus::MetLate => "LATE    ",
                DeadlineStatus::Breached => "BREACHED",
                DeadlineStatus::Pending => "pending ",
                DeadlineStatus::Closed => "closed  ",
            };
            println!("  {mark} {}  {}", when(dl.due_at), dl.title);
        }
    }
    if !d.changes.is_empty() {
        println!("changes before and during it (newest first):");
        for c in &d.changes {
            let ch = &c.change;
            println!(
                "  {}{} {} {} {}{}",
                if c.suspect { "SUSPECT " } else { "" },
                when(ch.at),
                ch.kind,
                ch.service.as_deref().unwrap_or("-"),
                ch.summary,
                if ch.details.frozen.is_empty() {
                    ""
                } else {
                    " [during a freeze]"
                }
            );
        }
    }
    if let Some(a) = &d.rollback {
        println!("rollback advice: {:?} — {}", a.action, a.reason);
        if let (Some(by), None) = (a.decide_by, &a.decision) {
            println!("  decide by {}", when(by));
        }
        for o in &a.options {
            println!(
                "  {:?} {} ({}): {}",
                o.action, o.change.id, o.change.kind, o.reason
            );
            if let Some(p) = &o.procedure {
                println!("    {}", p.title);
                for s in &p.steps {
                    println!("      $ {s}");
                }
            }
        }
        if let Some(dec) = &a.decision {
            println!(
                "  decided {:?}{} by {}",
                dec.decision,
                dec.change
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default(),
                dec.by
            );
        }
    }
    if !d.contacts.is_empty() {
        println!("contacts:");
        for c in &d.contacts {
            println!(
                "  {} ({}){}{}",
                c.name,
                c.about,
                if c.description.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", c.description)
                },
                if c.reach.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.reach.join(" · "))
                }
            );
        }
    }
    if !d.upstreams.is_empty() {
        println!("upstream providers:");
        for u in &d.upstreams {
            match &u.status {
                Some(s) => println!(
                    "  {}: {} ({}){}",
                    u.name,
                    s.description,
                    s.indicator,
                    s.error
                        .as_deref()
                        .map(|e| format!(" — last read failed: {e}"))
                        .unwrap_or_default()
                ),
                None => println!("  {}: not polled yet", u.name),
            }
        }
    }
    println!("timeline:");
    for e in &d.timeline {
        println!("{}", event_line(e));
    }
}

pub fn command_result(r: &CommandResponse) {
    let i = &r.incident;
    println!(
        "{} [{}] {} — {} (version {})",
        i.id, i.severity, i.title, i.status, i.version
    );
    for e in &r.events {
        println!("{}", event_line(e));
    }
}

pub fn rendered(m: &RenderedMessage) {
    println!(
        "-- template {} ({}, {}, {}) --",
        m.template,
        m.locale,
        name(&m.direction),
        name(&m.audience)
    );
    println!("{}", m.text);
}
