//! Signals in from senders that are not Prometheus: Alertmanager's webhook
//! receiver, the PagerDuty Events API v2 (alert and change events) and
//! HMAC-signed generic webhooks — each end to end through the real server,
//! on both backends, with the manual clock and the processor driven by hand.

mod common;

use common::{Backend, T0, TestApp, assert_error, demo_policy_with};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

on_both_backends!(
    alertmanager_webhook_firing_then_resolved,
    alertmanager_webhook_refuses_other_versions_and_bad_alerts,
    pagerduty_trigger_acknowledge_resolve_round_trip,
    pagerduty_acknowledge_right_after_trigger_is_not_lost,
    pagerduty_invalid_events_name_each_field_and_store_nothing,
    pagerduty_unknown_routing_key_is_refused,
    pagerduty_body_limit_is_512_kb,
    pagerduty_change_events_are_stored,
    pagerduty_timestamps_at_the_ends_of_i64_are_refused,
    signed_webhook_with_a_good_signature_opens_and_resolves,
    signed_webhook_with_a_bad_or_missing_signature_is_401_and_stores_nothing,
    signed_webhook_replayed_later_is_401,
    signed_webhook_field_mapping_and_status_words,
    signed_webhook_secret_from_the_environment,
    a_nul_character_is_refused_at_every_door_and_paging_goes_on,
    the_ingest_doors_agree_on_content_type_limits_and_times,
);

const DATADOG_KEY: &str = "0123456789abcdef0123456789abcdef";
const CI_KEY: &str = "ci0123456789abcdef0123456789abcd";
const PLAIN_SECRET: &str = "plain-webhook-secret-0123456789";
const GRAFANA_SECRET: &str = "grafana-webhook-secret-987654321";
/// Unset in every environment the tests run in.
const UNSET_VAR: &str = "FIREBELL_TEST_UNSET_WEBHOOK_SECRET_7F3A";

fn sources_policy() -> String {
    format!(
        r#"
[[integrations]]
name = "datadog"
routing_key = "{DATADOG_KEY}"
service = "api"
severity_map = {{ warning = "P2" }}

[[integrations]]
name = "ci"
routing_key = "{CI_KEY}"
service = "web"

[[webhooks]]
name = "plain"
secret = "{PLAIN_SECRET}"
service = "api"
severity = "P2"

[[webhooks]]
name = "grafana"
secret = "{GRAFANA_SECRET}"
service = "web"

[webhooks.fields]
key = "alert.id"
title = "alert.name"
description = "alert.message"
status = "alert.state"
severity = "alert.level"
labels = "alert.tags"
starts_at = "alert.since"
url = "alert.link"

[webhooks.status_map]
alerting = "firing"
ok = "resolved"

# Any variable set wherever tests run will do as a secret; PATH always is.
[[webhooks]]
name = "from-env"
secret_env = "PATH"

[[webhooks]]
name = "unconfigured"
secret_env = "{UNSET_VAR}"
"#
    )
}

/// The server with the demo policy plus the senders above (the directory
/// holding the policy file lives as long as the app).
async fn spawn(backend: Backend) -> (TestApp, tempfile::TempDir) {
    let (dir, policy) = demo_policy_with(&sources_policy());
    (TestApp::spawn_with_policy(backend, policy).await, dir)
}

/// Every alert, resolved ones too.
async fn all_alerts(app: &TestApp) -> Vec<Value> {
    let (status, v) = app.get("/api/v1/alerts?all=true").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn alert(app: &TestApp, key: &str) -> Value {
    all_alerts(app)
        .await
        .into_iter()
        .find(|a| a["key"] == key)
        .unwrap_or_else(|| panic!("no alert {key}"))
}

/// POST without any token, as PagerDuty senders and webhooks do.
async fn post_anonymous(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    common::decode(req.body(body).send().await.unwrap()).await
}

async fn pd(app: &TestApp, event: Value) -> (StatusCode, Value) {
    post_anonymous(app, "/v2/enqueue", &[], event.to_string()).await
}

fn trigger(summary: &str, severity: &str, dedup_key: Option<&str>) -> Value {
    let mut e = json!({
        "routing_key": DATADOG_KEY,
        "event_action": "trigger",
        "payload": {
            "summary": summary,
            "source": "db-1.example.com",
            "severity": severity,
            "component": "postgres",
            "custom_details": {"free space": "2%"}
        },
        "client": "Datadog",
        "client_url": "https://app.datadoghq.com/monitors/1"
    });
    if let Some(key) = dedup_key {
        e["dedup_key"] = json!(key);
    }
    e
}

fn follow_up(action: &str, dedup_key: &str) -> Value {
    json!({"routing_key": DATADOG_KEY, "event_action": action, "dedup_key": dedup_key})
}

/// The PagerDuty error list, asserting PagerDuty's 400 shape.
#[track_caller]
fn pd_errors(got: &(StatusCode, Value)) -> Vec<String> {
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert_eq!(got.1["status"], "invalid event", "{}", got.1);
    assert_eq!(got.1["message"], "Event object is invalid", "{}", got.1);
    got.1["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

async fn alertmanager_webhook_firing_then_resolved(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let mut firing = json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"DiskFull\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "firebell",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "service": "api", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "service": "api", "severity": "critical", "instance": "db-1"},
                "annotations": {"summary": "Disk almost full on db-1"},
                "startsAt": "2026-11-23T09:55:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local/graph",
                "fingerprint": "00000000000000aa"
            },
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "service": "api", "severity": "critical", "instance": "db-2"},
                "annotations": {"summary": "Disk almost full on db-2"},
                "startsAt": "2026-11-23T09:56:00Z",
                // Prometheus's endsAt a few minutes ahead: ignored while firing.
                "endsAt": "2026-11-23T10:03:00Z",
                "generatorURL": "",
                "fingerprint": "not-a-fingerprint"
            }
        ]
    });
    let (status, body) = app
        .post("/api/v1/alertmanager/webhook", firing.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alerts = all_alerts(&app).await;
    let mut keys: Vec<&str> = alerts.iter().map(|a| a["key"].as_str().unwrap()).collect();
    keys.sort();
    let computed = firebell_core::alert::fingerprint_hex(
        &[
            ("alertname", "DiskFull"),
            ("service", "api"),
            ("severity", "critical"),
            ("instance", "db-2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    assert_eq!(
        keys,
        ["00000000000000aa", computed.as_str()],
        "the sender's fingerprint when it is one, else computed"
    );
    assert!(alerts.iter().all(|a| a["source"] == "alertmanager_webhook"));
    assert!(
        alerts.iter().all(|a| a["ends_at"].is_null()),
        "firing alerts are open-ended: {alerts:?}"
    );
    assert_eq!(app.process().await.declared, 1);
    let list = app.incidents().await;
    assert_eq!(
        (&list[0]["severity"], &list[0]["alerts_firing"]),
        (&json!("P1"), &json!(2))
    );
    // Well past the endsAt Prometheus set: still firing.
    app.advance_mins(10);
    app.process().await;
    assert_eq!(app.incidents().await[0]["alerts_firing"], 2);

    firing["status"] = json!("resolved");
    for a in firing["alerts"].as_array_mut().unwrap() {
        a["status"] = json!("resolved");
        a["endsAt"] = json!("2026-11-23T10:08:00Z");
    }
    // The second one says its end is in the future: resolved means now.
    firing["alerts"][1]["endsAt"] = json!("2026-11-23T11:00:00Z");
    let (status, body) = app.post("/api/v1/alertmanager/webhook", firing).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let db1 = alert(&app, "00000000000000aa").await;
    assert_eq!(db1["ends_at"], "2026-11-23T10:08:00Z");
    assert_eq!(db1["firing"], false);
    let db2 = alert(&app, &computed).await;
    assert_eq!(db2["ends_at"], "2026-11-23T10:10:00Z", "clamped to now");
    app.process().await;
    let inc = &app.incidents().await[0];
    assert_eq!(
        (&inc["alerts_firing"], &inc["alerts_total"]),
        (&json!(0), &json!(2))
    );
}

async fn alertmanager_webhook_refuses_other_versions_and_bad_alerts(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let good_alert = json!({
        "status": "firing",
        "labels": {"alertname": "X"},
        "annotations": {},
        "startsAt": "2026-11-23T09:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "00000000000000aa"
    });
    let got = app
        .post(
            "/api/v1/alertmanager/webhook",
            json!({"version": "3", "alerts": [good_alert.clone()]}),
        )
        .await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "unsupported_version");
    assert!(msg.contains("\"3\"") && msg.contains("\"4\""), "{msg}");
    let got = app
        .post(
            "/api/v1/alertmanager/webhook",
            json!({"alerts": [good_alert.clone()]}),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "unsupported_version");
    let mut bad = good_alert.clone();
    bad["status"] = json!("pending");
    let got = app
        .post(
            "/api/v1/alertmanager/webhook",
            json!({"version": "4", "alerts": [good_alert.clone(), bad]}),
        )
        .await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "invalid_alert");
    assert!(msg.contains("alerts[1].status"), "{msg}");
    let mut no_labels = good_alert.clone();
    no_labels["labels"] = json!({});
    let got = app
        .post(
            "/api/v1/alertmanager/webhook",
            json!({"version": "4", "alerts": [no_labels]}),
        )
        .await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "invalid_alert");
    assert!(msg.contains("alerts[0].labels"), "{msg}");
    // Same authentication as the rest of /api/v1.
    let got = post_anonymous(
        &app,
        "/api/v1/alertmanager/webhook",
        &[],
        json!({"version": "4", "alerts": [good_alert]}).to_string(),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        all_alerts(&app).await.is_empty(),
        "a refused request stores nothing"
    );
}

async fn pagerduty_trigger_acknowledge_resolve_round_trip(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let (status, body) = pd(&app, trigger("Disk almost full on db-1", "critical", None)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "Event processed");
    let dedup_key = body["dedup_key"].as_str().unwrap().to_string();
    assert_eq!(dedup_key.len(), 32, "a generated key: {dedup_key}");
    let key = format!("pd:datadog:{dedup_key}");
    let a = alert(&app, &key).await;
    assert_eq!(a["source"], "pagerduty");
    assert_eq!(a["labels"]["alertname"], "Disk almost full on db-1");
    assert_eq!(a["labels"]["integration"], "datadog");
    assert_eq!(a["labels"]["pd_severity"], "critical");
    assert_eq!(a["labels"]["source"], "db-1.example.com");
    assert_eq!(a["labels"]["component"], "postgres");
    assert_eq!(a["annotations"]["summary"], "Disk almost full on db-1");
    assert_eq!(a["annotations"]["custom_details"], r#"{"free space":"2%"}"#);
    assert_eq!(a["generator_url"], "https://app.datadoghq.com/monitors/1");
    assert_eq!(
        (&a["service"], &a["severity"]),
        (&json!("api"), &json!("P0")),
        "the integration's service; critical is the top of the ladder"
    );

    assert_eq!(app.process().await.declared, 1);
    let inc = app.incidents().await[0].clone();
    let id = inc["id"].as_str().unwrap().to_string();
    assert_eq!(inc["title"], "Disk almost full on db-1");
    assert_eq!(
        (&inc["severity"], &inc["services"]),
        (&json!("P0"), &json!(["api"]))
    );

    app.advance_mins(2);
    let (status, body) = pd(&app, follow_up("acknowledge", &dedup_key)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["dedup_key"], dedup_key.as_str());
    let (_, detail) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["incident"]["acknowledged_by"], "pagerduty:datadog");
    assert_eq!(
        detail["incident"]["acknowledged_at"],
        "2026-11-23T10:02:00Z"
    );
    // A repeated acknowledge changes nothing and is still accepted.
    let (status, _) = pd(&app, follow_up("acknowledge", &dedup_key)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, again) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(again["incident"]["version"], detail["incident"]["version"]);

    // A re-trigger while firing is a refresh, not a second alert.
    let (status, _) = pd(
        &app,
        trigger(
            "Disk almost full on db-1 (1%)",
            "critical",
            Some(&dedup_key),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.process().await.declared, 0);
    assert_eq!(all_alerts(&app).await.len(), 1);

    app.advance_mins(3);
    let (status, body) = pd(&app, follow_up("resolve", &dedup_key)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let a = alert(&app, &key).await;
    assert_eq!(
        (&a["firing"], &a["ends_at"]),
        (&json!(false), &json!("2026-11-23T10:05:00Z"))
    );
    assert_eq!(
        a["annotations"]["summary"], "Disk almost full on db-1 (1%)",
        "resolving keeps what the trigger said"
    );
    app.process().await;
    let inc = &app.incidents().await[0];
    assert_eq!(inc["alerts_firing"], 0);
    // Resolving or acknowledging what is over, or unknown, does nothing.
    for action in ["resolve", "acknowledge"] {
        for dedup in [dedup_key.as_str(), "never-triggered"] {
            let (status, body) = pd(&app, follow_up(action, dedup)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{action} {dedup}: {body}");
        }
    }
    assert_eq!(all_alerts(&app).await.len(), 1);
}

async fn pagerduty_acknowledge_right_after_trigger_is_not_lost(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let (status, body) = pd(&app, trigger("Replication lag", "warning", Some("lag-1"))).await;
    assert_eq!(
        (status, &body["dedup_key"]),
        (StatusCode::ACCEPTED, &json!("lag-1"))
    );
    // Nobody has processed the alert into an incident yet.
    assert!(app.incidents().await.is_empty());
    let (status, body) = pd(&app, follow_up("acknowledge", "lag-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let list = app.incidents().await;
    assert_eq!(list.len(), 1, "the acknowledge processed the trigger first");
    assert_eq!(list[0]["acknowledged_by"], "pagerduty:datadog");
    assert_eq!(list[0]["severity"], "P2", "warning mapped by severity_map");
    assert_eq!(app.process().await.alerts, 0, "nothing left pending");
}

async fn pagerduty_invalid_events_name_each_field_and_store_nothing(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let long_key = "k".repeat(256);
    let got = pd(&app, trigger("x", "critical", Some(&long_key))).await;
    let errors = pd_errors(&got);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("'dedup_key'") && errors[0].contains("255"),
        "{errors:?}"
    );
    // Exactly 255 is fine.
    let (status, _) = pd(&app, trigger("x", "critical", Some(&"k".repeat(255)))).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let mut e = trigger("x", "critical", None);
    e["payload"].as_object_mut().unwrap().remove("summary");
    e["payload"]["severity"] = json!("disaster");
    e["payload"]["source"] = json!(42);
    let errors = pd_errors(&pd(&app, e).await);
    assert_eq!(errors.len(), 3, "every bad field: {errors:?}");
    assert!(errors[0].contains("'payload.summary'"), "{errors:?}");
    assert!(errors[1].contains("'payload.source'"), "{errors:?}");
    assert!(
        errors[2].contains("'payload.severity'")
            && errors[2].contains("critical, error, warning, info"),
        "{errors:?}"
    );
    let mut e = trigger(&"s".repeat(1025), "info", None);
    e["payload"]["timestamp"] = json!("yesterday");
    let errors = pd_errors(&pd(&app, e).await);
    assert!(
        errors[0].contains("'payload.summary'") && errors[0].contains("1024"),
        "{errors:?}"
    );
    assert!(errors[1].contains("'payload.timestamp'"), "{errors:?}");
    let mut e = trigger("x", "info", None);
    e.as_object_mut().unwrap().remove("payload");
    assert!(pd_errors(&pd(&app, e).await)[0].contains("'payload'"));
    let errors = pd_errors(
        &pd(
            &app,
            json!({"routing_key": DATADOG_KEY, "event_action": "escalate"}),
        )
        .await,
    );
    assert!(errors[0].contains("'event_action'"), "{errors:?}");
    let errors = pd_errors(
        &pd(
            &app,
            json!({"routing_key": DATADOG_KEY, "event_action": "resolve"}),
        )
        .await,
    );
    assert!(errors[0].contains("'dedup_key' is required"), "{errors:?}");
    let got = post_anonymous(&app, "/v2/enqueue", &[], "{not json").await;
    assert!(pd_errors(&got)[0].contains("not valid JSON"));
    let got = post_anonymous(&app, "/v2/enqueue", &[], "[1, 2]").await;
    assert!(pd_errors(&got)[0].contains("JSON object"));

    let alerts = all_alerts(&app).await;
    assert_eq!(
        alerts.len(),
        1,
        "only the valid event was stored: {alerts:?}"
    );
    assert_eq!(alerts[0]["labels"]["dedup_key"], "k".repeat(255));
}

async fn pagerduty_unknown_routing_key_is_refused(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let mut e = trigger("x", "critical", None);
    e["routing_key"] = json!("ffffffffffffffffffffffffffffffff");
    let errors = pd_errors(&pd(&app, e.clone()).await);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("Invalid routing key"), "{errors:?}");
    assert!(
        !errors[0].contains("ffff"),
        "the key is not echoed: {errors:?}"
    );
    e["routing_key"] = json!("not a key!");
    assert!(pd_errors(&pd(&app, e.clone()).await)[0].contains("ASCII letters and digits"));
    e.as_object_mut().unwrap().remove("routing_key");
    assert!(pd_errors(&pd(&app, e.clone()).await)[0].contains("'routing_key' is required"));
    // A bearer token is no substitute for the routing key.
    let got = app.post("/v2/enqueue", e).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    // A change event with an unknown key is refused the same way.
    let got = post_anonymous(
        &app,
        "/v2/change/enqueue",
        &[],
        json!({"routing_key": "ffffffffffffffffffffffffffffffff", "payload": {"summary": "deploy"}}).to_string(),
    )
    .await;
    assert!(pd_errors(&got)[0].starts_with("Invalid routing key"));
    assert!(all_alerts(&app).await.is_empty());
    let since = T0.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_hours(48);
    assert!(
        app.state()
            .store
            .list_changes(None, since)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn pagerduty_body_limit_is_512_kb(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let mut e = trigger("Big details", "error", Some("big"));
    e["payload"]["custom_details"] = json!({"log": "x".repeat(600 * 1024)});
    let got = pd(&app, e.clone()).await;
    assert_eq!(got.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.1);
    assert_eq!(got.1["status"], "invalid event");
    assert!(
        got.1["errors"][0].as_str().unwrap().contains("524288"),
        "{}",
        got.1
    );
    assert!(all_alerts(&app).await.is_empty());
    // Under the limit it is taken; details beyond an annotation's 64 KiB are cut.
    e["payload"]["custom_details"] = json!({"log": "x".repeat(500 * 1024)});
    let (status, body) = pd(&app, e).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let a = alert(&app, "pd:datadog:big").await;
    let details = a["annotations"]["custom_details"].as_str().unwrap();
    assert!(details.len() <= 65_536 && details.ends_with("(truncated by Firebell)"));
}

/// Found by the `http_pagerduty_enqueue` fuzz target: `i64::MIN` as a Unix
/// time overflowed taking its absolute value (a panic where overflow checks
/// are on), instead of being refused like any other impossible time.
async fn pagerduty_timestamps_at_the_ends_of_i64_are_refused(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    for at in [json!(i64::MIN), json!(i64::MAX), json!(u64::MAX)] {
        let mut e = trigger("x", "critical", None);
        e["payload"]["timestamp"] = at.clone();
        let errors = pd_errors(&pd(&app, e).await);
        assert!(
            errors[0].contains("'payload.timestamp'"),
            "{at}: {errors:?}"
        );

        let change = json!({
            "routing_key": CI_KEY,
            "payload": {"summary": "Deploy", "timestamp": at},
        });
        let got = post_anonymous(&app, "/v2/change/enqueue", &[], change.to_string()).await;
        assert!(
            pd_errors(&got)[0].contains("'payload.timestamp'"),
            "{at}: {got:?}"
        );
    }
    assert!(all_alerts(&app).await.is_empty(), "nothing was stored");
}

async fn pagerduty_change_events_are_stored(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let change = json!({
        "routing_key": CI_KEY,
        "payload": {
            "summary": "Deploy web v1.4.2",
            "timestamp": "2026-11-23T09:40:00.000+0000",
            "source": "github-actions",
            "custom_details": {"sha": "abc123"}
        },
        "links": [{"href": "https://ci.example.com/runs/42", "text": "run 42"}]
    })
    .to_string();
    for _ in 0..2 {
        let (status, body) = post_anonymous(&app, "/v2/change/enqueue", &[], change.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "success");
    }
    let since = T0.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_hours(1);
    let changes = app.state().store.list_changes(None, since).await.unwrap();
    assert_eq!(
        changes.len(),
        1,
        "a retried event is stored once: {changes:?}"
    );
    let c = &changes[0];
    assert_eq!(c.summary, "Deploy web v1.4.2");
    assert_eq!(c.source, "github-actions");
    assert_eq!(
        (c.service.as_deref(), c.environment.as_deref()),
        (Some("web"), Some("production"))
    );
    assert_eq!(c.at.to_string(), "2026-11-23T09:40:00Z");
    assert_eq!(c.payload["payload"]["custom_details"]["sha"], "abc123");
    assert_eq!(c.payload["links"][0]["text"], "run 42");
    assert!(
        c.payload.get("routing_key").is_none(),
        "the credential is not kept"
    );

    let got = post_anonymous(
        &app,
        "/v2/change/enqueue",
        &[],
        json!({"routing_key": CI_KEY, "payload": {"source": "x"}}).to_string(),
    )
    .await;
    assert!(pd_errors(&got)[0].contains("'payload.summary'"));
    assert_eq!(
        app.state()
            .store
            .list_changes(None, since)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// `t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_secs(app: &TestApp) -> i64 {
    app.state().clock.now().as_second()
}

async fn signed(app: &TestApp, hook: &str, secret: &str, body: &Value) -> (StatusCode, Value) {
    let body = body.to_string();
    let sig = signature(secret, now_secs(app), &body);
    post_anonymous(
        app,
        &format!("/api/v1/webhooks/{hook}"),
        &[("X-Firebell-Signature", sig)],
        body,
    )
    .await
}

async fn signed_webhook_with_a_good_signature_opens_and_resolves(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let event = json!({
        "key": "checkout-latency",
        "title": "Checkout p95 above 2s",
        "status": "firing",
        "labels": {"region": "eu-west-1"},
        "annotations": {"runbook": "https://wiki.example.com/checkout"},
        "description": "p95 2.4s for 10 minutes",
        "starts_at": "2026-11-23T09:50:00Z"
    });
    let (status, body) = signed(&app, "plain", PLAIN_SECRET, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"alert_key": "wh:plain:checkout-latency", "firing": true})
    );
    let a = alert(&app, "wh:plain:checkout-latency").await;
    assert_eq!(a["source"], "webhook");
    assert_eq!(a["labels"]["alertname"], "Checkout p95 above 2s");
    assert_eq!(a["labels"]["webhook"], "plain");
    assert_eq!(a["labels"]["region"], "eu-west-1");
    assert_eq!(a["annotations"]["description"], "p95 2.4s for 10 minutes");
    assert_eq!(a["starts_at"], "2026-11-23T09:50:00Z");
    assert_eq!(
        (&a["service"], &a["severity"]),
        (&json!("api"), &json!("P2"))
    );
    app.process().await;
    let inc = app.incidents().await[0].clone();
    assert_eq!(inc["title"], "Checkout p95 above 2s");
    assert_eq!(inc["summary"], "p95 2.4s for 10 minutes");
    assert_eq!(
        (&inc["severity"], &inc["services"]),
        (&json!("P2"), &json!(["api"]))
    );

    app.advance_mins(5);
    let resolved =
        json!({"key": "checkout-latency", "title": "Checkout p95 above 2s", "status": "resolved"});
    let (status, body) = signed(&app, "plain", PLAIN_SECRET, &resolved).await;
    assert_eq!(
        (status, &body["firing"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );
    app.process().await;
    assert_eq!(app.incidents().await[0]["alerts_firing"], 0);
    // Without a key, the identity is the label fingerprint: repeats merge.
    let keyless = json!({"title": "Queue backing up", "status": "firing"});
    let (_, first) = signed(&app, "plain", PLAIN_SECRET, &keyless).await;
    let (_, second) = signed(&app, "plain", PLAIN_SECRET, &keyless).await;
    assert_eq!(first["alert_key"], second["alert_key"]);
    assert!(
        first["alert_key"]
            .as_str()
            .unwrap()
            .starts_with("wh:plain:")
    );
}

async fn signed_webhook_with_a_bad_or_missing_signature_is_401_and_stores_nothing(
    backend: Backend,
) {
    let (app, _dir) = spawn(backend).await;
    let body = json!({"title": "Fake outage", "status": "firing"}).to_string();
    let url = "/api/v1/webhooks/plain";
    let now = now_secs(&app);
    let cases = [
        (
            "another secret",
            vec![(
                "X-Firebell-Signature",
                signature("not-the-secret-at-all", now, &body),
            )],
        ),
        (
            "another webhook's secret",
            vec![(
                "X-Firebell-Signature",
                signature(GRAFANA_SECRET, now, &body),
            )],
        ),
        (
            "a signature of another body",
            vec![("X-Firebell-Signature", signature(PLAIN_SECRET, now, "{}"))],
        ),
        ("no signature", vec![]),
        (
            "garbage",
            vec![("X-Firebell-Signature", "t=abc,v1=zz".to_string())],
        ),
        (
            "no timestamp",
            vec![("X-Firebell-Signature", "v1=00".to_string())],
        ),
        (
            "a bearer token instead",
            vec![("Authorization", format!("Bearer {}", app.admin_token))],
        ),
    ];
    for (what, headers) in cases {
        let got = post_anonymous(&app, url, &headers, body.clone()).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_signature");
        assert!(
            got.1["error"]["message"].as_str().unwrap().len() > 10,
            "{what}"
        );
    }
    let got = post_anonymous(
        &app,
        "/api/v1/webhooks/nosuch",
        &[("X-Firebell-Signature", signature(PLAIN_SECRET, now, &body))],
        body.clone(),
    )
    .await;
    assert_error(&got, StatusCode::NOT_FOUND, "webhook_not_found");
    assert!(all_alerts(&app).await.is_empty(), "nothing stored");
    // The same body, signed right, is taken.
    let got = post_anonymous(
        &app,
        url,
        &[("X-Firebell-Signature", signature(PLAIN_SECRET, now, &body))],
        body,
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
}

async fn signed_webhook_replayed_later_is_401(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let body = json!({"key": "k", "title": "Cert expires", "status": "firing"}).to_string();
    let url = "/api/v1/webhooks/plain";
    let now = now_secs(&app);
    // Within five minutes either way of the server's clock is accepted.
    for skew in [-300, 299] {
        let sig = signature(PLAIN_SECRET, now + skew, &body);
        let got = post_anonymous(&app, url, &[("X-Firebell-Signature", sig)], body.clone()).await;
        assert_eq!(got.0, StatusCode::OK, "skew {skew}: {}", got.1);
    }
    for skew in [-301, 301] {
        let sig = signature(PLAIN_SECRET, now + skew, &body);
        let got = post_anonymous(&app, url, &[("X-Firebell-Signature", sig)], body.clone()).await;
        let msg = assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_signature");
        assert!(msg.contains("300 seconds"), "{msg}");
    }
    // A captured request replayed six minutes later.
    let captured = signature(PLAIN_SECRET, now, &body);
    app.advance_mins(6);
    let resolved = body.replace("firing", "resolved");
    let replay_sig = captured.clone();
    let got = post_anonymous(
        &app,
        url,
        &[("X-Firebell-Signature", replay_sig)],
        body.clone(),
    )
    .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_signature");
    // Nor can its signature be moved to another body.
    let got = post_anonymous(&app, url, &[("X-Firebell-Signature", captured)], resolved).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_signature");
    assert_eq!(alert(&app, "wh:plain:k").await["firing"], true);
}

async fn signed_webhook_field_mapping_and_status_words(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let event = |state: &str| {
        json!({
            "alert": {
                "id": 4711,
                "name": "Login errors",
                "message": "401s on /login above 20%",
                "state": state,
                "level": "p1",
                "tags": {"team": "identity", "canary": true},
                "since": 1_795_425_600,
                "link": "https://grafana.example.com/alerting/4711"
            },
            "sender": "grafana"
        })
    };
    let (status, body) = signed(&app, "grafana", GRAFANA_SECRET, &event("alerting")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["alert_key"], "wh:grafana:4711",
        "a numeric id is a key too"
    );
    let a = alert(&app, "wh:grafana:4711").await;
    assert_eq!(a["labels"]["team"], "identity");
    assert_eq!(a["labels"]["canary"], "true");
    assert_eq!(a["labels"]["severity"], "p1", "kept as a label for routes");
    assert_eq!(a["annotations"]["summary"], "Login errors");
    assert_eq!(a["annotations"]["description"], "401s on /login above 20%");
    assert_eq!(a["starts_at"], "2026-11-23T09:20:00Z");
    assert_eq!(
        a["generator_url"],
        "https://grafana.example.com/alerting/4711"
    );
    assert_eq!(
        (&a["service"], &a["severity"]),
        (&json!("web"), &json!("P1")),
        "an event severity naming a rung of the ladder wins"
    );
    app.process().await;
    assert_eq!(app.incidents().await[0]["severity"], "P1");

    let (status, body) = signed(&app, "grafana", GRAFANA_SECRET, &event("ok")).await;
    assert_eq!(
        (status, &body["firing"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );

    let got = signed(&app, "grafana", GRAFANA_SECRET, &event("pending")).await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "invalid_event");
    assert!(
        msg.contains("alert.state") && msg.contains("alerting, ok"),
        "{msg}"
    );
    let mut untitled = event("alerting");
    untitled["alert"].as_object_mut().unwrap().remove("name");
    untitled["alert"]["tags"] = json!(["not", "an", "object"]);
    let got = signed(&app, "grafana", GRAFANA_SECRET, &untitled).await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "invalid_event");
    assert!(msg.contains("alert.name: required"), "{msg}");
    assert!(msg.contains("alert.tags: expected an object"), "{msg}");
    // The minimal schema's fields are not read when a mapping moves them.
    let minimal = json!({"title": "Plain title", "status": "firing"});
    let got = signed(&app, "grafana", GRAFANA_SECRET, &minimal).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "invalid_event");
    assert_eq!(all_alerts(&app).await.len(), 1);
}

async fn signed_webhook_secret_from_the_environment(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let secret = std::env::var("PATH").expect("PATH is set");
    let event = json!({"title": "Nightly backup failed", "status": "firing"});
    let (status, body) = signed(&app, "from-env", &secret, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = signed(&app, "from-env", PLAIN_SECRET, &event).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_signature");
    // A webhook whose variable is unset is the server's problem: 503, and
    // the answer does not name the variable.
    let got = signed(&app, "unconfigured", "whatever-secret-1234", &event).await;
    let msg = assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(!msg.contains(UNSET_VAR), "{msg}");
    assert_eq!(all_alerts(&app).await.len(), 1);
}

/// Text PostgreSQL cannot store (a NUL character) is refused at every door,
/// on both backends, naming the field; it never reaches the ingest log, so
/// the alerts behind it still become incidents.
async fn a_nul_character_is_refused_at_every_door_and_paging_goes_on(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let nul = "db\u{0}1";

    // Alertmanager API v2: a 400 that names the alert and the field.
    let (status, body) = app
        .post(
            "/api/v2/alerts",
            json!([
                {"labels": {"alertname": "DiskFull", "service": "api"}},
                {"labels": {"alertname": "DiskFull", "service": "api", "instance": nul}},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let msg = body.as_str().unwrap_or_default();
    assert!(msg.contains("alerts[1].labels[\"instance\"]"), "{msg}");
    assert!(msg.contains("NUL"), "{msg}");

    // Alertmanager's webhook receiver: an annotation this time.
    let got = app
        .post(
            "/api/v1/alertmanager/webhook",
            json!({"version": "4", "alerts": [{
                "status": "firing",
                "labels": {"alertname": "DiskFull", "service": "api"},
                "annotations": {"summary": nul},
                "startsAt": "2026-11-23T09:55:00Z"
            }]}),
        )
        .await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "invalid_text");
    assert!(msg.contains("alerts[0].annotations[\"summary\"]"), "{msg}");

    // PagerDuty Events v2, alert and change events: PagerDuty's 400, naming
    // the field as the sender wrote it; custom details too.
    let errors = pd_errors(&pd(&app, trigger(nul, "critical", None)).await);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("'payload.summary'") && e.contains("NUL")),
        "{errors:?}"
    );
    let mut change = json!({
        "routing_key": CI_KEY,
        "payload": {"summary": nul, "source": "ci"}
    });
    let got = post_anonymous(&app, "/v2/change/enqueue", &[], change.to_string()).await;
    assert!(
        pd_errors(&got)
            .iter()
            .any(|e| e.contains("'payload.summary'"))
    );
    change["payload"]["summary"] = json!("Deploy v1.4");
    change["payload"]["source"] = json!(nul);
    let got = post_anonymous(&app, "/v2/change/enqueue", &[], change.to_string()).await;
    assert!(
        pd_errors(&got)
            .iter()
            .any(|e| e.contains("'payload.source'"))
    );

    // A signed webhook.
    let event = json!({"key": "k", "title": nul, "status": "firing"});
    let got = signed(&app, "plain", PLAIN_SECRET, &event).await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "invalid_text");
    assert!(msg.contains("NUL"), "{msg}");

    // Nothing refused was stored.
    assert!(all_alerts(&app).await.is_empty());

    // Custom details travel as JSON text, where a NUL is an escape
    // (`\u0000`), which every backend stores: accepted, and processed.
    let mut details = trigger("Disk almost full", "critical", None);
    details["payload"]["custom_details"] = json!({"host": nul});
    let got = pd(&app, details).await;
    assert_eq!(got.0, StatusCode::ACCEPTED, "{}", got.1);

    // Paging goes on.
    let (status, body) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "DiskFull", "service": "api", "severity": "critical"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let round = app.process().await;
    assert_eq!(round.alerts, 2, "{round:?}");
    assert!(round.declared >= 1, "{round:?}");
    assert_eq!(all_alerts(&app).await.len(), 2);
}

/// One rule at every door: JSON only if it says so, the 413 names the
/// route's own limit, and no instant before 1970 but Go's zero time (unset).
async fn the_ingest_doors_agree_on_content_type_limits_and_times(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let webhook = json!({"version": "4", "alerts": [{
        "status": "firing",
        "labels": {"alertname": "DiskFull", "service": "api"},
        "startsAt": "2026-11-23T09:55:00Z"
    }]});
    let got = app
        .post_raw(
            "/api/v1/alertmanager/webhook",
            "text/plain",
            webhook.to_string(),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    // The Alertmanager API takes 8 MiB, and says so when refusing more.
    let big = format!("[{}]", "{\"labels\":{\"a\":\"b\"}},".repeat(400_000));
    let got = app
        .post_raw("/api/v2/alerts", "application/json", big)
        .await;
    assert_eq!(got.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", got.1);
    assert!(got.1.to_string().contains("8388608-byte"), "{}", got.1);

    // Year 1 (not Go's zero time) is a broken clock.
    let (status, body) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "A"}, "startsAt": "0001-06-01T00:00:00Z"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("alerts[0].startsAt"), "{body}");
    let mut event = trigger("Disk almost full", "critical", None);
    event["payload"]["timestamp"] = json!("0001-06-01T00:00:00Z");
    let errors = pd_errors(&pd(&app, event).await);
    assert!(
        errors.iter().any(|e| e.contains("'payload.timestamp'")),
        "{errors:?}"
    );
    let got = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "P1", "detected_at": "0001-06-01T00:00:00Z"}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_detected_at",
    );
    // Go's zero time still means unset.
    let (status, body) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "A"}, "startsAt": "0001-01-01T00:00:00Z"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A key named twice is refused everywhere, as it is on the typed
    // endpoints: no "last one wins".
    let twice = r#"{"version": "4", "version": "4", "alerts": []}"#;
    let got = app
        .post_raw("/api/v1/alertmanager/webhook", "application/json", twice)
        .await;
    let msg = assert_error(&got, StatusCode::BAD_REQUEST, "malformed_json");
    assert!(msg.contains("duplicate key"), "{msg}");
    let twice = format!(
        r#"{{"routing_key": "{DATADOG_KEY}", "event_action": "trigger",
            "payload": {{"summary": "a", "summary": "b", "source": "s", "severity": "info"}}}}"#
    );
    let got = post_anonymous(&app, "/v2/enqueue", &[], twice).await;
    assert!(
        pd_errors(&got).iter().any(|e| e.contains("duplicate key")),
        "{}",
        got.1
    );
    let got = app
        .post_raw(
            "/api/v2/alerts",
            "application/json",
            r#"[{"labels": {"a": "1", "a": "2"}}]"#,
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);

    // An incident carries at most 50 tags.
    let tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let got = app
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "P1", "tags": tags}),
        )
        .await;
    let msg = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_tag");
    assert!(msg.contains("at most 50"), "{msg}");
}
