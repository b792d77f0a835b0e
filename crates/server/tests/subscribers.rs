//! Status page subscribers end to end: sign-up (JSON and the page's form),
//! double opt-in, what they are told (public updates and maintenance, per
//! component; never internal updates or notes), one-click unsubscribe,
//! sign-up limits and bad input. Email goes to the SMTP sink in
//! `common/smtp.rs`, webhooks to the receiver in `common/receiver.rs`.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use base64::Engine as _;
use common::receiver::Receiver;
use common::{Backend, TestApp};
use firebell_server::clock::Clock;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    email_subscribers_confirm_hear_public_updates_and_leave_with_one_click,
    s001_sev1_customer_email,
    webhook_subscribers_get_signed_maintenance_posts_and_a_reminder_an_hour_before,
    sign_ups_are_checked_and_limited,
);

/// The Dealix SEV policy (seed 001) with its email relay pointed at `sink`.
fn dealix(sink: &smtp::SmtpSink) -> (tempfile::TempDir, firebell_server::PolicySource) {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/dealix-sev.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let relay = r#"smtp = { host = "smtp.dealix.example", from = "Dealix alerts <alerts@dealix.example>" }"#;
    assert!(text.contains(relay));
    let text = text.replace(
        relay,
        &format!(
            r#"smtp = {{ host = "127.0.0.1", port = {}, tls = "none", from = "Dealix status <status@dealix.example>" }}"#,
            sink.port()
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, text).unwrap();
    (dir, firebell_server::PolicySource::File(file))
}

/// A mail as the sink took it: headers, and its text and HTML parts with
/// their transfer encoding undone.
struct Mail {
    raw: String,
    text: String,
    html: String,
}

impl Mail {
    fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        // Unfold continuation lines first.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

fn mail(received: &smtp::Received) -> Mail {
    let raw = received.data_str();
    let boundary = raw
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a multipart mail")
        .to_string();
    let part = |kind: &str| -> String {
        let at = raw
            .find(&format!("Content-Type: {kind}"))
            .unwrap_or_else(|| panic!("a {kind} part"));
        let (headers, rest) = raw[at..].split_once("\r\n\r\n").unwrap();
        let body = &rest[..rest
            .find(&format!("\r\n--{boundary}"))
            .unwrap_or(rest.len())];
        if headers.contains("Content-Transfer-Encoding: base64") {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap(),
            )
            .unwrap()
        } else if headers.contains("quoted-printable") {
            quoted_printable(body)
        } else {
            body.to_string()
        }
    };
    Mail {
        text: part("text/plain"),
        html: part("text/html"),
        raw,
    }
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The first http(s) URL in `text` containing `part`.
fn link(text: &str, part: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(part))
        .unwrap_or_else(|| panic!("no link with {part:?} in {text}"))
        .trim_end_matches(['>', '.'])
        .to_string()
}

async fn sign_up(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(app.url("/status/subscriptions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn path_of(url: &str) -> String {
    let after = url.split_once("://").unwrap().1;
    after[after.find('/').unwrap()..].to_string()
}

async fn email_subscribers_confirm_hear_public_updates_and_leave_with_one_click(backend: Backend) {
    let sink = smtp::SmtpSink::start().await;
    let (_dir, policy) = dealix(&sink);
    let app = TestApp::spawn_with_policy(backend, policy).await;

    let (status, answer) = sign_up(
        &app,
        json!({"email": "Customer@Example.COM", "locale": "en"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["state"], "pending");
    assert!(
        answer.get("secret").is_none(),
        "email sign-ups have no secret"
    );

    // The confirmation request, and nothing else yet.
    let (fanned, sent) = app.tell_subscribers().await;
    assert_eq!((fanned.messages, sent.delivered), (0, 1));
    let confirm_mail = mail(&sink.messages()[0]);
    assert_eq!(sink.messages()[0].rcpt_to, ["customer@example.com"]);
    assert!(
        confirm_mail.header("List-Unsubscribe").is_none(),
        "nothing to unsubscribe from yet"
    );
    let confirm = link(&confirm_mail.text, "/confirm?token=");

    // A SEV-1 opens while the sign-up is unconfirmed: it is told nothing.
    let id = app
        .declare(json!({"title": "Dealix is down", "severity": "SEV-1", "services": ["backend"]}))
        .await;
    app.tell_subscribers().await;
    assert_eq!(sink.messages().len(), 1);

    // Following the link shows a button (a mail scanner opening it confirms
    // nothing); pressing it confirms.
    let page = app.http.get(&confirm).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<button type=\"submit\">Confirm</button>"),
        "{html}"
    );
    let (_, listed) = app.get("/api/v1/subscribers?state=pending").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let token = confirm.split("token=").nth(1).unwrap();
    let resp = app
        .http
        .post(app.url(path_of(&confirm).split('?').next().unwrap()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("You are subscribed"));
    let (_, listed) = app.get("/api/v1/subscribers?state=confirmed").await;
    let subscriber = &listed["items"][0];
    assert_eq!(subscriber["address"], "customer@example.com");
    assert!(subscriber.get("secret").is_none());

    // A public update reaches it; an internal update and a note do not.
    app.advance_mins(5);
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"visibility": "internal", "message": "INTERNAL: db primary is wedged"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    app.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"text": "NOTE: rollback candidate 1f2e3d"}),
    )
    .await;
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id}/updates"),
            json!({"visibility": "public", "status": "identified",
                   "message": "We found the cause and are fixing it."}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let (fanned, sent) = app.tell_subscribers().await;
    assert_eq!(
        (fanned.messages, sent.delivered),
        (1, 1),
        "{fanned:?} {sent:?}"
    );
    let update = mail(&sink.messages()[1]);
    assert!(
        update
            .text
            .contains("We found the cause and are fixing it."),
        "{}",
        update.text
    );
    assert!(!update.text.contains("INTERNAL") && !update.text.contains("NOTE"));
    let subject = update.header("Subject").unwrap();
    assert!(
        subject.contains("Identified") && subject.contains("Dealix is down"),
        "{subject}"
    );
    // The SEV-1 notice was posted before the subscription was confirmed:
    // it is not sent after the fact.
    assert!(!update.text.contains("temporary technical problem"));
    // RFC 8058 one-click unsubscribe, and the link in the text.
    assert_eq!(
        update.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let header = update.header("List-Unsubscribe").unwrap();
    let unsubscribe = header.trim_matches(['<', '>']).to_string();
    assert_eq!(unsubscribe, link(&update.text, "/unsubscribe?token="));
    // Telling again sends nothing twice.
    let (fanned, sent) = app.tell_subscribers().await;
    assert_eq!((fanned.messages, sent.delivered), (0, 0));

    // A forged token is refused.
    let forged = unsubscribe.replace("token=", "token=AAAA");
    let resp = app
        .http
        .post(&forged)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The mail client's one click: one POST.
    let resp = app
        .http
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("unsubscribed"));
    app.post(
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"visibility": "public", "status": "monitoring", "message": "Fixed; watching."}),
    )
    .await;
    let (fanned, _) = app.tell_subscribers().await;
    assert_eq!(fanned.messages, 0);
    assert_eq!(sink.messages().len(), 2);
    let (_, listed) = app.get("/api/v1/subscribers?state=unsubscribed").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

/// Confirm an email subscriber through its mail, the way a person does.
async fn subscribe_by_email(
    app: &TestApp,
    sink: &smtp::SmtpSink,
    email: &str,
    components: &[&str],
) {
    let (status, v) = sign_up(app, json!({"email": email, "components": components})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    app.tell_subscribers().await;
    let received = sink
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.rcpt_to == [email])
        .expect("a confirmation");
    let confirm = link(&mail(&received).text, "/confirm?token=");
    let resp = app
        .http
        .post(&confirm)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["state"], "confirmed");
}

/// s001 SEV-1: "immediate Slack + email customers". Declaring a SEV-1 posts
/// the Arabic customer notice (the seed's text) publicly at once, and it is
/// mailed to the subscribers of the affected components, in Arabic, right
/// to left; a subscriber to an unaffected component hears nothing.
async fn s001_sev1_customer_email(backend: Backend) {
    let sink = smtp::SmtpSink::start().await;
    let (_dir, policy) = dealix(&sink);
    let app = TestApp::spawn_with_policy(backend, policy).await;
    subscribe_by_email(&app, &sink, "api-user@example.com", &["backend.api"]).await;
    subscribe_by_email(
        &app,
        &sink,
        "payments-user@example.com",
        &["payments.payments"],
    )
    .await;
    subscribe_by_email(&app, &sink, "everything@example.com", &[]).await;
    let before = sink.messages().len();

    app.advance_mins(1);
    let id = app
        .declare(json!({"title": "Dealix is down", "severity": "SEV-1", "services": ["backend"]}))
        .await;
    // The notice is on the timeline as a public update, by the declaration.
    let updates = app.events_of(&id, "status_updated").await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["visibility"], "public");
    assert_eq!(updates[0]["template"], "customer");
    assert_eq!(updates[0]["locale"], "ar");
    // And on the status page.
    let page = app
        .http
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("نواجه مشكلة فنية مؤقتة في النظام"), "{page}");

    let (fanned, sent) = app.tell_subscribers().await;
    assert_eq!(
        (fanned.messages, sent.delivered),
        (2, 2),
        "{fanned:?} {sent:?}"
    );
    let new: Vec<_> = sink.messages()[before..].to_vec();
    let mut to: Vec<&str> = new.iter().map(|m| m.rcpt_to[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["api-user@example.com", "everything@example.com"]);
    let m = mail(&new[0]);
    assert!(
        m.text
            .contains("نواجه مشكلة فنية مؤقتة في النظام. الفريق يعمل على حلها."),
        "{}",
        m.text
    );
    assert!(m.text.contains("سنحدثكم خلال 30 دقيقة."));
    assert_eq!(m.header("Content-Language").as_deref(), Some("ar"));
    assert!(
        m.html.contains("dir=\"rtl\""),
        "the HTML part is right to left"
    );

    // Raising a SEV-2 to SEV-1 tells customers too, once.
    let id2 = app
        .declare(
            json!({"title": "Payments failing", "severity": "SEV-2", "services": ["payments"]}),
        )
        .await;
    assert!(app.events_of(&id2, "status_updated").await.is_empty());
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{id2}/severity"),
            json!({"severity": "SEV-1", "reason": "no customer can pay"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    assert_eq!(app.events_of(&id2, "status_updated").await.len(), 1);
    let (fanned, _) = app.tell_subscribers().await;
    assert_eq!(fanned.messages, 2, "payments and everything: {fanned:?}");

    // A SEV-1 drill tells no customer: no notice, nothing to subscribers,
    // even of a public update posted on it.
    let drill = app
        .declare(
            json!({"title": "Game day: backend down", "severity": "SEV-1",
                        "services": ["backend"], "drill": true}),
        )
        .await;
    assert!(app.events_of(&drill, "status_updated").await.is_empty());
    let (status, v) = app
        .post(
            &format!("/api/v1/incidents/{drill}/updates"),
            json!({"message": "drill update", "visibility": "public"}),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let (fanned, _) = app.tell_subscribers().await;
    assert_eq!(
        fanned.messages, 0,
        "a drill reaches no subscriber: {fanned:?}"
    );
}

/// Webhook subscribers: the secret is shown once, every delivery is signed
/// with it, the confirmation comes as a signed request carrying its
/// `confirm_url`, and a scheduled window is announced, reminded an hour
/// before, started and completed. A subscriber to other components hears
/// none of it; an endpoint answering 410 Gone is unsubscribed.
async fn webhook_subscribers_get_signed_maintenance_posts_and_a_reminder_an_hour_before(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let other = Receiver::start().await;

    let (status, answer) = sign_up(
        &app,
        json!({"webhook": format!("{}/hooks/status", receiver.url), "components": ["api.webhooks"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let secret = answer["secret"].as_str().unwrap().to_string();
    let sub_id = answer["id"].as_str().unwrap().to_string();
    let (status, _) = sign_up(
        &app,
        json!({"webhook": format!("{}/hooks/web", other.url), "components": ["web.login"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.tell_subscribers().await;

    let confirm_request = &receiver.received()[0];
    assert_eq!(confirm_request.body["type"], "subscription.confirm");
    // The signature: t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
    let sig = confirm_request.headers["x-firebell-signature"]
        .to_str()
        .unwrap()
        .to_string();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.trim_start_matches("t=");
    let body = serde_json::to_vec(&confirm_request.body).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    // The receiver re-serialised the JSON; compare against the canonical
    // form only if it round-trips byte for byte (serde_json does for ours).
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        v1,
        "signed with the secret"
    );

    for r in [&receiver, &other] {
        let confirm_url = r.received()[0].body["confirm_url"]
            .as_str()
            .unwrap()
            .to_string();
        let resp = app
            .http
            .post(&confirm_url)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    // A window on the API, 3 hours from now, for 30 minutes.
    app.advance_mins(1);
    let now = app.clock.now();
    let starts = now + jiff::SignedDuration::from_hours(3);
    let (status, w) = app
        .post(
            "/api/v1/maintenance",
            json!({"title": "Webhook queue migration", "services": ["api"], "kind": "scheduled",
                   "starts_at": starts.to_string(), "duration": "30m"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let types = |r: &Receiver| -> Vec<String> {
        r.bodies()
            .iter()
            .map(|b| b["type"].as_str().unwrap().to_string())
            .collect()
    };
    app.tell_subscribers().await;
    assert_eq!(
        types(&receiver),
        ["subscription.confirm", "maintenance.scheduled"]
    );
    let announced = &receiver.bodies()[1];
    assert_eq!(announced["maintenance"]["name"], "Webhook queue migration");
    let ids: Vec<&str> = announced["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["api.rest-api", "api.webhooks"], "{announced}");
    assert!(
        announced["unsubscribe_url"]
            .as_str()
            .unwrap()
            .contains("/unsubscribe?token=")
    );

    // Nothing more until an hour before the start.
    app.clock.advance(jiff::SignedDuration::from_mins(115));
    app.tell_subscribers().await;
    assert_eq!(receiver.bodies().len(), 2);
    app.clock.advance(jiff::SignedDuration::from_mins(5));
    app.tell_subscribers().await;
    assert_eq!(types(&receiver)[2], "maintenance.reminder");
    app.clock.advance(jiff::SignedDuration::from_mins(61));
    app.tell_subscribers().await;
    assert_eq!(types(&receiver)[3], "maintenance.started");
    app.clock.advance(jiff::SignedDuration::from_mins(30));
    app.tell_subscribers().await;
    assert_eq!(
        types(&receiver),
        [
            "subscription.confirm",
            "maintenance.scheduled",
            "maintenance.reminder",
            "maintenance.started",
            "maintenance.completed"
        ]
    );
    // Every delivery carries a distinct idempotency key.
    let keys: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 5);
    // The login subscriber heard only its confirmation.
    assert_eq!(types(&other), ["subscription.confirm"]);

    // 410 Gone: the endpoint is gone for good, so it is unsubscribed.
    receiver.script(&[common::receiver::Answer::Status(410)]);
    let id = app
        .declare(json!({"title": "Webhooks delayed", "severity": "P1", "services": ["api"]}))
        .await;
    app.post(
        &format!("/api/v1/incidents/{id}/updates"),
        json!({"visibility": "public", "message": "Webhook deliveries are delayed."}),
    )
    .await;
    let (_, sent) = app.tell_subscribers().await;
    assert_eq!(sent.dead, 1, "{sent:?}");
    let (_, listed) = app.get("/api/v1/subscribers?state=unsubscribed").await;
    assert_eq!(listed["items"][0]["id"], sub_id.as_str(), "{listed}");
}

async fn sign_ups_are_checked_and_limited(backend: Backend) {
    let sink = smtp::SmtpSink::start().await;
    let (_dir, policy) = dealix(&sink);
    let app = TestApp::spawn_with_policy(backend, policy).await;

    let cases = [
        (
            json!({"email": "not an address"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
        (
            json!({"email": "a@example.com", "webhook": "https://example.com/h"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            json!({"webhook": "https://example.com/h"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_subscriptions_off",
        ),
        (
            json!({"email": "a@example.com", "components": ["backend.nope"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_component",
        ),
        (
            json!({"email": "a@example.com", "locale": "fr"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_locale",
        ),
        (
            json!({"email": "a@example.com", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let (got, v) = sign_up(&app, body.clone()).await;
        assert_eq!(got, status, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
    }
    // Nothing was stored or queued by any of them.
    let (_, listed) = app.get("/api/v1/subscribers").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);

    // Three sign-ups an hour per address; the fourth waits (429).
    for _ in 0..3 {
        let (status, v) = sign_up(&app, json!({"email": "again@example.com"})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    }
    let resp = app
        .http
        .post(app.url("/status/subscriptions"))
        .json(&json!({"email": "again@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "3600");
    // Renewed, not duplicated: one pending subscriber for that address.
    let (_, listed) = app.get("/api/v1/subscribers?state=pending").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // An hour later the address may sign up again.
    app.clock.advance(jiff::SignedDuration::from_mins(61));
    let (status, _) = sign_up(&app, json!({"email": "again@example.com"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // The page's own form answers with a page, in the page's language.
    let resp = app
        .http
        .post(app.url("/status/subscriptions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("locale=ar&email=form%40example.com&component=backend.api")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("dir=\"rtl\"") && html.contains("أرسلنا رابط تأكيد"),
        "{html}"
    );

    // Subscribers are customers' addresses: admins only.
    let viewer = app.token("viewer", "viewer").await;
    let resp = app
        .http
        .get(app.url("/api/v1/subscribers"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The page offers the form, with the components to choose from.
    let page = app
        .http
        .get(app.url("/status?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"action="/status/subscriptions""#), "{page}");
    assert!(page.contains(r#"value="payments.payments""#), "{page}");
}
