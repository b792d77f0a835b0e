//! The pure incident core: commands decided against state, policy and a given
//! `now`; state as a fold over events. No I/O, no clock, microseconds per test.

use std::collections::BTreeMap;

use firebell_core::incident::{
    Command, Context, Declare, Direction, Event, EventKind, Incident, Rejection, Status,
    UpdateMessage, Visibility, decide, declare, incident_id_stem, render_template, stamp,
};
use firebell_core::{Policy, Timestamp};
use jiff::SignedDuration;

const POLICY: &str = r##"
version = 1
[organization]
name = "Acme"
incident_channel = "#incidents"
status_page_url = "https://status.acme.test"

[incident_ids]
prefix = "INC"
time_zone = "Asia/Riyadh"

[[severities]]
name = "P0"
label = "Critical"
description = "Production down"
update_every = "15m"

[[severities]]
name = "P1"
description = "Major feature broken"
update_every = "30m"

[[roles]]
key = "incident_commander"
name = "Incident Commander"
short = "IC"

[[roles]]
key = "scribe"
name = "Scribe"

[[checklists]]
key = "first-10-minutes"
title = "First 10 minutes"
severities = ["P0"]
within = "10m"
items = [
  { key = "declare", text = "Declare" },
  { key = "freeze", text = "Freeze deploys", within = "5m" },
]

[[checklists]]
key = "breach"
title = "Personal-data breach"
tags = ["personal-data-breach"]
items = [{ key = "contain", text = "Contain" }, { key = "freeze", text = "Freeze exports" }]

[[obligations]]
key = "pdpl-sdaia"
title = "Notify SDAIA"
tags = ["personal-data-breach"]
within = "72h"
steps = ["contain", "notify SDAIA"]

[templates.update]
audience = "public"
body.en = "{{ incident.id }} [{{ incident.severity }}] is {{ incident.status }}; IC {{ incident.commander }}; next update in {{ incident.update_every }}. ETA {{ vars.eta | default('unknown') }}"
body.ar = "نواجه مشكلة فنية مؤقتة في النظام. سنحدثكم خلال {{ incident.update_every }}."

[templates.strict]
body.en = "{{ vars.root_cause }}"

[people.alice]
name = "Alice Ng"
[people.omar]
name = "Omar Haddad"
locale = "ar"
"##;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn policy() -> Policy {
    Policy::parse(POLICY, "test.toml").unwrap()
}

/// Declare at `now` and return the incident and its log.
fn open(policy: &Policy, d: Declare, now: Timestamp) -> (Incident, Vec<Event>) {
    let (mut incident, events) = declare(
        &d,
        &Context {
            policy,
            now,
            actor: "alice",
            link_base: "",
        },
    )
    .unwrap();
    incident.id = "INC-1".into();
    (incident, events)
}

/// Decide and apply; returns the new events.
fn run(
    policy: &Policy,
    incident: &mut Incident,
    log: &mut Vec<Event>,
    cmd: Command,
    now: Timestamp,
) -> Vec<Event> {
    let kinds = decide(
        incident,
        &cmd,
        &Context {
            policy,
            now,
            actor: "alice",
            link_base: "",
        },
    )
    .unwrap();
    let events = stamp(kinds, incident.version, now, "alice");
    for e in &events {
        incident.apply(e);
    }
    log.extend(events.clone());
    events
}

fn p0() -> Declare {
    Declare {
        title: "API down".into(),
        severity: "p0".into(),
        ..Default::default()
    }
}

#[test]
fn state_is_the_fold_of_the_log() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            commander: Some("alice".into()),
            ..p0()
        },
        now,
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Acknowledge,
        now + SignedDuration::from_mins(2),
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::PostUpdate {
            status: Some(Status::Mitigated),
            visibility: Visibility::Public,
            message: UpdateMessage::Text("rolled back".into()),
        },
        now + SignedDuration::from_mins(9),
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Resolve {
            summary: "ok".into(),
        },
        now + SignedDuration::from_mins(20),
    );
    assert_eq!(
        Incident::from_events("INC-1", &log).unwrap(),
        inc,
        "incremental apply equals a full fold"
    );
    assert_eq!(inc.version, 5);
    assert_eq!(inc.severity, "P0", "canonical severity name");
    assert_eq!(
        inc.acknowledged_at,
        Some(now + SignedDuration::from_mins(2))
    );
    assert_eq!(inc.mitigated_at, Some(now + SignedDuration::from_mins(9)));
    assert_eq!(
        inc.last_public_update_at,
        Some(now + SignedDuration::from_mins(9))
    );
    assert_eq!(inc.status, Status::Resolved);
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn declaration_opens_checklists_and_obligations_with_deadlines() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let detected = t("2026-11-23T08:00:00Z");
    let d = Declare {
        tags: vec!["personal-data-breach".into()],
        detected_at: Some(detected),
        ..p0()
    };
    let (inc, _) = open(&policy, d, now);
    let ids: Vec<_> = inc.checklist.iter().map(|c| c.item.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "first-10-minutes.declare",
            "first-10-minutes.freeze",
            "breach.contain",
            "breach.freeze"
        ]
    );
    assert_eq!(
        inc.checklist[0].item.due_at,
        Some(now + SignedDuration::from_mins(10))
    );
    assert_eq!(
        inc.checklist[1].item.due_at,
        Some(now + SignedDuration::from_mins(5)),
        "item deadline wins"
    );
    assert_eq!(inc.checklist[2].item.due_at, None);
    assert_eq!(inc.obligations.len(), 1);
    assert_eq!(
        inc.obligations[0].due_at,
        Some(detected + SignedDuration::from_hours(72)),
        "from detection"
    );

    let (p1, _) = open(
        &policy,
        Declare {
            severity: "P1".into(),
            ..p0()
        },
        now,
    );
    assert!(p1.checklist.is_empty() && p1.obligations.is_empty());
}

#[test]
fn ticking_is_by_id_or_unambiguous_key() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            tags: vec!["personal-data-breach".into()],
            ..p0()
        },
        now,
    );
    let ctx = Context {
        policy: &policy,
        now,
        actor: "alice",
        link_base: "",
    };
    let err = decide(
        &inc,
        &Command::TickChecklistItem {
            item: "freeze".into(),
        },
        &ctx,
    )
    .unwrap_err();
    assert_eq!(err.code, "ambiguous_checklist_item");
    assert!(
        err.message.contains("breach.freeze") && err.message.contains("first-10-minutes.freeze")
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::TickChecklistItem {
            item: "contain".into(),
        },
        now,
    );
    assert_eq!(inc.open_checklist_items().count(), 3);
    let again = decide(
        &inc,
        &Command::TickChecklistItem {
            item: "breach.contain".into(),
        },
        &ctx,
    )
    .unwrap_err();
    assert_eq!(
        (again.code, again.rejection),
        (
            "checklist_item_already_ticked",
            Rejection::InvalidTransition
        )
    );
}

#[test]
fn resolved_incidents_take_only_notes_and_reopen() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(&policy, p0(), now);
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Resolve {
            summary: String::new(),
        },
        now,
    );
    let ctx = Context {
        policy: &policy,
        now,
        actor: "alice",
        link_base: "",
    };
    for cmd in [
        Command::Acknowledge,
        Command::AssignRole {
            role: "IC".into(),
            person: "alice".into(),
        },
        Command::ChangeSeverity {
            severity: "P1".into(),
            reason: "r".into(),
        },
        Command::Resolve {
            summary: String::new(),
        },
    ] {
        let e = decide(&inc, &cmd, &ctx).unwrap_err();
        assert_eq!(
            (e.code, e.rejection),
            ("incident_resolved", Rejection::InvalidTransition),
            "{cmd:?}"
        );
    }
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::AddNote {
            text: "late note".into(),
        },
        now,
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Reopen {
            reason: "came back".into(),
        },
        now,
    );
    assert_eq!(inc.status, Status::Investigating);
    assert_eq!(inc.resolved_at, None);
}

#[test]
fn invalid_transitions_and_inputs_say_why() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(&policy, p0(), now);
    let ctx = Context {
        policy: &policy,
        now,
        actor: "alice",
        link_base: "",
    };
    run(&policy, &mut inc, &mut log, Command::Acknowledge, now);
    let cases: Vec<(Command, &str)> = vec![
        (Command::Acknowledge, "already_acknowledged"),
        (Command::Reopen { reason: "x".into() }, "incident_open"),
        (
            Command::AssignRole {
                role: "pilot".into(),
                person: "alice".into(),
            },
            "unknown_role",
        ),
        (
            Command::AssignRole {
                role: "ic".into(),
                person: "mallory".into(),
            },
            "unknown_person",
        ),
        (
            Command::UnassignRole {
                role: "ic".into(),
                person: "alice".into(),
            },
            "role_not_held",
        ),
        (
            Command::ChangeSeverity {
                severity: "P0".into(),
                reason: "x".into(),
            },
            "severity_unchanged",
        ),
        (
            Command::ChangeSeverity {
                severity: "P9".into(),
                reason: "x".into(),
            },
            "unknown_severity",
        ),
        (
            Command::ChangeSeverity {
                severity: "P1".into(),
                reason: " ".into(),
            },
            "missing_field",
        ),
        (
            Command::AddNote {
                text: "bell\u{7}".into(),
            },
            "invalid_text",
        ),
        (
            Command::AddNote {
                text: "x".repeat(20_001),
            },
            "field_too_long",
        ),
    ];
    for (cmd, code) in cases {
        let e = decide(&inc, &cmd, &ctx).unwrap_err();
        assert_eq!(e.code, code, "{cmd:?}: {}", e.message);
        assert!(!e.message.is_empty());
    }
    let bad = declare(
        &Declare {
            severity: "P5".into(),
            ..p0()
        },
        &ctx,
    )
    .unwrap_err();
    assert!(bad.message.contains("P0, P1"), "{}", bad.message);
    let future = declare(
        &Declare {
            detected_at: Some(now + SignedDuration::from_mins(1)),
            ..p0()
        },
        &ctx,
    );
    assert_eq!(future.unwrap_err().code, "invalid_detected_at");
    let tag = declare(
        &Declare {
            tags: vec!["has space".into()],
            ..p0()
        },
        &ctx,
    );
    assert_eq!(tag.unwrap_err().code, "invalid_tag");
}

#[test]
fn handoff_moves_the_role_and_announces_it() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            commander: Some("alice".into()),
            ..p0()
        },
        now,
    );
    let events = run(
        &policy,
        &mut inc,
        &mut log,
        Command::Handoff {
            role: None,
            to: "omar".into(),
            level: Some("L2".into()),
            summary: "restarted pods; rolled back v1.4".into(),
            metrics: "error rate 12%".into(),
            evidence: "logs in bucket".into(),
            next_steps: "check DB failover".into(),
        },
        now,
    );
    let firebell_core::EventKind::HandedOff { from, message, .. } = &events[0].kind else {
        panic!("{events:?}")
    };
    assert_eq!(from.as_deref(), Some("alice"));
    assert!(
        message.starts_with("HANDOFF: Incident now owned by Omar Haddad (L2)"),
        "{message}"
    );
    assert_eq!(inc.holders("incident_commander"), ["omar".to_string()]);
    let ctx = Context {
        policy: &policy,
        now,
        actor: "omar",
        link_base: "",
    };
    let again = Command::Handoff {
        role: None,
        to: "omar".into(),
        level: None,
        summary: "s".into(),
        metrics: String::new(),
        evidence: String::new(),
        next_steps: "n".into(),
    };
    assert_eq!(
        decide(&inc, &again, &ctx).unwrap_err().code,
        "handoff_to_self"
    );
}

#[test]
fn templates_render_from_the_incident_in_each_locale() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (inc, _) = open(
        &policy,
        Declare {
            commander: Some("alice".into()),
            ..p0()
        },
        now,
    );
    let vars = BTreeMap::from([("eta".to_string(), "11:00 UTC".to_string())]);
    let en = render_template(&policy, &inc, "update", None, &vars, now).unwrap();
    assert_eq!(
        en.text,
        "INC-1 [P0] is investigating; IC Alice Ng; next update in 15m. ETA 11:00 UTC"
    );
    assert_eq!(en.direction, Direction::Ltr);
    let ar = render_template(&policy, &inc, "update", Some("ar"), &BTreeMap::new(), now).unwrap();
    assert_eq!(ar.direction, Direction::Rtl);
    assert!(ar.text.contains("سنحدثكم خلال 15m"), "{}", ar.text);
    let missing =
        render_template(&policy, &inc, "strict", None, &BTreeMap::new(), now).unwrap_err();
    assert_eq!(missing.code, "template_error");
    assert!(missing.message.contains("undefined"), "{}", missing.message);

    // A templated update renders against the status it sets.
    let mut inc2 = inc.clone();
    let mut log = Vec::new();
    let events = run(
        &policy,
        &mut inc2,
        &mut log,
        Command::PostUpdate {
            status: Some(Status::Identified),
            visibility: Visibility::Public,
            message: UpdateMessage::Template {
                name: "update".into(),
                locale: None,
                vars: BTreeMap::new(),
            },
        },
        now,
    );
    let firebell_core::EventKind::StatusUpdated {
        message, template, ..
    } = &events[0].kind
    else {
        panic!()
    };
    assert!(message.contains("is identified"), "{message}");
    assert_eq!(template.as_deref(), Some("update"));
}

#[test]
fn an_update_to_resolved_resolves() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(&policy, p0(), now);
    let events = run(
        &policy,
        &mut inc,
        &mut log,
        Command::PostUpdate {
            status: Some(Status::Resolved),
            visibility: Visibility::Public,
            message: UpdateMessage::Text("all clear".into()),
        },
        now,
    );
    assert_eq!(events.len(), 2);
    assert_eq!(inc.status, Status::Resolved);
    assert_eq!(inc.resolved_at, Some(now));
}

#[test]
fn id_stems_follow_the_policy_time_zone() {
    let policy = policy();
    // 22:30 UTC on the 23rd is already the 24th in Riyadh (UTC+3).
    assert_eq!(
        incident_id_stem(&policy, t("2026-11-23T22:30:00Z")),
        "INC-20261124"
    );
    assert_eq!(
        incident_id_stem(&Policy::default(), t("2026-11-23T22:30:00Z")),
        "INC-20261123"
    );
}

#[test]
fn deadlines_show_what_is_met_late_or_breached() {
    use firebell_core::incident::{DeadlineStatus, deadlines};
    let policy = Policy::demo();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            severity: "P0".into(),
            ..p0()
        },
        now,
    );
    let status = |inc: &Incident, key: &str, at: Timestamp| {
        deadlines(inc, &policy, at)
            .into_iter()
            .find(|d| d.key == key)
            .map(|d| d.status)
    };
    // Demo P0: acknowledge within 5m, commander within 15m, update every 15m.
    assert_eq!(
        status(&inc, "acknowledge", now),
        Some(DeadlineStatus::Pending)
    );
    assert_eq!(
        status(&inc, "acknowledge", now + SignedDuration::from_mins(6)),
        Some(DeadlineStatus::Breached)
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Acknowledge,
        now + SignedDuration::from_mins(3),
    );
    assert_eq!(
        status(&inc, "acknowledge", now + SignedDuration::from_mins(6)),
        Some(DeadlineStatus::Met)
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::AssignRole {
            role: "IC".into(),
            person: "alice".into(),
        },
        now + SignedDuration::from_mins(20),
    );
    assert_eq!(
        status(&inc, "commander", now + SignedDuration::from_mins(21)),
        Some(DeadlineStatus::MetLate)
    );
    let late = now + SignedDuration::from_mins(16);
    assert_eq!(
        status(&inc, "next_update", late),
        Some(DeadlineStatus::Breached)
    );
    // The demo's "assign a commander" item is `done_when = "commander"`:
    // the assignment at +20 min ticked it, late.
    assert_eq!(
        status(&inc, "checklist:first-15-minutes.commander", late),
        Some(DeadlineStatus::MetLate)
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::PostUpdate {
            status: None,
            visibility: Visibility::Public,
            message: UpdateMessage::Text("u".into()),
        },
        late,
    );
    assert_eq!(
        status(&inc, "next_update", late),
        Some(DeadlineStatus::Pending),
        "an update resets the cadence"
    );
    let resolved = now + SignedDuration::from_hours(1);
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Resolve {
            summary: String::new(),
        },
        resolved,
    );
    assert_eq!(
        status(&inc, "next_update", resolved),
        None,
        "no updates owed once resolved"
    );
    let pm = deadlines(&inc, &policy, resolved)
        .into_iter()
        .find(|d| d.key == "postmortem")
        .unwrap();
    assert_eq!(pm.due_at, resolved + SignedDuration::from_hours(48));
}

#[test]
fn reopening_clears_the_acknowledgement() {
    let policy = policy();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(&policy, p0(), now);
    assert_eq!(inc.ack_round, 0);
    run(&policy, &mut inc, &mut log, Command::Acknowledge, now);
    assert!(inc.acknowledged_at.is_some());
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Resolve {
            summary: String::new(),
        },
        now,
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Reopen {
            reason: "came back".into(),
        },
        now,
    );
    assert_eq!(
        (inc.acknowledged_at, inc.acknowledged_by.clone()),
        (None, None)
    );
    // A new acknowledgement round: ack links from before the reopen are void.
    assert_eq!(inc.ack_round, 1);
    // So it can be acknowledged again, by whoever owns it now.
    run(&policy, &mut inc, &mut log, Command::Acknowledge, now);
    assert!(inc.acknowledged_at.is_some());
}

/// Issue 16: a single-holder role assigned again is handed over, on the
/// timeline; a role declared `multiple` takes several holders.
#[test]
fn a_single_holder_role_is_handed_over_and_a_multiple_one_shared() {
    let policy = Policy::demo();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            commander: Some("alice".into()),
            ..p0()
        },
        now,
    );
    let assign = |role: &str, person: &str| Command::AssignRole {
        role: role.into(),
        person: person.into(),
    };
    let events = run(&policy, &mut inc, &mut log, assign("IC", "omar"), now);
    assert!(
        matches!(&events[0].kind, EventKind::HandedOff { from: Some(f), to, message, .. }
            if f == "alice" && to == "omar" && message.starts_with("HANDOFF: Incident Commander now Omar Haddad (was Alice Martin)")),
        "{:?}",
        events[0].kind
    );
    assert_eq!(inc.holders("incident_commander"), ["omar".to_string()]);
    run(
        &policy,
        &mut inc,
        &mut log,
        assign("responder", "alice"),
        now,
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        assign("responder", "sara"),
        now,
    );
    assert_eq!(
        inc.holders("responder"),
        ["alice".to_string(), "sara".to_string()]
    );
}

/// Issue 16: a checklist item with `done_when` is ticked by what it asks
/// for; after resolution, what was not yet due is closed, not pending.
#[test]
fn checklist_deadlines_follow_what_happened_and_close_at_resolution() {
    use firebell_core::incident::{DeadlineStatus, deadlines};
    let policy = Policy::demo();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            severity: "P1".into(),
            commander: Some("alice".into()),
            ..p0()
        },
        now,
    );
    let status = |inc: &Incident, key: &str, at: Timestamp| {
        deadlines(inc, &policy, at)
            .into_iter()
            .find(|d| d.key == key)
            .map(|d| d.status)
    };
    let commander = "checklist:first-15-minutes.commander";
    assert_eq!(status(&inc, commander, now), Some(DeadlineStatus::Met));
    let item = inc
        .checklist
        .iter()
        .find(|c| c.item.id == "first-15-minutes.commander")
        .unwrap();
    assert_eq!(item.ticked_by.as_deref(), Some("alice"));
    let communicate = "checklist:first-15-minutes.communicate";
    assert_eq!(
        status(&inc, communicate, now),
        Some(DeadlineStatus::Pending)
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::PostUpdate {
            status: None,
            visibility: Visibility::Internal,
            message: UpdateMessage::Text("Looking at the API's errors.".into()),
        },
        now + SignedDuration::from_mins(4),
    );
    assert_eq!(status(&inc, communicate, now), Some(DeadlineStatus::Met));
    // Resolved after 10 minutes: the 15-minute items nobody ticked are
    // closed; the acknowledgement (due at 15m) too.
    let impact = "checklist:first-15-minutes.impact";
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Resolve {
            summary: String::new(),
        },
        now + SignedDuration::from_mins(10),
    );
    let later = now + SignedDuration::from_hours(2);
    assert_eq!(status(&inc, impact, later), Some(DeadlineStatus::Closed));
    assert_eq!(
        status(&inc, "acknowledge", later),
        Some(DeadlineStatus::Closed)
    );
    assert_eq!(status(&inc, commander, later), Some(DeadlineStatus::Met));
}

/// A checklist item already overdue when the incident resolved stays
/// breached: resolution closes only what was not yet owed.
#[test]
fn an_item_overdue_at_resolution_stays_breached() {
    use firebell_core::incident::{DeadlineStatus, deadlines};
    let policy = Policy::demo();
    let now = t("2026-11-23T10:00:00Z");
    let (mut inc, mut log) = open(
        &policy,
        Declare {
            severity: "P1".into(),
            ..p0()
        },
        now,
    );
    run(
        &policy,
        &mut inc,
        &mut log,
        Command::Resolve {
            summary: String::new(),
        },
        now + SignedDuration::from_mins(30),
    );
    let d = deadlines(&inc, &policy, now + SignedDuration::from_hours(1));
    let impact = d
        .iter()
        .find(|d| d.key == "checklist:first-15-minutes.impact")
        .unwrap();
    assert_eq!(impact.status, DeadlineStatus::Breached);
}
