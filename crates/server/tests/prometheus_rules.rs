//! The seeds' alert thresholds as real Prometheus rules (`examples/prometheus/`),
//! end to end. promtool's unit tests (`<name>.test.yml`) prove which alerts,
//! with which labels, the rules fire; these tests take every one of those
//! expected alerts (`exp_alerts`: `exp_labels` and the case's `alertname`),
//! post it as a firing alert to Firebell's Alertmanager API on the matching
//! example policy, and check the incident it lands on. The service and
//! severity each alert must get are written here, not read from the YAML, so
//! a wrong label in a rule (or a route that changed) fails.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{Backend, T0, TestApp, example_at};
use reqwest::StatusCode;
use serde_json::json;
use yaml_rust2::{Yaml, YamlLoader};

type Labels = BTreeMap<String, String>;

/// Where an alert must land: the alerts having all the `labels` open (or
/// join) an incident of `service` at `severity`.
struct Lands {
    labels: &'static [(&'static str, &'static str)],
    service: &'static str,
    severity: &'static str,
}

const fn lands(
    labels: &'static [(&'static str, &'static str)],
    service: &'static str,
    severity: &'static str,
) -> Lands {
    Lands {
        labels,
        service,
        severity,
    }
}

/// A promtool unit test's expected alert: its labels and annotations.
struct Fired {
    labels: Labels,
    annotations: Labels,
}

fn text(v: &Yaml, what: &str) -> String {
    match v {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("{what}: not a scalar: {other:?}"),
    }
}

fn map(v: &Yaml, what: &str) -> Labels {
    match v {
        Yaml::BadValue | Yaml::Null => Labels::new(),
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| (text(k, what), text(v, what)))
            .collect(),
        other => panic!("{what}: not a mapping: {other:?}"),
    }
}

/// Every distinct alert `examples/prometheus/<name>.test.yml` expects to fire.
fn fired_alerts(name: &str) -> Vec<Fired> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/prometheus")
        .join(format!("{name}.test.yml"));
    let src =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let docs = YamlLoader::load_from_str(&src)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    let doc = &docs[0];
    let rule_files: Vec<&str> = doc["rule_files"]
        .as_vec()
        .expect("rule_files")
        .iter()
        .map(|f| f.as_str().expect("a rule file name"))
        .collect();
    assert_eq!(
        rule_files,
        [format!("{name}.rules.yml")],
        "{name}.test.yml tests its own rules file"
    );
    let mut fired: Vec<Fired> = Vec::new();
    for (t, test) in doc["tests"].as_vec().expect("tests").iter().enumerate() {
        let cases = test["alert_rule_test"].as_vec().map_or(&[][..], |c| c);
        for (c, case) in cases.iter().enumerate() {
            let at = format!("{name}.test.yml tests[{t}].alert_rule_test[{c}]");
            let alertname = case["alertname"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: alertname"));
            let expected = case["exp_alerts"].as_vec().map_or(&[][..], |e| e);
            for exp in expected {
                let mut labels = map(&exp["exp_labels"], &at);
                // promtool adds the case's alertname to the expected labels.
                if let Some(named) = labels.insert("alertname".into(), alertname.into()) {
                    assert_eq!(named, alertname, "{at}: exp_labels.alertname");
                }
                if !fired.iter().any(|f| f.labels == labels) {
                    fired.push(Fired {
                        labels,
                        annotations: map(&exp["exp_annotations"], &at),
                    });
                }
            }
        }
    }
    fired
}

/// Posts each alert the unit tests of `rules` expect to a server on the
/// example policy `policy`, and checks that each joins an incident of the
/// service and severity `expected` gives it (exactly one entry must hold for
/// it), and that every entry of `expected` is reached by some alert.
async fn fire(backend: Backend, rules: &str, policy: &str, expected: &[Lands]) {
    let app = example_at(backend, policy, T0).await;
    let fired = fired_alerts(rules);
    let mut reached = vec![0; expected.len()];
    for alert in &fired {
        let matching: Vec<usize> = expected
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.labels
                    .iter()
                    .all(|(k, v)| alert.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(i, _)| i)
            .collect();
        let [i] = matching[..] else {
            panic!(
                "{rules}: the rules fire {:?}, which {} of the expected routes describe",
                alert.labels,
                matching.len()
            );
        };
        reached[i] += 1;
        let (service, severity) = landed(&app, alert).await;
        assert_eq!(
            (service.as_str(), severity.as_str()),
            (expected[i].service, expected[i].severity),
            "{policy}: where {:?} lands",
            alert.labels
        );
    }
    for (e, n) in expected.iter().zip(&reached) {
        assert!(
            *n > 0,
            "{rules}.test.yml fires no alert with {:?}: the threshold is not tested",
            e.labels
        );
    }
}

/// Sends `alert` firing (as Prometheus does) and processes it; the service
/// and severity of the incident it opened or joined.
async fn landed(app: &TestApp, alert: &Fired) -> (String, String) {
    let (status, v) = app
        .post(
            "/api/v2/alerts",
            json!([{
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": "2026-11-23T09:55:00Z",
                "generatorURL": "http://prometheus.example.com:9090/graph",
            }]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app.process().await;
    let (status, stored) = app.get("/api/v1/alerts?all=true").await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let stored = stored["items"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["labels"] == json!(alert.labels))
        .unwrap_or_else(|| panic!("{:?} was not stored", alert.labels))
        .clone();
    let id = stored["incident_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?} opened no incident: {stored}", alert.labels));
    let (status, shown) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let incident = &shown["incident"];
    let services: Vec<&str> = incident["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let [service] = services[..] else {
        panic!(
            "{:?}: the incident's services are {services:?}",
            alert.labels
        );
    };
    (
        service.to_string(),
        incident["severity"].as_str().unwrap().to_string(),
    )
}

on_both_backends!(
    s000_alert_thresholds_fire_from_the_prometheus_rules,
    s003_alert_rules_fire_from_the_prometheus_rules,
    s004_alert_thresholds_fire_from_the_prometheus_rules,
);

/// s000.alert-thresholds (seed 000 §7): error rate >1% 5 min and p95 >10 s
/// 5 min degrade the API (P2); the ladder's P1 bar, errors >10%, is P1; LLM
/// fallback >20% 10 min is the LLM router's, P2.
async fn s000_alert_thresholds_fire_from_the_prometheus_rules(backend: Backend) {
    fire(
        backend,
        "dealix-incident-rollback",
        "dealix-incident-rollback.toml",
        &[
            lands(&[("alertname", "HighErrorRate")], "api", "P2"),
            lands(&[("alertname", "HighErrorRateMajor")], "api", "P1"),
            lands(&[("alertname", "HighLatencyP95")], "api", "P2"),
            lands(&[("alertname", "LLMFallbackRateHigh")], "llm-router", "P2"),
        ],
    )
    .await;
}

/// s003.alert-rules (seed 003 "Automated Alerts"): errors >5% 5 min P1,
/// p95 >2 s 5 min P2, a pod's >3 restarts in 10 min P2 (every pod's: P0),
/// <50% replicas P1, CPU/memory >90% 5 min P2; all DashFlow's, in its
/// namespace.
async fn s003_alert_rules_fire_from_the_prometheus_rules(backend: Backend) {
    const NS: (&str, &str) = ("namespace", "dashflow");
    fire(
        backend,
        "dashflow",
        "dashflow.toml",
        &[
            lands(&[("alertname", "HighErrorRate"), NS], "dashflow", "P1"),
            lands(&[("alertname", "HighLatency"), NS], "dashflow", "P2"),
            lands(
                &[("alertname", "PodCrashLooping"), ("scope", "pod"), NS],
                "dashflow",
                "P2",
            ),
            lands(
                &[("alertname", "PodCrashLooping"), ("scope", "all"), NS],
                "dashflow",
                "P0",
            ),
            lands(&[("alertname", "LowPodAvailability"), NS], "dashflow", "P1"),
            lands(&[("alertname", "HighCPU"), NS], "dashflow", "P2"),
            lands(&[("alertname", "HighMemory"), NS], "dashflow", "P2"),
        ],
    )
    .await;
}

/// s004.alert-thresholds (seed 004 "Alert Thresholds"): P0 errors >1%,
/// uptime <99%, DB pool >95%, security; P1 errors >0.5%, p95 >1 s,
/// pool >85%, external API failures; P2 errors >0.1%, p95 >500 ms. The pool
/// is the database's, external APIs the LLM providers', the rest the API's.
async fn s004_alert_thresholds_fire_from_the_prometheus_rules(backend: Backend) {
    fire(
        backend,
        "agent-factory",
        "agent-factory.toml",
        &[
            lands(
                &[("alertname", "HighErrorRate"), ("severity", "P0")],
                "api",
                "P0",
            ),
            lands(&[("alertname", "UptimeBelowTarget")], "api", "P0"),
            lands(
                &[("alertname", "DatabasePoolSaturated"), ("severity", "P0")],
                "database",
                "P0",
            ),
            lands(&[("alertname", "SecurityIncidentDetected")], "api", "P0"),
            lands(
                &[("alertname", "HighErrorRate"), ("severity", "P1")],
                "api",
                "P1",
            ),
            lands(
                &[("alertname", "HighLatencyP95"), ("severity", "P1")],
                "api",
                "P1",
            ),
            lands(
                &[("alertname", "DatabasePoolSaturated"), ("severity", "P1")],
                "database",
                "P1",
            ),
            lands(
                &[("alertname", "ExternalAPIFailures")],
                "llm-providers",
                "P1",
            ),
            lands(
                &[("alertname", "HighErrorRate"), ("severity", "P2")],
                "api",
                "P2",
            ),
            lands(
                &[("alertname", "HighLatencyP95"), ("severity", "P2")],
                "api",
                "P2",
            ),
        ],
    )
    .await;
}
