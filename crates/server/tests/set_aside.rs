//! One bad row never stalls a queue: a row that keeps failing in the ingest
//! log, the timers or the outbox is set aside after a bounded number of
//! tries, counted in `/metrics`, listed and retried or discarded through the
//! API, and the rows behind it go on. `/ready` says when a queue is stalled.
//! Rows are damaged behind the server's back (`raw_sql`), as a bug, a
//! rollback to an older version or a sender from before the door checks
//! would leave them.

mod common;

use common::receiver::Receiver;
use common::{Backend, TestApp, raw_sql};
use firebell_server::{ingest, scheduler};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    a_log_row_that_keeps_failing_is_set_aside_and_the_rows_behind_it_merge,
    an_incident_whose_timers_keep_failing_is_set_aside_and_the_others_escalate,
    a_notification_this_version_cannot_read_is_set_aside_and_the_others_go_out,
    ready_says_when_a_queue_is_stalled,
);

fn alert(name: &str) -> Value {
    json!([{
        "labels": {"alertname": name, "service": format!("svc-{name}"), "severity": "critical"},
        "annotations": {"summary": format!("{name} is failing")},
        "startsAt": "2026-11-23T09:59:00Z"
    }])
}

async fn set_aside(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/set-aside{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Gauges are process-wide and each scrape sets them from its own server's
/// database: scrapes of the tests running side by side take turns.
static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let _turn = SCRAPE.lock().await;
    let text = app.metrics().await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_start} in\n{text}"))
}

async fn a_log_row_that_keeps_failing_is_set_aside_and_the_rows_behind_it_merge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app.post("/api/v2/alerts", alert("Victim")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The row as an older Firebell, whose door let a NUL through, logged it
    // (PostgreSQL cannot store it in the alerts); SQLite stores NULs, so
    // there the row is simply damaged.
    let damage = match backend {
        Backend::Postgres => {
            "UPDATE ingest_log SET alerts = REPLACE(alerts, 'Victim', 'Vic\\u0000tim')"
        }
        Backend::Sqlite => "UPDATE ingest_log SET alerts = 'not json'",
    };
    raw_sql(&app.database_url, damage).await;
    let (status, body) = app.post("/api/v2/alerts", alert("Behind")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every merge (a processing round, a read settling the log) tries the
    // bad row once; the rows behind it wait, in order, until it is set
    // aside; reads answer meanwhile.
    let mut rounds = 0;
    loop {
        rounds += 1;
        let done = app.process().await;
        let aside = set_aside(&app, "").await["items"].as_array().unwrap().len();
        if done.declared > 0 {
            assert_eq!((done.declared, aside), (1, 1), "round {rounds}");
            break;
        }
        assert_eq!(aside, 0, "round {rounds}: set aside early");
        let (status, body) = app.get("/api/v2/alerts").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "reads answer during a bad row: {body}"
        );
        assert!(
            rounds < ingest::MAX_TRIES,
            "not set aside after {rounds} rounds"
        );
    }
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 1);
    assert!(
        incidents[0]["title"].as_str().unwrap().contains("Behind"),
        "{incidents:?}"
    );

    let listed = set_aside(&app, "?queue=ingest_log").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["queue"], "ingest_log");
    assert_eq!(items[0]["tries"], ingest::MAX_TRIES);
    assert!(!items[0]["error"].as_str().unwrap().is_empty());
    assert_eq!(
        metric(&app, "firebell_set_aside_rows{queue=\"ingest_log\"}").await,
        1.0
    );
    assert_eq!(set_aside(&app, "?queue=timers").await["items"], json!([]));
    let (status, body) = app.get("/api/v1/set-aside?queue=nope").await;
    common::assert_error(&(status, body), StatusCode::BAD_REQUEST, "invalid_queue");

    // Retried, it is back at the end of the log and fails again, on its own.
    let id = items[0]["id"].as_i64().unwrap();
    let (status, body) = app
        .post(&format!("/api/v1/set-aside/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(set_aside(&app, "").await["items"], json!([]));
    app.post("/api/v2/alerts", alert("After")).await;
    for _ in 0..ingest::MAX_TRIES {
        app.process().await;
    }
    assert_eq!(
        app.incidents().await.len(),
        2,
        "the row after it merged too"
    );
    let again = set_aside(&app, "").await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(again.len(), 1);

    // Discarded, it is gone; a second discard is a 404.
    let id = again[0]["id"].as_i64().unwrap();
    let url = app.url(&format!("/api/v1/set-aside/{id}"));
    let del = || app.http.delete(&url).bearer_auth(&app.admin_token).send();
    assert_eq!(del().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(del().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(set_aside(&app, "").await["items"], json!([]));

    // Only admins put rows back or drop them.
    let responder = app.token("r", "responder").await;
    let (status, _) = app.get_as(&responder, "/api/v1/set-aside").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_as(
            &responder,
            &format!("/api/v1/set-aside/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn declare(app: &TestApp, title: &str) -> String {
    app.declare(json!({"title": title, "severity": "P0", "escalation_policy": "ladder"}))
        .await
}

async fn an_incident_whose_timers_keep_failing_is_set_aside_and_the_others_escalate(
    backend: Backend,
) {
    let recv = Receiver::start().await;
    let (_dir, source) = common::sms_ladder(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let good = declare(&app, "good").await;
    let bad = declare(&app, "bad").await;
    app.tick().await;
    assert_eq!(app.events_of(&good, "escalated").await.len(), 1);
    assert_eq!(app.events_of(&bad, "escalated").await.len(), 1);

    // The bad incident's stored state no longer reads.
    raw_sql(
        &app.database_url,
        &format!("UPDATE incidents SET state = '{{\"broken\": true}}' WHERE id = '{bad}'"),
    )
    .await;
    app.advance_mins(31);
    let round = app.tick().await;
    assert_eq!(round.failed, 1, "{round:?}");
    assert_eq!(
        app.events_of(&good, "escalated").await.len(),
        2,
        "the good incident reached L2 despite the bad one"
    );
    // Tried again after a pause, up to the bound, then set aside.
    for _ in 1..scheduler::MAX_TRIES {
        assert_eq!(app.tick().await.failed, 0, "paused between tries");
        app.clock.advance(jiff::SignedDuration::from_secs(11));
        assert_eq!(app.tick().await.failed, 1);
    }
    let listed = set_aside(&app, "?queue=timers").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["item"], bad.as_str());
    assert_eq!(items[0]["tries"], scheduler::MAX_TRIES);
    app.clock.advance(jiff::SignedDuration::from_secs(60));
    assert_eq!(app.tick().await.failed, 0, "set aside: no more tries");
    assert_eq!(
        metric(&app, "firebell_set_aside_rows{queue=\"timers\"}").await,
        1.0
    );
    // Not stalled: nothing left in the queues is late.
    app.deliver().await;
    let (status, body) = app.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_notification_this_version_cannot_read_is_set_aside_and_the_others_go_out(
    backend: Backend,
) {
    let recv = Receiver::start().await;
    let (_dir, source) = common::sms_ladder(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let first = declare(&app, "first").await;
    let second = declare(&app, "second").await;
    app.tick().await;
    // As a newer version would write it: a channel this one does not know.
    raw_sql(
        &app.database_url,
        &format!("UPDATE notifications SET channel = 'pigeon' WHERE incident_id = '{first}'"),
    )
    .await;
    let round = app.deliver().await;
    assert_eq!(round.delivered, 1, "{round:?}");
    assert_eq!(recv.received().len(), 1);
    assert_eq!(recv.received()[0].body["incident_id"], second.as_str());
    let items = set_aside(&app, "?queue=outbox").await["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["error"].as_str().unwrap().contains("pigeon"),
        "{items:?}"
    );
    // Nothing is claimed again: the outbox is empty.
    assert_eq!(app.deliver().await.delivered, 0);

    // Once it reads again (here: repaired), a retry sends it.
    let id = items[0]["id"].as_i64().unwrap();
    let payload = items[0]["payload"]
        .as_str()
        .unwrap()
        .replace("pigeon", "sms");
    raw_sql(
        &app.database_url,
        &format!(
            "UPDATE set_aside SET payload = '{}' WHERE id = {id}",
            payload.replace('\'', "''")
        ),
    )
    .await;
    let (status, body) = app
        .post(&format!("/api/v1/set-aside/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.deliver().await.delivered, 1);
    assert_eq!(recv.received().len(), 2);
    assert_eq!(recv.received()[1].body["incident_id"], first.as_str());
}

async fn ready_says_when_a_queue_is_stalled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, _) = app.post("/api/v2/alerts", alert("Waiting")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Nothing merges (the pipeline is stopped in this test) for 3 minutes.
    app.advance_mins(3);
    let (status, body) = app.get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["stalled"], json!(["ingest_log"]));
    assert_eq!(
        metric(&app, "firebell_queue_stalled{queue=\"ingest_log\"}").await,
        1.0
    );
    assert!(metric(&app, "firebell_queue_late_seconds{queue=\"ingest_log\"}").await >= 180.0);

    app.process().await;
    let (status, body) = app.get("/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        metric(&app, "firebell_queue_stalled{queue=\"ingest_log\"}").await,
        0.0
    );
}
