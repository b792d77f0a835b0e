//! Change safety (issue 15): deploys on the incident, the freeze CI obeys,
//! the rollback advisor, runbooks and contacts. One test per seed rule,
//! named after it; each loads that seed's policy from `examples/` into the
//! real server and moves a manual clock.

mod common;

use common::{Backend, TestApp, example_at as app_at, ok};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    s002_recent_changes,
    s000_rollback_suspect_deploy,
    s000_rollback_kinds,
    s000_rollback_window_24h,
    s000_freeze_until_green,
    freezes_by_hand_windows_and_admin_overrides,
    s003_rollback_criteria,
    s003_post_rollback,
    s000_scenario_runbooks,
    s003_dependency_outage,
    s001_contacts,
    s000_upstream_status,
    s000_private_roster,
    freeze_windows_follow_the_calendar,
    the_rollback_hook_is_called_only_on_confirmation,
    s003_rollback_criteria_from_a_deploy_check_in,
    bad_deploys_are_refused_with_every_problem_named,
);

async fn deploy(app: &TestApp, body: Value) -> Value {
    let (status, v) = app.post("/api/v1/deploys", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

async fn detail(app: &TestApp, id: &str) -> Value {
    let (status, v) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

fn ids(changes: &Value) -> Vec<String> {
    changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(app: &TestApp, at: &str) {
    app.clock.set(at.parse().unwrap());
}

/// Seed 002: "Inspect recent deploys and migrations": the incident shows
/// its services' deploys and migrations in the hours before it began, not
/// other services' and not older ones.
async fn s002_recent_changes(backend: Backend) {
    let app = app_at(backend, "django-crm.toml", "2026-11-23T02:00:00Z").await;
    deploy(
        &app,
        json!({"id": "old", "service": "web", "version": "1.3.0"}),
    )
    .await;
    set(&app, "2026-11-23T08:30:00Z");
    deploy(
        &app,
        json!({"id": "web-140", "service": "web", "version": "1.4.0", "previous_version": "1.3.0",
               "commit": "abc123", "author": "maria"}),
    )
    .await;
    set(&app, "2026-11-23T09:40:00Z");
    deploy(
        &app,
        json!({"id": "mig-0042", "service": "web", "kind": "migration", "version": "0042_add_index"}),
    )
    .await;
    deploy(
        &app,
        json!({"id": "worker-9", "service": "worker", "version": "9"}),
    )
    .await;
    set(&app, "2026-11-23T10:00:00Z");
    let id = app
        .declare(json!({"title": "5xx on login", "severity": "SEV2", "services": ["web"]}))
        .await;
    let d = detail(&app, &id).await;
    // Newest first; the 02:00 deploy is older than 6 h; the worker's is not its service's.
    assert_eq!(ids(&d["changes"]), ["mig-0042", "web-140"], "{d}");
    assert_eq!(d["changes"][0]["kind"], "migration");
    assert_eq!(d["changes"][1]["version"], "1.4.0");
    assert_eq!(d["changes"][1]["author"], "maria");
    // Within the last hour: suspect; 90 minutes before: shown, not suspect.
    assert_eq!(d["changes"][0]["suspect"], true);
    assert_eq!(d["changes"][1]["suspect"], false);
    // The list answers per service, newest first.
    let (_, all) = app
        .get("/api/v1/changes?service=web&since=2026-11-23T00:00:00Z")
        .await;
    assert_eq!(ids(&all["items"]), ["mig-0042", "web-140", "old"]);
    let (_, mig) = app
        .get("/api/v1/changes?service=web&kind=migration&since=2026-11-23T00:00:00Z")
        .await;
    assert_eq!(ids(&mig["items"]), ["mig-0042"]);
}

/// Seed 000 §1: "If a recent deploy is suspect → roll back (see §6)": a
/// deploy shortly before the incident began is flagged, with the service's
/// procedure; a PagerDuty change event counts the same.
async fn s000_rollback_suspect_deploy(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    deploy(
        &app,
        json!({"id": "api-v42", "service": "api", "version": "v42", "previous_version": "v41"}),
    )
    .await;
    set(&app, "2026-11-23T09:30:00Z");
    let id = app
        .declare(json!({"title": "Leads API 5xx", "severity": "P1", "services": ["api"]}))
        .await;
    let d = detail(&app, &id).await;
    assert_eq!(d["changes"][0]["id"], "api-v42");
    assert_eq!(d["changes"][0]["suspect"], true);
    let advice = &d["rollback"];
    assert_eq!(advice["action"], "roll_back", "{advice}");
    assert!(
        advice["reason"].as_str().unwrap().contains("api-v42"),
        "{advice}"
    );
    let option = &advice["options"][0];
    assert_eq!(option["change"]["id"], "api-v42");
    assert_eq!(option["procedure"]["title"], "6.1 Application rollback");
    assert!(
        option["procedure"]["steps"][0]
            .as_str()
            .unwrap()
            .contains("gh release list")
    );
    // Three hours earlier, the same deploy would be shown, not suspect.
    set(&app, "2026-11-23T12:00:00Z");
    let later = app
        .declare(json!({"title": "Leads API slow", "severity": "P2", "services": ["api"]}))
        .await;
    let d = detail(&app, &later).await;
    assert_eq!(d["changes"][0]["suspect"], false);
    assert!(d["rollback"].is_null(), "{}", d["rollback"]);
}

/// Seed 000 §6: procedures per kind, shown flag first (no deploy), then the
/// application, then the migration, whatever order they were made in.
async fn s000_rollback_kinds(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    deploy(
        &app,
        json!({"id": "mig", "service": "api", "kind": "migration", "version": "rev-77"}),
    )
    .await;
    set(&app, "2026-11-23T09:10:00Z");
    deploy(
        &app,
        json!({"id": "app", "service": "api", "version": "v42", "previous_version": "v41"}),
    )
    .await;
    set(&app, "2026-11-23T09:20:00Z");
    deploy(
        &app,
        json!({"id": "flag", "service": "api", "kind": "feature-flag", "summary": "new-scoring on"}),
    )
    .await;
    set(&app, "2026-11-23T09:30:00Z");
    let id = app
        .declare(json!({"title": "Leads API 5xx", "severity": "P1", "services": ["api"]}))
        .await;
    let advice = detail(&app, &id).await["rollback"].clone();
    let order: Vec<(&str, &str)> = advice["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["change"]["id"].as_str().unwrap(),
                o["procedure"]["title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("flag", "6.3 Feature flag rollback"),
            ("app", "6.1 Application rollback"),
            ("mig", "6.2 DB migration rollback"),
        ]
    );
    assert!(
        advice["reason"]
            .as_str()
            .unwrap()
            .starts_with("roll back flag"),
        "{advice}"
    );
    // The CLI-facing decision defaults to the advice's first change.
    let v = ok(
        &app,
        &format!("/api/v1/incidents/{id}/rollback"),
        json!({"decision": "rolled_back", "note": "flag off"}),
    )
    .await;
    assert_eq!(v["incident"]["rollback"]["decision"]["change"], "flag");
    assert_eq!(
        v["incident"]["rollback"]["decision"]["kind"],
        "feature_flag"
    );
}

/// Seed 000 §6.2: a DB rollback is advised within 24 h of the migration;
/// after that, fix forward, unless the incident is a P0.
async fn s000_rollback_window_24h(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    deploy(
        &app,
        json!({"id": "mig-77", "service": "api", "kind": "migration", "version": "rev-77"}),
    )
    .await;
    // The incident begins 30 minutes after the migration, but is declared
    // (and advised on) a day later.
    set(&app, "2026-11-24T09:30:00Z");
    let p1 = app
        .declare(
            json!({"title": "Slow writes", "severity": "P1", "services": ["api"],
                        "detected_at": "2026-11-23T09:30:00Z"}),
        )
        .await;
    let p0 = app
        .declare(
            json!({"title": "Writes failing", "severity": "P0", "services": ["api"],
                        "detected_at": "2026-11-23T09:30:00Z"}),
        )
        .await;
    let a1 = detail(&app, &p1).await["rollback"].clone();
    assert_eq!(a1["action"], "fix_forward", "{a1}");
    assert!(
        a1["reason"]
            .as_str()
            .unwrap()
            .contains("past the 1d rollback window"),
        "{a1}"
    );
    let a0 = detail(&app, &p0).await["rollback"].clone();
    assert_eq!(a0["action"], "roll_back", "{a0}");
    // Within the window the same migration is rolled back at P1 too.
    set(&app, "2026-11-23T20:00:00Z");
    let early = app
        .declare(
            json!({"title": "Slow writes again", "severity": "P1", "services": ["api"],
                        "detected_at": "2026-11-23T09:30:00Z"}),
        )
        .await;
    assert_eq!(
        detail(&app, &early).await["rollback"]["action"],
        "roll_back"
    );
}

/// Seed 000 §1 "Freeze. No new deploys to the affected env until green": a
/// P0/P1 freezes its services' environment, the freeze API names the
/// incident, a deploy during it is flagged, and it lifts at resolution. A
/// CI step obeys `firebell freeze check` (tested in cli.rs).
async fn s000_freeze_until_green(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    let frozen = |v: &Value| v["frozen"].as_bool().unwrap();
    let (_, v) = app.get("/api/v1/freeze?service=api").await;
    assert!(!frozen(&v), "{v}");
    let id = app
        .declare(json!({"title": "Leads API down", "severity": "P0", "services": ["api"]}))
        .await;
    // The affected environment is frozen, for every service in it.
    for q in ["service=api", "environment=production", "service=crm-sync"] {
        let (status, v) = app.get(&format!("/api/v1/freeze?{q}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(frozen(&v), "{q}: {v}");
        assert_eq!(v["reasons"][0]["source"], "incident");
        assert_eq!(v["reasons"][0]["id"], id.as_str());
        assert!(v["until"].is_null(), "until green, not a time: {v}");
    }
    // Staging is another environment.
    let (_, v) = app.get("/api/v1/freeze?environment=staging").await;
    assert!(!frozen(&v), "{v}");
    // A P2 freezes nothing.
    let p2 = app
        .declare(json!({"title": "Staging slow", "severity": "P2", "services": ["api-staging"]}))
        .await;
    let (_, v) = app.get("/api/v1/freeze?service=api-staging").await;
    assert!(!frozen(&v), "{v}");
    // A deploy that finished before the incident began, recorded late, is
    // not flagged by the freeze its own incident caused.
    let d = deploy(
        &app,
        json!({"id": "late-record", "service": "api", "version": "v42b",
               "finished_at": "2026-11-23T08:59:00Z"}),
    )
    .await;
    assert!(d["change"].get("frozen").is_none(), "{d}");
    // A deploy recorded during the freeze is flagged, not refused.
    let d = deploy(
        &app,
        json!({"id": "hotfix", "service": "api", "version": "v43"}),
    )
    .await;
    assert_eq!(d["freeze"]["frozen"], true);
    assert_eq!(d["change"]["frozen"][0]["id"], id.as_str());
    // Green: resolved, the freeze lifts.
    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    let (_, v) = app.get("/api/v1/freeze?service=api").await;
    assert!(!frozen(&v), "{v}");
    let d = deploy(
        &app,
        json!({"id": "next", "service": "api", "version": "v44"}),
    )
    .await;
    assert!(d["change"].get("frozen").is_none(), "{d}");
    let _ = p2;
}

/// Freezes by hand (with a reason and an expiry), scheduled windows, and an
/// admin's override, which the freezing incident's timeline records.
async fn freezes_by_hand_windows_and_admin_overrides(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    let (status, v) = app
        .post(
            "/api/v1/freezes",
            json!({"environment": "staging", "reason": "release candidate soak", "for": "2h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let freeze_id = v["id"].as_str().unwrap().to_string();
    let (_, f) = app.get("/api/v1/freeze?service=api-staging").await;
    assert_eq!(f["frozen"], true);
    assert_eq!(f["until"], "2026-11-23T11:00:00Z");
    assert_eq!(f["reasons"][0]["source"], "manual");
    // It expires by itself.
    set(&app, "2026-11-23T11:00:00Z");
    let (_, f) = app.get("/api/v1/freeze?service=api-staging").await;
    assert_eq!(f["frozen"], false, "{f}");
    // Lifting one that is over is a 404.
    let (status, _) = app
        .post(&format!("/api/v1/freezes/{freeze_id}/lift"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bad requests name their problems.
    let (status, v) = app
        .post("/api/v1/freezes", json!({"reason": "", "for": "soon"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("'reason' is required") && text.contains("'for'"),
        "{text}"
    );
    // An incident's freeze, overridden by an admin: deploys may go, the
    // reasons still show, and the incident's timeline says who and why.
    let id = app
        .declare(json!({"title": "Leads API down", "severity": "P1", "services": ["api"]}))
        .await;
    let responder = app.token("ci", "responder").await;
    let (status, _) = app
        .post_as(
            &responder,
            "/api/v1/freeze/overrides",
            json!({"environment": "production", "reason": "security patch", "for": "30m"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins override");
    let (status, v) = app
        .post(
            "/api/v1/freeze/overrides",
            json!({"environment": "production", "reason": "security patch", "for": "30m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["recorded_on"], json!([id]));
    let (_, f) = app.get("/api/v1/freeze?service=api").await;
    assert_eq!(f["frozen"], false, "{f}");
    assert_eq!(f["reasons"][0]["id"], id.as_str());
    assert_eq!(f["overridden_by"]["reason"], "security patch");
    let overridden = app.events_of(&id, "freeze_overridden").await;
    assert_eq!(overridden.len(), 1);
    assert_eq!(overridden[0]["reason"], "security patch");
    // An incident opened after the override freezes again, and an
    // override with no scope is recorded on every freezing incident.
    set(&app, "2026-11-23T11:05:00Z");
    let later = app
        .declare(
            json!({"title": "Approvals stuck", "severity": "P0", "services": ["approval-center"]}),
        )
        .await;
    let (_, f) = app.get("/api/v1/freeze?service=api").await;
    assert_eq!(f["frozen"], true, "{f}");
    let (_, v) = app
        .post(
            "/api/v1/freeze/overrides",
            json!({"reason": "all hands on the patch", "for": "10m"}),
        )
        .await;
    let mut on = v["recorded_on"].as_array().unwrap().clone();
    on.sort_by_key(|x| x.as_str().unwrap().to_string());
    assert_eq!(on.len(), 2, "{v}");
    assert!(on.contains(&json!(later)) && on.contains(&json!(id)), "{v}");
    // A typo in an environment is refused, never "not frozen"; so is a
    // freeze for longer than a year.
    let (status, v) = app.get("/api/v1/freeze?environment=prod").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("production"), "{v}");
    let (status, v) = app
        .post("/api/v1/freezes", json!({"reason": "x", "for": "3000000d"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // The override lapses; the freeze is back.
    set(&app, "2026-11-23T11:31:00Z");
    let (_, f) = app.get("/api/v1/freeze?service=api").await;
    assert_eq!(f["frozen"], true, "{f}");
    let (_, list) = app.get("/api/v1/freezes").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
}

/// Seed 003 "Rollback Decision Criteria" and "Timeline": after a deploy, an
/// alert showing a criterion (error rate >10% for >5 min) yields rollback
/// advice naming that deploy; the decision is due within 5 minutes (a
/// reminder then), and the rollback is verified 5 minutes after.
async fn s003_rollback_criteria(backend: Backend) {
    let app = app_at(backend, "dashflow.toml", "2026-11-23T09:00:00Z").await;
    deploy(
        &app,
        json!({"id": "dashflow-1.8", "service": "dashflow", "version": "1.8.0", "previous_version": "1.7.2"}),
    )
    .await;
    set(&app, "2026-11-23T09:20:00Z");
    let (status, v) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "ErrorRateAfterDeploy", "namespace": "dashflow",
                               "service": "dashflow", "severity": "P1"},
                    "startsAt": "2026-11-23T09:14:00Z"}]),
        )
        .await;
    assert!(status.is_success(), "{v}");
    app.process().await;
    let id = app
        .incidents()
        .await
        .into_iter()
        .find(|i| {
            i["title"]
                .as_str()
                .unwrap()
                .contains("ErrorRateAfterDeploy")
        })
        .expect("the alert opened an incident")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = detail(&app, &id).await;
    let advice = &d["rollback"];
    assert_eq!(advice["action"], "roll_back", "{d}");
    assert_eq!(advice["criteria_met"][0]["criterion"], "error-rate");
    assert_eq!(advice["options"][0]["change"]["id"], "dashflow-1.8");
    assert!(
        advice["reason"].as_str().unwrap().contains("dashflow-1.8")
            && advice["reason"].as_str().unwrap().contains("error-rate"),
        "{advice}"
    );
    assert_eq!(advice["decide_by"], "2026-11-23T09:25:00Z");
    // Not decided within 5 minutes: the decision is called for, once.
    app.advance_mins(4);
    app.tick().await;
    assert!(
        app.events_of(&id, "reminded")
            .await
            .iter()
            .all(|r| r["reminder"] != "rollback-decision")
    );
    app.advance_mins(1);
    app.tick().await;
    app.advance_mins(1);
    app.tick().await;
    let due: Vec<Value> = app
        .events_of(&id, "reminded")
        .await
        .into_iter()
        .filter(|r| r["reminder"] == "rollback-decision")
        .collect();
    assert_eq!(due.len(), 1, "{due:?}");
    assert!(due[0]["reason"].as_str().unwrap().contains("error-rate"));
    // Rolled back: verification is due 5 minutes later.
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/rollback"),
        json!({"decision": "rolled_back"}),
    )
    .await;
    let d = detail(&app, &id).await;
    assert_eq!(
        d["incident"]["rollback"]["decision"]["change"],
        "dashflow-1.8"
    );
    assert_eq!(d["incident"]["rollback"]["decision"]["to_version"], "1.7.2");
    let updates = app.events_of(&id, "status_updated").await;
    assert_eq!(
        updates.last().unwrap()["message"],
        "Rolled back dashflow-1.8 on dashflow to 1.7.2; verifying recovery."
    );
    app.advance_mins(5);
    app.tick().await;
    assert!(
        app.events_of(&id, "reminded")
            .await
            .iter()
            .any(|r| r["reminder"] == "rollback-verify"),
        "verification reminded"
    );
}

/// Seed 003 "Post-Rollback Actions": a rollback records itself, resolves
/// "via rollback" on the status page when it resolves, and opens the
/// post-rollback checklist (health, comms, investigation, prevention).
async fn s003_post_rollback(backend: Backend) {
    let app = app_at(backend, "dashflow.toml", "2026-11-23T09:00:00Z").await;
    deploy(
        &app,
        json!({"id": "dashflow-1.8", "service": "dashflow", "version": "1.8.0", "previous_version": "1.7.2"}),
    )
    .await;
    set(&app, "2026-11-23T09:20:00Z");
    let id = app
        .declare(json!({"title": "Invoke API 5xx", "severity": "P1", "services": ["dashflow"]}))
        .await;
    // Fix forward, then roll back after all, resolving with it.
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/rollback"),
        json!({"decision": "fix_forward", "note": "patch first"}),
    )
    .await;
    let v = ok(
        &app,
        &format!("/api/v1/incidents/{id}/rollback"),
        json!({"decision": "rolled_back", "change": "dashflow-1.8", "resolve": true}),
    )
    .await;
    let incident = &v["incident"];
    assert_eq!(incident["status"], "resolved");
    assert!(
        incident["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("rolled-back"))
    );
    let items: Vec<&str> = incident["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            c["id"]
                .as_str()
                .filter(|id| id.starts_with("post-rollback."))
        })
        .collect();
    assert_eq!(
        items,
        [
            "post-rollback.health",
            "post-rollback.comms",
            "post-rollback.investigation",
            "post-rollback.prevention"
        ]
    );
    let decided = app.events_of(&id, "rollback_decided").await;
    assert_eq!(decided.len(), 2);
    assert_eq!(decided[1]["decision"], "rolled_back");
    let resolved = app.events_of(&id, "resolved").await;
    assert_eq!(resolved[0]["summary"], "Incident resolved via rollback");
    // The public update says so.
    let update = app
        .events_of(&id, "status_updated")
        .await
        .into_iter()
        .find(|u| u["visibility"] == "public")
        .expect("a public update");
    assert_eq!(update["message"], "Incident resolved via rollback");
    // A second rollback is refused.
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/rollback"),
            json!({"decision": "rolled_back"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Seed 000 §2: the seven scenarios are runbooks in the policy; an alert
/// matching a scenario's route attaches its steps; a scenario's tag or a
/// person attaches one too; ticks are timeline events.
async fn s000_scenario_runbooks(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    let (_, policy) = app.get("/api/v1/policy").await;
    let scenarios: Vec<&str> = policy["policy"]["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(scenarios, ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"]);
    // 2.1: the LLM fallback alert attaches the LLM outage runbook.
    let (status, v) = app
        .post(
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "LLMFallbackRateHigh", "provider": "openai"},
                    "startsAt": "2026-11-23T08:50:00Z"}]),
        )
        .await;
    assert!(status.is_success(), "{v}");
    app.process().await;
    let id = app.incidents().await[0]["id"].as_str().unwrap().to_string();
    let d = detail(&app, &id).await;
    assert_eq!(d["incident"]["runbooks"], json!(["llm-provider-outage"]));
    let steps: Vec<&str> = d["incident"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["checklist"] == "2.1 LLM provider outage")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "llm-provider-outage.status-page",
            "llm-provider-outage.fallback",
            "llm-provider-outage.force-route",
            "llm-provider-outage.pause"
        ]
    );
    let attached = app.events_of(&id, "runbook_attached").await;
    assert_eq!(attached.len(), 1, "once, though the service also names it");
    // A step's command is shown as text.
    let fallback = d["incident"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "llm-provider-outage.fallback")
        .unwrap();
    assert!(
        fallback["command"]
            .as_str()
            .unwrap()
            .contains("usage_summary")
    );
    // Ticking a step is a timeline event.
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/checklist/tick"),
        json!({"item": "llm-provider-outage.status-page"}),
    )
    .await;
    assert_eq!(app.events_of(&id, "checklist_item_ticked").await.len(), 1);
    // 2.5 by tag, mid-incident; 2.7 by hand.
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/tags"),
        json!({"add": ["secret-leak"]}),
    )
    .await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/runbooks"),
        json!({"runbook": "tool-contradictions"}),
    )
    .await;
    let d = detail(&app, &id).await;
    assert_eq!(
        d["incident"]["runbooks"],
        json!([
            "llm-provider-outage",
            "suspected-secret-leak",
            "tool-contradictions"
        ])
    );
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/runbooks"),
            json!({"runbook": "no-such"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // 2.2 by its service at declaration.
    let db = app
        .declare(json!({"title": "Postgres down", "severity": "P0", "services": ["postgres"]}))
        .await;
    assert_eq!(
        detail(&app, &db).await["incident"]["runbooks"],
        json!(["postgres-unavailable"])
    );
}

/// Seed 003 "Dependency Outage Handling": a short outage (<5 min) and a long
/// one (>5 min) call for different steps; the switch happens on the clock,
/// on the timeline and to the people the runbook names.
async fn s003_dependency_outage(backend: Backend) {
    let app = app_at(backend, "dashflow.toml", "2026-11-23T09:00:00Z").await;
    let id = app
        .declare(
            json!({"title": "Database unavailable", "severity": "P1", "services": ["database"],
                        "commander": "john"}),
        )
        .await;
    let applies = |d: &Value, step: &str| -> (Value, Value) {
        let c = d["incident"]["checklist"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == format!("database-outage.{step}"))
            .unwrap_or_else(|| panic!("step {step}"))
            .clone();
        (c["applies_from"].clone(), c["applies_until"].clone())
    };
    let d = detail(&app, &id).await;
    assert_eq!(
        applies(&d, "short-503"),
        (Value::Null, json!("2026-11-23T09:05:00Z"))
    );
    assert_eq!(
        applies(&d, "long-read-only"),
        (json!("2026-11-23T09:05:00Z"), Value::Null)
    );
    assert_eq!(applies(&d, "verify"), (Value::Null, Value::Null));
    // Before five minutes nothing switches.
    app.advance_mins(4);
    app.tick().await;
    let phase = |events: Vec<Value>| -> Vec<Value> {
        events
            .into_iter()
            .filter(|r| r["reminder"] == "runbook:database-outage")
            .collect()
    };
    assert!(phase(app.events_of(&id, "reminded").await).is_empty());
    // At five minutes the long-outage steps apply, once, and people hear.
    app.advance_mins(1);
    app.tick().await;
    app.advance_mins(3);
    app.tick().await;
    let switched = phase(app.events_of(&id, "reminded").await);
    assert_eq!(switched.len(), 1, "{switched:?}");
    let reason = switched[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("5m") && reason.contains("read-only"),
        "{reason}"
    );
    assert_eq!(switched[0]["notified"][0]["person"], "john");
}

/// Seed 001 "Who to Contact": per issue kind (backend down → the founder,
/// on call 24/7; payments → Moyasar; DNS → the registrar; hosting → Railway)
/// in the policy and shown on matching incidents; viewers see no addresses.
async fn s001_contacts(backend: Backend) {
    let app = app_at(backend, "dealix-sev.toml", "2026-11-23T09:00:00Z").await;
    let contacts = |d: &Value| -> Vec<(String, String)> {
        d["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["key"].as_str().unwrap().to_string(),
                    c["about"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let sev = |s: &str| s.to_string();
    let backend_down = app
        .declare(
            json!({"title": "Backend down", "severity": sev("SEV-1"), "services": ["backend"]}),
        )
        .await;
    let d = detail(&app, &backend_down).await;
    assert_eq!(contacts(&d), [("sami".into(), "service backend".into())]);
    assert!(
        d["contacts"][0]["description"]
            .as_str()
            .unwrap()
            .contains("24/7"),
        "{d}"
    );
    assert!(!d["contacts"][0]["reach"].as_array().unwrap().is_empty());
    let payments = app
        .declare(
            json!({"title": "Payments failing", "severity": sev("SEV-2"),
                        "services": ["payments", "dns", "hosting"]}),
        )
        .await;
    let d = detail(&app, &payments).await;
    let keys: Vec<String> = contacts(&d).into_iter().map(|c| c.0).collect();
    assert_eq!(keys, ["moyasar-support", "registrar", "railway-support"]);
    // A viewer sees who and how, but never a phone number (sami has none
    // here; s000_private_roster has them).
    let viewer = app.token("wallboard", "viewer").await;
    let (_, d) = app
        .get_as(&viewer, &format!("/api/v1/incidents/{backend_down}"))
        .await;
    assert_eq!(d["contacts"][0]["key"], "sami");
    assert_eq!(
        d["contacts"][0]["reach"],
        json!(["slack: @sami", "email: sami@dealix.example"])
    );
}

/// A deploy check-in that cannot be recorded says every reason at once and
/// records nothing.
async fn bad_deploys_are_refused_with_every_problem_named(backend: Backend) {
    let app = app_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T09:00:00Z",
    )
    .await;
    let (status, v) = app
        .post(
            "/api/v1/deploys",
            json!({"service": "nope", "started_at": "2026-11-23T09:00:00Z",
                   "finished_at": "2026-11-23T08:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("unknown service \\\"nope\\\"") && text.contains("before 'started_at'"),
        "{text}"
    );
    let (status, v) = app
        .post(
            "/api/v1/deploys",
            json!({"service": "api", "kind": "rocket"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("kind"), "{v}");
    let (_, all) = app.get("/api/v1/changes?since=2026-01-01T00:00:00Z").await;
    assert!(all["items"].as_array().unwrap().is_empty(), "{all}");
    let (status, _) = app.get("/api/v1/freeze").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A provider's Statuspage-format status, served by the test: what it says
/// can be changed, and it can be made to fail.
struct FakeProvider {
    url: String,
    answer: std::sync::Arc<std::sync::Mutex<(u16, String)>>,
}

impl FakeProvider {
    async fn start() -> FakeProvider {
        let answer = std::sync::Arc::new(std::sync::Mutex::new((
            200,
            status("none", "All Systems Operational"),
        )));
        let app = axum::Router::new()
            .route(
                "/api/v2/status.json",
                axum::routing::get(
                    |axum::extract::State(a): axum::extract::State<
                        std::sync::Arc<std::sync::Mutex<(u16, String)>>,
                    >| async move {
                        let (code, body) = a.lock().unwrap().clone();
                        (
                            axum::http::StatusCode::from_u16(code).unwrap(),
                            [("content-type", "application/json")],
                            body,
                        )
                    },
                ),
            )
            .with_state(answer.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/api/v2/status.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeProvider { url, answer }
    }

    fn says(&self, code: u16, body: String) {
        *self.answer.lock().unwrap() = (code, body);
    }
}

fn status(indicator: &str, description: &str) -> String {
    json!({"page": {"id": "x", "name": "OpenAI"},
           "status": {"indicator": indicator, "description": description}})
    .to_string()
}

/// Seed 000 §2.1 "Check the provider's status page" and 003 "Verify outage
/// via status page": Firebell polls the provider's status.json on one
/// replica; an outage and the recovery are recorded on the open incidents
/// of the services depending on it, and shown beside them; a failed read is
/// not an outage.
async fn s000_upstream_status(backend: Backend) {
    let provider = FakeProvider::start().await;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/dealix-incident-rollback.toml"),
    )
    .unwrap()
    .replace(
        "https://status.openai.com/api/v2/status.json",
        &provider.url,
    )
    .replace(
        "https://status.anthropic.com/api/v2/status.json",
        &provider.url.replace("/api/", "/missing/api/"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, text).unwrap();
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(file)).await;
    set(&app, "2026-11-23T09:00:00Z");
    let poll = || firebell_server::upstream::run_once(app.state());
    let id = app
        .declare(
            json!({"title": "LLM answers failing", "severity": "P1", "services": ["llm-router"]}),
        )
        .await;
    let other = app
        .declare(json!({"title": "CRM sync slow", "severity": "P2", "services": ["crm-sync"]}))
        .await;
    // First reading: OpenAI is fine (no news); Anthropic's page is missing.
    let round = poll().await.unwrap();
    assert_eq!(
        (round.polled, round.changed, round.failed),
        (2, 0, 1),
        "{round:?}"
    );
    let d = detail(&app, &id).await;
    let upstreams = d["upstreams"].as_array().unwrap();
    assert_eq!(upstreams.len(), 2, "{d}");
    assert_eq!(upstreams[0]["provider"], "openai");
    assert_eq!(upstreams[0]["status"]["indicator"], "none");
    assert_eq!(upstreams[1]["status"]["indicator"], "unknown");
    assert!(
        upstreams[1]["status"]["error"]
            .as_str()
            .unwrap()
            .contains("404")
    );
    // Not due again before its minute.
    provider.says(200, status("major", "Partial outage of the Chat API"));
    set(&app, "2026-11-23T09:00:30Z");
    assert_eq!(poll().await.unwrap().polled, 0);
    // The outage: recorded on the router's incident, not on the CRM's.
    set(&app, "2026-11-23T09:01:00Z");
    let round = poll().await.unwrap();
    assert_eq!((round.changed, round.recorded), (1, 1), "{round:?}");
    let events = app.events_of(&id, "upstream_status_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["indicator"], "major");
    assert_eq!(events[0]["description"], "Partial outage of the Chat API");
    assert!(
        app.events_of(&other, "upstream_status_changed")
            .await
            .is_empty()
    );
    assert_eq!(
        detail(&app, &id).await["upstreams"][0]["status"]["indicator"],
        "major"
    );
    // An incident declared during the outage hears of it at the next poll.
    let late = app
        .declare(json!({"title": "Router timeouts", "severity": "P2", "services": ["llm-router"]}))
        .await;
    set(&app, "2026-11-23T09:01:30Z");
    assert_eq!(poll().await.unwrap().polled, 0, "not due yet");
    assert!(
        app.events_of(&late, "upstream_status_changed")
            .await
            .is_empty()
    );
    set(&app, "2026-11-23T09:01:59Z");
    // A failed read is not news, and keeps the last indicator.
    provider.says(503, "unavailable".into());
    set(&app, "2026-11-23T09:02:00Z");
    let round = poll().await.unwrap();
    assert_eq!(round.changed, 0, "{round:?}");
    let d = detail(&app, &id).await;
    assert_eq!(d["upstreams"][0]["status"]["indicator"], "major");
    assert!(
        d["upstreams"][0]["status"]["error"]
            .as_str()
            .unwrap()
            .contains("503")
    );
    // Recovery: recorded once on each incident that heard of the outage.
    provider.says(200, status("none", "All Systems Operational"));
    set(&app, "2026-11-23T09:03:00Z");
    assert_eq!(poll().await.unwrap().recorded, 2);
    set(&app, "2026-11-23T09:04:00Z");
    assert_eq!(poll().await.unwrap().recorded, 0);
    let events = app.events_of(&id, "upstream_status_changed").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["indicator"], "none");
    // The late incident heard of the outage (at 09:02, though the read
    // failed: the last reading stands) and of the recovery.
    let late_events = app.events_of(&late, "upstream_status_changed").await;
    let seen: Vec<&str> = late_events
        .iter()
        .map(|e| e["indicator"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["major", "none"]);
    let (_, list) = app.get("/api/v1/providers").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
}

const ROSTER: &str = r#"
# Per deployment, NOT committed: the names and phones behind the policy's roles.
[people.dba]
name = "Faisal (DBA)"
description = "Staffed Sun-Thu 09:00-17:00"
contacts = [{ kind = "phone", address = "+966 11 555 0199" }, { kind = "email", address = "dba@dealix.example" }]

[people.platform-oncall]
name = "Omar"
contacts = [{ kind = "sms", address = "+966 50 555 0100" }]
"#;

/// Seed 000: "Concrete names, phones, escalation chain: oncall.md (per
/// deployment — NOT committed publicly)". The policy refers to a roster
/// file beside it; both are validated and a change to either reloads the
/// policy; no viewer sees a phone number.
async fn s000_private_roster(backend: Backend) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/dealix-incident-rollback.toml"),
    )
    .unwrap();
    assert!(
        !text.contains("+966"),
        "the committed policy holds no phone number"
    );
    let text = text
        .replacen(
            "version = 1\n",
            "version = 1\nroster = \"oncall.toml\"\n",
            1,
        )
        .replacen(
            "escalation_policy = \"platform-dba\"\n",
            "escalation_policy = \"platform-dba\"\ncontacts = [\"dba\"]\n",
            1,
        );
    assert!(text.contains("roster = \"oncall.toml\"") && text.contains("contacts = [\"dba\"]"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, &text).unwrap();
    std::fs::write(dir.path().join("oncall.toml"), ROSTER).unwrap();
    let app =
        TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(file.clone()))
            .await;
    set(&app, "2026-11-23T09:00:00Z");
    let id = app
        .declare(json!({"title": "Postgres down", "severity": "P0", "services": ["postgres"]}))
        .await;
    // Responders see how to reach the DBA; viewers see who, and no phone.
    let d = detail(&app, &id).await;
    assert_eq!(d["contacts"][0]["name"], "Faisal (DBA)");
    assert_eq!(
        d["contacts"][0]["reach"],
        json!(["phone: +966 11 555 0199", "email: dba@dealix.example"])
    );
    let viewer = app.token("wallboard", "viewer").await;
    let (_, d) = app
        .get_as(&viewer, &format!("/api/v1/incidents/{id}"))
        .await;
    assert_eq!(
        d["contacts"][0]["reach"],
        json!(["email: dba@dealix.example"])
    );
    let (_, p) = app.get_as(&viewer, "/api/v1/policy").await;
    assert_eq!(
        p["policy"]["people"]["dba"]["contacts"][0]["address"],
        "(hidden)"
    );
    assert_eq!(
        p["policy"]["people"]["platform-oncall"]["contacts"][0]["address"],
        "(hidden)"
    );
    assert_eq!(
        p["policy"]["people"]["dba"]["contacts"][1]["address"],
        "dba@dealix.example"
    );
    assert!(!p.to_string().contains("+966"), "{p}");
    let (_, p) = app.get("/api/v1/policy").await;
    assert_eq!(
        p["policy"]["people"]["dba"]["contacts"][0]["address"],
        "+966 11 555 0199"
    );
    // A change to the roster alone reloads the policy.
    std::fs::write(
        dir.path().join("oncall.toml"),
        ROSTER.replace("Faisal (DBA)", "Huda (DBA)"),
    )
    .unwrap();
    let mut reloaded = false;
    for _ in 0..100 {
        let (_, p) = app.get("/api/v1/policy").await;
        if p["policy"]["people"]["dba"]["name"] == "Huda (DBA)" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the roster's change was loaded");
    // Both files are validated: a roster that holds more than people, or
    // names an unknown team member, or is missing, is refused, located.
    let read =
        |roster: &'static str| move |_: &str| Ok((roster.to_string(), "oncall.toml".to_string()));
    let err = firebell_core::Policy::parse_with(
        &text,
        "policy.toml",
        &read("[[severities]]\nname = \"P9\"\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("oncall.toml:1:3") && err.contains("a roster holds only"),
        "{err}"
    );
    let err = firebell_core::Policy::parse_with(
        &text,
        "policy.toml",
        &read("[teams.platform]\nname = \"x\"\nmembers = [\"nobody\"]\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("oncall.toml:")
            && err.contains("teams.platform.members[0]")
            && err.contains("nobody"),
        "located in the roster: {err}"
    );
    // A refused reload's reason (which may quote a roster's phone number)
    // is for responders.
    std::fs::write(
        dir.path().join("oncall.toml"),
        ROSTER.replace("+966 50 555 0100", "+966 50 555 O1OO"),
    )
    .unwrap();
    let mut refused = Value::Null;
    for _ in 0..100 {
        let (_, p) = app.get("/api/v1/policy").await;
        if p["loaded"]["last_reload_error"].is_string() {
            refused = p;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused["loaded"]["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("oncall.toml"),
        "{refused}"
    );
    let (_, p) = app.get_as(&viewer, "/api/v1/policy").await;
    assert!(!p.to_string().contains("O1OO"), "{p}");
    let err = firebell_core::Policy::parse_with(&text, "policy.toml", &|p| {
        firebell_server::policy_source::read_roster(
            &dir.path().join("policy.toml"),
            &format!("missing-{p}"),
        )
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cannot read roster") && err.contains("missing-oncall.toml"),
        "{err}"
    );
}

/// A policy file made from a seed's with `edits` applied, kept in `dir`.
fn edited_policy(
    dir: &tempfile::TempDir,
    name: &str,
    edits: &[(&str, &str)],
) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name),
    )
    .unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A scheduled freeze window: frozen inside it, for its environments only,
/// and not before or after.
async fn freeze_windows_follow_the_calendar(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = edited_policy(
        &dir,
        "dealix-incident-rollback.toml",
        &[(
            "until = \"resolved\"\n",
            "until = \"resolved\"\n\n[[freeze.windows]]\nname = \"national-day\"\nreason = \"National Day: no deploys\"\nstart = \"2026-09-22T21:00:00Z\"\nend = \"2026-09-24T21:00:00Z\"\nenvironments = [\"production\"]\n",
        )],
    );
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(file)).await;
    let frozen = |v: &Value| v["frozen"].as_bool().unwrap();
    set(&app, "2026-09-22T20:59:59Z");
    assert!(!frozen(&app.get("/api/v1/freeze?service=api").await.1));
    set(&app, "2026-09-23T10:00:00Z");
    let (_, v) = app.get("/api/v1/freeze?service=api").await;
    assert!(frozen(&v), "{v}");
    assert_eq!(v["reasons"][0]["source"], "window");
    assert_eq!(v["reasons"][0]["reason"], "National Day: no deploys");
    assert_eq!(v["until"], "2026-09-24T21:00:00Z");
    assert!(!frozen(
        &app.get("/api/v1/freeze?service=api-staging").await.1
    ));
    set(&app, "2026-09-24T21:00:00Z");
    assert!(!frozen(&app.get("/api/v1/freeze?service=api").await.1));
}

/// The policy's rollback hook: a signed POST of the change to undo, made
/// only when a person confirms it, and its answer on the timeline; a hook
/// that fails leaves the decision recorded and says why.
async fn the_rollback_hook_is_called_only_on_confirmation(backend: Backend) {
    type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    let calls: Calls = Default::default();
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook = axum::Router::new()
        .route(
            "/rollback",
            axum::routing::post(
                |axum::extract::State((calls, fail)): axum::extract::State<(
                    Calls,
                    std::sync::Arc<std::sync::atomic::AtomicBool>,
                )>,
                 headers: axum::http::HeaderMap,
                 body: String| async move {
                    let sig = headers
                        .get("x-firebell-signature")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    calls
                        .lock()
                        .unwrap()
                        .push((sig, serde_json::from_str(&body).unwrap()));
                    if fail.load(std::sync::atomic::Ordering::SeqCst) {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                },
            ),
        )
        .with_state((calls.clone(), fail.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rollback", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    // SAFETY: every test that reads this variable sets it to the same value.
    unsafe { std::env::set_var("FIREBELL_TEST_ROLLBACK_SECRET", "s3cret") };
    let dir = tempfile::tempdir().unwrap();
    let hook_line = format!(
        "[rollback]\nhook = {{ url = \"{url}\", secret_env = \"FIREBELL_TEST_ROLLBACK_SECRET\" }}\n"
    );
    let file = edited_policy(
        &dir,
        "dashflow.toml",
        &[("[rollback]\n", hook_line.as_str())],
    );
    let app = TestApp::spawn_with_policy(backend, firebell_server::PolicySource::File(file)).await;
    set(&app, "2026-11-23T09:00:00Z");
    deploy(
        &app,
        json!({"id": "d-1.8", "service": "dashflow", "version": "1.8.0", "previous_version": "1.7.2"}),
    )
    .await;
    let a = app
        .declare(json!({"title": "Invoke 5xx", "severity": "P1", "services": ["dashflow"]}))
        .await;
    let b = app
        .declare(json!({"title": "Batch 5xx", "severity": "P1", "services": ["dashflow"]}))
        .await;
    // Without confirmation, nothing is called.
    ok(
        &app,
        &format!("/api/v1/incidents/{a}/rollback"),
        json!({"decision": "rolled_back"}),
    )
    .await;
    assert!(calls.lock().unwrap().is_empty());
    // A change to another service cannot be named.
    deploy(
        &app,
        json!({"id": "db-7", "service": "database", "version": "7"}),
    )
    .await;
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{b}/rollback"),
            json!({"decision": "rolled_back", "change": "db-7"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Confirmed: called once, signed, naming the change and the version.
    let v = ok(
        &app,
        &format!("/api/v1/incidents/{b}/rollback"),
        json!({"decision": "rolled_back", "change": "d-1.8", "confirm_hook": true}),
    )
    .await;
    let (sig, body) = calls.lock().unwrap()[0].clone();
    assert!(sig.starts_with("t=") && sig.contains(",v1="), "{sig}");
    assert_eq!(body["incident"], b.as_str());
    assert_eq!(body["change"]["id"], "d-1.8");
    assert_eq!(body["rollback_to"], "1.7.2");
    assert_eq!(body["confirmed_by"], "admin");
    let called = app.events_of(&b, "rollback_hook_called").await;
    assert_eq!((called.len(), &called[0]["ok"]), (1, &json!(true)), "{v}");
    // A failing hook: the decision stands, the failure is on the timeline.
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let c = app
        .declare(json!({"title": "Stream 5xx", "severity": "P1", "services": ["dashflow"]}))
        .await;
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{c}/rollback"),
            json!({"decision": "rolled_back", "change": "d-1.8", "confirm_hook": true, "resolve": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    let called = app.events_of(&c, "rollback_hook_called").await;
    assert_eq!(called[0]["ok"], false);
    assert!(
        called[0]["outcome"].as_str().unwrap().contains("500"),
        "{called:?}"
    );
    assert!(
        app.events_of(&c, "rollback_decided").await.is_empty(),
        "a rollback the hook failed to make is not recorded as made"
    );
    assert!(app.events_of(&c, "resolved").await.is_empty());
    // A confirmation names its change.
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{c}/rollback"),
            json!({"decision": "rolled_back", "confirm_hook": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // Confirming a fix forward is refused.
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{a}/rollback"),
            json!({"decision": "fix_forward", "confirm_hook": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Seed 003's criteria from values CI posts after the deploy (the other way
/// in besides alerts): under the threshold nothing happens; over it, with no
/// incident open, an alert opens one on the service at the criterion's
/// severity, whose advice names the deploy; with one open, it is recorded
/// there; back under the threshold, the alert ends.
async fn s003_rollback_criteria_from_a_deploy_check_in(backend: Backend) {
    let app = app_at(backend, "dashflow.toml", "2026-11-23T09:00:00Z").await;
    deploy(
        &app,
        json!({"id": "d-1.9", "service": "dashflow", "version": "1.9.0", "previous_version": "1.8.0"}),
    )
    .await;
    set(&app, "2026-11-23T09:06:00Z");
    let check = |values: Value| {
        let app = &app;
        async move {
            let (status, v) = app
                .post("/api/v1/deploys/d-1.9/checks", json!({ "values": values }))
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            app.process().await;
            v
        }
    };
    let v = check(json!({"error_rate": 0.04, "p95_increase": 0.1})).await;
    assert_eq!(v["checked"].as_array().unwrap().len(), 2);
    assert!(
        v["checked"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["met"] == false)
    );
    assert!(app.incidents().await.is_empty());
    let v = check(json!({"error_rate": 0.15})).await;
    assert_eq!(v["alerted"], json!(["deploy:d-1.9:error-rate"]), "{v}");
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    assert_eq!(incidents[0]["severity"], "P1");
    assert_eq!(incidents[0]["services"], json!(["dashflow"]));
    let d = detail(&app, &id).await;
    assert_eq!(d["rollback"]["criteria_met"][0]["criterion"], "error-rate");
    assert_eq!(d["rollback"]["action"], "roll_back");
    assert_eq!(d["rollback"]["options"][0]["change"]["id"], "d-1.9");
    // With the incident open, another criterion is recorded on it directly.
    let v = check(json!({"crashloop_ratio": 0.75})).await;
    assert_eq!(v["recorded_on"], json!([id]), "{v}");
    let met: Vec<Value> = app.events_of(&id, "rollback_criterion_met").await;
    assert_eq!(met.len(), 2);
    assert!(
        met[1]["detail"]
            .as_str()
            .unwrap()
            .contains("crashloop_ratio 0.75 > 0.5")
    );
    // Back under the threshold: the alert ends.
    check(json!({"error_rate": 0.01})).await;
    let (_, alerts) = app.get(&format!("/api/v1/incidents/{id}/alerts")).await;
    assert_eq!(alerts["firing"], 0, "{alerts}");
    // A check-in no criterion judges (a typo in a metric) says so.
    let (status, v) = app
        .post(
            "/api/v1/deploys/d-1.9/checks",
            json!({"values": {"error-rate": 0.5}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v.to_string().contains("error_rate"), "{v}");
    // Bad input: an unknown change, a value that is not a number.
    let (status, _) = app
        .post(
            "/api/v1/deploys/nope/checks",
            json!({"values": {"error_rate": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            "/api/v1/deploys/d-1.9/checks",
            json!({"values": {"error_rate": "high"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
