//! On-call overrides through the API, on both backends: created, listed,
//! shown by `GET /api/v1/oncall`, removed; every refusal with its status and
//! code, and nothing stored by a refused request.
//!
//! The policy is the demo policy plus two schedules (calendar zone UTC):
//! `primary`, daily hand-offs at 09:00 from 2026-11-01 between alice and omar
//! (2026-11-23 is day 22: alice's, 09:00 to 09:00 the next day), and
//! `secondary`, omar alone. The tests' "now" is 2026-11-23 10:00 UTC.

mod common;

use common::{Backend, T0, TestApp, assert_error, demo_policy_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    an_override_shows_in_oncall_until_removed,
    listing_states_and_the_newest_override_wins,
    invalid_overrides_are_refused_and_store_nothing,
    viewers_cannot_create_or_remove,
);

const SCHEDULES: &str = r#"
[[schedules]]
name = "primary"
description = "Primary on-call"

[[schedules.layers]]
name = "daily"
rotation = "daily"
handoff = "09:00"
start = "2026-11-01"
participants = ["alice", "omar"]

[[schedules]]
name = "secondary"

[[schedules.layers]]
name = "daily"
rotation = "daily"
handoff = "09:00"
start = "2026-11-01"
participants = ["omar"]
"#;

/// The app, and the directory holding its policy file (keep it alive).
async fn app(backend: Backend) -> (TestApp, tempfile::TempDir) {
    let (dir, policy) = demo_policy_with(SCHEDULES);
    (TestApp::spawn_with_policy(backend, policy).await, dir)
}

async fn delete_as(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    common::decode(resp).await
}

async fn create(app: &TestApp, schedule: &str, body: Value) -> Value {
    let (status, v) = app
        .post(&format!("/api/v1/schedules/{schedule}/overrides"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

/// The `GET /api/v1/oncall` entry of one schedule.
async fn oncall(app: &TestApp, schedule: &str) -> Value {
    let (status, v) = app
        .get(&format!("/api/v1/oncall?schedule={schedule}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["next_cursor"], Value::Null, "{v}");
    v["items"][0].clone()
}

fn people(shifts: &Value) -> Vec<String> {
    shifts
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["person"].as_str().unwrap().to_string())
        .collect()
}

/// Every override stored and not removed, ended ones included.
async fn stored(app: &TestApp) -> usize {
    app.state()
        .store
        .list_overrides(None, None)
        .await
        .unwrap()
        .len()
}

async fn an_override_shows_in_oncall_until_removed(backend: Backend) {
    let (mut app, _dir) = app(backend).await;
    let before = oncall(&app, "primary").await;
    assert_eq!(before["now"]["person"], "alice", "{before}");
    assert_eq!(before["now"]["layer"], "daily");

    // Sara covers alice 09:30–12:00; the path's schedule name is matched
    // case-insensitively and stored as the policy spells it.
    let o = create(
        &app,
        "PRIMARY",
        json!({
            "person": "sara", "covering": "alice", "reason": "dentist",
            "starts_at": "2026-11-23T09:30:00Z", "ends_at": "2026-11-23T12:00:00Z",
        }),
    )
    .await;
    assert_eq!(o["schedule"], "primary");
    assert_eq!(o["person"], "sara");
    assert_eq!(o["name"], "Sara Lind");
    assert_eq!(o["covering"], "alice");
    assert_eq!(o["reason"], "dentist");
    assert_eq!(o["starts_at"], "2026-11-23T09:30:00Z");
    assert_eq!(o["ends_at"], "2026-11-23T12:00:00Z");
    assert_eq!(o["created_at"], T0);
    assert_eq!(o["state"], "active");
    assert!(!o["created_by"].as_str().unwrap().is_empty(), "{o}");
    let id = o["id"].as_str().unwrap().to_string();

    let now = oncall(&app, "primary").await;
    assert_eq!(now["now"]["person"], "sara", "{now}");
    assert_eq!(now["now"]["name"], "Sara Lind");
    assert_eq!(now["now"]["layer"], Value::Null, "an override has no layer");
    assert_eq!(now["now"]["since"], "2026-11-23T09:30:00Z");
    assert_eq!(now["now"]["until"], "2026-11-23T12:00:00Z");
    assert_eq!(now["next"][0]["person"], "alice", "back to the rotation");
    assert_eq!(now["next"][0]["since"], "2026-11-23T12:00:00Z");
    assert_eq!(now["next"][0]["until"], "2026-11-24T09:00:00Z");
    assert_eq!(people(&now["next"]), ["alice", "omar", "alice"]);
    // Other schedules are untouched.
    assert_eq!(oncall(&app, "secondary").await["now"]["person"], "omar");
    // Asking about a later instant: the override is over by then.
    let (_, later) = app
        .get("/api/v1/oncall?schedule=primary&at=2026-11-23T12:00:00Z")
        .await;
    assert_eq!(later["items"][0]["now"]["person"], "alice");

    // It is stored: a restart changes nothing.
    app.restart().await;
    assert_eq!(oncall(&app, "primary").await["now"]["person"], "sara");

    let path = format!("/api/v1/schedules/primary/overrides/{id}");
    let (status, body) = delete_as(&app, &app.admin_token, &path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let after = oncall(&app, "primary").await;
    assert_eq!(after["now"]["person"], "alice", "{after}");
    assert_eq!(after["now"]["since"], "2026-11-23T09:00:00Z");
    assert_eq!(after["now"]["until"], "2026-11-24T09:00:00Z");

    // Removed: not listed (not even with the past), not removable again.
    let (_, list) = app
        .get("/api/v1/schedules/primary/overrides?include_past=true")
        .await;
    assert_eq!(list, json!({"items": [], "next_cursor": null}));
    let again = delete_as(&app, &app.admin_token, &path).await;
    assert_error(&again, StatusCode::NOT_FOUND, "override_not_found");
    let unknown = delete_as(
        &app,
        &app.admin_token,
        "/api/v1/schedules/primary/overrides/no-such-id",
    )
    .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "override_not_found");
    let (from, to) = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    let between = app
        .state()
        .store
        .overrides_between(from.parse().unwrap(), to.parse().unwrap())
        .await
        .unwrap();
    assert!(between.is_empty(), "a removed override never applies");
    // The row stays for the record.
    let record = app.state().store.get_override(&id).await.unwrap().unwrap();
    assert_eq!(record.deleted_at, Some(T0.parse().unwrap()));
}

async fn listing_states_and_the_newest_override_wins(backend: Backend) {
    let (app, _dir) = app(backend).await;
    let a = create(
        &app,
        "primary",
        json!({"person": "sara", "starts_at": "2026-11-23T09:30:00Z", "ends_at": "2026-11-23T12:00:00Z"}),
    )
    .await;
    // Tomorrow 10:00–12:00, inside omar's shift: it shows among the next shifts.
    let b = create(
        &app,
        "primary",
        json!({"person": "sara", "covering": "omar", "starts_at": "2026-11-24T10:00:00Z", "ends_at": "2026-11-24T12:00:00Z"}),
    )
    .await;
    assert_eq!(b["state"], "scheduled");
    assert_eq!(b["reason"], "", "reason defaults to empty");
    let c = create(
        &app,
        "secondary",
        json!({"person": "alice", "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T11:00:00Z"}),
    )
    .await;

    let now = oncall(&app, "primary").await;
    assert_eq!(now["now"]["person"], "sara");
    assert_eq!(people(&now["next"]), ["alice", "omar", "sara"], "{now}");
    assert_eq!(now["next"][1]["until"], "2026-11-24T10:00:00Z");
    assert_eq!(now["next"][2]["since"], "2026-11-24T10:00:00Z");
    assert_eq!(now["next"][2]["layer"], Value::Null);
    assert_eq!(oncall(&app, "secondary").await["now"]["person"], "alice");

    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let (status, primary) = app.get("/api/v1/schedules/primary/overrides").await;
    assert_eq!(status, StatusCode::OK, "{primary}");
    assert_eq!(ids(&primary), [id(&a), id(&b)], "earliest start first");
    let (_, all) = app.get("/api/v1/overrides").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3, "{all}");
    let (_, secondary) = app.get("/api/v1/overrides?schedule=Secondary").await;
    assert_eq!(ids(&secondary), [id(&c)]);

    // Three hours on, the first has ended: listed only with the past.
    app.advance_mins(180);
    let (_, current) = app.get("/api/v1/schedules/primary/overrides").await;
    assert_eq!(ids(&current), [id(&b)]);
    let (_, past) = app
        .get("/api/v1/schedules/primary/overrides?include_past=true")
        .await;
    assert_eq!(ids(&past), [id(&a), id(&b)]);
    assert_eq!(past["items"][0]["state"], "ended");
    assert_eq!(past["items"][1]["state"], "scheduled");

    // An override removed through another schedule's path is not found.
    let wrong = delete_as(
        &app,
        &app.admin_token,
        &format!("/api/v1/schedules/primary/overrides/{}", id(&c)),
    )
    .await;
    assert_error(&wrong, StatusCode::NOT_FOUND, "override_not_found");
    assert_eq!(stored(&app).await, 3);

    // Overlapping overrides: the one created last wins.
    create(
        &app,
        "secondary",
        json!({"person": "alice", "starts_at": "2026-11-23T13:00:00Z", "ends_at": "2026-11-23T18:00:00Z"}),
    )
    .await;
    app.advance_mins(1);
    create(
        &app,
        "secondary",
        json!({"person": "sara", "starts_at": "2026-11-23T13:00:00Z", "ends_at": "2026-11-23T14:00:00Z"}),
    )
    .await;
    let sec = oncall(&app, "secondary").await;
    assert_eq!(sec["now"]["person"], "sara", "{sec}");
    assert_eq!(sec["next"][0]["person"], "alice", "{sec}");
    assert_eq!(sec["next"][0]["until"], "2026-11-23T18:00:00Z");
}

async fn invalid_overrides_are_refused_and_store_nothing(backend: Backend) {
    let (app, _dir) = app(backend).await;
    let path = "/api/v1/schedules/primary/overrides";
    let ok = json!({"person": "sara", "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T12:00:00Z"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "/api/v1/schedules/nope/overrides",
            ok.clone(),
            StatusCode::NOT_FOUND,
            "schedule_not_found",
        ),
        (
            path,
            with("person", json!("nobody")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_person",
        ),
        (
            path,
            with("covering", json!("nobody")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_person",
        ),
        (
            path,
            with("ends_at", json!("2026-11-23T10:00:00Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_window",
        ),
        (
            path,
            with("ends_at", json!("2026-11-23T09:00:00Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_window",
        ),
        (
            path,
            with("ends_at", json!("2027-02-21T10:00:00.001Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "window_too_long",
        ),
        (
            path,
            json!({"person": "sara", "starts_at": "2026-11-23T07:00:00Z", "ends_at": "2026-11-23T09:59:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "window_in_past",
        ),
        (
            path,
            json!({"person": "sara", "starts_at": "2026-11-23T07:00:00Z", "ends_at": T0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "window_in_past",
        ),
        (
            path,
            with("starts_at", json!("tomorrow")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            path,
            json!({"person": "sara", "starts_at": "2026-11-23T10:00:00Z"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            path,
            with("person", json!("")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            path,
            with("layer", json!("daily")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (p, body, status, code) in cases {
        let got = app.post(p, body.clone()).await;
        let msg = assert_error(&got, status, code);
        eprintln!("{code}: {msg}");
        assert_eq!(stored(&app).await, 0, "refused {body} but stored something");
    }
    let msg = assert_error(
        &app.post(path, with("covering", json!("nobody"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_person",
    );
    assert!(msg.contains("covering") && msg.contains("nobody"), "{msg}");
    let malformed = app.post_raw(path, "application/json", "{").await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "malformed_json");

    // Reads and removals name the schedule too.
    let list = app.get("/api/v1/schedules/nope/overrides").await;
    assert_error(&list, StatusCode::NOT_FOUND, "schedule_not_found");
    let list = app.get("/api/v1/overrides?schedule=nope").await;
    assert_error(&list, StatusCode::NOT_FOUND, "schedule_not_found");
    let bad_query = app.get(&format!("{path}?include_past=maybe")).await;
    assert_error(&bad_query, StatusCode::BAD_REQUEST, "invalid_query");
    let del = delete_as(&app, &app.admin_token, "/api/v1/schedules/nope/overrides/x").await;
    assert_error(&del, StatusCode::NOT_FOUND, "schedule_not_found");
    assert_eq!(stored(&app).await, 0);

    // The limits themselves are allowed: exactly 90 days, a start in the past.
    let longest = create(
        &app,
        "primary",
        json!({"person": "sara", "starts_at": "2026-11-23T09:00:00Z", "ends_at": "2027-02-21T09:00:00Z"}),
    )
    .await;
    assert_eq!(longest["state"], "active");
    assert_eq!(stored(&app).await, 1);
}

async fn viewers_cannot_create_or_remove(backend: Backend) {
    let (app, _dir) = app(backend).await;
    let viewer = app.token("dashboard", "viewer").await;
    let responder = app.token("omar-laptop", "responder").await;
    let path = "/api/v1/schedules/primary/overrides";
    let body = json!({"person": "sara", "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T12:00:00Z"});

    let refused = app.post_as(&viewer, path, body.clone()).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(stored(&app).await, 0);

    let (status, o) = app.post_as(&responder, path, body).await;
    assert_eq!(status, StatusCode::CREATED, "{o}");
    assert_eq!(o["created_by"], "omar-laptop");
    let id = o["id"].as_str().unwrap();

    let (status, list) = app.get_as(&viewer, path).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _) = app.get_as(&viewer, "/api/v1/overrides").await;
    assert_eq!(status, StatusCode::OK);

    let one = format!("{path}/{id}");
    let refused = delete_as(&app, &viewer, &one).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(oncall(&app, "primary").await["now"]["person"], "sara");
    let (status, _) = delete_as(&app, &responder, &one).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(stored(&app).await, 0);
    let unauthenticated = delete_as(&app, "fb_wrong", &one).await;
    assert_error(&unauthenticated, StatusCode::UNAUTHORIZED, "unauthorized");
}
