//! `POST /api/v1/webhooks/{name}`: alerts from anything that can send an
//! HTTP request, authenticated by an HMAC signature instead of a token, so a
//! sender holds a secret that can only sign alerts for one webhook.
//!
//! **Signature.** `X-Firebell-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256, keyed with the webhook's secret, of
//! `"<t>.<raw body>"`. The timestamp must be within [`REPLAY_WINDOW_SECS`]
//! of the server's clock either way, so a captured request cannot be
//! replayed later; several `v1=` entries are allowed (any one may match:
//! useful while rotating a secret). The signature is checked, in constant
//! time, before the body is parsed; a request that fails is answered 401 and
//! nothing is stored.
//!
//! **Body.** Without a field mapping, the minimal schema: `{"key"?, "title",
//! "status": "firing"|"resolved", "severity"?, "description"?, "labels"?,
//! "annotations"?, "starts_at"?, "ends_at"?, "url"?}`. A webhook's
//! `[webhooks.fields]` maps any of these to a dotted path in the sender's own
//! JSON (`alert.title`, `alerts.0.state`), and `[webhooks.status_map]` its
//! status words to `firing`/`resolved`.
//!
//! **The alert.** Key `wh:<webhook>:<key>` (the label fingerprint when the
//! event has no key), so webhooks never touch each other's alerts. Labels:
//! the event's, plus `alertname` (the title unless given), `webhook`, and
//! `service`/`severity` when set. The webhook's `service` and `severity` fix
//! the alert's routing; an event's own `severity` overrides the webhook's
//! when it names a severity of the ladder.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use firebell_core::alert::{
    AlertSource, IncomingAlert, LabelSet, fingerprint_hex, normalize_times,
};
use firebell_core::policy::Webhook;
use firebell_core::{Policy, Timestamp};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use super::alertmanager::{MAX_ANNOTATION_VALUE, MAX_LABEL_VALUE, check_pairs};
use crate::AppState;
use crate::error::{ApiError, unreadable_body};

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-firebell-signature";
/// How far a signature's timestamp may be from the server's clock, either way.
pub const REPLAY_WINDOW_SECS: i64 = 5 * 60;
/// Longest event key and title, in characters.
pub const MAX_KEY: usize = 255;
pub const MAX_TITLE: usize = 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/webhooks/{name}", post(receive))
}

/// What a committed event became.
#[derive(Serialize)]
pub struct Received {
    /// The alert's key in Firebell (`wh:<webhook>:<key>`).
    pub alert_key: String,
    pub firing: bool,
}

#[utoipa::path(post, path = "/webhooks/{name}", tag = "alerts", operation_id = "receive_signed_webhook", security(()),
    params(("name" = String, Path, description = "Webhook name from the policy's [[webhooks]]"),
           ("X-Firebell-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    request_body(content = Object, description = "The sender's JSON (documented minimal schema, or mapped by [webhooks.fields])"),
    responses((status = 200, description = "Committed: the alert key and whether it fires"), (status = 400), (status = 401, description = "Bad or stale signature; nothing stored"), (status = 404), (status = 429)))]
pub async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Received>, ApiError> {
    let policy = state.policy.policy();
    let hook = policy
        .webhooks
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| ApiError::NotFound {
            code: "webhook_not_found",
            message: format!("no webhook named {name:?} in the policy's [[webhooks]]"),
        })?;
    let secret = secret_of(hook)?;
    let body = body.map_err(|r| unreadable_body(&r, crate::MAX_BODY_BYTES))?;
    let now = state.clock.now();
    verify_signature(&headers, &secret, &body, now).inspect_err(|e| {
        metrics::counter!("firebell_webhook_rejected_total", "reason" => "signature").increment(1);
        tracing::warn!(webhook = %hook.name, error = %e, "webhook request refused");
    })?;
    let value: Value = super::json::from_slice_strict(&body)
        .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?;
    let alert = to_alert(&policy, hook, &value, now).map_err(|problems| ApiError::Invalid {
        code: "invalid_event",
        problems,
    })?;
    let received = Received {
        alert_key: alert.key.clone(),
        firing: alert.ends_at.is_none_or(|end| end > now),
    };
    state.ingest.submit(vec![alert]).await?;
    metrics::counter!("firebell_webhook_events_total", "webhook" => hook.name.clone()).increment(1);
    Ok(Json(received))
}

/// The webhook's signing secret: inline, or read from its environment
/// variable now (so a rotated secret is picked up on restart). A missing
/// variable is the server's configuration problem, not the sender's: 503.
fn secret_of(hook: &Webhook) -> Result<String, ApiError> {
    if let Some(secret) = &hook.secret {
        return Ok(secret.clone());
    }
    let var = hook.secret_env.as_deref().unwrap_or_default();
    match std::env::var(var) {
        Ok(secret) if !secret.is_empty() => Ok(secret),
        _ => {
            tracing::error!(webhook = %hook.name, variable = var, "the webhook's secret_env variable is unset or empty; its requests are refused");
            Err(ApiError::Unavailable(format!(
                "webhook {:?} has no signing secret configured on the server",
                hook.name
            )))
        }
    }
}

/// Check `X-Firebell-Signature` against `secret` and `body` at `now`.
pub fn verify_signature(
    headers: &HeaderMap,
    secret: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), ApiError> {
    let bad = |m: &str| ApiError::BadSignature(m.to_string());
    let header = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| bad("missing X-Firebell-Signature header (t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">)"))?
        .to_str()
        .map_err(|_| bad("X-Firebell-Signature is not ASCII"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.trim()),
            Some(("v1", sig)) => signatures.push(sig.trim()),
            _ => {}
        }
    }
    let t = timestamp.ok_or_else(|| bad("X-Firebell-Signature has no t=<unix seconds>"))?;
    let seconds: i64 = t
        .parse()
        .map_err(|_| bad("X-Firebell-Signature's t= is not a whole number of seconds"))?;
    // i128: a hostile `t=` near i64::MIN must not overflow the subtraction.
    if (i128::from(now.as_second()) - i128::from(seconds)).abs() > i128::from(REPLAY_WINDOW_SECS) {
        return Err(bad(&format!(
            "the signature's timestamp is more than {REPLAY_WINDOW_SECS} seconds from the server's clock; sign each request when sending it"
        )));
    }
    if signatures.is_empty() {
        return Err(bad("X-Firebell-Signature has no v1=<hex signature>"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| ApiError::Internal(format!("HMAC key: {e}")))?;
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let matched = signatures
        .iter()
        .any(|sig| hex::decode(sig).is_ok_and(|sig| mac.clone().verify_slice(&sig).is_ok()));
    if matched {
        Ok(())
    } else {
        Err(bad(
            "the signature does not match the body (HMAC-SHA256 of \"<t>.<raw body>\" with the webhook's secret, hex)",
        ))
    }
}

/// The value at a dotted path: object keys, or array positions as numbers.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, seg| match v {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Reads the event's fields through the webhook's mapping, collecting every
/// problem with the path it was read from.
struct Fields<'a> {
    body: &'a Value,
    paths: BTreeMap<&'static str, &'a str>,
    problems: Vec<String>,
}

impl<'a> Fields<'a> {
    fn path(&self, field: &'static str) -> &'a str {
        self.paths.get(field).copied().unwrap_or(field)
    }

    fn get(&self, field: &'static str) -> Option<&'a Value> {
        lookup(self.body, self.path(field)).filter(|v| !v.is_null())
    }

    /// A string (numbers and booleans as text) of at most `max` characters.
    fn text(&mut self, field: &'static str, max: usize) -> Option<String> {
        let text = match self.get(field)? {
            Value::String(s) => s.clone(),
            v @ (Value::Number(_) | Value::Bool(_)) => v.to_string(),
            _ => {
                let path = self.path(field);
                self.problems.push(format!("{path}: expected a string"));
                return None;
            }
        };
        if text.chars().count() > max {
            let path = self.path(field);
            self.problems
                .push(format!("{path}: longer than {max} characters"));
            return None;
        }
        Some(text).filter(|t| !t.is_empty())
    }

    /// An object of names to scalars, as a label set.
    fn pairs(&mut self, field: &'static str) -> LabelSet {
        let Some(value) = self.get(field) else {
            return LabelSet::new();
        };
        let path = self.path(field);
        let Value::Object(map) = value else {
            self.problems
                .push(format!("{path}: expected an object of names to values"));
            return LabelSet::new();
        };
        let mut out = LabelSet::new();
        for (name, v) in map {
            match v {
                Value::String(s) => {
                    out.insert(name.clone(), s.clone());
                }
                Value::Number(_) | Value::Bool(_) => {
                    out.insert(name.clone(), v.to_string());
                }
                Value::Null => {}
                _ => self.problems.push(format!(
                    "{path}.{name}: expected a string, number or boolean"
                )),
            }
        }
        out
    }

    /// An RFC 3339 instant or Unix seconds.
    fn time(&mut self, field: &'static str) -> Option<Timestamp> {
        let value = self.get(field)?;
        let parsed = match value {
            Value::String(s) => s.parse::<Timestamp>().ok(),
            Value::Number(n) => n.as_i64().and_then(|s| Timestamp::from_second(s).ok()),
            _ => None,
        };
        if parsed.is_none() {
            let path = self.path(field);
            self.problems.push(format!(
                "{path}: expected an RFC 3339 time like 2026-11-23T10:00:00Z or Unix seconds"
            ));
        }
        parsed
    }
}

/// The event as an alert, or every problem with it.
fn to_alert(
    policy: &Policy,
    hook: &Webhook,
    body: &Value,
    now: Timestamp,
) -> Result<IncomingAlert, Vec<String>> {
    let mut f = Fields {
        body,
        paths: hook.fields.paths().into_iter().collect(),
        problems: Vec::new(),
    };
    let key = f.text("key", MAX_KEY);
    let title = f.text("title", MAX_TITLE);
    if title.is_none() && f.problems.is_empty() {
        let path = f.path("title");
        f.problems
            .push(format!("{path}: required (the alert's title)"));
    }
    let description = f.text("description", MAX_ANNOTATION_VALUE);
    let severity = f.text("severity", MAX_LABEL_VALUE);
    let url = f.text("url", MAX_LABEL_VALUE);
    let status_path = f.path("status");
    let firing = match f.text("status", MAX_LABEL_VALUE) {
        None => {
            f.problems.push(format!(
                "{status_path}: required: \"firing\" or \"resolved\""
            ));
            None
        }
        Some(word) => {
            let status = hook
                .status_map
                .get(&word)
                .map_or(word.as_str(), String::as_str);
            match status {
                "firing" => Some(true),
                "resolved" => Some(false),
                _ => {
                    let mapped: Vec<&str> = hook.status_map.keys().map(String::as_str).collect();
                    f.problems.push(if mapped.is_empty() {
                        format!("{status_path}: {word:?} is not \"firing\" or \"resolved\"")
                    } else {
                        format!(
                            "{status_path}: {word:?} is not \"firing\", \"resolved\" or a word of the webhook's status_map ({})",
                            mapped.join(", ")
                        )
                    });
                    None
                }
            }
        }
    };
    let mut labels = f.pairs("labels");
    let mut annotations = f.pairs("annotations");
    let starts_at = f.time("starts_at");
    let ends_at = f.time("ends_at");
    if let Err(e) = check_pairs(f.path("labels"), &labels, MAX_LABEL_VALUE, true) {
        f.problems.push(e);
    }
    if let Err(e) = check_pairs(
        f.path("annotations"),
        &annotations,
        MAX_ANNOTATION_VALUE,
        false,
    ) {
        f.problems.push(e);
    }
    for (field, t) in [("starts_at", starts_at), ("ends_at", ends_at)] {
        if let Some(t) = t.filter(|t| firebell_core::alert::before_epoch(*t)) {
            let path = f.path(field);
            f.problems.push(format!("{path}: {t} is before 1970"));
        }
    }
    let (starts_at, ends_at) = normalize_times(starts_at, ends_at, now);
    let ends_at = match firing {
        Some(true) => match ends_at {
            Some(end) if end <= now => {
                let path = f.path("ends_at");
                f.problems.push(format!(
                    "{path}: {end} is not in the future, but the status is firing"
                ));
                None
            }
            end => end,
        },
        _ => Some(ends_at.map_or(now, |end| end.min(now))),
    };
    if let Some(end) = ends_at
        && end < starts_at
    {
        let path = f.path("ends_at");
        f.problems
            .push(format!("{path}: {end} is before the start {starts_at}"));
    }
    let (Some(title), Some(_), true) = (title, firing, f.problems.is_empty()) else {
        return Err(f.problems);
    };

    labels
        .entry("alertname".into())
        .or_insert_with(|| title.clone());
    labels.insert("webhook".into(), hook.name.clone());
    if let Some(service) = &hook.service {
        labels
            .entry("service".into())
            .or_insert_with(|| service.clone());
    }
    if let Some(severity) = &severity {
        labels
            .entry("severity".into())
            .or_insert_with(|| severity.clone());
    }
    annotations.insert("summary".into(), title);
    if let Some(description) = description {
        annotations.insert("description".into(), description);
    }
    let ladder = |name: &str| policy.severity(name).map(|s| s.name.clone());
    let key = key.unwrap_or_else(|| fingerprint_hex(&labels));
    Ok(IncomingAlert {
        source: AlertSource::Webhook,
        key: format!("wh:{}:{key}", hook.name),
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url: url.filter(|u| u.starts_with("http://") || u.starts_with("https://")),
        service: hook.service.clone(),
        severity: severity
            .as_deref()
            .and_then(ladder)
            .or_else(|| hook.severity.as_deref().and_then(ladder)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_walk_objects_and_arrays() {
        let body = json!({"alert": {"title": "x", "items": [{"n": 1}, {"n": 2}]}});
        assert_eq!(lookup(&body, "alert.title"), Some(&json!("x")));
        assert_eq!(lookup(&body, "alert.items.1.n"), Some(&json!(2)));
        assert_eq!(lookup(&body, "alert.items.9.n"), None);
        assert_eq!(lookup(&body, "alert.title.more"), None);
    }

    fn signed(secret: &str, t: i64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let sig = hex::encode(mac.finalize().into_bytes());
        let mut h = HeaderMap::new();
        h.insert(
            SIGNATURE_HEADER,
            format!("t={t},v1=00,v1={sig}").parse().expect("ascii"),
        );
        h
    }

    #[test]
    fn signatures_are_checked_with_their_timestamp() {
        let now = Timestamp::from_second(1_800_000_000).expect("valid");
        let body = br#"{"title":"x","status":"firing"}"#;
        let ok = signed("s3cret-s3cret-s3cret", now.as_second() - 299, body);
        assert!(verify_signature(&ok, "s3cret-s3cret-s3cret", body, now).is_ok());
        assert!(verify_signature(&ok, "another-secret-entirely", body, now).is_err());
        assert!(verify_signature(&ok, "s3cret-s3cret-s3cret", b"{}", now).is_err());
        let stale = signed("s3cret-s3cret-s3cret", now.as_second() - 301, body);
        assert!(verify_signature(&stale, "s3cret-s3cret-s3cret", body, now).is_err());
        let future = signed("s3cret-s3cret-s3cret", now.as_second() + 301, body);
        assert!(verify_signature(&future, "s3cret-s3cret-s3cret", body, now).is_err());
        assert!(verify_signature(&HeaderMap::new(), "s3cret-s3cret-s3cret", body, now).is_err());
    }

    /// A hostile timestamp at the edge of i64 is refused, not an overflow.
    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let now = Timestamp::from_second(1_800_000_000).expect("valid");
        for t in [i64::MIN, i64::MAX] {
            let h = signed("s3cret-s3cret-s3cret", t, b"{}");
            assert!(verify_signature(&h, "s3cret-s3cret-s3cret", b"{}", now).is_err());
        }
    }
}
