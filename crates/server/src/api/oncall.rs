//! `GET /api/v1/oncall`: who is on call now and next, per schedule, from the
//! policy's `[[schedules]]` (evaluated by the pure core at the server's "now"
//! or at `at`).

use axum::Json;
use axum::extract::{Query, State};
use firebell_core::Timestamp;
use firebell_core::incident::display_name;
use firebell_core::schedule::{OnCall, next_shifts, on_call};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;

/// Shifts listed after the current one.
const NEXT: usize = 3;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnCallQuery {
    /// One schedule by name (default: all).
    pub schedule: Option<String>,
    /// The instant to ask about (RFC 3339; default: now).
    pub at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Shift {
    #[serde(flatten)]
    pub shift: OnCall,
    /// The person's display name from the policy.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleOnCall {
    pub schedule: String,
    pub at: Timestamp,
    /// Who is on call at `at`; absent when nobody is.
    pub now: Option<Shift>,
    /// The following shifts.
    pub next: Vec<Shift>,
}

#[utoipa::path(get, path = "/oncall", tag = "on-call", params(OnCallQuery),
    responses((status = 200, body = Vec<ScheduleOnCall>), (status = 400), (status = 404)))]
pub async fn oncall(
    State(state): State<AppState>,
    query: Result<Query<OnCallQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ScheduleOnCall>>, ApiError> {
    let Query(q) = query?;
    let policy = state.policy.policy();
    let at: Timestamp = match q.at.as_deref() {
        Some(t) => t.parse().map_err(|e| {
            ApiError::bad_request(
                "invalid_query",
                format!("at={t:?} is not an RFC 3339 instant: {e}"),
            )
        })?,
        None => state.clock.now(),
    };
    let names: Vec<String> = match &q.schedule {
        Some(name) => {
            let found = policy
                .schedules
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    let known: Vec<_> = policy.schedules.iter().map(|s| s.name.as_str()).collect();
                    ApiError::NotFound {
                        code: "schedule_not_found",
                        message: format!(
                            "no schedule {name:?}; the policy defines {}",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    }
                })?;
            vec![found.name.clone()]
        }
        None => policy.schedules.iter().map(|s| s.name.clone()).collect(),
    };
    // Overrides created through the API arrive with the escalation work; the
    // policy's rotations are the whole answer for now.
    let shift = |s: OnCall| Shift {
        name: display_name(&policy, &s.person),
        shift: s,
    };
    let out = names
        .into_iter()
        .map(|name| {
            let now = on_call(&policy, &name, at, &[]);
            let from = now.as_ref().map(|n| n.until).unwrap_or(at);
            let next = next_shifts(&policy, &name, from, &[], NEXT)
                .into_iter()
                .map(shift)
                .collect();
            ScheduleOnCall {
                schedule: name,
                at,
                now: now.map(shift),
                next,
            }
        })
        .collect();
    Ok(Json(out))
}
