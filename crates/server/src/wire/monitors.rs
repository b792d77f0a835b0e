//! `/api/v1/heartbeats/{name}` and `/api/v1/checks`.

use firebell_core::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A heartbeat and where it stands.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct HeartbeatView {
    pub name: String,
    /// How often it should ping, e.g. `1d`.
    pub interval: String,
    /// Slack after a missed ping before the alert fires.
    pub grace: String,
    pub service: Option<String>,
    pub severity: Option<String>,
    /// `up` (pinged in time), `waiting` (never pinged, not yet due) or
    /// `missing` (its alert fires).
    pub state: String,
    /// The last ping; `null` if it never pinged.
    pub last_seen_at: Option<Timestamp>,
    /// When the next ping is due.
    pub due_at: Option<Timestamp>,
    /// When it counts as missing if no ping comes (`due_at` + grace).
    pub missing_at: Option<Timestamp>,
}

/// A health check and its latest probe.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    pub name: String,
    /// `http` or `tcp`.
    pub kind: String,
    /// What is probed: `GET https://…/health` or `TCP host:port`.
    pub target: String,
    pub interval: String,
    pub timeout: String,
    pub failure_threshold: u32,
    pub service: Option<String>,
    pub severity: Option<String>,
    /// `pending` (not probed since the server started), `healthy`,
    /// `failing` (below the threshold) or `firing`.
    pub state: String,
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    pub last_checked_at: Option<Timestamp>,
    /// `up` or `down`.
    pub last_result: Option<String>,
    /// Why the last probe failed, in words.
    pub last_failure: Option<String>,
    pub last_duration_ms: Option<u64>,
}

/// Every check and heartbeat of the policy, in policy order.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MonitorsView {
    pub checks: Vec<CheckView>,
    pub heartbeats: Vec<HeartbeatView>,
}
