//! What the page shows, gathered from the store once per rebuild and shared
//! by every format (HTML, Atom, Statuspage JSON).

use std::collections::BTreeMap;

use firebell_core::alert::{MaintenanceKind, MaintenanceWindow};
use firebell_core::status_page::{
    self as page, ComponentStatus, Indicator, PublicUpdate, Span, Uptime,
};
use firebell_core::{Incident, Policy, Status, Timestamp};
use firebell_store::{IncidentFilter, Store, StoreError};

/// Open incidents read per rebuild, at most: a page with more is
/// unreadable anyway, and the rebuild stays bounded.
const MAX_OPEN: usize = 500;
/// Resolved incidents shown, at most (Statuspage's `incidents.json` has 50).
const MAX_RECENT: u32 = 50;

/// Everything a format needs, at one instant.
#[derive(Clone, Debug)]
pub struct Model {
    pub now: Timestamp,
    /// How often a running window posts (`[maintenance] post_every`).
    pub post_every: firebell_core::Duration,
    pub title: String,
    /// Base URL of the page (`…/status`), for links in the feed and JSON.
    pub url: String,
    pub time_zone: String,
    pub indicator: Indicator,
    pub groups: Vec<Group>,
    /// Unresolved first (newest first), then resolved (newest first).
    pub incidents: Vec<PublicIncident>,
    pub maintenances: Vec<PublicMaintenance>,
    /// When anything on the page last changed.
    pub updated_at: Timestamp,
    /// The sign-up form offers email, webhooks, or neither.
    pub subscribe_email: bool,
    pub subscribe_webhooks: bool,
}

/// A service's components.
#[derive(Clone, Debug)]
pub struct Group {
    pub service: String,
    pub name: String,
    pub components: Vec<ComponentView>,
    /// Shared by the service's components: they fail together.
    pub uptime: Uptime,
}

#[derive(Clone, Debug)]
pub struct ComponentView {
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
}

#[derive(Clone, Debug)]
pub struct PublicIncident {
    pub id: String,
    pub name: String,
    pub status: Status,
    pub impact: firebell_core::policy::Impact,
    pub started_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Oldest first.
    pub updates: Vec<PublicUpdate>,
    /// Ids of the components it affects.
    pub components: Vec<String>,
}

/// Where a window stands, in Statuspage's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaintenanceState {
    Scheduled,
    InProgress,
    Completed,
}

impl MaintenanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceState::Scheduled => "scheduled",
            MaintenanceState::InProgress => "in_progress",
            MaintenanceState::Completed => "completed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct PublicMaintenance {
    pub window: MaintenanceWindow,
    pub state: MaintenanceState,
    pub components: Vec<String>,
}

impl PublicMaintenance {
    pub fn is_emergency(&self) -> bool {
        self.window.kind == MaintenanceKind::Emergency
    }
}

/// What the store holds that the page shows.
pub struct Gathered {
    pub open: Vec<Incident>,
    pub recent: Vec<Incident>,
    pub events: BTreeMap<String, Vec<PublicUpdate>>,
    pub windows: Vec<MaintenanceWindow>,
}

/// Read what the page shows: open incidents, those resolved within the
/// policy's history, their public updates, and the maintenance windows.
pub async fn gather(
    store: &Store,
    policy: &Policy,
    now: Timestamp,
) -> Result<Gathered, StoreError> {
    let mut open = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_incidents(&IncidentFilter {
                statuses: Status::ALL.into_iter().filter(|s| s.is_open()).collect(),
                limit: 500,
                cursor,
                ..Default::default()
            })
            .await?;
        // Public incidents, and any other open one a person set a
        // component's state on.
        open.extend(page.items.into_iter().filter(|i| {
            !i.drill && (page::is_public(policy, i) || !i.component_states.is_empty())
        }));
        cursor = page.next_cursor;
        if cursor.is_none() || open.len() >= MAX_OPEN {
            break;
        }
    }
    open.truncate(MAX_OPEN);
    let since =
        now - jiff::SignedDuration::from_hours(24 * i64::from(policy.status_page.history_days));
    let recent: Vec<Incident> = store
        .list_incidents(&IncidentFilter {
            statuses: vec![Status::Resolved],
            since: Some(since),
            limit: MAX_RECENT * 2,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .filter(|i| page::is_public(policy, i))
        .take(MAX_RECENT as usize)
        .collect();
    let mut events = BTreeMap::new();
    for incident in open
        .iter()
        .chain(&recent)
        .filter(|i| page::is_public(policy, i))
    {
        let log = store.load_events(&incident.id).await?;
        events.insert(incident.id.clone(), page::public_updates(&log));
    }
    Ok(Gathered {
        open,
        recent,
        events,
        windows: store.list_maintenance().await?,
    })
}

/// Decide what the page shows from what was gathered.
pub fn build(
    policy: &Policy,
    gathered: &Gathered,
    spans: &[Span],
    base_url: &str,
    now: Timestamp,
) -> Model {
    let components = page::components(policy);
    let open: Vec<&Incident> = gathered.open.iter().collect();
    let states = page::component_states(policy, &components, &open, &gathered.windows, now);
    let worst = states
        .iter()
        .copied()
        .max()
        .unwrap_or(ComponentStatus::Operational);

    // The history (resolved incidents) is read less often; the incidents
    // read now, open and recently resolved, count as they stand now.
    let mut all_spans: Vec<Span> = spans.to_vec();
    for incident in gathered.open.iter().chain(&gathered.recent) {
        for service in &incident.services {
            all_spans.push(Span {
                service: service.clone(),
                severity: incident.severity.clone(),
                start: incident.declared_at,
                end: incident.resolved_at,
            });
        }
    }

    let mut groups: Vec<Group> = Vec::new();
    for (component, status) in components.iter().zip(&states) {
        if groups.last().is_none_or(|g| g.service != component.service) {
            let service = &policy.services[&component.service];
            groups.push(Group {
                service: component.service.clone(),
                name: service
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| component.service.clone()),
                components: Vec::new(),
                uptime: page::uptime(
                    policy,
                    &component.service,
                    &all_spans,
                    &gathered.windows,
                    now,
                ),
            });
        }
        if let Some(group) = groups.last_mut() {
            group.components.push(ComponentView {
                id: component.id.clone(),
                name: component.name.clone(),
                status: *status,
            });
        }
    }

    let component_ids = |services: &[String]| -> Vec<String> {
        components
            .iter()
            .filter(|c| services.contains(&c.service))
            .map(|c| c.id.clone())
            .collect()
    };
    let incidents: Vec<PublicIncident> = gathered
        .open
        .iter()
        .chain(&gathered.recent)
        .filter(|i| page::is_public(policy, i))
        .map(|i| {
            let updates = gathered.events.get(&i.id).cloned().unwrap_or_default();
            let updated_at = updates
                .last()
                .map_or(i.declared_at, |u| u.at)
                .max(i.resolved_at.unwrap_or(i.declared_at));
            PublicIncident {
                id: i.id.clone(),
                name: i.title.clone(),
                status: i.status,
                impact: policy.status_impact(&i.severity),
                started_at: i.detected_at,
                created_at: i.declared_at,
                updated_at,
                monitoring_at: i.mitigated_at,
                resolved_at: i.resolved_at,
                updates,
                components: component_ids(&i.services),
            }
        })
        .collect();

    let horizon =
        now - jiff::SignedDuration::from_hours(24 * i64::from(policy.status_page.history_days));
    let maintenances: Vec<PublicMaintenance> = gathered
        .windows
        .iter()
        .filter(|w| w.ends_at.is_none_or(|end| end >= horizon))
        .map(|w| PublicMaintenance {
            state: if w.is_active(now) {
                MaintenanceState::InProgress
            } else if w.starts_at > now {
                MaintenanceState::Scheduled
            } else {
                MaintenanceState::Completed
            },
            components: component_ids(&w.services),
            window: w.clone(),
        })
        .filter(|m| !m.components.is_empty())
        .collect();

    let updated_at = incidents
        .iter()
        .map(|i| i.updated_at)
        .chain(maintenances.iter().map(|m| m.window.created_at))
        .max()
        .unwrap_or(now);
    Model {
        now,
        post_every: policy.maintenance.post_every,
        title: policy
            .status_page
            .title
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| policy.organization.name.clone()),
        url: format!("{}/status", base_url.trim_end_matches('/')),
        time_zone: policy.calendar.time_zone.clone(),
        indicator: Indicator::of(worst),
        groups,
        incidents,
        maintenances,
        updated_at,
        subscribe_email: policy.status_page.subscriptions.email_notifier.is_some(),
        subscribe_webhooks: policy.status_page.subscriptions.webhooks,
    }
}
