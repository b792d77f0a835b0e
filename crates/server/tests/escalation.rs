//! Escalation, reminders and notifications end to end: the real server with
//! a manual clock, the scheduler and dispatcher driven by hand (`tick`,
//! `deliver`), and an in-test receiver standing in for SMS/voice/Slack.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use common::receiver::{Answer, Receiver};
use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A small policy: a weekly rotation (omar is on call at T0), a two-step
/// ladder repeated once, and notifiers pointing at `recv`. No reminders or
/// response targets, so only the ladder pages (the seed policies' reminders
/// are tested in `rules.rs`).
fn policy(recv: &Receiver, extra: &str) -> (tempfile::TempDir, firebell_server::PolicySource) {
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
channels = ["chat", "phone", "sms"]

[[severities]]
name = "P2"
paging = "business_hours"
channels = ["chat"]

[people.alice]
name = "Alice"
contacts = [{{ kind = "email", address = "alice@example.com" }}, {{ kind = "sms", address = "+44 20 7946 0001" }}]

[people.omar]
name = "Omar"
contacts = [{{ kind = "email", address = "omar@example.com" }}, {{ kind = "phone", address = "+966 11 555 0102" }}]

[people.sara]
name = "Sara"
contacts = [{{ kind = "email", address = "sara@example.com" }}, {{ kind = "slack", address = "@sara" }}]

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
[notifiers.slack]
url = "{url}/slack"
secret = "slack-secret"
{extra}
"#,
            url = recv.url
        ),
    )
    .unwrap();
    (dir, firebell_server::PolicySource::File(path))
}

async fn declare_p0(app: &TestApp) -> String {
    app.declare(json!({"title": "API down", "severity": "P0", "escalation_policy": "ladder"}))
        .await
}

fn people(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .flat_map(|e| e["notified"].as_array().unwrap().iter())
        .map(|n| n["person"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends!(
    a_step_policy_pages_on_call_then_the_next_level,
    acknowledging_stops_every_later_step,
    a_late_tick_fires_each_missed_step_once_and_a_clock_jump_back_fires_nothing,
    a_receiver_failing_then_limiting_then_hanging_gets_each_page_once,
    a_page_that_keeps_failing_is_dead_lettered_on_the_timeline,
    an_ack_racing_a_due_step_pages_nobody_after_it_commits,
    a_restart_mid_escalation_loses_and_doubles_nothing,
    the_ack_link_shows_a_button_and_acknowledges_on_post,
    an_ack_link_works_until_it_expires_and_then_says_so,
    a_reopen_retires_the_ack_links_of_the_earlier_round,
    a_second_click_says_already_acknowledged,
    an_ack_link_with_an_altered_expiry_or_round_is_refused,
    a_reloaded_policy_rewrites_the_timers_of_open_incidents,
    a_page_by_email_really_talks_smtp,
    two_replicas_racing_for_the_same_timers_fire_each_step_once,
    a_declaration_queues_its_first_page_in_the_same_write,
    a_step_that_reaches_nobody_is_loud,
    more_timers_due_at_once_than_a_batch_holds_all_fire_once,
);

/// A mass event: more incidents due at once than one scheduler batch holds
/// (1,000). One call fires them all, batch after batch (each claimed while
/// the one before is written), every step once with its page queued; the
/// next call finds nothing.
async fn more_timers_due_at_once_than_a_batch_holds_all_fire_once(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let mut ids = Vec::new();
    for _ in 0..2_001 {
        ids.push(declare_p0(&app).await);
    }
    app.advance_mins(30);
    let round = app.tick().await;
    assert_eq!(round.incidents, 2_001, "{round:?}");
    assert_eq!(round.intents, 2_001, "one page each, for Sara: {round:?}");
    // Lateness is measured at each batch's commit: three batches, every
    // incident counted once, at the (manual) clock's instant.
    let batches: Vec<usize> = round.committed.iter().map(|(n, _)| *n).collect();
    assert_eq!(batches, [1_000, 1_000, 1], "{round:?}");
    let now = firebell_server::Clock::now(&app.clock);
    assert!(
        round.committed.iter().all(|(_, at)| *at == now),
        "{round:?}"
    );
    assert_eq!(app.tick().await.incidents, 0, "nothing fires twice");
    for id in [&ids[0], &ids[999], &ids[1_000], &ids[1_999], &ids[2_000]] {
        let steps = app.events_of(id, "escalated").await;
        let levels: Vec<u64> = steps.iter().map(|s| s["level"].as_u64().unwrap()).collect();
        assert_eq!(levels, [0, 1], "{id}");
    }
}

/// Issue 16: a P0 whose step reaches nobody is not silent. The timeline
/// says who could not be reached, the admins are paged with the reason, and
/// `/metrics` counts it.
async fn a_step_that_reaches_nobody_is_loud(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(
        &recv,
        r#"
[people.dana]
name = "Dana"
contacts = [{ kind = "email", address = "dana@example.com" }]

[[escalation_policies]]
name = "void"
[[escalation_policies.steps]]
targets = ["person:dana"]
"#,
    );
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = app
        .declare(json!({"title": "API down", "severity": "P0", "escalation_policy": "void"}))
        .await;
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(steps.len(), 1, "{steps:?}");
    let unreachable = steps[0]["unreachable"].as_array().unwrap();
    assert!(
        unreachable[0]
            .as_str()
            .unwrap()
            .starts_with("dana: no contact with a configured notifier"),
        "{steps:?}"
    );
    assert_eq!(people(&steps), ["dana", "alice"], "the admin is told");
    assert_eq!(app.deliver().await.delivered, 1);
    let got = recv.received();
    assert_eq!(got.len(), 1, "alice's SMS");
    let text = got[0].body["text"].as_str().unwrap();
    assert!(
        text.contains("NOBODY REACHABLE (dana: no contact"),
        "{text}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("firebell_unreachable_total{type=\"escalated\"}"),
        "{metrics}"
    );
}

/// The first step is due at declaration: it is written with the declaration
/// itself, so the page waits for no scheduler round (under a flood, each
/// write waits its turn at the database).
async fn a_declaration_queues_its_first_page_in_the_same_write(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;

    // No scheduler round has run: the declaration wrote L1 and its page.
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["step"], "L1");
    assert_eq!(steps[0]["actor"], "system");
    let (_, incident) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(steps[0]["at"], incident["incident"]["declared_at"]);
    let queued = app.notifications(&id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["person"], "omar");

    // The scheduler finds nothing left to do now, and L2 still waits.
    assert_eq!(app.tick().await.intents, 0);
    assert_eq!(app.deliver().await.delivered, 1);
    assert_eq!(recv.received().len(), 1);
    app.advance_mins(30);
    app.tick().await;
    assert_eq!(
        people(&app.events_of(&id, "escalated").await),
        ["omar", "sara"]
    );
}

async fn a_step_policy_pages_on_call_then_the_next_level(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;

    app.tick().await;
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["step"], "L1");
    assert_eq!(people(&steps), ["omar"]);
    // P0 channels are chat, phone, sms, status_page: omar's phone, not his email.
    assert_eq!(steps[0]["notified"][0]["channels"], json!(["phone"]));

    assert_eq!(app.deliver().await.delivered, 1);
    let got = recv.received();
    assert_eq!(got.len(), 1);
    let page = &got[0].body;
    assert_eq!(page["incident_id"], id.as_str());
    assert_eq!(page["person"], "omar");
    assert_eq!(page["address"], "+966 11 555 0102");
    assert!(
        page["ack_url"].as_str().unwrap().contains("/ack/"),
        "{page}"
    );
    assert_eq!(
        got[0].headers["idempotency-key"].to_str().unwrap(),
        app.notifications(&id).await[0]["id"].as_str().unwrap()
    );
    let delivered = app.events_of(&id, "notification").await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["outcome"], "delivered");

    // Nothing more before L2's 30 minutes.
    app.advance_mins(29);
    app.tick().await;
    assert_eq!(app.events_of(&id, "escalated").await.len(), 1);
    app.advance_mins(1);
    app.tick().await;
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(people(&steps), ["omar", "sara"]);
    app.deliver().await;
    let slack = &recv.received()[1];
    assert!(
        slack.body["text"].as_str().unwrap().starts_with("@sara"),
        "{:?}",
        slack.body
    );
    assert!(
        slack.headers["x-firebell-signature"]
            .to_str()
            .unwrap()
            .contains("v1="),
        "a notifier with a secret signs its requests"
    );
    // The second round starts `repeat_after` after L2, then stops for good.
    app.advance_mins(20);
    app.tick().await;
    app.advance_mins(30);
    app.tick().await;
    app.advance_mins(600);
    app.tick().await;
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(people(&steps), ["omar", "sara", "omar", "sara"]);
    assert_eq!(steps[2]["round"], 1);
}

async fn acknowledging_stops_every_later_step(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    // The L1 page is not delivered yet when omar acknowledges (he saw the alert).
    let (status, v) = app
        .post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        app.deliver().await.delivered,
        0,
        "the pending page was cancelled"
    );
    let n = app.notifications(&id).await;
    assert_eq!(n[0]["state"], "cancelled");
    for _ in 0..6 {
        app.advance_mins(30);
        app.tick().await;
        app.deliver().await;
    }
    assert_eq!(app.events_of(&id, "escalated").await.len(), 1);
    assert!(recv.received().is_empty(), "nobody is paged after the ack");
    let (_, agenda) = app.get(&format!("/api/v1/incidents/{id}/agenda")).await;
    assert!(
        !agenda["due"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["key"].as_str().unwrap().starts_with("step:")),
        "{agenda}"
    );

    // Resolved, then it comes back: reopening clears the acknowledgement, so
    // the ladder starts again from L1 until someone owns it again.
    for (command, body) in [
        ("resolve", json!({"summary": "restarted"})),
        ("reopen", json!({"reason": "down again"})),
    ] {
        let (status, v) = app
            .post(&format!("/api/v1/incidents/{id}/{command}"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{command}: {v}");
    }
    app.tick().await;
    let escalated = app.events_of(&id, "escalated").await;
    assert_eq!(escalated.len(), 2, "L1 is paged again after the reopen");
    assert_eq!(escalated[1]["level"], 0);
}

async fn a_late_tick_fires_each_missed_step_once_and_a_clock_jump_back_fires_nothing(
    backend: Backend,
) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    // The scheduler was down for an hour and a half: L1, L2, and the second
    // round's L1 (at 50m) and L2 (at 80m) were all missed.
    app.advance_mins(90);
    app.tick().await;
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(people(&steps), ["omar", "sara", "omar", "sara"]);
    let due: Vec<&str> = steps
        .iter()
        .map(|s| s["due_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        due,
        [
            "2026-11-23T10:00:00Z",
            "2026-11-23T10:30:00Z",
            "2026-11-23T10:50:00Z",
            "2026-11-23T11:20:00Z"
        ]
    );
    // Ticking again, and after the clock jumps back an hour, fires nothing.
    app.tick().await;
    app.clock.advance(jiff::SignedDuration::from_mins(-60));
    app.tick().await;
    app.advance_mins(60);
    app.tick().await;
    assert_eq!(app.events_of(&id, "escalated").await.len(), 4);
    app.deliver().await;
    // Two pages to omar (phone), two to sara (slack): one request each.
    assert_eq!(recv.received().len(), 4);
}

async fn a_receiver_failing_then_limiting_then_hanging_gets_each_page_once(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    // A short timeout so the hang costs the test a second, not ten.
    let source = with_phone_timeout(source);
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    recv.script(&[
        Answer::Status(500),
        Answer::RetryAfter(429, 120),
        Answer::Hang,
    ]);
    app.tick().await;

    // 500: retried after a backoff of about 10 s (±20%).
    assert_eq!(app.deliver().await.retried, 1);
    let n = &app.notifications(&id).await[0];
    assert_eq!(n["state"], "pending");
    assert!(n["last_error"].as_str().unwrap().contains("500"), "{n}");
    assert_eq!(app.deliver().await.retried, 0, "not before its backoff");
    app.clock.advance(jiff::SignedDuration::from_secs(13));
    // 429 with Retry-After: 120 is honoured exactly.
    assert_eq!(app.deliver().await.retried, 1);
    app.clock.advance(jiff::SignedDuration::from_secs(119));
    assert_eq!(app.deliver().await.retried, 0, "Retry-After is honoured");
    app.clock.advance(jiff::SignedDuration::from_secs(1));
    // Hang: the attempt times out and is retried.
    assert_eq!(app.deliver().await.retried, 1);
    app.clock.advance(jiff::SignedDuration::from_secs(60));
    assert_eq!(app.deliver().await.delivered, 1);
    let got = recv.received();
    assert_eq!(got.len(), 4);
    let keys: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carries the same idempotency key"
    );
    let outcomes: Vec<String> = app
        .events_of(&id, "notification")
        .await
        .iter()
        .map(|e| format!("{}#{}", e["outcome"].as_str().unwrap(), e["attempt"]))
        .collect();
    assert_eq!(
        outcomes,
        ["failed#1", "failed#2", "failed#3", "delivered#4"]
    );
    // Acknowledged: nothing more is ever sent.
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    for _ in 0..4 {
        app.advance_mins(30);
        app.tick().await;
        app.deliver().await;
    }
    assert_eq!(recv.received().len(), 4);
}

fn with_phone_timeout(source: firebell_server::PolicySource) -> firebell_server::PolicySource {
    let firebell_server::PolicySource::File(path) = &source else {
        unreachable!()
    };
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.replace(
        "[notifiers.phone]\n",
        "[notifiers.phone]\ntimeout = \"1s\"\nmax_attempts = 5\n",
    );
    std::fs::write(path, text).unwrap();
    source
}

async fn a_page_that_keeps_failing_is_dead_lettered_on_the_timeline(backend: Backend) {
    let recv = Receiver::start().await;
    // 404 is permanent: dead at once. Alice (an admin, reachable by sms) hears of it.
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    recv.script(&[Answer::Status(404)]);
    app.tick().await;
    let round = app.deliver().await;
    assert_eq!(round.dead, 1);
    let events = app.events_of(&id, "notification").await;
    assert_eq!(events[0]["outcome"], "dead_lettered");
    assert!(events[0]["error"].as_str().unwrap().contains("404"));
    // The meta-notification to the admin goes out on another channel (sms).
    assert_eq!(app.deliver().await.delivered, 1);
    let got = recv.received();
    assert_eq!(got[1].body["person"], "alice");
    assert_eq!(got[1].body["channel"], "sms");
    assert!(got[1].body["text"].as_str().unwrap().contains("omar"));
}

async fn an_ack_racing_a_due_step_pages_nobody_after_it_commits(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    for _ in 0..5 {
        let id = declare_p0(&app).await;
        app.tick().await;
        app.deliver().await;
        let before = recv.received().len();
        // L2 falls due exactly as someone acknowledges: run both at once.
        app.advance_mins(30);
        let path = format!("/api/v1/incidents/{id}/acknowledge");
        let ack = app.post(&path, json!({}));
        let (tick, (status, _)) = tokio::join!(app.tick(), ack);
        assert_eq!(status, StatusCode::OK);
        let _ = tick;
        app.deliver().await;
        let timeline = app.get(&format!("/api/v1/incidents/{id}")).await.1["timeline"].clone();
        let ack_seq = timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "acknowledged")
            .unwrap()["seq"]
            .as_u64()
            .unwrap();
        // Either L2 fired before the ack (and was then cancelled if unsent),
        // or not at all; never after it.
        for e in timeline.as_array().unwrap() {
            if e["type"] == "escalated" {
                assert!(e["seq"].as_u64().unwrap() < ack_seq, "{e}");
            }
        }
        let sent_after: Vec<_> = recv.received()[before..]
            .iter()
            .filter(|r| r.body["incident_id"] == id.as_str())
            .cloned()
            .collect();
        assert!(sent_after.is_empty(), "paged after the ack: {sent_after:?}");
    }
}

async fn a_restart_mid_escalation_loses_and_doubles_nothing(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let mut app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    app.advance_mins(30);
    // L2 is due but the server goes away before any tick.
    app.restart().await;
    app.tick().await;
    app.tick().await;
    app.deliver().await;
    app.deliver().await;
    let steps = app.events_of(&id, "escalated").await;
    assert_eq!(people(&steps), ["omar", "sara"]);
    assert_eq!(recv.received().len(), 2);
}

async fn the_ack_link_shows_a_button_and_acknowledges_on_post(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    app.deliver().await;
    let link = recv.received()[0].body["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.starts_with(&app.base), "{link} on {}", app.base);
    let page = app.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Acknowledge as omar"), "{html}");
    assert!(
        app.events_of(&id, "acknowledged").await.is_empty(),
        "GET changes nothing"
    );
    let done = app.http.post(&link).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let acked = app.events_of(&id, "acknowledged").await;
    assert_eq!(acked[0]["actor"], "omar");
    // A tampered link is refused.
    let bad = app.http.post(format!("{link}x")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
}

/// The ack links the receiver got for `person`, in the order sent.
fn ack_links(recv: &Receiver, person: &str) -> Vec<String> {
    recv.received()
        .iter()
        .filter(|r| r.body["person"] == person)
        .map(|r| r.body["ack_url"].as_str().unwrap().to_string())
        .collect()
}

/// The status of a GET or POST of `link`, and the page's `<title>`.
async fn click(app: &TestApp, link: &str, post: bool) -> (StatusCode, String) {
    let req = if post {
        app.http.post(link)
    } else {
        app.http.get(link)
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let html = resp.text().await.unwrap();
    let title = html
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| panic!("no title in {html}"));
    (status, title)
}

async fn an_ack_link_works_until_it_expires_and_then_says_so(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "[ack_links]\nvalid_for = \"2h\"\n");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    // Omar's L1 page at T0; his page in the ladder's second round at +50m.
    app.tick().await;
    app.deliver().await;
    app.advance_mins(30);
    app.tick().await;
    app.deliver().await;
    app.advance_mins(20);
    app.tick().await;
    app.deliver().await;
    let links = ack_links(&recv, "omar");
    assert_eq!(links.len(), 2, "{links:?}");
    // A minute before its two hours, the first link still offers the button.
    app.advance_mins(69);
    assert_eq!(
        click(&app, &links[0], false).await,
        (StatusCode::OK, "Acknowledge this incident?".into())
    );
    // At two hours it is over, on GET and on POST, and acknowledges nothing.
    app.advance_mins(1);
    for post in [false, true] {
        let resp = if post {
            app.http.post(&links[0])
        } else {
            app.http.get(&links[0])
        }
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::GONE);
        let html = resp.text().await.unwrap();
        assert!(html.contains("<title>Link expired</title>"), "{html}");
        assert!(html.contains("expired at 2026-11-23T12:00:00Z"), "{html}");
    }
    assert!(app.events_of(&id, "acknowledged").await.is_empty());
    // The later page's link, 70 minutes old, still works.
    assert_eq!(
        click(&app, &links[1], true).await,
        (StatusCode::OK, "Acknowledged".into())
    );
    let acked = app.events_of(&id, "acknowledged").await;
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["actor"], "omar");
}

async fn a_reopen_retires_the_ack_links_of_the_earlier_round(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    app.deliver().await;
    let old = ack_links(&recv, "omar").remove(0);
    for (command, body) in [
        ("resolve", json!({"summary": "restarted"})),
        ("reopen", json!({"reason": "down again"})),
    ] {
        let (status, v) = app
            .post(&format!("/api/v1/incidents/{id}/{command}"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{command}: {v}");
    }
    // Before any new page: the old link no longer acknowledges.
    for post in [false, true] {
        assert_eq!(
            click(&app, &old, post).await,
            (StatusCode::GONE, "Link superseded".into()),
            "post: {post}"
        );
    }
    assert!(app.events_of(&id, "acknowledged").await.is_empty());
    // The reopened ladder pages L1 again: a new notification of the new round.
    app.tick().await;
    assert_eq!(app.deliver().await.delivered, 1);
    let links = ack_links(&recv, "omar");
    assert_eq!(links.len(), 2, "{links:?}");
    let rounds: Vec<_> = app
        .notifications(&id)
        .await
        .iter()
        .map(|n| n["ack_round"].clone())
        .collect();
    assert_eq!(rounds, [json!(0), json!(1)]);
    assert_eq!(
        click(&app, &old, true).await,
        (StatusCode::GONE, "Link superseded".into())
    );
    assert_eq!(
        click(&app, &links[1], true).await,
        (StatusCode::OK, "Acknowledged".into())
    );
    assert_eq!(app.events_of(&id, "acknowledged").await.len(), 1);
}

async fn a_second_click_says_already_acknowledged(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    app.deliver().await;
    let link = ack_links(&recv, "omar").remove(0);
    assert_eq!(
        click(&app, &link, true).await,
        (StatusCode::OK, "Acknowledged".into())
    );
    app.advance_mins(5);
    for post in [false, true] {
        let resp = if post {
            app.http.post(&link)
        } else {
            app.http.get(&link)
        }
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "post: {post}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("<title>Already acknowledged</title>"),
            "{html}"
        );
        assert!(
            html.contains("Acknowledged by omar at 2026-11-23T10:00:00Z"),
            "{html}"
        );
        assert!(!html.contains("<form"), "no second button: {html}");
    }
    assert_eq!(app.events_of(&id, "acknowledged").await.len(), 1);
}

async fn an_ack_link_with_an_altered_expiry_or_round_is_refused(backend: Backend) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    app.deliver().await;
    let link = ack_links(&recv, "omar").remove(0);
    let (prefix, token) = link.rsplit_once('/').unwrap();
    let (data, sig) = token.split_once('.').unwrap();
    let data = String::from_utf8(URL_SAFE_NO_PAD.decode(data).unwrap()).unwrap();
    // `round|expiry|incident|notification|person`, signed as a whole.
    let fields: Vec<&str> = data.splitn(5, '|').collect();
    assert_eq!(fields[0], "0", "{data}");
    assert_eq!(fields[2], id, "{data}");
    let expiry: i64 = fields[1].parse().unwrap();
    let later = (expiry + 365 * 86_400).to_string();
    let altered = |i: usize, value: &str| {
        let mut f = fields.clone();
        f[i] = value;
        let data = URL_SAFE_NO_PAD.encode(f.join("|"));
        format!("{prefix}/{data}.{sig}")
    };
    // The genuine link has expired a day on; a year more of life, or a
    // later round, is not taken.
    app.advance_mins(24 * 60);
    assert_eq!(
        click(&app, &link, true).await,
        (StatusCode::GONE, "Link expired".into())
    );
    for forged in [altered(1, &later), altered(0, "1")] {
        for post in [false, true] {
            assert_eq!(
                click(&app, &forged, post).await,
                (StatusCode::NOT_FOUND, "Link not valid".into()),
                "{forged} post: {post}"
            );
        }
    }
    assert!(app.events_of(&id, "acknowledged").await.is_empty());
}

async fn a_reloaded_policy_rewrites_the_timers_of_open_incidents(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source.clone()).await;
    let id = declare_p0(&app).await;
    app.tick().await;
    // A rule added while the incident is open: P0 unresolved 10 min → Alice.
    let firebell_server::PolicySource::File(path) = &source else {
        unreachable!()
    };
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(
        "\n[[escalation_rules]]\nname = \"p0-10m\"\nwhen = { severities = [\"P0\"], unresolved_for = \"10m\" }\nnotify = [\"person:alice\"]\n",
    );
    std::fs::write(path, text).unwrap();
    let (_, before) = app.get("/api/v1/policy").await;
    for _ in 0..100 {
        let (_, now) = app.get("/api/v1/policy").await;
        if now["policy"]["escalation_rules"] != before["policy"]["escalation_rules"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, agenda) = app.get(&format!("/api/v1/incidents/{id}/agenda")).await;
    assert!(
        agenda["due"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["key"] == "rule:p0-10m"),
        "{agenda}"
    );
    // The scheduler rewrites the stored timers (its loop does this on reload).
    firebell_server::scheduler::resync_all(&app.state().scheduler)
        .await
        .unwrap();
    app.advance_mins(10);
    app.tick().await;
    let fired = app.events_of(&id, "rule_triggered").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["notified"][0]["person"], "alice");
}

async fn a_page_by_email_really_talks_smtp(backend: Backend) {
    let recv = Receiver::start().await;
    let sink = smtp::SmtpSink::start().await;
    let extra = format!(
        r#"
[[severities]]
name = "P1"
channels = ["email"]

[notifiers.email]
smtp = {{ host = "127.0.0.1", port = {}, tls = "none", from = "Firebell <firebell@example.com>" }}
"#,
        sink.port()
    );
    let (_dir, source) = policy(&recv, &extra);
    let app = TestApp::spawn_with_policy(backend, source).await;
    let id = app
        .declare(json!({"title": "Checkout slow", "severity": "P1", "escalation_policy": "ladder"}))
        .await;
    app.tick().await;
    assert_eq!(app.deliver().await.delivered, 1);
    let mail = sink.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_to, ["omar@example.com"]);
    let data = mail[0].data_str();
    let n = &app.notifications(&id).await[0];
    assert_eq!(n["channel"], "email");
    assert!(
        data.contains(&format!(
            "Message-ID: <{}@firebell>",
            n["id"].as_str().unwrap()
        )),
        "the notification id is the Message-ID: {data}"
    );
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(recv.received().is_empty(), "P1 pages by email only");
    assert_eq!(
        app.events_of(&id, "notification").await[0]["outcome"],
        "delivered"
    );
}

async fn two_replicas_racing_for_the_same_timers_fire_each_step_once(backend: Backend) {
    let recv = Receiver::start().await;
    let (_dir, source) = policy(&recv, "");
    let app = TestApp::spawn_with_policy(backend, source.clone()).await;
    // A second replica: its own server state on the same database and clock.
    let config = firebell_server::ServerConfig {
        database_url: app.database_url.clone(),
        policy: source,
        policy_poll: std::time::Duration::from_secs(60),
        background_processing: false,
        public_url: None,
        connections: Default::default(),
        max_clock_skew: firebell_server::skew::DEFAULT_MAX_SKEW,
    };
    let other = firebell_server::Server::open(&config, std::sync::Arc::new(app.clock.clone()))
        .await
        .expect("the second replica opens");
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(declare_p0(&app).await);
    }
    for _ in 0..3 {
        // Both replicas tick and deliver at once, three times over an hour.
        let (a, b) = tokio::join!(
            firebell_server::scheduler::run_once(&app.state().scheduler),
            firebell_server::scheduler::run_once(&other.state.scheduler)
        );
        a.unwrap();
        b.unwrap();
        let (a, b) = tokio::join!(
            firebell_server::notify::dispatch::run_once(&app.state().dispatcher),
            firebell_server::notify::dispatch::run_once(&other.state.dispatcher)
        );
        a.unwrap();
        b.unwrap();
        app.advance_mins(30);
    }
    for id in &ids {
        let steps = app.events_of(id, "escalated").await;
        let levels: Vec<u64> = steps.iter().map(|s| s["level"].as_u64().unwrap()).collect();
        assert_eq!(levels, [0, 1, 2], "{id}: each step once");
    }
    // 30 incidents × 3 steps, each page delivered once.
    let got = recv.received();
    let keys: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 90);
    assert_eq!(got.len(), 90, "no page sent twice");
}
