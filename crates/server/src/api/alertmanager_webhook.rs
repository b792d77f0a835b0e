//! `POST /api/v1/alertmanager/webhook`: Alertmanager's `webhook_configs`
//! receiver, for teams that keep Alertmanager (its inhibition, its
//! deduplication across Prometheus replicas) in front of Firebell.
//!
//! Alertmanager posts its notification payload, version 4 (`notify/webhook`
//! in Alertmanager's source): a group's alerts, each `firing` or `resolved`.
//! Every alert becomes an [`IncomingAlert`] keyed by Alertmanager's own
//! fingerprint, which is the same label fingerprint Firebell computes, so an
//! alert that also arrives through `/api/v2/alerts` is the same alert.
//!
//! Times: a firing alert is open-ended whatever its `endsAt` says.
//! Alertmanager re-notifies only on change or after `repeat_interval` (hours),
//! so honouring the `endsAt` Prometheus set a few minutes ahead would resolve
//! the alert in Firebell while it still fires; the `resolved` notification
//! (`send_resolved`, on by default for webhooks) ends it instead. A resolved
//! alert ends at its `endsAt`, or now if that is unset or in the future.
//!
//! Like `/api/v2/alerts`, the request is refused whole if any alert is
//! invalid, and answered 200 only once every alert is committed.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use firebell_core::Timestamp;
use firebell_core::alert::{AlertSource, IncomingAlert, normalize_times};
use serde::Deserialize;

use super::alertmanager::{MAX_ALERTS_BODY, MAX_ALERTS_PER_REQUEST, PostableAlert, validate_alert};
use crate::AppState;
use crate::error::{ApiError, unreadable_body};

/// The payload version this receiver reads.
pub const PAYLOAD_VERSION: &str = "4";

/// Alertmanager's webhook `Message` (the template `Data` plus version,
/// group key and truncation count). Fields Firebell does not need
/// (`groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, …)
/// are accepted and ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    #[serde(default)]
    receiver: String,
    alerts: Vec<WebhookAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    #[serde(rename = "generatorURL", default)]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: String,
}

/// Receive one notification. 200 once committed; 400 naming the problem.
#[utoipa::path(post, path = "/alertmanager/webhook", tag = "alerts", operation_id = "receive_alertmanager_webhook",
    request_body(content = Object, description = "Alertmanager webhook payload, version 4"),
    responses((status = 200, description = "Committed"), (status = 400), (status = 401), (status = 413), (status = 429)))]
pub async fn receive(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    // As every other JSON endpoint: the body is JSON only if it says so.
    if !super::json::says_json(&headers) {
        return Err(ApiError::UnsupportedMediaType(
            "expected a JSON body with `Content-Type: application/json`".into(),
        ));
    }
    let body = body.map_err(|r| unreadable_body(&r, MAX_ALERTS_BODY))?;
    let now = state.clock.now();
    let incoming = parse(&body, now)?;
    let incoming = crate::health::heartbeats::take_watchdogs(
        &state.store,
        &state.policy.policy(),
        now,
        incoming,
    )
    .await?;
    state.ingest.submit(incoming).await?;
    Ok(StatusCode::OK)
}

/// A webhook body as the alerts it reports, checked whole: any problem
/// refuses the notification with a 400 naming it (public for the fuzz target).
pub fn parse(body: &[u8], now: Timestamp) -> Result<Vec<IncomingAlert>, ApiError> {
    let value: serde_json::Value = super::json::from_slice_strict(body)
        .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?;
    // The version first: another version's shape would fail in less helpful ways.
    match value.get("version") {
        Some(serde_json::Value::String(v)) if v == PAYLOAD_VERSION => {}
        other => {
            let got = other.map_or_else(|| "none".to_string(), |v| v.to_string());
            return Err(ApiError::bad_request(
                "unsupported_version",
                format!(
                    "webhook payload version {got} is not supported; Firebell reads Alertmanager's version \"{PAYLOAD_VERSION}\" (Alertmanager 0.x webhook_configs)"
                ),
            ));
        }
    }
    let message: Message = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    if message.alerts.len() > MAX_ALERTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "too_many_alerts",
            format!(
                "{} alerts in one notification; the limit is {MAX_ALERTS_PER_REQUEST} (set `max_alerts` in webhook_configs)",
                message.alerts.len()
            ),
        ));
    }
    if message.truncated_alerts > 0 {
        // Alertmanager's `max_alerts` dropped some; they are not recoverable here.
        tracing::warn!(
            receiver = %message.receiver,
            group = %message.group_key,
            truncated = message.truncated_alerts,
            "Alertmanager truncated this notification; raise or unset max_alerts in webhook_configs"
        );
        metrics::counter!("firebell_alertmanager_webhook_truncated_alerts_total")
            .increment(message.truncated_alerts);
    }
    let incoming = message
        .alerts
        .into_iter()
        .enumerate()
        .map(|(i, a)| to_incoming(i, a, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request("invalid_alert", e))?;
    Ok(incoming)
}

/// One webhook alert, checked like a posted one, with the sender's key and
/// the times its status implies.
fn to_incoming(i: usize, a: WebhookAlert, now: Timestamp) -> Result<IncomingAlert, String> {
    let ends_at = match a.status.as_str() {
        "firing" => None,
        "resolved" => {
            let (_, end) = normalize_times(None, a.ends_at, now);
            Some(end.map_or(now, |end| end.min(now)))
        }
        other => {
            return Err(format!(
                "alerts[{i}].status: {other:?} is not \"firing\" or \"resolved\""
            ));
        }
    };
    let posted = PostableAlert {
        labels: a.labels,
        annotations: a.annotations,
        starts_at: a.starts_at,
        ends_at,
        generator_url: a.generator_url,
    };
    let mut alert = validate_alert(i, posted, AlertSource::AlertmanagerWebhook, now)?;
    if is_fingerprint(&a.fingerprint) {
        alert.key = a.fingerprint;
    }
    Ok(alert)
}

/// Alertmanager prints fingerprints as 16 lowercase hex digits.
fn is_fingerprint(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alertmanager_shaped_fingerprints_are_taken() {
        assert!(is_fingerprint("0123456789abcdef"));
        assert!(!is_fingerprint("0123456789ABCDEF"));
        assert!(!is_fingerprint("0123456789abcde"));
        assert!(!is_fingerprint(""));
    }
}
