//! Real senders against Firebell, unchanged: Debian's `amtool` and
//! `prometheus` (CI installs them; without them these tests say SKIPPED).
//! Everything listens on 127.0.0.1; every wait is bounded.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use serde_json::Value;

on_both_backends!(
    amtool_manages_silences_and_alerts,
    prometheus_alerts_open_an_incident,
    alertmanager_forwards_by_webhook_and_pagerduty,
);

fn installed(program: &str, test: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "SKIPPED {test}: `{program}` is not installed (apt-get install prometheus prometheus-alertmanager)"
        );
    }
    found
}

/// An http_config file carrying the token, as Prometheus and amtool read it.
fn http_config(dir: &Path, token: &str) -> String {
    let path = dir.join("http.yml");
    std::fs::write(
        &path,
        format!("authorization:\n  type: Bearer\n  credentials: {token}\n"),
    )
    .unwrap();
    path.display().to_string()
}

/// Runs amtool; returns success, stdout, and stdout+stderr for messages.
/// (amtool warns on stderr that its version differs from the server's.)
fn amtool(app: &TestApp, config: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={}/", app.base))
        .arg(format!("--http.config.file={config}"))
        .args(args)
        .output()
        .expect("amtool runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout, all)
}

async fn amtool_manages_silences_and_alerts(backend: Backend) {
    if !installed("amtool", "amtool_manages_silences_and_alerts") {
        return;
    }
    let app = TestApp::spawn_live(backend).await;
    let token = app.token("amtool", "responder").await;
    let config = http_config(app.dir.path(), &token);
    let run = |args: &[&str]| {
        let (ok, stdout, all) = amtool(&app, &config, args);
        assert!(ok, "amtool {args:?} failed:\n{all}");
        stdout
    };

    let id = run(&[
        "silence",
        "add",
        "alertname=DiskFull",
        "instance=~db-.*",
        "--comment=disk swap",
        "--author=alice",
        "--duration=2h",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "amtool prints the new silence id: {id:?}");
    let listed = run(&["silence", "query"]);
    assert!(
        listed.contains(&id) && listed.contains("alice") && listed.contains("disk swap"),
        "{listed}"
    );
    let quiet = run(&["silence", "query", "-q", "alertname=DiskFull"]);
    assert_eq!(quiet.trim(), id);
    run(&["silence", "expire", &id]);
    let expired = run(&["silence", "query", "--expired"]);
    assert!(expired.contains(&id), "{expired}");
    // Import: an exported active silence, then the same one under an id this
    // server has never seen (amtool retries those as new silences).
    let id2 = run(&[
        "silence",
        "add",
        "alertname=Flappy",
        "--comment=noisy",
        "--duration=1h",
    ])
    .trim()
    .to_string();
    let exported = run(&["silence", "query", "-o", "json", "alertname=Flappy"]);
    let file = app.dir.path().join("silences.json");
    std::fs::write(&file, &exported).unwrap();
    let again = run(&["silence", "import", file.to_str().unwrap()]);
    assert_eq!(
        again.trim(),
        id2,
        "importing an existing silence updates it in place"
    );
    std::fs::write(
        &file,
        exported.replace(&id2, "11111111-2222-3333-4444-555555555555"),
    )
    .unwrap();
    let fresh = run(&["silence", "import", file.to_str().unwrap()]);
    let fresh = fresh.trim();
    assert!(
        fresh.len() == 36 && fresh != id2 && !fresh.starts_with("1111"),
        "a new silence: {fresh}"
    );
    let all = run(&["silence", "query", "-q", "alertname=Flappy"]);
    assert_eq!(all.lines().count(), 2, "{all}");

    run(&[
        "alert",
        "add",
        "alertname=ManualPage",
        "severity=critical",
        "service=api",
        "--annotation=summary=from amtool",
    ]);
    let alerts = run(&["alert", "query"]);
    assert!(alerts.contains("ManualPage"), "{alerts}");
    let extended = run(&["alert", "query", "-o", "extended", "alertname=ManualPage"]);
    assert!(extended.contains("service=\"api\""), "{extended}");

    // The processor runs by itself in live mode: the alert opens an incident.
    let incident = wait_for_incident(&app, Duration::from_secs(15)).await;
    assert_eq!(incident["title"], "from amtool");
}

async fn wait_for_incident(app: &TestApp, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (_, list) = app.get("/api/v1/incidents").await;
        if let Some(first) = list["items"].as_array().and_then(|a| a.first()) {
            return first.clone();
        }
        assert!(start.elapsed() < limit, "no incident within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A port nothing listens on right now (for programs that need one given).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn prometheus_alerts_open_an_incident(backend: Backend) {
    if !installed("prometheus", "prometheus_alerts_open_an_incident") {
        return;
    }
    let app = TestApp::spawn_live(backend).await;
    let token = app.token("prometheus", "responder").await;
    let dir = app.dir.path();
    let target = app.base.trim_start_matches("http://");
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n- name: test\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n    labels:\n      severity: critical\n      service: api\n    annotations:\n      summary: Prometheus says hello\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [{rules}]\nalerting:\n  alertmanagers:\n  - api_version: v2\n    authorization:\n      credentials: {token}\n    static_configs:\n    - targets: ['{target}']\n",
            rules = dir.join("rules.yml").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        // Prometheus drops the first notification if it fires before the
        // Alertmanager target is discovered, then waits `resend-delay`
        // (default 1m) to send again; keep the test short.
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    let _prometheus = Killed(child);
    let incident = wait_for_incident(&app, Duration::from_secs(45)).await;
    assert_eq!(incident["title"], "Prometheus says hello");
    assert_eq!(incident["severity"], "P1");
    assert_eq!(incident["services"], serde_json::json!(["api"]));
    let (_, alerts) = app.get("/api/v2/alerts").await;
    let a = &alerts[0];
    assert_eq!(a["labels"]["alertname"], "AlwaysFiring");
    assert!(
        a["endsAt"].as_str().unwrap() > a["startsAt"].as_str().unwrap(),
        "Prometheus sets endsAt ahead: {a}"
    );
}

/// A routing key for the test policy's integration (any 32 letters/digits).
const AM_ROUTING_KEY: &str = "alertmanagertestkey0123456789abc";

/// Firebell's alerts, resolved ones too.
async fn all_alerts(app: &TestApp) -> Vec<Value> {
    let (_, v) = app.get("/api/v1/alerts?all=true").await;
    v["items"].as_array().cloned().unwrap_or_default()
}

/// Debian's `prometheus-alertmanager` in front of Firebell, sending every
/// notification both ways a team would configure it: `webhook_configs` to
/// `/api/v1/alertmanager/webhook` (bearer token) and `pagerduty_configs` to
/// `/v2/enqueue` (routing key). An alert posted to the real Alertmanager
/// opens incidents in Firebell; resolving it there resolves the alerts here.
async fn alertmanager_forwards_by_webhook_and_pagerduty(backend: Backend) {
    let test = "alertmanager_forwards_by_webhook_and_pagerduty";
    if !installed("prometheus-alertmanager", test) {
        return;
    }
    let (_policy_dir, policy) = common::demo_policy_with(&format!(
        "[[integrations]]\nname = \"alertmanager\"\nrouting_key = \"{AM_ROUTING_KEY}\"\nservice = \"api\"\n"
    ));
    let app = TestApp::spawn_live_with_policy(backend, policy).await;
    let token = app.token("alertmanager", "responder").await;
    let dir = app.dir.path();
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            r#"route:
  receiver: firebell-webhook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - receiver: firebell-webhook
    continue: true
  - receiver: firebell-pagerduty
receivers:
- name: firebell-webhook
  webhook_configs:
  - url: {base}/api/v1/alertmanager/webhook
    send_resolved: true
    http_config:
      authorization:
        credentials: {token}
- name: firebell-pagerduty
  pagerduty_configs:
  - url: {base}/v2/enqueue
    routing_key: {AM_ROUTING_KEY}
    send_resolved: true
    severity: critical
    class: '{{{{ .CommonLabels.alertname }}}}'
"#,
            base = app.base
        ),
    )
    .unwrap();
    let am = format!("http://127.0.0.1:{}", free_port());
    let log_path = dir.join("alertmanager.log");
    let child = Command::new("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!(
            "--web.listen-address={}",
            am.trim_start_matches("http://")
        ))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("prometheus-alertmanager starts");
    let _alertmanager = Killed(child);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let start = Instant::now();
    loop {
        let ready = app.http.get(format!("{am}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "Alertmanager did not become ready:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let labels = serde_json::json!({
        "alertname": "DiskFull", "service": "api", "severity": "critical", "instance": "db-1"
    });
    let post = |ends_at: Option<String>| {
        let mut alert = serde_json::json!({
            "labels": labels.clone(),
            "annotations": {"summary": "Disk almost full on db-1"},
        });
        if let Some(end) = ends_at {
            alert["endsAt"] = Value::String(end);
        }
        app.http
            .post(format!("{am}/api/v2/alerts"))
            .json(&serde_json::json!([alert]))
            .send()
    };
    let resp = post(None).await.unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    // Both notifications arrive and each opens an incident (their labels
    // differ, so they group apart).
    let start = Instant::now();
    let (alerts, incidents) = loop {
        let alerts = all_alerts(&app).await;
        let (_, list) = app.get("/api/v1/incidents").await;
        let incidents = list["items"].as_array().cloned().unwrap_or_default();
        if alerts.len() == 2 && incidents.len() == 2 {
            break (alerts, incidents);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no alerts from both receivers within 30s: {alerts:?}\nAlertmanager log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_source = |source: &str| {
        alerts
            .iter()
            .find(|a| a["source"] == source)
            .unwrap_or_else(|| panic!("no {source} alert in {alerts:?}"))
            .clone()
    };
    let webhook = by_source("alertmanager_webhook");
    assert_eq!(webhook["labels"], labels);
    assert_eq!(
        webhook["key"].as_str().unwrap().len(),
        16,
        "Alertmanager's fingerprint is the key: {webhook}"
    );
    assert_eq!(webhook["severity"], "P1", "routed like any alert");
    let paged = by_source("pagerduty");
    assert!(
        paged["key"]
            .as_str()
            .unwrap()
            .starts_with("pd:alertmanager:"),
        "{paged}"
    );
    assert_eq!(paged["labels"]["alertname"], "DiskFull", "from `class`");
    assert_eq!(paged["labels"]["pd_severity"], "critical");
    assert_eq!(paged["severity"], "P0", "critical is the top of the ladder");
    assert!(
        incidents
            .iter()
            .all(|i| i["alerts_firing"] == 1 && i["services"] == serde_json::json!(["api"])),
        "{incidents:?}"
    );

    // Resolved at Alertmanager: both receivers say so (send_resolved).
    let resp = post(Some(jiff::Timestamp::now().to_string()))
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    let start = Instant::now();
    loop {
        let alerts = all_alerts(&app).await;
        let (_, list) = app.get("/api/v1/incidents").await;
        let incidents = list["items"].as_array().cloned().unwrap_or_default();
        let resolved = alerts.iter().all(|a| a["firing"] == false)
            && incidents.iter().all(|i| i["alerts_firing"] == 0);
        if resolved {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not resolved within 30s: {alerts:?}\n{incidents:?}\nAlertmanager log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
