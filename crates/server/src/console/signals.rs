//! The console's other pages: who is on call (now, next, overrides),
//! alerts and silences (create, expire), and maintenance windows (create,
//! end). Each reads and writes through the API's own handlers, so a rule
//! the API enforces (a silence needs a comment, a scheduled window needs
//! notice) is enforced here the same way.

use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use firebell_core::alert::MaintenanceKind;
use serde::Deserialize;

use super::pages::{chrome, render, when};
use super::session::Session;
use crate::AppState;
use crate::api::{Body, oncall, overrides, signals};
use crate::error::ApiError;
use crate::wire::{AlertQuery, CreateMaintenance, CreateSilence, OnCallQuery, OverridesQuery};

pub async fn oncall_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    let schedules = oncall::oncall(
        State(state.clone()),
        Ok(Query(OnCallQuery {
            schedule: None,
            at: None,
        })),
    )
    .await?
    .0
    .items;
    let overrides = overrides::list_all(
        State(state.clone()),
        Ok(Query(OverridesQuery {
            schedule: None,
            include_past: false,
        })),
    )
    .await?
    .0
    .items;
    let shift = |s: &crate::wire::Shift| {
        serde_json::json!({ "name": s.name, "person": s.shift.person,
            "since": when(s.shift.since), "until": when(s.shift.until),
            "override": s.shift.layer.is_none() })
    };
    let schedules: Vec<serde_json::Value> = schedules
        .iter()
        .map(|s| {
            serde_json::json!({ "schedule": s.schedule, "now": s.now.as_ref().map(shift),
                "next": s.next.iter().map(shift).collect::<Vec<_>>() })
        })
        .collect();
    let overrides: Vec<serde_json::Value> = overrides
        .iter()
        .map(|o| {
            serde_json::json!({ "schedule": o.schedule, "name": o.name, "covering": o.covering,
                "from": when(o.starts_at), "until": when(o.ends_at), "reason": o.reason, "state": o.state })
        })
        .collect();
    let html = render(
        &state.console,
        "oncall.html",
        &serde_json::json!({ "chrome": chrome(&session), "schedules": schedules, "overrides": overrides }),
    )?;
    Ok(Html(html).into_response())
}

async fn alerts_html(
    state: &AppState,
    session: &Session,
    error: Option<String>,
) -> Result<String, ApiError> {
    let alerts = signals::list_alerts(
        State(state.clone()),
        Ok(Query(AlertQuery {
            filter: None,
            all: false,
            limit: Some(200),
        })),
    )
    .await?
    .0
    .items;
    let silences = signals::list_silences(State(state.clone())).await?.0.items;
    let alerts: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let label = |k: &str| a.alert.labels.get(k).cloned().unwrap_or_default();
            serde_json::json!({ "name": label("alertname"), "service": a.alert.service,
                "severity": a.alert.severity, "since": when(a.alert.starts_at),
                "incident": a.alert.incident_id, "silenced": !a.silenced_by.is_empty(),
                "labels": a.alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ") })
        })
        .collect();
    let silences: Vec<serde_json::Value> = silences
        .iter()
        .filter(|s| s.state != "expired")
        .map(|s| {
            serde_json::json!({ "id": s.id, "matchers": s.matchers.join(", "), "from": when(s.starts_at),
                "until": when(s.ends_at), "by": s.created_by, "comment": s.comment, "state": s.state })
        })
        .collect();
    render(
        &state.console,
        "alerts.html",
        &serde_json::json!({ "chrome": chrome(session), "error": error, "alerts": alerts, "silences": silences }),
    )
}

pub async fn alerts_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    Ok(Html(alerts_html(&state, &session, None).await?).into_response())
}

#[derive(Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    matchers: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
}

/// After a form: back to `to`, or the page again with why it was refused.
async fn done_or_refused<F>(
    outcome: Result<(), ApiError>,
    to: &str,
    again: F,
) -> Result<Response, ApiError>
where
    F: AsyncFnOnce(String) -> Result<String, ApiError>,
{
    match outcome {
        Ok(()) => Ok(Redirect::to(to).into_response()),
        Err(e @ (ApiError::Unavailable(_) | ApiError::Internal(_))) => Err(e),
        Err(e) => {
            let status = e.status();
            Ok((status, Html(again(e.to_string()).await?)).into_response())
        }
    }
}

pub async fn create_silence(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<SilenceForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session.require_responder()?;
    let outcome = signals::create_silence(
        State(state.clone()),
        Extension(session.caller.clone()),
        Body(CreateSilence {
            matchers: form.matchers,
            starts_at: None,
            ends_at: None,
            duration: Some(form.duration),
            comment: form.comment,
        }),
    )
    .await
    .map(drop);
    done_or_refused(outcome, "/alerts", async |e| {
        alerts_html(&state, &session, Some(e)).await
    })
    .await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn expire_silence(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session.require_responder()?;
    let _expired = signals::expire_silence(State(state.clone()), Path(id)).await?;
    Ok(Redirect::to("/alerts").into_response())
}

async fn maintenance_html(
    state: &AppState,
    session: &Session,
    error: Option<String>,
) -> Result<String, ApiError> {
    let now = state.clock.now();
    let windows: Vec<serde_json::Value> = signals::list_maintenance(State(state.clone()))
        .await?
        .0
        .items
        .iter()
        .map(|view| {
            let w = &view.window;
            let status = if w.is_active(now) {
                "running"
            } else if w.starts_at > now {
                "scheduled"
            } else {
                "ended"
            };
            serde_json::json!({ "id": w.id, "title": w.title, "kind": w.kind,
                "services": w.services.join(", "), "from": when(w.starts_at),
                "until": w.ends_at.map(when), "by": w.created_by, "status": status,
                "review": view.review_state, "review_due": w.review_due_at.map(when),
                "reviewed": w.review.as_ref().map(|r| serde_json::json!({
                    "by": r.by, "at": when(r.at), "summary": r.summary })) })
        })
        .collect();
    let policy = state.policy.policy();
    render(
        &state.console,
        "maintenance.html",
        &serde_json::json!({ "chrome": chrome(session), "error": error, "windows": windows,
            "services": policy.services.keys().collect::<Vec<_>>(),
            "notice": policy.maintenance.notice.to_string() }),
    )
}

pub async fn maintenance_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    Ok(Html(maintenance_html(&state, &session, None).await?).into_response())
}

/// A maintenance window from the form. Read by hand: the services are
/// repeated `service` fields (checkboxes).
pub async fn create_maintenance(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut req = CreateMaintenance {
        title: String::new(),
        services: Vec::new(),
        kind: MaintenanceKind::Scheduled,
        starts_at: None,
        ends_at: None,
        duration: None,
    };
    let mut csrf = String::new();
    let mut bad = None;
    for (key, value) in form_urlencoded::parse(&body) {
        let value = value.trim().to_string();
        match key.as_ref() {
            "csrf" => csrf = value,
            "title" => req.title = value,
            "service" if !value.is_empty() => req.services.push(value),
            "kind" => {
                req.kind = match value.as_str() {
                    "scheduled" => MaintenanceKind::Scheduled,
                    "emergency" => MaintenanceKind::Emergency,
                    "mode" => MaintenanceKind::Mode,
                    other => {
                        bad = Some(format!(
                            "unknown kind {other:?}: scheduled, emergency or mode"
                        ));
                        MaintenanceKind::Scheduled
                    }
                }
            }
            "starts_at" if !value.is_empty() => match value.parse() {
                Ok(t) => req.starts_at = Some(t),
                Err(e) => bad = Some(format!("starts at {value:?}: not an RFC 3339 instant: {e}")),
            },
            "duration" if !value.is_empty() => req.duration = Some(value),
            _ => {}
        }
    }
    session.check_csrf(&csrf)?;
    session.require_responder()?;
    let outcome = match bad {
        Some(message) => Err(ApiError::bad_request("invalid_form", message)),
        None => signals::create_maintenance(
            State(state.clone()),
            Extension(session.caller.clone()),
            Body(req),
        )
        .await
        .map(drop),
    };
    done_or_refused(outcome, "/maintenance", async |e| {
        maintenance_html(&state, &session, Some(e)).await
    })
    .await
}

pub async fn end_maintenance(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session.require_responder()?;
    signals::end_maintenance(State(state.clone()), Path(id)).await?;
    Ok(Redirect::to("/maintenance").into_response())
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    summary: String,
}

pub async fn review_maintenance(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    session.require_responder()?;
    let outcome = signals::review_maintenance(
        State(state.clone()),
        Extension(session.caller.clone()),
        Path(id),
        Body(crate::wire::ReviewMaintenance {
            summary: form.summary,
        }),
    )
    .await
    .map(drop);
    done_or_refused(outcome, "/maintenance", async |e| {
        maintenance_html(&state, &session, Some(e)).await
    })
    .await
}

/// Status page subscribers (admins only: customers' addresses), with a
/// button to unsubscribe one.
pub async fn subscribers_page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ApiError> {
    let page = crate::status_page::subscribers::list(
        State(state.clone()),
        Extension(session.caller.clone()),
        Ok(Query(crate::status_page::subscribers::SubscriberQuery {
            state: None,
        })),
    )
    .await?
    .0;
    let policy = state.policy.policy();
    let subs = &policy.status_page.subscriptions;
    let counts = |s: &str| page.items.iter().filter(|i| i.state.as_str() == s).count();
    Ok(Html(render(
        &state.console,
        "subscribers.html",
        &serde_json::json!({ "chrome": chrome(&session), "items": page.items,
            "confirmed": counts("confirmed"), "pending": counts("pending"),
            "email": subs.email_notifier.is_some(), "webhooks": subs.webhooks }),
    )?)
    .into_response())
}

pub async fn remove_subscriber(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf)?;
    crate::status_page::subscribers::remove(
        State(state.clone()),
        Extension(session.caller.clone()),
        Path(id),
    )
    .await?;
    Ok(Redirect::to("/subscribers").into_response())
}
