//! The console's pages and form actions. Every action goes through the
//! same command path as the API ([`crate::api::incidents::execute`]), as the
//! signed-in token's name, so the timeline reads the same either way.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration as StdDuration;

use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use firebell_core::incident::{
    self, Command, Deadline, DeadlineStatus, Event, EventKind, UpdateMessage, Visibility,
};
use firebell_core::{Incident, Status, Timestamp};
use firebell_store::IncidentFilter;
use serde::{Deserialize, Serialize};

use super::Console;
use super::session::{self, Session};
use crate::AppState;
use crate::error::ApiError;

/// Percent-encode for a query value.
pub fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `2026-11-23 10:00:00Z`.
pub(super) fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// `1h 05m`, `3m 20s`, `2d 4h`.
fn elapsed(from: Timestamp, to: Timestamp) -> String {
    let secs = to.duration_since(from).as_secs().max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {s:02}s"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h"),
    }
}

pub(super) fn render<S: Serialize>(
    console: &Console,
    name: &str,
    ctx: &S,
) -> Result<String, ApiError> {
    console
        .env
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(ctx))))
        .map_err(|e| ApiError::Internal(format!("console template {name}: {e}")))
}

fn page(console: &Console, name: &str, ctx: &impl Serialize) -> Result<Response, ApiError> {
    Ok(Html(render(console, name, ctx)?).into_response())
}

#[derive(Serialize)]
pub(super) struct Chrome<'a> {
    user: &'a str,
    role: &'a str,
    csrf: &'a str,
    can_act: bool,
    is_admin: bool,
}

pub(super) fn chrome(s: &Session) -> Chrome<'_> {
    Chrome {
        user: &s.caller.name,
        role: s.caller.role.as_str(),
        csrf: &s.csrf,
        can_act: s.can_act(),
        is_admin: s.caller.role >= crate::auth::Role::Admin,
    }
}

// ---- sign-in ----

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

pub async fn login_form(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    page(
        &state.console,
        "login.html",
        &serde_json::json!({ "next": session::safe_next(&q.next), "error": null }),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let signed_in = if form.token.trim().is_empty() {
        session::sign_in_with_password(&state, &headers, &form.person, &form.password, &form.next)
            .await
    } else {
        session::sign_in(&state, &headers, &form.token, &form.next).await
    };
    match signed_in {
        Ok(response) => Ok(response),
        Err(e @ (ApiError::Unauthorized(_) | ApiError::Overloaded { .. })) => {
            let body = render(
                &state.console,
                "login.html",
                &serde_json::json!({ "next": session::safe_next(&form.next), "error": e.to_string() }),
            )?;
            Ok((e.status(), Html(body)).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session::sign_out(&state, &headers, &session).await
}

// ---- the incident list ----

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    service: String,
}

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    severity: String,
    rank: usize,
    status: Status,
    services: String,
    declared: String,
    age: String,
    acknowledged: bool,
}

pub async fn incidents(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    Ok(Html(list_page(&state, &session, &q, None).await?).into_response())
}

/// The list page, with the reason an action from it was refused, if any.
async fn list_page(
    state: &AppState,
    session: &Session,
    q: &ListQuery,
    error: Option<String>,
) -> Result<String, ApiError> {
    let policy = state.policy.policy();
    let now = state.clock.now();
    let statuses: Vec<Status> = match q.status.as_str() {
        "" | "open" => Status::ALL.into_iter().filter(|s| s.is_open()).collect(),
        "all" => Vec::new(),
        other => vec![
            other
                .parse()
                .map_err(|e: String| ApiError::bad_request("invalid_query", e))?,
        ],
    };
    let severities = match q.severity.as_str() {
        "" => Vec::new(),
        s => vec![
            policy
                .severity(s)
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_query", format!("unknown severity {s:?}"))
                })?
                .name
                .clone(),
        ],
    };
    let list = state
        .store
        .list_incidents(&IncidentFilter {
            statuses,
            severities,
            service: (!q.service.is_empty()).then(|| q.service.clone()),
            limit: 100,
            ..Default::default()
        })
        .await?;
    let rows: Vec<Row> = list
        .items
        .iter()
        .map(|i| Row {
            id: i.id.clone(),
            title: i.title.clone(),
            severity: i.severity.clone(),
            rank: policy.severity_rank(&i.severity).unwrap_or(9),
            status: i.status,
            services: i.services.join(", "),
            declared: when(i.declared_at),
            age: elapsed(i.declared_at, i.resolved_at.unwrap_or(now)),
            acknowledged: i.acknowledged_at.is_some(),
        })
        .collect();
    let status_choices: Vec<&str> = ["open", "all"]
        .into_iter()
        .chain(Status::ALL.map(Status::as_str))
        .collect();
    render(
        &state.console,
        "incidents.html",
        &serde_json::json!({
            "chrome": chrome(session),
            "error": error,
            "people": policy.people.iter().map(|(k, p)| serde_json::json!({"key": k, "name": p.name})).collect::<Vec<_>>(),
            "rows": rows,
            "more": list.next_cursor.is_some(),
            "filter": { "status": if q.status.is_empty() { "open" } else { q.status.as_str() },
                        "severity": q.severity, "service": q.service },
            "status_choices": status_choices,
            "severities": policy.severities.iter().map(|s| &s.name).collect::<Vec<_>>(),
            "services": policy.services.keys().collect::<Vec<_>>(),
        }),
    )
}

/// Declare an incident from the list page's form. Read by hand rather than
/// with `Form`: the services are repeated `service` fields (checkboxes).
pub async fn declare(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut d = incident::Declare {
        title: String::new(),
        severity: String::new(),
        summary: String::new(),
        services: Vec::new(),
        tags: Vec::new(),
        detected_at: None,
        commander: None,
        escalation_policy: None,
        drill: false,
    };
    let mut csrf = String::new();
    for (key, value) in form_urlencoded::parse(&body) {
        let value = value.into_owned();
        match key.as_ref() {
            "csrf" => csrf = value,
            "title" => d.title = value,
            "severity" => d.severity = value,
            "summary" => d.summary = value,
            "service" if !value.is_empty() => d.services.push(value),
            "commander" if !value.is_empty() => d.commander = Some(value),
            "drill" => d.drill = value == "on" || value == "true",
            _ => {}
        }
    }
    session.check_csrf(&csrf)?;
    session.require_responder()?;
    match state
        .incidents
        .declare(&d, &session.caller.name, Vec::new())
        .await
    {
        Ok(applied) => {
            metrics::counter!("firebell_incidents_declared_total", "severity" => applied.incident.severity.clone())
                .increment(1);
            Ok(
                Redirect::to(&format!("/incidents/{}", url_encode(&applied.incident.id)))
                    .into_response(),
            )
        }
        Err(e) => {
            let e = ApiError::from(e);
            let html =
                list_page(&state, &session, &ListQuery::default(), Some(e.to_string())).await?;
            Ok((e.status(), Html(html)).into_response())
        }
    }
}

// ---- the incident room ----

#[derive(Serialize)]
struct TimelineItem {
    seq: u64,
    at: String,
    actor: String,
    kind: &'static str,
    text: String,
    public: bool,
    loud: bool,
}

/// A timeline line as `session` may see it (no phone details for viewers).
fn timeline_item_for(session: &Session, e: &Event) -> TimelineItem {
    if session.can_act() {
        return timeline_item(e);
    }
    let mut e = e.clone();
    e.kind.hide_phone_details();
    timeline_item(&e)
}

fn timeline_item(e: &Event) -> TimelineItem {
    let loud = matches!(
        &e.kind,
        EventKind::Escalated { unreachable, .. }
            | EventKind::RuleTriggered { unreachable, .. }
            | EventKind::Reminded { unreachable, .. } if !unreachable.is_empty()
    );
    TimelineItem {
        seq: e.seq,
        at: when(e.at),
        actor: e.actor.clone(),
        kind: e.kind.type_name(),
        text: e.kind.describe(),
        public: matches!(
            e.kind,
            EventKind::StatusUpdated {
                visibility: Visibility::Public,
                ..
            }
        ),
        loud,
    }
}

/// Everyone the incident could not reach, and why: shown loudly.
fn unreachable(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if let EventKind::Escalated { unreachable, .. }
        | EventKind::RuleTriggered { unreachable, .. }
        | EventKind::Reminded { unreachable, .. } = &e.kind
        {
            for u in unreachable {
                if !out.contains(u) {
                    out.push(u.clone());
                }
            }
        }
    }
    out
}

#[derive(Serialize)]
struct DeadlineView {
    title: String,
    due: String,
    due_at: String,
    state: &'static str,
}

fn deadline_view(d: &Deadline) -> DeadlineView {
    DeadlineView {
        title: d.title.trim_end_matches('.').to_string(),
        due: when(d.due_at),
        due_at: d.due_at.to_string(),
        state: match d.status {
            DeadlineStatus::Pending => "pending",
            DeadlineStatus::Met => "met",
            DeadlineStatus::MetLate => "met late",
            DeadlineStatus::Breached => "breached",
            DeadlineStatus::Closed => "closed",
        },
    }
}

async fn load(state: &AppState, id: &str) -> Result<(Incident, Vec<Event>), ApiError> {
    let events = state.store.load_events(id).await?;
    let incident = Incident::from_events(id, &events).ok_or_else(|| ApiError::NotFound {
        code: "incident_not_found",
        message: format!("no incident with id {id:?}"),
    })?;
    Ok((incident, events))
}

/// The room's context: everything the page shows.
async fn room(
    state: &AppState,
    session: &Session,
    id: &str,
    error: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    let (incident, events) = load(state, id).await?;
    let policy = state.policy.policy();
    let now = state.clock.now();
    let deadlines = incident::deadlines(&incident, &policy, now);
    // The next thing owed: the earliest not yet met (breached ones first).
    let next = deadlines
        .iter()
        .filter(|d| matches!(d.status, DeadlineStatus::Pending | DeadlineStatus::Breached))
        .min_by_key(|d| d.due_at)
        .map(deadline_view);
    let services: Vec<serde_json::Value> = incident
        .services
        .iter()
        .filter_map(|s| policy.services.get(s).map(|svc| (s, svc)))
        .map(|(key, svc)| {
            let contacts: Vec<serde_json::Value> = svc
                .contacts
                .iter()
                .filter_map(|p| policy.people.get(p).map(|person| (p, person)))
                .map(|(key, p)| {
                    // Viewers never see phone numbers.
                    let reach: Vec<String> = p
                        .contacts
                        .iter()
                        .filter(|c| {
                            session.can_act()
                                || !firebell_core::policy::ContactKind::is_phone_kind(&c.kind)
                        })
                        .map(|c| format!("{}: {}", c.kind, c.address))
                        .collect();
                    serde_json::json!({ "key": key, "name": p.name, "description": p.description, "reach": reach })
                })
                .collect();
            serde_json::json!({ "key": key, "name": svc.name.clone().unwrap_or_else(|| key.clone()),
                                "runbooks": svc.runbooks, "contacts": contacts })
        })
        .collect();
    let roles: Vec<serde_json::Value> = policy
        .roles
        .iter()
        .map(|r| {
            serde_json::json!({ "key": r.key, "name": r.name,
                "holders": incident.roles.get(&r.key).cloned().unwrap_or_default() })
        })
        .collect();
    let templates: Vec<serde_json::Value> = policy
        .templates
        .iter()
        .map(|(name, t)| {
            serde_json::json!({ "name": name, "description": t.description,
                "locales": t.body.keys().collect::<Vec<_>>(),
                "public": matches!(t.audience, firebell_core::policy::Audience::Public) })
        })
        .collect();
    let now = state.clock.now();
    let checklist: Vec<serde_json::Value> = incident
        .checklist
        .iter()
        .map(|c| {
            // A runbook step that applies only for part of the outage says so.
            let phase = match (c.item.applies_from, c.item.applies_until) {
                (None, None) => None,
                (Some(from), _) if now < from => Some(format!("applies from {}", when(from))),
                _ if !c.item.applies_at(now) => Some("no longer applies".to_string()),
                (_, Some(until)) => Some(format!("applies until {}", when(until))),
                (Some(_), None) => Some("applies now (long outage)".to_string()),
            };
            serde_json::json!({ "id": c.item.id, "text": c.item.text, "list": c.item.checklist,
                "due": c.item.due_at.map(when), "done": c.ticked_at.is_some(),
                "by": c.ticked_by, "command": c.item.command, "link": c.item.link,
                "phase": phase, "applies": c.item.applies_at(now) })
        })
        .collect();
    let context =
        crate::changes::incident_context(&state.store, &policy, &incident, session.can_act(), now)
            .await?;
    let freeze = if firebell_core::change::freezes(&policy, &incident) {
        Some(format!(
            "Deploys to {} are frozen until this incident is {}.",
            incident.services.join(", "),
            match policy.freeze.until {
                firebell_core::policy::FreezeUntil::Resolved => "resolved",
                firebell_core::policy::FreezeUntil::Mitigated => "mitigated",
            }
        ))
    } else {
        None
    };
    // Legal and contractual clocks: loud when missed.
    let obligations: Vec<serde_json::Value> = incident
        .obligations
        .iter()
        .map(|o| {
            let met = incident.obligations_met.get(&o.key);
            serde_json::json!({ "key": o.key, "title": o.title, "due": o.due_at.map(when),
                "overdue": met.is_none() && o.due_at.is_some_and(|d| d <= now),
                "met": met.map(|m| serde_json::json!({ "at": when(m.at), "by": m.by, "evidence": m.evidence })),
                "steps": o.steps })
        })
        .collect();
    // Pages and reminders: what went out and what is still waiting.
    let notifications: Vec<serde_json::Value> = state
        .store
        .list_notifications(Some(id), 50)
        .await?
        .iter()
        .map(|n| {
            // Viewers never see phone numbers.
            let shown = session.can_act() || !n.channel.is_phone();
            let address = if shown {
                n.address.clone()
            } else {
                "(hidden)".to_string()
            };
            // A gateway's error can echo the number.
            let error = if shown {
                n.last_error.clone()
            } else {
                n.last_error.as_ref().map(|_| "(hidden)".to_string())
            };
            serde_json::json!({ "person": n.person, "channel": n.channel, "address": address,
                "duty": n.duty.to_string(), "state": n.state, "attempts": n.attempts,
                "at": when(n.updated_at), "error": error })
        })
        .collect();
    let postmortem = match &incident.postmortem {
        Some(pm) => {
            // A policy template that fails shows its error in the card; the
            // rest of the room still works.
            let document = incident::postmortem_document(
                &policy,
                &incident,
                &events,
                now,
                &state.links.base(),
            )
            .unwrap_or_else(|e| format!("(the postmortem could not be drafted: {e})"));
            let deadline = deadlines
                .iter()
                .find(|d| d.key == "postmortem")
                .map(deadline_view);
            Some(serde_json::json!({
                "state": pm.state.as_str(), "owner": pm.owner,
                "due": pm.due_at.map(when), "deadline": deadline,
                "review": pm.review.as_ref().map(|r| serde_json::json!({
                    "at": when(r.at), "place": r.place })),
                "invitees": incident::review_invitees(&incident, &policy),
                "unfinished": incident::postmortem_unfinished(&document, &policy, &incident.severity),
                "drafted": pm.document.is_none(),
                "shown": document_digest(&document),
                "path": incident::postmortem_path(&policy, &incident),
                "document": document,
                "next": match pm.state {
                    incident::PostmortemState::Draft => Some("in_review"),
                    incident::PostmortemState::InReview => Some("published"),
                    incident::PostmortemState::Published => None,
                },
                "back": match pm.state {
                    incident::PostmortemState::Draft => None,
                    incident::PostmortemState::InReview => Some("draft"),
                    incident::PostmortemState::Published => Some("in_review"),
                },
            }))
        }
        None => None,
    };
    let action_items: Vec<serde_json::Value> = incident
        .action_items
        .iter()
        .map(|a| {
            serde_json::json!({ "id": a.id, "title": a.title, "owner": a.owner,
                "due": a.due_at.map(when), "priority": a.priority.as_str(),
                "status": a.status.as_str(), "overdue": a.is_overdue(now),
                "issue": a.tracker.as_ref().map(|t| serde_json::json!({
                    "number": t.number, "url": t.url, "state": t.state })) })
        })
        .collect();
    let last_seq = events.last().map_or(0, |e| e.seq);
    Ok(serde_json::json!({
        "chrome": chrome(session),
        "error": error,
        "now": now.to_string(),
        "incident": {
            "id": incident.id, "title": incident.title, "severity": incident.severity,
            "drill": incident.drill,
            "severity_label": policy.severity(&incident.severity).and_then(|s| s.label.clone()),
            "rank": policy.severity_rank(&incident.severity).unwrap_or(9),
            "status": incident.status, "open": incident.status.is_open(),
            "summary": incident.summary, "services": incident.services, "tags": incident.tags,
            "declared": when(incident.declared_at),
            "elapsed": elapsed(incident.declared_at, incident.resolved_at.unwrap_or(now)),
            "acknowledged": incident.acknowledged_at.map(when),
            "acknowledged_by": incident.acknowledged_by,
            "alerts_firing": incident.alerts_firing, "alerts_total": incident.alerts_total,
            "alert_sample": incident.alert_sample,
            "version": incident.version,
        },
        "roles": roles,
        "next_deadline": next,
        "deadlines": deadlines.iter().map(deadline_view).collect::<Vec<_>>(),
        "unreachable": unreachable(&events),
        "notifications": notifications,
        "timeline": events.iter().map(|e| timeline_item_for(session, e)).collect::<Vec<_>>(),
        "last_seq": last_seq,
        "services": services,
        "checklist": checklist,
        "changes": context.changes.iter().map(|c| serde_json::json!({
            "id": c.change.id, "kind": c.change.kind.as_str(), "summary": c.change.summary,
            "service": c.change.service, "version": c.change.details.version,
            "previous": c.change.details.previous_version, "author": c.change.details.author,
            "url": c.change.details.url, "at": when(c.change.at), "suspect": c.suspect,
            "frozen": !c.change.details.frozen.is_empty() })).collect::<Vec<_>>(),
        "rollback": context.rollback,
        "rollback_hook": policy.rollback.hook.as_ref().map(|h| h.url.clone()),
        "runbooks_available": policy.runbooks.iter().filter(|r| !incident.runbooks.contains(&r.key))
            .map(|r| serde_json::json!({"key": r.key, "title": match &r.scenario {
                Some(n) => format!("{n} {}", r.title), None => r.title.clone() }})).collect::<Vec<_>>(),
        "freeze": freeze,
        "upstreams": context.upstreams,
        "contacts": context.contacts,
        "obligations": obligations,
        "postmortem": postmortem,
        "action_items": action_items,
        "action_statuses": ["not_started", "in_progress", "complete"],
        "templates": templates,
        "locales": policy.status_locales(),
        "statuses": Status::ALL.map(Status::as_str),
        "severities": policy.severities.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "people": policy.people.iter().map(|(k, p)| serde_json::json!({"key": k, "name": p.name})).collect::<Vec<_>>(),
        "channel": policy.organization.incident_channel,
        "components": firebell_core::status_page::components(&policy).iter().map(|c| serde_json::json!({
            "id": c.id, "name": c.name, "service": c.service,
            "set": incident.component_states.get(&c.id) })).collect::<Vec<_>>(),
        "component_statuses": ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"],
        "known_tags": known_tags(&policy),
        "status_page": "/status",
    }))
}

pub async fn incident_room(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = room(&state, &session, &id, None).await?;
    page(&state.console, "incident.html", &ctx)
}

/// Least time between two reads of a room's log by its live timeline.
const MIN_RELOAD_GAP: StdDuration = StdDuration::from_millis(250);

/// The live timeline: Server-Sent Events, one `timeline` message per batch
/// of new events (their rendered list items), as anyone acts. Woken by
/// this replica's writes at once, and every two seconds for the others'.
pub async fn incident_events(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    load(&state, &id).await?;
    // A reconnecting EventSource says where it was.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("after").map(String::as_str))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let wake = state.incidents.watch_changes();
    let stream = futures_util::stream::unfold(
        (state, id, after, wake, true, session),
        |(state, id, mut after, mut wake, first, session)| async move {
            loop {
                if !first || after > 0 {
                    tokio::select! {
                        _ = wake.changed() => {}
                        _ = tokio::time::sleep(StdDuration::from_secs(2)) => {}
                    }
                    // Every commit on this replica wakes every open room; in
                    // an alert flood that is many a second, so a room reads
                    // its log at most four times a second.
                    tokio::time::sleep(MIN_RELOAD_GAP).await;
                }
                let events = match state.store.load_events(&id).await {
                    Ok(events) => events,
                    Err(_) => {
                        tokio::time::sleep(StdDuration::from_secs(2)).await;
                        continue;
                    }
                };
                let new: Vec<TimelineItem> = events
                    .iter()
                    .filter(|e| e.seq > after)
                    .map(|e| timeline_item_for(&session, e))
                    .collect();
                if let Some(last) = new.last() {
                    let html = render(
                        &state.console,
                        "timeline.html",
                        &serde_json::json!({ "timeline": new }),
                    )
                    .unwrap_or_default();
                    after = last.seq;
                    let event = SseEvent::default()
                        .event("timeline")
                        .id(after.to_string())
                        .data(html);
                    return Some((
                        Ok::<_, Infallible>(event),
                        (state, id, after, wake, false, session),
                    ));
                }
                if first {
                    // Nothing new since the page was drawn: wait for news.
                    return Some((
                        Ok(SseEvent::default().comment("connected")),
                        (state, id, after, wake, false, session),
                    ));
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

// ---- actions ----

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    next_steps: String,
    #[serde(default)]
    add: String,
    #[serde(default)]
    remove: String,
    /// An instant typed in a form: RFC 3339, `2026-12-08 10:00` (UTC) or
    /// a duration from now (`2d`).
    #[serde(default)]
    at: String,
    #[serde(default)]
    priority: String,
    /// The incident's version the form was shown at; where a form sends
    /// it (the postmortem), a save on a moved incident is a conflict.
    #[serde(default)]
    version: Option<u64>,
    /// Digest of the postmortem text as shown (see [`document_digest`]).
    #[serde(default)]
    shown: String,
    /// Checkboxes of the rollback form.
    #[serde(default)]
    resolve: Option<String>,
    #[serde(default)]
    confirm_hook: Option<String>,
}

/// A short digest of a document as the browser sends it back (line ends
/// normalised), to tell an edited text from the one shown.
fn document_digest(text: &str) -> String {
    use sha2::Digest;
    let normalised = text.replace("\r\n", "\n");
    hex::encode(&sha2::Sha256::digest(normalised.trim_end().as_bytes())[..16])
}

/// A form's instant: RFC 3339, a UTC civil time (`2026-12-08 10:00`, as
/// `datetime-local` sends it with a `T`), or a duration from now (`2d`).
fn form_instant(text: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = t.replace(' ', "T").parse::<jiff::civil::DateTime>()
        && let Ok(z) = dt.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp());
    }
    if let Ok(d) = t.parse::<firebell_core::Duration>()
        && let Ok(ts) = now.checked_add(d.as_signed())
    {
        return Ok(ts);
    }
    Err(ApiError::bad_request(
        "invalid_form",
        format!("{t:?} is not a time: write 2026-12-08 10:00 (UTC) or a duration such as 2d"),
    ))
}

/// The flags the policy gives meaning to (its rules', checklists' and
/// obligations' tags), offered when raising one.
fn known_tags(policy: &firebell_core::Policy) -> Vec<String> {
    let mut tags: Vec<String> = policy
        .escalation_rules
        .iter()
        .flat_map(|r| r.when.tags.iter())
        .chain(policy.checklists.iter().flat_map(|c| c.tags.iter()))
        .chain(policy.obligations.iter().flat_map(|o| o.tags.iter()))
        .cloned()
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// Tags as a form field writes them: separated by commas or spaces.
fn tag_list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The command a form posts, by the action in its URL.
fn command(action: &str, f: ActionForm, now: Timestamp) -> Result<Command, ApiError> {
    let bad = |m: &str| ApiError::bad_request("invalid_form", m.to_string());
    Ok(match action {
        "acknowledge" => Command::Acknowledge,
        "updates" => {
            let status = match f.status.as_str() {
                "" => None,
                s => Some(
                    s.parse::<Status>()
                        .map_err(|e| ApiError::bad_request("invalid_form", e))?,
                ),
            };
            let visibility = match f.visibility.as_str() {
                "public" => Visibility::Public,
                "" | "internal" => Visibility::Internal,
                other => return Err(bad(&format!("unknown visibility {other:?}"))),
            };
            let message = if f.template.is_empty() {
                if f.message.trim().is_empty() {
                    return Err(bad("write a message or pick a template"));
                }
                UpdateMessage::Text(f.message)
            } else {
                UpdateMessage::Template {
                    name: f.template,
                    locale: (!f.locale.is_empty()).then_some(f.locale),
                    vars: BTreeMap::new(),
                }
            };
            Command::PostUpdate {
                status,
                visibility,
                message,
            }
        }
        "notes" => Command::AddNote { text: f.text },
        "severity" => Command::ChangeSeverity {
            severity: f.severity,
            reason: f.reason,
        },
        "checklist" => Command::TickChecklistItem { item: f.item },
        "roles" => Command::AssignRole {
            role: f.role,
            person: f.person,
        },
        "handoff" => Command::Handoff {
            role: (!f.role.is_empty()).then_some(f.role),
            to: f.person,
            level: None,
            summary: f.summary,
            metrics: String::new(),
            evidence: String::new(),
            next_steps: f.next_steps,
        },
        "resolve" => Command::Resolve { summary: f.summary },
        "components" => Command::SetComponentState {
            component: f.item,
            status: f.status,
            reason: f.reason,
        },
        "reopen" => Command::Reopen { reason: f.reason },
        "obligations" => Command::MeetObligation {
            key: f.item,
            evidence: f.text,
        },
        "runbooks" => Command::AttachRunbook { runbook: f.item },
        "tags" => Command::ChangeTags {
            add: tag_list(&f.add),
            remove: tag_list(&f.remove),
        },
        // The text as it was shown is not saved again: changing only the
        // owner must not freeze a live draft into a document.
        "postmortem" => Command::EditPostmortem {
            document: (!f.text.trim().is_empty() && document_digest(&f.text) != f.shown)
                .then_some(f.text),
            owner: (!f.person.is_empty()).then_some(f.person),
        },
        "postmortem-state" => Command::SetPostmortemState {
            state: f.status.parse().map_err(|e: incident::CommandError| {
                ApiError::bad_request("invalid_form", e.message)
            })?,
        },
        "postmortem-review" => Command::ScheduleReview {
            at: form_instant(&f.at, now)?,
            place: (!f.reason.trim().is_empty()).then_some(f.reason),
            participants: Vec::new(),
        },
        "action-items" => Command::AddActionItem {
            title: f.text,
            owner: f.person,
            due_at: match f.at.trim() {
                "" => None,
                t => Some(form_instant(t, now)?),
            },
            priority: match f.priority.as_str() {
                "" => incident::Priority::Medium,
                p => p.parse().map_err(|e: incident::CommandError| {
                    ApiError::bad_request("invalid_form", e.message)
                })?,
            },
        },
        "action-item" => Command::UpdateActionItem {
            id: f
                .item
                .parse()
                .map_err(|_| bad(&format!("no action item {:?}", f.item)))?,
            change: incident::ActionItemChange {
                status: Some(f.status.parse().map_err(|e: incident::CommandError| {
                    ApiError::bad_request("invalid_form", e.message)
                })?),
                ..Default::default()
            },
        },
        other => {
            return Err(ApiError::NotFound {
                code: "not_found",
                message: format!("no console action {other:?}"),
            });
        }
    })
}

/// A form action on an incident: checked (CSRF, role), run through the
/// command path, and back to the room (303), or the room again with the
/// reason it was refused.
pub async fn act(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session.require_responder()?;
    let expected = form.version;
    let outcome = if action == "rollback" {
        let decision = match form.status.as_str() {
            "rolled_back" => Ok(incident::RollbackDecision::RolledBack),
            "fix_forward" => Ok(incident::RollbackDecision::FixForward),
            other => Err(ApiError::bad_request(
                "invalid_form",
                format!("unknown decision {other:?}: rolled_back or fix_forward"),
            )),
        };
        match decision {
            Ok(decision) => {
                let request = crate::wire::RollbackRequest {
                    decision,
                    // The form names the change; "none named" sends "".
                    change: Some(form.item),
                    note: form.text,
                    resolve: form.resolve.is_some(),
                    confirm_hook: form.confirm_hook.is_some(),
                    expected_version: expected,
                };
                crate::api::changes::rollback(&state, &session.caller.name, &id, request)
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        }
    } else {
        match command(&action, form, state.clock.now()) {
            Ok(cmd) => {
                crate::api::incidents::execute(&state, &session.caller.name, &id, expected, cmd)
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        }
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/incidents/{}", url_encode(&id))).into_response()),
        Err(e @ (ApiError::NotFound { .. } | ApiError::Unavailable(_) | ApiError::Internal(_))) => {
            Err(e)
        }
        Err(e) => {
            let status = e.status();
            let ctx = room(&state, &session, &id, Some(e.to_string())).await?;
            Ok((status, Html(render(&state.console, "incident.html", &ctx)?)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct PreviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    locale: String,
    #[serde(default)]
    message: String,
}

/// What an update would say, exactly, before it is posted (nothing is
/// written): the template rendered for this incident now, or the text.
pub async fn preview(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<PreviewForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    let (incident, _) = load(&state, &id).await?;
    let (text, dir, lang) = if form.template.is_empty() {
        (form.message, "auto".to_string(), String::new())
    } else {
        let policy = state.policy.policy();
        match incident::render_template_linked(
            &policy,
            &incident,
            &form.template,
            (!form.locale.is_empty()).then_some(form.locale.as_str()),
            &BTreeMap::new(),
            state.clock.now(),
            &state.links.base(),
        ) {
            Ok(m) => (
                m.text,
                match m.direction {
                    incident::Direction::Rtl => "rtl".into(),
                    incident::Direction::Ltr => "ltr".into(),
                },
                m.locale,
            ),
            Err(e) => (e.to_string(), "auto".into(), String::new()),
        }
    };
    let html = render(
        &state.console,
        "preview.html",
        &serde_json::json!({ "text": text, "dir": dir, "lang": lang }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}
