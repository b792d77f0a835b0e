//! Postmortems and action items, for people.

use firebell_server::wire::{ActionItemRowView, PostmortemSummary, PostmortemView};

use super::{table, when};

pub fn postmortem(v: &PostmortemView) {
    let pm = &v.postmortem;
    println!("Postmortem of {} — {}", v.incident_id, pm.state.as_str());
    println!(
        "  owner:    {}",
        pm.owner.as_deref().unwrap_or("unassigned")
    );
    println!(
        "  due:      {}{}",
        when(pm.due_at),
        v.deadline
            .map(|d| format!(" ({})", super::name(&d)))
            .unwrap_or_default()
    );
    if let Some(r) = &pm.review {
        println!(
            "  review:   {}{}",
            when(r.at),
            r.place
                .as_deref()
                .map(|p| format!(" — {p}"))
                .unwrap_or_default()
        );
        println!("  invited:  {}", v.invitees.join(", "));
    }
    println!("  file:     {}", v.path);
    if !v.unfinished.is_empty() {
        println!("  to write: {}", v.unfinished.join(", "));
    }
    println!(
        "\n{}",
        if v.drafted {
            "-- draft from the log (not saved yet) --"
        } else {
            "-- document --"
        }
    );
    print!("{}", v.document);
}

pub fn postmortems(items: &[PostmortemSummary]) {
    if items.is_empty() {
        println!("no postmortems");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|p| {
            vec![
                p.incident_id.clone(),
                p.severity.clone(),
                p.state.as_str().to_string(),
                p.owner.clone().unwrap_or_else(|| "-".into()),
                when(p.due_at),
                when(p.review_at),
                p.title.clone(),
            ]
        })
        .collect();
    table(
        &[
            "INCIDENT", "SEV", "STATE", "OWNER", "DUE", "REVIEW", "TITLE",
        ],
        &rows,
    );
}

pub fn action_items(items: &[ActionItemRowView]) {
    if items.is_empty() {
        println!("no action items");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            let a = &r.item;
            vec![
                format!("{}#{}", r.incident_id, a.id),
                a.title.clone(),
                a.owner.clone(),
                when(a.due_at),
                a.priority.as_str().to_string(),
                a.status.as_str().to_string(),
                a.tracker
                    .as_ref()
                    .map(|t| format!("#{} {}", t.number, t.state))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "ITEM", "TITLE", "OWNER", "DUE", "PRIORITY", "STATUS", "ISSUE",
        ],
        &rows,
    );
}
