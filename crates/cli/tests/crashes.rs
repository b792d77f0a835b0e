//! Crashes in the middle of a flood, with real processes and SIGKILL: the
//! ingest log holds reports acknowledged but not merged yet, and a merge is
//! likely in flight. A restarted server (SQLite, PostgreSQL) or, on
//! PostgreSQL, the replica that is left must store every alert that was
//! acknowledged, open one incident per alert group and page each once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;

use common::*;

/// Alert groups the flood spreads over (one incident each).
const GROUPS: usize = 8;
/// Clients posting at once, and alerts per request.
const CLIENTS: usize = 4;
const PER_REQUEST: usize = 50;
/// Reports waiting in the log before the kill.
const BACKLOG: u64 = 1_000;

/// A policy routing `service="flood"` alerts to P0 incidents grouped by
/// alertname, whose one escalation step pages person `a` through the sink.
fn policy(dir: &Path, sink: &PageSink) -> String {
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        format!(
            r#"
version = 1
[organization]
name = "Crash test"
escalation_policy = "page"
[[severities]]
name = "P0"
[people.a]
name = "A"
contacts = [{{ kind = "sms", address = "+1 555 0001" }}]
[[escalation_policies]]
name = "page"
[[escalation_policies.steps]]
targets = ["person:a"]
[notifiers.sms]
url = "{}/sms"
[services.flood]
name = "Flood"
[routing]
group_by = ["alertname"]
[[routing.routes]]
matchers = ['service="flood"']
service = "flood"
severity = "P0"
"#,
            sink.url
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Clients posting distinct alerts until stopped, recording the `instance`
/// of every alert whose request was answered 200.
struct Flood {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    clients: Vec<JoinHandle<()>>,
}

impl Flood {
    fn start(url: &str, token: &str) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let clients = (0..CLIENTS)
            .map(|client| {
                let (url, token) = (url.to_string(), token.to_string());
                let (stop, acked) = (stop.clone(), acked.clone());
                std::thread::spawn(move || {
                    let mut request = 0;
                    while !stop.load(Ordering::Relaxed) {
                        request += 1;
                        let group = (request * CLIENTS + client) % GROUPS;
                        let instances: Vec<String> = (0..PER_REQUEST)
                            .map(|i| format!("c{client}r{request}i{i}"))
                            .collect();
                        let body: Vec<serde_json::Value> = instances
                            .iter()
                            .map(|instance| {
                                serde_json::json!({"labels": {
                                    "alertname": format!("Flood{group}"),
                                    "instance": instance,
                                    "service": "flood",
                                }})
                            })
                            .collect();
                        let body = serde_json::Value::Array(body).to_string();
                        let short = Duration::from_secs(5);
                        match http(&url, "POST", "/api/v2/alerts", &token, &body, short) {
                            Some((200, _)) => acked.lock().unwrap().extend(instances),
                            _ => std::thread::sleep(Duration::from_millis(20)),
                        }
                    }
                })
            })
            .collect();
        Flood {
            stop,
            acked,
            clients,
        }
    }

    /// Stop the clients; the alerts acknowledged.
    fn stop(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// The server's ingest backlog gauge (reports logged, not merged yet).
fn backlog(url: &str, token: &str) -> Option<u64> {
    let (status, body) = http(url, "GET", "/metrics", token, "", Duration::from_secs(5))?;
    (status == 200).then_some(())?;
    body.lines()
        .find_map(|l| l.strip_prefix("firebell_ingest_backlog "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Wait until the log holds at least [`BACKLOG`] reports; the most seen.
fn wait_for_backlog(url: &str, token: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut most = 0;
    while most < BACKLOG && Instant::now() < deadline {
        most = most.max(backlog(url, token).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    most
}

/// Flood alerts stored, by `instance`, waiting up to `secs` for every one of
/// `acked` to be there; the acknowledged ones still missing.
fn missing_after(url: &str, token: &str, acked: &BTreeSet<String>, secs: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let path = "/api/v2/alerts?filter=service%3D%22flood%22";
        let stored: BTreeSet<String> =
            match http(url, "GET", path, token, "", Duration::from_secs(60)) {
                Some((200, body)) => serde_json::from_str::<serde_json::Value>(&body)
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a["labels"]["instance"].as_str().map(String::from))
                    .collect(),
                _ => BTreeSet::new(),
            };
        let missing: Vec<String> = acked.difference(&stored).cloned().collect();
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Open flood incidents by alert group (their title's alertname) → ids.
fn incidents_by_group(url: &str, token: &str) -> BTreeMap<String, Vec<String>> {
    let path = "/api/v1/incidents?service=flood&limit=100";
    let (status, body) = http(url, "GET", path, token, "", Duration::from_secs(30)).unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for incident in v["items"].as_array().unwrap() {
        let title = incident["title"].as_str().unwrap();
        let group = title.split(" (").next().unwrap().to_string();
        let id = incident["id"].as_str().unwrap().to_string();
        groups.entry(group).or_default().push(id);
    }
    groups
}

/// Every group has one incident, and each incident is paged once (one
/// idempotency key; a page in flight at the kill may arrive twice with it).
fn one_incident_and_one_page_per_group(url: &str, token: &str, sink: &PageSink) {
    // Alerts are stored before their incident opens: give the last ones time.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut groups = incidents_by_group(url, token);
    while groups.len() < GROUPS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        groups = incidents_by_group(url, token);
    }
    let names: Vec<&String> = groups.keys().collect();
    assert_eq!(groups.len(), GROUPS, "one incident per group: {names:?}");
    for (group, ids) in &groups {
        assert_eq!(ids.len(), 1, "{group} opened one incident: {ids:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let keys_of = |id: &str| -> BTreeSet<String> {
        let got = sink.got.lock().unwrap();
        got.iter()
            .filter(|(_, body)| body["incident_id"] == id)
            .map(|(key, _)| key.clone())
            .collect()
    };
    for (group, ids) in &groups {
        while keys_of(&ids[0]).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(keys_of(&ids[0]).len(), 1, "{group} ({}) paged once", ids[0]);
    }
    // A page doubled late would show up here.
    std::thread::sleep(Duration::from_millis(1500));
    for (group, ids) in &groups {
        assert_eq!(keys_of(&ids[0]).len(), 1, "{group} ({}) paged once", ids[0]);
    }
}

/// Flood `server` until its log holds a backlog, then kill it (SIGKILL);
/// the alerts it acknowledged.
fn flood_and_kill(server: &mut ServeProcess, token: &str) -> BTreeSet<String> {
    let flood = Flood::start(&server.url, token);
    let most = wait_for_backlog(&server.url, token);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let acked = flood.stop();
    assert!(
        most >= BACKLOG,
        "the flood built a backlog (at most {most})"
    );
    eprintln!(
        "killed with {most} reports logged; {} alerts acknowledged",
        acked.len()
    );
    acked
}

/// Every acknowledged alert is stored, within two minutes (the log drains).
fn nothing_lost(url: &str, token: &str, acked: &BTreeSet<String>, dir: &Path) {
    let missing = missing_after(url, token, acked, 120);
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged alerts lost, e.g. {:?}; log:\n{}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)],
        log(dir)
    );
}

/// One server, killed while its log holds a backlog, started again on the
/// same database: nothing it acknowledged is lost, nothing is doubled.
fn killed_mid_flood(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(backend, dir.path()) else {
        return;
    };
    let sink = PageSink::start();
    let policy = policy(dir.path(), &sink);
    let mut server = ServeProcess::start_with(&db, dir.path(), &["--policy", &policy]);
    let token = server.admin_token.clone().unwrap();
    let acked = flood_and_kill(&mut server, &token);

    let server = ServeProcess::start_with(&db, dir.path(), &["--policy", &policy]);
    nothing_lost(&server.url, &token, &acked, dir.path());
    one_incident_and_one_page_per_group(&server.url, &token, &sink);
    server.stop();
}

#[test]
fn sqlite_killed_mid_flood_loses_nothing_acknowledged() {
    killed_mid_flood("sqlite");
}

#[test]
fn postgres_killed_mid_flood_loses_nothing_acknowledged() {
    killed_mid_flood("postgres");
}

/// Two replicas on one PostgreSQL database; the one taking the flood is
/// killed while its log holds a backlog and is not started again. The other
/// takes the flood over: it merges what the killed one acknowledged and
/// opens and pages each group once.
#[test]
fn postgres_a_replica_killed_mid_flood_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database("postgres", dir.path()) else {
        return;
    };
    let sink = PageSink::start();
    let policy = policy(dir.path(), &sink);
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let mut a = ServeProcess::start_with(&db, &a_dir, &["--policy", &policy]);
    let token = a.admin_token.clone().unwrap();
    let b = ServeProcess::start_with(&db, &b_dir, &["--policy", &policy]);

    let acked = flood_and_kill(&mut a, &token);
    nothing_lost(&b.url, &token, &acked, &b_dir);
    one_incident_and_one_page_per_group(&b.url, &token, &sink);
    b.stop();
}
