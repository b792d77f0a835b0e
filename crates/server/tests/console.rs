//! The web console over HTTP, as a browser uses it: sign-in and its
//! cookie, CSRF on every form, roles, expiry, the incident room's actions,
//! the live timeline (Server-Sent Events) and the update preview.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;

/// A browser: no automatic redirects (the tests look at them), and the
/// session cookie kept by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
        }
    }

    fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.with_cookie(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.with_cookie(self.http.post(format!("{}{path}", self.base)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sign in with `token`; keeps the cookie.
    async fn sign_in(&mut self, token: &str) -> reqwest::Response {
        let resp = self
            .post("/login", &[("token", token), ("next", "/")])
            .await;
        if let Some(set) = resp.headers().get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
            self.cookie = Some(pair);
        }
        resp
    }

    async fn text(&self, path: &str) -> String {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.text().await.unwrap()
    }
}

fn location(resp: &reqwest::Response) -> &str {
    resp.headers()["location"].to_str().unwrap()
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn signing_in_makes_a_session_and_signing_out_ends_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);

    // Not signed in: pages send you to sign in, and bring you back.
    let resp = browser.get("/incidents/INC-1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/login?next=%2Fincidents%2FINC-1");
    let form = browser.text("/login?next=%2F").await;
    assert!(form.contains(r#"<label for="token">API token</label>"#));

    // A wrong token: refused, said so, no cookie.
    let resp = browser.sign_in("fb_not-a-token").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("set-cookie").is_none());
    assert!(resp.text().await.unwrap().contains("not valid"));

    // The printed admin token: a session cookie as the issue asks.
    let resp = browser.sign_in(&app.admin_token).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["firebell_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(
        !cookie.contains(&app.admin_token),
        "the cookie is not the token"
    );

    // Declaring from the list page: to the new incident's room.
    let list = browser.text("/").await;
    let resp = browser
        .post(
            "/incidents",
            &[
                ("csrf", &csrf(&list)),
                ("title", "Login broken"),
                ("severity", "P2"),
                ("service", "web"),
                ("service", "api"),
                ("commander", "omar"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let room = location(&resp).to_string();
    assert!(room.starts_with("/incidents/INC-"), "{room}");
    let (_, detail) = app.get(&format!("/api/v1{room}")).await;
    assert_eq!(detail["incident"]["services"], json!(["web", "api"]));
    assert_eq!(
        detail["incident"]["roles"]["incident_commander"],
        json!(["omar"])
    );
    assert_eq!(detail["timeline"][0]["actor"], "admin");
    let refused = browser
        .post(
            "/incidents",
            &[("csrf", &csrf(&list)), ("title", "x"), ("severity", "P9")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("P9"));

    // The list, with an incident declared through the API.
    let id = app
        .declare(json!({"title": "Checkout failing", "severity": "P1", "services": ["api"]}))
        .await;
    let list = browser.text("/").await;
    assert!(
        list.contains(&format!(r#"<a href="/incidents/{id}">{id}</a>"#)),
        "{list}"
    );
    assert!(list.contains("Checkout failing"));
    assert!(list.contains("Login broken"));
    let filtered = browser.text("/?status=resolved").await;
    assert!(!filtered.contains("Checkout failing"));
    let by_service = browser.text("/?service=web").await;
    assert!(!by_service.contains("Checkout failing"));

    // The cookie is no credential for the JSON API.
    let api = browser.get("/api/v1/incidents").await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // Signing out needs the form's CSRF token too, then ends the session.
    let refused = browser.post("/logout", &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let token = csrf(&list);
    let resp = browser.post("/logout", &[("csrf", &token)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/login");
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = browser.get("/").await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the old cookie is dead"
    );
}

async fn a_session_expires_and_dies_with_its_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    app.advance_mins(12 * 60 + 1);
    let resp = browser.get("/").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "expired after 12 h");
    assert!(location(&resp).starts_with("/login"));

    // A revoked token signs out its sessions.
    let secret = app.token("carol", "responder").await;
    let mut carol = Browser::new(&app);
    carol.sign_in(&secret).await;
    assert_eq!(carol.get("/").await.status(), StatusCode::OK);
    let (_, tokens) = app.get("/api/v1/tokens").await;
    let carol_id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "carol")
        .unwrap()["id"]
        .clone();
    let resp = app
        .http
        .delete(app.url(&format!("/api/v1/tokens/{carol_id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(carol.get("/").await.status(), StatusCode::SEE_OTHER);
}

async fn the_room_acts_through_forms_with_csrf(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("API errors"));
    assert!(room.contains("Next deadline"), "a countdown: {room}");
    assert!(room.contains("API runbook"), "the service's runbook");
    assert!(room.contains(r#"href="/incidents/"#), "its own link");
    let token = csrf(&room);

    // No CSRF token: refused, nothing written.
    let resp = browser
        .post(&format!("/incidents/{id}/notes"), &[("text", "forged")])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(app.events_of(&id, "note_added").await.is_empty());

    // With it: done as the token's name, and back to the room.
    let resp = browser
        .post(
            &format!("/incidents/{id}/notes"),
            &[("csrf", &token), ("text", "DB failover started")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("/incidents/{id}"));
    let notes = app.events_of(&id, "note_added").await;
    assert_eq!(notes[0]["text"], "DB failover started");
    assert_eq!(notes[0]["actor"], "admin");

    for (action, form) in [
        ("acknowledge", vec![]),
        (
            "updates",
            vec![
                ("status", "identified"),
                ("visibility", "public"),
                ("message", "We found it"),
            ],
        ),
        (
            "roles",
            vec![("role", "incident_commander"), ("person", "omar")],
        ),
        (
            "severity",
            vec![("severity", "P0"), ("reason", "all customers")],
        ),
        ("checklist", vec![("item", "first-15-minutes.impact")]),
        (
            "components",
            vec![
                ("item", "api.webhooks"),
                ("status", "operational"),
                ("reason", "webhooks unaffected"),
            ],
        ),
        ("tags", vec![("add", "data-loss, cannot-rollback")]),
        ("tags", vec![("add", ""), ("remove", "data-loss")]),
        ("resolve", vec![("summary", "rolled back")]),
        ("reopen", vec![("reason", "errors again")]),
    ] {
        let mut form = form;
        form.push(("csrf", &token));
        let resp = browser
            .post(&format!("/incidents/{id}/{action}"), &form)
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "{action}: {}",
            resp.text().await.unwrap()
        );
    }
    let (_, detail) = app.get(&format!("/api/v1/incidents/{id}")).await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "acknowledged",
        "status_updated",
        "role_assigned",
        "severity_changed",
        "checklist_item_ticked",
        "component_state_set",
        "tags_changed",
        "resolved",
        "reopened",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(detail["incident"]["severity"], "P0");
    assert_eq!(detail["incident"]["tags"], json!(["cannot-rollback"]));

    // A refused command shows the room again with the reason.
    let resp = browser
        .post(
            &format!("/incidents/{id}/severity"),
            &[("csrf", &token), ("severity", "P9"), ("reason", "x")],
        )
        .await;
    assert!(resp.status().is_client_error());
    let body = resp.text().await.unwrap();
    assert!(
        body.contains(r#"class="error" role="alert""#) && body.contains("P9"),
        "{body}"
    );
}

async fn viewers_see_but_do_not_act(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let secret = app.token("victor", "viewer").await;
    let mut viewer = Browser::new(&app);
    viewer.sign_in(&secret).await;
    let room = viewer.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("API errors"));
    assert!(
        !room.contains("Post an update"),
        "no action forms for a viewer"
    );
    let token = csrf(&room);
    let resp = viewer
        .post(
            &format!("/incidents/{id}/notes"),
            &[("csrf", &token), ("text", "hello")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(app.events_of(&id, "note_added").await.is_empty());
}

/// A second responder's action reaches an open room without a reload.
async fn the_timeline_is_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let room = browser.text(&format!("/incidents/{id}")).await;
    let after = room
        .split(r#"data-after=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let mut stream = browser
        .get(&format!("/incidents/{id}/events?after={after}"))
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"text": "Rolling back <v1.4>"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("Rolling back") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the note arrives within 10 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: timeline"), "{seen}");
    assert!(
        seen.contains("Rolling back &lt;v1.4&gt;"),
        "escaped: {seen}"
    );
    assert!(!seen.contains("declared P1"), "only what is new: {seen}");
}

/// The preview shows exactly what a template will post, in its direction.
async fn the_update_preview_renders_the_template(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let token = csrf(&browser.text(&format!("/incidents/{id}")).await);
    let resp = browser
        .post(
            &format!("/incidents/{id}/preview"),
            &[("csrf", &token), ("template", "initial"), ("locale", "ar")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"dir="rtl" lang="ar""#), "{html}");
    assert!(html.contains(&id), "{html}");
    assert!(
        app.events_of(&id, "status_updated").await.is_empty(),
        "a preview posts nothing"
    );
}

/// On call, alerts and silences, maintenance: seen and managed from the
/// console, with the API's own rules.
async fn oncall_alerts_and_maintenance_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    let oncall = browser.text("/oncall").await;
    assert!(oncall.contains("<h1>On call</h1>"));

    let page = browser.text("/alerts").await;
    let token = csrf(&page);
    // The API's rule: a silence says why.
    let refused = browser
        .post(
            "/silences",
            &[
                ("csrf", &token),
                ("matchers", r#"alertname="Disk""#),
                ("duration", "2h"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("comment"));
    let resp = browser
        .post(
            "/silences",
            &[
                ("csrf", &token),
                ("matchers", r#"alertname="Disk""#),
                ("duration", "2h"),
                ("comment", "disk swap tonight"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = browser.text("/alerts").await;
    assert!(page.contains("disk swap tonight"), "{page}");
    let (_, silences) = app.get("/api/v1/silences").await;
    let id = silences["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(silences["items"][0]["created_by"], "admin");
    let resp = browser
        .post(&format!("/silences/{id}/expire"), &[("csrf", &token)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, silences) = app.get("/api/v1/silences").await;
    assert_eq!(silences["items"][0]["state"], "expired");

    let page = browser.text("/maintenance").await;
    let token = csrf(&page);
    let resp = browser
        .post(
            "/maintenance",
            &[
                ("csrf", &token),
                ("title", "Database upgrade"),
                ("kind", "mode"),
                ("service", "web"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let status: serde_json::Value = app
        .http
        .get(app.url("/status/api/v2/status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"]["indicator"], "maintenance");
    let (_, windows) = app.get("/api/v1/maintenance").await;
    let id = windows["items"][0]["id"].as_str().unwrap().to_string();
    let resp = browser
        .post(&format!("/maintenance/{id}/end"), &[("csrf", &token)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let bad = browser
        .post(
            "/maintenance",
            &[("csrf", &token), ("title", "x"), ("kind", "someday")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

/// The room lists the pages sent and waiting; phone numbers only to
/// responders.
async fn the_room_lists_notifications(backend: Backend) {
    let recv = common::receiver::Receiver::start().await;
    let (_dir, source) = common::sms_ladder(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = app
        .declare(json!({"title": "API down", "severity": "P0", "escalation_policy": "ladder"}))
        .await;
    app.tick().await;
    let mut responder = Browser::new(&app);
    responder.sign_in(&app.admin_token).await;
    let room = responder.text(&format!("/incidents/{id}")).await;
    let panel = &room[room.find(r#"id="nt-h""#).expect("a notifications panel")..];
    assert!(panel.contains("alice") && panel.contains("sms"), "{panel}");
    assert!(
        panel.contains("+44 20 7946 0001") && panel.contains("pending"),
        "{panel}"
    );
    app.deliver().await;
    let room = responder.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("delivered"), "{room}");

    let secret = app.token("victor", "viewer").await;
    let mut viewer = Browser::new(&app);
    viewer.sign_in(&secret).await;
    let room = viewer.text(&format!("/incidents/{id}")).await;
    assert!(
        room.contains("(hidden)") && !room.contains("+44 20 7946 0001"),
        "{room}"
    );
}

/// People in the policy sign in with a password (Argon2id) and act as
/// themselves, with the role stored with it; a new password ends the old
/// sessions; a wrong name and a wrong password get the same answer.
async fn people_sign_in_with_a_password(backend: Backend) {
    use firebell_server::console::session::hash_password;
    let app = TestApp::spawn(backend).await;
    assert!(hash_password("short").is_err(), "at least 12 characters");
    let set = |password: &str| firebell_store::PasswordRecord {
        person: "alice".into(),
        hash: hash_password(password).unwrap(),
        role: firebell_store::Role::Responder,
        set_at: firebell_server::Clock::now(&app.clock),
    };
    app.state()
        .store
        .set_password(&set("correct horse battery"))
        .await
        .unwrap();
    let anonymous = Browser::new(&app);
    let login = |person: &'static str, password: &'static str| {
        let anonymous = &anonymous;
        async move {
            anonymous
                .post(
                    "/login",
                    &[("person", person), ("password", password), ("next", "/")],
                )
                .await
        }
    };
    let mut browser = Browser::new(&app);
    let wrong = login("alice", "wrong horse battery").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_text = wrong.text().await.unwrap();
    let nobody = login("mallory", "correct horse battery").await;
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_text.contains("wrong name or password"));
    assert!(
        nobody
            .text()
            .await
            .unwrap()
            .contains("wrong name or password")
    );

    let resp = login("alice", "correct horse battery").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let pair = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    browser.cookie = Some(pair);
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("alice <small>(responder)</small>"), "{room}");
    let resp = browser
        .post(
            &format!("/incidents/{id}/notes"),
            &[("csrf", &csrf(&room)), ("text", "on it")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.events_of(&id, "note_added").await[0]["actor"],
        "alice",
        "acts as herself"
    );

    // A new password ends the sessions made with the old one.
    app.advance_mins(1);
    app.state()
        .store
        .set_password(&set("another long secret"))
        .await
        .unwrap();
    assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        login("alice", "correct horse battery").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("alice", "another long secret").await.status(),
        StatusCode::SEE_OTHER
    );

    // Guessing stops after five misses in fifteen minutes, even for the
    // right password, until the window passes.
    for _ in 0..5 {
        assert_eq!(
            login("alice", "a guess at it").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let held = login("alice", "another long secret").await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        held.text()
            .await
            .unwrap()
            .contains("too many failed sign-ins")
    );
    app.advance_mins(16);
    assert_eq!(
        login("alice", "another long secret").await.status(),
        StatusCode::SEE_OTHER
    );
}

on_both_backends!(
    people_sign_in_with_a_password,
    the_room_lists_notifications,
    oncall_alerts_and_maintenance_pages,
    signing_in_makes_a_session_and_signing_out_ends_it,
    a_session_expires_and_dies_with_its_token,
    the_room_acts_through_forms_with_csrf,
    viewers_see_but_do_not_act,
    the_timeline_is_live,
    the_update_preview_renders_the_template,
    the_room_writes_the_postmortem_and_its_action_items,
    the_room_shows_changes_and_records_the_rollback,
);

/// The room's "Changes and rollback" card: the suspect deploy, the advice
/// with the service's procedures flag first, the freeze; the decision and a
/// runbook recorded through forms.
async fn the_room_shows_changes_and_records_the_rollback(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    let (status, v) = app
        .post(
            "/api/v1/deploys",
            json!({"id": "api-v42", "service": "api", "version": "v42", "previous_version": "v41"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = app
        .declare(json!({"title": "API errors", "severity": "P1", "services": ["api"]}))
        .await;
    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("Changes and rollback"), "{room}");
    assert!(room.contains("suspect"));
    assert!(
        room.contains("Redeploy the previous release"),
        "the app procedure"
    );
    assert!(room.contains("Deploys to api are frozen"), "{room}");
    let token = csrf(&room);
    let resp = browser
        .post(
            &format!("/incidents/{id}/runbooks"),
            &[("csrf", &token), ("item", "api-outage")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(
        room.contains("<code>curl -fsS "),
        "a step's command: {room}"
    );
    let resp = browser
        .post(
            &format!("/incidents/{id}/rollback"),
            &[
                ("csrf", &token),
                ("status", "rolled_back"),
                ("item", "api-v42"),
                ("text", "v41 is back"),
                ("resolve", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let decided = app.events_of(&id, "rollback_decided").await;
    assert_eq!(decided[0]["change"], "api-v42");
    assert_eq!(decided[0]["to_version"], "v41");
    assert_eq!(
        app.events_of(&id, "resolved").await[0]["summary"],
        "Incident resolved via rollback: v41 is back"
    );
    // A decision the form cannot name is refused in the room.
    let resp = browser
        .post(
            &format!("/incidents/{id}/rollback"),
            &[("csrf", &token), ("status", "maybe")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

/// The room's Postmortem and Action items cards: the draft from the log is
/// shown, saved, moved on (refused while unfinished, with the reason on
/// the page), its review scheduled; action items added and completed.
async fn the_room_writes_the_postmortem_and_its_action_items(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_token).await;
    let id = app
        .declare(json!({"title": "Checkout down", "severity": "P1", "services": ["api"]}))
        .await;
    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(
        room.contains("Action items"),
        "action items can be added while open"
    );
    assert!(!room.contains("id=\"pm-h\""), "no postmortem while open");
    let token = csrf(&room);
    let act = |action: &'static str| format!("/incidents/{id}/{action}");
    let resp = browser
        .post(
            &act("action-items"),
            &[
                ("csrf", &token),
                ("text", "Add a canary stage"),
                ("person", "omar"),
                ("at", "7d"),
                ("priority", "high"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = browser
        .post(
            &act("resolve"),
            &[("csrf", &token), ("summary", "rolled back")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("id=\"pm-h\""), "the postmortem card");
    assert!(room.contains("the draft from the log"), "{room}");
    assert!(room.contains("Add a canary stage"));
    // Not written yet: moving on is refused, and the page says why.
    let resp = browser
        .post(
            &act("postmortem-state"),
            &[("csrf", &token), ("status", "in_review")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("has not been written yet")
    );
    // Save a finished document, move it on, schedule the review.
    let (_, pm) = app.get(&format!("/api/v1/incidents/{id}/postmortem")).await;
    let doc = pm["document"]
        .as_str()
        .unwrap()
        .replace("_To be written._", "Done.");
    for (action, form) in [
        (
            "postmortem",
            vec![("text", doc.as_str()), ("person", "sara")],
        ),
        ("postmortem-state", vec![("status", "in_review")]),
        (
            "postmortem-review",
            vec![("at", "2026-12-08 10:00"), ("reason", "weekly review")],
        ),
        ("action-item", vec![("item", "1"), ("status", "complete")]),
    ] {
        let mut form = form;
        form.push(("csrf", &token));
        let resp = browser.post(&act(action), &form).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{action}");
    }
    let (_, pm) = app.get(&format!("/api/v1/incidents/{id}/postmortem")).await;
    assert_eq!(pm["postmortem"]["state"], "in_review");
    assert_eq!(pm["postmortem"]["owner"], "sara");
    assert_eq!(pm["postmortem"]["review"]["at"], "2026-12-08T10:00:00Z");
    assert_eq!(pm["postmortem"]["review"]["place"], "weekly review");
    let (_, items) = app
        .get(&format!("/api/v1/action-items?incident={id}"))
        .await;
    assert_eq!(items["items"][0]["status"], "complete");
    assert_eq!(items["items"][0]["priority"], "high");
    let room = browser.text(&format!("/incidents/{id}")).await;
    assert!(room.contains("Move to published"), "{room}");
    // A bad time is refused with a clear message, nothing written.
    let resp = browser
        .post(
            &act("postmortem-review"),
            &[("csrf", &token), ("at", "next tuesday")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
