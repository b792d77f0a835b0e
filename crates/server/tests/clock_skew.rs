//! A replica whose clock disagrees with the database's claims no timed
//! work: its scheduler, dispatcher and alert processor hold, and `/ready`
//! says why. The server runs on the wall clock shifted by an offset the test
//! changes, with the workers driven by hand.

mod common;

use std::sync::Arc;

use common::receiver::Receiver;
use common::{Backend, TestApp};
use firebell_server::OffsetClock;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::json;

/// Alerts page up the ladder as P0.
const ROUTE_TO_LADDER: &str = r#"
[routing]
severity = "P0"
escalation_policy = "ladder"
"#;

async fn ready(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let resp = app.http.get(app.url("/ready")).send().await.unwrap();
    common::decode(resp).await
}

async fn a_replica_an_hour_fast_fires_nothing_early(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, policy) = common::sms_ladder(&recv, ROUTE_TO_LADDER);
    let clock = OffsetClock::new(SignedDuration::ZERO);
    let app = TestApp::spawn_on_clock(backend, policy, Arc::new(clock.clone())).await;
    let guard = app.state().clock_guard.clone();
    let store = app.state().store.clone();

    // Measured at start: agreeing with the database (same machine).
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["clock"]["ok"], true, "{body}");
    assert_eq!(body["clock"]["measured"], true, "{body}");
    assert!(
        body["clock"]["offset_ms"].as_i64().unwrap().abs() < 2_000,
        "{body}"
    );

    let id = app
        .declare(json!({"title": "Checkout down", "severity": "P0", "escalation_policy": "ladder"}))
        .await;
    assert!(!app.tick().await.held);
    assert_eq!(app.deliver().await.delivered, 1, "L1 pages alice");

    // The clock jumps an hour ahead: by it, L2 (due at 30 minutes) is late.
    clock.set_offset(SignedDuration::from_secs(3600));
    guard.check(&store).await.expect("measured");
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["clock"]["ok"], false, "{body}");
    let offset = body["clock"]["offset_ms"].as_i64().unwrap();
    assert!((3_598_000..3_602_000).contains(&offset), "{body}");
    assert!(
        body["clock"]["error"]
            .as_str()
            .unwrap()
            .contains("disagrees")
    );

    let round = app.tick().await;
    assert!(round.held, "{round:?}");
    assert_eq!(round.events, 0);
    assert!(app.deliver().await.held);
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(steps.len(), 1, "only L1, nothing fired early: {steps:?}");
    assert_eq!(recv.received().len(), 1);

    // An alert is still accepted, but not processed here meanwhile.
    let (status, v) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "DiskFull", "severity": "P0"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let held = firebell_server::ingest::processor::process_pending(&app.state().processor)
        .await
        .unwrap();
    assert!(held.held);
    assert_eq!(held.declared, 0);

    // Put right: everything resumes, and by the true time L2 is not due yet.
    clock.set_offset(SignedDuration::ZERO);
    guard.check(&store).await.expect("measured");
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let round = app.tick().await;
    assert!(!round.held);
    assert_eq!(round.events, 0, "L2 is due 30 minutes after declaration");
    assert_eq!(app.events_of(&id, "escalated").await.len(), 1);
    let processed = firebell_server::ingest::processor::process_pending(&app.state().processor)
        .await
        .unwrap();
    assert!(!processed.held);
    assert_eq!(
        processed.declared, 1,
        "the alert waited and then opened its incident"
    );
}

async fn a_replica_started_with_a_slow_clock_is_not_ready(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, policy) = common::sms_ladder(&recv, ROUTE_TO_LADDER);
    // Started wrong: measured before any worker could claim anything.
    let clock = OffsetClock::new(SignedDuration::from_secs(-10));
    let app = TestApp::spawn_on_clock(backend, policy, Arc::new(clock)).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let offset = body["clock"]["offset_ms"].as_i64().unwrap();
    assert!((-12_000..-8_000).contains(&offset), "{body}");
    assert_eq!(body["clock"]["max_skew_ms"], 2000);
    assert!(app.tick().await.held);
    assert!(app.deliver().await.held);
}

on_both_backends!(
    a_replica_an_hour_fast_fires_nothing_early,
    a_replica_started_with_a_slow_clock_is_not_ready,
);
