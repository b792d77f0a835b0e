//! The PagerDuty Events API v2, so anything that can page PagerDuty
//! (Alertmanager's `pagerduty_configs`, Grafana, Datadog, a CI job with
//! `curl`) can page through Firebell by changing one URL:
//!
//! - `POST /v2/enqueue` (and `/v2/enqueue/`): alert events — `trigger`,
//!   `acknowledge`, `resolve` — correlated by `dedup_key`.
//! - `POST /v2/change/enqueue`: change events (deploys, config pushes),
//!   stored to answer "what changed just before this started?".
//!
//! **Authentication** is the event's `routing_key`, matched against the
//! policy's `[[integrations]]`: PagerDuty senders have nowhere to put a
//! bearer token. Keys are compared by their SHA-256, so the comparison time
//! says nothing about how much of a key was right.
//!
//! **Wire compatibility.** Bodies up to 512 KB (PagerDuty's limit); answers
//! in PagerDuty's shapes: 202 `{"status": "success", "message": "Event
//! processed", "dedup_key": …}`, 400 `{"status": "invalid event", "message":
//! "Event object is invalid", "errors": […]}` naming every bad field. An
//! unknown routing key is also a 400 `invalid event` (`"Invalid routing
//! key"`), as PagerDuty answers one. A refused event stores nothing.
//!
//! **What an event becomes.** A `trigger` is a firing alert with key
//! `pd:<integration>:<dedup_key>` (a `dedup_key` is generated when absent and
//! returned); its service is the integration's and its severity the
//! integration's mapping of `payload.severity`. `resolve` ends that alert
//! now. `acknowledge` acknowledges the incident the alert is attached to, as
//! the actor `pagerduty:<integration>`, through the same command path as
//! `POST /api/v1/incidents/{id}/acknowledge`. A trigger answered 202 is
//! committed but maybe not yet processed into an incident, so an acknowledge
//! that finds its alert unattached runs a processing round first: the ack is
//! applied before the 202, never lost. Acknowledging or resolving an alert
//! that is unknown or already resolved does nothing, as in PagerDuty.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use firebell_core::Timestamp;
use firebell_core::alert::{AlertSource, IncomingAlert, LabelSet};
use firebell_core::incident::Command;
use firebell_core::policy::{Integration, PAGERDUTY_SEVERITIES, Policy};
use firebell_store::ChangeRecord;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::alertmanager::{MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE};
use crate::AppState;
use crate::error::{ApiError, PdError, unreadable_body};
use crate::ingest::processor::process_pending;

/// PagerDuty's limit on an event's size.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// PagerDuty's limits on `dedup_key` and `payload.summary`, in characters.
pub const MAX_DEDUP_KEY: usize = 255;
pub const MAX_SUMMARY: usize = 1024;
/// The event actions of `/v2/enqueue`.
pub const EVENT_ACTIONS: [&str; 3] = ["trigger", "acknowledge", "resolve"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/enqueue", post(enqueue))
        .route("/v2/enqueue/", post(enqueue))
        .route("/v2/change/enqueue", post(change_enqueue))
        .route("/v2/change/enqueue/", post(change_enqueue))
        .layer(DefaultBodyLimit::max(MAX_EVENT_BYTES))
}

type Accepted = (StatusCode, Json<Value>);

/// `POST /v2/enqueue`.
async fn enqueue(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, PdError> {
    let (event, integration) = authenticate(&state, body)?;
    let mut v = Checker::default();
    let action = v.one_of(&event, "event_action", &EVENT_ACTIONS);
    let dedup_key = v.opt_str(&event, "dedup_key", MAX_DEDUP_KEY);
    let actor = format!("pagerduty:{}", integration.name);
    match action {
        Some("trigger") => {
            let dedup_key = dedup_key.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            let policy = state.policy.policy();
            let now = state.clock.now();
            let alert = trigger_alert(&policy, now, &integration, &event, &dedup_key, &mut v);
            v.finish()?;
            let alert =
                alert.ok_or_else(|| ApiError::Internal("trigger checked but not built".into()))?;
            state
                .ingest
                .submit(vec![alert])
                .await
                .map_err(ApiError::from)?;
            metrics::counter!("firebell_pagerduty_events_total", "action" => "trigger")
                .increment(1);
            Ok(accepted(&dedup_key))
        }
        Some(action @ ("acknowledge" | "resolve")) => {
            if dedup_key.is_none() && v.problems.is_empty() {
                v.problem(format!("'dedup_key' is required for {action} events"));
            }
            v.finish()?;
            let dedup_key = dedup_key.unwrap_or_default();
            let key = alert_key(&integration, &dedup_key);
            if action == "resolve" {
                resolve(&state, &key).await?;
            } else {
                acknowledge(&state, &key, &actor).await?;
            }
            metrics::counter!("firebell_pagerduty_events_total", "action" => action).increment(1);
            Ok(accepted(&dedup_key))
        }
        _ => Err(v.into_error().into()),
    }
}

/// The checks of `/v2/enqueue` without the effects, for the fuzz target:
/// a body becomes a trigger's alert, `None` for a well-formed acknowledge or
/// resolve, or the 400 PagerDuty would answer. The routing key is not looked
/// up: `integration` stands for the one it names.
pub fn check_event(
    body: &[u8],
    policy: &Policy,
    integration: &Integration,
    now: Timestamp,
) -> Result<Option<IncomingAlert>, PdError> {
    let event = match super::json::from_slice_strict(body) {
        Ok(Value::Object(event)) => event,
        Ok(_) => return Err(invalid("the event must be a JSON object")),
        Err(e) => return Err(invalid(format!("the body is not valid JSON: {e}"))),
    };
    let mut v = Checker::default();
    let action = v.one_of(&event, "event_action", &EVENT_ACTIONS);
    let dedup_key = v.opt_str(&event, "dedup_key", MAX_DEDUP_KEY);
    match action {
        Some("trigger") => {
            let dedup_key = dedup_key.unwrap_or_else(|| "generated".to_string());
            let alert = trigger_alert(policy, now, integration, &event, &dedup_key, &mut v);
            v.finish()?;
            Ok(alert)
        }
        Some(action @ ("acknowledge" | "resolve")) => {
            if dedup_key.is_none() && v.problems.is_empty() {
                v.problem(format!("'dedup_key' is required for {action} events"));
            }
            v.finish()?;
            Ok(None)
        }
        _ => Err(v.into_error().into()),
    }
}

fn accepted(dedup_key: &str) -> Accepted {
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})),
    )
}

/// The alert key of an integration's `dedup_key`: namespaced, so one sender
/// can never touch another's alerts (or Alertmanager's).
fn alert_key(integration: &Integration, dedup_key: &str) -> String {
    format!("pd:{}:{dedup_key}", integration.name)
}

/// The JSON object and the integration its `routing_key` names; nothing else
/// is looked at before this succeeds.
fn authenticate(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Map<String, Value>, Integration), PdError> {
    let body = body.map_err(|r| unreadable_body(&r, MAX_EVENT_BYTES))?;
    let event = match super::json::from_slice_strict(&body) {
        Ok(Value::Object(event)) => event,
        Ok(_) => return Err(invalid("the event must be a JSON object")),
        Err(e) => return Err(invalid(format!("the body is not valid JSON: {e}"))),
    };
    let key = match event.get("routing_key") {
        Some(Value::String(key)) if !key.is_empty() => key,
        Some(Value::String(_)) | None => return Err(invalid("'routing_key' is required")),
        Some(_) => return Err(invalid("'routing_key' must be a string")),
    };
    if key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(
            "'routing_key' must be 1 to 64 ASCII letters and digits",
        ));
    }
    let policy = state.policy.policy();
    let digest = Sha256::digest(key.as_bytes());
    let integration = policy
        .integrations
        .iter()
        .find(|i| Sha256::digest(i.routing_key.as_bytes()) == digest)
        .cloned();
    match integration {
        Some(integration) => Ok((event, integration)),
        None => {
            metrics::counter!("firebell_pagerduty_rejected_total", "reason" => "unknown_routing_key")
                .increment(1);
            Err(invalid(
                "Invalid routing key: no integration in the policy has this routing_key",
            ))
        }
    }
}

fn invalid(problem: impl Into<String>) -> PdError {
    PdError(ApiError::Invalid {
        code: "invalid_event",
        problems: vec![problem.into()],
    })
}

/// A checked trigger as an alert (`None` if `v` found problems).
fn trigger_alert(
    policy: &Policy,
    now: Timestamp,
    integration: &Integration,
    event: &Map<String, Value>,
    dedup_key: &str,
    v: &mut Checker,
) -> Option<IncomingAlert> {
    let empty = Map::new();
    let payload = match event.get("payload") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            v.problem("'payload' must be an object");
            &empty
        }
        None => {
            v.problem("'payload' is required for trigger events");
            &empty
        }
    };
    let at = |field: &str| format!("payload.{field}");
    let summary = v.required_str(payload, &at("summary"), "summary", MAX_SUMMARY);
    let source = v.required_str(payload, &at("source"), "source", MAX_LABEL_VALUE);
    let severity = v.one_of_in(payload, &at("severity"), "severity", &PAGERDUTY_SEVERITIES);
    let mut optional = |field: &str| v.opt_str_in(payload, &at(field), field, MAX_LABEL_VALUE);
    let component = optional("component");
    let group = optional("group");
    let class = optional("class");
    let timestamp = v.opt_time(payload, "payload.timestamp", "timestamp");
    let client = v.opt_str(event, "client", MAX_LABEL_VALUE);
    let client_url = v.opt_str(event, "client_url", MAX_LABEL_VALUE);
    let links = match event.get("links") {
        None | Some(Value::Null) => None,
        Some(Value::Array(links)) if links.is_empty() => None,
        Some(links @ Value::Array(_)) => Some(links.to_string()),
        Some(_) => {
            v.problem("'links' must be an array of {href, text} objects");
            None
        }
    };
    let (summary, source, severity) = (summary?, source?, severity?);
    if !v.problems.is_empty() {
        return None;
    }
    let mut labels = LabelSet::from([
        (
            "alertname".to_string(),
            class.clone().unwrap_or_else(|| summary.clone()),
        ),
        ("integration".to_string(), integration.name.clone()),
        ("dedup_key".to_string(), dedup_key.to_string()),
        ("pd_severity".to_string(), severity.to_string()),
        ("source".to_string(), source),
    ]);
    for (name, value) in [("component", component), ("group", group), ("class", class)] {
        if let Some(value) = value {
            labels.insert(name.to_string(), value);
        }
    }
    if let Some(service) = &integration.service {
        labels.insert("service".to_string(), service.clone());
    }
    let mut annotations = LabelSet::from([("summary".to_string(), summary)]);
    if let Some(details) = payload.get("custom_details").filter(|d| !d.is_null()) {
        annotations.insert("custom_details".into(), capped(details.to_string()));
    }
    if let Some(links) = links {
        annotations.insert("links".into(), capped(links));
    }
    if let Some(client) = client {
        annotations.insert("client".into(), client);
    }
    Some(IncomingAlert {
        source: AlertSource::Pagerduty,
        key: alert_key(integration, dedup_key),
        labels,
        annotations,
        starts_at: timestamp.map_or(now, |t| t.min(now)),
        ends_at: None,
        generator_url: client_url.filter(|u| u.starts_with("http://") || u.starts_with("https://")),
        service: integration.service.clone(),
        severity: integration.severity_for(policy, severity),
    })
}

/// An annotation value within the limit: longer JSON is cut (on a character
/// boundary) and says so, as Alertmanager's own PagerDuty notifier does
/// rather than refuse an event PagerDuty would take.
fn capped(mut text: String) -> String {
    const NOTE: &str = "… (truncated by Firebell)";
    if text.len() > MAX_ANNOTATION_VALUE {
        let mut end = MAX_ANNOTATION_VALUE - NOTE.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(NOTE);
    }
    text
}

/// End the alert now (nothing if it is unknown or already resolved).
async fn resolve(state: &AppState, key: &str) -> Result<(), PdError> {
    crate::ingest::settle(&state.pipeline).await?;
    let now = state.clock.now();
    let Some(alert) = state.store.get_alert(key).await? else {
        tracing::info!(
            alert = key,
            "PagerDuty resolve for an unknown dedup_key; nothing to do"
        );
        return Ok(());
    };
    if !alert.is_firing(now) {
        return Ok(());
    }
    // The stored labels and annotations, so the resolution keeps what the
    // trigger said (a report's annotations replace the stored ones).
    let report = IncomingAlert {
        source: alert.source,
        key: alert.key,
        labels: alert.labels,
        annotations: alert.annotations,
        starts_at: alert.starts_at,
        ends_at: Some(now.max(alert.starts_at)),
        generator_url: alert.generator_url,
        service: alert.service,
        severity: alert.severity,
    };
    state
        .ingest
        .submit(vec![report])
        .await
        .map_err(ApiError::from)?;
    Ok(())
}

/// Acknowledge the incident the alert is attached to (processing pending
/// alerts first if it is not attached yet).
async fn acknowledge(state: &AppState, key: &str, actor: &str) -> Result<(), PdError> {
    crate::ingest::settle(&state.pipeline).await?;
    let now = state.clock.now();
    let mut alert = state.store.get_alert(key).await?;
    if alert
        .as_ref()
        .is_some_and(|a| a.incident_id.is_none() && a.is_firing(now))
    {
        process_pending(&state.processor).await?;
        alert = state.store.get_alert(key).await?;
    }
    let Some(incident) = alert
        .filter(|a| a.is_firing(now))
        .and_then(|a| a.incident_id)
    else {
        tracing::info!(
            alert = key,
            "PagerDuty acknowledge for an alert without an open incident; nothing to do"
        );
        return Ok(());
    };
    match super::incidents::execute(state, actor, &incident, None, Command::Acknowledge).await {
        Ok(_) => Ok(()),
        // Acknowledged already (by a person, or a repeated event), or over:
        // the sender's intent holds, as PagerDuty treats it.
        Err(ApiError::Conflict { code, .. })
            if code == "already_acknowledged" || code == "incident_resolved" =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /v2/change/enqueue`: stored as a [`ChangeRecord`] of the
/// integration's service.
async fn change_enqueue(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, PdError> {
    let body = body.map_err(|r| unreadable_body(&r, MAX_EVENT_BYTES))?;
    let (mut event, integration) = authenticate(&state, Ok(body.clone()))?;
    let mut v = Checker::default();
    let empty = Map::new();
    let payload = match event.get("payload") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            v.problem("'payload' must be an object");
            &empty
        }
        None => {
            v.problem("'payload' is required");
            &empty
        }
    };
    let summary = v.required_str(payload, "payload.summary", "summary", MAX_SUMMARY);
    let source = v.opt_str_in(payload, "payload.source", "source", MAX_LABEL_VALUE);
    let timestamp = v.opt_time(payload, "payload.timestamp", "timestamp");
    if let Some(links) = event.get("links")
        && !links.is_array()
        && !links.is_null()
    {
        v.problem("'links' must be an array of {href, text} objects");
    }
    v.finish()?;
    let summary = summary.unwrap_or_default();
    let now = state.clock.now();
    let policy = state.policy.policy();
    let environment = integration
        .service
        .as_ref()
        .and_then(|s| policy.services.get(s))
        .and_then(|s| s.environment.clone());
    // The routing key is a credential: it is not kept with the change.
    event.remove("routing_key");
    // A retried request is byte-for-byte the same event: same id, replaced.
    let mut id = Sha256::new();
    id.update(integration.name.as_bytes());
    id.update(b"\n");
    id.update(&body);
    // The deploy's particulars, where the sender put them the usual way:
    // `custom_details.{kind, version, previous_version, commit, author}`
    // and the first link.
    let custom = event
        .get("payload")
        .and_then(|p| p.get("custom_details"))
        .and_then(Value::as_object);
    let text = |k: &str| {
        custom
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(1_000).collect::<String>())
    };
    let kind = text("kind")
        .and_then(|k| k.parse().ok())
        .unwrap_or_default();
    let freeze = match &integration.service {
        Some(service) => {
            crate::changes::freeze_answer_at(
                &state.store,
                &policy,
                firebell_core::change::Scope {
                    service: Some(service),
                    environment: environment.as_deref(),
                },
                timestamp.unwrap_or(now).min(now),
            )
            .await?
        }
        None => firebell_core::change::FreezeAnswer {
            frozen: false,
            reasons: Vec::new(),
            until: None,
            overridden_by: None,
        },
    };
    let details = firebell_core::change::ChangeDetails {
        version: text("version"),
        previous_version: text("previous_version"),
        commit: text("commit").or_else(|| text("sha")),
        author: text("author"),
        url: event
            .get("links")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|l| l.get("href"))
            .and_then(Value::as_str)
            .map(str::to_string),
        started_at: None,
        frozen: if freeze.frozen {
            freeze.reasons
        } else {
            Vec::new()
        },
    };
    let change = ChangeRecord {
        id: format!("pd-{}", &hex::encode(id.finalize())[..32]),
        source: source.unwrap_or_else(|| format!("pagerduty:{}", integration.name)),
        summary,
        service: integration.service.clone(),
        environment,
        kind,
        at: timestamp.unwrap_or(now),
        details,
        payload: Value::Object(event),
    };
    state.store.record_change(&change).await?;
    metrics::counter!("firebell_pagerduty_events_total", "action" => "change").increment(1);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "success", "message": "Change event processed"})),
    ))
}

/// Collects every problem of an event, each naming its field.
#[derive(Default)]
struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn finish(&mut self) -> Result<(), PdError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(self).into_error().into())
        }
    }

    fn into_error(self) -> ApiError {
        ApiError::Invalid {
            code: "invalid_event",
            problems: self.problems,
        }
    }

    fn opt_str(&mut self, obj: &Map<String, Value>, field: &str, max: usize) -> Option<String> {
        self.opt_str_in(obj, field, field, max)
    }

    /// `obj[key]` if it is a non-empty string of at most `max` characters;
    /// `path` names it in problems.
    fn opt_str_in(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        max: usize,
    ) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if s.chars().count() > max => {
                self.problem(format!(
                    "'{path}' is {} characters; the limit is {max}",
                    s.chars().count()
                ));
                None
            }
            Some(Value::String(s)) if s.contains('\0') => {
                self.problem(format!("'{path}' {}", firebell_core::alert::NUL_REFUSED));
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(format!("'{path}' must be a string"));
                None
            }
        }
    }

    fn required_str(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        max: usize,
    ) -> Option<String> {
        let known = self.problems.len();
        let value = self.opt_str_in(obj, path, key, max);
        if value.is_none() && self.problems.len() == known {
            self.problem(format!("'{path}' is required and must not be empty"));
        }
        value
    }

    fn one_of(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        self.one_of_in(obj, field, field, allowed)
    }

    fn one_of_in(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let found = obj
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| allowed.iter().copied().find(|a| *a == s));
        if found.is_none() {
            self.problem(format!("'{path}' must be one of: {}", allowed.join(", ")));
        }
        found
    }

    /// An ISO 8601 instant (`2015-07-17T08:42:58.315+0000`), or Unix time in
    /// seconds or milliseconds.
    fn opt_time(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<Timestamp> {
        let parsed = match obj.get(key) {
            None | Some(Value::Null) => return None,
            Some(Value::String(s)) if s.is_empty() => return None,
            Some(Value::String(s)) => s.parse::<Timestamp>().ok(),
            // `unsigned_abs`: `i64::MIN` has no `abs`.
            Some(Value::Number(n)) => n.as_i64().and_then(|n| {
                if n.unsigned_abs() < 100_000_000_000 {
                    Timestamp::from_second(n).ok()
                } else {
                    Timestamp::from_millisecond(n).ok()
                }
            }),
            Some(_) => None,
        };
        if parsed.is_none() {
            self.problem(format!(
                "'{path}' must be an ISO 8601 time like 2015-07-17T08:42:58.315+0000"
            ));
        }
        if let Some(t) = parsed.filter(|t| firebell_core::alert::before_epoch(*t)) {
            self.problem(format!("'{path}' is {t}, before 1970"));
            return None;
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_annotations_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ANNOTATION_VALUE);
        let cut = capped(long);
        assert!(cut.len() <= MAX_ANNOTATION_VALUE, "{}", cut.len());
        assert!(cut.ends_with("(truncated by Firebell)"));
        assert_eq!(capped("short".into()), "short");
    }
}
