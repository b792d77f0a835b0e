//! `GET /api/v1/reports`: the numbers of a date range (see
//! [`firebell_core::report`]), as JSON or CSV (one row per incident).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use firebell_core::Timestamp;
use firebell_core::report::{self, Report};
use firebell_store::IncidentFilter;

use crate::AppState;
use crate::error::ApiError;
use crate::wire::ReportQuery;

/// Incidents a report reads at most; a longer range says so (`truncated`).
pub const MAX_INCIDENTS: usize = 5000;

#[utoipa::path(get, path = "/reports", tag = "reports", params(ReportQuery),
    responses((status = 200, body = Report, description = "JSON, or CSV with `format=csv`"), (status = 400), (status = 401)))]
pub async fn report(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let now = state.clock.now();
    let since = instant("since", q.since.as_deref().unwrap_or("30d"), now)?;
    let until = match q.until.as_deref() {
        Some(u) => instant("until", u, now)?,
        None => now,
    };
    if since >= until {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("since ({since}) must be before until ({until})"),
        ));
    }
    let (report, _truncated) = build(&state, since, until, now).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            csv(&report),
        )
            .into_response()),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("format={other:?}: use json or csv"),
        )),
    }
}

/// The report of `[since, until)`, reading at most [`MAX_INCIDENTS`]
/// incidents (newest first); whether it had to stop there.
pub async fn build(
    state: &AppState,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
) -> Result<(Report, bool), ApiError> {
    let mut incidents = Vec::new();
    let mut cursor = None;
    let mut truncated = false;
    loop {
        let page = state
            .store
            .list_incidents(&IncidentFilter {
                since: Some(since),
                until: Some(until),
                limit: 500,
                cursor,
                ..Default::default()
            })
            .await?;
        for i in page.items.into_iter().filter(|i| !i.drill) {
            let log = state.store.load_events(&i.id).await?;
            incidents.push((i, log));
        }
        cursor = page.next_cursor;
        if incidents.len() >= MAX_INCIDENTS {
            truncated = cursor.is_some();
            break;
        }
        if cursor.is_none() {
            break;
        }
    }
    let policy = state.policy.policy();
    let mut report = report::report(&policy, &incidents, since, until, now);
    report.truncated = truncated;
    Ok((report, truncated))
}

/// `90d` (that long before now) or an RFC 3339 instant.
fn instant(field: &str, text: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    match text.parse::<firebell_core::Duration>() {
        Ok(d) => now
            .checked_sub(d.as_signed())
            .map_err(|e| ApiError::bad_request("invalid_query", format!("{field}={text:?}: {e}"))),
        Err(_) => Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "{field}={text:?} is neither an RFC 3339 instant (2026-11-01T00:00:00Z) nor a duration back from now (90d)"
            ),
        )),
    }
}

/// One row per incident, for spreadsheets.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "id,severity,declared_at,services,time_to_ack_s,time_to_resolve_s,ack_on_target,resolve_on_target,updates_owed,updates_on_time,escalations,postmortem,title\n",
    );
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let yes = |v: Option<bool>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in &report.rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            field(&r.id),
            field(&r.severity),
            r.declared_at,
            field(&r.services.join(" ")),
            opt(r.time_to_ack),
            opt(r.time_to_resolve),
            yes(r.ack_on_target),
            yes(r.resolve_on_target),
            r.updates_owed,
            r.updates_on_time,
            r.escalations,
            field(&r.postmortem),
            field(&r.title),
        ));
    }
    out
}

/// A CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`, `-`
/// or `@` is defused so a spreadsheet does not run it as a formula.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
