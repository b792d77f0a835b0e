//! `/api/v1/incidents`: declare, list, show, and one endpoint per command.
//!
//! Every command runs the same loop ([`execute`]): load the log, fold it into
//! state, `decide`, and append the new events only if the incident is still at
//! the version that was read. A caller who names `expected_version` gets a 409
//! on any mismatch — two people acting on the same version never both win. A
//! caller who does not is re-checked against fresh state and retried.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use firebell_core::Timestamp;
use firebell_core::incident::{
    self, Command, Declare, Event, Incident, RenderedMessage, Status, UpdateMessage,
};
use firebell_store::IncidentFilter;

use super::Body;
use crate::AppState;
use crate::auth::Caller;
use crate::command::Applied;
use crate::error::{ApiError, not_found_incident};
use crate::wire::{
    AcknowledgeRequest, AlertList, CommandResponse, ComponentStateRequest, DeclareRequest,
    HandoffRequest, IncidentAlertsQuery, IncidentDetail, IncidentList, IncidentListQuery,
    NoteRequest, ObligationRequest, RenderRequest, ReopenRequest, ResolveRequest, RoleRequest,
    SeverityRequest, TagsRequest, TickRequest, UpdateRequest,
};

#[utoipa::path(post, path = "/incidents", tag = "incidents", request_body = DeclareRequest,
    responses((status = 201, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn declare(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<DeclareRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let d = Declare {
        title: req.title,
        severity: req.severity,
        summary: req.summary,
        services: req.services,
        tags: req.tags,
        detected_at: req.detected_at,
        commander: req.commander,
        escalation_policy: req.escalation_policy,
        drill: req.drill,
    };
    let Applied {
        incident: created,
        events,
    } = state
        .incidents
        .declare(&d, &caller.name, Vec::new())
        .await?;
    metrics::counter!("firebell_incidents_declared_total", "severity" => created.severity.clone())
        .increment(1);
    tracing::info!(incident = %created.id, severity = %created.severity, actor = %caller.name, "incident declared");
    let location = format!("/api/v1/incidents/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CommandResponse {
            incident: created,
            events,
        }),
    ))
}

#[utoipa::path(get, path = "/incidents", tag = "incidents", operation_id = "list_incidents", params(IncidentListQuery),
    responses((status = 200, body = IncidentList), (status = 400), (status = 401), (status = 422)))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<IncidentListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<IncidentList>, ApiError> {
    let Query(q) = query?;
    let policy = state.policy.policy();
    let mut filter = IncidentFilter {
        limit: q.limit.unwrap_or(50),
        cursor: q.cursor,
        service: q.service,
        ..Default::default()
    };
    if !(1..=500).contains(&filter.limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1-500, got {}", filter.limit),
        ));
    }
    for s in csv(q.status.as_deref()) {
        if s.eq_ignore_ascii_case("open") {
            filter
                .statuses
                .extend(Status::ALL.into_iter().filter(|s| s.is_open()));
        } else {
            filter.statuses.push(
                s.parse()
                    .map_err(|e: String| ApiError::bad_request("invalid_query", e))?,
            );
        }
    }
    for s in csv(q.severity.as_deref()) {
        let sev = policy.severity(s).ok_or_else(|| ApiError::Unprocessable {
            code: "unknown_severity",
            message: format!(
                "unknown severity {s:?}; the policy defines {}",
                policy.severity_names().join(", ")
            ),
        })?;
        filter.severities.push(sev.name.clone());
    }
    filter.since = q
        .since
        .as_deref()
        .map(|s| parse_instant("since", s))
        .transpose()?;
    filter.until = q
        .until
        .as_deref()
        .map(|s| parse_instant("until", s))
        .transpose()?;
    let page = state.store.list_incidents(&filter).await?;
    Ok(Json(IncidentList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/incidents/{id}", tag = "incidents", operation_id = "show_incident", params(("id" = String, Path, description = "Incident id, e.g. INC-20261123-001")),
    responses((status = 200, body = IncidentDetail), (status = 401), (status = 404)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let (incident, mut timeline) = load(&state, &id).await?;
    let phones = caller.role >= firebell_store::Role::Responder;
    if !phones {
        for e in &mut timeline {
            e.kind.hide_phone_details();
        }
    }
    let policy = state.policy.policy();
    let now = state.clock.now();
    let deadlines = incident::deadlines(&incident, &policy, now);
    let ctx =
        crate::changes::incident_context(&state.store, &policy, &incident, phones, now).await?;
    Ok(Json(IncidentDetail {
        incident,
        deadlines,
        timeline,
        changes: ctx.changes,
        rollback: ctx.rollback,
        contacts: ctx.contacts,
        upstreams: ctx.upstreams,
    }))
}

macro_rules! command_endpoint {
    ($name:ident, $path:literal, $req:ty, |$r:ident| $cmd:expr) => {
        #[utoipa::path(post, path = $path, tag = "incidents", request_body = $req,
            params(("id" = String, Path, description = "Incident id")),
            responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403),
                      (status = 404), (status = 409, description = "Version conflict or not allowed in the current state"),
                      (status = 422)))]
        pub async fn $name(
            State(state): State<AppState>,
            Extension(caller): Extension<Caller>,
            Path(id): Path<String>,
            Body($r): Body<$req>,
        ) -> Result<Json<CommandResponse>, ApiError> {
            let expected = $r.expected_version;
            let cmd: Command = $cmd;
            execute(&state, &caller.name, &id, expected, cmd)
                .await
                .map(Json)
        }
    };
}

command_endpoint!(
    acknowledge,
    "/incidents/{id}/acknowledge",
    AcknowledgeRequest,
    |r| Command::Acknowledge
);
command_endpoint!(assign_role, "/incidents/{id}/roles", RoleRequest, |r| {
    Command::AssignRole {
        role: r.role,
        person: r.person,
    }
});
command_endpoint!(
    unassign_role,
    "/incidents/{id}/roles/unassign",
    RoleRequest,
    |r| Command::UnassignRole {
        role: r.role,
        person: r.person
    }
);
command_endpoint!(
    change_severity,
    "/incidents/{id}/severity",
    SeverityRequest,
    |r| Command::ChangeSeverity {
        severity: r.severity,
        reason: r.reason
    }
);
command_endpoint!(add_note, "/incidents/{id}/notes", NoteRequest, |r| {
    Command::AddNote { text: r.text }
});
command_endpoint!(
    tick_checklist_item,
    "/incidents/{id}/checklist/tick",
    TickRequest,
    |r| Command::TickChecklistItem { item: r.item }
);
command_endpoint!(handoff, "/incidents/{id}/handoff", HandoffRequest, |r| {
    Command::Handoff {
        role: r.role,
        to: r.to,
        level: r.level,
        summary: r.summary,
        metrics: r.metrics,
        evidence: r.evidence,
        next_steps: r.next_steps,
    }
});
command_endpoint!(resolve, "/incidents/{id}/resolve", ResolveRequest, |r| {
    Command::Resolve { summary: r.summary }
});
command_endpoint!(
    set_component_state,
    "/incidents/{id}/components",
    ComponentStateRequest,
    |r| Command::SetComponentState {
        component: r.component,
        status: r.status,
        reason: r.reason
    }
);
command_endpoint!(change_tags, "/incidents/{id}/tags", TagsRequest, |r| {
    Command::ChangeTags {
        add: r.add,
        remove: r.remove,
    }
});
command_endpoint!(
    meet_obligation,
    "/incidents/{id}/obligations",
    ObligationRequest,
    |r| Command::MeetObligation {
        key: r.key,
        evidence: r.evidence
    }
);
command_endpoint!(reopen, "/incidents/{id}/reopen", ReopenRequest, |r| {
    Command::Reopen { reason: r.reason }
});

#[utoipa::path(post, path = "/incidents/{id}/updates", tag = "incidents", request_body = UpdateRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403), (status = 404),
              (status = 409), (status = 422)))]
pub async fn post_update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<UpdateRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let message = match (r.message, r.template) {
        (Some(text), None) => UpdateMessage::Text(text),
        (None, Some(name)) => UpdateMessage::Template {
            name,
            locale: r.locale,
            vars: r.vars,
        },
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give either `message` or `template`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "an update needs `message` or `template`",
            ));
        }
    };
    let cmd = Command::PostUpdate {
        status: r.status,
        visibility: r.visibility,
        message,
    };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(post, path = "/incidents/{id}/render", tag = "incidents", request_body = RenderRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = RenderedMessage, description = "Preview only; nothing is posted"),
              (status = 404), (status = 422)))]
pub async fn render(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(r): Body<RenderRequest>,
) -> Result<Json<RenderedMessage>, ApiError> {
    let (incident, _) = load(&state, &id).await?;
    let policy = state.policy.policy();
    let msg = incident::render_template_linked(
        &policy,
        &incident,
        &r.template,
        r.locale.as_deref(),
        &r.vars,
        state.clock.now(),
        &state.links.base(),
    )?;
    Ok(Json(msg))
}

/// Load an incident's log and fold it; 404 if there is none.
pub(crate) async fn load(state: &AppState, id: &str) -> Result<(Incident, Vec<Event>), ApiError> {
    let events = state.store.load_events(id).await?;
    if events.is_empty() {
        return Err(not_found_incident(id));
    }
    let incident = Incident::from_events(id, &events).ok_or_else(|| {
        ApiError::Internal(format!(
            "incident {id} has a log that does not start with its declaration"
        ))
    })?;
    Ok((incident, events))
}

/// Run one command on incident `id` as `actor` through the one command path
/// ([`crate::command`]). Shared by every command endpoint and by senders
/// that act on incidents (a PagerDuty `acknowledge`, a page's ack link).
pub(crate) async fn execute(
    state: &AppState,
    actor: &str,
    id: &str,
    expected: Option<u64>,
    cmd: Command,
) -> Result<CommandResponse, ApiError> {
    let Applied { incident, events } = state.incidents.execute(id, actor, expected, &cmd).await?;
    metrics::counter!("firebell_commands_total", "command" => cmd.name()).increment(1);
    tracing::info!(incident = %id, command = cmd.name(), actor = %actor, version = incident.version, "command applied");
    Ok(CommandResponse { incident, events })
}

fn csv(s: Option<&str>) -> impl Iterator<Item = &str> {
    s.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_instant(field: &str, s: &str) -> Result<Timestamp, ApiError> {
    s.parse().map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("{field}={s:?} is not an RFC 3339 instant (e.g. 2026-11-23T10:00:00Z): {e}"),
        )
    })
}

#[utoipa::path(get, path = "/incidents/{id}/alerts", tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), IncidentAlertsQuery),
    responses((status = 200, body = AlertList), (status = 404)))]
pub async fn alerts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<IncidentAlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(500);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1-10000, got {limit}"),
        ));
    }
    load(&state, &id).await?;
    let (firing, total) = state.store.alert_counts(&id, state.clock.now()).await?;
    let items = crate::ingest::processor::alerts_of(&state, &id, limit).await?;
    Ok(Json(AlertList {
        items,
        next_cursor: None,
        firing,
        total,
    }))
}
