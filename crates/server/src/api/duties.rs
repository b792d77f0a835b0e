//! `/api/v1/duties`: recurring duties, where each stands, and their runs.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use firebell_store::DutyOutcome;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Body;
use crate::AppState;
use crate::auth::Caller;
use crate::duties::{self, DutyView};
use crate::error::ApiError;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DutyList {
    pub items: Vec<DutyView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DutyRunList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<firebell_store::DutyRun>,
    pub next_cursor: Option<String>,
}

/// A run, recorded for the occurrence it belongs to: the last one if it
/// has none yet, else the next (done early).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRunRequest {
    #[schema(value_type = String)]
    pub outcome: DutyOutcome,
    /// What was done and found: "restored 2026-12-06 backup to staging in 14 min".
    #[serde(default)]
    pub notes: String,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// 1–500, default 50.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/duties", tag = "duties", operation_id = "list_duties",
    responses((status = 200, body = DutyList), (status = 401)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<DutyList>, ApiError> {
    Ok(Json(DutyList {
        items: duties::views(&state).await?,
        next_cursor: None,
    }))
}

fn known(state: &AppState, key: &str) -> Result<(), ApiError> {
    let policy = state.policy.policy();
    if policy.duties.iter().any(|d| d.key == key) {
        return Ok(());
    }
    let keys: Vec<&str> = policy.duties.iter().map(|d| d.key.as_str()).collect();
    Err(ApiError::NotFound {
        code: "duty_not_found",
        message: format!(
            "no duty {key:?} in the policy; it has {}",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        ),
    })
}

#[utoipa::path(get, path = "/duties/{key}/runs", tag = "duties", operation_id = "list_duty_runs", params(("key" = String, Path, description = "Duty key"), RunQuery),
    responses((status = 200, body = DutyRunList), (status = 401), (status = 404)))]
pub async fn runs(
    State(state): State<AppState>,
    Path(key): Path<String>,
    query: Result<Query<RunQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DutyRunList>, ApiError> {
    let Query(q) = query?;
    known(&state, &key)?;
    let limit = match q.limit {
        None => 50,
        Some(n @ 1..=500) => n,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be 1-500, got {n}"),
            ));
        }
    };
    Ok(Json(DutyRunList {
        items: state.store.duty_runs(Some(&key), limit).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/duties/{key}/runs", tag = "duties", operation_id = "record_duty_run", request_body = RecordRunRequest,
    params(("key" = String, Path, description = "Duty key")),
    responses((status = 201, body = Object, description = "The run as recorded"), (status = 400), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn record(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Body(r): Body<RecordRunRequest>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    known(&state, &key)?;
    if r.notes.len() > 20_000 {
        return Err(ApiError::Unprocessable {
            code: "invalid_notes",
            message: "notes are at most 20000 bytes".into(),
        });
    }
    let run = duties::record_run(&state, &key, r.outcome, r.notes.trim(), &caller.name)
        .await?
        .ok_or_else(|| ApiError::Unprocessable {
            code: "no_occurrence",
            message: format!("duty {key:?} has no occurrence to record a run for"),
        })?;
    let location = format!(
        "/api/v1/duties/{}/runs/{}",
        super::path_segment(&key),
        super::path_segment(&run.id)
    );
    Ok(super::created(location, run))
}

#[utoipa::path(get, path = "/duties/{key}/runs/{id}", tag = "duties", operation_id = "get_duty_run",
    params(("key" = String, Path, description = "Duty key"), ("id" = String, Path, description = "Run id")),
    responses((status = 200, body = Object, description = "The run: {id, duty, occurrence, outcome, notes, actor, at}")))]
pub async fn run(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
) -> Result<Json<firebell_store::DutyRun>, ApiError> {
    known(&state, &key)?;
    state
        .store
        .duty_runs(Some(&key), 500)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound {
            code: "duty_run_not_found",
            message: format!("no run {id:?} of duty {key:?}"),
        })
}
