//! Heartbeats and HTTP/TCP health checks, end to end on both backends: a
//! probe or a missed ping becomes an alert, the alert an incident with the
//! monitor's service and severity, and recovery resolves the alert.
//!
//! Probes hit real sockets (an axum app on 127.0.0.1:0 that answers what the
//! test says, closed and listening ports); time is the manual clock, and the
//! monitors are driven by hand (`run_check_once`, `check_heartbeats_once`,
//! `process_pending`), so nothing waits longer than a short probe timeout.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode as AxumStatus;
use common::{Backend, TestApp, assert_error};
use firebell_core::alert::health::{CheckPhase, Failure};
use firebell_server::health::checks::{CheckRun, run_all_checks_once, run_check_once};
use firebell_server::health::heartbeats::{HeartbeatRound, check_heartbeats_once};
use firebell_server::health::{HealthError, resolve_removed_monitors};
use firebell_server::ingest::processor::process_pending;
use firebell_server::{Clock, PolicySource};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    a_missing_heartbeat_opens_an_incident_and_a_ping_resolves_it,
    heartbeat_pings_need_a_known_name_and_a_responder,
    heartbeats_and_checks_survive_restarts,
    an_http_check_opens_an_incident_at_its_threshold_and_resolves_on_success,
    http_checks_fail_on_timeout_body_mismatch_and_refusal,
    tcp_checks_pass_when_listening_and_fail_when_closed,
    monitors_removed_from_the_policy_resolve_their_alerts,
    the_background_monitors_run_by_themselves,
    s000_health_every_30s,
    s001_healthz_5xx_is_sev1,
    two_thousand_tcp_checks_complete_a_round,
    s003_monitor_the_monitor,
);

/// s003.monitor-the-monitor: Prometheus's always-firing Watchdog alert is
/// DashFlow's heartbeat. Its reports (through the Alertmanager API or its
/// webhook) are pings and open no incident; when they stop, Firebell itself
/// opens a P1 and pages; when they come back, that alert resolves.
async fn s003_monitor_the_monitor(backend: Backend) {
    let app = common::example_at(backend, "dashflow.toml", "2026-11-23T10:00:00Z").await;
    let watchdog = json!([{"labels": {"alertname": "Watchdog", "severity": "none"},
                           "annotations": {"summary": "Alerting pipeline works"}}]);
    let (status, v) = app.post("/api/v2/alerts", watchdog.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    process(&app).await;
    assert!(
        incidents(&app).await.is_empty(),
        "a watchdog report is no incident"
    );
    let (_, firing) = app.get("/api/v2/alerts").await;
    assert_eq!(firing, json!([]), "nor a stored alert");
    let hb = monitor(&app, "heartbeats", "prometheus-watchdog").await;
    assert_eq!(hb["state"], "up", "{hb}");
    assert_eq!(hb["last_seen_at"], "2026-11-23T10:00:00Z");

    // Reports keep coming (here through Alertmanager's webhook): quiet.
    app.advance_mins(4);
    let webhook = json!({"version": "4", "status": "firing", "receiver": "firebell",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}, "annotations": {},
                    "startsAt": "2026-11-23T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom", "fingerprint": "abc"}]});
    let (status, v) = app.post("/api/v1/alertmanager/webhook", webhook).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        monitor(&app, "heartbeats", "prometheus-watchdog").await["last_seen_at"],
        "2026-11-23T10:04:00Z"
    );
    app.advance_mins(5);
    assert_eq!(heartbeats(&app).await, HeartbeatRound::default());

    // Silent for 5 minutes and the grace (since 10:04): Firebell pages, at P1.
    app.advance_mins(1);
    assert_eq!(heartbeats(&app).await.fired, 1);
    assert_eq!(process(&app).await.declared, 1);
    let list = incidents(&app).await;
    assert_eq!(list[0]["title"], "Heartbeat prometheus-watchdog missing");
    assert_eq!(list[0]["severity"], "P1");
    let id = list[0]["id"].as_str().unwrap().to_string();
    app.tick().await;
    let paged = app.events_of(&id, "escalated").await;
    assert_eq!(paged[0]["notified"][0]["person"], "oncall", "{paged:?}");

    // The watchdog is back: the alert resolves.
    let (status, _) = app.post("/api/v2/alerts", watchdog).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(heartbeats(&app).await.resolved, 1);
    process(&app).await;
    assert_eq!(alert_counts(&app, &id).await, (0, 1));
}

// --- an upstream that answers what the test says ------------------------------

#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
    /// Wait this long before answering (longer than a check's timeout: a hang).
    delay: Duration,
}

/// An HTTP server on 127.0.0.1:0 answering every path with the current answer.
struct Upstream {
    addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Upstream {
        let answer = Arc::new(Mutex::new(Answer {
            status: 200,
            body: "ok".into(),
            delay: Duration::ZERO,
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (a, h) = (answer.clone(), hits.clone());
        let app = axum::Router::new().fallback(move || {
            let (a, h) = (a.clone(), h.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let now = a.lock().unwrap().clone();
                if !now.delay.is_zero() {
                    tokio::time::sleep(now.delay).await;
                }
                (
                    AxumStatus::from_u16(now.status).unwrap(),
                    now.body.to_string(),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream { addr, answer, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = Answer {
            status,
            body: body.into(),
            delay: Duration::ZERO,
        };
    }

    fn hang(&self) {
        self.answer.lock().unwrap().delay = Duration::from_secs(30);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

// --- helpers ------------------------------------------------------------------

/// Write a policy into `dir` and point a server at it.
fn policy_file(dir: &tempfile::TempDir, text: &str) -> PolicySource {
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    PolicySource::File(path)
}

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// `text` with `from` replaced, which must occur.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer has {from:?}");
    text.replace(from, to)
}

const BASE: &str = r#"
[[severities]]
name = "P1"
description = "Major"

[[severities]]
name = "P2"
description = "Degraded"

[services.api]
description = "API"
"#;

async fn check(app: &TestApp, name: &str) -> CheckRun {
    run_check_once(&app.state().monitors, name)
        .await
        .unwrap_or_else(|e| panic!("check {name}: {e}"))
}

async fn heartbeats(app: &TestApp) -> HeartbeatRound {
    check_heartbeats_once(&app.state().monitors)
        .await
        .expect("heartbeat round")
}

async fn process(app: &TestApp) -> firebell_server::ingest::processor::Round {
    process_pending(&app.state().processor)
        .await
        .expect("processing")
}

async fn incidents(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/incidents").await.1["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// `(firing, total)` alerts of an incident.
async fn alert_counts(app: &TestApp, id: &str) -> (u64, u64) {
    let (status, v) = app.get(&format!("/api/v1/incidents/{id}/alerts")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (v["firing"].as_u64().unwrap(), v["total"].as_u64().unwrap())
}

/// `GET /api/v1/checks`, one entry by name from `checks` or `heartbeats`.
async fn monitor(app: &TestApp, list: &str, name: &str) -> Value {
    let (status, v) = app.get("/api/v1/checks").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {v}"))
        .clone()
}

// --- heartbeats -----------------------------------------------------------------

/// The demo's nightly backup (1d, grace 2h, P2 on the API): silent past a day
/// and two hours → an incident; the next ping → the alert resolves.
async fn a_missing_heartbeat_opens_an_incident_and_a_ping_resolves_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(heartbeats(&app).await, HeartbeatRound::default());
    let hb = monitor(&app, "heartbeats", "api-db-backup").await;
    assert_eq!(
        (hb["state"].as_str(), hb["last_seen_at"].is_null()),
        (Some("waiting"), true),
        "{hb}"
    );
    assert_eq!(hb["missing_at"], "2026-11-24T12:00:00Z", "{hb}");

    // Never pinged: counted from the server's start.
    app.advance_mins(26 * 60 - 1);
    assert_eq!(heartbeats(&app).await, HeartbeatRound::default());
    app.advance_mins(1);
    assert_eq!(heartbeats(&app).await.fired, 1);
    assert_eq!(
        heartbeats(&app).await,
        HeartbeatRound::default(),
        "reported once"
    );
    assert_eq!(process(&app).await.declared, 1);
    let list = incidents(&app).await;
    assert_eq!(list.len(), 1);
    let inc = &list[0];
    assert_eq!(inc["title"], "Heartbeat api-db-backup missing");
    assert_eq!(inc["severity"], "P2", "the heartbeat's severity");
    assert_eq!(inc["services"], json!(["api"]));
    assert_eq!(
        inc["detected_at"], "2026-11-24T10:00:00Z",
        "when the ping was due"
    );
    let id = inc["id"].as_str().unwrap();
    assert_eq!(alert_counts(&app, id).await, (1, 1));
    let (_, alerts) = app.get(&format!("/api/v1/incidents/{id}/alerts")).await;
    let alert = &alerts["items"][0];
    assert_eq!(alert["key"], "heartbeat:api-db-backup");
    assert_eq!(alert["source"], "heartbeat");
    assert_eq!(alert["labels"]["team"], "platform");
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("No ping at all since"),
        "{alert}"
    );
    assert_eq!(
        monitor(&app, "heartbeats", "api-db-backup").await["state"],
        "missing"
    );

    let (status, ping) = app
        .post("/api/v1/heartbeats/api-db-backup", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ping}");
    assert_eq!(ping["state"], "up");
    assert_eq!(ping["last_seen_at"], "2026-11-24T12:00:00Z");
    assert_eq!(ping["due_at"], "2026-11-25T12:00:00Z");
    assert_eq!(ping["missing_at"], "2026-11-25T14:00:00Z");
    assert_eq!(heartbeats(&app).await.resolved, 1);
    process(&app).await;
    assert_eq!(alert_counts(&app, id).await, (0, 1), "the alert resolved");
    let hb = monitor(&app, "heartbeats", "api-db-backup").await;
    assert_eq!(hb["state"], "up", "{hb}");

    // Regular pings keep it quiet.
    for _ in 0..3 {
        app.advance_mins(24 * 60);
        app.post("/api/v1/heartbeats/api-db-backup", json!({}))
            .await;
        assert_eq!(heartbeats(&app).await, HeartbeatRound::default());
    }
}

async fn heartbeat_pings_need_a_known_name_and_a_responder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let got = app.post("/api/v1/heartbeats/no-such-job", json!({})).await;
    let msg = assert_error(&got, StatusCode::NOT_FOUND, "heartbeat_not_found");
    assert!(msg.contains("no-such-job"), "{msg}");
    // No body at all is fine.
    let resp = app
        .http
        .post(app.url("/api/v1/heartbeats/api-db-backup"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let viewer = app.token("dashboard", "viewer").await;
    let got = app
        .post_as(&viewer, "/api/v1/heartbeats/api-db-backup", json!({}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app
        .post_as("fb_wrong", "/api/v1/heartbeats/api-db-backup", json!({}))
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    // A viewer may look.
    let (status, v) = app.get_as(&viewer, "/api/v1/checks").await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Pings are in the store and firing state is read back from the alerts: a
/// restart neither forgets a ping nor leaves an alert firing forever.
async fn heartbeats_and_checks_survive_restarts(backend: Backend) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        &dir,
        &format!(
            r#"{BASE}
[[heartbeats]]
name = "billing-sync"
interval = "1h"
grace = "5m"
severity = "P2"

[[checks]]
name = "api"
kind = "http"
url = "{}"
timeout = "500ms"
failure_threshold = 1
severity = "P1"
"#,
            upstream.url("/health")
        ),
    );
    let mut app = TestApp::spawn_with_policy(backend, policy).await;
    app.post("/api/v1/heartbeats/billing-sync", json!({})).await;
    upstream.answer(503, "down");
    assert!(check(&app, "api").await.reported);

    app.restart().await;
    // The ping before the restart counts, not the restart.
    app.advance_mins(64);
    assert_eq!(heartbeats(&app).await, HeartbeatRound::default());
    app.advance_mins(1);
    assert_eq!(heartbeats(&app).await.fired, 1);
    process(&app).await;

    app.restart().await;
    app.advance_mins(1);
    assert_eq!(
        heartbeats(&app).await,
        HeartbeatRound::default(),
        "still missing, already firing: nothing new"
    );
    let failing = check(&app, "api").await;
    assert_eq!(
        (failing.phase, failing.reported),
        (CheckPhase::Firing, false),
        "the check's alert was read back as firing"
    );
    app.post("/api/v1/heartbeats/billing-sync", json!({})).await;
    assert_eq!(heartbeats(&app).await.resolved, 1);
    upstream.answer(200, "ok");
    assert!(check(&app, "api").await.reported, "the success resolves");
    process(&app).await;
    let (_, firing) = app.get("/api/v1/alerts").await;
    assert_eq!(firing["items"], json!([]), "nothing left firing");
}

// --- HTTP and TCP checks --------------------------------------------------------

/// 500, 500 → an incident at the check's severity and service; 200 → resolved.
async fn an_http_check_opens_an_incident_at_its_threshold_and_resolves_on_success(
    backend: Backend,
) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        &dir,
        &format!(
            r#"{BASE}
[[checks]]
name = "api-health"
description = "Public API"
kind = "http"
url = "{}"
timeout = "1s"
service = "api"
severity = "P1"
labels = {{ environment = "production" }}
"#,
            upstream.url("/health")
        ),
    );
    let app = TestApp::spawn_with_policy(backend, policy).await;
    let pending = monitor(&app, "checks", "api-health").await;
    assert_eq!(pending["state"], "pending", "{pending}");
    assert_eq!(pending["interval"], "30s");
    assert_eq!(pending["failure_threshold"], 2);

    let ok = check(&app, "api-health").await;
    assert_eq!(
        (ok.result, ok.phase, ok.reported),
        (Ok(()), CheckPhase::Healthy, false)
    );
    upstream.answer(500, "boom");
    let first = check(&app, "api-health").await;
    assert_eq!(
        first.result,
        Err(Failure::Status {
            code: 500,
            expected: "2xx".into()
        })
    );
    assert_eq!((first.phase, first.reported), (CheckPhase::Failing, false));
    assert_eq!(
        process(&app).await.alerts,
        0,
        "below the threshold: no alert"
    );

    app.advance_mins(1);
    let second = check(&app, "api-health").await;
    assert_eq!((second.phase, second.reported), (CheckPhase::Firing, true));
    assert_eq!(process(&app).await.declared, 1);
    let inc = incidents(&app).await[0].clone();
    assert_eq!(inc["title"], "Health check api-health failing");
    assert_eq!(inc["severity"], "P1");
    assert_eq!(inc["services"], json!(["api"]));
    assert_eq!(inc["detected_at"], common::T0, "from the first failure");
    assert!(
        inc["summary"]
            .as_str()
            .unwrap()
            .contains("Public API. GET http://"),
        "{inc}"
    );
    assert!(
        inc["summary"].as_str().unwrap().contains(
            "failed 2 times in a row since 2026-11-23T10:00:00Z: answered HTTP 500, expected 2xx"
        ),
        "{inc}"
    );
    let shown = monitor(&app, "checks", "api-health").await;
    assert_eq!(shown["state"], "firing");
    assert_eq!(shown["consecutive_failures"], 2);
    assert_eq!(shown["last_result"], "down");
    assert_eq!(shown["last_failure"], "answered HTTP 500, expected 2xx");
    assert_eq!(shown["failing_since"], common::T0);

    // Still failing: nothing new.
    assert!(!check(&app, "api-health").await.reported);
    upstream.answer(200, "ok");
    app.advance_mins(1);
    let back = check(&app, "api-health").await;
    assert_eq!((back.phase, back.reported), (CheckPhase::Healthy, true));
    process(&app).await;
    let id = inc["id"].as_str().unwrap();
    assert_eq!(
        alert_counts(&app, id).await,
        (0, 1),
        "resolved by the success"
    );
    let (_, alerts) = app.get("/api/v1/alerts?all=true").await;
    let alerts = &alerts["items"];
    assert_eq!(alerts[0]["key"], "check:api-health");
    assert_eq!(alerts[0]["labels"]["environment"], "production");
    assert_eq!(alerts[0]["ends_at"], "2026-11-23T10:02:00Z");
    assert_eq!(
        monitor(&app, "checks", "api-health").await["state"],
        "healthy"
    );
    assert_eq!(upstream.hits(), 5);
}

async fn http_checks_fail_on_timeout_body_mismatch_and_refusal(backend: Backend) {
    let upstream = Upstream::start().await;
    let port = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        &dir,
        &format!(
            r#"{BASE}
[[checks]]
name = "slow"
kind = "http"
url = "{url}"
timeout = "200ms"

[[checks]]
name = "body"
kind = "http"
url = "{url}"
body_contains = "\"status\":\"ok\""
expected_status = [200, 503]

[[checks]]
name = "refused"
kind = "http"
url = "http://127.0.0.1:{port}/health"

[[checks]]
name = "head"
kind = "http"
method = "HEAD"
url = "{url}"
expected_status = ["3xx"]

[[checks]]
name = "tls"
kind = "http"
url = "https://{addr}/health"
"#,
            url = upstream.url("/health"),
            addr = upstream.addr,
        ),
    );
    let app = TestApp::spawn_with_policy(backend, policy).await;

    upstream.answer(503, r#"{"status":"degraded"}"#);
    assert_eq!(
        check(&app, "body").await.result,
        Err(Failure::BodyMismatch {
            code: 503,
            expected: r#""status":"ok""#.into()
        }),
        "503 is accepted here, the body is not"
    );
    upstream.answer(200, r#"{"status":"ok","db":"up"}"#);
    assert_eq!(check(&app, "body").await.result, Ok(()));
    assert_eq!(
        check(&app, "head").await.result,
        Err(Failure::Status {
            code: 200,
            expected: "3xx".into()
        })
    );

    assert_eq!(
        check(&app, "refused").await.result,
        Err(Failure::ConnectionRefused)
    );
    // HTTPS to a plain-HTTP port: the TLS handshake fails, in words.
    match check(&app, "tls").await.result {
        Err(Failure::Error { message }) => {
            assert!(message.starts_with("cannot connect: "), "{message}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }

    upstream.hang();
    let started = Instant::now();
    let slow = check(&app, "slow").await;
    assert_eq!(
        slow.result,
        Err(Failure::Timeout {
            after: "200ms".parse().unwrap()
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the probe gave up at its timeout"
    );
    let shown = monitor(&app, "checks", "slow").await;
    assert_eq!(shown["last_failure"], "timed out after 200ms");
    assert_eq!(shown["state"], "failing");
}

async fn tcp_checks_pass_when_listening_and_fail_when_closed(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let closed = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        &dir,
        &format!(
            r#"{BASE}
[[checks]]
name = "db"
kind = "tcp"
address = "127.0.0.1:{open}"
timeout = "1s"

[[checks]]
name = "cache"
kind = "tcp"
address = "127.0.0.1:{closed}"
timeout = "1s"
failure_threshold = 1
service = "api"
severity = "P2"
"#
        ),
    );
    let app = TestApp::spawn_with_policy(backend, policy).await;
    assert_eq!(check(&app, "db").await.result, Ok(()));
    let cache = check(&app, "cache").await;
    assert_eq!(cache.result, Err(Failure::ConnectionRefused));
    assert!(cache.reported, "threshold 1: the first failure fires");
    process(&app).await;
    let inc = incidents(&app).await[0].clone();
    assert_eq!(
        (inc["severity"].as_str(), inc["title"].as_str()),
        (Some("P2"), Some("Health check cache failing"))
    );
    assert!(
        inc["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("TCP 127.0.0.1:{closed} failed once")),
        "{inc}"
    );
    let shown = monitor(&app, "checks", "db").await;
    assert_eq!(
        (shown["kind"].as_str(), shown["state"].as_str()),
        (Some("tcp"), Some("healthy"))
    );
    assert_eq!(shown["target"], format!("TCP 127.0.0.1:{open}"));
    assert!(matches!(
        run_check_once(&app.state().monitors, "nope").await,
        Err(HealthError::UnknownCheck(name)) if name == "nope"
    ));
}

/// A reload that drops a monitor resolves its firing alert: nothing else would.
async fn monitors_removed_from_the_policy_resolve_their_alerts(backend: Backend) {
    let closed = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let with = format!(
        r#"{BASE}
[[heartbeats]]
name = "cron"
interval = "5m"

[[checks]]
name = "cache"
kind = "tcp"
address = "127.0.0.1:{closed}"
failure_threshold = 1
"#
    );
    let policy = policy_file(&dir, &with);
    let app = TestApp::spawn_with_policy(backend, policy).await;
    assert!(check(&app, "cache").await.reported);
    app.advance_mins(10);
    assert_eq!(heartbeats(&app).await.fired, 1);
    assert_eq!(
        resolve_removed_monitors(&app.state().monitors)
            .await
            .unwrap(),
        0
    );

    std::fs::write(dir.path().join("policy.toml"), BASE).unwrap();
    app.state()
        .policy
        .reload(app.clock.now())
        .expect("the smaller policy loads");
    assert_eq!(
        resolve_removed_monitors(&app.state().monitors)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        resolve_removed_monitors(&app.state().monitors)
            .await
            .unwrap(),
        0
    );
    let (_, firing) = app.get("/api/v1/alerts").await;
    assert_eq!(firing["items"], json!([]));
    let (_, all) = app.get("/api/v1/alerts?all=true").await;
    let all = &all["items"];
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(
        all[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("no longer has this monitor")
    );
}

/// With background processing on (as `firebell serve` runs), the check
/// runner and the heartbeat monitor work by themselves on the real clock.
async fn the_background_monitors_run_by_themselves(backend: Backend) {
    let closed = closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        &dir,
        &format!(
            r#"{BASE}
[[heartbeats]]
name = "every-second"
interval = "1s"
grace = "0s"
severity = "P2"

[[checks]]
name = "cache"
kind = "tcp"
address = "127.0.0.1:{closed}"
interval = "1s"
timeout = "200ms"
failure_threshold = 1
service = "api"
severity = "P1"
"#
        ),
    );
    let app = TestApp::spawn_live_with_policy(backend, policy).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let titles = loop {
        let mut titles: Vec<String> = incidents(&app)
            .await
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i["severity"].as_str().unwrap(),
                    i["title"].as_str().unwrap()
                )
            })
            .collect();
        titles.sort();
        if titles.len() == 2 || Instant::now() > deadline {
            break titles;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        titles,
        [
            "P1 Health check cache failing",
            "P2 Heartbeat every-second missing"
        ]
    );
    let cache = monitor(&app, "checks", "cache").await;
    assert_eq!(cache["state"], "firing", "{cache}");
    assert_eq!(cache["last_failure"], "connection refused");
}

// --- the seeds' rules -------------------------------------------------------------

/// s000.health-every-30s: each environment's /health is checked every 30 s;
/// failure opens (and recovery resolves) an alert. The example's checks are
/// pointed at local stand-ins for production and staging.
async fn s000_health_every_30s(backend: Backend) {
    let production = Upstream::start().await;
    let staging_port = closed_port().await;
    let text = example("dealix-incident-rollback.toml");
    let text = replace(
        &text,
        "url = \"https://api.ai-company.sa/health\"",
        &format!("url = \"{}\"", production.url("/health")),
    );
    let text = replace(
        &text,
        "url = \"https://staging.api.ai-company.sa/health\"",
        &format!("url = \"http://127.0.0.1:{staging_port}/health\""),
    );
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with_policy(backend, policy_file(&dir, &text)).await;

    // Every environment's /health, every 30 s.
    let (_, policy) = app.get("/api/v1/policy").await;
    let services = &policy["policy"]["services"];
    let (_, monitors) = app.get("/api/v1/checks").await;
    let mut environments = Vec::new();
    for c in monitors["checks"].as_array().unwrap() {
        assert_eq!(c["interval"], "30s", "{c}");
        assert!(c["target"].as_str().unwrap().ends_with("/health"), "{c}");
        let service = c["service"].as_str().unwrap();
        environments.push(services[service]["environment"].as_str().unwrap());
    }
    environments.sort();
    assert_eq!(environments, ["production", "staging"]);

    // Production answers 503 twice in a row: an alert, a P0 on the API.
    production.answer(503, "unavailable");
    assert!(!check(&app, "api-production-health").await.reported);
    app.clock.advance(jiff::SignedDuration::from_secs(30));
    assert!(check(&app, "api-production-health").await.reported);
    // Staging refuses connections: its own, smaller incident.
    assert!(!check(&app, "api-staging-health").await.reported);
    assert!(check(&app, "api-staging-health").await.reported);
    assert_eq!(process(&app).await.declared, 2);
    let list = incidents(&app).await;
    let by_title = |t: &str| {
        list.iter()
            .find(|i| i["title"] == t)
            .unwrap_or_else(|| panic!("no incident {t}: {list:?}"))
            .clone()
    };
    let prod = by_title("Health check api-production-health failing");
    assert_eq!(
        (prod["severity"].as_str(), &prod["services"]),
        (Some("P0"), &json!(["api"]))
    );
    let staging = by_title("Health check api-staging-health failing");
    assert_eq!(
        (staging["severity"].as_str(), &staging["services"]),
        (Some("P2"), &json!(["api-staging"]))
    );

    // Recovery resolves production's alert.
    production.answer(200, "ok");
    app.clock.advance(jiff::SignedDuration::from_secs(30));
    assert!(check(&app, "api-production-health").await.reported);
    process(&app).await;
    let id = prod["id"].as_str().unwrap();
    assert_eq!(alert_counts(&app, id).await, (0, 1));
    let staging_id = staging["id"].as_str().unwrap();
    assert_eq!(alert_counts(&app, staging_id).await, (1, 1));
}

/// s001.healthz-5xx-is-sev1: `/healthz` answering 5xx or timing out opens a
/// SEV-1 on the backend. The example's URL points at a local stand-in, and
/// its 10 s timeout is shortened so the test does not wait for it.
async fn s001_healthz_5xx_is_sev1(backend: Backend) {
    let backend_app = Upstream::start().await;
    let text = example("dealix-sev.toml");
    let text = replace(
        &text,
        "url = \"https://api.ai-company.sa/healthz\"",
        &format!("url = \"{}\"", backend_app.url("/healthz")),
    );
    let text = replace(&text, "timeout = \"10s\"", "timeout = \"300ms\"");
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with_policy(backend, policy_file(&dir, &text)).await;

    // 5xx.
    backend_app.answer(502, "Bad Gateway");
    check(&app, "backend-healthz").await;
    let run = check(&app, "backend-healthz").await;
    assert!(run.reported, "{run:?}");
    process(&app).await;
    let inc = incidents(&app).await[0].clone();
    assert_eq!(inc["severity"], "SEV-1");
    assert_eq!(inc["services"], json!(["backend"]));
    assert!(
        inc["summary"]
            .as_str()
            .unwrap()
            .contains("answered HTTP 502"),
        "{inc}"
    );
    let id = inc["id"].as_str().unwrap().to_string();
    let shown = app.get(&format!("/api/v1/incidents/{id}")).await.1;
    let checklist = shown["incident"]["checklist"].to_string();
    assert!(
        checklist.contains("within-5-minutes") && checklist.contains("/healthz"),
        "a SEV-1 opens its checklists: {checklist}"
    );

    // Recovery, the incident resolved by a person; then a timeout.
    backend_app.answer(200, "ok");
    assert!(check(&app, "backend-healthz").await.reported);
    process(&app).await;
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            json!({"summary": "redeployed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    backend_app.hang();
    let first = check(&app, "backend-healthz").await;
    assert_eq!(
        first.result,
        Err(Failure::Timeout {
            after: "300ms".parse().unwrap()
        })
    );
    assert!(check(&app, "backend-healthz").await.reported);
    assert_eq!(process(&app).await.declared, 1, "a new incident");
    let list = incidents(&app).await;
    let open: Vec<&Value> = list.iter().filter(|i| i["status"] != "resolved").collect();
    assert_eq!(open.len(), 1, "{list:?}");
    assert_eq!(open[0]["severity"], "SEV-1");
    assert!(
        open[0]["summary"]
            .as_str()
            .unwrap()
            .contains("timed out after 300ms"),
        "{}",
        open[0]
    );
}

// --- scale ---------------------------------------------------------------------------

/// 2,000 TCP checks against one local listener: one round completes, every
/// probe passes. The time is printed, not asserted.
async fn two_thousand_tcp_checks_complete_a_round(backend: Backend) {
    const N: usize = 2_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let mut text = BASE.to_string();
    for i in 0..N {
        text.push_str(&format!(
            "\n[[checks]]\nname = \"tcp-{i:04}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\ntimeout = \"5s\"\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with_policy(backend, policy_file(&dir, &text)).await;
    let started = Instant::now();
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        run_all_checks_once(&app.state().monitors),
    )
    .await
    .expect("a round of 2,000 checks finishes within a minute");
    let elapsed = started.elapsed();
    println!(
        "{backend:?}: {N} TCP checks, one round in {:.2}s ({} connections accepted)",
        elapsed.as_secs_f64(),
        accepted.load(Ordering::SeqCst)
    );
    assert_eq!(results.len(), N);
    let failed: Vec<_> = results
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(run) if run.result.is_ok()))
        .take(3)
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let (_, monitors) = app.get("/api/v1/checks").await;
    let healthy = monitors["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "healthy")
        .count();
    assert_eq!(healthy, N);
}
