//! Repeated reports about one alert merge into one stored alert; `merge`
//! says when the merged alert needs processing (new, or its firing/resolved
//! state changed), and `normalize_times` reads senders' missing times.

use firebell_core::Timestamp;
use firebell_core::alert::{
    Alert, AlertSource, IncomingAlert, LabelSet, RouteMatch, merge, normalize_times,
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

fn report(starts_at: &str, ends_at: Option<&str>, summary: &str) -> IncomingAlert {
    IncomingAlert {
        source: AlertSource::Alertmanager,
        key: "efcaa50ee41c2d76".into(),
        labels: labels(&[("alertname", "Test"), ("severity", "critical")]),
        annotations: labels(&[("summary", summary)]),
        starts_at: t(starts_at),
        ends_at: ends_at.map(t),
        generator_url: Some(format!("http://prometheus/graph?{summary}")),
        service: None,
        severity: None,
    }
}

fn routed(service: &str, severity: &str, group_key: &str) -> RouteMatch {
    RouteMatch {
        path: "0".into(),
        receiver: "firebell".into(),
        service: Some(service.into()),
        severity: Some(severity.into()),
        group_labels: labels(&[("alertname", "Test")]),
        group_key: group_key.into(),
        runbook: None,
        escalation_policy: None,
    }
}

/// A stored, firing alert first seen at 10:00, attached to an incident.
fn stored_firing() -> Alert {
    let (alert, _) = merge(
        None,
        &report("2026-05-07T09:58:00Z", None, "first"),
        &routed("api", "P1", "0:{alertname=\"Test\"}"),
        t("2026-05-07T10:00:00Z"),
    );
    Alert {
        incident_id: Some("INC-20260507-001".into()),
        ..alert
    }
}

#[test]
fn a_new_key_is_a_new_occurrence_that_needs_processing() {
    let now = t("2026-05-07T10:00:00Z");
    let incoming = report("2026-05-07T09:58:00Z", None, "first");
    let (alert, pending) = merge(None, &incoming, &routed("api", "P1", "g1"), now);
    assert!(pending);
    assert_eq!(alert.key, incoming.key);
    assert_eq!(alert.labels, incoming.labels);
    assert_eq!(alert.annotations, incoming.annotations);
    assert_eq!((alert.starts_at, alert.ends_at), (incoming.starts_at, None));
    assert_eq!((alert.first_seen_at, alert.updated_at), (now, now));
    assert_eq!(alert.service.as_deref(), Some("api"));
    assert_eq!(alert.severity.as_deref(), Some("P1"));
    assert_eq!(alert.group_key, "g1");
    assert_eq!(alert.incident_id, None);
    assert!(alert.is_firing(now));
}

#[test]
fn a_firing_alert_reported_again_merges_without_processing() {
    let old = stored_firing();
    let now = t("2026-05-07T10:05:00Z");
    // A later start (Prometheus restarted), an end in the future (resend
    // with resolve timeout), new annotations; the routing has since changed.
    let incoming = report(
        "2026-05-07T10:01:00Z",
        Some("2026-05-07T10:09:00Z"),
        "second",
    );
    let (alert, pending) = merge(Some(&old), &incoming, &routed("db", "P3", "other"), now);
    assert!(!pending, "still firing: nothing to do");
    assert_eq!(alert.starts_at, t("2026-05-07T09:58:00Z"), "earliest start");
    assert_eq!(
        alert.ends_at,
        Some(t("2026-05-07T10:09:00Z")),
        "latest report's end"
    );
    assert_eq!(alert.annotations, incoming.annotations);
    assert_eq!(alert.generator_url, incoming.generator_url);
    assert_eq!(alert.updated_at, now);
    assert_eq!(alert.first_seen_at, old.first_seen_at);
    // Routing was fixed when the alert opened.
    assert_eq!(
        (alert.service.as_deref(), alert.severity.as_deref()),
        (Some("api"), Some("P1"))
    );
    assert_eq!(alert.group_key, old.group_key);
    assert_eq!(alert.incident_id, old.incident_id);

    // The latest report wins: open-ended again.
    let (again, pending) = merge(
        Some(&alert),
        &report("2026-05-07T09:58:00Z", None, "third"),
        &routed("db", "P3", "other"),
        t("2026-05-07T10:06:00Z"),
    );
    assert!(!pending);
    assert_eq!(again.ends_at, None);
}

#[test]
fn a_resolving_report_needs_processing() {
    let old = stored_firing();
    let now = t("2026-05-07T10:20:00Z");
    let incoming = report(
        "2026-05-07T09:58:00Z",
        Some("2026-05-07T10:19:30Z"),
        "resolved",
    );
    let (alert, pending) = merge(Some(&old), &incoming, &routed("db", "P3", "x"), now);
    assert!(pending, "firing → resolved");
    assert!(!alert.is_firing(now));
    assert_eq!(alert.ends_at, incoming.ends_at);
    assert_eq!(
        alert.incident_id, old.incident_id,
        "still linked for the timeline"
    );
    assert_eq!(alert.service.as_deref(), Some("api"));
}

#[test]
fn an_end_exactly_now_is_resolved() {
    let old = stored_firing();
    let now = t("2026-05-07T10:20:00Z");
    let incoming = report("2026-05-07T09:58:00Z", Some("2026-05-07T10:20:00Z"), "r");
    let (alert, pending) = merge(Some(&old), &incoming, &routed("api", "P1", "g"), now);
    assert!(pending);
    assert!(!alert.is_firing(now));
}

#[test]
fn a_resolved_alert_that_fires_again_is_a_new_occurrence() {
    let old = stored_firing();
    let (resolved, _) = merge(
        Some(&old),
        &report("2026-05-07T09:58:00Z", Some("2026-05-07T10:19:00Z"), "r"),
        &routed("api", "P1", "g"),
        t("2026-05-07T10:20:00Z"),
    );
    let now = t("2026-05-07T11:00:00Z");
    let incoming = report("2026-05-07T10:58:00Z", None, "again");
    let (alert, pending) = merge(Some(&resolved), &incoming, &routed("db", "P3", "g2"), now);
    assert!(pending);
    assert_eq!(alert.first_seen_at, now);
    assert_eq!(
        alert.starts_at, incoming.starts_at,
        "not the old occurrence's start"
    );
    assert_eq!(alert.ends_at, None);
    assert_eq!(
        alert.incident_id, None,
        "the old incident is not reopened by the alert"
    );
    // Routed afresh.
    assert_eq!(
        (
            alert.service.as_deref(),
            alert.severity.as_deref(),
            alert.group_key.as_str()
        ),
        (Some("db"), Some("P3"), "g2")
    );
}

#[test]
fn an_alert_whose_end_passed_and_fires_again_is_a_new_occurrence() {
    // Stored with an end in the future that has since passed (it timed out).
    let old = Alert {
        ends_at: Some(t("2026-05-07T10:05:00Z")),
        ..stored_firing()
    };
    let now = t("2026-05-07T10:30:00Z");
    let (alert, pending) = merge(
        Some(&old),
        &report("2026-05-07T10:29:00Z", None, "back"),
        &routed("api", "P1", "g"),
        now,
    );
    assert!(pending);
    assert_eq!(alert.first_seen_at, now);
    assert_eq!(alert.incident_id, None);
}

#[test]
fn a_resolved_report_for_a_resolved_alert_is_stored_quietly() {
    let old = stored_firing();
    let (resolved, _) = merge(
        Some(&old),
        &report("2026-05-07T09:58:00Z", Some("2026-05-07T10:19:00Z"), "r1"),
        &routed("api", "P1", "g"),
        t("2026-05-07T10:20:00Z"),
    );
    let now = t("2026-05-07T10:25:00Z");
    // Prometheus resends resolved alerts; an older end does not win.
    let (alert, pending) = merge(
        Some(&resolved),
        &report("2026-05-07T09:58:00Z", Some("2026-05-07T10:18:00Z"), "r2"),
        &routed("db", "P3", "x"),
        now,
    );
    assert!(!pending);
    assert_eq!(
        alert.ends_at,
        Some(t("2026-05-07T10:19:00Z")),
        "the later end wins"
    );
    assert_eq!(alert.annotations, labels(&[("summary", "r2")]));
    assert_eq!(alert.updated_at, now);
    assert_eq!(alert.first_seen_at, old.first_seen_at);
    assert_eq!(alert.incident_id, old.incident_id);
}

#[test]
fn a_resolved_report_for_an_unknown_alert_is_stored_as_new() {
    let now = t("2026-05-07T10:25:00Z");
    let incoming = report("2026-05-07T10:00:00Z", Some("2026-05-07T10:20:00Z"), "r");
    let (alert, pending) = merge(None, &incoming, &routed("api", "P1", "g"), now);
    assert!(pending, "new keys are always returned for processing");
    assert!(!alert.is_firing(now), "the processor sees it is not firing");
    assert_eq!(alert.first_seen_at, now);
}

#[test]
fn missing_and_go_zero_times_are_normalized() {
    let now = t("2026-05-07T10:00:00Z");
    let go_zero = t("0001-01-01T00:00:00Z");
    let start = t("2026-05-07T09:55:00Z");
    let end = t("2026-05-07T09:59:00Z");
    // Missing start → now; missing end → open-ended.
    assert_eq!(normalize_times(None, None, now), (now, None));
    assert_eq!(
        normalize_times(Some(go_zero), Some(go_zero), now),
        (now, None)
    );
    // Given times are kept.
    assert_eq!(
        normalize_times(Some(start), Some(end), now),
        (start, Some(end))
    );
    assert_eq!(
        normalize_times(Some(start), Some(go_zero), now),
        (start, None)
    );
    // A resolved report without a start starts no later than it ended.
    assert_eq!(normalize_times(None, Some(end), now), (end, Some(end)));
    assert_eq!(
        normalize_times(Some(go_zero), Some(end), now),
        (end, Some(end))
    );
    // An end in the future with no start: the alert started now.
    let later = t("2026-05-07T10:04:00Z");
    assert_eq!(normalize_times(None, Some(later), now), (now, Some(later)));
}

#[test]
fn a_source_that_fixes_service_and_severity_wins_over_the_route() {
    let now = t("2026-05-07T10:00:00Z");
    let mut incoming = report("2026-05-07T09:58:00Z", None, "pinned");
    incoming.service = Some("payments".into());
    incoming.severity = Some("P0".into());
    let (alert, _) = merge(None, &incoming, &routed("api", "P1", "g1"), now);
    assert_eq!(alert.service.as_deref(), Some("payments"));
    assert_eq!(alert.severity.as_deref(), Some("P0"));
    assert_eq!(alert.group_key, "g1", "grouping stays the route's");
    // Only what the source fixes is taken from it.
    incoming.service = None;
    let (alert, _) = merge(None, &incoming, &routed("api", "P1", "g1"), now);
    assert_eq!(alert.service.as_deref(), Some("api"));
    assert_eq!(alert.severity.as_deref(), Some("P0"));
}

#[test]
fn a_report_older_than_the_stored_state_changes_nothing() {
    // Resolved at 10:05; a firing report received at 10:03 is merged after it
    // (out of order: a new group's row went first, or another replica's
    // commit landed later). The resolve stands.
    let old = stored_firing();
    let resolved_at = t("2026-05-07T10:05:00Z");
    let (resolved, pending) = merge(
        Some(&old),
        &report(
            "2026-05-07T09:58:00Z",
            Some("2026-05-07T10:04:00Z"),
            "resolved",
        ),
        &routed("api", "P1", "g"),
        resolved_at,
    );
    assert!(pending);
    let late = report("2026-05-07T09:58:00Z", None, "stale firing");
    let (alert, pending) = merge(
        Some(&resolved),
        &late,
        &routed("api", "P1", "g"),
        t("2026-05-07T10:03:00Z"),
    );
    assert!(!pending, "nothing new to process");
    assert_eq!(alert, resolved, "the newer state stands");
    // Received at the same instant or later, it applies as before.
    let (again, pending) = merge(
        Some(&resolved),
        &late,
        &routed("api", "P1", "g"),
        resolved_at,
    );
    assert!(pending, "fired again");
    assert!(again.is_firing(resolved_at));
}
