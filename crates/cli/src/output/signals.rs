//! Alerts, silences and maintenance windows, one row each.

use firebell_core::alert::ReviewState;
use firebell_server::wire::{AlertView, MaintenanceView, SilenceView};

use super::{name, table, text, when};

pub fn alerts(items: &[AlertView]) {
    if items.is_empty() {
        println!("no alerts");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|v| {
            let a = &v.alert;
            let state = if !v.silenced_by.is_empty() {
                "silenced"
            } else if v.firing {
                "firing"
            } else {
                "resolved"
            };
            vec![
                a.labels.get("alertname").cloned().unwrap_or_default(),
                text(&a.service).to_string(),
                text(&a.severity).to_string(),
                state.to_string(),
                when(a.starts_at),
                text(&a.incident_id).to_string(),
                a.key.chars().take(16).collect(),
            ]
        })
        .collect();
    table(
        &[
            "ALERT", "SERVICE", "SEV", "STATE", "STARTS", "INCIDENT", "KEY",
        ],
        &rows,
    );
}

pub fn silences(items: &[SilenceView]) {
    if items.is_empty() {
        println!("no silences");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|x| {
            vec![
                x.id.clone(),
                x.state.clone(),
                x.matchers.join(","),
                when(x.ends_at),
                x.created_by.clone(),
                x.comment.clone(),
            ]
        })
        .collect();
    table(&["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"], &rows);
}

pub fn maintenance(items: &[MaintenanceView]) {
    if items.is_empty() {
        println!("no maintenance windows");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|view| {
            let w = &view.window;
            let mut ends = match w.ends_at {
                None => "until ended".to_string(),
                Some(end) => when(end),
            };
            // Ended early (or late): actual end, then the plan.
            if w.planned_ends_at.is_some() && w.planned_ends_at != w.ends_at {
                ends = format!("{ends} (planned {})", when(w.planned_ends_at));
            }
            vec![
                w.id.clone(),
                name(&w.kind),
                w.services.join(","),
                when(w.starts_at),
                ends,
                match view.review_state {
                    ReviewState::NotRequired => "-".to_string(),
                    ReviewState::Due => format!("due {}", when(w.review_due_at)),
                    ReviewState::Overdue => format!("OVERDUE since {}", when(w.review_due_at)),
                    ReviewState::Done => "done".to_string(),
                },
                w.title.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "KIND", "SERVICES", "STARTS", "ENDS", "REVIEW", "TITLE",
        ],
        &rows,
    );
}
