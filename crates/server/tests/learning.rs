//! The learning loop (issue 14): postmortems, their review meetings and
//! action items, one test per seed rule, named after it. Each loads that
//! seed's policy from `examples/` into the real server and moves a manual
//! clock; the scheduler runs by hand (`tick`).

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use common::{Backend, TestApp, example_at as app_at, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn set(app: &TestApp, at: &str) {
    app.clock.set(at.parse().unwrap());
}

async fn postmortem(app: &TestApp, id: &str) -> Value {
    let (status, v) = app.get(&format!("/api/v1/incidents/{id}/postmortem")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn save(app: &TestApp, id: &str, document: &str) -> (StatusCode, Value) {
    app.send(
        Method::PUT,
        &format!("/api/v1/incidents/{id}/postmortem"),
        json!({ "document": document }),
    )
    .await
}

async fn move_to(app: &TestApp, id: &str, state: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/incidents/{id}/postmortem/state"),
        json!({ "state": state }),
    )
    .await
}

/// `(reminder, instant, people notified)` of the postmortem's own reminders.
async fn postmortem_reminders(app: &TestApp, id: &str) -> Vec<(String, String, Vec<String>)> {
    let mut all = follow_ups(app, id).await;
    all.retain(|r| r.0.starts_with("postmortem"));
    all
}

/// `(reminder, instant, people notified)` of the learning loop's reminders.
async fn follow_ups(app: &TestApp, id: &str) -> Vec<(String, String, Vec<String>)> {
    app.events_of(id, "reminded")
        .await
        .into_iter()
        .filter(|r| {
            let name = r["reminder"].as_str().unwrap_or_default();
            name.starts_with("postmortem")
                || name.starts_with("review")
                || name.starts_with("action")
        })
        .map(|r| {
            (
                r["reminder"].as_str().unwrap().to_string(),
                r["at"].as_str().unwrap().to_string(),
                r["notified"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["person"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Every line still marked for writing, filled in: a finished document.
fn written(document: &str) -> String {
    document.replace("_To be written._", "Written by the team.")
}

on_both_backends!(
    s000_postmortem_3_business_days,
    s000_review_meetings,
    s001_postmortem_48h,
    s003_pir_48h,
    s004_postmortem_48h,
    s002_postmortem_review,
    overdue_action_items_remind_their_owners_and_are_listed,
    s004_action_items_to_issues,
    s003_ack_target_reported,
    s000_recurring_duties,
    s001_monthly_monitoring_check,
    s003_review_cycle,
    s004_monthly_review,
    a_reloaded_policy_moves_a_resolved_incidents_reminders,
);

/// A policy change reaches the reminders of postmortems whose incidents
/// are resolved: a `remind_before` added later fires.
async fn a_reloaded_policy_moves_a_resolved_incidents_reminders(backend: Backend) {
    let (dir, app) = edited(
        backend,
        "dealix-incident-rollback.toml",
        &[],
        "",
        "2027-02-18T10:00:00Z",
    )
    .await;
    let id = app
        .declare(json!({"title": "Leads API down", "severity": "P0"}))
        .await;
    app.advance_mins(60);
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    app.tick().await;
    assert_eq!(
        postmortem(&app, &id).await["postmortem"]["due_at"],
        "2027-02-24T11:00:00Z"
    );
    // Two days' notice instead of one.
    let path = dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let from = "owner = [\"role:incident_commander\", \"paged\"]\nremind_before = [\"1d\"]";
    assert!(text.contains(from));
    std::fs::write(
        &path,
        text.replace(
            from,
            "owner = [\"role:incident_commander\", \"paged\"]\nremind_before = [\"2d\", \"1d\"]",
        ),
    )
    .unwrap();
    let mut reloaded = false;
    for _ in 0..100 {
        let (_, p) = app.get("/api/v1/policy").await;
        if p["policy"]["postmortems"]["remind_before"]
            .as_array()
            .map(Vec::len)
            == Some(2)
        {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the policy file was reloaded");
    firebell_server::scheduler::resync_all(&app.state().scheduler)
        .await
        .unwrap();
    set(&app, "2027-02-22T11:00:00Z");
    app.tick().await;
    let sent = postmortem_reminders(&app, &id).await;
    assert_eq!(
        sent.iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        [("postmortem", "2027-02-22T11:00:00Z")],
        "two days before"
    );
}

/// A seed policy with `edits` (`from`, `to`) applied and `extra` appended,
/// served from a temp file the caller keeps.
async fn edited(
    backend: Backend,
    name: &str,
    edits: &[(&str, &str)],
    extra: &str,
    now: &str,
) -> (tempfile::TempDir, TestApp) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name} no longer has {from:?}");
        text = text.replace(from, to);
    }
    text.push_str(extra);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, text).unwrap();
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(file)).await;
    set(&app, now);
    (dir, app)
}

async fn duties_round(app: &TestApp) -> firebell_server::duties::Round {
    firebell_server::duties::run_once(app.state())
        .await
        .unwrap()
}

async fn duty(app: &TestApp, key: &str) -> Value {
    let (status, v) = app.get("/api/v1/duties").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == key)
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .clone()
}

/// s000.recurring-duties: the weekly restore test and the monthly game day
/// are duties with an owner, reminders (a day before, when due, when
/// overdue; each once), and a record of each run, which stops them.
async fn s000_recurring_duties(backend: Backend) {
    let receiver = common::receiver::Receiver::start().await;
    let contact = format!(
        "name = \"DBA\"\ncontacts = [{{ kind = \"webhook\", address = \"{}/dba\" }}]",
        receiver.url
    );
    // Wednesday 2 December; the restore test is on Sundays, 10:00 Riyadh.
    let (_dir, app) = edited(
        backend,
        "dealix-incident-rollback.toml",
        &[("name = \"DBA\"", &contact)],
        "\n[notifiers.webhook]\n",
        "2026-12-02T08:00:00Z",
    )
    .await;
    let subjects = || -> Vec<String> {
        receiver
            .bodies()
            .iter()
            .map(|b| b["subject"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        duties_round(&app).await.queued,
        0,
        "a new duty starts owing nothing"
    );
    let d = duty(&app, "restore-test").await;
    assert_eq!(d["next_due"], "2026-12-06T07:00:00Z");
    assert_eq!(d["owner"], "dba");
    assert_eq!(d["last_due"], Value::Null);
    assert!(
        d["schedule"]
            .as_str()
            .unwrap()
            .starts_with("weekly on sun at 10:00")
    );
    assert_eq!(
        duty(&app, "game-day").await["next_due"],
        "2027-01-01T08:00:00Z"
    );

    // A day before, when due, when a day overdue: once each.
    for (at, subject) in [
        (
            "2026-12-05T07:00:00Z",
            "[duty] Weekly restore test of the DB backups is due 2026-12-06 07:00 UTC",
        ),
        (
            "2026-12-06T07:00:00Z",
            "[duty] Weekly restore test of the DB backups is due now",
        ),
        (
            "2026-12-07T07:00:00Z",
            "[duty] OVERDUE: Weekly restore test of the DB backups was due 2026-12-06 07:00 UTC",
        ),
    ] {
        set(&app, at);
        let round = duties_round(&app).await;
        assert_eq!((round.queued, round.delivered), (1, 1), "{at}: {round:?}");
        assert_eq!(duties_round(&app).await.queued, 0, "once");
        assert_eq!(subjects().last().unwrap(), subject);
    }
    let body = &receiver.bodies()[0];
    assert_eq!(body["duty"], "recurring:restore-test");
    assert_eq!(body["ack_url"], "", "no incident to acknowledge");
    assert_eq!(duty(&app, "restore-test").await["overdue"], true);
    let page = app.console_page("/duties").await;
    assert!(
        page.contains("Weekly restore test of the DB backups") && page.contains("OVERDUE"),
        "{page}"
    );

    // Recorded: for Sunday's occurrence, by whoever recorded it; no more nagging.
    let (status, run) = app
        .post(
            "/api/v1/duties/restore-test/runs",
            json!({"outcome": "ok", "notes": "restored in 14 min"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    assert_eq!(run["occurrence"], "2026-12-06T07:00:00Z");
    assert_eq!(run["actor"], "admin");
    let d = duty(&app, "restore-test").await;
    assert_eq!(
        (d["last_done"].clone(), d["overdue"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(d["last_run"]["notes"], "restored in 14 min");
    set(&app, "2026-12-08T07:00:00Z");
    assert_eq!(duties_round(&app).await.queued, 0);

    // Done early for next Sunday: its due reminder never comes.
    set(&app, "2026-12-12T07:00:00Z");
    assert_eq!(
        duties_round(&app).await.queued,
        1,
        "the day-before reminder"
    );
    let (_, early) = app
        .post(
            "/api/v1/duties/restore-test/runs",
            json!({"outcome": "failed", "notes": "backup corrupt"}),
        )
        .await;
    assert_eq!(early["occurrence"], "2026-12-13T07:00:00Z");
    set(&app, "2026-12-13T07:00:00Z");
    assert_eq!(duties_round(&app).await.queued, 0);
    let (_, runs) = app.get("/api/v1/duties/restore-test/runs").await;
    let outcomes: Vec<&str> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "ok"]);

    let (status, _) = app
        .post("/api/v1/duties/nope/runs", json!({"outcome": "ok"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            "/api/v1/duties/restore-test/runs",
            json!({"outcome": "great"}),
        )
        .await;
    assert!(status.is_client_error());
}

/// s001.monthly-monitoring-check: on the 1st, Firebell sends a test through
/// every notification channel (Slack and email here) and records which
/// arrived, with the heartbeats' last pings; the owner was reminded the day
/// before.
async fn s001_monthly_monitoring_check(backend: Backend) {
    let receiver = common::receiver::Receiver::start().await;
    let sink = smtp::SmtpSink::start().await;
    let slack = format!("{}/slack", receiver.url);
    let relay = format!(
        "smtp = {{ host = \"127.0.0.1\", port = {}, tls = \"none\", from = \"Dealix alerts <alerts@dealix.example>\" }}",
        sink.port()
    );
    let (_dir, app) = edited(
        backend,
        "dealix-sev.toml",
        &[
            ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", &slack),
            ("smtp = { host = \"smtp.dealix.example\", from = \"Dealix alerts <alerts@dealix.example>\" }", &relay),
        ],
        "",
        "2026-11-29T00:00:00Z",
    )
    .await;
    duties_round(&app).await;
    // The day before: Sami is reminded on both channels.
    set(&app, "2026-11-30T07:00:00Z");
    let round = duties_round(&app).await;
    assert_eq!((round.queued, round.delivered), (2, 2), "{round:?}");
    // Sami confirms the phone numbers early: the automated check still runs.
    let (status, v) = app
        .post(
            "/api/v1/duties/monitoring-check/runs",
            json!({"outcome": "ok", "notes": "numbers confirmed, UptimeRobot polling"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // Slack fails for good this time; email works.
    receiver.script(&[common::receiver::Answer::Status(404)]);
    set(&app, "2026-12-01T07:00:00Z");
    let round = duties_round(&app).await;
    assert_eq!(round.queued, 2, "a test per channel: {round:?}");
    let round = duties_round(&app).await;
    assert_eq!(round.checks_recorded, 1, "{round:?}");
    let (_, runs) = app.get("/api/v1/duties/monitoring-check/runs").await;
    let run = &runs["items"][0];
    assert_eq!(run["outcome"], "failed");
    assert_eq!(run["actor"], "firebell");
    assert_eq!(run["occurrence"], "2026-12-01T07:00:00Z");
    let notes = run["notes"].as_str().unwrap();
    assert!(notes.starts_with("1 of 2 channels reached"), "{notes}");
    assert!(
        notes.contains("email: arrived (sami sami@dealix.example)"),
        "{notes}"
    );
    assert!(notes.contains("slack: FAILED"), "{notes}");
    let tests = sink
        .messages()
        .iter()
        .filter(|m| {
            m.data_str()
                .contains("[test] Monthly monitoring setup check: the email channel works")
        })
        .count();
    assert_eq!(tests, 1, "the test mail arrived");
    assert_eq!(duties_round(&app).await.checks_recorded, 0, "recorded once");
    let d = duty(&app, "monitoring-check").await;
    assert_eq!(d["kind"], "monitoring_check");
    assert_eq!(d["last_done"], true);
}

/// s003.review-cycle: the quarterly runbook review, quarterly key rotation
/// and weekly backup verification are duties, each with its owner, its
/// schedule and its runs.
async fn s003_review_cycle(backend: Backend) {
    let app = app_at(backend, "dashflow.toml", "2026-12-04T12:00:00Z").await;
    duties_round(&app).await;
    for (key, owner, next) in [
        ("runbook-review", "jane", "2027-01-03T10:00:00Z"),
        ("key-rotation", "john", "2027-01-10T10:00:00Z"),
        ("backup-verification", "oncall", "2026-12-07T09:00:00Z"),
    ] {
        let d = duty(&app, key).await;
        assert_eq!(
            (d["owner"].as_str(), d["next_due"].as_str()),
            (Some(owner), Some(next)),
            "{d}"
        );
    }
    let d = duty(&app, "backup-verification").await;
    assert_eq!(d["schedule"], "cron 0 9 * * 1 (UTC)", "written as cron");
    // Jane is reminded a week before the review (on Slack, unreachable here).
    set(&app, "2026-12-27T10:00:00Z");
    let round = duties_round(&app).await;
    assert!(round.queued >= 1, "{round:?}");
    let (_, runs) = app.get("/api/v1/duties/runbook-review/runs").await;
    assert_eq!(runs["items"], json!([]));
    let (status, run) = app
        .post(
            "/api/v1/duties/runbook-review/runs",
            json!({"outcome": "ok", "notes": "thresholds updated"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    assert_eq!(
        run["occurrence"], "2027-01-03T10:00:00Z",
        "done early, for the coming review"
    );
}

/// s004.monthly-review: the runbook has a monthly review cycle; its owner is
/// reminded before it, and it is overdue (loud in /metrics) when not done.
/// A major incident's resolution makes it owed again, until a run is
/// recorded after it.
async fn s004_monthly_review(backend: Backend) {
    let app = app_at(backend, "agent-factory.toml", "2026-11-20T12:00:00Z").await;
    duties_round(&app).await;
    let d = duty(&app, "runbook-review").await;
    assert_eq!(d["next_due"], "2026-12-01T15:00:00Z");
    assert_eq!(d["owner"], "engineering-lead");
    set(&app, "2026-11-29T15:00:00Z");
    let round = duties_round(&app).await;
    assert!(round.queued >= 1, "two days before: {round:?}");
    set(&app, "2026-12-04T15:00:00Z");
    duties_round(&app).await;
    assert_eq!(duty(&app, "runbook-review").await["overdue"], true);
    let metrics = app.metrics().await;
    assert!(metrics.contains("firebell_duties_overdue"), "{metrics}");
    let (status, _) = app
        .post(
            "/api/v1/duties/runbook-review/runs",
            json!({"outcome": "ok"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(duty(&app, "runbook-review").await["overdue"], false);

    // A P1 resolved: the review is owed after it, and its owner hears so.
    let id = app
        .declare(json!({"title": "Agents stuck", "severity": "P1"}))
        .await;
    app.advance_mins(30);
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    // A P2 is no major incident.
    let minor = app
        .declare(json!({"title": "Slow page", "severity": "P2"}))
        .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{minor}/resolve"),
        json!({}),
    )
    .await;
    let round = duties_round(&app).await;
    assert!(round.queued >= 1, "{round:?}");
    let d = duty(&app, "runbook-review").await;
    assert_eq!(d["owed_after"], json!([id]));
    let sent = app.get("/api/v1/duties/runbook-review/runs").await.1;
    assert_eq!(sent["items"].as_array().unwrap().len(), 1);
    app.advance_mins(60);
    ok(
        &app,
        "/api/v1/duties/runbook-review/runs",
        json!({"outcome": "ok", "notes": "added the queue alert"}),
    )
    .await;
    assert_eq!(duty(&app, "runbook-review").await["owed_after"], json!([]));
}

/// s003.ack-target-reported: time to acknowledge and to resolve, per
/// incident and as distributions, against the policy's targets; with
/// incidents by severity, service and week, updates on time, escalations,
/// postmortems and action items. The numbers match a fixture computed by
/// hand; a drill is not counted.
async fn s003_ack_target_reported(backend: Backend) {
    // DashFlow: P0 and P1 acknowledged within 15 min; updates every 15 (P0)
    // and 30 (P1) minutes.
    let app = app_at(backend, "dashflow.toml", "2026-11-23T10:00:00Z").await;
    let cmd = |id: &str, what: &str| format!("/api/v1/incidents/{id}/{what}");
    let update = json!({"message": "progress", "visibility": "internal"});
    // A: P0, acked at 5 min, updates at 10 min (on time) and 40 min (late),
    // resolved at 50 min.
    let a = app
        .declare(json!({"title": "DB down", "severity": "P0", "services": ["database"]}))
        .await;
    set(&app, "2026-11-23T10:05:00Z");
    ok(&app, &cmd(&a, "acknowledge"), json!({})).await;
    set(&app, "2026-11-23T10:10:00Z");
    ok(&app, &cmd(&a, "updates"), update.clone()).await;
    set(&app, "2026-11-23T10:40:00Z");
    ok(&app, &cmd(&a, "updates"), update.clone()).await;
    set(&app, "2026-11-23T10:50:00Z");
    ok(&app, &cmd(&a, "resolve"), json!({})).await;
    ok(
        &app,
        &cmd(&a, "action-items"),
        json!({"title": "Disk alert at 80%", "owner": "dba-team", "due_at": "2026-11-25T00:00:00Z"}),
    )
    .await;
    set(&app, "2026-11-24T09:00:00Z");
    let (status, v) = app
        .send(
            Method::PATCH,
            &cmd(&a, "action-items/1"),
            json!({"status": "complete"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    // B: P1, acked at 20 min (over the target), no update, resolved at 90 min.
    set(&app, "2026-11-23T11:00:00Z");
    let b = app
        .declare(json!({"title": "API slow", "severity": "P1", "services": ["dashflow"]}))
        .await;
    set(&app, "2026-11-23T11:20:00Z");
    ok(&app, &cmd(&b, "acknowledge"), json!({})).await;
    set(&app, "2026-11-23T12:30:00Z");
    ok(&app, &cmd(&b, "resolve"), json!({})).await;
    // C: P1 the next week, never acknowledged, still open; its ladder's L2
    // fires after 2 h. D: a drill, not counted.
    set(&app, "2026-12-01T09:00:00Z");
    let c = app
        .declare(json!({"title": "Batch stuck", "severity": "P1", "services": ["dashflow"]}))
        .await;
    app.declare(
        json!({"title": "Game day", "severity": "P0", "services": ["database"], "drill": true}),
    )
    .await;
    set(&app, "2026-12-01T11:30:00Z");
    app.tick().await;

    let (status, r) = app.get("/api/v1/reports?since=2026-11-01T00:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["incidents"], 3, "the drill is not counted");
    let p0 = &r["by_severity"][0];
    assert_eq!(p0["severity"], "P0");
    assert_eq!(p0["acknowledge"]["mean"], 300);
    assert_eq!(p0["acknowledge"]["target"], 900);
    assert_eq!(
        (
            p0["acknowledge"]["on_target"].clone(),
            p0["acknowledge"]["with_target"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(p0["resolve"]["mean"], 3000);
    let p1 = &r["by_severity"][1];
    assert_eq!(p1["incidents"], 2);
    assert_eq!(p1["acknowledge"]["count"], 1, "C was never acknowledged");
    assert_eq!(p1["acknowledge"]["mean"], 1200);
    assert_eq!(
        (
            p1["acknowledge"]["on_target"].clone(),
            p1["acknowledge"]["with_target"].clone()
        ),
        (json!(0), json!(2)),
        "B late; C past its target unacknowledged"
    );
    assert_eq!(r["acknowledge"]["mean"], 750);
    assert_eq!(r["acknowledge"]["p50"], 300);
    assert_eq!(r["acknowledge"]["p90"], 1200);
    assert_eq!(r["resolve"]["mean"], 4200);
    assert_eq!(r["by_service"], json!({"database": 1, "dashflow": 2}));
    assert_eq!(
        r["by_week"],
        json!([
            {"week": "2026-11-23", "incidents": 2, "by_severity": {"P0": 1, "P1": 1}},
            {"week": "2026-11-30", "incidents": 1, "by_severity": {"P1": 1}},
        ])
    );
    // Updates owed: A 2 (1 on time), B 1 (the 90-minute silence), C 1.
    assert_eq!(
        r["updates"],
        json!({"total": 4, "on_time": 1, "late": 3, "overdue": 0})
    );
    // C's ladder: its 1 h response target breached at 10:00 moved it to L2
    // (the ladder's last step: L3 is paged by flag, or by the p1-unanswered
    // rule, not counted as a step); A and B were resolved before any second
    // step.
    let steps: Vec<String> = app
        .events_of(&c, "escalated")
        .await
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps, ["L1", "L2"]);
    assert_eq!(
        (r["escalated_incidents"].clone(), r["escalations"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        r["postmortems"],
        json!({"total": 2, "on_time": 0, "late": 0, "overdue": 2})
    );
    assert_eq!(
        r["action_items"],
        json!({"total": 1, "on_time": 1, "late": 0, "overdue": 0})
    );
    let row = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == c.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["ack_on_target"], false);
    assert_eq!(row["time_to_ack"], Value::Null);

    // The same as CSV, one row per incident; a narrower range counts less.
    let resp = app
        .http
        .get(app.url("/api/v1/reports?since=2026-11-01T00:00:00Z&format=csv"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = resp.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.starts_with(&format!("{a},P0,")) && l.contains(",300,3000,true,")),
        "{csv}"
    );
    let (_, week) = app.get("/api/v1/reports?since=7d").await;
    assert_eq!(week["incidents"], 1);
    let (status, _) = app.get("/api/v1/reports?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/v1/reports?since=1d&until=2d").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "since after until");
    let page = app.console_page("/reports?since=30d").await;
    assert!(
        page.contains("<svg") && page.contains("Incidents per week"),
        "{page}"
    );
    assert!(page.contains("MTTA 5m 00s"), "{page}");
    let _ = b;
}

/// Issues filed: the body and the Authorization header.
type Filed = std::sync::Arc<std::sync::Mutex<Vec<(Value, Option<String>)>>>;
/// Issue number → state.
type States = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, String>>>;

/// A GitHub-like issue tracker on an ephemeral port: `POST /issues` files
/// (a title containing "refuse" gets a 502), `GET /issues/{n}` reads back.
struct FakeTracker {
    url: String,
    filed: Filed,
    states: States,
}

impl FakeTracker {
    async fn start() -> FakeTracker {
        use axum::extract::{Path, State};
        use axum::http::HeaderMap;
        use axum::routing::{get, post};
        type Shared = (Filed, States);
        let filed: Shared = Default::default();
        let app = axum::Router::new()
            .route(
                "/repos/o/r/issues",
                post(
                    |State((filed, states)): State<Shared>,
                     headers: HeaderMap,
                     axum::Json(body): axum::Json<Value>| async move {
                        if body["title"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("refuse")
                        {
                            return (
                                StatusCode::BAD_GATEWAY,
                                axum::Json(json!({"message": "try later"})),
                            );
                        }
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string());
                        let mut filed = filed.lock().unwrap();
                        filed.push((body, auth));
                        let n = filed.len() as u64 + 40;
                        states.lock().unwrap().insert(n, "open".into());
                        (
                            StatusCode::CREATED,
                            axum::Json(json!({
                                "number": n, "state": "open",
                                "html_url": format!("https://github.example/o/r/issues/{n}"),
                            })),
                        )
                    },
                ),
            )
            .route(
                "/repos/o/r/issues/{n}",
                get(
                    |State((_, states)): State<Shared>, Path(n): Path<u64>| async move {
                        let state = states.lock().unwrap().get(&n).cloned().unwrap_or_default();
                        axum::Json(json!({"number": n, "state": state,
                        "html_url": format!("https://github.example/o/r/issues/{n}")}))
                    },
                ),
            )
            .with_state(filed.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/repos/o/r/issues", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeTracker {
            url,
            filed: filed.0,
            states: filed.1,
        }
    }
}

/// s004.action-items-to-issues: action items are filed as GitHub-style
/// issues at the configured URL, with the token and labels; the issue's
/// number and link are kept on the item; closing the issue completes the
/// item; an item the tracker refuses holds up no other and is retried.
async fn s004_action_items_to_issues(backend: Backend) {
    let tracker = FakeTracker::start().await;
    // SAFETY: every test that reads this variable sets it to the same value.
    unsafe { std::env::set_var("FIREBELL_TEST_TRACKER_TOKEN", "ghp_test") };
    let policy = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent-factory.toml"),
    )
    .unwrap()
    .replace(
        "https://api.github.com/repos/agent-factory/platform/issues",
        &tracker.url,
    )
    .replace("\"GITHUB_TOKEN\"", "\"FIREBELL_TEST_TRACKER_TOKEN\"");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, policy).unwrap();
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(file)).await;
    app.clock.set("2026-11-23T10:00:00Z".parse().unwrap());
    let id = app
        .declare(json!({"title": "Agents stuck", "severity": "P1"}))
        .await;
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    let path = format!("/api/v1/incidents/{id}/action-items");
    ok(
        &app,
        &path,
        json!({"title": "refuse this one", "owner": "engineer-b"}),
    )
    .await;
    ok(
        &app,
        &path,
        json!({"title": "Fix the root cause", "owner": "engineer-a",
                           "due_at": "2026-11-30T10:00:00Z", "priority": "high"}),
    )
    .await;

    let round = firebell_server::tracker::run_once(app.state())
        .await
        .unwrap();
    assert_eq!((round.filed, round.failed), (1, 1), "{round:?}");
    let (body, auth) = tracker.filed.lock().unwrap()[0].clone();
    assert_eq!(body["title"], format!("[{id}] Fix the root cause"));
    assert_eq!(body["labels"], json!(["incident-follow-up"]));
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains("**Owner**: engineer-a") && text.contains("**Due**: 2026-11-30 10:00 UTC"),
        "{text}"
    );
    assert!(text.contains(&format!("firebell:{id}#2")), "{text}");
    assert_eq!(auth.as_deref(), Some("Bearer ghp_test"));
    let (_, items) = app
        .get(&format!("/api/v1/action-items?incident={id}"))
        .await;
    let fixed = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == 2)
        .unwrap()
        .clone();
    assert_eq!(fixed["tracker"]["number"], 41);
    assert_eq!(
        fixed["tracker"]["url"],
        "https://github.example/o/r/issues/41"
    );
    let filed = app.events_of(&id, "action_item_filed").await;
    assert_eq!(filed.len(), 1, "on the timeline");

    // Closed in the tracker: the item completes at the next read-back.
    tracker.states.lock().unwrap().insert(41, "closed".into());
    let round = firebell_server::tracker::run_once(app.state())
        .await
        .unwrap();
    assert_eq!(round.read_back, 0, "not yet: read back every 5m");
    app.advance_mins(5);
    let round = firebell_server::tracker::run_once(app.state())
        .await
        .unwrap();
    assert_eq!((round.read_back, round.changed), (1, 1), "{round:?}");
    let (_, items) = app
        .get(&format!("/api/v1/action-items?incident={id}"))
        .await;
    let fixed = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == 2)
        .unwrap()
        .clone();
    assert_eq!(fixed["status"], "complete");
    assert_eq!(fixed["tracker"]["state"], "closed");
    let updated = app.events_of(&id, "action_item_updated").await;
    assert_eq!(updated[0]["actor"], "tracker");

    // The refused item is retried after its back-off, not before, and
    // filed once the tracker takes it.
    let failing = app.state().tracker.failing();
    assert_eq!(failing.len(), 1);
    assert!(failing[0].3.contains("502"), "{failing:?}");
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("{path}/1"),
            json!({"title": "Pool sizing review"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let round = firebell_server::tracker::run_once(app.state())
        .await
        .unwrap();
    assert_eq!(
        (round.filed, round.failed),
        (0, 0),
        "backing off: {round:?}"
    );
    // Refused at 10:00 and again at 10:05: the second wait is 2 minutes.
    app.advance_mins(2);
    let round = firebell_server::tracker::run_once(app.state())
        .await
        .unwrap();
    assert_eq!((round.filed, round.failed), (1, 0), "{round:?}");
    assert!(app.state().tracker.failing().is_empty());
    assert_eq!(
        tracker.filed.lock().unwrap().len(),
        2,
        "each item filed once"
    );
}

/// s000.postmortem-3-business-days: a resolved P0 gets a blameless
/// postmortem due three Sun–Thu business days later, across a weekend and
/// a holiday; its document is drafted from the log; it cannot go to review
/// until written; its owner is reminded a day before; published in time,
/// the deadline is met and the overdue reminder never comes.
async fn s000_postmortem_3_business_days(backend: Backend) {
    // Thursday 2027-02-18, 13:00 in Riyadh. Monday the 22nd is Founding Day.
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2027-02-18T10:00:00Z",
    )
    .await;
    let id = app
        .declare(json!({"title": "Leads API down", "severity": "P0", "services": ["api"]}))
        .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/roles"),
        json!({"role": "incident_commander", "person": "platform-oncall"}),
    )
    .await;
    app.advance_mins(20);
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"status": "identified", "message": "Bad deploy of v2.3; rolling back", "visibility": "internal"}),
    )
    .await;
    // No postmortem while the incident is open.
    let (status, _) = app.get(&format!("/api/v1/incidents/{id}/postmortem")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.advance_mins(40);
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/resolve"),
        json!({"summary": "rolled back to v2.2"}),
    )
    .await;
    app.tick().await;

    let opened = &app.events_of(&id, "postmortem_opened").await[0];
    assert_eq!(opened["owner"], "platform-oncall", "the commander owns it");
    // Thu 11:00Z + 3 business days: Sun 21 (1), Mon 22 holiday, Tue 23 (2), Wed 24 (3).
    assert_eq!(opened["due_at"], "2027-02-24T11:00:00Z");

    let pm = postmortem(&app, &id).await;
    assert_eq!(pm["postmortem"]["state"], "draft");
    assert_eq!(pm["drafted"], true);
    assert_eq!(pm["path"], "docs/incidents/2027-02-18-leads-api-down.md");
    let doc = pm["document"].as_str().unwrap();
    for heading in [
        "## Timeline",
        "## Root cause",
        "## Contributing factors",
        "## What worked",
        "## What didn't",
        "## Action items",
    ] {
        assert!(doc.contains(heading), "{heading} in\n{doc}");
    }
    assert!(
        doc.contains("**Incident ID**: ") && doc.contains(&id),
        "{doc}"
    );
    assert!(doc.contains("**Duration**: 1h"), "{doc}");
    assert!(
        doc.contains("| 10:20 | Status identified: Bad deploy of v2.3; rolling back |"),
        "the UTC timeline comes from the log:\n{doc}"
    );
    assert!(
        doc.contains("| 11:00 | resolved rolled back to v2.2 |"),
        "{doc}"
    );
    let unfinished: Vec<&str> = pm["unfinished"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(unfinished.contains(&"Root cause"), "{unfinished:?}");

    // Review needs a written document: first none saved, then placeholders left.
    let refused = move_to(&app, &id, "in_review").await;
    common::assert_error(&refused, StatusCode::CONFLICT, "postmortem_unwritten");
    let (status, v) = save(&app, &id, doc).await;
    assert!(status.is_success(), "{v}");
    let refused = move_to(&app, &id, "in_review").await;
    let message = common::assert_error(&refused, StatusCode::CONFLICT, "postmortem_unfinished");
    assert!(message.contains("Root cause"), "{message}");

    // A day before it is due, the owner is reminded; not before.
    set(&app, "2027-02-23T10:59:00Z");
    app.tick().await;
    assert!(postmortem_reminders(&app, &id).await.is_empty());
    set(&app, "2027-02-23T11:00:00Z");
    app.tick().await;
    assert_eq!(
        postmortem_reminders(&app, &id).await,
        [(
            "postmortem".to_string(),
            "2027-02-23T11:00:00Z".to_string(),
            vec!["platform-oncall".to_string()]
        )]
    );

    // Written, reviewed, published before the deadline: met, and no overdue
    // reminder comes.
    let (status, v) = save(&app, &id, &written(doc)).await;
    assert!(status.is_success(), "{v}");
    assert!(move_to(&app, &id, "in_review").await.0.is_success());
    assert!(move_to(&app, &id, "published").await.0.is_success());
    let pm = postmortem(&app, &id).await;
    assert_eq!(pm["postmortem"]["state"], "published");
    assert_eq!(pm["deadline"], "met");
    assert_eq!(pm["postmortem"]["published_at"], "2027-02-23T11:00:00Z");
    // Published is final: editing it needs a step back to review.
    let (status, v) = save(&app, &id, "# changed").await;
    common::assert_error(&(status, v), StatusCode::CONFLICT, "postmortem_published");
    set(&app, "2027-02-25T00:00:00Z");
    app.tick().await;
    assert_eq!(
        postmortem_reminders(&app, &id).await.len(),
        1,
        "no overdue reminder"
    );
    let states: Vec<String> = app
        .events_of(&id, "postmortem_state_changed")
        .await
        .iter()
        .map(|e| e["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states, ["in_review", "published"], "on the timeline");
}

/// s000.review-meetings: "Review in next architecture meeting": the review
/// is set at resolution with its participants, the action items' owners are
/// invited too, everyone is reminded a day and an hour before, and moving
/// the meeting invites again for the new time.
async fn s000_review_meetings(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2027-02-18T10:00:00Z",
    )
    .await;
    let id = app
        .declare(json!({"title": "Payments webhook lost", "severity": "P1"}))
        .await;
    for (role, person) in [
        ("incident_commander", "platform-oncall"),
        ("ops_lead", "dba"),
    ] {
        ok(
            &app,
            &format!("/api/v1/incidents/{id}/roles"),
            json!({"role": role, "person": person}),
        )
        .await;
    }
    app.advance_mins(60);
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    // Action items get owners; one of them is not in the meeting yet.
    let path = format!("/api/v1/incidents/{id}/action-items");
    let (status, v) = app
        .post(&path, json!({"title": "Replay lost webhooks"}))
        .await;
    assert!(status.is_client_error(), "an owner is required: {v}");
    ok(
        &app,
        &path,
        json!({"title": "Replay lost webhooks", "owner": "customer-success", "due_at": "2027-03-01T09:00:00Z"}),
    )
    .await;
    app.tick().await;

    let pm = postmortem(&app, &id).await;
    let review = &pm["postmortem"]["review"];
    // Thu 11:00Z + 5 business days: Sun 21, (Mon 22 a holiday), Tue 23,
    // Wed 24, Thu 25, Sun 28.
    assert_eq!(review["at"], "2027-02-28T11:00:00Z");
    assert_eq!(review["place"], "next architecture meeting");
    assert_eq!(
        pm["invitees"],
        json!(["platform-oncall", "dba", "cto", "customer-success"])
    );
    let invited = follow_ups(&app, &id).await;
    assert_eq!(invited.len(), 1, "{invited:?}");
    assert_eq!(invited[0].0, "review_invitation");
    assert_eq!(
        invited[0].2,
        ["platform-oncall", "dba", "cto", "customer-success"]
    );

    // Reminded a day and an hour before.
    set(&app, "2027-02-27T11:00:00Z");
    app.tick().await;
    set(&app, "2027-02-28T10:00:00Z");
    app.tick().await;
    let reminded: Vec<(String, String)> = follow_ups(&app, &id)
        .await
        .into_iter()
        .filter(|r| r.0 == "review")
        .map(|r| (r.1, r.2.join(",")))
        .collect();
    let everyone = "platform-oncall,dba,cto,customer-success".to_string();
    assert_eq!(
        reminded,
        [
            ("2027-02-27T11:00:00Z".to_string(), everyone.clone()),
            ("2027-02-28T10:00:00Z".to_string(), everyone.clone()),
        ]
    );

    // Moved to the real meeting: a new invitation for the new time.
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/postmortem/review"),
        json!({"at": "2027-03-02T07:00:00Z", "place": "architecture meeting, room 2"}),
    )
    .await;
    app.tick().await;
    let last = follow_ups(&app, &id).await.pop().unwrap();
    assert_eq!(last.0, "review_invitation");
    let scheduled = app.events_of(&id, "review_scheduled").await;
    assert_eq!(
        scheduled[0]["review"]["participants"],
        json!(["platform-oncall", "dba", "cto"])
    );
    // An unknown participant is refused.
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/postmortem/review"),
            json!({"at": "2027-03-02T07:00:00Z", "participants": ["nobody"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

/// s001.postmortem-48h: SEV-1 and SEV-2 need a postmortem within 48 h,
/// filed as `docs/ops/postmortems/YYYY-MM-DD-summary.md` with the seed's
/// sections, action items among them; not written in time, its owner hears
/// that it is overdue.
async fn s001_postmortem_48h(backend: Backend) {
    let app = app_at(backend, "dealix-sev.toml", "2026-12-03T08:00:00Z").await;
    let id = app
        .declare(json!({"title": "Backend down", "severity": "SEV-2"}))
        .await;
    app.advance_mins(90);
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/action-items"),
        json!({"title": "Alert on Railway deploy failures", "owner": "sami",
               "due_at": "2026-12-10T08:00:00Z", "priority": "high"}),
    )
    .await;
    let pm = postmortem(&app, &id).await;
    assert_eq!(pm["postmortem"]["due_at"], "2026-12-05T09:30:00Z", "48 h");
    assert_eq!(pm["postmortem"]["owner"], "sami");
    assert_eq!(pm["path"], "docs/ops/postmortems/2026-12-03-summary.md");
    let doc = pm["document"].as_str().unwrap();
    let order: Vec<usize> = [
        "## Timeline",
        "## Root cause",
        "## What worked",
        "## What didn't",
        "## Action items to prevent recurrence",
    ]
    .iter()
    .map(|h| doc.find(h).unwrap_or_else(|| panic!("{h} in\n{doc}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in order:\n{doc}");
    assert!(
        doc.contains("| 1 | Alert on Railway deploy failures | Sami | 2026-12-10 | Not Started |"),
        "{doc}"
    );

    // Not written in 48 h: the owner hears it is overdue, once.
    set(&app, "2026-12-05T09:29:00Z");
    app.tick().await;
    let before: Vec<String> = postmortem_reminders(&app, &id)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(before, ["postmortem"], "12 h before only");
    set(&app, "2026-12-05T09:30:00Z");
    app.tick().await;
    app.tick().await;
    let all = postmortem_reminders(&app, &id).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1].0, "postmortem_overdue");
    assert_eq!(all[1].2, ["sami"]);
    app.advance_mins(1);
    let pm = postmortem(&app, &id).await;
    assert_eq!(pm["deadline"], "breached");
    let (_, listed) = app.get("/api/v1/postmortems?overdue=true").await;
    assert_eq!(listed["items"][0]["incident_id"], id.as_str());
    let metrics = app.metrics().await;
    for gauge in [
        "firebell_postmortems_overdue",
        "firebell_action_items_overdue",
    ] {
        assert!(metrics.contains(gauge), "{gauge} in /metrics");
    }
}

/// s003.pir-48h: the post-incident review is due within 48 h of resolution
/// and follows the seed's template: header, summary, impact with users,
/// revenue and requests, the UTC timeline, root cause, contributing
/// factors, went well, didn't, action items with owner, due date and
/// status, lessons.
async fn s003_pir_48h(backend: Backend) {
    let app = app_at(backend, "dashflow.toml", "2025-11-04T10:00:00Z").await;
    let id = app
        .declare(
            json!({"title": "High error rate", "severity": "P1", "services": ["dashflow"],
                        "summary": "OOM kills after the v0.10.0 deploy"}),
        )
        .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/roles"),
        json!({"role": "incident_commander", "person": "john"}),
    )
    .await;
    app.advance_mins(2);
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    app.advance_mins(133);
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/resolve"),
        json!({"summary": "memory leak patched"}),
    )
    .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/action-items"),
        json!({"title": "Add memory profiling to CI/CD", "owner": "jane", "due_at": "2025-11-08T00:00:00Z"}),
    )
    .await;
    let pm = postmortem(&app, &id).await;
    assert_eq!(
        pm["postmortem"]["due_at"], "2025-11-06T12:15:00Z",
        "48 h after 12:15"
    );
    let doc = pm["document"].as_str().unwrap();
    assert!(
        doc.starts_with("# Post-Incident Review: High error rate\n"),
        "{doc}"
    );
    for line in [
        format!("**Incident ID**: {id}"),
        "**Date**: 2025-11-04".to_string(),
        "**Severity**: P1".to_string(),
        "**Duration**: 2h15m (10:00 UTC - 12:15 UTC)".to_string(),
        "**Incident Commander**: John Doe".to_string(),
        "- **Users Affected**: _To be written._".to_string(),
        "- **Revenue Impact**: _To be written._".to_string(),
        "- **Requests Failed**: _To be written._".to_string(),
        "| 10:02 | acknowledged |".to_string(),
        "| 1 | Add memory profiling to CI/CD | Jane Smith | 2025-11-08 | Not Started |".to_string(),
    ] {
        assert!(doc.contains(&line), "{line:?} in\n{doc}");
    }
    let sections = [
        "Summary",
        "Impact",
        "Timeline (UTC)",
        "Root Cause",
        "Contributing Factors",
        "What Went Well",
        "What Didn't Go Well",
        "Action Items",
        "Lessons Learned",
        "Related Documentation",
    ];
    let at: Vec<usize> = sections
        .iter()
        .map(|s| {
            doc.find(&format!("## {s}\n"))
                .unwrap_or_else(|| panic!("{s}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]));
    assert!(
        doc.contains("OOM kills after the v0.10.0 deploy"),
        "the summary"
    );
    assert!(doc.contains("Resolution: memory leak patched"));
    // Progress on the item is in the table the next time it is read.
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}/action-items/1"),
            json!({"status": "in_progress"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let doc = postmortem(&app, &id).await["document"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        doc.contains("| Jane Smith | 2025-11-08 | In Progress |"),
        "{doc}"
    );
}

/// s004.postmortem-48h: resolution schedules the post-mortem meeting within
/// 48 h, with the responders and the Engineering Lead, who are invited at
/// once and reminded an hour before; the document is due in 48 h too.
async fn s004_postmortem_48h(backend: Backend) {
    let app = app_at(backend, "agent-factory.toml", "2026-11-23T10:00:00Z").await;
    let id = app
        .declare(json!({"title": "Agents stuck", "severity": "P1"}))
        .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/roles"),
        json!({"role": "incident_commander", "person": "engineer-a"}),
    )
    .await;
    app.advance_mins(45);
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    app.tick().await;
    let pm = postmortem(&app, &id).await;
    assert_eq!(pm["postmortem"]["due_at"], "2026-11-25T10:45:00Z");
    assert_eq!(pm["postmortem"]["review"]["at"], "2026-11-25T10:45:00Z");
    assert_eq!(pm["postmortem"]["review"]["place"], "post-mortem meeting");
    let invited = follow_ups(&app, &id).await;
    assert_eq!(invited[0].0, "review_invitation");
    assert!(
        invited[0].2.contains(&"engineer-a".to_string()),
        "{invited:?}"
    );
    assert!(
        invited[0].2.contains(&"engineering-lead".to_string()),
        "{invited:?}"
    );
    let channels = app.notifications(&id).await;
    assert!(
        channels.iter().any(|n| n["person"] == "engineering-lead"
            && n["duty"].as_str().unwrap().starts_with("followup:review:")),
        "the invitation is really sent: {channels:?}"
    );
    set(&app, "2026-11-25T09:45:00Z");
    app.tick().await;
    let last = follow_ups(&app, &id).await.pop().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str()),
        ("review", "2026-11-25T09:45:00Z")
    );
}

/// s002.postmortem-review: resolution schedules a postmortem review with
/// owners, and action items get owners, who are reminded of the review.
async fn s002_postmortem_review(backend: Backend) {
    let app = app_at(backend, "django-crm.toml", "2026-11-23T10:00:00Z").await;
    let id = app
        .declare(json!({"title": "Login 5xx", "severity": "SEV1"}))
        .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/roles"),
        json!({"role": "incident_commander", "person": "sre-a"}),
    )
    .await;
    app.advance_mins(30);
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    let path = format!("/api/v1/incidents/{id}/action-items");
    let (status, v) = app
        .post(&path, json!({"title": "Fix the pool", "owner": "  "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    ok(
        &app,
        &path,
        json!({"title": "Fix the pool", "owner": "sre-b", "due_at": "2026-11-30T10:00:00Z"}),
    )
    .await;
    app.tick().await;
    let pm = postmortem(&app, &id).await;
    assert_eq!(pm["postmortem"]["review"]["at"], "2026-11-26T10:30:00Z");
    assert_eq!(pm["invitees"], json!(["sre-a", "sre-lead", "sre-b"]));
    set(&app, "2026-11-26T09:30:00Z");
    app.tick().await;
    let last = follow_ups(&app, &id).await.pop().unwrap();
    assert_eq!(last.0, "review");
    assert_eq!(
        last.2,
        ["sre-a", "sre-lead", "sre-b"],
        "the item's owner too"
    );
}

/// An overdue action item reminds its owner at its due time and every day
/// after, until it is complete; `GET /action-items?overdue=true` lists it
/// across incidents.
async fn overdue_action_items_remind_their_owners_and_are_listed(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2027-03-01T08:00:00Z",
    )
    .await;
    let id = app
        .declare(json!({"title": "Queue stuck", "severity": "P2"}))
        .await;
    let path = format!("/api/v1/incidents/{id}/action-items");
    ok(
        &app,
        &path,
        json!({"title": "Alert on queue age", "owner": "dba", "due_at": "2027-03-02T08:00:00Z"}),
    )
    .await;
    ok(&app, &path, json!({"title": "Write the runbook", "owner": "Docs team", "due_at": "2027-03-09T08:00:00Z"})).await;
    let (_, none) = app.get("/api/v1/action-items?overdue=true").await;
    assert_eq!(none["items"], json!([]));
    set(&app, "2027-03-02T08:00:00Z");
    app.tick().await;
    set(&app, "2027-03-03T08:00:00Z");
    app.tick().await;
    let sent = follow_ups(&app, &id).await;
    assert_eq!(
        sent.iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("action:1", "2027-03-02T08:00:00Z"),
            ("action:1", "2027-03-03T08:00:00Z")
        ]
    );
    assert_eq!(sent[0].2, ["dba"]);
    let (_, overdue) = app.get("/api/v1/action-items?overdue=true").await;
    let items = overdue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{overdue}");
    assert_eq!(items[0]["incident_id"], id.as_str());
    assert_eq!(items[0]["title"], "Alert on queue age");
    // Complete: no more reminders, off the overdue list.
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("{path}/1"),
            json!({"status": "complete"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("{path}/1"),
            json!({"status": "complete"}),
        )
        .await;
    common::assert_error(&(status, v), StatusCode::CONFLICT, "action_item_unchanged");
    set(&app, "2027-03-05T08:00:00Z");
    app.tick().await;
    assert_eq!(follow_ups(&app, &id).await.len(), 2);
    let (_, overdue) = app.get("/api/v1/action-items?overdue=true").await;
    assert_eq!(overdue["items"], json!([]));
    let (_, open) = app.get("/api/v1/action-items?open=true").await;
    assert_eq!(open["items"][0]["owner"], "Docs team");
    let (status, _) = app.get("/api/v1/action-items?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("{path}/9"),
            json!({"status": "complete"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // An item dated ten days back: one reminder for the whole gap, not ten.
    ok(
        &app,
        &path,
        json!({"title": "Backfill the lost rows", "owner": "dba", "due_at": "2027-02-23T08:00:00Z"}),
    )
    .await;
    app.tick().await;
    let late: Vec<_> = app
        .events_of(&id, "reminded")
        .await
        .into_iter()
        .filter(|r| r["reminder"] == "action:3")
        .collect();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["n"], 11, "ten days passed");
    // Moved to next week: reminded again when that comes, not before.
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("{path}/3"),
            json!({"due_at": "2027-03-08T08:00:00Z"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    set(&app, "2027-03-08T07:59:00Z");
    app.tick().await;
    set(&app, "2027-03-08T08:00:00Z");
    app.tick().await;
    let late: Vec<String> = app
        .events_of(&id, "reminded")
        .await
        .into_iter()
        .filter(|r| r["reminder"] == "action:3")
        .map(|r| r["at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(late, ["2027-03-05T08:00:00Z", "2027-03-08T08:00:00Z"]);
}
