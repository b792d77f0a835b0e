//! `GET /api/v1/oncall`: who is on call now and next, per schedule, from the
//! policy's `[[schedules]]` and the stored overrides (see [`super::overrides`]),
//! evaluated by the pure core at the server's "now" or at `at`.

use axum::Json;
use axum::extract::{Query, State};
use firebell_core::Timestamp;
use firebell_core::incident::display_name;
use firebell_core::schedule::{OnCall, next_shifts, on_call};
use jiff::SignedDuration;

use crate::AppState;
use crate::error::ApiError;
use crate::wire::{OnCallList, OnCallQuery, ScheduleOnCall, Shift};

/// Shifts listed after the current one.
const NEXT: usize = 3;
/// Overrides starting within this many days of `at` are always considered.
const OVERRIDE_HORIZON_DAYS: i64 = 90;

#[utoipa::path(get, path = "/oncall", tag = "on-call", params(OnCallQuery),
    responses((status = 200, body = OnCallList), (status = 400), (status = 404)))]
pub async fn oncall(
    State(state): State<AppState>,
    query: Result<Query<OnCallQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OnCallList>, ApiError> {
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
        Some(name) => vec![super::overrides::schedule_name(&policy, name)?],
        None => policy.schedules.iter().map(|s| s.name.clone()).collect(),
    };
    // The stored overrides that can matter: overrides only split shifts (or
    // fill gaps), so the shifts shown end no later than the plain rotation's
    // would; at least OVERRIDE_HORIZON_DAYS ahead for schedules made of gaps.
    let overrides = if names.is_empty() {
        Vec::new()
    } else {
        let mut horizon = at
            .checked_add(SignedDuration::from_hours(24 * OVERRIDE_HORIZON_DAYS))
            .unwrap_or(Timestamp::MAX);
        for name in &names {
            if let Some(last) = next_shifts(&policy, name, at, &[], NEXT + 1).last() {
                horizon = horizon.max(last.until);
            }
        }
        state.store.overrides_between(at, horizon).await?
    };
    let shift = |s: OnCall| Shift {
        name: display_name(&policy, &s.person),
        shift: s,
    };
    let items = names
        .into_iter()
        .map(|name| {
            let now = on_call(&policy, &name, at, &overrides);
            let from = now.as_ref().map(|n| n.until).unwrap_or(at);
            let next = next_shifts(&policy, &name, from, &overrides, NEXT)
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
    Ok(Json(OnCallList {
        items,
        next_cursor: None,
    }))
}
