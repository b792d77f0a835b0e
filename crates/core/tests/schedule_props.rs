//! Properties of on-call evaluation ([`firebell_core::schedule`]) over ten
//! years in zones with and without DST (including Chatham's 45-minute offset
//! and Sydney's southern-hemisphere summer), plus the Agent Factory rotation.

use firebell_core::incident::Declare;
use firebell_core::schedule::{Override, next_shifts, on_call};
use firebell_core::simulate::{Scenario, simulate};
use firebell_core::{Duration, Policy, Timestamp};
use proptest::prelude::*;

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Riyadh",
    "Pacific/Chatham",
];
const PEOPLE: [&str; 3] = ["omar", "sara", "lina"];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// 2026-01-01T00:00:00Z and ten years later.
const FROM: i64 = 1_767_225_600;
const SPAN: i64 = 10 * 365 * 86_400;

fn schedule(zone: &str, weekly: Option<usize>, handoff: &str, people: usize) -> Policy {
    let rotation = match weekly {
        Some(day) => format!("rotation = \"weekly\"\nhandoff_day = \"{}\"", DAYS[day]),
        None => "rotation = \"daily\"".into(),
    };
    let participants: Vec<String> = PEOPLE[..people]
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect();
    let src = format!(
        r#"[[severities]]
name = "P0"
[[schedules]]
name = "main"
time_zone = "{zone}"
[[schedules.layers]]
name = "only"
{rotation}
handoff = "{handoff}"
start = "2025-12-20"
participants = [{}]
"#,
        participants.join(", ")
    );
    Policy::parse(&src, "p.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn layer_case() -> impl Strategy<Value = (Policy, Timestamp)> {
    (
        0..ZONES.len(),
        proptest::option::of(0..7usize),
        0..24u8,
        prop_oneof![Just(0u8), Just(30), Just(45)],
        1..=3usize,
        0..SPAN,
    )
        .prop_map(|(zone, weekly, h, m, people, offset)| {
            let policy = schedule(ZONES[zone], weekly, &format!("{h:02}:{m:02}"), people);
            let at = Timestamp::from_second(FROM + offset).expect("in range");
            (policy, at)
        })
}

fn position(person: &str) -> usize {
    PEOPLE
        .iter()
        .position(|p| *p == person)
        .expect("a participant")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn exactly_one_person_and_shifts_tile_in_order((policy, at) in layer_case()) {
        let now = on_call(&policy, "main", at, &[]).expect("always someone on call");
        prop_assert!(now.since <= at && at < now.until, "{now:?} at {at}");
        let n = policy.schedules[0].layers[0].participants.len();
        let shifts = next_shifts(&policy, "main", at, &[], 4);
        prop_assert_eq!(shifts.len(), 4);
        prop_assert_eq!(&shifts[0], &now);
        for pair in shifts.windows(2) {
            prop_assert_eq!(pair[0].until, pair[1].since, "no gap, no overlap");
            prop_assert!(pair[0].since < pair[0].until);
            prop_assert_eq!((position(&pair[0].person) + 1) % n, position(&pair[1].person));
            // The middle of a shift answers with that shift.
            let mid = pair[1].since + pair[1].since.duration_until(pair[1].until) / 2;
            let at_mid = on_call(&policy, "main", mid, &[]);
            prop_assert_eq!(at_mid.as_ref(), Some(&pair[1]));
        }
        // A shift is a calendar day or week, give or take a DST change.
        let weekly = policy.schedules[0].layers[0].handoff_day.is_some();
        let nominal = if weekly { 7 * 86_400 } else { 86_400 };
        let len = now.since.duration_until(now.until).as_secs();
        prop_assert!((len - nominal).abs() <= 2 * 3600, "shift of {len}s");
    }

    #[test]
    fn overrides_win_inside_their_window_and_never_outside(
        (policy, at) in layer_case(),
        start_off in -200_000i64..200_000,
        len in 1i64..300_000,
    ) {
        let starts_at = at + jiff::SignedDuration::from_secs(start_off);
        let cover = Override {
            schedule: "main".into(),
            person: "stand-in".into(),
            covering: None,
            starts_at,
            ends_at: starts_at + jiff::SignedDuration::from_secs(len),
        };
        let got = on_call(&policy, "main", at, std::slice::from_ref(&cover)).expect("someone");
        let plain = on_call(&policy, "main", at, &[]).expect("someone");
        if cover.starts_at <= at && at < cover.ends_at {
            prop_assert_eq!(got.person.as_str(), "stand-in");
            prop_assert_eq!(got.layer, None);
            prop_assert!(cover.starts_at <= got.since && got.until <= cover.ends_at);
        } else {
            prop_assert_eq!(&got.person, &plain.person);
            prop_assert_eq!(&got.layer, &plain.layer);
            prop_assert!(got.since <= at && at < got.until);
            prop_assert!(!(got.since < cover.ends_at && cover.starts_at < got.until), "{got:?} overlaps {cover:?}");
        }
    }
}

/// s004.weekly-rotation: a weekly rotation in the Agent Factory policy.
#[test]
fn s004_weekly_rotation() {
    let src = include_str!("../../../examples/agent-factory.toml");
    let policy = Policy::parse(src, "agent-factory.toml").unwrap_or_else(|e| panic!("{e}"));
    let at = |s: &str| s.parse::<Timestamp>().expect("instant");
    // Monday 2026-01-05 09:00 UTC is the first hand-off.
    let shifts = next_shifts(&policy, "primary", at("2026-01-07T12:00:00Z"), &[], 3);
    let got: Vec<_> = shifts
        .iter()
        .map(|s| (s.person.as_str(), s.since.to_string(), s.until.to_string()))
        .collect();
    let week = |p: &'static str, from: &str, to: &str| (p, from.to_string(), to.to_string());
    assert_eq!(
        got,
        [
            week("engineer-a", "2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"),
            week("engineer-b", "2026-01-12T09:00:00Z", "2026-01-19T09:00:00Z"),
            week(
                "engineering-lead",
                "2026-01-19T09:00:00Z",
                "2026-01-26T09:00:00Z"
            ),
        ]
    );
    // Nights and weekends too: P0/P1 page around the clock.
    let saturday_night = on_call(&policy, "primary", at("2026-01-10T23:00:00Z"), &[]);
    assert_eq!(
        saturday_night.map(|o| o.person).as_deref(),
        Some("engineer-a")
    );

    // "Coverage: 24/7 for P0/P1, business hours for P2/P3": the pages each
    // severity gets, unacknowledged, as `(when, who)`, from the escalation
    // core run forward with the schedule evaluated at each page's time.
    let pages = |severity: &str, declared: &str| -> Vec<(String, String)> {
        let scenario = Scenario {
            declare: Declare {
                title: "Agents failing".into(),
                severity: severity.into(),
                ..Declare::default()
            },
            start: at(declared),
            duration: Duration::from_hours(48),
            ack_after: None,
            resolve_after: None,
            overrides: Vec::new(),
        };
        simulate(&policy, &scenario)
            .unwrap_or_else(|e| panic!("{severity}: {e}"))
            .into_iter()
            .filter(|e| e.what.starts_with("escalated"))
            .map(|e| {
                let people: Vec<_> = e.notify.iter().map(|n| n.person.as_str()).collect();
                (e.at.to_string(), people.join(","))
            })
            .collect()
    };
    let page = |when: &str, who: &str| (when.to_string(), who.to_string());
    // Saturday 23:00: P0 and P1 page engineer-a, on call this week, at once,
    // and again every 5 minutes until acknowledged (three pages in all).
    for severity in ["P0", "P1"] {
        assert_eq!(
            pages(severity, "2026-01-10T23:00:00Z"),
            [
                page("2026-01-10T23:00:00Z", "engineer-a"),
                page("2026-01-10T23:05:00Z", "engineer-a"),
                page("2026-01-10T23:10:00Z", "engineer-a"),
            ],
            "{severity} pages around the clock"
        );
    }
    // P2 and P3 wait for Monday 09:00, business hours; by then the rotation
    // has handed over, so the new week's engineer is paged.
    for severity in ["P2", "P3"] {
        assert_eq!(
            pages(severity, "2026-01-10T23:00:00Z"),
            [
                page("2026-01-12T09:00:00Z", "engineer-b"),
                page("2026-01-12T09:05:00Z", "engineer-b"),
                page("2026-01-12T09:10:00Z", "engineer-b"),
            ],
            "{severity} is held until business hours"
        );
    }
    // Inside business hours P2/P3 page at once; after 17:00 on a weekday,
    // the next morning.
    assert_eq!(
        pages("P2", "2026-01-07T12:00:00Z")[0],
        page("2026-01-07T12:00:00Z", "engineer-a")
    );
    assert_eq!(
        pages("P3", "2026-01-07T17:30:00Z")[0],
        page("2026-01-08T09:00:00Z", "engineer-a")
    );
}

#[test]
fn schedule_mistakes_are_located() {
    let src = r#"[[severities]]
name = "P0"
[people.omar]
name = "Omar"
[[schedules]]
name = "main"
time_zone = "Mars/Olympus"
[[schedules.layers]]
name = "weekly"
rotation = "weekly"
handoff_day = "someday"
handoff = "9am"
start = "2026-02-30"
participants = ["omar", "ghost"]
[[schedules.layers]]
name = "empty"
rotation = "custom"
length = "1h"
handoff = "09:00"
start = "2026-01-01"
participants = []
"#;
    let errors = match Policy::parse(src, "p.toml") {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0,
    };
    let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (7, "schedules[0].time_zone"),
            (11, "schedules[0].layers[0].handoff_day"),
            (12, "schedules[0].layers[0].handoff"),
            (13, "schedules[0].layers[0].start"),
            (14, "schedules[0].layers[0].participants[1]"),
            (18, "schedules[0].layers[1].length"),
            (21, "schedules[0].layers[1].participants"),
        ],
        "{errors:#?}"
    );
    assert!(errors[4].message.contains("unknown person `ghost`"));
}
