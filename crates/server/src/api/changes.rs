//! Change safety: deploys and other changes, the freeze a CI step obeys,
//! freezes and overrides, the rollback decision, runbooks, upstreams.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use firebell_core::change::{
    Action, ChangeDetails, ChangeKind, FreezeAnswer, FreezeKind, ManualFreeze, Scope,
};
use firebell_core::incident::{ChangeRef, Command, RollbackDecision};
use firebell_core::{Duration, Timestamp};
use firebell_store::{ChangeRecord, Role};
use sha2::{Digest, Sha256};

use super::Body;
use super::incidents::{execute, load};
use crate::AppState;
use crate::auth::Caller;
use crate::changes::{freeze_answer, freezing_incidents, upstreams};
use crate::error::ApiError;
use crate::wire::{
    ChangeList, ChangesQuery, CheckInRequest, CheckInResponse, CommandResponse, DeployRequest,
    DeployResponse, FreezeList, FreezeQuery, FreezeRequest, OverrideResponse, ProviderList,
    RollbackRequest, RunbookRequest,
};

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// Longest manual freeze or override.
const MAX_FREEZE: Duration = Duration::from_mins_const(366 * 24 * 60);

/// A problem with `environment` if the policy names environments (on its
/// services or freeze windows) and not this one: a typo must not read as
/// "not frozen" to a CI gate.
fn unknown_environment(policy: &firebell_core::Policy, environment: &str) -> Option<String> {
    let mut known: Vec<&str> = policy
        .services
        .values()
        .filter_map(|s| s.environment.as_deref())
        .chain(
            policy
                .freeze
                .windows
                .iter()
                .flat_map(|w| w.environments.iter().map(String::as_str)),
        )
        .collect();
    known.sort_unstable();
    known.dedup();
    (!known.is_empty() && !known.iter().any(|k| k.eq_ignore_ascii_case(environment))).then(|| {
        format!(
            "unknown environment {environment:?}; the policy's are {}",
            known.join(", ")
        )
    })
}

/// Longest text accepted in a change's fields.
const MAX_FIELD: usize = 1_000;

#[utoipa::path(post, path = "/deploys", tag = "changes", request_body = DeployRequest,
    responses((status = 201, body = DeployResponse), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn record_deploy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<DeployRequest>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let policy = state.policy.policy();
    let now = state.clock.now();
    let mut problems = Vec::new();
    let service = r.service.trim().to_string();
    if service.is_empty() {
        problems.push("'service' is required".to_string());
    } else if !policy.services.is_empty() && !policy.services.contains_key(&service) {
        problems.push(format!(
            "unknown service {service:?}; the policy has {}",
            policy
                .services
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let fields = [
        ("id", &r.id),
        ("environment", &r.environment),
        ("version", &r.version),
        ("previous_version", &r.previous_version),
        ("commit", &r.commit),
        ("author", &r.author),
        ("url", &r.url),
        ("summary", &r.summary),
        ("source", &r.source),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            if v.chars().count() > MAX_FIELD {
                problems.push(format!("'{name}' is longer than {MAX_FIELD} characters"));
            }
            if v.contains('\0') {
                problems.push(format!("'{name}' contains a NUL character"));
            }
        }
    }
    if r.id
        .as_deref()
        .is_some_and(|i| i.trim().is_empty() || i.contains('/'))
    {
        problems.push("'id' must be non-empty and without '/'".to_string());
    }
    if let Some(e) = &r.environment
        && let Some(p) = unknown_environment(&policy, e)
    {
        problems.push(p);
    }
    if let (Some(s), Some(f)) = (r.started_at, r.finished_at)
        && f < s
    {
        problems.push(format!("'finished_at' {f} is before 'started_at' {s}"));
    }
    if r.finished_at
        .is_some_and(|f| f > now + jiff::SignedDuration::from_mins(5))
    {
        problems.push("'finished_at' is in the future".to_string());
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_deploy",
            problems,
        });
    }
    let environment = r.environment.clone().or_else(|| {
        policy
            .services
            .get(&service)
            .and_then(|s| s.environment.clone())
    });
    let kind = r.kind.unwrap_or_default();
    let at = r.finished_at.unwrap_or(now).min(now);
    let freeze = crate::changes::freeze_answer_at(
        &state.store,
        &policy,
        Scope {
            service: Some(&service),
            environment: environment.as_deref(),
        },
        at,
    )
    .await?;
    let id = r.id.clone().unwrap_or_else(|| {
        let mut h = Sha256::new();
        for part in [
            Some(service.as_str()),
            environment.as_deref(),
            Some(kind.as_str()),
            r.version.as_deref(),
            r.commit.as_deref(),
        ] {
            h.update(part.unwrap_or("").as_bytes());
            h.update(b"\n");
        }
        h.update(at.as_millisecond().to_string().as_bytes());
        format!("chg-{}", &hex::encode(h.finalize())[..20])
    });
    let summary = r.summary.clone().unwrap_or_else(|| {
        let mut s = format!("{kind} {service}");
        if let Some(v) = &r.version {
            s.push_str(&format!(" {v}"));
        }
        if let Some(p) = &r.previous_version {
            s.push_str(&format!(" (was {p})"));
        }
        s
    });
    let change = ChangeRecord {
        id,
        source: r.source.clone().unwrap_or_else(|| caller.name.clone()),
        summary,
        service: Some(service),
        environment,
        kind,
        at,
        details: ChangeDetails {
            version: r.version.clone(),
            previous_version: r.previous_version.clone(),
            commit: r.commit.clone(),
            author: r.author.clone(),
            url: r.url.clone(),
            started_at: r.started_at,
            frozen: if freeze.frozen {
                freeze.reasons.clone()
            } else {
                Vec::new()
            },
        },
        payload: serde_json::Value::Null,
    };
    state.store.record_change(&change).await?;
    metrics::counter!("firebell_changes_recorded_total", "kind" => kind.as_str(), "frozen" => if freeze.frozen { "true" } else { "false" })
        .increment(1);
    if freeze.frozen {
        tracing::warn!(change = %change.id, service = ?change.service, "deploy recorded during a freeze");
    }
    let location = format!("/api/v1/changes/{}", super::path_segment(&change.id));
    Ok(super::created(location, DeployResponse { change, freeze }))
}

/// How long a check-in's alert fires unless a later check-in ends it.
const CHECK_IN_ALERT_LASTS: Duration = Duration::from_mins_const(60);

/// A deploy check-in's values against the rollback criteria: each met
/// criterion is recorded on the open incidents of the deploy's service, or
/// raised as an alert when none is open; a value back under its threshold
/// ends that alert.
#[utoipa::path(post, path = "/deploys/{id}/checks", tag = "changes", request_body = CheckInRequest,
    params(("id" = String, Path, description = "The change's id")),
    responses((status = 200, body = CheckInResponse), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn check_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<CheckInRequest>,
) -> Result<Json<CheckInResponse>, ApiError> {
    let policy = state.policy.policy();
    let now = state.clock.now();
    let change = state
        .store
        .get_change(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            code: "change_not_found",
            message: format!("no change {id:?}"),
        })?;
    if let Some((name, v)) = r.values.iter().find(|(_, v)| !v.is_finite()) {
        return Err(ApiError::bad_request(
            "invalid_check_in",
            format!("value {name:?} is {v}, not a number"),
        ));
    }
    let checked = firebell_core::change::check_in(&policy, &r.values);
    if checked.is_empty() {
        let metrics: Vec<&str> = policy
            .rollback
            .criteria
            .iter()
            .filter_map(|c| c.metric.as_deref())
            .collect();
        return Err(ApiError::Unprocessable {
            code: "no_criterion",
            message: format!(
                "no rollback criterion judges {}; the policy's metrics are {}",
                if r.values.is_empty() {
                    "an empty check-in".to_string()
                } else {
                    r.values.keys().cloned().collect::<Vec<_>>().join(", ")
                },
                if metrics.is_empty() {
                    "none".to_string()
                } else {
                    metrics.join(", ")
                }
            ),
        });
    }
    let mut recorded_on = Vec::new();
    let mut alerts = Vec::new();
    let open = match &change.service {
        Some(service) => {
            state
                .store
                .list_incidents(&firebell_store::IncidentFilter {
                    statuses: firebell_core::Status::ALL
                        .into_iter()
                        .filter(|s| s.is_open())
                        .collect(),
                    service: Some(service.clone()),
                    limit: 100,
                    ..Default::default()
                })
                .await?
                .items
        }
        None => Vec::new(),
    };
    for c in &checked {
        let severity = policy
            .rollback
            .criteria
            .iter()
            .find(|x| x.name == c.criterion)
            .and_then(|x| x.severity.clone());
        if !c.met {
            alerts.push(firebell_core::change::check_in_alert(
                &change,
                c,
                severity,
                now,
                CHECK_IN_ALERT_LASTS,
            ));
            continue;
        }
        if open.is_empty() {
            alerts.push(firebell_core::change::check_in_alert(
                &change,
                c,
                severity,
                now,
                CHECK_IN_ALERT_LASTS,
            ));
        }
        for incident in &open {
            if incident
                .rollback
                .criteria_met
                .iter()
                .any(|m| m.criterion == c.criterion)
            {
                continue;
            }
            let cmd = Command::MeetRollbackCriterion {
                criterion: c.criterion.clone(),
                detail: format!("{} after {}", c.detail(), change.id),
            };
            // Met meanwhile (an alert raced it) or resolved: nothing to add.
            match execute(&state, &caller.name, &incident.id, None, cmd).await {
                Ok(_) => recorded_on.push(incident.id.clone()),
                Err(ApiError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let alerted = alerts
        .iter()
        .filter(|a| a.ends_at.is_some_and(|e| e > now))
        .map(|a| a.key.clone())
        .collect();
    state.ingest.submit(alerts).await?;
    Ok(Json(CheckInResponse {
        checked,
        recorded_on,
        alerted,
    }))
}

#[utoipa::path(get, path = "/changes", tag = "changes", params(ChangesQuery),
    responses((status = 200, body = ChangeList), (status = 400), (status = 401)))]
pub async fn list_changes(
    State(state): State<AppState>,
    query: QueryResult<ChangesQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    let Query(q) = query?;
    let now = state.clock.now();
    let since = match &q.since {
        Some(s) => parse_instant("since", s)?,
        None => now - jiff::SignedDuration::from_hours(24 * 7),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000) as usize;
    let items: Vec<ChangeRecord> = state
        .store
        .list_changes(q.service.as_deref(), since)
        .await?
        .into_iter()
        .filter(|c| q.kind.is_none_or(|k| c.kind == k))
        .take(limit)
        .collect();
    Ok(Json(ChangeList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/changes/{id}", tag = "changes", params(("id" = String, Path, description = "Change id")),
    responses((status = 200, body = ChangeRecord)))]
pub async fn get_change(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChangeRecord>, ApiError> {
    state
        .store
        .get_change(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound {
            code: "change_not_found",
            message: format!("no change {id:?}"),
        })
}

#[utoipa::path(get, path = "/freeze", tag = "changes", params(FreezeQuery),
    responses((status = 200, body = FreezeAnswer), (status = 400), (status = 401)))]
pub async fn freeze_status(
    State(state): State<AppState>,
    query: QueryResult<FreezeQuery>,
) -> Result<Json<FreezeAnswer>, ApiError> {
    let Query(q) = query?;
    let policy = state.policy.policy();
    if q.service.is_none() && q.environment.is_none() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "give 'service', 'environment' or both",
        ));
    }
    if let Some(s) = &q.service
        && !policy.services.is_empty()
        && !policy.services.contains_key(s)
    {
        return Err(ApiError::bad_request(
            "unknown_service",
            format!("unknown service {s:?}"),
        ));
    }
    if let Some(e) = &q.environment
        && let Some(p) = unknown_environment(&policy, e)
    {
        return Err(ApiError::bad_request("unknown_environment", p));
    }
    let scope = Scope {
        service: q.service.as_deref(),
        environment: q.environment.as_deref(),
    };
    Ok(Json(
        freeze_answer(&state.store, &policy, scope, state.clock.now()).await?,
    ))
}

#[utoipa::path(get, path = "/freezes", tag = "changes",
    responses((status = 200, body = FreezeList), (status = 401)))]
pub async fn list_freezes(State(state): State<AppState>) -> Result<Json<FreezeList>, ApiError> {
    Ok(Json(FreezeList {
        items: state.store.list_freezes(state.clock.now()).await?,
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/freezes", tag = "changes", request_body = FreezeRequest,
    responses((status = 201, body = ManualFreeze), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn create_freeze(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<FreezeRequest>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let freeze = manual(&state, &caller, &r, FreezeKind::Freeze)?;
    state.store.create_freeze(&freeze).await?;
    tracing::info!(freeze = %freeze.id, by = %caller.name, "deploys frozen by hand");
    let location = format!("/api/v1/freezes/{}", super::path_segment(&freeze.id));
    Ok(super::created(location, freeze))
}

#[utoipa::path(get, path = "/freezes/{id}", tag = "changes",
    params(("id" = String, Path, description = "Freeze or override id")),
    responses((status = 200, body = ManualFreeze, description = "The freeze or override, while it is in force")))]
pub async fn get_freeze(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ManualFreeze>, ApiError> {
    state
        .store
        .list_freezes(state.clock.now())
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound {
            code: "freeze_not_found",
            message: format!("no freeze or override {id:?} in force"),
        })
}

#[utoipa::path(post, path = "/freezes/{id}/lift", tag = "changes",
    params(("id" = String, Path, description = "Freeze or override id")),
    responses((status = 200, body = ManualFreeze), (status = 401), (status = 403), (status = 404)))]
pub async fn lift_freeze(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ManualFreeze>, ApiError> {
    state
        .store
        .lift_freeze(&id, &caller.name, state.clock.now())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound {
            code: "freeze_not_found",
            message: format!("no freeze or override {id:?} in force"),
        })
}

/// An admin lets deploys through the freezes in force over a scope, for a
/// while; the incidents holding those freezes record it on their timelines.
#[utoipa::path(post, path = "/freeze/overrides", tag = "changes", request_body = FreezeRequest,
    responses((status = 201, body = OverrideResponse), (status = 400), (status = 401), (status = 403), (status = 422)))]
pub async fn create_override(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(r): Body<FreezeRequest>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    caller.require(Role::Admin)?;
    let policy = state.policy.policy();
    let freeze = manual(&state, &caller, &r, FreezeKind::Override)?;
    let scope = Scope {
        service: freeze.service.as_deref(),
        environment: freeze.environment.as_deref(),
    };
    let incidents = freezing_incidents(&state.store, &policy).await?;
    let held = firebell_core::change::freeze(&policy, scope, &incidents, &[], state.clock.now());
    state.store.create_freeze(&freeze).await?;
    let mut recorded_on = Vec::new();
    for reason in held
        .reasons
        .iter()
        .filter(|r| r.source == firebell_core::change::FreezeSource::Incident)
    {
        let cmd = Command::RecordFreezeOverride {
            freeze: freeze.id.clone(),
            environment: freeze.environment.clone(),
            service: freeze.service.clone(),
            reason: freeze.reason.clone(),
            until: freeze.until,
        };
        // An incident resolved meanwhile has no freeze to record.
        match execute(&state, &caller.name, &reason.id, None, cmd).await {
            Ok(_) => recorded_on.push(reason.id.clone()),
            Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    tracing::warn!(freeze = %freeze.id, by = %caller.name, incidents = ?recorded_on, "deploy freeze overridden");
    let location = format!("/api/v1/freezes/{}", super::path_segment(&freeze.id));
    Ok(super::created(
        location,
        OverrideResponse {
            freeze,
            recorded_on,
        },
    ))
}

fn manual(
    state: &AppState,
    caller: &Caller,
    r: &FreezeRequest,
    kind: FreezeKind,
) -> Result<ManualFreeze, ApiError> {
    let now = state.clock.now();
    let policy = state.policy.policy();
    let mut problems = Vec::new();
    let reason = r.reason.trim();
    if reason.is_empty() {
        problems.push("'reason' is required".to_string());
    } else if reason.chars().count() > MAX_FIELD || reason.contains('\0') {
        problems.push(format!(
            "'reason' must be plain text of at most {MAX_FIELD} characters"
        ));
    }
    if let Some(s) = &r.service
        && !policy.services.is_empty()
        && !policy.services.contains_key(s)
    {
        problems.push(format!("unknown service {s:?}"));
    }
    if let Some(e) = r.environment.as_deref().filter(|e| !e.is_empty())
        && let Some(p) = unknown_environment(&policy, e)
    {
        problems.push(p);
    }
    let until = match (&r.for_, r.until) {
        (Some(_), Some(_)) => {
            problems.push("give 'for' or 'until', not both".to_string());
            None
        }
        (Some(d), None) => match d.parse::<Duration>() {
            Ok(d) if d.as_secs() > 0 && d <= MAX_FREEZE => Some(now + d.as_signed()),
            Ok(d) if d.as_secs() > 0 => {
                problems.push(format!("'for' {d} is longer than a year ({MAX_FREEZE})"));
                None
            }
            Ok(_) => {
                problems.push("'for' must be longer than zero".to_string());
                None
            }
            Err(e) => {
                problems.push(format!("'for': {e}"));
                None
            }
        },
        (None, Some(t)) if t <= now => {
            problems.push(format!("'until' {t} is not in the future"));
            None
        }
        (None, Some(t)) if t > now + MAX_FREEZE.as_signed() => {
            problems.push(format!("'until' {t} is more than a year away"));
            None
        }
        (None, Some(t)) => Some(t),
        (None, None) => {
            problems.push("'for' (e.g. \"2h\") or 'until' is required".to_string());
            None
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_freeze",
            problems,
        });
    }
    Ok(ManualFreeze {
        id: format!(
            "{}-{}",
            kind.as_str(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ),
        kind,
        environment: r.environment.clone().filter(|e| !e.is_empty()),
        service: r.service.clone().filter(|s| !s.is_empty()),
        reason: reason.to_string(),
        created_by: caller.name.clone(),
        created_at: now,
        until: until.expect("checked above"),
        lifted_at: None,
        lifted_by: None,
    })
}

/// Record the rollback decision; with `confirm_hook`, call the policy's
/// rollback hook afterwards and record how it answered.
#[utoipa::path(post, path = "/incidents/{id}/rollback", tag = "incidents", request_body = RollbackRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 409), (status = 422)))]
pub async fn decide_rollback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<RollbackRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    rollback(&state, &caller.name, &id, r).await.map(Json)
}

/// The rollback decision as `actor` (the API's and the console's one path).
pub(crate) async fn rollback(
    state: &AppState,
    actor: &str,
    id: &str,
    r: RollbackRequest,
) -> Result<CommandResponse, ApiError> {
    let policy = state.policy.policy();
    let (incident, _) = load(state, id).await?;
    if r.confirm_hook && r.decision != RollbackDecision::RolledBack {
        return Err(ApiError::bad_request(
            "invalid_hook",
            "the rollback hook is called only for a rollback",
        ));
    }
    if r.confirm_hook && r.change.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "invalid_hook",
            "name the change the hook is to undo (`change`): a confirmation is for one change",
        ));
    }
    // No `change`: the advice's first; an empty one: none named.
    let change = match (r.change.as_deref(), r.decision) {
        (Some(""), _) => None,
        (Some(cid), _) => {
            let c = state
                .store
                .get_change(cid)
                .await?
                .ok_or_else(|| ApiError::NotFound {
                    code: "change_not_found",
                    message: format!("no change {cid:?}"),
                })?;
            // Only a change to one of the incident's services.
            if !c
                .service
                .as_ref()
                .is_some_and(|s| incident.services.contains(s))
            {
                return Err(ApiError::Unprocessable {
                    code: "change_not_on_incident",
                    message: format!(
                        "change {cid} is to {}, not to this incident's services ({})",
                        c.service.as_deref().unwrap_or("no service"),
                        incident.services.join(", ")
                    ),
                });
            }
            Some(c)
        }
        (None, RollbackDecision::RolledBack) => {
            let ctx = crate::changes::incident_context(
                &state.store,
                &policy,
                &incident,
                false,
                state.clock.now(),
            )
            .await?;
            ctx.rollback.and_then(|a| {
                a.options
                    .into_iter()
                    .find(|o| o.action == Action::RollBack)
                    .map(|o| o.change)
            })
        }
        (None, RollbackDecision::FixForward) => None,
    };
    let hook = match (r.confirm_hook, &policy.rollback.hook) {
        (false, _) => None,
        (true, None) => {
            return Err(ApiError::bad_request(
                "no_hook",
                "the policy has no [rollback.hook] to call",
            ));
        }
        (true, Some(h)) => Some(h),
    };
    if let Some(done) = &incident.rollback.decision
        && done.decision == RollbackDecision::RolledBack
        && r.decision == RollbackDecision::RolledBack
    {
        return Err(ApiError::Conflict {
            code: "rolled_back",
            message: format!(
                "incident {id} was rolled back already ({})",
                done.change.as_deref().unwrap_or("no change named")
            ),
        });
    }
    // The hook goes first: a rollback it failed to make is not recorded as
    // made (the failure is, on the timeline).
    if let Some(hook) = hook {
        if let Some(v) = r.expected_version
            && v != incident.version
        {
            return Err(ApiError::Conflict {
                code: "version_conflict",
                message: format!(
                    "incident {id} is at version {}, not {v}; read it again",
                    incident.version
                ),
            });
        }
        let outcome = call_hook(hook, id, change.as_ref(), actor).await;
        let failed = outcome.as_ref().err().cloned();
        let cmd = Command::RecordRollbackHook {
            change: change.as_ref().map(|c| c.id.clone()),
            url: hook.url.clone(),
            ok: outcome.is_ok(),
            outcome: failed.clone().unwrap_or_else(|| "accepted".to_string()),
        };
        execute(state, "system", id, None, cmd).await?;
        if let Some(e) = failed {
            return Err(ApiError::BadGateway {
                code: "rollback_hook_failed",
                message: format!("the rollback hook failed, so the rollback is not recorded: {e}"),
            });
        }
    }
    let cmd = Command::DecideRollback {
        decision: r.decision,
        change: change.as_ref().map(|c| ChangeRef {
            id: c.id.clone(),
            kind: c.kind,
            service: c.service.clone(),
            previous_version: c.details.previous_version.clone(),
        }),
        note: r.note.clone(),
        resolve: r.resolve,
    };
    // With a hook, the version was checked before it was called (its own
    // event moves the version on).
    let expected = if hook.is_some() {
        None
    } else {
        r.expected_version
    };
    execute(state, actor, id, expected, cmd).await
}

/// POST the rollback to the hook, signed; a person confirmed it.
async fn call_hook(
    hook: &firebell_core::policy::RollbackHook,
    incident: &str,
    change: Option<&ChangeRecord>,
    by: &str,
) -> Result<(), String> {
    let secret = match &hook.secret_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| format!("the hook's secret_env {var} is not set on this server"))?,
        ),
        None => None,
    };
    let body = serde_json::json!({
        "incident": incident,
        "confirmed_by": by,
        "change": change,
        "rollback_to": change.and_then(|c| c.details.previous_version.clone()),
    });
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let key = format!(
        "rollback:{incident}:{}",
        change.map(|c| c.id.as_str()).unwrap_or("")
    );
    crate::notify::channels::post_json(
        &hook.url,
        crate::notify::channels::DEFAULT_TIMEOUT,
        &key,
        secret.as_deref(),
        body,
    )
    .await
    .map_err(|e| e.message)
}

#[utoipa::path(post, path = "/incidents/{id}/runbooks", tag = "incidents", request_body = RunbookRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = CommandResponse), (status = 400), (status = 401), (status = 403),
              (status = 404), (status = 409), (status = 422)))]
pub async fn attach_runbook(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(r): Body<RunbookRequest>,
) -> Result<Json<CommandResponse>, ApiError> {
    let cmd = Command::AttachRunbook { runbook: r.runbook };
    execute(&state, &caller.name, &id, r.expected_version, cmd)
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/providers", tag = "changes",
    responses((status = 200, body = ProviderList), (status = 401)))]
pub async fn providers(State(state): State<AppState>) -> Result<Json<ProviderList>, ApiError> {
    let policy = state.policy.policy();
    let statuses = state.store.provider_statuses().await?;
    let services: Vec<String> = policy.services.keys().cloned().collect();
    let mut items = upstreams(&policy, &services, &statuses);
    for (key, p) in &policy.providers {
        if !items.iter().any(|u| &u.provider == key) {
            items.push(crate::wire::Upstream {
                provider: key.clone(),
                name: if p.name.is_empty() {
                    key.clone()
                } else {
                    p.name.clone()
                },
                status_url: p.status_url.clone(),
                services: Vec::new(),
                status: statuses.iter().find(|s| &s.provider == key).cloned(),
            });
        }
    }
    Ok(Json(ProviderList {
        items,
        next_cursor: None,
    }))
}

fn parse_instant(field: &str, s: &str) -> Result<Timestamp, ApiError> {
    s.parse().map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("'{field}' must be an RFC 3339 instant like 2026-12-01T00:00:00Z: {e}"),
        )
    })
}

/// The kinds, for messages.
pub fn kinds() -> String {
    ChangeKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
