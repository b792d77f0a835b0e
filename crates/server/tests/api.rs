//! The JSON API end to end: the real server on an ephemeral port, a fresh
//! database per test, the demo policy, a manual clock. Every test runs on
//! SQLite and on PostgreSQL (when `FIREBELL_TEST_DATABASE_URL` is set).

mod common;

use common::{Backend, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    ops_endpoints_need_no_token,
    every_api_route_needs_a_valid_token,
    viewers_read_responders_act_admins_manage_tokens,
    declare_mints_daily_ids_and_shows_the_timeline,
    list_filters_and_paginates,
    every_command_lands_on_the_timeline,
    malformed_input_is_rejected_and_writes_nothing,
    commands_on_a_resolved_incident_are_refused,
    concurrent_commands_at_one_version_conflict,
    state_survives_a_restart,
    policy_and_openapi_are_served,
    policy_reload_keeps_the_old_policy_when_the_new_one_is_broken,
    a_policy_file_put_back_clears_the_reload_error,
    a_changed_policy_file_is_picked_up_by_the_watcher,
);

async fn ops_endpoints_need_no_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, ready) =
        common::decode(app.http.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["database"]["ok"], true);
    assert_eq!(
        ready["database"]["backend"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    app.declare(json!({"title": "x", "severity": "P1"})).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("firebell_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("firebell_incidents{status=\"investigating\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("firebell_store_operation_seconds"),
        "{metrics}"
    );
}

async fn every_api_route_needs_a_valid_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let no_token = common::decode(
        app.http
            .get(app.url("/api/v1/incidents"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let msg = assert_error(&no_token, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(msg.contains("Authorization"), "{msg}");
    let bad = app.get_as("fb_not-a-real-token", "/api/v1/incidents").await;
    assert_error(&bad, StatusCode::UNAUTHORIZED, "unauthorized");
    for path in [
        "/api/v1/policy",
        "/api/v1/openapi.json",
        "/api/v1/incidents/INC-1",
        "/api/v1/tokens",
    ] {
        let r = common::decode(app.http.get(app.url(path)).send().await.unwrap()).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // A revoked token stops working at once.
    let secret = app.token("ci", "responder").await;
    assert_eq!(
        app.get_as(&secret, "/api/v1/incidents").await.0,
        StatusCode::OK
    );
    let (_, tokens) = app.get("/api/v1/tokens").await;
    assert_eq!(tokens["next_cursor"], Value::Null, "{tokens}");
    let id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let del = app
        .http
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_error(
        &app.get_as(&secret, "/api/v1/incidents").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

async fn viewers_read_responders_act_admins_manage_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.token("dashboard", "viewer").await;
    let responder = app.token("alice", "responder").await;
    let id = app.declare(json!({"title": "x", "severity": "P2"})).await;

    assert_eq!(
        app.get_as(&viewer, &format!("/api/v1/incidents/{id}"))
            .await
            .0,
        StatusCode::OK
    );
    let denied = app
        .post_as(
            &viewer,
            "/api/v1/incidents",
            json!({"title": "y", "severity": "P2"}),
        )
        .await;
    let msg = assert_error(&denied, StatusCode::FORBIDDEN, "forbidden");
    assert!(msg.contains("viewer") && msg.contains("responder"), "{msg}");
    assert_error(
        &app.post_as(
            &viewer,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let (status, acked) = app
        .post_as(
            &responder,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(
        acked["incident"]["acknowledged_by"], "alice",
        "the token name is the actor"
    );

    let r = app
        .post_as(
            &responder,
            "/api/v1/tokens",
            json!({"name": "sneaky", "role": "admin"}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    assert_error(
        &app.get_as(&responder, "/api/v1/tokens").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let dup = app
        .post("/api/v1/tokens", json!({"name": "alice", "role": "viewer"}))
        .await;
    assert_error(&dup, StatusCode::CONFLICT, "duplicate_token");
    let bad_role = app
        .post("/api/v1/tokens", json!({"name": "z", "role": "root"}))
        .await;
    assert_error(&bad_role, StatusCode::BAD_REQUEST, "invalid_body");
}

async fn declare_mints_daily_ids_and_shows_the_timeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, v) = app
        .post(
            "/api/v1/incidents",
            json!({
                "title": "Checkout failing", "severity": "p1", "summary": "5xx on /checkout",
                "services": ["api"], "tags": ["customer-facing"], "commander": "alice",
                "detected_at": "2026-11-23T09:55:00Z"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let inc = &v["incident"];
    assert_eq!(inc["id"], "INC-20261123-001");
    assert_eq!(inc["severity"], "P1", "severity names are canonicalised");
    assert_eq!(inc["status"], "investigating");
    assert_eq!(inc["detected_at"], "2026-11-23T09:55:00Z");
    assert_eq!(inc["declared_at"], "2026-11-23T10:00:00Z");
    assert_eq!(inc["roles"]["incident_commander"], json!(["alice"]));
    // Declared, commander assigned, and the demo's first escalation step
    // (it pages the on-call engineer) in the same write.
    assert_eq!(inc["version"], 3);

    assert_eq!(
        app.declare(json!({"title": "second", "severity": "P3"}))
            .await,
        "INC-20261123-002"
    );
    app.advance_mins(24 * 60);
    assert_eq!(
        app.declare(json!({"title": "next day", "severity": "P3"}))
            .await,
        "INC-20261124-001"
    );

    let (status, shown) = app.get("/api/v1/incidents/INC-20261123-001").await;
    assert_eq!(status, StatusCode::OK);
    let types: Vec<_> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["declared", "role_assigned", "escalated"]);
    assert_eq!(shown["timeline"][0]["seq"], 1);
    assert_eq!(shown["timeline"][0]["actor"], "admin");
    assert_eq!(shown["timeline"][0]["services"], json!(["api"]));

    assert_error(
        &app.get("/api/v1/incidents/INC-20990101-001").await,
        StatusCode::NOT_FOUND,
        "incident_not_found",
    );
}

async fn list_filters_and_paginates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for (i, (sev, service)) in [
        ("P0", "api"),
        ("P1", "web"),
        ("P2", "api"),
        ("P3", "web"),
        ("P1", "api"),
    ]
    .iter()
    .enumerate()
    {
        ids.push(
            app.declare(
                json!({"title": format!("incident {i}"), "severity": sev, "services": [service]}),
            )
            .await,
        );
        app.advance_mins(10);
    }
    let (s, _) = app
        .post(&format!("/api/v1/incidents/{}/resolve", ids[1]), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);

    let list_ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = app.get("/api/v1/incidents").await;
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(list_ids(&all), newest_first);

    let (_, p1) = app.get("/api/v1/incidents?severity=P1").await;
    assert_eq!(list_ids(&p1), [ids[4].clone(), ids[1].clone()]);
    let (_, open) = app.get("/api/v1/incidents?status=open").await;
    assert_eq!(list_ids(&open).len(), 4);
    let (_, resolved) = app.get("/api/v1/incidents?status=resolved").await;
    assert_eq!(list_ids(&resolved), [ids[1].clone()]);
    let (_, api) = app
        .get("/api/v1/incidents?service=api&severity=P0,P2")
        .await;
    assert_eq!(list_ids(&api), [ids[2].clone(), ids[0].clone()]);
    let (_, window) = app
        .get("/api/v1/incidents?since=2026-11-23T10:10:00Z&until=2026-11-23T10:30:00Z")
        .await;
    assert_eq!(list_ids(&window), [ids[2].clone(), ids[1].clone()]);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?limit=2&cursor={c}"),
            None => "/api/v1/incidents?limit=2".to_string(),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(list_ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen, newest_first,
        "pages cover every incident once, in order"
    );

    assert_error(
        &app.get("/api/v1/incidents?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_error(
        &app.get("/api/v1/incidents?limit=lots").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_error(
        &app.get("/api/v1/incidents?status=sleeping").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_error(
        &app.get("/api/v1/incidents?severity=P9").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_severity",
    );
    assert_error(
        &app.get("/api/v1/incidents?since=yesterday").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_error(
        &app.get("/api/v1/incidents?cursor=%%%").await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
}

async fn every_command_lands_on_the_timeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "DB down", "severity": "P1", "services": ["api"]}))
        .await;
    let cmd = |path: &str, body: Value| {
        let path = format!("/api/v1/incidents/{id}/{path}");
        let app = &app;
        async move {
            let (status, v) = app.post(&path, body).await;
            assert_eq!(status, StatusCode::OK, "{path}: {v}");
            v
        }
    };
    cmd("acknowledge", json!({})).await;
    let v = cmd("roles", json!({"role": "IC", "person": "alice"})).await;
    assert_eq!(
        v["incident"]["roles"]["incident_commander"],
        json!(["alice"]),
        "roles resolve by short name"
    );
    cmd("roles", json!({"role": "scribe", "person": "sara"})).await;
    cmd(
        "roles/unassign",
        json!({"role": "scribe", "person": "sara"}),
    )
    .await;
    let v = cmd("updates", json!({"status": "identified", "message": "Primary is out of disk", "visibility": "public"})).await;
    assert_eq!(v["incident"]["status"], "identified");
    assert!(v["incident"]["last_public_update_at"].is_string());
    let v = cmd("updates", json!({"template": "update", "locale": "ar", "vars": {"eta": "30m", "progress": "failover"}})).await;
    assert_eq!(v["events"][0]["direction"], "rtl");
    assert_eq!(v["events"][0]["locale"], "ar");
    let v = cmd(
        "severity",
        json!({"severity": "P0", "reason": "all regions"}),
    )
    .await;
    assert_eq!(v["events"][0]["from"], "P1");
    cmd("notes", json!({"text": "snapshot taken before failover"})).await;
    cmd("handoff", json!({"to": "omar", "level": "L2", "summary": "restarted pods", "next_steps": "failover DB"})).await;
    let v = cmd(
        "updates",
        json!({"status": "mitigated", "message": "failed over"}),
    )
    .await;
    assert!(v["incident"]["mitigated_at"].is_string());
    cmd("resolve", json!({"summary": "disk grown"})).await;
    cmd(
        "notes",
        json!({"text": "notes are still allowed after resolution"}),
    )
    .await;
    let v = cmd("reopen", json!({"reason": "disk filled again"})).await;
    assert_eq!(v["incident"]["status"], "investigating");
    assert!(v["incident"]["resolved_at"].is_null());
    assert!(
        v["incident"]["acknowledged_at"].is_null(),
        "a reopened incident is unacknowledged again, so its ladder pages"
    );

    let (_, shown) = app.get(&format!("/api/v1/incidents/{id}")).await;
    let timeline = shown["timeline"].as_array().unwrap();
    let types: Vec<_> = timeline
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "declared",
            "escalated",
            "acknowledged",
            "role_assigned",
            "role_assigned",
            "role_unassigned",
            "status_updated",
            "status_updated",
            "severity_changed",
            "note_added",
            "handed_off",
            "status_updated",
            "resolved",
            // The P0's resolution opened its postmortem.
            "postmortem_opened",
            "note_added",
            "reopened"
        ]
    );
    let seqs: Vec<_> = timeline
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>(), "gap-free sequence");
    assert_eq!(shown["incident"]["version"], 16);
    let handoff = &timeline[10];
    assert!(
        handoff["message"]
            .as_str()
            .unwrap()
            .starts_with("HANDOFF: Incident now owned by"),
        "{handoff}"
    );
    assert_eq!(
        shown["incident"]["roles"]["incident_commander"],
        json!(["omar"]),
        "the new owner holds the role"
    );
}

async fn malformed_input_is_rejected_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.declare(json!({"title": "x", "severity": "P2"})).await;
    let show = format!("/api/v1/incidents/{id}");
    let before = app.get(&show).await.1["incident"]["version"].clone();

    let r = app
        .post_raw("/api/v1/incidents", "application/json", "{\"title\": ")
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "malformed_json");
    let r = app
        .post_raw("/api/v1/incidents", "text/plain", "title=x")
        .await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let r = app.post("/api/v1/incidents", json!({"title": "x"})).await;
    let msg = assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    assert!(msg.contains("severity"), "names the missing field: {msg}");
    let r = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "P1", "sevrity": "P2"}),
        )
        .await;
    let msg = assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    assert!(msg.contains("sevrity"), "names the unknown field: {msg}");
    let r = app
        .post("/api/v1/incidents", json!({"title": 5, "severity": "P1"}))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    let r = app
        .post("/api/v1/incidents", json!({"title": "x", "severity": "P7"}))
        .await;
    let msg = assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_severity");
    assert!(
        msg.contains("P0") && msg.contains("P7"),
        "lists what exists: {msg}"
    );
    let r = app
        .post(
            "/api/v1/incidents",
            json!({"title": "  ", "severity": "P1"}),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "missing_field");
    let r = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "P1", "services": ["nope"]}),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_service");
    let r = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "P1", "detected_at": "2027-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_detected_at");
    let r = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "P1", "detected_at": "noonish"}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_body");
    let big = format!(
        "{{\"title\": \"{}\", \"severity\": \"P1\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let r = app
        .post_raw("/api/v1/incidents", "application/json", big)
        .await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // The body was not read, so the server closes that connection and says so;
    // the next request must not fail on a reused, dead socket.
    let raw = app
        .http
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await;
    if let Ok(resp) = raw {
        assert_eq!(
            resp.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
    }

    let base = format!("/api/v1/incidents/{id}");
    assert_error(
        &app.post(
            &format!("{base}/roles"),
            json!({"role": "pilot", "person": "alice"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_role",
    );
    assert_error(
        &app.post(
            &format!("{base}/roles"),
            json!({"role": "IC", "person": "mallory"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_person",
    );
    assert_error(
        &app.post(
            &format!("{base}/updates"),
            json!({"status": "sleeping", "message": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &app.post(&format!("{base}/updates"), json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    assert_error(
        &app.post(&format!("{base}/updates"), json!({"template": "nope"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_template",
    );
    assert_error(
        &app.post(
            &format!("{base}/updates"),
            json!({"template": "update", "locale": "fr"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_locale",
    );
    assert_error(
        &app.post(
            &format!("{base}/severity"),
            json!({"severity": "P2", "reason": "same"}),
        )
        .await,
        StatusCode::CONFLICT,
        "severity_unchanged",
    );
    assert_error(
        &app.post(
            &format!("{base}/severity"),
            json!({"severity": "P1", "reason": ""}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_field",
    );
    assert_error(
        &app.post(&format!("{base}/checklist/tick"), json!({"item": "nope"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_checklist_item",
    );
    assert_error(
        &app.post(&format!("{base}/reopen"), json!({"reason": "x"}))
            .await,
        StatusCode::CONFLICT,
        "incident_open",
    );
    assert_error(
        &app.post("/api/v1/incidents/INC-20990101-001/acknowledge", json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "incident_not_found",
    );
    assert_error(
        &app.post(
            &format!("{base}/acknowledge"),
            json!({"expected_version": 99}),
        )
        .await,
        StatusCode::CONFLICT,
        "version_conflict",
    );
    assert_error(
        &app.get("/api/v1/nowhere").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    assert_eq!(
        app.get(&show).await.1["incident"]["version"],
        before,
        "no refused request wrote anything"
    );
    let (_, all) = app.get("/api/v1/incidents").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "no refused declaration created an incident"
    );
}

async fn commands_on_a_resolved_incident_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.declare(json!({"title": "x", "severity": "P2"})).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "message": "fixed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for (path, body) in [
        ("acknowledge", json!({})),
        ("roles", json!({"role": "IC", "person": "alice"})),
        ("updates", json!({"message": "more"})),
        ("severity", json!({"severity": "P1", "reason": "r"})),
        (
            "handoff",
            json!({"to": "omar", "summary": "s", "next_steps": "n"}),
        ),
        ("resolve", json!({})),
    ] {
        let r = app
            .post(&format!("/api/v1/incidents/{id}/{path}"), body)
            .await;
        let msg = assert_error(&r, StatusCode::CONFLICT, "incident_resolved");
        assert!(msg.contains("reopen"), "{path}: {msg}");
    }
}

async fn concurrent_commands_at_one_version_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.declare(json!({"title": "x", "severity": "P1"})).await;
    let (_, shown) = app.get(&format!("/api/v1/incidents/{id}")).await;
    let version = shown["incident"]["version"].as_u64().unwrap();
    let path = format!("/api/v1/incidents/{id}/notes");
    for round in 0..5 {
        let v = version + round;
        let (a, b) = tokio::join!(
            app.post(
                &path,
                json!({"text": format!("alice {round}"), "expected_version": v})
            ),
            app.post(
                &path,
                json!({"text": format!("omar {round}"), "expected_version": v})
            ),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}: {} / {}",
            a.1,
            b.1
        );
        let loser = if a.0 == StatusCode::CONFLICT { &a } else { &b };
        assert_error(loser, StatusCode::CONFLICT, "version_conflict");
    }
    // Without expected_version the server re-decides on fresh state: both land.
    let (a, b) = tokio::join!(
        app.post(&path, json!({"text": "a"})),
        app.post(&path, json!({"text": "b"}))
    );
    assert_eq!(
        (a.0, b.0),
        (StatusCode::OK, StatusCode::OK),
        "{} / {}",
        a.1,
        b.1
    );
    let (_, shown) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(shown["incident"]["version"], version + 7);
    assert_eq!(
        shown["timeline"].as_array().unwrap().len() as u64,
        version + 7
    );
}

async fn state_survives_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "x", "severity": "P0", "commander": "alice"}))
        .await;
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    app.post(
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"template": "update", "locale": "ar", "vars": {"eta": "1h"}}),
    )
    .await;
    let (_, before) = app.get(&format!("/api/v1/incidents/{id}")).await;
    app.restart().await;
    let (status, after) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the admin token still works after a restart: {after}"
    );
    assert_eq!(before, after);
    assert_eq!(
        app.declare(json!({"title": "y", "severity": "P3"})).await,
        "INC-20261123-002",
        "numbering continues"
    );
}

async fn policy_and_openapi_are_served(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, p) = app.get("/api/v1/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["loaded"]["source"], "embedded demo policy");
    assert_eq!(p["policy"]["severities"][0]["name"], "P0");
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/incidents",
        "/incidents/{id}",
        "/incidents/{id}/acknowledge",
        "/incidents/{id}/updates",
        "/policy",
        "/tokens",
        "/alerts",
        "/silences",
        "/maintenance",
        "/incidents/{id}/alerts",
        "/alertmanager/webhook",
        "/webhooks/{name}",
        "/heartbeats/{name}",
        "/checks",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"]["Incident"].is_object());
}

async fn policy_reload_keeps_the_old_policy_when_the_new_one_is_broken(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, firebell_core::policy::DEMO_POLICY).unwrap();
    let app =
        TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(path.clone()))
            .await;
    let now = firebell_server::Clock::now(&app.clock);

    std::fs::write(
        &path,
        "version = 1\n[[severities]]\nname = \"P1\"\nupdate_every = 15\n",
    )
    .unwrap();
    let err = app.state().policy.reload(now).unwrap_err();
    assert!(err.contains("policy.toml:4:"), "located error: {err}");
    let (_, p) = app.get("/api/v1/policy").await;
    assert_eq!(
        p["policy"]["severities"][0]["name"], "P0",
        "the old policy stays in force"
    );
    assert!(
        p["loaded"]["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("update_every")
    );

    let edited = firebell_core::policy::DEMO_POLICY.replace("\"P0\"", "\"SEV0\"");
    assert_ne!(edited, firebell_core::policy::DEMO_POLICY);
    std::fs::write(&path, edited).unwrap();
    assert!(app.state().policy.reload(now).unwrap());
    let (_, p) = app.get("/api/v1/policy").await;
    assert_eq!(p["policy"]["severities"][0]["name"], "SEV0");
    assert!(p["loaded"]["last_reload_error"].is_null());
    let r = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "SEV0"}),
        )
        .await;
    assert_eq!(
        r.0,
        StatusCode::CREATED,
        "the new policy is enforced: {}",
        r.1
    );
}

/// A broken file put back as it was (so nothing is reloaded) clears the
/// error: `/api/v1/policy` must not keep reporting a problem that is gone.
async fn a_policy_file_put_back_clears_the_reload_error(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, firebell_core::policy::DEMO_POLICY).unwrap();
    let app =
        TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(path.clone()))
            .await;
    let now = firebell_server::Clock::now(&app.clock);
    std::fs::write(&path, "version = 1\n[[severities]]\nname = 7\n").unwrap();
    assert!(app.state().policy.reload(now).is_err());
    let (_, p) = app.get("/api/v1/policy").await;
    assert!(p["loaded"]["last_reload_error"].is_string(), "{p}");

    std::fs::write(&path, firebell_core::policy::DEMO_POLICY).unwrap();
    assert!(
        !app.state().policy.reload(now).unwrap(),
        "same policy: not replaced"
    );
    let (_, p) = app.get("/api/v1/policy").await;
    assert!(p["loaded"]["last_reload_error"].is_null(), "{p}");
    assert_eq!(p["policy"]["severities"][0]["name"], "P0");
}

async fn a_changed_policy_file_is_picked_up_by_the_watcher(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, firebell_core::policy::DEMO_POLICY).unwrap();
    let app =
        TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(path.clone()))
            .await;
    let (_, before) = app.get("/api/v1/policy").await;
    // A different length guarantees a changed file even on coarse mtimes.
    std::fs::write(
        &path,
        firebell_core::policy::DEMO_POLICY.replace("Demo Co", "Demo Company Ltd"),
    )
    .unwrap();
    // The watcher polls every 50 ms in tests; give it up to 5 s.
    for _ in 0..100 {
        let (_, now) = app.get("/api/v1/policy").await;
        if now["loaded"]["sha256"] != before["loaded"]["sha256"] {
            assert_eq!(now["policy"]["organization"]["name"], "Demo Company Ltd");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the policy watcher did not pick up the change");
}
