//! The public status page: what customers see at `/status`, in its feed and
//! in Statuspage's JSON, with no token, on both backends.

mod common;

use common::{Backend, TestApp};
use firebell_server::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every public document, as (path, body text).
async fn everything_public(app: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in [
        "/status",
        "/status?lang=ar",
        "/status/feed.atom",
        "/status/api/v2/summary.json",
        "/status/api/v2/status.json",
        "/status/api/v2/components.json",
        "/status/api/v2/incidents.json",
        "/status/api/v2/incidents/unresolved.json",
        "/status/api/v2/scheduled-maintenances.json",
        "/status/api/v2/scheduled-maintenances/upcoming.json",
        "/status/api/v2/scheduled-maintenances/active.json",
        "/status/api/v2/uptime.json",
    ] {
        // No token: the page is public.
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        out.push((path.to_string(), resp.text().await.unwrap()));
    }
    out
}

async fn json(app: &TestApp, path: &str) -> Value {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "*",
        "widgets on other sites read {path}"
    );
    resp.json().await.unwrap()
}

async fn page(app: &TestApp, path: &str, accept_language: Option<&str>) -> String {
    let mut req = app.http.get(app.url(path));
    if let Some(lang) = accept_language {
        req = req.header("accept-language", lang);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    resp.text().await.unwrap()
}

/// Component id → status, from `components.json`.
async fn states(app: &TestApp) -> Vec<(String, String)> {
    json(app, "/status/api/v2/components.json").await["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn state_of<'a>(states: &'a [(String, String)], id: &str) -> &'a str {
    states
        .iter()
        .find(|(c, _)| c == id)
        .map(|(_, s)| s.as_str())
        .unwrap_or_else(|| panic!("no component {id} in {states:?}"))
}

async fn indicator(app: &TestApp) -> String {
    json(app, "/status/api/v2/status.json").await["status"]["indicator"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Only what was posted as public reaches customers: internal updates,
/// notes and the resolution summary stay inside, in every format.
async fn only_public_updates_leave_the_building(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "Checkout errors", "severity": "P1", "services": ["api"]}))
        .await;
    let posts = [
        (
            "updates",
            json!({"status": "identified", "visibility": "public", "message": "We found the cause <b>& a fix</b>"}),
        ),
        (
            "updates",
            json!({"status": "identified", "visibility": "internal", "message": "SECRET-internal-update db-3 password rotated"}),
        ),
        (
            "notes",
            json!({"text": "SECRET-note customer acme lost data"}),
        ),
    ];
    for (path, body) in posts {
        let (status, v) = app
            .post(&format!("/api/v1/incidents/{id}/{path}"), body)
            .await;
        assert!(status.is_success(), "{path}: {v}");
    }

    let public = everything_public(&app).await;
    for (path, body) in &public {
        assert!(!body.contains("SECRET"), "{path} leaks: {body}");
    }
    let html = &public[0].1;
    assert!(html.contains("Checkout errors"));
    assert!(
        html.contains("We found the cause &lt;b&gt;&amp; a fix&lt;&#x2f;b&gt;"),
        "the update is shown, escaped: {html}"
    );
    let incidents = json(&app, "/status/api/v2/incidents/unresolved.json").await;
    let updates = incidents["incidents"][0]["incident_updates"]
        .as_array()
        .unwrap();
    assert_eq!(updates.len(), 1, "one public update: {updates:?}");
    assert_eq!(updates[0]["body"], "We found the cause <b>& a fix</b>");
    assert_eq!(updates[0]["status"], "identified");
    assert_eq!(incidents["incidents"][0]["impact"], "major");

    // Resolved: its summary stays inside, the incident moves to history.
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            json!({"summary": "SECRET-resolution bad deploy by bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for (path, body) in everything_public(&app).await {
        assert!(
            !body.contains("SECRET"),
            "{path} leaks after resolve: {body}"
        );
    }
    let unresolved = json(&app, "/status/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"], json!([]));
    let all = json(&app, "/status/api/v2/incidents.json").await;
    assert_eq!(all["incidents"][0]["id"], id.as_str());
    assert_eq!(all["incidents"][0]["status"], "resolved");

    // An incident on no public service never shows at all.
    app.declare(json!({"title": "SECRET-laptop stolen", "severity": "P0"}))
        .await;
    for (path, body) in everything_public(&app).await {
        assert!(
            !body.contains("SECRET"),
            "{path} shows a private incident: {body}"
        );
    }
}

/// Each component shows the worst that an open incident of its service or a
/// running maintenance window says; the indicator follows the worst.
async fn components_follow_incidents_and_maintenance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = states(&app).await;
    assert!(s.iter().all(|(_, st)| st == "operational"), "{s:?}");
    assert_eq!(indicator(&app).await, "none");

    let p0 = app
        .declare(json!({"title": "API down", "severity": "P0", "services": ["api"]}))
        .await;
    let p2 = app
        .declare(json!({"title": "Slow login", "severity": "P2", "services": ["web"]}))
        .await;
    let s = states(&app).await;
    assert_eq!(
        state_of(&s, "api"),
        "major_outage",
        "the group is its worst"
    );
    assert_eq!(state_of(&s, "api.rest-api"), "major_outage");
    assert_eq!(state_of(&s, "api.webhooks"), "major_outage");
    assert_eq!(state_of(&s, "web.login"), "degraded_performance");
    assert_eq!(indicator(&app).await, "critical");

    // Maintenance mode on web: the open P2 still outranks it.
    let (status, v) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Database upgrade", "kind": "mode", "services": ["web"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        state_of(&states(&app).await, "web.login"),
        "degraded_performance"
    );

    for id in [&p0, &p2] {
        let (status, v) = app
            .post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let s = states(&app).await;
    assert_eq!(state_of(&s, "api.rest-api"), "operational");
    assert_eq!(state_of(&s, "web.login"), "under_maintenance");
    assert_eq!(state_of(&s, "web.web-app"), "under_maintenance");
    assert_eq!(indicator(&app).await, "maintenance");
    let active = json(&app, "/status/api/v2/scheduled-maintenances/active.json").await;
    let windows = active["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{active}");
    assert_eq!(windows[0]["status"], "in_progress");
    assert_eq!(windows[0]["impact"], "maintenance");
    let html = page(&app, "/status", None).await;
    assert!(html.contains("Maintenance in progress: ") || html.contains("Maintenance in progress"));

    // Switched off: operational again.
    let mode = v["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/api/v1/maintenance/{mode}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(states(&app).await.iter().all(|(_, st)| st == "operational"));
    assert_eq!(indicator(&app).await, "none");
}

/// s003.maintenance-scheduled, s003.maintenance-emergency (status page
/// part): a scheduled window is announced when created, is upcoming until
/// it starts and active while it runs; an emergency window says
/// "Emergency maintenance in progress".
async fn maintenance_is_announced_and_tracked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let starts = app.clock.now() + jiff::SignedDuration::from_hours(48);
    let (status, v) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Kubernetes 1.29 upgrade", "kind": "scheduled", "services": ["api"],
                   "starts_at": starts.to_string(), "duration": "2h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let upcoming = json(&app, "/status/api/v2/scheduled-maintenances/upcoming.json").await;
    let w = &upcoming["scheduled_maintenances"][0];
    assert_eq!(w["name"], "Kubernetes 1.29 upgrade");
    assert_eq!(w["status"], "scheduled");
    assert_eq!(w["scheduled_for"], starts.to_string().as_str());
    assert_eq!(
        w["incident_updates"].as_array().unwrap().len(),
        1,
        "announced"
    );
    assert_eq!(
        json(&app, "/status/api/v2/scheduled-maintenances/active.json").await["scheduled_maintenances"],
        json!([])
    );
    assert_eq!(state_of(&states(&app).await, "api.rest-api"), "operational");
    let summary = json(&app, "/status/api/v2/summary.json").await;
    assert_eq!(
        summary["scheduled_maintenances"].as_array().unwrap().len(),
        1
    );

    // It starts: active, its components under maintenance, a second post.
    app.advance_mins(48 * 60 + 1);
    let active = json(&app, "/status/api/v2/scheduled-maintenances/active.json").await;
    let w = &active["scheduled_maintenances"][0];
    assert_eq!(w["status"], "in_progress", "{active}");
    assert_eq!(w["incident_updates"].as_array().unwrap().len(), 2);
    assert_eq!(
        state_of(&states(&app).await, "api.rest-api"),
        "under_maintenance"
    );

    // It ends: completed, with its completion post.
    app.advance_mins(2 * 60);
    let all = json(&app, "/status/api/v2/scheduled-maintenances.json").await;
    let w = &all["scheduled_maintenances"][0];
    assert_eq!(w["status"], "completed", "{all}");
    let posts: Vec<&str> = w["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        posts,
        ["completed", "in_progress", "scheduled"],
        "newest first"
    );
    assert_eq!(state_of(&states(&app).await, "api.rest-api"), "operational");

    // Emergency maintenance: no notice, and said so.
    let (status, v) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Patch CVE", "kind": "emergency", "services": ["web"], "duration": "1h"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let html = page(&app, "/status", None).await;
    assert!(html.contains("Emergency maintenance in progress"), "{html}");
    let feed = page_text(&app, "/status/feed.atom").await;
    assert!(
        feed.contains("Emergency maintenance in progress: Patch CVE"),
        "{feed}"
    );
}

async fn page_text(app: &TestApp, path: &str) -> String {
    app.http
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The Arabic page is right to left, with the policy's Arabic-Indic digits,
/// chosen by `?lang=ar` or by `Accept-Language`.
async fn the_arabic_page_reads_right_to_left(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"status": "identified", "visibility": "public", "template": "update",
                   "locale": "ar", "vars": {"eta": "30m"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let en = page(&app, "/status", None).await;
    assert!(en.contains(r#"<html lang="en" dir="ltr">"#));
    assert!(en.contains("Partial System Outage"));
    for ar in [
        page(&app, "/status?lang=ar", None).await,
        page(&app, "/status", Some("ar-SA,ar;q=0.9,en;q=0.5")).await,
    ] {
        assert!(ar.contains(r#"<html lang="ar" dir="rtl">"#), "{ar}");
        assert!(ar.contains("انقطاع جزئي"), "Arabic words: {ar}");
        assert!(ar.contains("٩٩"), "Arabic-Indic digits: {ar}");
        // The Arabic update itself is marked right to left.
        assert!(ar.contains(r#"lang="ar" dir="rtl" class="text""#), "{ar}");
    }
    // A language the page does not offer falls back to the default.
    let fr = page(&app, "/status", Some("fr")).await;
    assert!(fr.contains(r#"dir="ltr""#));
}

/// The feed is Atom a reader accepts: one entry per public update and
/// maintenance post, newest first, each with its own id.
async fn the_feed_is_atom(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "Webhooks delayed", "severity": "P2", "services": ["api"]}))
        .await;
    for (n, status) in ["investigating", "identified", "monitoring"]
        .iter()
        .enumerate()
    {
        app.advance_mins(5);
        let (code, v) = app
            .post(
                &format!("/api/v1/incidents/{id}/updates"),
                json!({"status": status, "visibility": "public", "message": format!("update {n} & more")}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{v}");
    }
    let resp = app
        .http
        .get(app.url("/status/feed.atom"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let body = resp.bytes().await.unwrap();
    let feed = atom_syndication::Feed::read_from(&body[..]).expect("valid Atom");
    assert_eq!(feed.title().as_str(), "Demo Co");
    assert_eq!(feed.entries().len(), 3);
    let texts: Vec<&str> = feed
        .entries()
        .iter()
        .map(|e| e.content().and_then(|c| c.value()).unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        ["update 2 & more", "update 1 & more", "update 0 & more"]
    );
    let ids: std::collections::BTreeSet<&str> = feed.entries().iter().map(|e| e.id()).collect();
    assert_eq!(ids.len(), 3, "distinct ids");
    assert!(
        feed.entries()[0]
            .title()
            .as_str()
            .contains("Webhooks delayed")
    );
    assert!(feed.entries()[0].updated() > feed.entries()[2].updated());

    // In Arabic: the feed's own words in Arabic, the updates as posted.
    let body = app
        .http
        .get(app.url("/status/feed.atom?lang=ar"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let ar = atom_syndication::Feed::read_from(&body[..]).expect("valid Atom");
    assert_eq!(ar.lang(), Some("ar"));
    assert!(
        ar.entries()[0].title().as_str().contains("قيد المراقبة"),
        "{:?}",
        ar.entries()[0].title()
    );
    assert_eq!(
        ar.entries()[0].content().and_then(|c| c.value()),
        Some("update 2 & more")
    );
}

/// The page is rendered once per change, not per request: a change made
/// through the API is visible on the next request, and a policy change too.
async fn a_change_shows_on_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(indicator(&app).await, "none");
    for n in 0..3 {
        let id = app
            .declare(json!({"title": format!("Outage {n}"), "severity": "P0", "services": ["web"]}))
            .await;
        assert_eq!(indicator(&app).await, "critical");
        let (status, _) = app
            .post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(indicator(&app).await, "none");
    }
}

/// A responder overrides a component's state with a reason: it is on the
/// incident's timeline, the page shows it (either way: worse or better than
/// derived), `auto` goes back, and it lapses with the incident.
async fn a_responder_overrides_a_component(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "Login slow", "severity": "P3", "services": ["web"]}))
        .await;
    assert_eq!(
        state_of(&states(&app).await, "web.login"),
        "degraded_performance"
    );
    let set = |component: &'static str, status: &'static str, reason: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post(
                &format!("/api/v1/incidents/{id}/components"),
                json!({"component": component, "status": status, "reason": reason}),
            )
            .await
        }
    };
    let (code, v) = set("web.login", "major_outage", "nobody can sign in").await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["events"][0]["type"], "component_state_set");
    assert_eq!(v["events"][0]["reason"], "nobody can sign in");
    let s = states(&app).await;
    assert_eq!(
        state_of(&s, "web.login"),
        "major_outage",
        "worse than derived"
    );
    assert_eq!(
        state_of(&s, "web.web-app"),
        "degraded_performance",
        "only that one"
    );
    assert_eq!(indicator(&app).await, "critical");
    // Better than derived: a person's word wins both ways.
    set("web.web-app", "operational", "the app itself is fine").await;
    assert_eq!(state_of(&states(&app).await, "web.web-app"), "operational");
    // Refused: an unknown component or status, or no reason.
    let (code, v) = set("web.nope", "major_outage", "x").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web.login"),
        "{v}"
    );
    let (code, _) = set("web.login", "on_fire", "x").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = set("web.login", "major_outage", "").await;
    assert!(code.is_client_error());
    // Back to derived.
    set("web.login", "auto", "fixed the SSO certificate").await;
    assert_eq!(
        state_of(&states(&app).await, "web.login"),
        "degraded_performance"
    );
    // It lapses with the incident.
    set("web.login", "partial_outage", "again").await;
    app.post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    assert!(states(&app).await.iter().all(|(_, st)| st == "operational"));
    let timeline = app.events_of(&id, "component_state_set").await;
    assert_eq!(timeline.len(), 4, "each on the timeline: {timeline:?}");
}

on_both_backends!(
    a_responder_overrides_a_component,
    only_public_updates_leave_the_building,
    components_follow_incidents_and_maintenance,
    maintenance_is_announced_and_tracked,
    the_arabic_page_reads_right_to_left,
    the_feed_is_atom,
    a_change_shows_on_the_next_request,
    a_drill_pages_but_never_reaches_the_status_page,
);

/// A drill pages and escalates like any incident, but nothing of it
/// reaches the status page: not its state, not its public updates, not its
/// component overrides, not the uptime history once it is over.
async fn a_drill_pages_but_never_reaches_the_status_page(backend: Backend) {
    // DashFlow: a P0 pages its L1 at once.
    let app = common::example_at(backend, "dashflow.toml", common::T0).await;
    let drill = app
        .declare(json!({"title": "DRILLSECRET LLM outage", "severity": "P0",
                        "services": ["dashflow"], "drill": true}))
        .await;
    let (_, shown) = app.get(&format!("/api/v1/incidents/{drill}")).await;
    assert_eq!(shown["incident"]["drill"], true);
    assert_eq!(shown["incident"]["title"], "[DRILL] DRILLSECRET LLM outage");
    app.tick().await;
    assert!(
        !app.events_of(&drill, "escalated").await.is_empty(),
        "a drill pages like any incident"
    );
    for (path, body) in [
        (
            "updates",
            json!({"status": "identified", "visibility": "public", "message": "DRILLSECRET update"}),
        ),
        (
            "components",
            json!({"component": "dashflow.invoke-api", "status": "major_outage", "reason": "DRILLSECRET"}),
        ),
    ] {
        let (status, v) = app
            .post(&format!("/api/v1/incidents/{drill}/{path}"), body)
            .await;
        assert!(status.is_success(), "{v}");
    }
    // A real incident beside it does show: the page is not simply empty.
    let real = app
        .declare(json!({"title": "Checkout down", "severity": "P1", "services": ["dashflow"]}))
        .await;
    let unresolved = json(&app, "/status/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(unresolved["incidents"][0]["id"], real.as_str());
    for (path, body) in everything_public(&app).await {
        assert!(
            !body.contains("DRILLSECRET"),
            "{path} shows the drill: {body}"
        );
    }
    let components = json(&app, "/status/api/v2/components.json").await;
    let webhooks = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "dashflow.invoke-api")
        .unwrap()
        .clone();
    assert_ne!(webhooks["status"], "major_outage", "{webhooks}");
    // Over: still nowhere, and no downtime counted.
    app.advance_mins(90);
    for id in [&drill, &real] {
        let (status, v) = app
            .post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
            .await;
        assert!(status.is_success(), "{v}");
    }
    for (path, body) in everything_public(&app).await {
        assert!(
            !body.contains("DRILLSECRET"),
            "{path} shows the drill: {body}"
        );
    }
}
