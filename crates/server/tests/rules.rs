//! The seed runbooks' rules (each rule has an id such as `s003.update-cadence`), one test each, named after the
//! rule. Each loads that seed's policy from `examples/` into the real server and
//! drives it through the API with a manual clock.
//!
//! Rules that also need paging, reminders or escalation timers are finished
//! by the scheduling issue; their tests here cover what the incident core
//! enforces today and say what is still to come.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{Backend, TestApp, example, example_at, ok};
use firebell_server::PolicySource;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn app(backend: Backend, policy: &str) -> TestApp {
    TestApp::spawn_with_policy(backend, example(policy)).await
}

async fn show(app: &TestApp, id: &str) -> Value {
    let (status, v) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// The deadline with `key` on an incident as the server reports it now.
fn deadline<'a>(shown: &'a Value, key: &str) -> Option<&'a Value> {
    shown["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == key)
}

async fn render(
    app: &TestApp,
    id: &str,
    template: &str,
    locale: &str,
    vars: BTreeMap<&str, &str>,
) -> Value {
    ok(
        app,
        &format!("/api/v1/incidents/{id}/render"),
        json!({"template": template, "locale": locale, "vars": vars}),
    )
    .await
}

on_both_backends!(
    s000_severity_ladder,
    s000_first_10_minutes,
    s000_breach_steps,
    s000_roles,
    s001_sev_ladder,
    s001_sev1_checklists,
    s001_arabic_customer_template,
    s003_incident_id,
    s003_declaration_template,
    s003_severity_response,
    s003_handoff,
    s003_incident_doc_link,
    s004_templates,
    s004_ack_and_assess_5m,
    s004_uptime_target,
    oncall_shows_who_is_on_call_now_and_next,
);

/// P0–P3 with the runbook's definitions, and who is paged when: P0 "all
/// hands" (every response team at once) and an incident commander within 15
/// minutes; P1 the on-call platform; P2 held until Sun–Thu business hours in
/// Riyadh; P3 never paged.
async fn s000_severity_ladder(backend: Backend) {
    // Monday 23 November 2026, 19:00 UTC: 22:00 in Riyadh, after hours.
    let app = example_at(
        backend,
        "dealix-incident-rollback.toml",
        "2026-11-23T19:00:00Z",
    )
    .await;
    let (_, policy) = app.get("/api/v1/policy").await;
    let ladder: Vec<(&str, &str)> = policy["policy"]["severities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["paging"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ladder,
        [
            ("P0", "always"),
            ("P1", "always"),
            ("P2", "business_hours"),
            ("P3", "never")
        ]
    );
    assert!(
        policy["policy"]["severities"][0]["description"]
            .as_str()
            .unwrap()
            .contains("security")
    );
    assert!(
        policy["policy"]["severities"][1]["description"]
            .as_str()
            .unwrap()
            .contains("10%")
    );

    let mut ids = BTreeMap::new();
    for sev in ["P0", "P1", "P2", "P3"] {
        let id = app
            .declare(json!({"title": format!("{sev} incident"), "severity": sev}))
            .await;
        let shown = show(&app, &id).await;
        assert_eq!(shown["incident"]["severity"], sev);
        assert_eq!(
            deadline(&shown, "commander").is_some(),
            sev == "P0",
            "{sev}: only P0 owes an IC within 15 min"
        );
        ids.insert(sev, id);
    }
    let (_, p0) = app.get("/api/v1/incidents?severity=P0").await;
    assert_eq!(p0["items"].as_array().unwrap().len(), 1);
    app.tick().await;

    // Who each incident has paged so far: (what, people).
    let paged = |id: String| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for kind in ["escalated", "rule_triggered"] {
                for e in app.events_of(&id, kind).await {
                    let what = e["step"].as_str().or(e["rule"].as_str()).unwrap();
                    let mut people: Vec<String> = e["notified"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["person"].as_str().unwrap().to_string())
                        .collect();
                    people.sort();
                    out.push((what.to_string(), people));
                }
            }
            out
        }
    };
    let names = |people: &[&str]| people.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    // P0, all hands, at once: the service's policy pages the on-call
    // platform and the all-hands rule every response team; the DBA is not
    // staffed at 22:00 and the timeline says so.
    assert_eq!(
        paged(ids["P0"].clone()).await,
        [
            ("platform".to_string(), names(&["platform-oncall"])),
            (
                "p0-all-hands".to_string(),
                names(&[
                    "cto",
                    "customer-success",
                    "platform-oncall",
                    "security-lead"
                ])
            ),
        ]
    );
    let all_hands = &app.events_of(&ids["P0"], "rule_triggered").await[0];
    assert!(
        all_hands["unreachable"]
            .as_array()
            .unwrap()
            .contains(&json!("schedule dba: nobody on call")),
        "{all_hands}"
    );
    // P1: the on-call platform owns it, at any hour; no all hands.
    assert_eq!(
        paged(ids["P1"].clone()).await,
        [("platform".to_string(), names(&["platform-oncall"]))]
    );
    // P2: nobody tonight. Paged when business hours open, Tuesday 09:00
    // in Riyadh (06:00 UTC), and not a minute before.
    assert!(paged(ids["P2"].clone()).await.is_empty());
    app.clock.set("2026-11-24T05:59:00Z".parse().unwrap());
    app.tick().await;
    assert!(paged(ids["P2"].clone()).await.is_empty());
    app.advance_mins(1);
    app.tick().await;
    assert_eq!(
        paged(ids["P2"].clone()).await,
        [("platform".to_string(), names(&["platform-oncall"]))]
    );
    assert_eq!(
        app.events_of(&ids["P2"], "escalated").await[0]["due_at"],
        "2026-11-24T06:00:00Z"
    );
    // P3 is backlog: a week later it has paged nobody, and nothing waits.
    app.clock.set("2026-12-01T12:00:00Z".parse().unwrap());
    app.tick().await;
    assert!(paged(ids["P3"].clone()).await.is_empty());
    assert!(app.notifications(&ids["P3"]).await.is_empty());

    // A P0 in business hours: all hands includes the DBA, who is staffed.
    app.clock.set("2026-12-01T07:00:00Z".parse().unwrap());
    let id = app
        .declare(json!({"title": "Production down", "severity": "P0"}))
        .await;
    app.tick().await;
    let rule = &app.events_of(&id, "rule_triggered").await[0];
    assert_eq!(rule["rule"], "p0-all-hands");
    let mut people: Vec<&str> = rule["notified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["person"].as_str().unwrap())
        .collect();
    people.sort();
    assert_eq!(
        people,
        [
            "cto",
            "customer-success",
            "dba",
            "platform-oncall",
            "security-lead"
        ]
    );
    // Raised to P0 mid-incident: all hands then.
    ok(
        &app,
        &format!("/api/v1/incidents/{}/severity", ids["P1"]),
        json!({"severity": "P0", "reason": "production down"}),
    )
    .await;
    app.tick().await;
    assert!(
        app.events_of(&ids["P1"], "rule_triggered")
            .await
            .iter()
            .any(|r| r["rule"] == "p0-all-hands")
    );
}

/// Any P0/P1 opens "first 10 minutes": declare · stop the bleeding · freeze ·
/// preserve · communicate. Ticking is a timeline event; unticked items show.
async fn s000_first_10_minutes(backend: Backend) {
    let app = app(backend, "dealix-incident-rollback.toml").await;
    let id = app
        .declare(json!({"title": "Checkout down", "severity": "P1", "services": ["api"]}))
        .await;
    let shown = show(&app, &id).await;
    let items: Vec<&str> = shown["incident"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["checklist"].as_str().unwrap().contains("10"))
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(items.len(), 5, "{items:?}");
    for word in ["declare", "bleeding", "freeze", "preserve", "communicate"] {
        assert!(
            items.iter().any(|i| i.contains(word)),
            "{word} missing from {items:?}"
        );
    }
    let freeze = items
        .iter()
        .find(|i| i.contains("freeze"))
        .unwrap()
        .to_string();
    let due = deadline(&shown, &format!("checklist:{freeze}")).unwrap();
    assert_eq!(due["due_at"], "2026-11-23T10:10:00Z");

    app.advance_mins(4);
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/checklist/tick"),
        json!({"item": freeze}),
    )
    .await;
    app.advance_mins(7);
    let shown = show(&app, &id).await;
    let last = shown["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["type"].as_str(), last["item"].as_str()),
        (Some("checklist_item_ticked"), Some(freeze.as_str()))
    );
    assert_eq!(
        deadline(&shown, &format!("checklist:{freeze}")).unwrap()["status"],
        "met"
    );
    let breached = shown["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "breached")
        .count();
    assert_eq!(
        breached, 4,
        "the four unticked items are overdue at 11 minutes"
    );

    let p2 = app
        .declare(json!({"title": "slow page", "severity": "P2"}))
        .await;
    assert!(
        show(&app, &p2).await["incident"]["checklist"]
            .as_array()
            .unwrap()
            .is_empty(),
        "P2 gets no 10-minute list"
    );
}

/// A personal-data breach carries contain · assess scope · notify SDAIA ·
/// notify data subjects if required · document, and starts the 72 h clock.
async fn s000_breach_steps(backend: Backend) {
    let app = app(backend, "dealix-incident-rollback.toml").await;
    let id = app
        .declare(json!({
            "title": "Leads table exposed", "severity": "P0", "tags": ["personal-data-breach"],
            "detected_at": "2026-11-23T09:00:00Z"
        }))
        .await;
    let shown = show(&app, &id).await;
    let steps: Vec<&str> = shown["incident"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["id"]
                .as_str()
                .unwrap()
                .starts_with("personal-data-breach.")
        })
        .map(|c| {
            c["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("personal-data-breach.")
        })
        .collect();
    assert_eq!(steps.len(), 5, "{steps:?}");
    for (step, word) in steps
        .iter()
        .zip(["contain", "scope", "sdaia", "subjects", "document"])
    {
        assert!(step.contains(word), "steps in order: {steps:?}");
    }
    let sdaia = deadline(&shown, "obligation:pdpl-sdaia").expect("the PDPL clock started");
    assert_eq!(
        sdaia["due_at"], "2026-11-26T09:00:00Z",
        "72 h from detection"
    );
    assert_eq!(sdaia["status"], "pending");
}

/// IC, Ops Lead, Comms Lead, Scribe; one person may hold several.
async fn s000_roles(backend: Backend) {
    let app = app(backend, "dealix-incident-rollback.toml").await;
    // The seed keeps names out of the runbook ("per deployment"); the
    // policy's [people] stand for its §8 roles.
    let someone = "platform-oncall".to_string();
    let id = app
        .declare(json!({"title": "small incident", "severity": "P2"}))
        .await;
    for role in ["IC", "ops_lead", "comms_lead", "scribe"] {
        ok(
            &app,
            &format!("/api/v1/incidents/{id}/roles"),
            json!({"role": role, "person": someone}),
        )
        .await;
    }
    let roles = show(&app, &id).await["incident"]["roles"].clone();
    for role in ["incident_commander", "ops_lead", "comms_lead", "scribe"] {
        assert_eq!(roles[role], json!([someone.clone()]), "{role}");
    }
}

/// SEV-1 respond < 15 min, SEV-2 < 1 h, SEV-3 < 4 h, SEV-4 < 24 h, each with its
/// channels: the founder is paged at once through them, and a missed
/// response target pages again.
async fn s001_sev_ladder(backend: Backend) {
    let app = app(backend, "dealix-sev.toml").await;
    let mut ids = Vec::new();
    for (sev, due, channels) in [
        ("SEV-1", "2026-11-23T10:15:00Z", json!(["slack", "email"])),
        (
            "SEV-2",
            "2026-11-23T11:00:00Z",
            json!(["slack", "status_page"]),
        ),
        ("SEV-3", "2026-11-23T14:00:00Z", json!(["email"])),
        ("SEV-4", "2026-11-24T10:00:00Z", json!(["ticket"])),
    ] {
        let id = app
            .declare(json!({"title": sev, "severity": sev.to_lowercase()}))
            .await;
        let shown = show(&app, &id).await;
        assert_eq!(deadline(&shown, "respond").unwrap()["due_at"], due, "{sev}");
        let (_, policy) = app.get("/api/v1/policy").await;
        let s = policy["policy"]["severities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == sev)
            .unwrap()
            .clone();
        assert_eq!(s["channels"], channels, "{sev}");
        // The founder is paged at once through the severity's channels that
        // reach a person (a status page or a ticket is not a pager).
        app.tick().await;
        let paged: Vec<String> = app
            .notifications(&id)
            .await
            .iter()
            .map(|n| {
                format!(
                    "{}:{}",
                    n["person"].as_str().unwrap(),
                    n["channel"].as_str().unwrap()
                )
            })
            .collect();
        let mut paged = paged;
        paged.sort();
        let expected: &[&str] = match sev {
            "SEV-1" => &["sami:email", "sami:slack"],
            "SEV-2" => &["sami:slack"],
            "SEV-3" => &["sami:email"],
            _ => &[],
        };
        assert_eq!(paged, expected, "{sev}");
        // Every channel that reaches a person has its notifier and Sami's
        // contact: nobody is unreachable.
        for step in app.events_of(&id, "escalated").await {
            assert_eq!(step["unreachable"], json!([]), "{sev}: {step}");
        }
        ids.push(id);
    }
    // SEV-1's response target (15 min) missed: visible, and it pages again.
    app.advance_mins(16);
    app.tick().await;
    let breach = app.events_of(&ids[0], "reminded").await;
    assert!(
        breach.iter().any(|r| r["reminder"] == "respond"),
        "{breach:?}"
    );
    assert_eq!(app.events_of(&ids[0], "escalated").await.len(), 2);
    assert_eq!(
        deadline(&show(&app, &ids[0]).await, "respond").unwrap()["status"],
        "breached"
    );
    // SEV-4 is never paged.
    assert!(app.events_of(&ids[3], "escalated").await.is_empty());
}

/// SEV-1 opens a "within 5 minutes" and a "within 15 minutes" list with their
/// deadlines visible.
async fn s001_sev1_checklists(backend: Backend) {
    let app = app(backend, "dealix-sev.toml").await;
    let id = app
        .declare(json!({"title": "Full outage", "severity": "SEV-1"}))
        .await;
    let shown = show(&app, &id).await;
    let due_of = |prefix: &str| -> Vec<String> {
        shown["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["key"].as_str().unwrap().starts_with(prefix))
            .map(|d| d["due_at"].as_str().unwrap().to_string())
            .collect()
    };
    let five = due_of("checklist:within-5-minutes.");
    let fifteen = due_of("checklist:within-15-minutes.");
    assert_eq!(
        five.len(),
        3,
        "confirm /healthz, hosting status, uptime monitor"
    );
    assert!(five.iter().all(|d| d == "2026-11-23T10:05:00Z"), "{five:?}");
    assert_eq!(fifteen.len(), 7, "diagnose ×4, mitigate ×3");
    assert!(
        fifteen.iter().all(|d| d == "2026-11-23T10:15:00Z"),
        "{fifteen:?}"
    );
    let texts = shown["incident"]["checklist"].to_string();
    for needle in [
        "/healthz",
        "Railway",
        "UptimeRobot",
        "Moyasar",
        "roll back",
        "env vars",
    ] {
        assert!(texts.contains(needle), "{needle}");
    }
    let sev2 = app
        .declare(json!({"title": "partial", "severity": "SEV-2"}))
        .await;
    assert!(
        show(&app, &sev2).await["incident"]["checklist"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The customer message exists in Arabic (the seed's words), renders
/// right-to-left, and its 30-minute promise is a visible update deadline.
/// (The reminder when it lapses is fired by the scheduler.)
async fn s001_arabic_customer_template(backend: Backend) {
    let app = app(backend, "dealix-sev.toml").await;
    let id = app
        .declare(json!({"title": "Full outage", "severity": "SEV-1"}))
        .await;
    let seed = "نواجه مشكلة فنية مؤقتة في النظام. الفريق يعمل على حلها.\nسنحدثكم خلال 30 دقيقة.\n— فريق Dealix";
    let r = render(&app, &id, "customer", "ar", BTreeMap::new()).await;
    assert_eq!(r["text"], seed);
    assert_eq!(
        (r["direction"].as_str(), r["audience"].as_str()),
        (Some("rtl"), Some("public"))
    );

    let v = ok(
        &app,
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"template": "customer", "locale": "ar", "visibility": "public"}),
    )
    .await;
    assert_eq!(
        v["events"][0]["message"], seed,
        "the posted text is the seed's, stored in the timeline"
    );
    assert_eq!(v["events"][0]["direction"], "rtl");
    let shown = show(&app, &id).await;
    assert_eq!(
        deadline(&shown, "next_update").unwrap()["due_at"],
        "2026-11-23T10:30:00Z",
        "update promised in 30 min"
    );
    // Firebell reminds at 30 minutes: the founder (paged for it) is told.
    app.tick().await;
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    app.advance_mins(29);
    app.tick().await;
    assert!(app.events_of(&id, "reminded").await.is_empty());
    app.advance_mins(1);
    app.tick().await;
    let reminded = app.events_of(&id, "reminded").await;
    assert_eq!(reminded.len(), 1, "{reminded:?}");
    assert_eq!(reminded[0]["reminder"], "update");
    assert_eq!(reminded[0]["due_at"], "2026-11-23T10:30:00Z");
    assert_eq!(reminded[0]["notified"][0]["person"], "sami");
    app.advance_mins(1);
    assert_eq!(
        deadline(&show(&app, &id).await, "next_update").unwrap()["status"],
        "breached"
    );
}

/// Incident ids read INC-YYYYMMDD-NNN, numbered per (UTC) day.
async fn s003_incident_id(backend: Backend) {
    let app = app(backend, "dashflow.toml").await;
    assert_eq!(
        app.declare(json!({"title": "a", "severity": "P2"})).await,
        "INC-20261123-001"
    );
    assert_eq!(
        app.declare(json!({"title": "b", "severity": "P2"})).await,
        "INC-20261123-002"
    );
    app.clock.set("2026-11-23T23:59:59Z".parse().unwrap());
    assert_eq!(
        app.declare(json!({"title": "c", "severity": "P2"})).await,
        "INC-20261123-003"
    );
    app.clock.set("2026-11-24T00:00:00Z".parse().unwrap());
    assert_eq!(
        app.declare(json!({"title": "d", "severity": "P2"})).await,
        "INC-20261124-001"
    );
}

/// The declaration message renders from the incident: severity, description,
/// time UTC, impact, status, IC, channel, status page.
async fn s003_declaration_template(backend: Backend) {
    let app = app(backend, "dashflow.toml").await;
    let id = app
        .declare(json!({"title": "All pods crash looping", "severity": "P0", "commander": "john"}))
        .await;
    let r = render(
        &app,
        &id,
        "declaration",
        "en",
        BTreeMap::from([("impact", "All users")]),
    )
    .await;
    let text = r["text"].as_str().unwrap();
    let doc = format!("Incident doc: {}/incidents/{id}", app.base);
    let expected = [
        "INCIDENT: [P0] - All pods crash looping",
        "Time: 10:00 UTC",
        "Impact: All users",
        "Status: Investigating",
        "Incident Commander: John Doe",
        "Communication Channel: #incident-dashflow",
        "Status Page: https://status.example.com",
        doc.as_str(),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
}

/// Respond within P0 15 min, P1 1 h, P2 4 h, P3 the next business day; a
/// breach is visible and escalates. Four incidents are open at once here,
/// so the policy's "several incidents at once" trigger is switched off and
/// the P1's cause is identified at once, or those triggers would escalate
/// it first (see s003_escalation_triggers).
async fn s003_severity_response(backend: Backend) {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dashflow.toml"),
    )
    .unwrap();
    assert!(text.contains("at_least = 2"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashflow.toml");
    std::fs::write(&file, text.replace("at_least = 2", "at_least = 0")).unwrap();
    let app = TestApp::spawn_with_policy(backend, PolicySource::File(file)).await;
    // Friday 20 November 2026, 16:00 UTC: P3's "next business day" is Monday.
    app.clock.set("2026-11-20T16:00:00Z".parse().unwrap());
    let mut ids = Vec::new();
    for (sev, due) in [
        ("P0", "2026-11-20T16:15:00Z"),
        ("P1", "2026-11-20T17:00:00Z"),
        ("P2", "2026-11-20T20:00:00Z"),
        ("P3", "2026-11-23T16:00:00Z"),
    ] {
        let id = app.declare(json!({"title": sev, "severity": sev})).await;
        assert_eq!(
            deadline(&show(&app, &id).await, "respond").unwrap()["due_at"],
            due,
            "{sev}"
        );
        ids.push(id);
    }
    // The P1's cause is known at once (else "no root cause after 30
    // minutes" would escalate it first), but nobody has responded.
    ok(
        &app,
        &format!("/api/v1/incidents/{}/updates", ids[1]),
        json!({"status": "identified", "message": "known bad deploy"}),
    )
    .await;
    app.advance_mins(10);
    ok(
        &app,
        &format!("/api/v1/incidents/{}/acknowledge", ids[0]),
        json!({}),
    )
    .await;
    app.advance_mins(60);
    let status = |v: &Value| {
        deadline(v, "respond").unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(&show(&app, &ids[0]).await), "met");
    assert_eq!(status(&show(&app, &ids[1]).await), "breached");
    assert_eq!(status(&show(&app, &ids[2]).await), "pending");
    // The breach escalates: the P1's ladder pages L2 at 17:00 instead of 18:00.
    app.tick().await;
    let p1 = app.events_of(&ids[1], "escalated").await;
    let l2 = p1.iter().find(|e| e["step"] == "L2").expect("L2 paged");
    assert_eq!(l2["due_at"], "2026-11-20T17:00:00Z");
    assert!(
        l2["reason"]
            .as_str()
            .unwrap()
            .contains("response target breached"),
        "{l2}"
    );
    assert_eq!(l2["notified"][0]["person"], "john");
    assert!(
        app.events_of(&ids[1], "reminded")
            .await
            .iter()
            .any(|r| r["reminder"] == "respond")
    );
    // The P0 acknowledged in time had no breach.
    assert!(
        !app.events_of(&ids[0], "reminded")
            .await
            .iter()
            .any(|r| r["reminder"] == "respond")
    );
    ok(
        &app,
        &format!("/api/v1/incidents/{}/acknowledge", ids[1]),
        json!({}),
    )
    .await;
    assert_eq!(
        status(&show(&app, &ids[1]).await),
        "met_late",
        "a late response stays visible as late"
    );
}

/// A hand-off records what was tried, metrics, evidence and next steps, posts
/// "HANDOFF: Incident now owned by X (L2)", and the new owner holds the role
/// and gets the pages from then on.
async fn s003_handoff(backend: Backend) {
    let app = app(backend, "dashflow.toml").await;
    let id = app
        .declare(json!({"title": "50% error rate", "severity": "P1", "commander": "oncall"}))
        .await;
    app.advance_mins(30);
    let v = ok(
        &app,
        &format!("/api/v1/incidents/{id}/handoff"),
        json!({
            "to": "jane", "level": "L2",
            "summary": "Rolled back v0.10.0; restarted pods",
            "metrics": "error rate 45%, p95 3s, ~1,000 users",
            "evidence": "logs in incident doc",
            "next_steps": "Investigate DB connection pool"
        }),
    )
    .await;
    let e = &v["events"][0];
    assert_eq!(e["type"], "handed_off");
    assert_eq!(
        (e["from"].as_str(), e["to"].as_str()),
        (Some("oncall"), Some("jane"))
    );
    assert_eq!(e["metrics"], "error rate 45%, p95 3s, ~1,000 users");
    assert_eq!(e["evidence"], "logs in incident doc");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with("HANDOFF: Incident now owned by Jane Smith (L2)"),
        "{message}"
    );
    assert!(
        message.contains("Next Steps: Investigate DB connection pool"),
        "{message}"
    );
    assert_eq!(
        v["incident"]["roles"]["incident_commander"],
        json!(["jane"])
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/handoff"),
            json!({"to": "jane", "summary": "s", "next_steps": "n"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "handing off to the current owner is refused"
    );
    // The new owner gets the pages from then on: the overdue-update reminder
    // (P1: every 30 min) goes to Jane, not to the L1 who handed off.
    app.tick().await;
    let reminded = app.events_of(&id, "reminded").await;
    let update = reminded.iter().find(|r| r["reminder"] == "update").unwrap();
    assert_eq!(update["notified"][0]["person"], "jane");
    assert_eq!(update["notified"][0]["via"], "role:incident_commander");
}

/// Initial, update (duration, ETA) and resolution (duration, root cause, fix,
/// postmortem date, action items) render from the incident.
async fn s004_templates(backend: Backend) {
    let app = app(backend, "agent-factory.toml").await;
    let id = app
        .declare(json!({"title": "Agents failing", "severity": "P1", "services": ["api"]}))
        .await;
    let initial = render(&app, &id, "initial", "en", BTreeMap::new()).await;
    let text = initial["text"].as_str().unwrap();
    assert!(
        text.contains("INCIDENT: Agents failing") && text.contains("**Severity:** P1"),
        "{text}"
    );
    assert!(text.contains("Service: api"), "{text}");

    app.advance_mins(95);
    let update = render(
        &app,
        &id,
        "update",
        "en",
        BTreeMap::from([("eta", "12:00 UTC")]),
    )
    .await;
    let text = update["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("INCIDENT UPDATE: {id}")) && text.contains("**Duration:** 1h35m"),
        "{text}"
    );
    assert!(text.contains("**ETA:** 12:00 UTC"), "{text}");

    ok(&app, &format!("/api/v1/incidents/{id}/resolve"), json!({})).await;
    let vars = BTreeMap::from([
        ("root_cause", "connection pool exhausted"),
        ("fix", "raised pool size"),
        ("postmortem_date", "2026-11-25 10:00 UTC"),
        ("action_items", "alert at 85% pool"),
    ]);
    let resolution = render(&app, &id, "resolution", "en", vars).await;
    let text = resolution["text"].as_str().unwrap();
    for needle in [
        &format!("INCIDENT RESOLVED: {id}"),
        "**Duration:** 1h35m",
        "**Root Cause:** connection pool exhausted",
        "**Fix Applied:** raised pool size",
        "Scheduled for 2026-11-25 10:00 UTC",
        "**Action Items:** alert at 85% pool",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
}

/// Acknowledge and assess within 5 minutes; the initial report (description,
/// severity, detected, impact, status) renders from the incident.
async fn s004_ack_and_assess_5m(backend: Backend) {
    let app = app(backend, "agent-factory.toml").await;
    let id = app
        .declare(json!({"title": "API returning 503", "severity": "P0", "detected_at": "2026-11-23T09:58:00Z"}))
        .await;
    let shown = show(&app, &id).await;
    let ack = deadline(&shown, "acknowledge").expect("an acknowledge deadline");
    assert_eq!(ack["due_at"], "2026-11-23T10:05:00Z");
    let report = render(
        &app,
        &id,
        "initial",
        "en",
        BTreeMap::from([("impact", "All API clients")]),
    )
    .await;
    let text = report["text"].as_str().unwrap();
    for needle in [
        "API returning 503",
        "**Severity:** P0",
        "**Detected:** 2026-11-23T09:58:00Z",
        "**Impact:** All API clients",
        "**Status:** Investigating",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    app.advance_mins(4);
    ok(
        &app,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        json!({}),
    )
    .await;
    assert_eq!(
        deadline(&show(&app, &id).await, "acknowledge").unwrap()["status"],
        "met"
    );
}

/// `GET /api/v1/oncall` on the Agent Factory policy's weekly rotation:
/// Mondays 09:00 UTC from 2026-01-05, engineer-a → engineer-b → lead.
/// 2026-11-23 is 46 weeks later (46 mod 3 = 1): engineer-b's week.
async fn oncall_shows_who_is_on_call_now_and_next(backend: Backend) {
    let app = app(backend, "agent-factory.toml").await;
    let (status, v) = app.get("/api/v1/oncall").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let primary = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["schedule"] == "primary")
        .expect("the primary schedule")
        .clone();
    assert_eq!(primary["now"]["person"], "engineer-b", "{primary}");
    assert_eq!(primary["now"]["since"], "2026-11-23T09:00:00Z");
    assert_eq!(primary["now"]["until"], "2026-11-30T09:00:00Z");
    let next: Vec<&str> = primary["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["person"].as_str().unwrap())
        .collect();
    assert_eq!(next, ["engineering-lead", "engineer-a", "engineer-b"]);
    // Before Monday's hand-off it is still the previous person's week.
    let (_, earlier) = app
        .get("/api/v1/oncall?schedule=primary&at=2026-11-23T08:59:00Z")
        .await;
    assert_eq!(earlier["items"][0]["now"]["person"], "engineer-a");
    let (status, _) = app.get("/api/v1/oncall?schedule=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/v1/oncall?at=tomorrow").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// s004.uptime-target: each component's uptime over 30 and 90 days is
/// computed from incidents and maintenance and compared with the policy's
/// target ("Uptime (target: 99.9%)"). A major outage counts fully, a
/// partial one 30 %, time under maintenance not at all.
async fn s004_uptime_target(backend: Backend) {
    let app = app(backend, "agent-factory.toml").await;
    let uptime = |app: &TestApp| {
        let url = app.url("/status/api/v2/uptime.json");
        let http = app.http.clone();
        async move {
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            let api = v["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["service"] == "api")
                .unwrap()
                .clone();
            api["uptime"].clone()
        }
    };
    let before = uptime(&app).await;
    assert_eq!(before["last_30_days"], 100.0);
    assert_eq!(before["target"], 99.9);
    assert_eq!(before["below_target"], false);
    assert_eq!(before["days"].as_array().unwrap().len(), 90);

    // A 20-minute P1 (partial outage): 6 minutes of down time. Still on target.
    let p1 = app
        .declare(json!({"title": "Agents slow", "severity": "P1", "services": ["api"]}))
        .await;
    app.advance_mins(20);
    ok(&app, &format!("/api/v1/incidents/{p1}/resolve"), json!({})).await;
    let month = 30.0 * 86_400.0;
    let quarter = 90.0 * 86_400.0;
    let close = |got: &Value, want: f64| {
        let got = got.as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "got {got}, want {want}");
    };
    let u = uptime(&app).await;
    close(&u["last_30_days"], 100.0 * (1.0 - 360.0 / month));
    assert_eq!(u["below_target"], false, "{u}");

    // A P0 under maintenance mode is planned time: it does not count.
    let (status, w) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Supabase upgrade", "services": ["api"], "kind": "mode"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let planned = app
        .declare(json!({"title": "Planned restart", "severity": "P0", "services": ["api"]}))
        .await;
    app.advance_mins(30);
    ok(
        &app,
        &format!("/api/v1/incidents/{planned}/resolve"),
        json!({}),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/maintenance/{}/end", w["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    close(
        &uptime(&app).await["last_30_days"],
        100.0 * (1.0 - 360.0 / month),
    );

    // A 60-minute P0 (major outage) breaks 99.9 % over 30 days, not over 90.
    let p0 = app
        .declare(json!({"title": "API down", "severity": "P0", "services": ["api"]}))
        .await;
    app.advance_mins(60);
    ok(&app, &format!("/api/v1/incidents/{p0}/resolve"), json!({})).await;
    let u = uptime(&app).await;
    close(&u["last_30_days"], 100.0 * (1.0 - 3960.0 / month));
    close(&u["last_90_days"], 100.0 * (1.0 - 3960.0 / quarter));
    assert_eq!(u["below_target"], true, "{u}");
    let today = u["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["date"], "2026-11-23");
    assert_eq!(today["worst"], "major_outage");
    assert_eq!(today["major_secs"], 3600);
    assert_eq!(today["partial_secs"], 1200);
    assert_eq!(today["maintenance_secs"], 1800);

    // The page says so beside the figures.
    let page = app
        .http
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("99.84%"), "30-day figure, floored: {page}");
    assert!(
        page.contains("target 99.9%") && page.contains("below target"),
        "{page}"
    );

    // Thirty-one days on, the outage has left the 30-day window but not the 90.
    app.advance_mins(31 * 24 * 60);
    let u = uptime(&app).await;
    assert_eq!(u["last_30_days"], 100.0);
    assert_eq!(u["below_target"], false);
    close(&u["last_90_days"], 100.0 * (1.0 - 3960.0 / quarter));
}

/// s003.incident-doc-link: every incident has one link, its room in the
/// console, carried in pages (with the ack link), in the hand-off
/// announcement (with the policy's channel) and in messages from templates
/// (`incident.url`, in 003's declaration beside the channel and status
/// page); the link opens the room once signed in.
async fn s003_incident_doc_link(backend: Backend) {
    let app = app(backend, "dashflow.toml").await;
    let id = app
        .declare(json!({"title": "50% error rate", "severity": "P1", "commander": "oncall"}))
        .await;
    let link = format!("{}/incidents/{id}", app.base);

    // The declaration template carries it beside the channel and status page.
    let v = ok(
        &app,
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"template": "declaration", "visibility": "internal"}),
    )
    .await;
    let text = v["events"][0]["message"].as_str().unwrap();
    assert!(text.contains(&format!("Incident doc: {link}")), "{text}");
    assert!(
        text.contains("Communication Channel: #incident-dashflow"),
        "{text}"
    );

    // So does the hand-off announcement.
    let v = ok(
        &app,
        &format!("/api/v1/incidents/{id}/handoff"),
        json!({"to": "jane", "summary": "rolled back", "next_steps": "watch the pool"}),
    )
    .await;
    let message = v["events"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("Incident: {link}")), "{message}");
    assert!(message.contains("Channel: #incident-dashflow"), "{message}");

    // A page carries it, beside its ack link.
    let recv = common::receiver::Receiver::start().await;
    let (_dir, source) = common::sms_ladder(&recv, "");
    let paging = TestApp::spawn_with_policy(backend, source).await;
    let paged = paging
        .declare(json!({"title": "API down", "severity": "P0", "escalation_policy": "ladder"}))
        .await;
    paging.tick().await;
    assert_eq!(paging.deliver().await.delivered, 1);
    let page = &recv.bodies()[0];
    assert_eq!(
        page["incident_url"].as_str().unwrap(),
        format!("{}/incidents/{paged}", paging.base)
    );
    assert!(page["ack_url"].as_str().unwrap().starts_with(&paging.base));

    // The link opens the room: through sign-in for a browser without a
    // session, straight in with one.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http.get(&link).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()["location"],
        format!("/login?next=%2Fincidents%2F{id}").as_str()
    );
    let body = format!("token={}&next=%2Fincidents%2F{id}", app.admin_token);
    let resp = http
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["location"],
        format!("/incidents/{id}").as_str()
    );
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let room = http
        .get(&link)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(room.status(), StatusCode::OK);
    let room = room.text().await.unwrap();
    assert!(room.contains("50% error rate") && room.contains("#incident-dashflow"));
}
