//! Alerts in: the Alertmanager v2 API, dedup, grouping, resolution, silences
//! and maintenance, end to end through the real server on both backends.
//! The alert processor is driven by hand (`process_pending`) with the manual
//! clock, so "the alert expires after endsAt" takes no waiting.

mod common;

use common::{Backend, TestApp, assert_error};
use firebell_server::clock::Clock as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    an_alert_opens_an_incident_with_its_alerts,
    s002_capture_metadata,
    repeats_deduplicate_and_groups_share_one_incident,
    a_storm_into_one_group_is_one_incident_with_a_small_timeline,
    alerts_resolve_by_report_and_by_expiry,
    silences_work_through_the_alertmanager_api,
    silenced_and_maintenance_alerts_are_kept_but_open_nothing,
    a_silence_that_lapsed_while_the_server_was_down_lets_its_alert_open,
    invalid_alerts_are_refused_whole_naming_index_and_field,
    an_odd_annotation_never_blocks_the_processor,
    s004_maintenance_mode,
    s003_maintenance_scheduled,
    s003_maintenance_emergency,
    logged_alerts_survive_a_restart_before_they_are_merged,
    status_and_receivers_answer_like_alertmanager,
    basic_auth_works_for_prometheus,
);

/// The incident's running counts (kept from its events) equal what the
/// store counts over its alerts: the processor's arithmetic never drifts.
async fn assert_counts_agree(app: &TestApp, incident: &Value) {
    let id = incident["id"].as_str().unwrap();
    let (_, alerts) = app.get(&format!("/api/v1/incidents/{id}/alerts")).await;
    assert_eq!(incident["alerts_total"], alerts["total"], "total of {id}");
    assert_eq!(
        incident["alerts_firing"], alerts["firing"],
        "firing of {id}"
    );
}

fn alert(name: &str, service: &str, severity: &str) -> Value {
    json!({
        "labels": {"alertname": name, "service": service, "severity": severity},
        "annotations": {"summary": format!("{name} on {service}")},
        "startsAt": "2026-11-23T09:59:00Z",
        "endsAt": "2026-11-23T10:04:00Z",
        "generatorURL": "http://prometheus.local/graph?g0.expr=up"
    })
}

/// A silence that ends while the server is down: the first round after the
/// restart finds it stored and no longer active, and re-examines the alert
/// it held back, which opens its incident.
async fn a_silence_that_lapsed_while_the_server_was_down_lets_its_alert_open(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (status, s) = app
        .post(
            "/api/v1/silences",
            json!({"matchers": "alertname=\"DiskFull\"", "duration": "1h", "comment": "upgrade"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let mut firing = alert("DiskFull", "api", "critical");
    firing["endsAt"] = json!("2026-11-23T18:00:00Z");
    let (status, body) = post_alerts(&app, json!([firing])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.process().await;
    assert!(app.incidents().await.is_empty(), "silenced");
    app.restart().await;
    app.advance_mins(90);
    let round = app.process().await;
    assert_eq!(round.declared, 1, "{round:?}");
    let open = app.incidents().await;
    assert_eq!(open.len(), 1, "{open:?}");
}

async fn post_alerts(app: &TestApp, alerts: Value) -> (StatusCode, Value) {
    app.post("/api/v2/alerts", alerts).await
}

async fn an_alert_opens_an_incident_with_its_alerts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) =
        post_alerts(&app, json!([alert("HighErrorRate", "api", "critical")])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.process().await.declared, 1);
    let list = app.incidents().await;
    assert_eq!(list.len(), 1);
    let inc = &list[0];
    assert_eq!(
        inc["severity"], "P1",
        "severity=critical routes to P1 in the demo policy"
    );
    assert_eq!(inc["services"], json!(["api"]));
    assert_eq!(
        inc["title"], "HighErrorRate on api",
        "the summary annotation titles it"
    );
    assert_eq!(inc["declared_by"], "alerts");
    assert_eq!(inc["alerts_firing"], 1);
    let (_, v) = app
        .get(&format!(
            "/api/v1/incidents/{}",
            inc["id"].as_str().unwrap()
        ))
        .await;
    let types: Vec<_> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // The demo pages its on-call engineer in the declaring write.
    assert_eq!(types, ["declared", "alerts_changed", "escalated"]);
    assert_eq!(app.process().await.alerts, 0, "nothing left pending");
}

/// s002.capture-metadata: an incident records its start time, its alerts and
/// the affected services without anyone typing them.
async fn s002_capture_metadata(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = alert("HighErrorRate", "api", "critical");
    a["labels"]["instance"] = json!("api-1");
    let mut b = alert("HighErrorRate", "api", "critical");
    b["labels"]["instance"] = json!("api-2");
    b["startsAt"] = json!("2026-11-23T09:58:00Z");
    post_alerts(&app, json!([a, b])).await;
    app.process().await;
    let list = app.incidents().await;
    assert_eq!(list.len(), 1, "one group, one incident");
    let inc = list[0].clone();
    let id = inc["id"].as_str().unwrap();
    assert_eq!(
        inc["detected_at"], "2026-11-23T09:58:00Z",
        "start time: the earliest alert's startsAt"
    );
    assert_eq!(
        inc["services"],
        json!(["api"]),
        "affected services from routing"
    );
    let (status, alerts) = app.get(&format!("/api/v1/incidents/{id}/alerts")).await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    assert_eq!(
        (alerts["total"].as_u64(), alerts["firing"].as_u64()),
        (Some(2), Some(2))
    );
    let instances: Vec<_> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["instance"].as_str().unwrap())
        .collect();
    assert!(
        instances.contains(&"api-1") && instances.contains(&"api-2"),
        "{instances:?}"
    );
    assert!(
        alerts["items"][0]["generator_url"]
            .as_str()
            .unwrap()
            .starts_with("http://prometheus.local")
    );
}

async fn repeats_deduplicate_and_groups_share_one_incident(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    post_alerts(&app, json!([alert("HighErrorRate", "api", "critical")])).await;
    app.process().await;
    // Prometheus re-sends while firing: same labels, later endsAt.
    app.advance_mins(1);
    let mut again = alert("HighErrorRate", "api", "critical");
    again["endsAt"] = json!("2026-11-23T10:05:00Z");
    post_alerts(&app, json!([again])).await;
    let round = app.process().await;
    assert_eq!(
        (round.declared, round.updated),
        (0, 0),
        "a refresh is no news"
    );
    // Another alert of the same group (same alertname) on another instance attaches.
    let mut other = alert("HighErrorRate", "api", "critical");
    other["labels"]["instance"] = json!("api-2");
    post_alerts(&app, json!([other])).await;
    assert_eq!(app.process().await.updated, 1);
    let list = app.incidents().await;
    assert_eq!(list.len(), 1, "one incident for the group");
    assert_eq!(list[0]["alerts_total"], 2);
    let (_, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(
        alerts.as_array().unwrap().len(),
        2,
        "two distinct alerts, not three"
    );
}

async fn a_storm_into_one_group_is_one_incident_with_a_small_timeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for batch in 0..10 {
        let alerts: Vec<Value> = (0..200)
            .map(|i| {
                let mut a = alert("NodeDown", "api", "critical");
                a["labels"]["instance"] = json!(format!("node-{batch}-{i}"));
                a
            })
            .collect();
        let (status, body) = post_alerts(&app, Value::Array(alerts)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if batch % 3 == 0 {
            app.process().await;
        }
    }
    app.process().await;
    let list = app.incidents().await;
    assert_eq!(list.len(), 1, "2,000 alerts in one group make one incident");
    assert_counts_agree(&app, &list[0]).await;
    assert_eq!(list[0]["alerts_total"], 2000);
    let (_, v) = app
        .get(&format!(
            "/api/v1/incidents/{}",
            list[0]["id"].as_str().unwrap()
        ))
        .await;
    let timeline = v["timeline"].as_array().unwrap();
    assert!(
        timeline.len() <= 6,
        "a handful of summary events, not 2,000: {}",
        timeline.len()
    );
    for e in timeline {
        assert!(
            e["sample"].as_array().is_none_or(|s| s.len() <= 5),
            "samples stay small"
        );
    }
}

async fn alerts_resolve_by_report_and_by_expiry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    post_alerts(
        &app,
        json!([
            alert("HighErrorRate", "api", "critical"),
            alert("DiskFull", "web", "critical")
        ]),
    )
    .await;
    app.process().await;
    let before = app.incidents().await;
    assert_eq!(before.len(), 2);

    // Resolved by report: endsAt in the past.
    let mut resolved = alert("HighErrorRate", "api", "critical");
    resolved["endsAt"] = json!("2026-11-23T10:00:00Z");
    post_alerts(&app, json!([resolved])).await;
    assert_eq!(app.process().await.updated, 1);
    // Resolved by expiry: DiskFull's endsAt (10:04) passes with no refresh.
    app.advance_mins(5);
    assert_eq!(
        app.process().await.updated,
        1,
        "the sweep notices the expired alert"
    );

    for inc in app.incidents().await {
        assert_counts_agree(&app, &inc).await;
        assert_eq!(inc["alerts_firing"], 0, "{inc}");
        let (_, v) = app
            .get(&format!(
                "/api/v1/incidents/{}",
                inc["id"].as_str().unwrap()
            ))
            .await;
        let last = v["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["type"], "alerts_changed");
        assert_eq!(
            last["all_resolved"], true,
            "the policy's default: note it, people decide"
        );
        assert_eq!(v["incident"]["status"], "investigating");
    }
    let (_, firing) = app.get("/api/v2/alerts").await;
    assert!(
        firing.as_array().unwrap().is_empty(),
        "resolved alerts leave the Alertmanager view"
    );
    // A new firing of the same alert after its incident resolves opens a new incident.
    let id = before[0]["id"].as_str().unwrap();
    app.post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    let mut refire = alert(
        before[0]["title"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap(),
        before[0]["services"][0].as_str().unwrap(),
        "critical",
    );
    refire["startsAt"] = json!("2026-11-23T10:05:00Z");
    refire["endsAt"] = json!("2026-11-23T10:30:00Z");
    post_alerts(&app, json!([refire])).await;
    assert_eq!(app.process().await.declared, 1);
    assert_eq!(app.incidents().await.len(), 3);
}

async fn silences_work_through_the_alertmanager_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, created) = app
        .post(
            "/api/v2/silences",
            json!({
                "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": false, "isEqual": true}],
                "startsAt": "2026-11-23T09:00:00Z",
                "endsAt": "2026-11-23T12:00:00Z",
                "createdBy": "alice",
                "comment": "disk being replaced"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["silenceID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID");
    let (_, s) = app.get(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["status"]["state"], "active");
    assert_eq!(
        s["startsAt"], "2026-11-23T10:00:00.000Z",
        "a start in the past means now"
    );
    assert_eq!(s["matchers"][0]["isEqual"], true);

    post_alerts(&app, json!([alert("DiskFull", "api", "critical")])).await;
    app.process().await;
    assert!(
        app.incidents().await.is_empty(),
        "a silenced alert opens no incident"
    );
    let (_, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id.clone()]));
    let (_, active_only) = app.get("/api/v2/alerts?silenced=false").await;
    assert!(active_only.as_array().unwrap().is_empty());
    let (_, filtered) = app
        .get("/api/v2/silences?filter=alertname%3D%22DiskFull%22")
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    let (_, none) = app
        .get("/api/v2/silences?filter=alertname%3D%22Other%22")
        .await;
    assert!(none.as_array().unwrap().is_empty());

    let del = app
        .http
        .delete(app.url(&format!("/api/v2/silence/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    let (_, s) = app.get(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["status"]["state"], "expired");
    let missing = app
        .get("/api/v2/silence/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND);
    assert!(
        missing.1.is_string(),
        "Alertmanager-style errors are bare JSON strings: {}",
        missing.1
    );
    let bad = app
        .post("/api/v2/silences", json!({"matchers": [], "startsAt": "2026-11-23T10:00:00Z", "endsAt": "2026-11-23T11:00:00Z", "createdBy": "a", "comment": "c"}))
        .await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST, "{}", bad.1);
}

async fn silenced_and_maintenance_alerts_are_kept_but_open_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, w) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "DB upgrade", "services": ["web"], "kind": "mode"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let (status, s) = app
        .post("/api/v1/silences", json!({"matchers": "alertname=\"Flappy\"", "duration": "2h", "comment": "known flapper"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["created_by"], "admin");

    post_alerts(
        &app,
        json!([
            alert("DiskFull", "web", "critical"),
            alert("Flappy", "api", "critical")
        ]),
    )
    .await;
    app.process().await;
    assert!(
        app.incidents().await.is_empty(),
        "neither opens an incident"
    );
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(
        alerts["items"].as_array().unwrap().len(),
        2,
        "both are kept and shown: {alerts}"
    );

    // When maintenance ends, an alert still firing is news again: it opens an
    // incident (as Alertmanager notifies once a silence lapses).
    let id = w["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/api/v1/maintenance/{id}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.process().await;
    let open = app.incidents().await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["services"], json!(["web"]));
    // The silence lapses by time: the Flappy alert is re-examined too, but it
    // expired (endsAt 10:04) before the silence did (12:00), so nothing opens.
    app.advance_mins(150);
    app.process().await;
    assert_eq!(app.incidents().await.len(), 1);
    assert_error(
        &app.post(
            "/api/v1/maintenance",
            json!({"title": "x", "services": ["nope"], "kind": "mode"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_service",
    );
    assert_error(
        &app.post(
            "/api/v1/silences",
            json!({"matchers": "alertname=~\"(\"", "duration": "1h", "comment": "x"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_matchers",
    );
}

async fn invalid_alerts_are_refused_whole_naming_index_and_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut bad_name = alert("A", "api", "critical");
    bad_name["labels"]["bad-name"] = json!("x");
    let (status, body) = post_alerts(&app, json!([alert("Ok", "api", "critical"), bad_name])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let msg = body.as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains("alerts[1].labels") && msg.contains("bad-name"),
        "{body}"
    );
    let (status, body) = post_alerts(&app, json!([{"labels": {}}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str().unwrap().contains("alerts[0].labels"),
        "{body}"
    );
    let mut backwards = alert("B", "api", "critical");
    backwards["endsAt"] = json!("2026-11-23T09:00:00Z");
    let (status, body) = post_alerts(&app, json!([backwards])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str().unwrap().contains("alerts[0].endsAt"),
        "{body}"
    );
    let mut huge = alert("C", "api", "critical");
    huge["labels"]["big"] = json!("x".repeat(5000));
    let (status, body) = post_alerts(&app, json!([huge])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str().unwrap().contains("alerts[0].labels.big"),
        "{body}"
    );
    let (status, _) = app
        .post_raw("/api/v2/alerts", "application/json", "[{")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let too_many: Vec<Value> = (0..5001)
        .map(|i| json!({"labels": {"alertname": format!("a{i}")}}))
        .collect();
    let (status, body) = post_alerts(&app, Value::Array(too_many)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, alerts) = app.get("/api/v1/alerts?all=true").await;
    assert!(
        alerts["items"].as_array().unwrap().is_empty(),
        "nothing from a refused request was stored: {alerts}"
    );
    // amtool's zero times mean "now" and "open-ended".
    let (status, _) = post_alerts(
        &app,
        json!([{"labels": {"alertname": "Manual"}, "startsAt": "0001-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(alerts[0]["startsAt"], "2026-11-23T10:00:00.000Z");
    assert_eq!(alerts[0]["endsAt"], "0001-01-01T00:00:00.000Z");
}

async fn status_and_receivers_answer_like_alertmanager(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, s) = app.get("/api/v2/status").await;
    assert_eq!(status, StatusCode::OK);
    for field in ["cluster", "versionInfo", "config", "uptime"] {
        assert!(!s[field].is_null(), "status lacks {field}: {s}");
    }
    assert_eq!(s["cluster"]["status"], "disabled");
    assert!(s["config"]["original"].is_string());
    let (status, r) = app.get("/api/v2/receivers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "firebell"),
        "{r}"
    );
    let (status, groups) = app.get("/api/v2/alerts/groups").await;
    assert_eq!((status, groups), (StatusCode::OK, json!([])));
}

async fn basic_auth_works_for_prometheus(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("prometheus", "responder").await;
    let resp = app
        .http
        .post(app.url("/api/v2/alerts"))
        .basic_auth("prometheus", Some(&token))
        .json(&json!([alert("X", "api", "critical")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let viewer = app.token("grafana", "viewer").await;
    let resp = app
        .http
        .post(app.url("/api/v2/alerts"))
        .bearer_auth(&viewer)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "viewers cannot send alerts"
    );
    let resp = app
        .http
        .get(app.url("/api/v2/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// Annotations are free text from senders: control characters (which the
/// incident core refuses in titles) must not make the alert a poison pill
/// that fails every processing round.
async fn an_odd_annotation_never_blocks_the_processor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut odd = alert("Bell", "api", "critical");
    odd["annotations"]["summary"] = json!("bell \u{7} in the summary");
    odd["annotations"]["description"] = json!("escape \u{1b}[31m red");
    let mut other = alert("Other", "web", "critical");
    other["annotations"]["summary"] = json!("  ");
    let (status, body) = post_alerts(&app, json!([odd, other])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.process().await.declared, 2);
    let titles: Vec<String> = app
        .incidents()
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles.contains(&"bell   in the summary".to_string()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"Other".to_string()),
        "a blank summary falls back to alertname: {titles:?}"
    );
}

/// s004.maintenance-mode: maintenance mode can be switched on for a service
/// and suppresses its alerts (kept and shown; no incident), and off again;
/// while on, the status page shows its components under maintenance.
async fn s004_maintenance_mode(backend: Backend) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/agent-factory.toml");
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(path)).await;
    let (status, w) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Supabase upgrade", "services": ["api"], "kind": "mode"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    assert!(
        w["ends_at"].is_null(),
        "maintenance mode lasts until switched off"
    );
    let (_, windows) = app.get("/api/v1/maintenance").await;
    assert_eq!(windows["items"][0]["kind"], "mode");
    let api_components = |components: &Value| -> Vec<String> {
        components["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["group_id"] == "api")
            .map(|c| c["status"].as_str().unwrap().to_string())
            .collect()
    };
    let shown = public_json(&app, "/status/api/v2/components.json").await;
    assert_eq!(
        api_components(&shown),
        ["under_maintenance", "under_maintenance"],
        "{shown}"
    );
    assert_eq!(
        public_json(&app, "/status/api/v2/status.json").await["status"]["indicator"],
        "maintenance"
    );

    let mut uptime =
        json!({"labels": {"alertname": "UptimeBelowTarget"}, "startsAt": "2026-11-23T09:59:00Z"});
    post_alerts(&app, json!([uptime.clone()])).await;
    app.process().await;
    assert!(
        app.incidents().await.is_empty(),
        "the api's alerts page nobody in maintenance mode"
    );
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(
        alerts["items"][0]["service"], "api",
        "kept and shown: {alerts}"
    );
    // A service not in maintenance still opens incidents.
    post_alerts(
        &app,
        json!([{"labels": {"alertname": "DatabasePoolSaturated", "severity": "P0"}}]),
    )
    .await;
    app.process().await;
    assert_eq!(app.incidents().await.len(), 1);

    let id = w["id"].as_str().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/maintenance/{id}/end"), json!({}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let shown = public_json(&app, "/status/api/v2/components.json").await;
    assert_eq!(
        api_components(&shown),
        ["operational", "operational"],
        "switched off: {shown}"
    );
    uptime["labels"]["instance"] = json!("api-2");
    post_alerts(&app, json!([uptime])).await;
    app.process().await;
    let services: Vec<Value> = app
        .incidents()
        .await
        .iter()
        .map(|i| i["services"].clone())
        .collect();
    assert!(
        services.contains(&json!(["api"])),
        "after maintenance the api pages again: {services:?}"
    );
}

/// Statuses of a Statuspage maintenance's posts, newest first.
fn posts_of(window: &Value) -> Vec<&str> {
    window["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect()
}

/// A status page document, read as a customer would: no token.
async fn public_text(app: &TestApp, path: &str) -> String {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

async fn public_json(app: &TestApp, path: &str) -> Value {
    serde_json::from_str(&public_text(app, path).await).unwrap()
}

/// s003.maintenance-scheduled, the parts that are Firebell's job: scheduled maintenance needs a week's notice (sooner is
/// refused; emergency maintenance needs none), suppresses paging for its
/// components while keeping their alerts, keeps planned and actual times,
/// and the hour after it is watched: an incident of its services opened then
/// is tagged `maintenance-watch` and names the window. The status page
/// announces it when it is scheduled and posts at its start, every 30
/// minutes while it runs, and at its end; emergency maintenance shows as
/// "Emergency maintenance in progress" (s003.maintenance-emergency has its
/// own test).
async fn s003_maintenance_scheduled(backend: Backend) {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dashflow.toml");
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(path)).await;
    let now: jiff::Timestamp = common::T0.parse().unwrap();
    let day = jiff::SignedDuration::from_hours(24);

    // Two days' notice is not a week's.
    let (status, refused) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Postgres 16 upgrade", "services": ["dashflow"], "kind": "scheduled",
                   "starts_at": (now + day * 2).to_string(), "duration": "2h"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "insufficient_notice", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("7d") && message.contains("emergency"),
        "{message}"
    );
    // Emergency maintenance cannot wait, so it needs no notice.
    let (status, emergency) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Hotfix", "services": ["dashflow", "vector-store"], "kind": "emergency", "duration": "30m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{emergency}");
    // s003.maintenance-emergency: the status page says what it is.
    let page = public_text(&app, "/status").await;
    assert!(page.contains("Emergency maintenance in progress"), "{page}");
    assert_eq!(
        public_json(&app, "/status/api/v2/components.json").await["components"][1]["status"],
        "under_maintenance"
    );

    let starts = now + day * 8;
    let (status, w) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Postgres 16 upgrade", "services": ["dashflow"], "kind": "scheduled",
                   "starts_at": starts.to_string(), "duration": "2h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let planned_end = starts + jiff::SignedDuration::from_hours(2);
    let at = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    assert_eq!(at(&w["planned_starts_at"]), starts);
    assert_eq!(at(&w["planned_ends_at"]), planned_end);
    // Announced on the status page as soon as it is scheduled.
    let upcoming = public_json(&app, "/status/api/v2/scheduled-maintenances/upcoming.json").await;
    let announced = &upcoming["scheduled_maintenances"][0];
    assert_eq!(announced["name"], "Postgres 16 upgrade", "{upcoming}");
    assert_eq!(at(&announced["scheduled_for"]), starts);
    assert_eq!(at(&announced["scheduled_until"]), planned_end);
    assert_eq!(posts_of(announced), ["scheduled"]);

    // During the window the dashflow's alerts page nobody, and are kept.
    app.clock
        .advance(day * 8 + jiff::SignedDuration::from_mins(10));
    let firing = json!({"labels": {"alertname": "HighErrorRate", "namespace": "prod"},
                        "startsAt": app.clock.now().to_string()});
    post_alerts(&app, json!([firing])).await;
    app.process().await;
    assert!(
        app.incidents().await.is_empty(),
        "maintenance suppresses paging"
    );
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(
        alerts["items"][0]["service"], "dashflow",
        "kept and shown: {alerts}"
    );

    // Done early, after 40 minutes: actual and planned are both on record.
    app.advance_mins(30);
    // Meanwhile the page posted its start and, 30 minutes in, a progress post.
    let active = public_json(&app, "/status/api/v2/scheduled-maintenances/active.json").await;
    let running = &active["scheduled_maintenances"][0];
    assert_eq!(running["status"], "in_progress", "{active}");
    assert_eq!(
        posts_of(running),
        ["in_progress", "in_progress", "scheduled"]
    );
    assert!(
        running["incident_updates"][0]["body"]
            .as_str()
            .unwrap()
            .ends_with("(30 min)"),
        "{running}"
    );
    assert_eq!(
        public_json(&app, "/status/api/v2/components.json").await["components"][1]["status"],
        "under_maintenance"
    );
    let id = w["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/api/v1/maintenance/{id}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ended_at = app.clock.now();
    let (_, windows) = app.get("/api/v1/maintenance").await;
    let ended = windows["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == w["id"])
        .unwrap();
    assert_eq!(at(&ended["ends_at"]), ended_at, "actual end");
    assert_eq!(
        at(&ended["planned_ends_at"]),
        planned_end,
        "planned end kept"
    );
    assert_eq!(
        at(&ended["ends_at"]).duration_since(at(&ended["starts_at"])),
        jiff::SignedDuration::from_mins(40),
        "actual duration 40 min, planned 2 h"
    );
    // ... and the page posted its completion.
    let all = public_json(&app, "/status/api/v2/scheduled-maintenances.json").await;
    let done = all["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == w["id"])
        .unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(
        posts_of(done),
        ["completed", "in_progress", "in_progress", "scheduled"]
    );

    // The hour after is watched: the alert still firing now pages, and the
    // incident says the maintenance may be the cause.
    app.process().await;
    let list = app.incidents().await;
    assert_eq!(list.len(), 1, "after maintenance the dashflow pages again");
    assert_eq!(list[0]["tags"], json!(["maintenance-watch"]), "{}", list[0]);
    let (_, incident) = app
        .get(&format!(
            "/api/v1/incidents/{}",
            list[0]["id"].as_str().unwrap()
        ))
        .await;
    let summary = incident["incident"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("Postgres 16 upgrade") && summary.contains("1h"),
        "{incident}"
    );

    // After the watch, a new problem is just a problem.
    app.advance_mins(61);
    post_alerts(
        &app,
        json!([{"labels": {"alertname": "HighLatency", "namespace": "prod"},
                "startsAt": app.clock.now().to_string()}]),
    )
    .await;
    app.process().await;
    let later: Vec<Value> = app
        .incidents()
        .await
        .into_iter()
        .filter(|i| i["id"] != list[0]["id"])
        .collect();
    assert_eq!(later.len(), 1);
    // (It is tagged concurrent-incidents: the first is still open.)
    assert!(
        !later[0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "maintenance-watch"),
        "{}",
        later[0]
    );
}

/// A 2xx means the reports are in the ingest log: a restart before anything
/// merged them loses nothing, and the backlog is reported after it.
async fn logged_alerts_survive_a_restart_before_they_are_merged(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (status, body) = post_alerts(
        &app,
        json!([
            alert("HighErrorRate", "api", "critical"),
            alert("DiskFull", "web", "critical")
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.state().ingest.backlog(), 2, "logged, not merged yet");
    app.restart().await;
    assert_eq!(
        app.process().await.declared,
        2,
        "both became incidents after the restart"
    );
    assert_eq!(app.state().ingest.backlog(), 0);
    let (_, alerts) = app.get("/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 2);
}

/// s003.maintenance-emergency: emergency maintenance needs no notice, shows
/// as "Emergency maintenance in progress" on the status page, and requires
/// a review within 24 h: the window owes one from its creation, it is
/// overdue (loud in the API, the CLI and the console) 24 h after the window
/// ends, and recording it clears that. Scheduled windows owe none.
async fn s003_maintenance_emergency(backend: Backend) {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dashflow.toml");
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(path)).await;
    let now: jiff::Timestamp = common::T0.parse().unwrap();
    let at = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();

    let (status, w) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Hotfix for the ingest leak", "services": ["dashflow"],
                   "kind": "emergency", "duration": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let id = w["id"].as_str().unwrap().to_string();
    // Due 24 h after the window's end.
    assert_eq!(
        at(&w["review_due_at"]),
        now + jiff::SignedDuration::from_hours(25)
    );
    let page = public_text(&app, "/status").await;
    assert!(page.contains("Emergency maintenance in progress"), "{page}");

    let review_state = |list: &Value| -> String {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id.as_str())
            .map(|w| w["review_state"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (_, list) = app.get("/api/v1/maintenance").await;
    assert_eq!(review_state(&list), "due", "{list}");

    // A scheduled window owes no review.
    let (status, scheduled) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Planned upgrade", "services": ["dashflow"], "kind": "scheduled",
                   "starts_at": (now + jiff::SignedDuration::from_hours(24 * 8)).to_string(),
                   "duration": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{scheduled}");
    assert!(scheduled["review_due_at"].is_null(), "{scheduled}");
    let sid = scheduled["id"].as_str().unwrap();
    let (status, refused) = app
        .post(
            &format!("/api/v1/maintenance/{sid}/review"),
            json!({"summary": "nothing to say"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "review_not_required");

    // A day after the window ended, no review yet: overdue, and the console
    // says so.
    app.clock.advance(jiff::SignedDuration::from_hours(25));
    let (_, list) = app.get("/api/v1/maintenance").await;
    assert_eq!(review_state(&list), "overdue", "{list}");
    let html = app.console_page("/maintenance").await;
    assert!(html.contains("Review overdue"), "{html}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("firebell_maintenance_reviews_overdue 1"),
        "{metrics}"
    );

    // An empty review is refused; a real one is recorded with who and when.
    let path = format!("/api/v1/maintenance/{id}/review");
    let (status, refused) = app.post(&path, json!({"summary": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, reviewed) = app
        .post(
            &path,
            json!({"summary": "The leak could not wait a week; add a heap alert at 80 %."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");
    assert_eq!(reviewed["review_state"], "done");
    assert_eq!(reviewed["review"]["by"], "admin");
    assert_eq!(at(&reviewed["review"]["at"]), app.clock.now());
    let (status, again) = app.post(&path, json!({"summary": "twice"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "already_reviewed");
    let html = app.console_page("/maintenance").await;
    assert!(
        !html.contains("Review overdue") && html.contains("Reviewed by admin"),
        "{html}"
    );
}
