//! The database going away or filling up, with the real server and its
//! background workers running on the manual clock.
//!
//! - PostgreSQL "restarts" (through [`Proxy`]: every connection severed and
//!   new ones refused for a few seconds) mid-escalation and mid-flood: no step
//!   lost or doubled, no acknowledged write lost, and the server reconnects by
//!   itself. PostgreSQL only.
//! - SQLite on a full disk (a small tmpfs the test mounts, filled with a
//!   ballast file): writes answer 503 with `Retry-After`, what was
//!   acknowledged stays, and deleting the ballast is all it takes to recover.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::proxy::{Proxy, host_port};
use common::receiver::Receiver;
use common::{Backend, TestApp, postgres_configured};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long the database stays away: longer than the 5 s a request waits
/// for a connection, so some give up while it is away.
const OUTAGE: Duration = Duration::from_secs(8);
/// Generous bound on a real reconnect and the workers' next rounds (the
/// scheduler looks again within 5 s, the dispatcher within 1 s).
const RECOVERY: Duration = Duration::from_secs(45);

/// A two-step ladder (L1 at once to the on-call, L2 after 30 minutes to sara),
/// repeated once 20 minutes later, paging `recv`.
fn ladder(recv: &Receiver) -> (tempfile::TempDir, firebell_server::PolicySource) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        format!(
            r#"
version = 1
[organization]
name = "Test"
admins = ["alice"]

[[severities]]
name = "P0"
channels = ["phone", "sms"]

[people.alice]
name = "Alice"
contacts = [{{ kind = "sms", address = "+44 20 7946 0001" }}]

[people.omar]
name = "Omar"
contacts = [{{ kind = "phone", address = "+966 11 555 0102" }}]

[people.sara]
name = "Sara"
contacts = [{{ kind = "sms", address = "+44 20 7946 0003" }}]

[[schedules]]
name = "primary"
[[schedules.layers]]
name = "weekly"
rotation = "weekly"
handoff = "09:00"
handoff_day = "mon"
start = "2026-11-02"
participants = ["alice", "omar"]

[[escalation_policies]]
name = "ladder"
repeat = 1
repeat_after = "20m"
[[escalation_policies.steps]]
name = "L1"
targets = ["schedule:primary"]
[[escalation_policies.steps]]
name = "L2"
after = "30m"
targets = ["person:sara"]

[notifiers.sms]
url = "{url}/sms"
[notifiers.phone]
url = "{url}/phone"
"#,
            url = recv.url
        ),
    )
    .unwrap();
    (dir, firebell_server::PolicySource::File(path))
}

/// Poll `check` every 100 ms until it holds, or fail after `limit` naming
/// `what` and the last thing seen.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(()) => return,
            Err(seen) if Instant::now() >= deadline => {
                panic!("{what}: not within {limit:?}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// GET that tolerates the database being away: status and body.
async fn try_get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    match app
        .http
        .get(app.url(path))
        .bearer_auth(&app.admin_token)
        .timeout(Duration::from_secs(20))
        .send()
        .await
    {
        Ok(resp) => common::decode(resp).await,
        Err(e) => (StatusCode::BAD_GATEWAY, Value::String(e.to_string())),
    }
}

/// A refusal that tells the sender to come back: 503 (or 429) with a
/// `Retry-After` of whole seconds.
#[track_caller]
fn assert_retry_later(status: StatusCode, retry_after: Option<&str>, body: &str) {
    assert!(
        status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS,
        "expected 503 or 429, got {status}: {body}"
    );
    let secs = retry_after
        .unwrap_or_else(|| panic!("{status} without Retry-After: {body}"))
        .parse::<u32>();
    assert!(secs.is_ok_and(|s| s > 0), "Retry-After {retry_after:?}");
}

/// POST with the admin token; status, `Retry-After` and body.
async fn post_raw(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Option<String>, String) {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(&app.admin_token)
        .json(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the server answers");
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry_after, resp.text().await.unwrap())
}

/// Steps of one incident's timeline, in order.
async fn steps(app: &TestApp, id: &str) -> Vec<String> {
    app.events_of(id, "escalated")
        .await
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_string())
        .collect()
}

/// Pages the receiver got for one incident.
fn pages(recv: &Receiver, id: &str) -> usize {
    recv.bodies()
        .iter()
        .filter(|b| b["incident_id"] == id)
        .count()
}

/// Each notification of the incident delivered; how many there are.
async fn delivered(app: &TestApp, id: &str) -> Result<usize, String> {
    let (status, v) = try_get(app, &format!("/api/v1/incidents/{id}/notifications")).await;
    if status != StatusCode::OK {
        return Err(format!("{status} {v}"));
    }
    let items = v["items"].as_array().unwrap();
    if let Some(n) = items.iter().find(|n| n["state"] != "delivered") {
        return Err(format!("not delivered yet: {n}"));
    }
    Ok(items.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_escalation_pages_each_step_once() {
    if !postgres_configured("postgres_restarted_mid_escalation_pages_each_step_once") {
        return;
    }
    let upstream = std::env::var("FIREBELL_TEST_DATABASE_URL").unwrap();
    let proxy = Proxy::start(&host_port(&upstream)).await;
    let recv = Receiver::start().await;
    let (_policy_dir, policy) = ladder(&recv);
    let app = TestApp::spawn_custom(Backend::Postgres, policy, true, |url| proxy.url(&url)).await;
    let declare = json!({"title": "API down", "severity": "P0", "escalation_policy": "ladder"});
    let acked = app.declare(declare.clone()).await;
    let open = app.declare(declare.clone()).await;

    // L1 pages omar for both, by itself; he acknowledges the first.
    for id in [&acked, &open] {
        eventually(RECOVERY, "L1 delivered", || async {
            match delivered(&app, id).await? {
                1 => Ok(()),
                n => Err(format!("{n} notifications")),
            }
        })
        .await;
    }
    let (status, v) = app
        .post(&format!("/api/v1/incidents/{acked}/acknowledge"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // The database goes away, and L2 of the open incident falls due.
    proxy.cut();
    app.advance_mins(30);
    let (status, retry_after, body) = post_raw(&app, "/api/v1/incidents", &declare).await;
    assert_retry_later(status, retry_after.as_deref(), &body);
    let (status, v) = try_get(&app, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // The scheduler's and dispatcher's rounds fail meanwhile.
    tokio::time::sleep(OUTAGE).await;
    assert_eq!(pages(&recv, &open), 1, "nothing paged while away");

    proxy.restore().await;
    eventually(RECOVERY, "/ready back to 200", || async {
        match try_get(&app, "/ready").await {
            (StatusCode::OK, _) => Ok(()),
            (status, v) => Err(format!("{status} {v}")),
        }
    })
    .await;
    // A claim cut mid-round holds its incident for the one-minute lease.
    app.advance_mins(2);
    eventually(
        RECOVERY,
        "L2 paged after the database came back",
        || async {
            match delivered(&app, &open).await? {
                2 => Ok(()),
                n => Err(format!("{n} notifications")),
            }
        },
    )
    .await;
    // Another moment for a doubled step or page to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(steps(&app, &open).await, ["L1", "L2"]);
    assert_eq!(delivered(&app, &open).await, Ok(2));
    assert_eq!(pages(&recv, &open), 2, "each step paged once");

    // The acknowledgement made before the cut is kept, and held off L2.
    let (_, incident) = app.get(&format!("/api/v1/incidents/{acked}")).await;
    assert!(
        incident["incident"]["acknowledged_at"].is_string(),
        "{incident}"
    );
    assert_eq!(steps(&app, &acked).await, ["L1"]);
    assert_eq!(pages(&recv, &acked), 1);

    // Writes work again, without a restart.
    app.declare(declare).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_flood_loses_no_acknowledged_alert() {
    if !postgres_configured("postgres_restarted_mid_flood_loses_no_acknowledged_alert") {
        return;
    }
    const SENDERS: usize = 8;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 5;
    let upstream = std::env::var("FIREBELL_TEST_DATABASE_URL").unwrap();
    let proxy = Proxy::start(&host_port(&upstream)).await;
    let app = std::sync::Arc::new(
        TestApp::spawn_custom(
            Backend::Postgres,
            firebell_server::PolicySource::Demo,
            true,
            |url| proxy.url(&url),
        )
        .await,
    );

    // Senders post batches back to back; each alert is its own instance of
    // one group, so every alert that is kept joins the same incident.
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let app = app.clone();
        senders.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut refused = 0;
            for b in 0..BATCHES {
                let instances: Vec<String> =
                    (0..PER_BATCH).map(|i| format!("s{s}-b{b}-{i}")).collect();
                let batch: Vec<Value> = instances
                    .iter()
                    .map(|instance| {
                        json!({"labels": {"alertname": "Flood", "service": "api",
                            "severity": "critical", "instance": instance},
                            "startsAt": common::T0})
                    })
                    .collect();
                let (status, retry_after, body) =
                    post_raw(&app, "/api/v2/alerts", &Value::Array(batch)).await;
                if status.is_success() {
                    accepted.extend(instances);
                } else {
                    assert_retry_later(status, retry_after.as_deref(), &body);
                    refused += 1;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (accepted, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    tokio::time::sleep(OUTAGE).await;
    proxy.restore().await;

    let mut accepted = BTreeSet::new();
    let mut refused = 0;
    for sender in senders {
        let (a, r) = sender.await.expect("every answer is 2xx or retry-later");
        accepted.extend(a);
        refused += r;
    }
    eprintln!(
        "flood: {} alerts accepted, {refused} batches refused while the database was away",
        accepted.len()
    );
    assert!(refused > 0, "the cut refused nothing: it came too late");
    assert!(!accepted.is_empty());

    // Every alert that got a 2xx is merged and joins the incident.
    eventually(
        RECOVERY,
        "every accepted alert merged and processed",
        || {
            let app = app.clone();
            let accepted = accepted.clone();
            async move {
                let (status, v) = try_get(&app, "/api/v1/alerts?all=true&limit=10000").await;
                if status != StatusCode::OK {
                    return Err(format!("{status} {v}"));
                }
                let processed: BTreeSet<String> = v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["incident_id"].is_string())
                    .map(|a| a["labels"]["instance"].as_str().unwrap().to_string())
                    .collect();
                let missing: Vec<_> = accepted.difference(&processed).take(5).collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} processed; missing {missing:?}…",
                        processed.len()
                    ))
                }
            }
        },
    )
    .await;
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 1, "one group, one incident: {incidents:?}");
    let (status, _) = try_get(&app, "/ready").await;
    assert_eq!(status, StatusCode::OK);
}

/// A small tmpfs the test mounts (as root) and unmounts when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when mounting is not permitted here.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Write a ballast file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("ballast");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xA5u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        // The last partial write may have left a few bytes: fill them too.
        while f.write_all(&chunk[..1]).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn alerts(prefix: &str, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"labels": {"alertname": "Disk", "service": "api",
                    "severity": "critical", "instance": format!("{prefix}-{i}")},
                    "annotations": {"summary": "x".repeat(2000)},
                    "startsAt": common::T0})
            })
            .collect(),
    )
}

/// Instances of the alerts the server holds.
async fn instances(app: &TestApp) -> BTreeSet<String> {
    let (status, v) = app.get("/api/v1/alerts?all=true&limit=10000").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["instance"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_answers_503_and_recovers_when_space_is_back() {
    // A real full disk where the test may mount one; otherwise SQLite is told
    // to stop growing, which answers the same SQLITE_FULL.
    let forced = std::env::var_os("FIREBELL_TEST_NO_MOUNT").is_some();
    let disk = if forced {
        None
    } else {
        SmallDisk::mount("16m")
    };
    if disk.is_none() {
        eprintln!(
            "no tmpfs (not root, or FIREBELL_TEST_NO_MOUNT): filling SQLite by max_page_count"
        );
    }
    let on_disk = disk.as_ref().map(|d| d.path().join("firebell.db"));
    let mut app = TestApp::spawn_custom(
        Backend::Sqlite,
        firebell_server::PolicySource::Demo,
        true,
        |url| match &on_disk {
            Some(db) => format!("sqlite:{}", db.display()),
            None => url,
        },
    )
    .await;
    let declare = json!({"title": "Disk", "severity": "P1"});
    let before = app.declare(declare.clone()).await;
    let (status, _, body) = post_raw(&app, "/api/v2/alerts", &alerts("before", 20)).await;
    assert!(status.is_success(), "{status} {body}");
    eventually(RECOVERY, "alerts merged before the disk fills", || async {
        match instances(&app).await.len() {
            20 => Ok(()),
            n => Err(format!("{n} alerts")),
        }
    })
    .await;

    let ballast = match &disk {
        Some(disk) => Some(disk.fill()),
        None => {
            let store = &app.state().store;
            store.limit_sqlite_pages(Some(1)).await.unwrap();
            None
        }
    };
    // Ingest: the first batches may still fit in pages the database already
    // has; once they are used up, every sender hears "retry later".
    let mut accepted = BTreeSet::new();
    let mut refused = None;
    for round in 0..200 {
        let prefix = format!("full{round}");
        let (status, retry_after, body) =
            post_raw(&app, "/api/v2/alerts", &alerts(&prefix, 50)).await;
        if status.is_success() {
            accepted.extend((0..50).map(|i| format!("{prefix}-{i}")));
        } else {
            assert_retry_later(status, retry_after.as_deref(), &body);
            refused = Some(status);
            break;
        }
    }
    assert_eq!(
        refused,
        Some(StatusCode::SERVICE_UNAVAILABLE),
        "the disk never filled up"
    );
    // Other writes too: 503 with Retry-After, not a 500 (a small one may
    // still fit in a page the database has free; it fills up soon).
    let mut declared = 0;
    loop {
        let (status, retry_after, body) = post_raw(&app, "/api/v1/incidents", &declare).await;
        if status == StatusCode::CREATED {
            declared += 1;
            assert!(declared < 500, "declares never ran out of space");
            continue;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_retry_later(status, retry_after.as_deref(), &body);
        break;
    }
    // Reads still answer, and what was acknowledged is there.
    let (status, v) = app.get(&format!("/api/v1/incidents/{before}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // Space is back: the same server takes writes again.
    match &ballast {
        Some(ballast) => std::fs::remove_file(ballast).unwrap(),
        None => app.state().store.limit_sqlite_pages(None).await.unwrap(),
    }
    eventually(RECOVERY, "ingest accepts again", || async {
        match post_raw(&app, "/api/v2/alerts", &alerts("after", 5)).await {
            (status, _, _) if status.is_success() => Ok(()),
            (status, _, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{before}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app.declare(declare).await;

    // Nothing that got a 2xx is lost: merged, and processed into the
    // incident of their group.
    accepted.extend((0..20).map(|i| format!("before-{i}")));
    accepted.extend((0..5).map(|i| format!("after-{i}")));
    eventually(
        RECOVERY,
        "every accepted alert merged and processed",
        || async {
            let (_, v) = app.get("/api/v1/alerts?all=true&limit=10000").await;
            let processed: BTreeSet<String> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["incident_id"].is_string())
                .map(|a| a["labels"]["instance"].as_str().unwrap().to_string())
                .collect();
            let missing: Vec<_> = accepted.difference(&processed).take(5).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} processed; missing {missing:?}",
                    processed.len()
                ))
            }
        },
    )
    .await;
    app.stop().await;
    drop(disk);
}
