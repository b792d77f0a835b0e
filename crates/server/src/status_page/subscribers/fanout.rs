//! Telling subscribers: every post on the page (a public update, a
//! maintenance announcement, its reminder, start and completion) becomes
//! one message per confirmed subscriber who wants its components.
//!
//! The posts come from the status page's own rendering, so subscribers are
//! told exactly what the page shows, and nothing internal can reach them.
//! Each post is fanned out once, whichever replica sees it first (the
//! store's `subscriber_posts` key), to those confirmed by the time it was
//! posted. Posts from before subscriptions first ran, and posts more than a
//! day old when first seen (a server that was down), are not sent.

use firebell_core::Timestamp;
use firebell_core::alert::MaintenanceKind;
use firebell_core::status_page::{SubscriberState, incident_status_name, subscriber_wants};
use firebell_store::{NewSubscriberMessage, Subscriber};

use super::super::model::{MaintenanceState, Model, PublicIncident, PublicMaintenance};
use super::super::strings;
use super::links_of;
use crate::AppState;

/// Posts older than this when first seen are left unsent.
const STALE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
/// The setting holding when fan-out first ran.
const SINCE_KEY: &str = "subscriber_fanout_since";

/// What a post is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    IncidentUpdate,
    MaintenanceScheduled,
    MaintenanceReminder,
    MaintenanceStarted,
    MaintenanceCompleted,
}

impl Stage {
    /// The `type` a webhook receives.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::IncidentUpdate => "incident.update",
            Stage::MaintenanceScheduled => "maintenance.scheduled",
            Stage::MaintenanceReminder => "maintenance.reminder",
            Stage::MaintenanceStarted => "maintenance.started",
            Stage::MaintenanceCompleted => "maintenance.completed",
        }
    }
}

/// One post on the page, as subscribers hear of it.
pub struct Post<'a> {
    pub key: String,
    pub at: Timestamp,
    pub stage: Stage,
    pub components: &'a [String],
    pub about: About<'a>,
}

pub enum About<'a> {
    Incident {
        incident: &'a PublicIncident,
        update: &'a firebell_core::status_page::PublicUpdate,
    },
    Maintenance(&'a PublicMaintenance),
}

/// The posts the page has made by `now`, oldest first. Progress posts of
/// a running window ("still in progress") stay on the page: mail every
/// half hour helps nobody.
pub fn posts(model: &Model, reminder: firebell_core::Duration, now: Timestamp) -> Vec<Post<'_>> {
    let mut out = Vec::new();
    for i in &model.incidents {
        for u in &i.updates {
            out.push(Post {
                key: format!("incident:{}:{}", i.id, u.seq),
                at: u.at,
                stage: Stage::IncidentUpdate,
                components: &i.components,
                about: About::Incident {
                    incident: i,
                    update: u,
                },
            });
        }
    }
    for m in &model.maintenances {
        let w = &m.window;
        let mut push = |stage: Stage, at: Timestamp, suffix: &str| {
            if at <= now {
                out.push(Post {
                    key: format!("maintenance:{}:{suffix}", w.id),
                    at,
                    stage,
                    components: &m.components,
                    about: About::Maintenance(m),
                });
            }
        };
        let scheduled = w.kind == MaintenanceKind::Scheduled && w.created_at < w.starts_at;
        if scheduled {
            push(Stage::MaintenanceScheduled, w.created_at, "scheduled");
            let remind_at = w.starts_at - reminder.as_signed();
            // Only before it starts, and only if it was announced before.
            if reminder.as_secs() > 0 && remind_at > w.created_at && now < w.starts_at {
                push(Stage::MaintenanceReminder, remind_at, "reminder");
            }
        }
        if m.state != MaintenanceState::Scheduled {
            push(Stage::MaintenanceStarted, w.starts_at, "started");
        }
        if m.state == MaintenanceState::Completed
            && let Some(end) = w.ends_at
        {
            push(Stage::MaintenanceCompleted, end, "completed");
        }
    }
    out.sort_by_key(|p| p.at);
    out
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Posts handed to subscribers this round.
    pub posts: usize,
    /// Messages queued for them.
    pub messages: usize,
}

/// Fan out every post not yet fanned out. Tests call this with a manual
/// clock; the background loop calls it when woken and every few seconds.
pub async fn run_once(state: &AppState) -> Result<FanOut, crate::error::ApiError> {
    let policy = state.policy.policy();
    let mut round = FanOut::default();
    if !policy.status_page.subscriptions.enabled() {
        return Ok(round);
    }
    let now = state.clock.now();
    let since = state
        .store
        .setting_or_init(SINCE_KEY, &now.as_millisecond().to_string())
        .await?;
    let since = since
        .parse::<i64>()
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(now);
    let rendered = state.status_pages.rendered(state).await?;
    let model = &rendered.model;
    let candidates: Vec<Post<'_>> = posts(
        model,
        policy.status_page.subscriptions.maintenance_reminder,
        now,
    )
    .into_iter()
    .filter(|p| p.at >= since && now.duration_since(p.at) <= STALE_AFTER)
    .collect();
    if candidates.is_empty() {
        return Ok(round);
    }
    let keys: Vec<String> = candidates.iter().map(|p| p.key.clone()).collect();
    let done = state.store.posts_fanned_out(&keys).await?;
    let fresh: Vec<&Post<'_>> = candidates
        .iter()
        .filter(|p| !done.contains(&p.key))
        .collect();
    if fresh.is_empty() {
        return Ok(round);
    }
    let subscribers = state
        .store
        .list_subscribers(Some(SubscriberState::Confirmed))
        .await?;
    for post in fresh {
        let messages: Vec<NewSubscriberMessage> = subscribers
            .iter()
            .filter(|s| s.confirmed_at.is_some_and(|c| c <= post.at))
            .filter(|s| subscriber_wants(&s.components, post.components))
            .map(|s| message(state, model, post, s))
            .collect();
        if state
            .store
            .fan_out(&post.key, post.at, &messages, now)
            .await?
        {
            round.posts += 1;
            round.messages += messages.len();
            metrics::counter!("firebell_subscriber_posts_total", "stage" => post.stage.as_str())
                .increment(1);
        }
    }
    if round.messages > 0 {
        state.subscriber_wake.notify_one();
    }
    Ok(round)
}

/// The message `post` makes for `s`, in its locale.
fn message(
    state: &AppState,
    model: &Model,
    post: &Post<'_>,
    s: &Subscriber,
) -> NewSubscriberMessage {
    let words = strings::of(&s.locale);
    let links = links_of(state, &s.id);
    let names: Vec<&str> = model
        .groups
        .iter()
        .flat_map(|g| &g.components)
        .filter(|c| post.components.contains(&c.id))
        .map(|c| c.name.as_str())
        .collect();
    let components: Vec<serde_json::Value> = model
        .groups
        .iter()
        .flat_map(|g| &g.components)
        .filter(|c| post.components.contains(&c.id))
        .map(|c| serde_json::json!({"id": c.id, "name": c.name, "status": c.status}))
        .collect();
    let tz = jiff::tz::TimeZone::get(&model.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let when = |t: Timestamp| {
        t.to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let (subject, text, link, about) = match &post.about {
        About::Incident { incident, update } => {
            let status = words.incident_status(update.status);
            (
                format!("[{}] {status}: {}", model.title, incident.name),
                update.text.clone(),
                format!("{}#{}", model.url, incident.id),
                serde_json::json!({
                    "incident": {
                        "id": incident.id, "name": incident.name,
                        "status": incident_status_name(incident.status),
                        "impact": firebell_core::status_page::impact_name(incident.impact),
                    },
                    "update": {
                        "id": format!("{}-{}", incident.id, update.seq),
                        "status": incident_status_name(update.status),
                        "body": update.text, "locale": update.locale,
                        "created_at": update.at,
                    },
                }),
            )
        }
        About::Maintenance(m) => {
            let w = &m.window;
            let heading = match post.stage {
                Stage::MaintenanceScheduled => words.maintenance_scheduled,
                Stage::MaintenanceReminder => words.reminder,
                Stage::MaintenanceCompleted => words.maintenance_completed,
                _ => words.maintenance_state(MaintenanceState::InProgress, m.is_emergency()),
            };
            let span = match w.ends_at {
                Some(end) => format!("{} – {}", when(w.starts_at), when(end)),
                None => when(w.starts_at),
            };
            (
                format!("[{}] {heading}: {}", model.title, w.title),
                format!("{heading}: {}\n{span}", w.title),
                format!("{}#{}", model.url, w.id),
                serde_json::json!({
                    "maintenance": {
                        "id": w.id, "name": w.title, "kind": w.kind,
                        "scheduled_for": w.planned_starts_at.unwrap_or(w.starts_at),
                        "scheduled_until": w.planned_ends_at.or(w.ends_at),
                    },
                }),
            )
        }
    };
    let affects = if names.is_empty() {
        String::new()
    } else {
        format!("\n{}: {}", words.affects, names.join(", "))
    };
    let body = format!(
        "{text}\n{affects}\n{link}\n\n-- \n{}\n",
        words.why_you_get_this
    );
    let mut payload = serde_json::json!({
        "type": post.stage.as_str(),
        "id": post.key,
        "created_at": post.at,
        "page": {"name": model.title, "url": model.url},
        "url": link,
        "components": components,
        "subscriber_id": s.id,
        "unsubscribe_url": links.unsubscribe,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (payload.as_object_mut(), about) {
        obj.extend(extra);
    }
    NewSubscriberMessage {
        subscriber_id: s.id.clone(),
        subject,
        body,
        payload: payload.to_string(),
    }
}
