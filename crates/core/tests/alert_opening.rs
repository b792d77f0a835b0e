//! What a group of alerts means for an incident, decided without I/O
//! (`alert::opening`): the declaration that opens one, and the news an open
//! one records.

use firebell_core::alert::opening::{self, MAINTENANCE_WATCH_TAG};
use firebell_core::alert::{Alert, AlertSource, MaintenanceKind, MaintenanceWindow};
use firebell_core::incident::{Command, Context, declare};
use firebell_core::{Incident, Policy, Timestamp};

fn now() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn alert(key: &str, service: Option<&str>, severity: Option<&str>, firing: bool) -> Alert {
    let t = now();
    Alert {
        key: key.into(),
        source: AlertSource::Alertmanager,
        labels: [
            ("alertname".to_string(), "HighErrorRate".to_string()),
            ("instance".to_string(), key.to_string()),
        ]
        .into(),
        annotations: [("description".to_string(), "5xx above 10%\u{7}".to_string())].into(),
        starts_at: t - jiff::SignedDuration::from_mins(3),
        ends_at: (!firing).then(|| t - jiff::SignedDuration::from_mins(1)),
        generator_url: None,
        first_seen_at: t,
        updated_at: t,
        service: service.map(str::to_string),
        severity: severity.map(str::to_string),
        group_key: "g".into(),
        incident_id: None,
    }
}

#[test]
fn nothing_firing_opens_nothing() {
    let policy = Policy::demo();
    let resolved = [alert("a", Some("api"), Some("P1"), false)];
    assert_eq!(opening::declaration(&policy, &resolved, &[], now()), None);
}

#[test]
fn the_lead_alert_names_the_incident_and_unknown_severities_fall_back() {
    let policy = Policy::demo();
    let alerts = [
        alert("a", Some("api"), Some("nope"), true),
        alert("b", Some("web"), None, true),
        alert("c", Some("not-a-service"), None, true),
        alert("d", Some("api"), None, false),
    ];
    let d = opening::declaration(&policy, &alerts, &[], now()).unwrap();
    assert_eq!(d.title, "HighErrorRate (3 alerts)");
    // The policy has no severity "nope": the lowest one it has.
    assert_eq!(d.severity, "P3");
    // Known services of firing alerts only, once each, in order.
    assert_eq!(d.services, ["api", "web"]);
    // Control characters never reach the incident.
    assert_eq!(d.summary, "5xx above 10%");
    assert_eq!(
        d.detected_at,
        Some(now() - jiff::SignedDuration::from_mins(3))
    );
    assert!(d.tags.is_empty());
    // And the core accepts it as it is.
    let ctx = Context {
        policy: &policy,
        now: now(),
        actor: "alerts",
        link_base: "",
    };
    assert!(declare(&d, &ctx).is_ok());
}

#[test]
fn an_incident_soon_after_maintenance_is_watched() {
    let policy = Policy::demo();
    let window = MaintenanceWindow {
        id: "m1".into(),
        title: "DB upgrade".into(),
        kind: MaintenanceKind::Scheduled,
        services: vec!["api".into()],
        starts_at: now() - jiff::SignedDuration::from_mins(60),
        ends_at: Some(now() - jiff::SignedDuration::from_mins(5)),
        created_by: "alice".into(),
        created_at: now() - jiff::SignedDuration::from_hours(200),
        planned_starts_at: None,
        planned_ends_at: None,
        review_due_at: None,
        review: None,
    };
    let alerts = [alert("a", Some("api"), Some("P1"), true)];
    let d = opening::declaration(&policy, &alerts, std::slice::from_ref(&window), now()).unwrap();
    assert_eq!(d.tags, [MAINTENANCE_WATCH_TAG]);
    assert!(
        d.summary.contains("maintenance \"DB upgrade\" (api)"),
        "{}",
        d.summary
    );
    // A window over another service is no suspect.
    let other = [alert("b", Some("web"), Some("P1"), true)];
    let d = opening::declaration(&policy, &other, &[window], now()).unwrap();
    assert!(d.tags.is_empty());
}

#[test]
fn news_counts_follow_the_incident_not_the_whole_set() {
    let policy = Policy::demo();
    let ctx = Context {
        policy: &policy,
        now: now(),
        actor: "alerts",
        link_base: "",
    };
    let opened = [alert("a", Some("api"), Some("P1"), true)];
    let d = opening::declaration(&policy, &opened, &[], now()).unwrap();
    let (declared, _) = declare(&d, &ctx).unwrap();
    let (mut incident, _): (Incident, _) = declared.advance(
        opening::opened_with(&policy, &d, &opened, now()),
        now(),
        "alerts",
    );
    incident.id = "INC-1".into();
    assert_eq!((incident.alerts_firing, incident.alerts_total), (1, 1));

    // "a" resolves, "b" is new and firing, "c" fired again after an earlier incident.
    let mut a = alert("a", Some("api"), Some("P1"), false);
    a.incident_id = Some("INC-1".into());
    let b = alert("b", Some("api"), Some("P1"), true);
    let mut c = alert("c", Some("api"), Some("P1"), true);
    c.incident_id = Some("INC-0".into());
    match opening::record(&policy, &incident, &[a, b, c], now()) {
        Command::RecordAlerts {
            attached,
            resolved,
            refired,
            firing,
            total,
            sample,
            runbooks,
            criteria,
        } => {
            assert!(runbooks.is_empty() && criteria.is_empty());
            assert_eq!((attached, resolved, refired), (2, 1, 1));
            assert_eq!((firing, total), (2, 3));
            assert_eq!(sample.len(), 3);
            assert_eq!(sample[1].summary, "HighErrorRate{instance=\"b\"}");
        }
        other => panic!("{other:?}"),
    }
}
