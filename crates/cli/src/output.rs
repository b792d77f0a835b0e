//! Human-readable output: aligned tables and a readable timeline. `--json`
//! bypasses all of this and prints the API's response.

use serde_json::Value;

/// Print rows as left-aligned columns; widths count characters, not bytes,
/// so Arabic and accented text line up.
fn table(header: &[&str], rows: &[Vec<String>]) {
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

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `2026-11-23T10:04:05.123Z` → `2026-11-23 10:04:05Z`.
fn when(v: &Value) -> String {
    let t = s(v);
    match t.split_once('T') {
        Some((d, rest)) => format!("{d} {}Z", rest.split(['.', 'Z']).next().unwrap_or(rest)),
        None => t,
    }
}

pub fn incident_list(v: &Value) {
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no incidents");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                s(&i["id"]),
                s(&i["severity"]),
                s(&i["status"]),
                when(&i["declared_at"]),
                if i["acknowledged_at"].is_null() {
                    "no".into()
                } else {
                    "yes".into()
                },
                s(&i["title"]),
            ]
        })
        .collect();
    table(
        &["ID", "SEV", "STATUS", "DECLARED", "ACKED", "TITLE"],
        &rows,
    );
    if let Some(c) = v["next_cursor"].as_str() {
        println!("more: --cursor {c}");
    }
}

fn incident_header(i: &Value) {
    println!(
        "{}  [{}] {}  ({})",
        s(&i["id"]),
        s(&i["severity"]),
        s(&i["title"]),
        s(&i["status"])
    );
    if !s(&i["summary"]).is_empty() {
        println!("  {}", s(&i["summary"]));
    }
    println!(
        "  declared  {} by {}",
        when(&i["declared_at"]),
        s(&i["declared_by"])
    );
    if !i["acknowledged_at"].is_null() {
        println!(
            "  acked     {} by {}",
            when(&i["acknowledged_at"]),
            s(&i["acknowledged_by"])
        );
    }
    if !i["resolved_at"].is_null() {
        println!("  resolved  {}", when(&i["resolved_at"]));
    }
    let list = |k: &str| {
        i[k].as_array()
            .map(|a| a.iter().map(s).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    if !list("services").is_empty() {
        println!("  services  {}", list("services"));
    }
    if !list("tags").is_empty() {
        println!("  tags      {}", list("tags"));
    }
    if let Some(roles) = i["roles"].as_object().filter(|r| !r.is_empty()) {
        let parts: Vec<String> = roles
            .iter()
            .map(|(role, people)| {
                format!(
                    "{role}: {}",
                    people
                        .as_array()
                        .map(|p| p.iter().map(s).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                )
            })
            .collect();
        println!("  roles     {}", parts.join("; "));
    }
    println!("  version   {}", s(&i["version"]));
    if let Some(items) = i["checklist"].as_array().filter(|c| !c.is_empty()) {
        println!("  checklist:");
        for c in items {
            let mark = if c["ticked_at"].is_null() {
                "[ ]"
            } else {
                "[x]"
            };
            let due = if c["due_at"].is_null() {
                String::new()
            } else {
                format!(" (due {})", when(&c["due_at"]))
            };
            println!("    {mark} {}  {}{due}", s(&c["id"]), s(&c["text"]));
        }
    }
    if let Some(obs) = i["obligations"].as_array().filter(|o| !o.is_empty()) {
        println!("  obligations:");
        for o in obs {
            println!("    {} — due {}", s(&o["title"]), when(&o["due_at"]));
        }
    }
}

/// One timeline line per event: time, sequence, actor, what happened.
fn event_line(e: &Value) -> String {
    let what = match e["type"].as_str().unwrap_or("") {
        "declared" => format!("declared {} {:?}", s(&e["severity"]), s(&e["title"])),
        "acknowledged" => "acknowledged".into(),
        "role_assigned" => format!("assigned {} → {}", s(&e["role"]), s(&e["person"])),
        "role_unassigned" => format!("unassigned {} from {}", s(&e["person"]), s(&e["role"])),
        "status_updated" => {
            let tpl = e["template"]
                .as_str()
                .map(|t| format!(" (template {t}, {})", s(&e["locale"])))
                .unwrap_or_default();
            format!(
                "update [{}] {}{tpl}:\n      {}",
                s(&e["visibility"]),
                s(&e["status"]),
                s(&e["message"]).replace('\n', "\n      ")
            )
        }
        "severity_changed" => format!(
            "severity {} → {}: {}",
            s(&e["from"]),
            s(&e["to"]),
            s(&e["reason"])
        ),
        "note_added" => format!("note: {}", s(&e["text"])),
        "checklist_item_ticked" => format!("ticked {}", s(&e["item"])),
        "handed_off" => s(&e["message"]).replace('\n', "\n      "),
        "resolved" => format!("resolved {}", s(&e["summary"])),
        "reopened" => format!("reopened: {}", s(&e["reason"])),
        "alerts_changed" => {
            let n = |k: &str| e[k].as_u64().unwrap_or(0);
            let mut line = format!(
                "alerts: {} attached, {} resolved; {} of {} firing",
                n("attached"),
                n("resolved"),
                n("firing"),
                n("total")
            );
            if e["all_resolved"] == true {
                line.push_str(" — all alerts resolved");
            }
            for a in e["sample"].as_array().into_iter().flatten() {
                let state = if a["firing"] == true {
                    "firing"
                } else {
                    "resolved"
                };
                line.push_str(&format!("\n      {} ({state})", s(&a["summary"])));
            }
            line
        }
        other => other.to_string(),
    };
    format!(
        "  {}  #{:<3} {:<12} {what}",
        when(&e["at"]),
        s(&e["seq"]),
        s(&e["actor"])
    )
}

pub fn incident_detail(v: &Value) {
    incident_header(&v["incident"]);
    if let Some(deadlines) = v["deadlines"].as_array().filter(|d| !d.is_empty()) {
        println!("deadlines:");
        for d in deadlines {
            let mark = match d["status"].as_str().unwrap_or("") {
                "met" => "met     ",
                "met_late" => "LATE    ",
                "breached" => "BREACHED",
                _ => "pending ",
            };
            println!("  {mark} {}  {}", when(&d["due_at"]), s(&d["title"]));
        }
    }
    println!("timeline:");
    for e in v["timeline"].as_array().into_iter().flatten() {
        println!("{}", event_line(e));
    }
}

pub fn command_result(v: &Value) {
    let i = &v["incident"];
    println!(
        "{} [{}] {} — {} (version {})",
        s(&i["id"]),
        s(&i["severity"]),
        s(&i["title"]),
        s(&i["status"]),
        s(&i["version"])
    );
    for e in v["events"].as_array().into_iter().flatten() {
        println!("{}", event_line(e));
    }
}

pub fn rendered(v: &Value) {
    println!(
        "-- template {} ({}, {}, {}) --",
        s(&v["template"]),
        s(&v["locale"]),
        s(&v["direction"]),
        s(&v["audience"])
    );
    println!("{}", s(&v["text"]));
}

pub fn tokens(tokens: &[firebell_store::TokenRecord]) {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.name.clone(),
                t.role.to_string(),
                t.created_at.to_string(),
                t.revoked_at
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["ID", "NAME", "ROLE", "CREATED", "REVOKED"], &rows);
}

pub fn alerts(v: &Value) {
    let items = v.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no alerts");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|a| {
            let state = if a["silenced_by"].as_array().is_some_and(|s| !s.is_empty()) {
                "silenced"
            } else if a["firing"] == true {
                "firing"
            } else {
                "resolved"
            };
            vec![
                s(&a["labels"]["alertname"]),
                s(&a["service"]),
                s(&a["severity"]),
                state.to_string(),
                when(&a["starts_at"]),
                s(&a["incident_id"]),
                s(&a["key"]).chars().take(16).collect(),
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

pub fn silence(v: &Value) {
    silences(&Value::Array(vec![v.clone()]));
}

pub fn silences(v: &Value) {
    let items = v.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no silences");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|x| {
            let matchers = x["matchers"]
                .as_array()
                .map(|m| m.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            vec![
                s(&x["id"]),
                s(&x["state"]),
                matchers,
                when(&x["ends_at"]),
                s(&x["created_by"]),
                s(&x["comment"]),
            ]
        })
        .collect();
    table(&["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"], &rows);
}

pub fn maintenance_window(v: &Value) {
    maintenance(&Value::Array(vec![v.clone()]));
}

pub fn maintenance(v: &Value) {
    let items = v.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no maintenance windows");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|w| {
            let services = w["services"]
                .as_array()
                .map(|m| m.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            let mut ends = if w["ends_at"].is_null() {
                "until ended".to_string()
            } else {
                when(&w["ends_at"])
            };
            // Ended early (or late): actual end, then the plan.
            if !w["planned_ends_at"].is_null() && w["planned_ends_at"] != w["ends_at"] {
                ends = format!("{ends} (planned {})", when(&w["planned_ends_at"]));
            }
            vec![
                s(&w["id"]),
                s(&w["kind"]),
                services,
                when(&w["starts_at"]),
                ends,
                s(&w["title"]),
            ]
        })
        .collect();
    table(
        &["ID", "KIND", "SERVICES", "STARTS", "ENDS", "TITLE"],
        &rows,
    );
}

pub fn ended(_: &Value) {
    println!("ended");
}

/// `firebell checks`: every check, then every heartbeat, one line each.
pub fn checks(v: &Value) {
    let checks = v["checks"].as_array().cloned().unwrap_or_default();
    let heartbeats = v["heartbeats"].as_array().cloned().unwrap_or_default();
    if checks.is_empty() && heartbeats.is_empty() {
        println!("no checks or heartbeats in the policy");
        return;
    }
    if !checks.is_empty() {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                let failures = match c["consecutive_failures"].as_u64() {
                    Some(0) | None => String::new(),
                    Some(n) => format!("{n}/{}", s(&c["failure_threshold"])),
                };
                vec![
                    s(&c["name"]),
                    s(&c["state"]),
                    failures,
                    s(&c["interval"]),
                    when(&c["last_checked_at"]),
                    s(&c["last_failure"]),
                    s(&c["target"]),
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
    if !heartbeats.is_empty() {
        if !checks.is_empty() {
            println!();
        }
        let rows: Vec<Vec<String>> = heartbeats
            .iter()
            .map(|h| {
                vec![
                    s(&h["name"]),
                    s(&h["state"]),
                    s(&h["interval"]),
                    when(&h["last_seen_at"]),
                    when(&h["missing_at"]),
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
pub fn heartbeat(v: &Value) {
    println!(
        "heartbeat {} pinged at {}; next due by {}",
        s(&v["name"]),
        when(&v["last_seen_at"]),
        when(&v["missing_at"])
    );
}

pub fn override_one(v: &Value) {
    overrides(&Value::Array(vec![v.clone()]));
}

pub fn overrides(v: &Value) {
    let items = v.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no overrides");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|o| {
            let covering = if o["covering"].is_null() {
                "-".to_string()
            } else {
                s(&o["covering"])
            };
            vec![
                s(&o["id"]),
                s(&o["schedule"]),
                s(&o["person"]),
                covering,
                when(&o["starts_at"]),
                when(&o["ends_at"]),
                s(&o["state"]),
                s(&o["reason"]),
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

pub fn oncall(v: &Value) {
    let items = v.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no schedules in the policy");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|sch| {
            let now = &sch["now"];
            let (who, until) = if now.is_null() {
                ("nobody".to_string(), String::new())
            } else {
                // A shift without a layer comes from an override.
                let how = if now["layer"].is_null() {
                    ", override"
                } else {
                    ""
                };
                (
                    format!("{} ({}{how})", s(&now["name"]), s(&now["person"])),
                    when(&now["until"]),
                )
            };
            let next = sch["next"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .map(|x| format!("{} from {}", s(&x["name"]), when(&x["since"])))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            vec![s(&sch["schedule"]), who, until, next]
        })
        .collect();
    table(&["SCHEDULE", "ON CALL", "UNTIL", "NEXT"], &rows);
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
            let at = if e.at.as_second() % 60 == 0 && e.at.subsec_nanosecond() == 0 {
                e.at.strftime("%Y-%m-%d %H:%M").to_string()
            } else {
                e.at.strftime("%Y-%m-%d %H:%M:%S").to_string()
            };
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
    table(
        &["AT (UTC)", "+OFFSET", "WHAT", "WHO (channels)", "WHY"],
        &rows,
    );
}

/// `firebell notifications`: the outbox, newest first.
pub fn notifications(v: &Value) {
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no notifications");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|n| {
            let error = s(&n["last_error"]);
            let error = if error.chars().count() > 80 {
                format!("{}…", error.chars().take(79).collect::<String>())
            } else {
                error
            };
            vec![
                when(&n["created_at"]),
                s(&n["incident_id"]),
                s(&n["person"]),
                s(&n["channel"]),
                s(&n["state"]),
                s(&n["attempts"]),
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
pub fn escalation(v: &Value) {
    let list = |x: &Value, sep: &str| {
        x.as_array()
            .map(|a| a.iter().map(s).collect::<Vec<_>>().join(sep))
            .unwrap_or_default()
    };
    let policies = v["policies"].as_array().cloned().unwrap_or_default();
    if policies.is_empty() {
        println!("no escalation policies");
        println!();
    }
    for p in &policies {
        if s(&p["description"]).is_empty() {
            println!("{}", s(&p["name"]));
        } else {
            println!("{} — {}", s(&p["name"]), s(&p["description"]));
        }
        let steps = p["steps"].as_array().cloned().unwrap_or_default();
        let cells: Vec<(String, String, String)> = steps
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let name = if st["name"].is_null() {
                    format!("step {}", i + 1)
                } else {
                    s(&st["name"])
                };
                let mut after = match st["after"].as_str() {
                    Some(d) if !d.is_empty() && d != "0m" && d != "0s" => format!("after {d}"),
                    _ => "at once".to_string(),
                };
                if let Some(d) = st["after_off_hours"].as_str() {
                    after.push_str(&format!(" ({d} off-hours)"));
                }
                (name, after, list(&st["targets"], ", "))
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
        let stops = format!("stops on {}", s(&p["stop_on"]));
        match p["repeat"].as_u64().unwrap_or(0) {
            0 => println!("  no repeat, {stops}"),
            n => {
                let after = p["repeat_after"].as_str().map_or_else(
                    || firebell_core::escalation::DEFAULT_REPEAT_AFTER.to_string(),
                    str::to_string,
                );
                println!("  repeat {n}× after {after}, {stops}");
            }
        }
        println!();
    }
    let rules = v["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        println!("no escalation rules");
    } else {
        let rows: Vec<Vec<String>> = rules
            .iter()
            .map(|r| {
                let w = &r["when"];
                let mut when = Vec::new();
                for (key, label) in [
                    ("severities", "severity"),
                    ("tags", "tag"),
                    ("services", "service"),
                ] {
                    if w[key].as_array().is_some_and(|a| !a.is_empty()) {
                        when.push(format!("{label} {}", list(&w[key], "|")));
                    }
                }
                for (key, label) in [
                    ("unresolved_for", "unresolved"),
                    ("unacknowledged_for", "unacknowledged"),
                    ("no_commander_for", "no commander"),
                    ("update_overdue_for", "update overdue"),
                ] {
                    if let Some(d) = w[key].as_str() {
                        when.push(format!("{label} {d}"));
                    }
                }
                if when.is_empty() {
                    when.push("every incident".into());
                }
                if r["stop_on"] == "acknowledge" {
                    when.push("until acknowledged".into());
                }
                let notify = list(&r["notify"], ", ");
                vec![
                    s(&r["name"]),
                    when.join(", "),
                    if notify.is_empty() {
                        "-".into()
                    } else {
                        notify
                    },
                    if r["escalate"] == true { "yes" } else { "no" }.into(),
                ]
            })
            .collect();
        table(&["NAME", "WHEN", "NOTIFY", "ESCALATE"], &rows);
    }
    let r = &v["reminders"];
    if r.is_object() {
        println!();
        println!("reminders:");
        for (key, label) in [
            ("update", "status update overdue"),
            ("commander", "no incident commander"),
            ("obligation", "obligation due"),
        ] {
            let to = list(&r[key], ", ");
            println!("  {label:<21}  → {}", if to.is_empty() { "-" } else { &to });
        }
    }
}

/// `firebell agenda ID`: the incident's escalation state, then what is owed
/// and when.
pub fn agenda(v: &Value) {
    match v["escalation_policy"].as_str() {
        Some(p) => println!(
            "escalation policy {p}, level {} (steps fired so far)",
            s(&v["escalation_level"])
        ),
        None => println!("no escalation policy"),
    }
    let due = v["due"].as_array().cloned().unwrap_or_default();
    if due.is_empty() {
        println!("nothing due");
        return;
    }
    let now = firebell_core::Timestamp::now();
    let rows: Vec<Vec<String>> = due
        .iter()
        .map(|d| {
            let (at, relative) = match s(&d["at"]).parse::<firebell_core::Timestamp>() {
                Ok(t) => (
                    t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    relative_to(now, t),
                ),
                Err(_) => (when(&d["at"]), String::new()),
            };
            vec![at, relative, duty(&s(&d["key"]))]
        })
        .collect();
    table(&["DUE (UTC)", "IN", "DUTY"], &rows);
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

/// A duty key from the agenda, in words: `step:1` → `escalation step 2`.
fn duty(key: &str) -> String {
    let parts: Vec<&str> = key.split(':').collect();
    match parts.as_slice() {
        ["step", level] => match level.parse::<u64>() {
            Ok(l) => format!("escalation step {}", l + 1),
            Err(_) => key.to_string(),
        },
        ["rule", name] => format!("rule {name}"),
        ["rule", name @ .., ms] if !name.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()) => {
            format!("rule {}", name.join(":"))
        }
        ["reminder", "update", .., n] => format!("status update reminder #{n}"),
        ["reminder", "commander"] => "incident commander reminder".into(),
        ["breach", "respond"] => "response target".into(),
        ["reminder", "obligation", ob @ .., _] if !ob.is_empty() => {
            format!("obligation {} reminder", ob.join(":"))
        }
        _ => key.to_string(),
    }
}
