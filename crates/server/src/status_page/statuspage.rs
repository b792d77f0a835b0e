//! The Statuspage v2 JSON API (`/status/api/v2/…`), with its field names
//! and status values, so widgets and monitors written for Statuspage (and
//! Firebell's own upstream check) read Firebell's page unchanged.

use firebell_core::Timestamp;
use firebell_core::status_page::{self as page, ComponentStatus};
use serde::Serialize;

use super::model::{MaintenanceState, Model, PublicIncident, PublicMaintenance};
use super::strings;

/// Statuspage's page id is opaque; ours is fixed, one page per server.
const PAGE_ID: &str = "firebell";

#[derive(Serialize)]
struct PageInfo<'a> {
    id: &'static str,
    name: &'a str,
    url: &'a str,
    time_zone: &'a str,
    updated_at: Timestamp,
}

#[derive(Serialize)]
struct StatusInfo {
    indicator: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct ComponentJson<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    created_at: Timestamp,
    updated_at: Timestamp,
    position: usize,
    description: Option<&'a str>,
    showcase: bool,
    start_date: Option<&'a str>,
    group_id: Option<&'a str>,
    page_id: &'static str,
    group: bool,
    only_show_if_degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<&'a str>>,
}

#[derive(Serialize)]
struct UpdateJson<'a> {
    id: String,
    status: &'static str,
    body: String,
    incident_id: &'a str,
    created_at: Timestamp,
    updated_at: Timestamp,
    display_at: Timestamp,
    affected_components: Option<()>,
    deliver_notifications: bool,
    custom_tweet: Option<()>,
    tweet_id: Option<()>,
}

#[derive(Serialize)]
struct IncidentJson<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    created_at: Timestamp,
    updated_at: Timestamp,
    monitoring_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
    impact: &'static str,
    shortlink: String,
    started_at: Timestamp,
    page_id: &'static str,
    incident_updates: Vec<UpdateJson<'a>>,
    components: Vec<ComponentJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<Timestamp>,
}

/// The JSON documents, rendered once per rebuild.
pub struct Documents {
    pub summary: Vec<u8>,
    pub status: Vec<u8>,
    pub components: Vec<u8>,
    pub incidents: Vec<u8>,
    pub unresolved: Vec<u8>,
    pub maintenances: Vec<u8>,
    pub upcoming: Vec<u8>,
    pub active: Vec<u8>,
    pub uptime: Vec<u8>,
}

pub fn render(model: &Model, locale: &str) -> Documents {
    let words = strings::of(locale);
    let page = PageInfo {
        id: PAGE_ID,
        name: &model.title,
        url: &model.url,
        time_zone: &model.time_zone,
        updated_at: model.updated_at,
    };
    let status = StatusInfo {
        indicator: model.indicator.as_str(),
        description: words.indicator(model.indicator),
    };
    let components = components(model);
    let incidents: Vec<IncidentJson> = model
        .incidents
        .iter()
        .map(|i| incident(model, &components, i))
        .collect();
    let unresolved: Vec<&IncidentJson> = incidents
        .iter()
        .filter(|i| i.status != "resolved")
        .collect();
    let maintenances: Vec<(MaintenanceState, IncidentJson)> = model
        .maintenances
        .iter()
        .map(|m| (m.state, maintenance(model, &components, m, locale)))
        .collect();
    let upcoming: Vec<&IncidentJson> = maintenances
        .iter()
        .filter(|(s, _)| *s == MaintenanceState::Scheduled)
        .map(|(_, m)| m)
        .collect();
    let active: Vec<&IncidentJson> = maintenances
        .iter()
        .filter(|(s, _)| *s == MaintenanceState::InProgress)
        .map(|(_, m)| m)
        .collect();
    let all_maintenances: Vec<&IncidentJson> = maintenances.iter().map(|(_, m)| m).collect();
    let upcoming_and_active: Vec<&IncidentJson> = active.iter().chain(&upcoming).copied().collect();

    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    let uptime: Vec<serde_json::Value> = model
        .groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "service": g.service,
                "name": g.name,
                "components": g.components.iter().map(|c| &c.id).collect::<Vec<_>>(),
                "uptime": g.uptime,
            })
        })
        .collect();
    Documents {
        summary: json(serde_json::json!({
            "page": page,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": upcoming_and_active,
            "status": status,
        })),
        status: json(serde_json::json!({ "page": page, "status": status })),
        components: json(serde_json::json!({ "page": page, "components": components })),
        incidents: json(serde_json::json!({ "page": page, "incidents": incidents })),
        unresolved: json(serde_json::json!({ "page": page, "incidents": unresolved })),
        maintenances: json(
            serde_json::json!({ "page": page, "scheduled_maintenances": all_maintenances }),
        ),
        upcoming: json(serde_json::json!({ "page": page, "scheduled_maintenances": upcoming })),
        active: json(serde_json::json!({ "page": page, "scheduled_maintenances": active })),
        uptime: json(serde_json::json!({ "page": page, "services": uptime })),
    }
}

/// Groups (one per service) and their components, in page order.
fn components(model: &Model) -> Vec<ComponentJson<'_>> {
    let mut out = Vec::new();
    let mut position = 0;
    for group in &model.groups {
        position += 1;
        let worst = group
            .components
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(ComponentStatus::Operational);
        out.push(ComponentJson {
            id: &group.service,
            name: &group.name,
            status: worst.as_str(),
            created_at: model.updated_at,
            updated_at: model.updated_at,
            position,
            description: None,
            showcase: false,
            start_date: None,
            group_id: None,
            page_id: PAGE_ID,
            group: true,
            only_show_if_degraded: false,
            components: Some(group.components.iter().map(|c| c.id.as_str()).collect()),
        });
        for c in &group.components {
            position += 1;
            out.push(ComponentJson {
                id: &c.id,
                name: &c.name,
                status: c.status.as_str(),
                created_at: model.updated_at,
                updated_at: model.updated_at,
                position,
                description: None,
                showcase: true,
                start_date: None,
                group_id: Some(&group.service),
                page_id: PAGE_ID,
                group: false,
                only_show_if_degraded: false,
                components: None,
            });
        }
    }
    out
}

fn affected<'a>(all: &[ComponentJson<'a>], ids: &[String]) -> Vec<ComponentJson<'a>> {
    all.iter()
        .filter(|c| !c.group && ids.iter().any(|id| id == c.id))
        .map(|c| ComponentJson {
            components: None,
            ..*c
        })
        .collect()
}

fn incident<'a>(
    model: &'a Model,
    all: &[ComponentJson<'a>],
    i: &'a PublicIncident,
) -> IncidentJson<'a> {
    IncidentJson {
        id: &i.id,
        name: &i.name,
        status: page::incident_status_name(i.status),
        created_at: i.created_at,
        updated_at: i.updated_at,
        monitoring_at: i.monitoring_at,
        resolved_at: i.resolved_at,
        impact: page::impact_name(i.impact),
        shortlink: format!("{}#{}", model.url, i.id),
        started_at: i.started_at,
        page_id: PAGE_ID,
        // Newest first, as Statuspage lists them.
        incident_updates: i
            .updates
            .iter()
            .rev()
            .map(|u| UpdateJson {
                id: format!("{}-{}", i.id, u.seq),
                status: page::incident_status_name(u.status),
                body: u.text.clone(),
                incident_id: &i.id,
                created_at: u.at,
                updated_at: u.at,
                display_at: u.at,
                affected_components: None,
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            })
            .collect(),
        components: affected(all, &i.components),
        scheduled_for: None,
        scheduled_until: None,
    }
}

/// A maintenance post: what a window's state says, once per state reached.
pub struct Post {
    pub at: Timestamp,
    pub status: &'static str,
    pub body: String,
}

/// Progress posts shown per running window, at most (the latest).
const MAX_PROGRESS_POSTS: usize = 48;

/// The posts a window has made by `now`, oldest first: announced when
/// created, at its start, every `post_every` while it runs (scheduled and
/// emergency windows; maintenance mode is open-ended and says nothing
/// new), and at its end. Derived, not stored: they are what the window's
/// times say, so they cannot be forgotten or drift.
pub fn maintenance_posts(
    m: &PublicMaintenance,
    locale: &str,
    post_every: firebell_core::Duration,
    now: Timestamp,
) -> Vec<Post> {
    let words = strings::of(locale);
    let w = &m.window;
    let emergency = m.is_emergency();
    let mut posts = Vec::new();
    if !emergency && w.created_at < w.starts_at {
        posts.push(Post {
            at: w.created_at,
            status: MaintenanceState::Scheduled.as_str(),
            body: format!("{}: {}", words.maintenance_scheduled, w.title),
        });
    }
    if m.state == MaintenanceState::Scheduled {
        return posts;
    }
    let heading = words.maintenance_state(MaintenanceState::InProgress, emergency);
    posts.push(Post {
        at: w.starts_at,
        status: MaintenanceState::InProgress.as_str(),
        body: format!("{heading}: {}", w.title),
    });
    let every = post_every.as_secs();
    if every > 0 && w.kind != firebell_core::alert::MaintenanceKind::Mode {
        let until = w.ends_at.map_or(now, |end| end.min(now));
        let elapsed = until.duration_since(w.starts_at).as_secs();
        // Posts strictly inside the window: the one at its end is the
        // completion post.
        let count = if elapsed > 0 {
            (elapsed - 1) / every
        } else {
            0
        };
        let first = (count as usize).saturating_sub(MAX_PROGRESS_POSTS) as i64 + 1;
        for k in first..=count {
            let at = w.starts_at + jiff::SignedDuration::from_secs(k * every);
            let minutes = k * every / 60;
            posts.push(Post {
                at,
                status: MaintenanceState::InProgress.as_str(),
                body: format!("{heading}: {} ({minutes} min)", w.title),
            });
        }
    }
    if m.state == MaintenanceState::Completed
        && let Some(end) = w.ends_at
    {
        posts.push(Post {
            at: end,
            status: MaintenanceState::Completed.as_str(),
            body: format!("{}: {}", words.maintenance_completed, w.title),
        });
    }
    posts
}

fn maintenance<'a>(
    model: &'a Model,
    all: &[ComponentJson<'a>],
    m: &'a PublicMaintenance,
    locale: &str,
) -> IncidentJson<'a> {
    let w = &m.window;
    let posts = maintenance_posts(m, locale, model.post_every, model.now);
    IncidentJson {
        id: &w.id,
        name: &w.title,
        status: m.state.as_str(),
        created_at: w.created_at,
        updated_at: posts.last().map_or(w.created_at, |p| p.at),
        monitoring_at: None,
        resolved_at: (m.state == MaintenanceState::Completed)
            .then_some(w.ends_at)
            .flatten(),
        impact: "maintenance",
        shortlink: format!("{}#{}", model.url, w.id),
        started_at: w.starts_at,
        page_id: PAGE_ID,
        incident_updates: posts
            .iter()
            .rev()
            .map(|p| UpdateJson {
                // Posts are derived from the window's times, so their
                // instant (and status: start and end may coincide) names them.
                id: format!("{}-{}-{}", w.id, p.at.as_second(), p.status),
                status: p.status,
                body: p.body.clone(),
                incident_id: &w.id,
                created_at: p.at,
                updated_at: p.at,
                display_at: p.at,
                affected_components: None,
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            })
            .collect(),
        components: affected(all, &m.components),
        scheduled_for: Some(w.planned_starts_at.unwrap_or(w.starts_at)),
        scheduled_until: w.planned_ends_at.or(w.ends_at),
    }
}
