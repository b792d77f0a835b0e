//! The OpenAPI document against the server: every documented operation is
//! called at least once, with a valid request where one can be made here,
//! and its answer must be one the document lists for it (status, the error
//! body on a refusal, `Location` on a 201).
//!
//! With `FIREBELL_OPENAPI_DIR` set, the SQLite run also writes the served
//! document (`openapi.json`) and every answer (`answers.json`) there;
//! `scripts/check-openapi.sh` then validates the document with
//! openapi-spec-validator and each answer's body against the schema the
//! document gives for its status.

mod common;

use std::collections::BTreeSet;

use common::{Backend, T0, TestApp, demo_policy_with};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

on_both_backends!(every_documented_operation_answers_as_documented);

const WEBHOOK_SECRET: &str = "contract-secret-0123456789";

/// The demo policy with what the operations need to name: schedules, a
/// duty, a signed webhook.
fn policy() -> String {
    format!(
        r#"
[[schedules]]
name = "primary"

[[schedules.layers]]
name = "daily"
rotation = "daily"
handoff = "09:00"
start = "2026-11-01"
participants = ["alice", "omar"]

[[duties]]
key = "restore-test"
title = "Weekly restore test"
owner = ["person:alice"]
cron = "0 9 * * 1"
overdue_after = "1d"

[[webhooks]]
name = "plain"
secret = "{WEBHOOK_SECRET}"
service = "api"
severity = "P2"
"#
    )
}

/// One call: the operation it exercises (`method`, documented path) and the
/// request; `ok` says a 2xx is required, else any documented answer will do
/// (a refusal the document lists is part of the contract too).
struct Call {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    ok: bool,
}

fn call(method: Method, template: &'static str, path: impl Into<String>) -> Call {
    Call {
        method,
        template,
        path: path.into(),
        body: None,
        headers: Vec::new(),
        ok: true,
    }
}

impl Call {
    fn body(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }
    /// Any documented answer is fine.
    fn any(mut self) -> Call {
        self.ok = false;
        self
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    content_type: Option<String>,
    body: Value,
}

async fn send(app: &TestApp, c: &Call) -> Answer {
    let mut req = app
        .http
        .request(c.method.clone(), app.url(&format!("/api/v1{}", c.path)));
    let own_auth = c
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    if c.template != "/webhooks/{name}" && !own_auth {
        req = req.bearer_auth(&app.admin_token);
    }
    for (name, value) in &c.headers {
        req = req.header(*name, value);
    }
    if let Some(body) = &c.body {
        req = match c.template {
            // Signed: the exact bytes the signature covers.
            "/webhooks/{name}" => req
                .header("content-type", "application/json")
                .body(body.to_string()),
            _ => req.json(body),
        };
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let location = header("location");
    let content_type = header("content-type");
    let text = resp.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        location,
        content_type,
        body,
    }
}

fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

const METHODS: &[(&str, Method)] = &[
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("patch", Method::PATCH),
];

async fn every_documented_operation_answers_as_documented(backend: Backend) {
    let (_dir, source) = demo_policy_with(&policy());
    let app = TestApp::spawn_with_policy(backend, source).await;
    app.clock.set(T0.parse().unwrap());
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{doc}");

    let mut answers = Vec::new();
    let mut called = BTreeSet::new();
    let mut run = async |c: Call| -> Value {
        let a = send(&app, &c).await;
        let method = c.method.as_str().to_lowercase();
        let op = &doc["paths"][c.template][&method];
        assert!(op.is_object(), "{method} {} is not documented", c.template);
        let status = a.status.as_u16().to_string();
        assert!(
            op["responses"][&status].is_object(),
            "{method} {} answered {status}, which it does not document: {}",
            c.path,
            a.body
        );
        if c.ok {
            assert!(
                a.status.is_success(),
                "{method} {}: {status} {}",
                c.path,
                a.body
            );
        }
        if a.status == StatusCode::CREATED {
            let location = a.location.as_deref().unwrap_or_default();
            assert!(
                location.starts_with("/api/v1/"),
                "{method} {}: 201 without Location",
                c.path
            );
        }
        if a.status.is_client_error() || a.status.is_server_error() {
            assert!(
                a.body["error"]["code"].is_string() && a.body["error"]["message"].is_string(),
                "{method} {}: {status} without the error body: {}",
                c.path,
                a.body
            );
        }
        if !a.body.is_null() {
            assert!(
                a.content_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with("application/json")),
                "{method} {}: {:?}",
                c.path,
                a.content_type
            );
        }
        called.insert((method.clone(), c.template.to_string()));
        answers.push(json!({
            "method": method, "path": c.template, "url": c.path,
            "status": a.status.as_u16(), "location": a.location, "body": a.body,
        }));
        a.body
    };
    use Method as M;

    // Incidents, and every command on one.
    let declared = run(call(M::POST, "/incidents", "/incidents").body(json!({
        "title": "Checkout failing", "severity": "P1", "services": ["api"], "commander": "alice"
    })))
    .await;
    let id = declared["incident"]["id"].as_str().unwrap().to_string();
    let inc = |rest: &str| format!("/incidents/{id}{rest}");
    run(call(M::GET, "/incidents", "/incidents?status=open&limit=5")).await;
    run(call(M::GET, "/incidents/{id}", inc(""))).await;
    run(call(M::POST, "/incidents/{id}/acknowledge", inc("/acknowledge")).body(json!({}))).await;
    run(call(M::POST, "/incidents/{id}/roles", inc("/roles"))
        .body(json!({"role": "IC", "person": "omar"})))
    .await;
    run(call(
        M::POST,
        "/incidents/{id}/roles/unassign",
        inc("/roles/unassign"),
    )
    .body(json!({"role": "IC", "person": "omar"})))
    .await;
    run(call(M::POST, "/incidents/{id}/updates", inc("/updates"))
        .body(json!({"status": "identified", "message": "Found it"})))
    .await;
    run(call(M::POST, "/incidents/{id}/severity", inc("/severity"))
        .body(json!({"severity": "P0", "reason": "customers see it"})))
    .await;
    run(call(M::POST, "/incidents/{id}/notes", inc("/notes")).body(json!({"text": "a note"})))
        .await;
    run(call(
        M::POST,
        "/incidents/{id}/checklist/tick",
        inc("/checklist/tick"),
    )
    .body(json!({"item": "no-such-item"}))
    .any())
    .await;
    run(call(M::POST, "/incidents/{id}/tags", inc("/tags")).body(json!({"add": ["data-loss"]})))
        .await;
    run(
        call(M::POST, "/incidents/{id}/obligations", inc("/obligations"))
            .body(json!({"key": "no-such-obligation", "evidence": "x"}))
            .any(),
    )
    .await;
    run(
        call(M::POST, "/incidents/{id}/components", inc("/components"))
            .body(json!({"component": "no.such", "status": "major_outage", "reason": "x"}))
            .any(),
    )
    .await;
    run(
        call(M::POST, "/incidents/{id}/handoff", inc("/handoff")).body(json!({
            "to": "omar", "summary": "over to you", "next_steps": "watch the graphs"
        })),
    )
    .await;
    run(call(M::POST, "/incidents/{id}/render", inc("/render"))
        .body(json!({"template": "update", "vars": {"eta": "1h"}})))
    .await;
    run(call(M::GET, "/incidents/{id}/alerts", inc("/alerts"))).await;
    run(call(
        M::GET,
        "/incidents/{id}/notifications",
        inc("/notifications"),
    ))
    .await;
    run(call(M::GET, "/incidents/{id}/agenda", inc("/agenda"))).await;
    run(call(M::POST, "/incidents/{id}/runbooks", inc("/runbooks"))
        .body(json!({"runbook": "no-such-runbook"}))
        .any())
    .await;
    run(call(M::POST, "/incidents/{id}/rollback", inc("/rollback"))
        .body(json!({"decision": "fix_forward", "note": "forward"}))
        .any())
    .await;
    run(call(M::POST, "/incidents/{id}/resolve", inc("/resolve")).body(json!({"summary": "fixed"}))).await;
    run(call(M::POST, "/incidents/{id}/reopen", inc("/reopen")).body(json!({"reason": "back"})))
        .await;
    run(call(M::POST, "/incidents/{id}/resolve", inc("/resolve")).body(json!({"summary": "fixed"}))).await;

    // Postmortems and action items.
    run(
        call(M::PUT, "/incidents/{id}/postmortem", inc("/postmortem"))
            .body(json!({"document": "# Checkout failing\n\nWhat happened.", "owner": "alice"})),
    )
    .await;
    run(call(
        M::GET,
        "/incidents/{id}/postmortem",
        inc("/postmortem"),
    ))
    .await;
    run(call(
        M::POST,
        "/incidents/{id}/postmortem/state",
        inc("/postmortem/state"),
    )
    .body(json!({"state": "in_review"}))
    .any())
    .await;
    run(call(
        M::POST,
        "/incidents/{id}/postmortem/review",
        inc("/postmortem/review"),
    )
    .body(json!({"at": "2026-11-30T10:00:00Z", "participants": ["alice"]})))
    .await;
    run(call(
        M::POST,
        "/incidents/{id}/action-items",
        inc("/action-items"),
    )
    .body(json!({"title": "Add an alert", "owner": "alice"})))
    .await;
    run(call(
        M::PATCH,
        "/incidents/{id}/action-items/{item}",
        inc("/action-items/1"),
    )
    .body(json!({"status": "in_progress"})))
    .await;
    run(call(M::GET, "/action-items", "/action-items?open=true")).await;
    run(call(M::GET, "/postmortems", "/postmortems")).await;
    run(call(M::GET, "/reports", "/reports?since=30d")).await;

    // Duties.
    run(call(M::GET, "/duties", "/duties")).await;
    let recorded = run(
        call(M::POST, "/duties/{key}/runs", "/duties/restore-test/runs")
            .body(json!({"outcome": "ok", "notes": "restored"})),
    )
    .await;
    run(call(
        M::GET,
        "/duties/{key}/runs",
        "/duties/restore-test/runs",
    ))
    .await;
    let run_id = recorded["id"].as_str().unwrap_or("none").to_string();
    run(call(
        M::GET,
        "/duties/{key}/runs/{id}",
        format!("/duties/restore-test/runs/{run_id}"),
    ))
    .await;

    // Change safety.
    let deploy = run(call(M::POST, "/deploys", "/deploys")
        .body(json!({"service": "api", "version": "v42", "summary": "v42"})))
    .await;
    let change = deploy["change"]["id"].as_str().unwrap().to_string();
    run(call(
        M::POST,
        "/deploys/{id}/checks",
        format!("/deploys/{change}/checks"),
    )
    .body(json!({"values": {"error_rate": 0.01}}))
    .any())
    .await;
    run(call(M::GET, "/changes", "/changes?service=api")).await;
    run(call(M::GET, "/changes/{id}", format!("/changes/{change}"))).await;
    run(call(M::GET, "/freeze", "/freeze?service=api")).await;
    let freeze = run(call(M::POST, "/freezes", "/freezes")
        .body(json!({"service": "api", "reason": "launch", "for": "1h"})))
    .await;
    let freeze = freeze["id"].as_str().unwrap().to_string();
    run(call(M::GET, "/freezes", "/freezes")).await;
    run(call(M::GET, "/freezes/{id}", format!("/freezes/{freeze}"))).await;
    run(call(M::POST, "/freeze/overrides", "/freeze/overrides")
        .body(json!({"service": "api", "reason": "hotfix", "for": "30m"})))
    .await;
    run(call(
        M::POST,
        "/freezes/{id}/lift",
        format!("/freezes/{freeze}/lift"),
    )
    .body(json!({})))
    .await;
    run(call(M::GET, "/providers", "/providers")).await;

    // Alerts, silences, maintenance.
    run(
        call(M::POST, "/alertmanager/webhook", "/alertmanager/webhook").body(json!({
            "version": "4", "status": "firing", "receiver": "firebell", "groupKey": "{}:{}",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
            "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "service": "api"},
                        "annotations": {}, "startsAt": "2026-11-23T09:59:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"}]
        })),
    )
    .await;
    let hook = json!({"key": "contract-1", "title": "Queue backed up", "status": "firing"});
    let t = app.state().clock.now().as_second();
    let mut signed = call(M::POST, "/webhooks/{name}", "/webhooks/plain").body(hook.clone());
    signed.headers = vec![(
        "X-Firebell-Signature",
        signature(WEBHOOK_SECRET, t, &hook.to_string()),
    )];
    run(signed).await;
    run(call(M::GET, "/alerts", "/alerts?all=true")).await;
    let silence = run(call(M::POST, "/silences", "/silences").body(json!({
        "matchers": "alertname=\"DiskFull\"", "duration": "1h", "comment": "disk swap"
    })))
    .await;
    let silence = silence["id"].as_str().unwrap().to_string();
    run(call(M::GET, "/silences", "/silences")).await;
    run(call(
        M::GET,
        "/silences/{id}",
        format!("/silences/{silence}"),
    ))
    .await;
    run(call(
        M::POST,
        "/silences/{id}/expire",
        format!("/silences/{silence}/expire"),
    )
    .body(json!({})))
    .await;
    let window = run(call(M::POST, "/maintenance", "/maintenance").body(json!({
        "title": "DB upgrade", "services": ["api"], "kind": "emergency", "duration": "30m"
    })))
    .await;
    let window = window["id"].as_str().unwrap().to_string();
    run(call(M::GET, "/maintenance", "/maintenance")).await;
    run(call(
        M::GET,
        "/maintenance/{id}",
        format!("/maintenance/{window}"),
    ))
    .await;
    run(call(
        M::POST,
        "/maintenance/{id}/end",
        format!("/maintenance/{window}/end"),
    )
    .body(json!({})))
    .await;
    run(call(
        M::POST,
        "/maintenance/{id}/review",
        format!("/maintenance/{window}/review"),
    )
    .body(json!({"summary": "could not wait"})))
    .await;

    // Monitors.
    run(call(M::POST, "/heartbeats/{name}", "/heartbeats/api-db-backup").body(json!({}))).await;
    run(call(M::GET, "/checks", "/checks")).await;

    // On call.
    run(call(M::GET, "/oncall", "/oncall")).await;
    let o = run(call(
        M::POST,
        "/schedules/{name}/overrides",
        "/schedules/primary/overrides",
    )
    .body(json!({
        "person": "omar", "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T12:00:00Z",
        "reason": "swap"
    })))
    .await;
    let o = o["id"].as_str().unwrap().to_string();
    run(call(
        M::GET,
        "/schedules/{name}/overrides",
        "/schedules/primary/overrides",
    ))
    .await;
    run(call(M::GET, "/overrides", "/overrides?include_past=true")).await;
    run(call(
        M::GET,
        "/schedules/{name}/overrides/{id}",
        format!("/schedules/primary/overrides/{o}"),
    ))
    .await;
    run(call(
        M::DELETE,
        "/schedules/{name}/overrides/{id}",
        format!("/schedules/primary/overrides/{o}"),
    ))
    .await;

    // Paging.
    run(call(M::GET, "/notifications", "/notifications?limit=10")).await;
    run(call(M::GET, "/escalation-policies", "/escalation-policies")).await;

    // Status page subscribers (none signed up: the refusals are documented).
    run(call(M::GET, "/subscribers", "/subscribers?state=pending")).await;
    run(call(
        M::GET,
        "/subscribers/{id}/messages",
        "/subscribers/nobody/messages",
    )
    .any())
    .await;
    run(call(M::DELETE, "/subscribers/{id}", "/subscribers/nobody").any()).await;

    // Policy, tokens, operations, this document.
    run(call(M::GET, "/policy", "/policy")).await;
    let token =
        run(call(M::POST, "/tokens", "/tokens").body(json!({"name": "ci", "role": "viewer"})))
            .await;
    let token = token["token"]["id"].as_i64().unwrap();
    run(call(M::GET, "/tokens", "/tokens")).await;
    run(call(M::GET, "/tokens/{id}", format!("/tokens/{token}"))).await;
    run(call(M::DELETE, "/tokens/{id}", format!("/tokens/{token}"))).await;
    run(call(M::GET, "/set-aside", "/set-aside")).await;
    run(
        call(M::POST, "/set-aside/{id}/retry", "/set-aside/999/retry")
            .body(json!({}))
            .any(),
    )
    .await;
    run(call(M::DELETE, "/set-aside/{id}", "/set-aside/999").any()).await;
    run(call(M::GET, "/openapi.json", "/openapi.json")).await;

    // Refusals share one body: no token, a viewer writing, a bad query.
    let mut anonymous = call(M::GET, "/incidents", "/incidents");
    anonymous.headers = vec![("Authorization", "Bearer fb_wrong".into())];
    let a = send(&app, &anonymous).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "unauthorized");
    run(call(M::GET, "/incidents", "/incidents?limit=9999").any()).await;

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|(m, _)| item.get(*m).is_some())
                .map(|(m, _)| (m.to_string(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let missed: Vec<_> = documented.difference(&called).collect();
    assert!(missed.is_empty(), "operations never called: {missed:?}");

    if backend == Backend::Sqlite
        && let Some(dir) = std::env::var_os("FIREBELL_OPENAPI_DIR")
    {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openapi.json"),
            serde_json::to_vec_pretty(&doc).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join("answers.json"),
            serde_json::to_vec_pretty(&answers).unwrap(),
        )
        .unwrap();
    }
}
