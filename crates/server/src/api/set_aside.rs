//! `/api/v1/set-aside`: rows that kept failing in a queue (see
//! [`crate::set_aside`]). Responders look; admins put a row back or drop it.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use firebell_store::Queue;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::wire::{SetAside, SetAsideList, SetAsideQuery};

const MAX_LIST: u32 = 500;

#[utoipa::path(get, path = "/set-aside", tag = "operations", operation_id = "list_set_aside", params(SetAsideQuery),
    responses((status = 200, body = SetAsideList), (status = 400), (status = 403)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<SetAsideQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SetAsideList>, ApiError> {
    caller.require(Role::Responder)?;
    let Query(q) = query?;
    let queue = match q.queue.as_deref() {
        None | Some("") => None,
        Some(name) => Some(Queue::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_queue",
                format!("unknown queue {name:?}: expected ingest_log, timers or outbox"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    Ok(Json(SetAsideList {
        queues: crate::set_aside::queue_health(&state.store, state.clock.now()).await?,
        items: state.store.list_set_aside(queue, limit).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/set-aside/{id}/retry", tag = "operations", operation_id = "retry_set_aside", params(("id" = i64, Path)),
    responses((status = 200, body = SetAside), (status = 403), (status = 404)))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<SetAside>, ApiError> {
    caller.require(Role::Admin)?;
    let Path(id) = id?;
    let entry = state
        .store
        .retry_set_aside(id, state.clock.now())
        .await?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(queue = %entry.queue, item = %entry.item, by = %caller.name, "set-aside row put back");
    // Wake what drains the queue it went back to.
    match entry.queue {
        Queue::IngestLog => state.ingest.wake_merger(),
        Queue::Timers => state.incidents.wake_scheduler(),
        Queue::Outbox => state.incidents.wake_delivery(),
    }
    Ok(Json(entry))
}

#[utoipa::path(delete, path = "/set-aside/{id}", tag = "operations", operation_id = "discard_set_aside", params(("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn discard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let Path(id) = id?;
    if !state.store.discard_set_aside(id).await? {
        return Err(not_found(id));
    }
    tracing::warn!(set_aside = id, by = %caller.name, "set-aside row discarded");
    Ok(StatusCode::NO_CONTENT)
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound {
        code: "set_aside_not_found",
        message: format!("no set-aside row {id}"),
    }
}
