//! Health checks and heartbeats.

use firebell_server::wire::{HeartbeatView, MonitorsView};

use super::{table, text, when};

/// `firebell checks`: every check, then every heartbeat, one line each.
pub fn checks(m: &MonitorsView) {
    if m.checks.is_empty() && m.heartbeats.is_empty() {
        println!("no checks or heartbeats in the policy");
        return;
    }
    if !m.checks.is_empty() {
        let rows: Vec<Vec<String>> = m
            .checks
            .iter()
            .map(|c| {
                let failures = match c.consecutive_failures {
                    0 => String::new(),
                    n => format!("{n}/{}", c.failure_threshold),
                };
                vec![
                    c.name.clone(),
                    c.state.clone(),
                    failures,
                    c.interval.clone(),
                    when(c.last_checked_at),
                    text(&c.last_failure).to_string(),
                    c.target.clone(),
                ]
            })
            .collect();
        table(
            &[
                "CHECK",
                "STATE",
                "FAILURES",
                "EVERY",
                "LAST",
                "LAST FAILURE",
                "TARGET",
            ],
            &rows,
        );
    }
    if !m.heartbeats.is_empty() {
        if !m.checks.is_empty() {
            println!();
        }
        let rows: Vec<Vec<String>> = m
            .heartbeats
            .iter()
            .map(|h| {
                vec![
                    h.name.clone(),
                    h.state.clone(),
                    h.interval.clone(),
                    when(h.last_seen_at),
                    when(h.missing_at),
                ]
            })
            .collect();
        table(
            &["HEARTBEAT", "STATE", "EVERY", "LAST PING", "MISSING AFTER"],
            &rows,
        );
    }
}

/// `firebell heartbeat NAME`: the ping and when the next one is due.
pub fn heartbeat(h: &HeartbeatView) {
    println!(
        "heartbeat {} pinged at {}; next due by {}",
        h.name,
        when(h.last_seen_at),
        when(h.missing_at)
    );
}
