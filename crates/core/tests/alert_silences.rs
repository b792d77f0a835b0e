//! Silences (Alertmanager's rules) and maintenance windows: validation,
//! state over time, and which alerts they cover.

use firebell_core::Timestamp;
use firebell_core::alert::{
    LabelSet, MaintenanceKind, MaintenanceWindow, Matcher, Silence, SilenceState, parse_matchers,
};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn matchers(s: &str) -> Vec<Matcher> {
    parse_matchers(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn silence(m: &str, starts_at: &str, ends_at: &str) -> Silence {
    Silence {
        id: "s1".into(),
        matchers: matchers(m),
        starts_at: t(starts_at),
        ends_at: t(ends_at),
        created_by: "alice".into(),
        comment: "deploying".into(),
        updated_at: t(starts_at),
    }
}

const START: &str = "2026-05-07T10:00:00Z";
const END: &str = "2026-05-07T12:00:00Z";

#[test]
fn a_silence_is_pending_then_active_then_expired() {
    let s = silence(r#"alertname="X""#, START, END);
    assert_eq!(s.state(t("2026-05-07T09:59:59Z")), SilenceState::Pending);
    assert_eq!(s.state(t(START)), SilenceState::Active);
    assert_eq!(s.state(t("2026-05-07T11:59:59Z")), SilenceState::Active);
    assert_eq!(s.state(t(END)), SilenceState::Expired);
}

#[test]
fn a_silence_mutes_matching_alerts_only_while_active() {
    let s = silence(r#"{alertname="X", instance=~"db-.*"}"#, START, END);
    let hit = labels(&[("alertname", "X"), ("instance", "db-1")]);
    let miss = labels(&[("alertname", "X"), ("instance", "web-1")]);
    assert!(s.matches(&hit));
    assert!(!s.matches(&miss));
    assert!(
        !s.matches(&labels(&[("alertname", "X")])),
        "absent label is \"\""
    );
    assert!(s.silences(&hit, t("2026-05-07T11:00:00Z")));
    assert!(!s.silences(&hit, t("2026-05-07T09:00:00Z")));
    assert!(!s.silences(&hit, t(END)));
    assert!(!s.silences(&miss, t("2026-05-07T11:00:00Z")));
}

#[test]
fn a_valid_silence_passes() {
    for m in [
        r#"alertname="X""#,
        r#"{alertname="X", instance=""}"#,
        // Negated matchers count as selective, as in Alertmanager.
        r#"env!="prod""#,
        r#"env!~"prod|staging""#,
        r#"severity=~"crit.*""#,
    ] {
        assert_eq!(silence(m, START, END).validate(), Ok(()), "{m}");
    }
    // Expiring a silence that had not started sets both ends to now.
    assert_eq!(silence(r#"a="b""#, START, START).validate(), Ok(()));
}

#[test]
fn a_silence_needs_a_matcher() {
    let e = silence("", START, END).validate().err().unwrap_or_default();
    assert!(e.contains("at least one matcher"), "{e}");
}

#[test]
fn a_silence_cannot_match_the_empty_string_everywhere() {
    for m in [
        r#"alertname="""#,
        r#"alertname=~".*""#,
        r#"{a="", b=~"x|"}"#,
        r#"a=~"x?""#,
    ] {
        let e = silence(m, START, END).validate().err().unwrap_or_default();
        assert!(e.contains("must not match the empty string"), "{m}: {e}");
    }
}

#[test]
fn a_silence_cannot_end_before_it_starts() {
    let e = silence(r#"a="b""#, END, START)
        .validate()
        .err()
        .unwrap_or_default();
    assert!(e.contains("ends") && e.contains("before it starts"), "{e}");
}

fn window(services: &[&str], starts_at: &str, ends_at: Option<&str>) -> MaintenanceWindow {
    MaintenanceWindow {
        id: "m1".into(),
        title: "Database upgrade".into(),
        kind: MaintenanceKind::Scheduled,
        services: services.iter().map(|s| s.to_string()).collect(),
        starts_at: t(starts_at),
        ends_at: ends_at.map(t),
        created_by: "omar".into(),
        created_at: t("2026-04-30T10:00:00Z"),
        planned_starts_at: Some(t(starts_at)),
        planned_ends_at: ends_at.map(t),
        review_due_at: None,
        review: None,
    }
}

#[test]
fn the_watch_after_a_window_runs_from_its_end() {
    let w = window(&["database"], START, Some(END));
    let hour = firebell_core::Duration::from_hours(1);
    assert!(
        !w.ended_within(hour, t("2026-05-07T11:59:59Z")),
        "still running"
    );
    assert!(w.ended_within(hour, t(END)));
    assert!(w.ended_within(hour, t("2026-05-07T12:59:59Z")));
    assert!(!w.ended_within(hour, t("2026-05-07T13:00:00Z")));
    assert!(
        !w.ended_within(firebell_core::Duration::from_secs(0), t(END)),
        "no watch"
    );
    assert!(
        !window(&["api"], START, None).ended_within(hour, t(END)),
        "open-ended"
    );
}

#[test]
fn a_window_is_active_from_its_start_until_its_end() {
    let w = window(&["database"], START, Some(END));
    assert!(!w.is_active(t("2026-05-07T09:59:59Z")));
    assert!(w.is_active(t(START)));
    assert!(w.is_active(t("2026-05-07T11:59:59Z")));
    assert!(!w.is_active(t(END)));
}

#[test]
fn maintenance_mode_is_open_ended() {
    let w = MaintenanceWindow {
        kind: MaintenanceKind::Mode,
        ..window(&["api"], START, None)
    };
    assert!(!w.is_active(t("2026-05-07T09:00:00Z")));
    assert!(w.is_active(t("2027-05-07T10:00:00Z")));
}

#[test]
fn a_window_covers_the_alerts_routed_to_its_services() {
    let w = window(&["database", "api"], START, Some(END));
    assert!(w.covers(Some("database")));
    assert!(w.covers(Some("api")));
    assert!(!w.covers(Some("web")));
    assert!(!w.covers(None), "an alert with no service is not covered");
    assert!(!window(&[], START, Some(END)).covers(Some("api")));
    let during = t("2026-05-07T11:00:00Z");
    assert!(w.suppresses(Some("api"), during));
    assert!(!w.suppresses(Some("api"), t(END)));
    assert!(!w.suppresses(Some("web"), during));
}

#[test]
fn a_window_is_validated() {
    assert_eq!(window(&["api"], START, Some(END)).validate(), Ok(()));
    assert_eq!(window(&["api"], START, None).validate(), Ok(()));
    let untitled = MaintenanceWindow {
        title: " ".into(),
        ..window(&["api"], START, Some(END))
    };
    assert!(untitled.validate().is_err_and(|e| e.contains("title")));
    assert!(
        window(&[], START, Some(END))
            .validate()
            .is_err_and(|e| e.contains("at least one service"))
    );
    assert!(
        window(&["api"], END, Some(START))
            .validate()
            .is_err_and(|e| e.contains("before"))
    );
    assert!(window(&["api"], START, Some(START)).validate().is_err());
}
