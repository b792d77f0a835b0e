//! Recurring duties and their runs, for people.

use firebell_server::duties::DutyView;
use firebell_store::DutyRun;

use super::{table, when};

pub fn duties(items: &[DutyView]) {
    if items.is_empty() {
        println!("no duties in the policy");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            let last = match (d.last_due, d.last_done, d.overdue) {
                (None, _, _) => "-".to_string(),
                (Some(t), true, _) => format!("{} done", when(t)),
                (Some(t), false, true) => format!("{} OVERDUE", when(t)),
                (Some(t), false, false) => format!("{} not recorded", when(t)),
            };
            vec![
                d.key.clone(),
                d.title.clone(),
                d.owner.clone().unwrap_or_else(|| "nobody".into()),
                d.schedule.clone(),
                last,
                when(d.next_due),
            ]
        })
        .collect();
    table(
        &["KEY", "TITLE", "OWNER", "SCHEDULE", "LAST", "NEXT"],
        &rows,
    );
}

pub fn runs(items: &[DutyRun]) {
    if items.is_empty() {
        println!("no runs recorded");
        return;
    }
    for r in items {
        println!(
            "{}  for {}  {}  by {}",
            when(r.at),
            when(r.occurrence),
            r.outcome.as_str(),
            r.actor
        );
        for line in r.notes.lines() {
            println!("    {line}");
        }
    }
}
