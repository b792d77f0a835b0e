//! Staying fast in a storm: a new alert group overtakes the backlog of a
//! flood, and reports merged out of order leave the newest state standing.
//! The workers are driven by hand on the manual clock.

mod common;

use common::{Backend, TestApp};
use firebell_server::Clock;
use firebell_server::ingest::processor::{process_new_groups, process_pending};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn flood_batch(batch: usize, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"labels": {
                    "alertname": "NodeDown", "service": "api", "severity": "warning",
                    "instance": format!("node-{batch}-{i}"),
                }})
            })
            .collect(),
    )
}

async fn backlog(app: &TestApp) -> u64 {
    app.state().store.logged_alert_backlog().await.unwrap()
}

async fn a_new_group_overtakes_a_flood_backlog(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for batch in 0..20 {
        let (status, body) = app.post("/api/v2/alerts", flood_batch(batch, 500)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A new problem, in its own group, behind 10,000 waiting reports.
    let (status, body) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "DiskFull", "service": "db", "severity": "critical"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(backlog(&app).await, 10_001);

    let round = process_new_groups(&app.state().processor).await.unwrap();
    // The flood's first request was a new group too: its 500 reports went
    // ahead with DiskFull. The other 9,500 still wait.
    assert_eq!(round.declared, 2, "{round:?}");
    assert_eq!(backlog(&app).await, 9_500);
    let incidents = app.incidents().await;
    let disk = incidents
        .iter()
        .find(|i| i["title"].as_str().unwrap().contains("DiskFull"))
        .unwrap_or_else(|| panic!("DiskFull opened an incident: {incidents:?}"));
    assert_eq!(disk["severity"], "P1");
    assert_eq!(disk["alerts_total"], 1);

    // The rest merges and attaches as before: one incident per group.
    process_pending(&app.state().processor).await.unwrap();
    assert_eq!(backlog(&app).await, 0);
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let flood = incidents
        .iter()
        .find(|i| i["title"].as_str().unwrap().contains("NodeDown"))
        .unwrap();
    assert_eq!(flood["alerts_total"], 10_000);
}

/// A flood into a group whose incident is open is recorded on it by the
/// merge itself: a read of the alerts (which merges the log first) leaves
/// nothing for the processor, and the incident counts every alert.
async fn a_flood_into_an_open_incident_is_recorded_by_the_merge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app.post("/api/v2/alerts", flood_batch(0, 500)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let round = process_new_groups(&app.state().processor).await.unwrap();
    assert_eq!(round.declared, 1, "{round:?}");
    for batch in 1..5 {
        let (status, body) = app.post("/api/v2/alerts", flood_batch(batch, 500)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(backlog(&app).await, 2_000);

    let (status, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alerts.as_array().unwrap().len(), 2_500);
    assert_eq!(backlog(&app).await, 0);
    let pending = app.state().store.pending_alerts(0).await.unwrap();
    assert!(
        pending.is_empty(),
        "{} left for the processor",
        pending.len()
    );
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["alerts_total"], 2_500);
    assert_eq!(incidents[0]["alerts_firing"], 2_500);
    let id = incidents[0]["id"].as_str().unwrap();
    let (_, attached) = app.get(&format!("/api/v1/incidents/{id}/alerts")).await;
    assert_eq!(attached["total"], 2_500);
    assert_eq!(attached["firing"], 2_500);
    let round = process_pending(&app.state().processor).await.unwrap();
    assert_eq!(round.alerts, 0, "{round:?}");
}

/// A resolve logged before a restart, then the alert firing again after it:
/// the firing report is urgent (the restarted process has seen no groups)
/// and merges first; the older resolve must not undo it. (The race of a
/// refresh with a resolve in one process is
/// `a_refresh_racing_a_resolve_never_hides_it`.)
async fn an_older_report_merged_late_changes_nothing(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let firing =
        json!([{"labels": {"alertname": "DiskFull", "service": "db", "severity": "critical"}}]);
    app.post("/api/v2/alerts", firing.clone()).await;
    process_pending(&app.state().processor).await.unwrap();
    app.advance_mins(1);
    let resolved = json!([{
        "labels": {"alertname": "DiskFull", "service": "db", "severity": "critical"},
        "endsAt": "2026-11-23T10:00:30Z",
    }]);
    let (status, _) = app.post("/api/v2/alerts", resolved).await;
    assert_eq!(status, StatusCode::OK);
    app.restart().await;
    app.advance_mins(1);
    let (status, _) = app.post("/api/v2/alerts", firing).await;
    assert_eq!(status, StatusCode::OK);
    // On SQLite the firing report merged as it was logged (the key map was
    // read before the restart, by this process); on PostgreSQL it waits in
    // an urgent row for the fast lane. Either way it goes first.
    process_new_groups(&app.state().processor).await.unwrap();
    assert_eq!(
        backlog(&app).await,
        1,
        "the firing report went first; the older resolve waits"
    );
    process_pending(&app.state().processor).await.unwrap();
    let (_, alerts) = app.get("/api/v2/alerts").await;
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["status"]["state"], "active",
        "the newest report (firing) stands: {alerts:?}"
    );
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_ne!(incidents[0]["status"], "resolved");
}

/// 50 alerts of team db, older than 10,000 others: a filter finds all of
/// them, not only those among the newest 10,000 (which held none).
async fn a_filter_sees_past_the_newest_ten_thousand(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alert = |team: &str, i: usize, starts: &str| {
        json!({
            "labels": {"alertname": "NodeDown", "team": team, "instance": format!("n{i}")},
            "startsAt": starts,
        })
    };
    let db: Vec<Value> = (0..50)
        .map(|i| alert("db", i, "2026-11-23T09:00:00Z"))
        .collect();
    app.post("/api/v2/alerts", Value::Array(db)).await;
    for batch in 0..2 {
        let web: Vec<Value> = (0..5_000)
            .map(|i| alert("web", batch * 5_000 + i, "2026-11-23T09:30:00Z"))
            .collect();
        let (status, body) = app.post("/api/v2/alerts", Value::Array(web)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    let (status, all) = app.get("/api/v2/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&all), 10_050);
    let (_, db) = app.get("/api/v2/alerts?filter=team%3D%22db%22").await;
    assert_eq!(count(&db), 50, "every match, however old");
    let (_, groups) = app
        .get("/api/v2/alerts/groups?filter=team%3D%22db%22")
        .await;
    assert_eq!(count(&groups[0]["alerts"]), 50);
    let (_, some) = app
        .get("/api/v1/alerts?filter=team%3D%22db%22&limit=20")
        .await;
    assert_eq!(
        count(&some["items"]),
        20,
        "the limit applies after the filter"
    );
    let (_, all_db) = app
        .get("/api/v1/alerts?filter=team%3D%22db%22&limit=10000")
        .await;
    assert_eq!(count(&all_db["items"]), 50);
}

/// The door reads a request without copying it, and the merge weighs the
/// copy it logs: a refresh is answered at the door however its body spells
/// the same alert (names in another order, escapes, an empty URL for none,
/// another content type); a change of any kept field is logged.
async fn the_door_knows_a_refresh_however_it_is_spelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let processor = &app.state().processor;
    let starts = app.clock.now().to_string();
    let ends = |mins: i64| (app.clock.now() + jiff::SignedDuration::from_mins(mins)).to_string();
    let first = format!(
        r#"[{{"labels": {{"alertname": "DiskFull", "service": "db", "path": "/var\u002flib"}},
             "annotations": {{"summary": "disk \"full\"", "runbook": "r"}},
             "startsAt": "{starts}", "endsAt": "{}"}}]"#,
        ends(4)
    );
    let (status, body) = app
        .post_raw("/api/v2/alerts", "application/json", first)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    process_pending(processor).await.unwrap();
    assert_eq!(firing(&app).await, 1);
    app.advance_mins(1);
    let respelled = [
        (
            "application/json",
            format!(
                r#"[{{"endsAt": "{}", "generatorURL": "", "annotations": {{"runbook": "r", "summary": "disk \u0022full\u0022"}},
                     "labels": {{"service": "db", "path": "/var/lib", "alertname": "DiskFull"}}, "startsAt": "{starts}"}}]"#,
                ends(4)
            ),
        ),
        (
            "application/json; charset=utf-8",
            format!(
                r#"[{{"labels": {{"alertname": "DiskFull", "path": "/var/lib", "service": "db"}},
                     "annotations": {{"summary": "disk \"full\"", "runbook": "r"}},
                     "startsAt": "{starts}", "endsAt": "{}"}}]"#,
                ends(4)
            ),
        ),
    ];
    // Answered at the door, a refresh leaves the stored endsAt as it was;
    // logged and merged, it would move it on a minute.
    let stored_ends = || async {
        process_pending(processor).await.unwrap();
        let (_, alerts) = app.get("/api/v2/alerts").await;
        alerts[0]["endsAt"].as_str().unwrap().to_string()
    };
    let before = stored_ends().await;
    for (content_type, body) in respelled {
        let (status, got) = app.post_raw("/api/v2/alerts", content_type, body).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(
            stored_ends().await,
            before,
            "answered at the door ({content_type})"
        );
    }
    // Another annotation value is news, whatever the spelling.
    let changed = format!(
        r#"[{{"labels": {{"alertname": "DiskFull", "service": "db", "path": "/var/lib"}},
             "annotations": {{"summary": "disk full", "runbook": "r"}},
             "startsAt": "{starts}", "endsAt": "{}"}}]"#,
        ends(4)
    );
    let (status, got) = app
        .post_raw("/api/v2/alerts", "application/json", changed)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_ne!(
        stored_ends().await,
        before,
        "a changed annotation is logged"
    );
    let (_, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(alerts[0]["annotations"]["summary"], "disk full");
    assert_eq!(alerts[0]["labels"]["path"], "/var/lib");
}

on_both_backends!(
    a_flood_into_an_open_incident_is_recorded_by_the_merge,
    the_door_knows_a_refresh_however_it_is_spelled,
    a_new_group_overtakes_a_flood_backlog,
    an_older_report_merged_late_changes_nothing,
    a_filter_sees_past_the_newest_ten_thousand,
    the_fast_lane_and_the_batch_never_count_an_alert_twice,
    refreshes_keep_an_alert_firing_with_half_the_writes,
    a_refresh_racing_a_resolve_never_hides_it,
    a_restart_counts_the_log_it_finds_against_the_backlog,
);

/// A crash leaves reports in the log. The restarted process counts them
/// from its first request (the limit that answers 429 reads this count, and
/// `/metrics` shows it), not only once its merger has drained them.
async fn a_restart_counts_the_log_it_finds_against_the_backlog(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    for batch in 0..3 {
        let (status, body) = app.post("/api/v2/alerts", flood_batch(batch, 100)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(app.state().ingest.backlog(), 300);
    app.restart().await;
    assert_eq!(backlog(&app).await, 300, "nothing was merged");
    assert_eq!(
        app.state().ingest.backlog(),
        300,
        "and the new process knows"
    );
    process_pending(&app.state().processor).await.unwrap();
    assert_eq!(app.state().ingest.backlog(), 0);
}

/// Prometheus's pattern: an alert re-sent every minute with `endsAt` four
/// minutes ahead. Refreshes are answered at the door while the stored
/// `endsAt` keeps more than half that lead, so one in two is written, and
/// the alert never lapses meanwhile. On SQLite that write is the end moved
/// in place, with no log row; on PostgreSQL the refresh is logged. When the
/// sender stops, it resolves.
async fn refreshes_keep_an_alert_firing_with_half_the_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let processor = &app.state().processor;
    let starts = app.clock.now();
    let report = |now: jiff::Timestamp| {
        json!([{
            "labels": {"alertname": "DiskFull", "service": "db", "severity": "critical"},
            "annotations": {"summary": "disk full"},
            "startsAt": starts.to_string(),
            "endsAt": (now + jiff::SignedDuration::from_mins(4)).to_string(),
        }])
    };
    let stored_ends = || async {
        let (_, alerts) = app.get("/api/v2/alerts").await;
        alerts[0]["endsAt"].as_str().unwrap().to_string()
    };
    let (status, body) = app.post("/api/v2/alerts", report(starts)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    process_pending(processor).await.unwrap();
    let (mut logged, mut written) = (0, 0);
    let mut ends = stored_ends().await;
    for _ in 0..30 {
        app.advance_mins(1);
        let (status, body) = app.post("/api/v2/alerts", report(app.clock.now())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        logged += backlog(&app).await;
        process_pending(processor).await.unwrap();
        let incidents = app.incidents().await;
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert_eq!(incidents[0]["alerts_firing"], 1, "the alert never lapsed");
        assert_eq!(incidents[0]["alerts_total"], 1, "nor fired anew");
        let now_ends = stored_ends().await;
        if now_ends != ends {
            written += 1;
            ends = now_ends;
        }
    }
    assert_eq!(written, 15, "refreshes written");
    let expected_logged = match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 15,
    };
    assert_eq!(logged, expected_logged, "refreshes logged");
    // What reads show is the last stored endsAt: at most two minutes old.
    let (_, alerts) = app.get("/api/v2/alerts").await;
    let ends: jiff::Timestamp = alerts[0]["endsAt"].as_str().unwrap().parse().unwrap();
    let ahead = ends.duration_since(app.clock.now());
    assert!(
        ahead >= jiff::SignedDuration::from_mins(3),
        "stored endsAt {ends}"
    );
    // The sender stops: the stored endsAt passes and the alert resolves.
    app.advance_mins(5);
    process_pending(processor).await.unwrap();
    assert_eq!(app.incidents().await[0]["alerts_firing"], 0);
}

/// A resolve is never absorbed, and a refresh sent after it is not either
/// until the resolve is merged: the sender's last word stands.
async fn a_refresh_racing_a_resolve_never_hides_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let processor = &app.state().processor;
    let starts = app.clock.now();
    let report = |ends: jiff::Timestamp| {
        json!([{
            "labels": {"alertname": "DiskFull", "service": "db", "severity": "critical"},
            "startsAt": starts.to_string(),
            "endsAt": ends.to_string(),
        }])
    };
    let in_mins = |m| app.clock.now() + jiff::SignedDuration::from_mins(m);
    app.post("/api/v2/alerts", report(in_mins(4))).await;
    process_pending(processor).await.unwrap();
    app.advance_mins(1);
    // Absorbed: a refresh of the stored state.
    app.post("/api/v2/alerts", report(in_mins(4))).await;
    assert_eq!(backlog(&app).await, 0);
    // The resolve goes to the log; so does a refresh right behind it (a
    // stale sender), though the door knew the alert as firing.
    app.post("/api/v2/alerts", report(app.clock.now())).await;
    assert_eq!(backlog(&app).await, 1, "a resolve is logged");
    app.post("/api/v2/alerts", report(in_mins(4))).await;
    assert_eq!(backlog(&app).await, 2, "a refresh after it is logged too");
    // Merged in order, the later report stands: firing again.
    process_pending(processor).await.unwrap();
    assert_eq!(firing(&app).await, 1);
    // A resolve after that is logged too, and resolves.
    app.advance_mins(1);
    app.post("/api/v2/alerts", report(app.clock.now())).await;
    assert_eq!(backlog(&app).await, 1);
    process_pending(processor).await.unwrap();
    assert_eq!(firing(&app).await, 0);

    // Near the stored end, a refresh is written in place on SQLite. A
    // resolve right behind it, still in the log, stands once merged; and a
    // refresh that arrives after the end has passed is logged, never
    // written in place over a resolved alert.
    app.advance_mins(1);
    app.post("/api/v2/alerts", report(in_mins(4))).await;
    process_pending(processor).await.unwrap();
    app.advance_mins(3);
    let (status, body) = app.post("/api/v2/alerts", report(in_mins(4))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let in_place = backlog(&app).await == 0;
    assert_eq!(in_place, backend == Backend::Sqlite, "written in place");
    app.post("/api/v2/alerts", report(app.clock.now())).await;
    process_pending(processor).await.unwrap();
    assert_eq!(firing(&app).await, 0, "the resolve behind it stands");
    app.advance_mins(1);
    app.post("/api/v2/alerts", report(in_mins(4))).await;
    process_pending(processor).await.unwrap();
    assert_eq!(firing(&app).await, 1);
    app.advance_mins(5);
    app.post("/api/v2/alerts", report(in_mins(4))).await;
    assert!(backlog(&app).await > 0, "after the stored end: logged");
    process_pending(processor).await.unwrap();
    assert_eq!(firing(&app).await, 1, "firing anew");
}

/// Alerts firing, as Alertmanager's API lists them.
async fn firing(app: &TestApp) -> usize {
    let (status, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    alerts.as_array().unwrap().len()
}

/// The fast lane and the batch run at once over the same groups: new groups'
/// first reports (urgent) and their later reports (the batch's) interleave.
/// However their rounds overlap, each group opens one incident and each
/// alert is counted on it once.
async fn the_fast_lane_and_the_batch_never_count_an_alert_twice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let processor = &app.state().processor;
    let alerts = |group: usize, from: usize, n: usize| {
        Value::Array(
            (from..from + n)
                .map(|i| {
                    json!({"labels": {
                        "alertname": format!("Group{group}"), "severity": "critical",
                        "instance": format!("node-{i}"),
                    }})
                })
                .collect(),
        )
    };
    let (groups, rounds) = (12, 4);
    for round in 0..rounds {
        // Old groups' news for the batch, and new groups for the fast lane
        // (a group's first request is urgent, its later ones are not).
        for group in 0..(round + 1) * groups / rounds {
            let (status, body) = app
                .post("/api/v2/alerts", alerts(group, round * 30, 30))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (batch, fast) = tokio::join!(process_pending(processor), process_new_groups(processor));
        batch.unwrap();
        fast.unwrap();
    }
    process_pending(processor).await.unwrap();
    let incidents = app.incidents().await;
    assert_eq!(
        incidents.len(),
        groups,
        "one incident per group: {incidents:?}"
    );
    for incident in &incidents {
        // Group g was first posted in round g * rounds / groups.
        let title = incident["title"].as_str().unwrap();
        let group: usize = title
            .trim_start_matches("Group")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let first = group * rounds / groups;
        assert_eq!(
            incident["alerts_total"],
            (rounds - first) * 30,
            "each alert counted once: {incident}"
        );
    }
}
