//! `[retention]`: old resolved alerts, expired silences and change records
//! are pruned; an open incident's alerts and every incident are kept.

mod common;

use common::{Backend, TestApp};
use serde_json::json;

on_both_backends!(old_records_are_pruned_and_history_is_kept);

fn alert(name: &str, ends: &str) -> serde_json::Value {
    json!({
        "labels": {"alertname": name, "service": "api", "severity": "critical"},
        "startsAt": "2026-11-23T09:59:00Z",
        "endsAt": ends,
    })
}

async fn old_records_are_pruned_and_history_is_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // One alert that resolves (its incident is resolved too), one still firing.
    let (status, _) = app
        .post(
            "/api/v2/alerts",
            json!([
                alert("Gone", "2026-11-23T11:00:00Z"),
                alert("Firing", "2027-12-01T00:00:00Z")
            ]),
        )
        .await;
    assert!(status.is_success());
    app.process().await;
    let (status, _) = app
        .post(
            "/api/v1/silences",
            json!({"matchers": "alertname=\"Flappy\"", "duration": "2h", "comment": "known flapper"}),
        )
        .await;
    assert!(status.is_success());
    app.state()
        .store
        .record_change(&firebell_store::ChangeRecord {
            id: "c1".into(),
            source: "ci".into(),
            summary: "deploy v1.4".into(),
            service: Some("api".into()),
            environment: None,
            kind: firebell_core::change::ChangeKind::App,
            at: "2026-11-23T09:00:00Z".parse().unwrap(),
            details: Default::default(),
            payload: json!({}),
        })
        .await
        .unwrap();
    app.advance_mins(120);
    app.process().await;
    let gone = app
        .incidents()
        .await
        .into_iter()
        .find(|i| i["title"].as_str().unwrap().contains("Gone"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&format!("/api/v1/incidents/{gone}/resolve"), json!({}))
        .await;

    // Nothing is old enough yet.
    let p = firebell_server::retention::prune_once(&app.state().retention)
        .await
        .unwrap();
    assert_eq!(p, firebell_store::Pruned::default());

    // 31 days later: the resolved alert and the expired silence go (30 d);
    // the change record stays (90 d); the firing alert and every incident stay.
    app.advance_mins(31 * 24 * 60);
    let p = firebell_server::retention::prune_once(&app.state().retention)
        .await
        .unwrap();
    assert_eq!((p.alerts, p.silences, p.changes), (1, 1, 0));
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let names: Vec<String> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Firing"]);
    assert_eq!(app.incidents().await.len(), 2, "incidents are history");
    let (_, shown) = app.get(&format!("/api/v1/incidents/{gone}")).await;
    assert!(!shown["timeline"].as_array().unwrap().is_empty());

    // 91 days: the change record goes too.
    app.advance_mins(60 * 24 * 60);
    let p = firebell_server::retention::prune_once(&app.state().retention)
        .await
        .unwrap();
    assert_eq!(p.changes, 1);
}
