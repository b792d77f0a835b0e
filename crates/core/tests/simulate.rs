//! `simulate`: the escalation core run forward for a hypothetical incident.

use firebell_core::incident::Declare;
use firebell_core::schedule::Override;
use firebell_core::simulate::{MAX_ENTRIES, PlanEntry, Scenario, simulate};
use firebell_core::{Duration, Policy, Timestamp};

/// A two-step ladder for P0 (alice on call, then bob 30 min later), a P0
/// rule at 1 h, update reminders every 15 min for P0; P2 pages in business
/// hours only (UTC, Mon–Fri 09:00–17:00).
const POLICY: &str = r#"
version = 1
[organization]
name = "Sim"
escalation_policy = "ladder"

[calendar]
time_zone = "UTC"
working_days = ["mon", "tue", "wed", "thu", "fri"]
working_hours = { start = "09:00", end = "17:00" }

[[severities]]
name = "P0"
update_every = "15m"
channels = ["sms", "chat"]

[[severities]]
name = "P2"
paging = "business_hours"
channels = ["chat"]

[[roles]]
key = "incident_commander"
name = "Incident Commander"
short = "IC"

[people.alice]
name = "Alice"
contacts = [{ kind = "sms", address = "+1 555 0100" }, { kind = "slack", address = "@alice" }]

[people.bob]
name = "Bob"
contacts = [{ kind = "slack", address = "@bob" }]

[people.lead]
name = "Lead"
contacts = [{ kind = "email", address = "lead@example.com" }]

[[schedules]]
name = "primary"
[[schedules.layers]]
name = "weekly"
rotation = "weekly"
handoff = "09:00"
handoff_day = "mon"
start = "2026-11-02"
participants = ["alice"]

[[escalation_policies]]
name = "ladder"
[[escalation_policies.steps]]
name = "L1"
targets = ["schedule:primary"]
[[escalation_policies.steps]]
name = "L2"
after = "30m"
targets = ["person:bob"]

[[escalation_rules]]
name = "p0-unresolved-1h"
when = { severities = ["P0"], unresolved_for = "1h" }
notify = ["person:lead"]

[notifiers.sms]
url = "https://sms.example.com/send"
[notifiers.slack]
url = "https://hooks.example.com/x"
"#;

fn policy(src: &str) -> Policy {
    Policy::parse(src, "sim.toml").unwrap_or_else(|e| panic!("{e:?}"))
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn d(s: &str) -> Duration {
    s.parse().unwrap()
}

fn scenario(severity: &str, start: &str, duration: &str) -> Scenario {
    Scenario {
        declare: Declare {
            title: "Checkout failing".into(),
            severity: severity.into(),
            ..Declare::default()
        },
        start: t(start),
        duration: d(duration),
        ack_after: None,
        resolve_after: None,
        overrides: Vec::new(),
    }
}

/// `+OFFSET what` per entry: the shape of the plan at a glance.
fn lines(plan: &[PlanEntry]) -> Vec<String> {
    plan.iter()
        .map(|e| format!("{} {}", e.offset, e.what))
        .collect()
}

// Monday 2026-11-23, 10:00 UTC: business hours.
const MON_10: &str = "2026-11-23T10:00:00Z";

#[test]
fn ack_before_l2_pages_only_l1() {
    let p = policy(POLICY);
    let mut s = scenario("P0", MON_10, "20m");
    s.ack_after = Some(d("10m"));
    let plan = simulate(&p, &s).unwrap();
    assert_eq!(
        lines(&plan),
        [
            "+0m escalated L1",
            "+10m acknowledged",
            // An acknowledgement does not stop update reminders.
            "+15m reminder: status update overdue",
        ]
    );
    let l1 = &plan[0];
    assert_eq!(l1.at, t(MON_10));
    assert_eq!(l1.reason, "declared");
    assert_eq!(l1.notify.len(), 1);
    assert_eq!(l1.notify[0].person, "alice");
    assert_eq!(l1.notify[0].via, "schedule:primary");
    assert_eq!(l1.notify[0].channels, ["sms", "slack"]);
    assert!(l1.unreachable.is_empty());
}

#[test]
fn unacknowledged_climbs_to_l2_and_reminders_repeat_until_the_end() {
    let p = policy(POLICY);
    let plan = simulate(&p, &scenario("P0", MON_10, "1h")).unwrap();
    assert_eq!(
        lines(&plan),
        [
            "+0m escalated L1",
            "+15m reminder: status update overdue",
            "+30m escalated L2",
            "+30m reminder: status update overdue (#2)",
            "+45m reminder: status update overdue (#3)",
            "+1h reminder: status update overdue (#4)",
            "+1h rule p0-unresolved-1h",
        ]
    );
    // Nobody holds a role, so update reminders go to whoever was paged.
    let first = &plan[1];
    assert_eq!(first.notify[0].person, "alice");
    assert_eq!(first.notify[0].via, "paged");
    let l2 = &plan[2];
    assert_eq!(l2.notify[0].person, "bob");
    assert!(
        l2.reason
            .contains("not acknowledged by 2026-11-23 10:30 UTC"),
        "{}",
        l2.reason
    );
    let at_45 = &plan[4];
    let paged: Vec<&str> = at_45.notify.iter().map(|n| n.person.as_str()).collect();
    assert_eq!(paged, ["alice", "bob"], "`paged`: everyone paged so far");
    // The lead has only email, and there is no email notifier.
    let rule = &plan[6];
    assert_eq!(rule.notify[0].person, "lead");
    assert!(rule.notify[0].channels.is_empty());
    assert_eq!(rule.unreachable.len(), 1, "{:?}", rule.unreachable);
}

#[test]
fn reminders_stop_at_resolution() {
    let p = policy(POLICY);
    let mut s = scenario("P0", MON_10, "4h");
    s.ack_after = Some(d("5m"));
    s.resolve_after = Some(d("40m"));
    let plan = simulate(&p, &s).unwrap();
    assert_eq!(
        lines(&plan),
        [
            "+0m escalated L1",
            "+5m acknowledged",
            "+15m reminder: status update overdue",
            "+30m reminder: status update overdue (#2)",
            "+40m resolved",
        ]
    );
}

#[test]
fn ack_at_the_due_time_is_in_time() {
    let p = policy(POLICY);
    let mut s = scenario("P0", MON_10, "30m");
    s.ack_after = Some(d("30m"));
    let plan = simulate(&p, &s).unwrap();
    assert!(!lines(&plan).iter().any(|l| l.contains("L2")), "{plan:#?}");
    assert!(
        lines(&plan).contains(&"+30m acknowledged".to_string()),
        "{plan:#?}"
    );
}

#[test]
fn business_hours_paging_waits_for_the_next_business_day() {
    let p = policy(POLICY);
    // Friday 18:00: the P2's first step waits until Monday 09:00.
    let plan = simulate(&p, &scenario("P2", "2026-11-27T18:00:00Z", "3d")).unwrap();
    assert_eq!(plan[0].what, "escalated L1");
    assert_eq!(plan[0].at, t("2026-11-30T09:00:00Z"));
    assert_eq!(plan[0].offset, "+2d15h");
    assert_eq!(plan[0].notify[0].channels, ["slack"]);
    // L2 30 min later, in business hours.
    assert_eq!(plan[1].what, "escalated L2");
    assert_eq!(plan[1].at, t("2026-11-30T09:30:00Z"));
    assert_eq!(plan.len(), 2, "{plan:#?}");
}

#[test]
fn nothing_past_the_end() {
    let p = policy(POLICY);
    let plan = simulate(&p, &scenario("P2", "2026-11-27T18:00:00Z", "1d")).unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
}

#[test]
fn overrides_change_who_is_paged() {
    let p = policy(POLICY);
    let mut s = scenario("P0", MON_10, "0m");
    s.overrides = vec![Override {
        schedule: "primary".into(),
        person: "bob".into(),
        covering: Some("alice".into()),
        starts_at: t("2026-11-23T08:00:00Z"),
        ends_at: t("2026-11-23T12:00:00Z"),
    }];
    let plan = simulate(&p, &s).unwrap();
    assert_eq!(lines(&plan), ["+0m escalated L1"]);
    assert_eq!(plan[0].notify[0].person, "bob");
}

#[test]
fn deterministic() {
    let p = policy(POLICY);
    let mut s = scenario("P0", MON_10, "6h");
    s.ack_after = Some(d("45m"));
    let a = simulate(&p, &s).unwrap();
    let b = simulate(&p, &s).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn a_one_minute_cadence_over_thirty_days_is_bounded() {
    let p = policy(&POLICY.replace("update_every = \"15m\"", "update_every = \"1m\""));
    let plan = simulate(&p, &scenario("P0", MON_10, "30d")).unwrap();
    assert_eq!(plan.len(), MAX_ENTRIES);
    let last = plan.last().unwrap();
    assert_eq!(last.what, "stopped");
    assert!(last.reason.contains("shorter"), "{}", last.reason);
}

#[test]
fn a_refused_declaration_is_an_error() {
    let p = policy(POLICY);
    let err = simulate(&p, &scenario("P7", MON_10, "1h")).unwrap_err();
    assert!(err.message.contains("P7"), "{}", err.message);
}

/// Issue 16: a ladder that stops only at resolution climbs past an
/// acknowledgement, and says so rather than "not acknowledged".
#[test]
fn a_ladder_that_stops_on_resolve_says_why_it_climbs_after_an_ack() {
    let src = POLICY.replace(
        "[[escalation_policies]]\nname = \"ladder\"\n",
        "[[escalation_policies]]\nname = \"ladder\"\nstop_on = \"resolve\"\n",
    );
    let p = policy(&src);
    let mut s = scenario("P0", MON_10, "40m");
    s.ack_after = Some(d("20m"));
    let plan = simulate(&p, &s).unwrap();
    let l2 = plan.iter().find(|e| e.what == "escalated L2").unwrap();
    assert_eq!(
        l2.reason, "acknowledged but not resolved by 2026-11-23 10:30 UTC",
        "{plan:#?}"
    );
    // Unacknowledged, it waits for the resolution, not the ack.
    let plan = simulate(&p, &scenario("P0", MON_10, "40m")).unwrap();
    let l2 = plan.iter().find(|e| e.what == "escalated L2").unwrap();
    assert_eq!(l2.reason, "not resolved by 2026-11-23 10:30 UTC");
}

/// Issue 16: a step that reaches nobody is told to the admins, who are
/// listed among those notified, with the reason in capitals.
#[test]
fn a_step_that_reaches_nobody_tells_the_admins() {
    let src = POLICY
        .replace(
            "escalation_policy = \"ladder\"\n",
            "escalation_policy = \"ladder\"\nadmins = [\"bob\"]\n",
        )
        .replace(
            "contacts = [{ kind = \"sms\", address = \"+1 555 0100\" }, { kind = \"slack\", address = \"@alice\" }]",
            "contacts = [{ kind = \"email\", address = \"alice@example.com\" }]",
        );
    let p = policy(&src);
    let plan = simulate(&p, &scenario("P0", MON_10, "10m")).unwrap();
    let l1 = &plan[0];
    assert_eq!(l1.what, "escalated L1");
    assert!(
        l1.unreachable
            .iter()
            .any(|u| u.starts_with("alice: no contact")),
        "{l1:#?}"
    );
    let admin = l1.notify.iter().find(|n| n.person == "bob").unwrap();
    assert_eq!(admin.via, firebell_core::escalation::ADMIN_TARGET);
    assert_eq!(admin.channels, ["slack"]);
}
