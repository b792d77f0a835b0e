//! The Alertmanager v2 API (`/api/v2`), wire-compatible with Alertmanager
//! 0.25+, so Prometheus (`alerting.alertmanagers`, `api_version: v2`) and
//! `amtool` talk to Firebell unchanged.
//!
//! Shapes follow Alertmanager's `api/v2/openapi.yaml`. Two deliberate
//! differences, both safer: a request with any invalid alert is refused whole
//! (Alertmanager stores the valid ones and still answers 400), and an alert
//! without `endsAt` stays firing until it is resolved (Alertmanager would
//! time it out after `resolve_timeout`).

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use firebell_core::Timestamp;
use firebell_core::alert::{
    AlertSource, IncomingAlert, LabelSet, Labels, MatchOp, Matcher, Silence, SilenceState,
    fingerprint, normalize_times, parse_matchers, route,
};
use serde::{Deserialize, Serialize};

use super::posted::{PostedAlert, SortedPairs};
use crate::AppState;
use crate::error::{AmError, ApiError};
use crate::ingest::refresh::Content;
use crate::ingest::refresh::Door;

/// Most alerts accepted in one request.
pub const MAX_ALERTS_PER_REQUEST: usize = 5_000;
/// Most labels (and, separately, annotations) per alert.
pub const MAX_LABELS: usize = 100;
pub const MAX_LABEL_NAME: usize = 256;
pub const MAX_LABEL_VALUE: usize = 4_096;
pub const MAX_ANNOTATION_VALUE: usize = 65_536;
/// Body limit for `POST /api/v2/alerts` (the rest of the API keeps 1 MiB).
pub const MAX_ALERTS_BODY: usize = 8 * 1024 * 1024;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/alerts",
            post(post_alerts)
                .get(get_alerts)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_ALERTS_BODY)),
        )
        .route("/alerts/groups", get(get_groups))
        .route("/silences", get(get_silences).post(post_silence))
        .route("/silence/{id}", get(get_silence).delete(delete_silence))
        .route("/status", get(status))
        .route("/receivers", get(receivers))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::auth::require_token,
        ))
}

/// `postableAlert`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    #[serde(default, deserialize_with = "super::json::unique_keys")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "super::json::unique_keys")]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
}

/// Check one posted alert and normalise it; the error names index and field.
pub fn validate_alert(
    i: usize,
    a: PostableAlert,
    source: AlertSource,
    now: Timestamp,
) -> Result<IncomingAlert, String> {
    let checked = check_alert(i, &a.view(), now)?;
    Ok(IncomingAlert {
        source,
        key: checked.key().as_str().to_owned(),
        labels: a.labels,
        annotations: a.annotations,
        starts_at: checked.starts_at,
        ends_at: checked.ends_at,
        generator_url: a.generator_url.filter(|u| !u.is_empty()),
        service: None,
        severity: None,
    })
}

/// What checking a posted alert finds: its identity and its normalised times.
pub struct Checked {
    fingerprint: u64,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
}

impl Checked {
    /// The alert's key: its fingerprint's 16 hex digits.
    fn key(&self) -> firebell_core::alert::FingerprintDigits {
        firebell_core::alert::fingerprint_digits(self.fingerprint)
    }
}

/// Check one posted alert, without copying it; the error names index and field.
pub fn check_alert(i: usize, a: &PostedAlert<'_>, now: Timestamp) -> Result<Checked, String> {
    if a.labels.is_empty() {
        return Err(format!(
            "alerts[{i}].labels: at least one label pair is required"
        ));
    }
    check_pairs(
        format_args!("alerts[{i}].labels"),
        &a.labels,
        MAX_LABEL_VALUE,
        true,
    )?;
    check_pairs(
        format_args!("alerts[{i}].annotations"),
        &a.annotations,
        MAX_ANNOTATION_VALUE,
        false,
    )?;
    for (field, t) in [("startsAt", a.starts_at), ("endsAt", a.ends_at)] {
        if let Some(t) = t.filter(|t| firebell_core::alert::before_epoch(*t)) {
            return Err(format!(
                "alerts[{i}].{field}: {t} is before 1970; leave it out to mean unset"
            ));
        }
    }
    let (starts_at, ends_at) = normalize_times(a.starts_at, a.ends_at, now);
    if let Some(end) = ends_at
        && end < starts_at
    {
        return Err(format!(
            "alerts[{i}].endsAt: {end} is before startsAt {starts_at}"
        ));
    }
    Ok(Checked {
        fingerprint: fingerprint(&a.labels),
        starts_at,
        ends_at,
    })
}

impl PostedAlert<'_> {
    fn generator_url(&self) -> Option<&str> {
        self.generator_url
            .as_ref()
            .map(|u| u.0.as_ref())
            .filter(|u| !u.is_empty())
    }

    /// What the door weighs of this report (see `ingest::refresh`).
    fn content<'s>(&'s self, key: &'s str, checked: &Checked) -> Content<'s, SortedPairs<'s>> {
        Content {
            key,
            source: AlertSource::Alertmanager,
            labels: &self.labels,
            annotations: &self.annotations,
            starts_at: checked.starts_at,
            generator_url: self.generator_url(),
            service: None,
            severity: None,
        }
    }

    /// The report copied out of the request, for the log.
    fn to_incoming(&self, checked: &Checked) -> IncomingAlert {
        IncomingAlert {
            source: AlertSource::Alertmanager,
            key: checked.key().as_str().to_owned(),
            labels: self.labels.to_owned_map(),
            annotations: self.annotations.to_owned_map(),
            starts_at: checked.starts_at,
            ends_at: checked.ends_at,
            generator_url: self.generator_url().map(str::to_owned),
            service: None,
            severity: None,
        }
    }
}

/// Label (or, with `strict_names` off, annotation) pairs within the limits;
/// the error starts with `at`, the field's path in the request
/// (`alerts[3].labels`, `payload.custom_details`).
pub(crate) fn check_pairs(
    at: impl std::fmt::Display,
    pairs: &(impl Labels + ?Sized),
    max_value: usize,
    strict_names: bool,
) -> Result<(), String> {
    let pairs = pairs.pairs();
    if pairs.len() > MAX_LABELS {
        return Err(format!(
            "{at}: {} pairs, more than the limit of {MAX_LABELS}",
            pairs.len()
        ));
    }
    for (name, value) in pairs {
        let valid_name = !name.is_empty()
            && name.len() <= MAX_LABEL_NAME
            && (!strict_names
                || (name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
        if !valid_name {
            return Err(format!(
                "{at}: invalid name {name:?} (use [a-zA-Z_][a-zA-Z0-9_]*, at most {MAX_LABEL_NAME} bytes)"
            ));
        }
        if value.len() > max_value {
            return Err(format!(
                "{at}.{name}: value is {} bytes, over the limit of {max_value}",
                value.len()
            ));
        }
    }
    Ok(())
}

async fn post_alerts(
    State(state): State<AppState>,
    body: Result<
        super::json::JsonBody<Vec<PostableAlert>>,
        axum::extract::rejection::JsonRejection,
    >,
) -> Result<StatusCode, AmError> {
    use super::json::JsonBody;
    let body = body.map_err(|r| ApiError::from_json_rejection(r, MAX_ALERTS_BODY))?;
    // Read without copying; a body that does not parse so is read again by
    // axum's `Json`, whose error names the path (`[3].startsAt: …`).
    let owned: Vec<PostableAlert>;
    let alerts: Vec<PostedAlert<'_>> = match &body {
        JsonBody::Bytes(bytes) => match serde_json::from_slice(bytes) {
            Ok(alerts) => alerts,
            Err(_) => {
                let Json(parsed) = Json::<Vec<PostableAlert>>::from_bytes(bytes)
                    .map_err(|r| ApiError::from_json_rejection(r, MAX_ALERTS_BODY))?;
                owned = parsed;
                owned.iter().map(PostableAlert::view).collect()
            }
        },
        JsonBody::Parsed(parsed) => parsed.iter().map(PostableAlert::view).collect(),
    };
    if alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "too_many_alerts",
            format!(
                "{} alerts in one request; the limit is {MAX_ALERTS_PER_REQUEST}",
                alerts.len()
            ),
        )
        .into());
    }
    let now = state.clock.now();
    let checked = alerts
        .iter()
        .enumerate()
        .map(|(i, a)| check_alert(i, a, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("invalid_alert", e))?;
    let watchdog = crate::health::heartbeats::ping_watchdogs(
        &state.store,
        &state.policy.policy(),
        now,
        alerts
            .iter()
            .zip(&checked)
            .map(|(a, c)| (&a.labels, c.ends_at)),
    )
    .await?;
    // Refreshes that only move a distant `endsAt` on are answered here,
    // before anything is copied out of the request.
    let mut doors = vec![Door::Log; alerts.len()];
    if state.ingest.may_absorb() {
        let weighed: Vec<usize> = (0..alerts.len()).filter(|i| !watchdog[*i]).collect();
        let probes: Vec<_> = weighed
            .iter()
            .map(|&i| {
                let key = checked[i].key();
                let content = alerts[i].content(key.as_str(), &checked[i]);
                state.ingest.probe(&content, checked[i].ends_at)
            })
            .collect();
        for (i, door) in weighed.into_iter().zip(state.ingest.absorb(&probes)) {
            doors[i] = door;
        }
    }
    let (mut kept, mut extended) = (Vec::new(), Vec::new());
    for (i, door) in doors.into_iter().enumerate() {
        match door {
            _ if watchdog[i] => {}
            Door::Absorbed => {}
            Door::Log => kept.push((i, alerts[i].to_incoming(&checked[i]))),
            Door::Extend(ticket) => extended.push((alerts[i].to_incoming(&checked[i]), ticket)),
        }
    }
    crate::ingest::check_storable(kept.iter().map(|(i, a)| (*i, a))).map_err(ApiError::from)?;
    state
        .ingest
        .submit_weighed(kept.into_iter().map(|(_, a)| a).collect(), extended)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::OK)
}

/// `receiverReference`, `alertStatus`, `gettableAlert`.
#[derive(Serialize)]
struct Receiver {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertStatus {
    state: &'static str,
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
    muted_by: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableAlert {
    labels: LabelSet,
    annotations: LabelSet,
    receivers: Vec<Receiver>,
    fingerprint: String,
    starts_at: String,
    updated_at: String,
    ends_at: String,
    status: AlertStatus,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<String>,
}

/// Go's zero time, which Alertmanager clients read as "not set".
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

fn am_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Query parameters Alertmanager's list endpoints accept.
struct ListParams {
    filter: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    muted: bool,
    expired: bool,
    pending: bool,
    receiver: Option<regex::Regex>,
}

fn list_params(query: Option<String>) -> Result<ListParams, ApiError> {
    let mut p = ListParams {
        filter: Vec::new(),
        active: true,
        silenced: true,
        inhibited: true,
        unprocessed: true,
        muted: true,
        expired: true,
        pending: true,
        receiver: None,
    };
    let bad = |m: String| ApiError::bad_request("invalid_query", m);
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let flag = |v: &str| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(bad(format!("{k}={other:?}: expected true or false"))),
        };
        match k.as_ref() {
            "filter" => p
                .filter
                .extend(parse_matchers(&v).map_err(|e| bad(format!("bad matcher {v:?}: {e}")))?),
            "active" => p.active = flag(&v)?,
            "silenced" => p.silenced = flag(&v)?,
            "inhibited" => p.inhibited = flag(&v)?,
            "unprocessed" => p.unprocessed = flag(&v)?,
            "muted" => p.muted = flag(&v)?,
            "expired" => p.expired = flag(&v)?,
            "pending" => p.pending = flag(&v)?,
            "receiver" if !v.is_empty() => {
                let re = regex::Regex::new(&format!("^(?:{v})$"))
                    .map_err(|e| bad(format!("receiver regex {v:?}: {e}")))?;
                p.receiver = Some(re);
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Firing alerts as Alertmanager shows them, with silencing applied.
async fn gettable_alerts(
    state: &AppState,
    p: &ListParams,
) -> Result<Vec<(String, LabelSet, GettableAlert)>, ApiError> {
    crate::ingest::settle(&state.pipeline).await?;
    let now = state.clock.now();
    let policy = state.policy.policy();
    let silences: Vec<Silence> = state
        .store
        .list_silences()
        .await?
        .into_iter()
        .filter(|s| s.state(now) == SilenceState::Active)
        .collect();
    // Every firing alert the filter matches, not a cut of them.
    let alerts =
        super::signals::matching_alerts(&state.store, Some(now), usize::MAX, &p.filter).await?;
    let mut out = Vec::new();
    for a in alerts {
        let routed = route(&policy, &a.labels);
        let receivers: Vec<String> = routed.iter().map(|r| r.receiver.clone()).collect();
        if let Some(re) = &p.receiver
            && !receivers.iter().any(|r| re.is_match(r))
        {
            continue;
        }
        let silenced_by: Vec<String> = silences
            .iter()
            .filter(|s| s.matches(&a.labels))
            .map(|s| s.id.clone())
            .collect();
        let suppressed = !silenced_by.is_empty();
        if (suppressed && !p.silenced) || (!suppressed && !p.active) {
            continue;
        }
        let group_key = routed[0].group_key.clone();
        let group_labels = routed[0].group_labels.clone();
        let mut seen = std::collections::BTreeSet::new();
        out.push((
            group_key,
            group_labels,
            GettableAlert {
                fingerprint: if a.source == AlertSource::Alertmanager {
                    a.key.clone()
                } else {
                    firebell_core::alert::fingerprint_hex(&a.labels)
                },
                labels: a.labels,
                annotations: a.annotations,
                receivers: receivers
                    .into_iter()
                    .filter(|r| seen.insert(r.clone()))
                    .map(|name| Receiver { name })
                    .collect(),
                starts_at: am_time(a.starts_at),
                updated_at: am_time(a.updated_at),
                ends_at: a
                    .ends_at
                    .map(am_time)
                    .unwrap_or_else(|| ZERO_TIME.to_string()),
                status: AlertStatus {
                    state: if suppressed { "suppressed" } else { "active" },
                    muted_by: silenced_by.clone(),
                    silenced_by,
                    inhibited_by: Vec::new(),
                },
                generator_url: a.generator_url,
            },
        ));
    }
    Ok(out)
}

async fn get_alerts(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<GettableAlert>>, AmError> {
    let p = list_params(q)?;
    Ok(Json(
        gettable_alerts(&state, &p)
            .await?
            .into_iter()
            .map(|(_, _, a)| a)
            .collect(),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertGroup {
    labels: LabelSet,
    route_labels: LabelSet,
    receiver: Receiver,
    alerts: Vec<GettableAlert>,
}

async fn get_groups(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<AlertGroup>>, AmError> {
    let p = list_params(q)?;
    let mut groups: BTreeMap<String, AlertGroup> = BTreeMap::new();
    for (key, labels, alert) in gettable_alerts(&state, &p).await? {
        let receiver = alert
            .receivers
            .first()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| AlertGroup {
                labels,
                route_labels: LabelSet::new(),
                receiver: Receiver { name: receiver },
                alerts: Vec::new(),
            })
            .alerts
            .push(alert);
    }
    let groups = groups
        .into_values()
        .filter(|g| p.muted || g.alerts.iter().any(|a| a.status.state == "active"))
        .collect();
    Ok(Json(groups))
}

/// Alertmanager's matcher wire shape.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl AmMatcher {
    fn to_matcher(&self, i: usize) -> Result<Matcher, String> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(&self.name, op, &self.value).map_err(|e| format!("matchers[{i}]: {e}"))
    }

    fn from_matcher(m: &Matcher) -> AmMatcher {
        AmMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: m.is_regex(),
            is_equal: m.is_equal(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    id: Option<String>,
    matchers: Vec<AmMatcher>,
    starts_at: Timestamp,
    ends_at: Timestamp,
    created_by: String,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableSilence {
    id: String,
    status: SilenceStatus,
    updated_at: String,
    matchers: Vec<AmMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

#[derive(Serialize)]
struct SilenceStatus {
    state: SilenceState,
}

fn gettable_silence(s: Silence, now: Timestamp) -> GettableSilence {
    GettableSilence {
        status: SilenceStatus {
            state: s.state(now),
        },
        updated_at: am_time(s.updated_at),
        matchers: s.matchers.iter().map(AmMatcher::from_matcher).collect(),
        starts_at: am_time(s.starts_at),
        ends_at: am_time(s.ends_at),
        id: s.id,
        created_by: s.created_by,
        comment: s.comment,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SilenceCreated {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

async fn post_silence(
    State(state): State<AppState>,
    body: Result<Json<PostableSilence>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SilenceCreated>, AmError> {
    let Json(p) = body.map_err(ApiError::from)?;
    let now = state.clock.now();
    let matchers = p
        .matchers
        .iter()
        .enumerate()
        .map(|(i, m)| m.to_matcher(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("invalid_silence", e))?;
    let id = match p.id.filter(|id| !id.is_empty()) {
        Some(id) => {
            if state.store.get_silence(&id).await?.is_none() {
                return Err(ApiError::NotFound {
                    code: "silence_not_found",
                    message: format!("no silence with id {id:?}"),
                }
                .into());
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    // A silence whose start is in the past starts now, as in Alertmanager.
    let silence = Silence {
        id,
        matchers,
        starts_at: p.starts_at.max(now),
        ends_at: p.ends_at,
        created_by: p.created_by,
        comment: p.comment,
        updated_at: now,
    };
    silence
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_silence", e))?;
    if silence.ends_at <= now {
        return Err(ApiError::bad_request(
            "invalid_silence",
            "the silence would already be expired (endsAt is not in the future)",
        )
        .into());
    }
    state.store.upsert_silence(&silence).await?;
    tracing::info!(silence = %silence.id, by = %silence.created_by, "silence saved");
    Ok(Json(SilenceCreated {
        silence_id: silence.id,
    }))
}

async fn get_silences(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<GettableSilence>>, AmError> {
    let p = list_params(q)?;
    let now = state.clock.now();
    let silences = state
        .store
        .list_silences()
        .await?
        .into_iter()
        .filter(|s| match s.state(now) {
            SilenceState::Active => p.active,
            SilenceState::Pending => p.pending,
            SilenceState::Expired => p.expired,
        })
        .filter(|s| {
            // Alertmanager filters silences by treating their equality
            // matchers as the labels the filter must match.
            let labels: LabelSet = s
                .matchers
                .iter()
                .filter(|m| m.op == MatchOp::Equal)
                .map(|m| (m.name.clone(), m.value.clone()))
                .collect();
            p.filter.iter().all(|f| f.matches(&labels))
        })
        .map(|s| gettable_silence(s, now))
        .collect();
    Ok(Json(silences))
}

async fn get_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GettableSilence>, AmError> {
    let s = state
        .store
        .get_silence(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            code: "silence_not_found",
            message: format!("no silence with id {id:?}"),
        })?;
    Ok(Json(gettable_silence(s, state.clock.now())))
}

async fn delete_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AmError> {
    if state.store.get_silence(&id).await?.is_none() {
        return Err(ApiError::NotFound {
            code: "silence_not_found",
            message: format!("no silence with id {id:?}"),
        }
        .into());
    }
    state.store.expire_silence(&id, state.clock.now()).await?;
    Ok(StatusCode::OK)
}

async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
    let loaded = state.policy.current();
    let routing = serde_json::to_string_pretty(&loaded.policy.routing).unwrap_or_default();
    Json(serde_json::json!({
        "cluster": { "status": "disabled", "peers": [] },
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "firebell",
            "branch": "main",
            "buildUser": "firebell",
            "buildDate": "",
            "goVersion": "none (Firebell is written in Rust)",
        },
        "config": { "original": format!("# Firebell policy: {}\n# routing:\n{routing}\n", loaded.source) },
        "uptime": am_time(state.started_at),
    }))
}

async fn receivers(State(state): State<AppState>) -> Json<Vec<Receiver>> {
    let policy = state.policy.policy();
    let mut names = std::collections::BTreeSet::from([
        firebell_core::alert::routing::DEFAULT_RECEIVER.to_string(),
    ]);
    fn walk(route: &firebell_core::policy::Route, names: &mut std::collections::BTreeSet<String>) {
        if let Some(r) = &route.receiver {
            names.insert(r.clone());
        }
        route.routes.iter().for_each(|child| walk(child, names));
    }
    if let Some(root) = &policy.routing {
        // A root with its own receiver replaces the default name.
        if root.receiver.is_some() {
            names.clear();
        }
        walk(root, &mut names);
    }
    Json(names.into_iter().map(|name| Receiver { name }).collect())
}
