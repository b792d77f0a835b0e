//! `/api/v1`: every route here needs a bearer token (see [`crate::auth`]).
//! The modules [`pagerduty`] and [`webhooks`] have their own routers, merged
//! at the top: their senders authenticate by routing key or signature.

pub mod ack;
pub mod alertmanager;
pub mod alertmanager_webhook;
pub mod changes;
pub mod duties;
pub mod follow_ups;
pub mod health;
pub mod incidents;
pub mod json;
pub mod notifications;
pub mod oncall;
pub mod openapi;
pub mod overrides;
pub mod pagerduty;
pub mod posted;
pub mod reports;
pub mod set_aside;
pub mod signals;
pub mod tokens;
pub mod webhooks;

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::AppState;
use crate::error::ApiError;
use crate::policy_source::LoadedPolicy;
use crate::status_page::subscribers;
use crate::wire::PolicyResponse;

/// JSON request body whose rejections (bad syntax, wrong shape, too large,
/// wrong content type) come back in our error format.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
}

/// Percent-encode an id for a `Location` path segment.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A 201 answer: `Location` names what was created (`/api/v1/...`).
pub fn created<T>(
    location: String,
    body: T,
) -> (StatusCode, [(header::HeaderName, String); 1], Json<T>) {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
}

pub fn router(state: AppState) -> Router<AppState> {
    use incidents as i;
    Router::new()
        .route("/incidents", post(i::declare).get(i::list))
        .route("/incidents/{id}", get(i::show))
        .route("/incidents/{id}/acknowledge", post(i::acknowledge))
        .route("/incidents/{id}/roles", post(i::assign_role))
        .route("/incidents/{id}/roles/unassign", post(i::unassign_role))
        .route("/incidents/{id}/updates", post(i::post_update))
        .route("/incidents/{id}/severity", post(i::change_severity))
        .route("/incidents/{id}/notes", post(i::add_note))
        .route(
            "/incidents/{id}/checklist/tick",
            post(i::tick_checklist_item),
        )
        .route("/incidents/{id}/handoff", post(i::handoff))
        .route("/incidents/{id}/resolve", post(i::resolve))
        .route("/incidents/{id}/reopen", post(i::reopen))
        .route("/incidents/{id}/components", post(i::set_component_state))
        .route("/incidents/{id}/tags", post(i::change_tags))
        .route("/incidents/{id}/obligations", post(i::meet_obligation))
        .route("/incidents/{id}/render", post(i::render))
        .route(
            "/incidents/{id}/postmortem",
            get(follow_ups::show).put(follow_ups::edit),
        )
        .route(
            "/incidents/{id}/postmortem/state",
            post(follow_ups::set_state),
        )
        .route(
            "/incidents/{id}/postmortem/review",
            post(follow_ups::schedule_review),
        )
        .route(
            "/incidents/{id}/action-items",
            post(follow_ups::add_action_item),
        )
        .route(
            "/incidents/{id}/action-items/{item}",
            patch(follow_ups::update_action_item),
        )
        .route("/action-items", get(follow_ups::list_action_items))
        .route("/postmortems", get(follow_ups::list_postmortems))
        .route("/reports", get(reports::report))
        .route("/duties", get(duties::list))
        .route("/duties/{key}/runs", get(duties::runs).post(duties::record))
        .route("/duties/{key}/runs/{id}", get(duties::run))
        .route("/incidents/{id}/alerts", get(i::alerts))
        .route("/incidents/{id}/rollback", post(changes::decide_rollback))
        .route("/incidents/{id}/runbooks", post(changes::attach_runbook))
        .route("/deploys", post(changes::record_deploy))
        .route("/deploys/{id}/checks", post(changes::check_in))
        .route("/changes", get(changes::list_changes))
        .route("/changes/{id}", get(changes::get_change))
        .route("/freeze", get(changes::freeze_status))
        .route(
            "/freezes",
            get(changes::list_freezes).post(changes::create_freeze),
        )
        .route("/freezes/{id}", get(changes::get_freeze))
        .route("/freezes/{id}/lift", post(changes::lift_freeze))
        .route("/freeze/overrides", post(changes::create_override))
        .route("/providers", get(changes::providers))
        .route(
            "/incidents/{id}/notifications",
            get(notifications::of_incident),
        )
        .route("/incidents/{id}/agenda", get(notifications::agenda))
        .route("/notifications", get(notifications::list))
        .route(
            "/escalation-policies",
            get(notifications::escalation_policies),
        )
        .route(
            "/alertmanager/webhook",
            post(alertmanager_webhook::receive).layer(axum::extract::DefaultBodyLimit::max(
                alertmanager::MAX_ALERTS_BODY,
            )),
        )
        .route("/heartbeats/{name}", post(health::ping))
        .route("/checks", get(health::list))
        .route("/alerts", get(signals::list_alerts))
        .route(
            "/silences",
            get(signals::list_silences).post(signals::create_silence),
        )
        .route("/silences/{id}", get(signals::get_silence))
        .route("/silences/{id}/expire", post(signals::expire_silence))
        .route(
            "/maintenance",
            get(signals::list_maintenance).post(signals::create_maintenance),
        )
        .route("/maintenance/{id}", get(signals::get_maintenance))
        .route("/maintenance/{id}/end", post(signals::end_maintenance))
        .route(
            "/maintenance/{id}/review",
            post(signals::review_maintenance),
        )
        .route("/subscribers", get(subscribers::list))
        .route("/subscribers/{id}", delete(subscribers::remove))
        .route("/subscribers/{id}/messages", get(subscribers::messages))
        .route("/oncall", get(oncall::oncall))
        .route(
            "/schedules/{name}/overrides",
            get(overrides::list).post(overrides::create),
        )
        .route(
            "/schedules/{name}/overrides/{id}",
            get(overrides::get).delete(overrides::delete),
        )
        .route("/overrides", get(overrides::list_all))
        .route("/policy", get(policy))
        .route("/set-aside", get(set_aside::list))
        .route("/set-aside/{id}", delete(set_aside::discard))
        .route("/set-aside/{id}/retry", post(set_aside::retry))
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{id}", get(tokens::get).delete(tokens::revoke))
        .route("/openapi.json", get(serve_openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::auth::require_token,
        ))
}

#[utoipa::path(get, path = "/policy", tag = "policy", responses((status = 200, body = PolicyResponse, description = "The policy in force and where it came from"), (status = 401)))]
async fn policy(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<crate::auth::Caller>,
) -> Result<Json<PolicyResponse>, ApiError> {
    let loaded: std::sync::Arc<LoadedPolicy> = state.policy.current();
    let internal = |e: serde_json::Error| ApiError::Internal(e.to_string());
    let mut policy = serde_json::to_value(&*loaded.policy).map_err(internal)?;
    // Viewers never see phone numbers (s000.private-roster).
    if caller.role < firebell_store::Role::Responder
        && let Some(people) = policy.get_mut("people").and_then(|p| p.as_object_mut())
    {
        for person in people.values_mut() {
            for c in person
                .get_mut("contacts")
                .and_then(|c| c.as_array_mut())
                .into_iter()
                .flatten()
            {
                let phone = c["kind"]
                    .as_str()
                    .is_some_and(firebell_core::policy::ContactKind::is_phone_kind);
                if phone {
                    c["address"] = serde_json::Value::String("(hidden)".into());
                }
            }
        }
    }
    let mut loaded_json = serde_json::to_value(&*loaded).map_err(internal)?;
    // A refused reload's reason can quote a roster's phone number.
    if caller.role < firebell_store::Role::Responder && loaded_json["last_reload_error"].is_string()
    {
        loaded_json["last_reload_error"] =
            serde_json::Value::String("refused; the reason is shown to responders".into());
    }
    Ok(Json(PolicyResponse {
        loaded: loaded_json,
        policy,
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Firebell API", description = "Incident response: declare, run and resolve incidents under a policy."),
    servers((url = "/api/v1")),
    paths(
        incidents::declare, incidents::list, incidents::show, incidents::acknowledge, incidents::assign_role,
        incidents::unassign_role, incidents::post_update, incidents::change_severity, incidents::add_note,
        incidents::tick_checklist_item, incidents::handoff, incidents::resolve, incidents::reopen, incidents::set_component_state, incidents::change_tags, incidents::meet_obligation, incidents::render, incidents::alerts,
        follow_ups::show, follow_ups::edit, follow_ups::set_state, follow_ups::schedule_review,
        follow_ups::add_action_item, follow_ups::update_action_item, follow_ups::list_action_items,
        follow_ups::list_postmortems, reports::report, duties::list, duties::runs, duties::record, duties::run,
        signals::list_alerts, signals::list_silences, signals::create_silence, signals::get_silence, signals::expire_silence,
        signals::list_maintenance, signals::create_maintenance, signals::get_maintenance, signals::end_maintenance, signals::review_maintenance,
        subscribers::list, subscribers::remove, subscribers::messages,
        oncall::oncall, notifications::list, notifications::of_incident, notifications::agenda,
        notifications::escalation_policies,
        overrides::create, overrides::list, overrides::list_all, overrides::get, overrides::delete,
        health::ping, health::list, alertmanager_webhook::receive, webhooks::receive,
        policy, tokens::create, tokens::list, tokens::get, tokens::revoke, serve_openapi,
        set_aside::list, set_aside::retry, set_aside::discard,
        changes::record_deploy, changes::check_in, changes::list_changes, changes::get_change, changes::freeze_status, changes::list_freezes,
        changes::create_freeze, changes::get_freeze, changes::lift_freeze, changes::create_override, changes::decide_rollback,
        changes::attach_runbook, changes::providers,
    ),
    components(schemas(crate::wire::ErrorBody, crate::wire::ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi",
    responses((status = 200, description = "This document", content_type = "application/json")))]
async fn serve_openapi() -> Json<&'static serde_json::Value> {
    Json(openapi::document())
}
