//! Who is on call, and the overrides.

use firebell_server::wire::{OverrideView, ScheduleOnCall};

use super::{table, when};

pub fn overrides(items: &[OverrideView]) {
    if items.is_empty() {
        println!("no overrides");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|o| {
            vec![
                o.id.clone(),
                o.schedule.clone(),
                o.person.clone(),
                o.covering.clone().unwrap_or_else(|| "-".into()),
                when(o.starts_at),
                when(o.ends_at),
                o.state.clone(),
                o.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "SCHEDULE", "PERSON", "COVERING", "FROM", "UNTIL", "STATE", "REASON",
        ],
        &rows,
    );
}

pub fn override_removed(id: &str, schedule: &str) {
    println!("removed override {id} from schedule {schedule}");
}

pub fn oncall(items: &[ScheduleOnCall]) {
    if items.is_empty() {
        println!("no schedules in the policy");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|sch| {
            let (who, until) = match &sch.now {
                None => ("nobody".to_string(), String::new()),
                Some(now) => {
                    // A shift without a layer comes from an override.
                    let how = if now.shift.layer.is_none() {
                        ", override"
                    } else {
                        ""
                    };
                    (
                        format!("{} ({}{how})", now.name, now.shift.person),
                        when(now.shift.until),
                    )
                }
            };
            let next = sch
                .next
                .iter()
                .map(|x| format!("{} from {}", x.name, when(x.shift.since)))
                .collect::<Vec<_>>()
                .join("; ");
            vec![sch.schedule.clone(), who, until, next]
        })
        .collect();
    table(&["SCHEDULE", "ON CALL", "UNTIL", "NEXT"], &rows);
}
