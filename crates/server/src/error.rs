//! The HTTP layer's one error type, and the one place errors become responses:
//! `{"error": {"code": "...", "message": "..."}}` with the right status.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::incident::{CommandError, Rejection};
use firebell_store::StoreError;

use crate::command::ChangeError;
use crate::wire::{ErrorBody, ErrorDetail};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read: bad JSON, wrong shape, bad query.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Several things wrong with one request, each naming its field.
    #[error("{}", problems.join("; "))]
    Invalid {
        code: &'static str,
        problems: Vec<String>,
    },
    #[error("{0}")]
    Unauthorized(String),
    /// A signed request whose signature is missing, wrong or too old.
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The request conflicts with the current state (version, transition).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// It existed and is over for good: an ack link that expired or whose
    /// acknowledgement round a reopen ended.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("request body is larger than the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    /// The body did not all arrive within the server's body-read timeout.
    #[error("{0}")]
    BodyTimeout(crate::connections::BodyTimeout),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed, but names something that does not exist or is not allowed.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// Back-pressure: come back after `retry_after` seconds.
    #[error("{message}")]
    Overloaded { message: String, retry_after: u32 },
    #[error("{0}")]
    Unavailable(String),
    /// A service Firebell called for the request (the rollback hook) failed.
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Invalid { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Gone { code, .. }
            | ApiError::BadGateway { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::BadSignature(_) => "invalid_signature",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BodyTimeout(_) => "request_timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ApiError {
    /// What the client is told. A fault on the server's side (a database
    /// error, say) could name tables, hosts or users: it is logged in full
    /// under a reference, and the client gets the reference instead.
    pub fn public_message(&self) -> String {
        let (said, detail) = match self {
            ApiError::Internal(detail) => ("internal error", detail),
            ApiError::Unavailable(detail) => ("unavailable; retry shortly", detail),
            other => return other.to_string(),
        };
        let reference = uuid::Uuid::new_v4().simple().to_string();
        let reference = &reference[..12];
        tracing::error!(reference, status = self.status().as_u16(), error = %detail, "request failed");
        format!("{said} (reference {reference}; the details are in the server's log)")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.public_message(),
            },
        };
        self.respond(axum::Json(body))
    }
}

impl ApiError {
    /// The one place an error becomes a response: status and headers from the
    /// error, body in whichever wire format the endpoint speaks.
    pub(crate) fn respond(self, body: impl IntoResponse) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        let mut resp = (status, body).into_response();
        let headers = resp.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer, Basic"),
                );
            }
            // The unread body leaves the connection unusable: tell the client
            // not to reuse it, or its next request on that socket fails.
            ApiError::PayloadTooLarge { .. } | ApiError::BodyTimeout(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Overloaded { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => ApiError::Conflict {
                code: "version_conflict",
                message: e.to_string(),
            },
            StoreError::NotFound(id) => not_found_incident(&id),
            StoreError::InvalidCursor(_) => ApiError::bad_request("invalid_cursor", e.to_string()),
            StoreError::DuplicateToken(_) => ApiError::Conflict {
                code: "duplicate_token",
                message: e.to_string(),
            },
            StoreError::GroupTaken { .. } => ApiError::Conflict {
                code: "group_taken",
                message: e.to_string(),
            },
            // Out of space or connection: passes by itself, so "retry later".
            _ if e.outage().is_some() => ApiError::Unavailable(e.to_string()),
            StoreError::InvalidUrl(_)
            | StoreError::Corrupt(_)
            | StoreError::InUse(_)
            | StoreError::Migration(_)
            | StoreError::Database(_)
            | StoreError::Sqlite(_)
            | StoreError::Row { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Rejected(e) => e.into(),
            ChangeError::NotFound(id) => not_found_incident(&id),
            ChangeError::Conflict { .. } => ApiError::Conflict {
                code: "version_conflict",
                message: e.to_string(),
            },
            ChangeError::GroupTaken { .. } => ApiError::Conflict {
                code: "group_taken",
                message: e.to_string(),
            },
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e.rejection {
            Rejection::InvalidTransition => ApiError::Conflict {
                code: e.code,
                message: e.message,
            },
            Rejection::InvalidInput => ApiError::Unprocessable {
                code: e.code,
                message: e.message,
            },
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::from_json_rejection(r, crate::MAX_BODY_BYTES)
    }
}

impl ApiError {
    /// A refused JSON body, on a route whose body limit is `limit` bytes.
    pub fn from_json_rejection(r: JsonRejection, limit: usize) -> Self {
        if let Some(timeout) = body_timeout(&r) {
            return ApiError::BodyTimeout(timeout);
        }
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "expected a JSON body with `Content-Type: application/json`".into(),
            ),
            _ => match r {
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::bad_request("malformed_json", e.body_text())
                }
                JsonRejection::JsonDataError(e) => {
                    ApiError::bad_request("invalid_body", e.body_text())
                }
                other => ApiError::bad_request("invalid_body", other.body_text()),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}

pub fn not_found_incident(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "incident_not_found",
        message: format!("no incident with id {id:?}"),
    }
}

/// An [`ApiError`] on the Alertmanager-compatible endpoints, whose clients
/// (amtool, Prometheus) expect the body to be a bare JSON string.
#[derive(Debug)]
pub struct AmError(pub ApiError);

impl From<ApiError> for AmError {
    fn from(e: ApiError) -> Self {
        AmError(e)
    }
}

impl From<StoreError> for AmError {
    fn from(e: StoreError) -> Self {
        AmError(e.into())
    }
}

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        let message = self.0.public_message();
        self.0.respond(axum::Json(message))
    }
}

impl From<crate::ingest::IngestError> for ApiError {
    fn from(e: crate::ingest::IngestError) -> Self {
        use crate::ingest::IngestError;
        match e {
            IngestError::Full => ApiError::Overloaded {
                message: e.to_string(),
                retry_after: 1,
            },
            // Merging catches up at thousands of alerts a second: a few
            // seconds is the honest wait.
            IngestError::Backlog(_) => ApiError::Overloaded {
                message: e.to_string(),
                retry_after: 5,
            },
            IngestError::Closed | IngestError::Store(_) => ApiError::Unavailable(e.to_string()),
            IngestError::Unstorable { .. } => ApiError::bad_request("invalid_text", e.to_string()),
        }
    }
}

/// A body that could not be read (too large, or the connection failed),
/// for endpoints that read raw bytes because they check a signature or
/// parse leniently; `limit` is the route's body limit.
pub fn unreadable_body(
    rejection: &axum::extract::rejection::BytesRejection,
    limit: usize,
) -> ApiError {
    if let Some(timeout) = body_timeout(rejection) {
        ApiError::BodyTimeout(timeout)
    } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::bad_request("invalid_body", rejection.body_text())
    }
}

/// The [`BodyTimeout`](crate::connections::BodyTimeout) behind a body that
/// could not be read, if that is why; axum reports any failed body as a 400.
fn body_timeout(
    error: &(dyn std::error::Error + 'static),
) -> Option<crate::connections::BodyTimeout> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(timeout) = e.downcast_ref::<crate::connections::BodyTimeout>() {
            return Some(timeout.clone());
        }
        next = e.source();
    }
    None
}

/// An [`ApiError`] on the PagerDuty Events API endpoints (`/v2/enqueue`,
/// `/v2/change/enqueue`), in PagerDuty's body shape, since their senders are
/// PagerDuty clients: `{"status": "invalid event", "message": "Event object is
/// invalid", "errors": ["…"]}` for a 400, the same shape with another
/// `status`/`message` otherwise. Status code and headers still come from the
/// [`ApiError`].
#[derive(Debug)]
pub struct PdError(pub ApiError);

impl From<ApiError> for PdError {
    fn from(e: ApiError) -> Self {
        PdError(e)
    }
}

impl From<StoreError> for PdError {
    fn from(e: StoreError) -> Self {
        PdError(e.into())
    }
}

impl From<ChangeError> for PdError {
    fn from(e: ChangeError) -> Self {
        PdError(e.into())
    }
}

#[derive(Serialize)]
struct PdBody {
    status: &'static str,
    message: String,
    errors: Vec<String>,
}

impl IntoResponse for PdError {
    fn into_response(self) -> Response {
        let body = match &self.0 {
            ApiError::Invalid { problems, .. } => PdBody {
                status: "invalid event",
                message: "Event object is invalid".into(),
                errors: problems.clone(),
            },
            ApiError::BadRequest { message, .. } => PdBody {
                status: "invalid event",
                message: "Event object is invalid".into(),
                errors: vec![message.clone()],
            },
            ApiError::PayloadTooLarge { .. } => PdBody {
                status: "invalid event",
                message: "Event object is too large".into(),
                errors: vec![self.0.to_string()],
            },
            ApiError::Overloaded { .. } => PdBody {
                status: "throttle exceeded",
                message: "Requests are arriving too quickly; retry after the Retry-After delay"
                    .into(),
                errors: Vec::new(),
            },
            other => PdBody {
                status: "error",
                message: other.public_message(),
                errors: Vec::new(),
            },
        };
        self.0.respond(axum::Json(body))
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::{AmError, ApiError, PdError};
    use firebell_store::StoreError;

    async fn body_of(response: axum::response::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// A fault's text (here a database's) never reaches the client, in any
    /// of the three error shapes; a reference to the log does.
    #[tokio::test]
    async fn server_faults_answer_a_reference_not_their_text() {
        let fault = || ApiError::from(StoreError::Corrupt("table secret_tokens on db-7".into()));
        for response in [
            fault().into_response(),
            AmError(fault()).into_response(),
            PdError(fault()).into_response(),
            ApiError::Unavailable("password authentication failed for user \"fb\"".into())
                .into_response(),
        ] {
            let (status, body) = body_of(response).await;
            assert!(status == 500 || status == 503, "{status}");
            assert!(!body.contains("secret_tokens"), "{body}");
            assert!(!body.contains("password"), "{body}");
            assert!(body.contains("reference "), "{body}");
        }
        // What the client sent wrong is still told in full.
        let (status, body) = body_of(
            ApiError::bad_request("invalid_query", "limit=x is not a number").into_response(),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("limit=x is not a number"), "{body}");
    }
}
