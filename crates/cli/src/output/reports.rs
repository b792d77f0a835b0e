//! A report, for people.

use firebell_core::report::{OnTime, Report, Timing};

use super::table;

/// `1h 05m`, `3m 20s`, `45s`.
fn span(secs: Option<i64>) -> String {
    let Some(s) = secs else {
        return "-".into();
    };
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn target(t: &Timing) -> String {
    match t.target {
        Some(target) => format!(
            "{} / {} within {}",
            t.on_target,
            t.with_target,
            span(Some(target))
        ),
        None => "-".into(),
    }
}

fn on_time(o: &OnTime) -> String {
    if o.total == 0 {
        return "none".into();
    }
    format!(
        "{} of {} on time ({}%), {} late, {} overdue",
        o.on_time,
        o.total,
        o.on_time * 100 / o.total,
        o.late,
        o.overdue
    )
}

pub fn report(r: &Report) {
    println!(
        "Incidents declared {} to {}: {} (drills not counted)",
        r.since.strftime("%Y-%m-%d %H:%M UTC"),
        r.until.strftime("%Y-%m-%d %H:%M UTC"),
        r.incidents
    );
    println!(
        "MTTA {} (p50 {}, p90 {}) · MTTR {} (p50 {}, p90 {})\n",
        span(r.acknowledge.mean),
        span(r.acknowledge.p50),
        span(r.acknowledge.p90),
        span(r.resolve.mean),
        span(r.resolve.p50),
        span(r.resolve.p90)
    );
    let rows: Vec<Vec<String>> = r
        .by_severity
        .iter()
        .map(|s| {
            vec![
                s.severity.clone(),
                s.incidents.to_string(),
                span(s.acknowledge.mean),
                span(s.acknowledge.p90),
                target(&s.acknowledge),
                span(s.resolve.mean),
                span(s.resolve.p90),
                target(&s.resolve),
            ]
        })
        .collect();
    table(
        &[
            "SEVERITY",
            "INCIDENTS",
            "MTTA",
            "TTA P90",
            "ACK TARGET MET",
            "MTTR",
            "TTR P90",
            "RESOLVE TARGET MET",
        ],
        &rows,
    );
    println!();
    let weeks: Vec<Vec<String>> = r
        .by_week
        .iter()
        .map(|w| {
            vec![
                w.week.clone(),
                w.incidents.to_string(),
                w.by_severity
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    table(&["WEEK OF", "INCIDENTS", "BY SEVERITY"], &weeks);
    println!();
    let services: Vec<String> = r
        .by_service
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!("By service:        {}", services.join(", "));
    println!("Status updates:    {}", on_time(&r.updates));
    println!(
        "Escalations:       {} incidents went past their first step ({} steps)",
        r.escalated_incidents, r.escalations
    );
    println!("Postmortems:       {}", on_time(&r.postmortems));
    println!("Action items:      {}", on_time(&r.action_items));
    println!("Obligations:       {}", on_time(&r.obligations));
}
