//! Change safety around the store: the freeze answer, and what an incident
//! shows of its changes, the rollback advice, its contacts and upstreams.
//! The decisions are `firebell_core::change`'s; this reads their inputs.

use firebell_core::change::{self, Advice, FreezeAnswer, RecentChange, Scope};
use firebell_core::policy::ContactKind;
use firebell_core::{Incident, Policy, Status, Timestamp};
use firebell_store::{IncidentFilter, Store, StoreError};

use crate::wire::{Contact, Upstream};

/// Open incidents of the severities that freeze deploys.
pub async fn freezing_incidents(
    store: &Store,
    policy: &Policy,
) -> Result<Vec<Incident>, StoreError> {
    if policy.freeze.severities.is_empty() {
        return Ok(Vec::new());
    }
    let mut filter = IncidentFilter {
        statuses: Status::ALL.into_iter().filter(|s| s.is_open()).collect(),
        severities: policy
            .freeze
            .severities
            .iter()
            .filter_map(|s| policy.severity(s).map(|s| s.name.clone()))
            .collect(),
        limit: 500,
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = store.list_incidents(&filter).await?;
        out.extend(
            page.items
                .into_iter()
                .filter(|i| change::freezes(policy, i)),
        );
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Whether deploys to `scope` are frozen now, and why.
pub async fn freeze_answer(
    store: &Store,
    policy: &Policy,
    scope: Scope<'_>,
    now: Timestamp,
) -> Result<FreezeAnswer, StoreError> {
    freeze_answer_at(store, policy, scope, now).await
}

/// Whether deploys to `scope` were frozen at `at` (a deploy recorded after
/// it finished): incidents still open that were detected by then, windows
/// and freezes in force then. An incident opened after the deploy is not
/// the deploy's freeze; one resolved since is no longer seen.
pub async fn freeze_answer_at(
    store: &Store,
    policy: &Policy,
    scope: Scope<'_>,
    at: Timestamp,
) -> Result<FreezeAnswer, StoreError> {
    let mut incidents = freezing_incidents(store, policy).await?;
    incidents.retain(|i| i.detected_at <= at);
    let manual = store.list_freezes(at).await?;
    Ok(change::freeze(policy, scope, &incidents, &manual, at))
}

/// What the incident view adds to the incident itself.
pub struct IncidentContext {
    pub changes: Vec<RecentChange>,
    pub rollback: Option<Advice>,
    pub contacts: Vec<Contact>,
    pub upstreams: Vec<Upstream>,
}

/// Read what `incident` shows beside its log. Without `phones` (viewers),
/// contacts' phone numbers are left out (s000.private-roster).
pub async fn incident_context(
    store: &Store,
    policy: &Policy,
    incident: &Incident,
    phones: bool,
    now: Timestamp,
) -> Result<IncidentContext, StoreError> {
    let changes = if incident.services.is_empty() {
        Vec::new()
    } else {
        let rows = store
            .changes_of(&incident.services, change::recent_since(policy, incident))
            .await?;
        change::recent(policy, incident, &rows, now)
    };
    let advice = change::advise(policy, incident, &changes, now);
    let rollback = (!advice.options.is_empty()
        || !advice.criteria_met.is_empty()
        || advice.decision.is_some())
    .then_some(advice);
    let statuses = if incident.services.iter().any(|s| {
        policy
            .services
            .get(s)
            .is_some_and(|s| !s.providers.is_empty())
    }) {
        store.provider_statuses().await?
    } else {
        Vec::new()
    };
    Ok(IncidentContext {
        changes,
        rollback,
        contacts: contacts(policy, incident, phones),
        upstreams: upstreams(policy, &incident.services, &statuses),
    })
}

/// The people to contact about the incident's services and runbooks
/// (s001.contacts), each once.
pub fn contacts(policy: &Policy, incident: &Incident, phones: bool) -> Vec<Contact> {
    let mut out: Vec<Contact> = Vec::new();
    let mut add = |key: &str, about: String| {
        if out.iter().any(|c| c.key == key) {
            return;
        }
        let person = policy.people.get(key);
        out.push(Contact {
            key: key.to_string(),
            name: person
                .map(|p| p.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| key.to_string()),
            description: person.map(|p| p.description.clone()).unwrap_or_default(),
            about,
            reach: person
                .map(|p| {
                    p.contacts
                        .iter()
                        .filter(|c| phones || !ContactKind::is_phone_kind(&c.kind))
                        .map(|c| format!("{}: {}", c.kind, c.address))
                        .collect()
                })
                .unwrap_or_default(),
        });
    };
    for s in &incident.services {
        for key in policy
            .services
            .get(s)
            .map(|s| &s.contacts[..])
            .unwrap_or(&[])
        {
            add(key, format!("service {s}"));
        }
    }
    for r in &incident.runbooks {
        if let Some(rb) = policy.runbooks.iter().find(|x| &x.key == r) {
            for key in &rb.contacts {
                add(key, format!("runbook {}", rb.key));
            }
        }
    }
    out
}

/// The providers `services` depend on, with their last status.
pub fn upstreams(
    policy: &Policy,
    services: &[String],
    statuses: &[firebell_store::ProviderStatus],
) -> Vec<Upstream> {
    let mut out: Vec<Upstream> = Vec::new();
    for s in services {
        let Some(svc) = policy.services.get(s) else {
            continue;
        };
        for p in &svc.providers {
            if let Some(u) = out.iter_mut().find(|u| &u.provider == p) {
                u.services.push(s.clone());
                continue;
            }
            let Some(def) = policy.providers.get(p) else {
                continue;
            };
            out.push(Upstream {
                provider: p.clone(),
                name: if def.name.is_empty() {
                    p.clone()
                } else {
                    def.name.clone()
                },
                status_url: def.status_url.clone(),
                services: vec![s.clone()],
                status: statuses.iter().find(|x| &x.provider == p).cloned(),
            });
        }
    }
    out
}
