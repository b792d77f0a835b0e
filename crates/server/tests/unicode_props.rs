//! Arbitrary Unicode (NUL, controls, bidi marks, astral planes, noncharacters)
//! through every ingest door on both backends: each input gets a 4xx, or is
//! stored, merged and processed with its text intact. Nothing is set aside
//! and no processing round fails.

mod common;

use common::{Backend, TestApp, demo_policy_with};
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

on_both_backends!(arbitrary_unicode_at_every_ingest_door_is_refused_or_processed);

/// Cases per backend; each goes through all five doors.
const CASES: u32 = 48;
const KEY: &str = "0123456789abcdef0123456789abcdef";
const CHANGES_KEY: &str = "ci0123456789abcdef0123456789abcd";
const SECRET: &str = "plain-webhook-secret-0123456789";

fn senders() -> String {
    format!(
        r#"
[[integrations]]
name = "datadog"
routing_key = "{KEY}"
service = "api"

[[integrations]]
name = "ci"
routing_key = "{CHANGES_KEY}"
service = "web"

[[webhooks]]
name = "plain"
secret = "{SECRET}"
service = "api"
severity = "P2"
"#
    )
}

/// Text a sender might send: anything at all, or short runs of the
/// characters that break things most.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('\u{0}'),
                Just('\u{1b}'),
                Just('\u{7f}'),
                Just('\u{202e}'),
                Just('\u{feff}'),
                Just('\u{fffe}'),
                Just('\u{10ffff}'),
                Just('"'),
                Just('\\'),
                Just('<'),
                Just('&'),
                Just('é'),
                Just('ع'),
                Just('𝄞'),
            ],
            0..12
        )
        .prop_map(|cs| cs.into_iter().collect()),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    label_name: String,
    label_value: String,
    summary: String,
    key: String,
}

/// Label names are mostly valid (so the text goes deep), sometimes not.
fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-zA-Z0-9_]{0,12}", 1 => text()]
}

fn case() -> impl Strategy<Value = Case> {
    (label_name(), text(), text(), text()).prop_map(|(label_name, label_value, summary, key)| {
        Case {
            label_name,
            label_value,
            summary,
            key,
        }
    })
}

async fn arbitrary_unicode_at_every_ingest_door_is_refused_or_processed(backend: Backend) {
    let (dir, policy) = demo_policy_with(&senders());
    let app = TestApp::spawn_with_policy(backend, policy).await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let n = std::sync::atomic::AtomicU32::new(0);
    let result = tokio::task::block_in_place(|| {
        runner.run(&case(), |c| {
            let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            handle
                .block_on(one_case(&app, n, &c))
                .map_err(TestCaseError::fail)
        })
    });
    drop(dir);
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Every alert, resolved ones too.
async fn all_alerts(app: &TestApp) -> Vec<Value> {
    let (status, v) = app.get("/api/v1/alerts?all=true").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn send(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    bearer: bool,
    body: String,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json");
    if bearer {
        req = req.bearer_auth(&app.admin_token);
    }
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    common::decode(req.body(body).send().await.unwrap()).await
}

/// A 4xx, or a 2xx; a 5xx (or anything else) fails the case.
fn accepted(door: &str, got: &(StatusCode, Value)) -> Result<bool, String> {
    if got.0.is_success() {
        Ok(true)
    } else if got.0.is_client_error() {
        Ok(false)
    } else {
        Err(format!("{door}: {} {}", got.0, got.1))
    }
}

async fn one_case(app: &TestApp, n: u32, c: &Case) -> Result<(), String> {
    let name = format!("Prop{n}");
    let label = format!("k{}", c.label_name);
    let alert = json!({
        "labels": {"alertname": name, "service": "api", "severity": "warning", label.clone(): c.label_value},
        "annotations": {"summary": c.summary},
        "startsAt": "2026-11-23T09:59:00Z"
    });

    // Alertmanager API v2 and the Alertmanager webhook receiver.
    let v2 = send(app, "/api/v2/alerts", &[], true, json!([alert]).to_string()).await;
    let v2_ok = accepted("/api/v2/alerts", &v2)?;
    let mut hooked = alert.clone();
    hooked["status"] = json!("firing");
    hooked["labels"]["alertname"] = json!(format!("Hook{n}"));
    let webhook =
        json!({"version": "4", "groupKey": c.key, "receiver": c.summary, "alerts": [hooked]});
    let am = send(
        app,
        "/api/v1/alertmanager/webhook",
        &[],
        true,
        webhook.to_string(),
    )
    .await;
    let am_ok = accepted("alertmanager webhook", &am)?;

    // PagerDuty Events v2: an alert event and a change event.
    let dedup = format!("{n}-{}", c.key);
    let event = json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": c.summary, "source": c.label_value, "severity": "warning",
                    "custom_details": {label.clone(): c.label_value}}
    });
    let pd = send(app, "/v2/enqueue", &[], false, event.to_string()).await;
    let pd_ok = accepted("/v2/enqueue", &pd)?;
    let change =
        json!({"routing_key": CHANGES_KEY, "payload": {"summary": c.summary, "source": c.key}});
    let ch = send(app, "/v2/change/enqueue", &[], false, change.to_string()).await;
    accepted("/v2/change/enqueue", &ch)?;

    // A signed webhook.
    let hook_key = format!("{n}-{}", c.key);
    let body = json!({"key": hook_key, "title": c.summary, "status": "firing",
                      "labels": {label.clone(): c.label_value}})
    .to_string();
    let t = app.state().clock.now().as_second();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let sig = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    let wh = send(
        app,
        "/api/v1/webhooks/plain",
        &[("X-Firebell-Signature", sig)],
        false,
        body,
    )
    .await;
    let wh_ok = accepted("signed webhook", &wh)?;

    // Processed: a round succeeds, nothing is set aside, and every accepted
    // alert is there with its text as sent.
    firebell_server::ingest::processor::process_pending(&app.state().processor)
        .await
        .map_err(|e| format!("processing failed: {e}"))?;
    let pending = app.state().store.pending_alerts(10).await.unwrap();
    if !pending.is_empty() {
        return Err(format!("left unprocessed: {pending:?}"));
    }
    let aside = app.state().store.list_set_aside(None, 10).await.unwrap();
    if !aside.is_empty() {
        return Err(format!("set aside: {aside:?}"));
    }
    let alerts = all_alerts(app).await;
    let find = |pred: &dyn Fn(&Value) -> bool| alerts.iter().find(|a| pred(a)).cloned();
    for (ok, alertname) in [(v2_ok, name.clone()), (am_ok, format!("Hook{n}"))] {
        if !ok {
            continue;
        }
        let a = find(&|a| a["labels"]["alertname"] == alertname.as_str())
            .ok_or_else(|| format!("accepted alert {alertname} is missing"))?;
        if a["labels"][&label] != c.label_value.as_str()
            || a["annotations"]["summary"] != c.summary.as_str()
        {
            return Err(format!("{alertname} changed on the way: {a}"));
        }
    }
    if pd_ok {
        let key = format!("pd:datadog:{dedup}");
        let a = find(&|a| a["key"] == key.as_str())
            .ok_or_else(|| format!("accepted PagerDuty event {key:?} is missing"))?;
        if a["annotations"]["summary"] != c.summary.as_str() {
            return Err(format!("PagerDuty summary changed: {a}"));
        }
    }
    if wh_ok {
        let key = format!("wh:plain:{hook_key}");
        find(&|a| a["key"] == key.as_str())
            .ok_or_else(|| format!("accepted webhook {key:?} is missing"))?;
    }
    Ok(())
}
