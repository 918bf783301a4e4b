//! The HTTP error shape, `{"error": {"type", "message"}}`, and how engine errors map to
//! statuses. User mistakes pass their message through; internal failures are logged and
//! answered with a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use qualify_engine::Error;

/// An error answered over HTTP.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable kind.
    pub kind: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, kind and message.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the body is not JSON.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422: valid JSON, invalid content.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 500 with a generic message; the detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match &e {
            Error::InvalidId { .. }
            | Error::InvalidLead(_)
            | Error::InvalidMessage(_)
            | Error::Limit { .. }
            | Error::Analysis(_)
            | Error::InvalidRange(_)
            | Error::Outcome { .. } => Self::invalid(e.to_string()),
            Error::UnknownExperiment { .. } => Self::not_found(e.to_string()),
            Error::Replay(_) => Self::new(StatusCode::CONFLICT, "replay", e.to_string()),
            Error::StoreBroken(_) => {
                tracing::error!("{e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable; the server is restarting",
                )
            }
            Error::UnknownTenant(_) => Self::not_found(e.to_string()),
            Error::Unauthorized => Self::unauthorized(e.to_string()),
            Error::TenantExists(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            // The tenant's own rules failed: the tenant needs to see where.
            Error::Script { .. }
            | Error::HookResult { .. }
            | Error::TenantUnavailable { .. }
            | Error::Compile { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rules_error",
                e.to_string(),
            ),
            _ => Self::internal(e),
        }
    }
}

/// What an error response said, kept on the response for the monitor to count.
#[derive(Clone, Debug)]
pub struct Answered {
    /// The error's kind.
    pub kind: &'static str,
    /// Its message.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"type": self.kind, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.extensions_mut().insert(Answered {
            kind: self.kind,
            message: self.message,
        });
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
