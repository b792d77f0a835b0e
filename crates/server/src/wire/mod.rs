//! The JSON bodies of `/api/v1`, shared by the handlers in [`crate::api`]
//! and the `firebell` CLI, so the two cannot drift apart: a field renamed
//! here breaks the CLI's build instead of printing a blank.
//!
//! Requests derive `Serialize` (the CLI sends them) besides `Deserialize`,
//! responses the other way round. The `ToSchema` and `IntoParams` derives
//! build the OpenAPI document (`GET /api/v1/openapi.json`).

mod changes;
mod follow_ups;
mod incidents;
mod monitors;
mod notifications;
mod oncall;
mod signals;
mod tokens;

pub use changes::*;
pub use follow_ups::*;
pub use incidents::*;
pub use monitors::*;
pub use notifications::*;
pub use oncall::*;
pub use signals::*;
pub use tokens::*;

/// Answered as they are, without a wrapper.
pub use firebell_core::alert::MaintenanceWindow;
pub use firebell_core::incident::RenderedMessage;
pub use firebell_store::{Queue, SetAside};

pub use crate::set_aside::QueueHealth;

use serde::{Deserialize, Serialize};

/// The policy in force, where it came from, and any refused reload.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyResponse {
    #[schema(value_type = Object)]
    pub loaded: serde_json::Value,
    /// The policy itself, as parsed (durations as strings).
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

/// Every error answer: `{"error": {"code": …, "message": …}}`, written by
/// [`crate::error::ApiError`].
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `incident_not_found`.
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::ErrorBody;
    use crate::error::ApiError;

    #[tokio::test]
    async fn error_answers_read_as_error_body() {
        let response = ApiError::NotFound {
            code: "incident_not_found",
            message: "no incident with id \"INC-1\"".into(),
        }
        .into_response();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: ErrorBody = serde_json::from_slice(&bytes).expect("an ErrorBody");
        assert_eq!(body.error.code, "incident_not_found");
        assert_eq!(body.error.message, "no incident with id \"INC-1\"");
    }
}

/// `GET /set-aside`: each queue's health and the rows set aside.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetAsideList {
    pub queues: Vec<QueueHealth>,
    pub items: Vec<SetAside>,
    /// Always `null`: `limit` cuts the list.
    pub next_cursor: Option<String>,
}

/// `GET /set-aside` filters.
#[derive(Serialize, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SetAsideQuery {
    /// Only this queue: `ingest_log`, `timers` or `outbox`.
    pub queue: Option<String>,
    /// At most this many rows (default and maximum 500).
    pub limit: Option<u32>,
}
