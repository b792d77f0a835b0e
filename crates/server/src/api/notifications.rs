//! Pages sent and what is owed next: the notification log
//! (`GET /notifications`, `GET /incidents/{id}/notifications`), an
//! incident's agenda of timers (`GET /incidents/{id}/agenda`) and the
//! escalation policies and rules in force (`GET /escalation-policies`).

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use firebell_core::escalation;
use firebell_store::Role;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::wire::{Agenda, EscalationPolicies, NotificationList, NotificationQuery};

/// Most notifications one call lists.
const MAX_LIMIT: u32 = 1000;

fn limit(l: Option<u32>) -> Result<u32, ApiError> {
    match l.unwrap_or(100) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit {n} is out of range; use 1 to {MAX_LIMIT}"),
        )),
    }
}

#[utoipa::path(get, path = "/notifications", tag = "notifications", operation_id = "list_notifications", params(NotificationQuery),
    responses((status = 200, body = NotificationList), (status = 400), (status = 401)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<NotificationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(q) = q?;
    let limit = limit(q.limit)?;
    if let Some(id) = &q.incident
        && state.store.get_incident(id).await?.is_none()
    {
        return Err(crate::error::not_found_incident(id));
    }
    let mut items = state
        .store
        .list_notifications(q.incident.as_deref(), limit)
        .await?;
    // Viewers never see phone numbers (s000.private-roster).
    if caller.role < Role::Responder {
        for n in items.iter_mut().filter(|n| n.channel.is_phone()) {
            n.address = "(hidden)".into();
            // A gateway's error can echo the number.
            if n.last_error.is_some() {
                n.last_error = Some("(hidden)".into());
            }
        }
    }
    Ok(Json(NotificationList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/incidents/{id}/notifications", tag = "notifications",
    params(("id" = String, Path), NotificationQuery),
    responses((status = 200, body = NotificationList), (status = 404)))]
pub async fn of_incident(
    State(state): State<AppState>,
    caller: Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<NotificationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(q) = q?;
    list(
        State(state),
        caller,
        Ok(Query(NotificationQuery {
            incident: Some(id),
            limit: q.limit,
        })),
    )
    .await
}

#[utoipa::path(get, path = "/incidents/{id}/agenda", tag = "notifications",
    params(("id" = String, Path)), responses((status = 200, body = Agenda), (status = 404)))]
pub async fn agenda(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Agenda>, ApiError> {
    let incident = state
        .store
        .get_incident(&id)
        .await?
        .ok_or_else(|| crate::error::not_found_incident(&id))?;
    let policy = state.policy.policy();
    Ok(Json(Agenda {
        escalation_policy: escalation::policy_of(&incident, &policy).map(|p| p.name.clone()),
        escalation_level: incident.escalation_level,
        due: escalation::agenda(&incident, &policy),
    }))
}

#[utoipa::path(get, path = "/escalation-policies", tag = "notifications",
    responses((status = 200, body = EscalationPolicies)))]
pub async fn escalation_policies(State(state): State<AppState>) -> Json<EscalationPolicies> {
    let policy = state.policy.policy();
    Json(EscalationPolicies {
        policies: policy.escalation_policies.clone(),
        rules: policy.escalation_rules.clone(),
        reminders: policy.reminders.clone(),
    })
}
