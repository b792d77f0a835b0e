//! Human-readable output: aligned tables and a readable timeline, from the
//! wire types. `--json` bypasses all of this and prints the API's response.

pub mod duties;
pub mod incidents;
pub mod monitors;
pub mod notifications;
pub mod oncall;
pub mod postmortems;
pub mod reports;
pub mod set_aside;
pub mod signals;
pub mod subscribers;

use firebell_core::Timestamp;
use serde::Serialize;

/// Print rows as left-aligned columns; widths count characters, not bytes,
/// so Arabic and accented text line up.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// The one way a table shows an instant: UTC, to the second, RFC 3339 with
/// a space for the `T` (`2026-11-23T10:04:05.123Z` → `2026-11-23 10:04:05Z`);
/// nothing for `None`.
pub fn when(t: impl Into<Option<Timestamp>>) -> String {
    let Some(t) = t.into() else {
        return String::new();
    };
    let t = t.to_string();
    match t.split_once('T') {
        Some((d, rest)) => format!("{d} {}Z", rest.split(['.', 'Z']).next().unwrap_or(rest)),
        None => t,
    }
}

/// [`when`] of an instant the API sends as text (RFC 3339); the text as it
/// came if it does not read as one.
pub fn when_text(t: &str) -> String {
    t.parse::<Timestamp>()
        .map(when)
        .unwrap_or_else(|_| t.to_string())
}

/// An enum value as the API spells it (`met_late`, `rtl`): what the tables
/// have always shown.
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// An optional text, or nothing.
pub fn text(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

pub fn tokens(tokens: &[firebell_store::TokenRecord]) {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.name.clone(),
                t.role.to_string(),
                when(t.created_at),
                t.revoked_at.map(when).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["ID", "NAME", "ROLE", "CREATED", "REVOKED"], &rows);
}

/// `firebell simulate`: the header line, then one row per plan entry.
pub fn simulation(header: &str, plan: &[firebell_core::simulate::PlanEntry]) {
    println!("{header}");
    if plan.is_empty() {
        println!("nothing would be sent in that time");
        return;
    }
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|e| {
            let at = when(e.at);
            let who = e
                .notify
                .iter()
                .map(|n| {
                    if n.channels.is_empty() {
                        format!("{} (no channel)", n.person)
                    } else {
                        format!("{} ({})", n.person, n.channels.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let mut why = e.reason.clone();
            if !e.unreachable.is_empty() {
                why.push_str(&format!(" [unreachable: {}]", e.unreachable.join("; ")));
            }
            vec![
                at,
                e.offset.clone(),
                e.what.clone(),
                if who.is_empty() { "-".into() } else { who },
                why,
            ]
        })
        .collect();
    table(&["AT", "+OFFSET", "WHAT", "WHO (channels)", "WHY"], &rows);
}
