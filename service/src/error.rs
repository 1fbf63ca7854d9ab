//! The service's HTTP error type: every failure a client can see, mapped to a status and a JSON
//! body `{"error": {"code", "message"}}`. Internal causes are logged, never sent.

use axum::{
    extract::rejection::JsonRejection,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::backend::BackendError;

/// Errors a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed JSON, or not JSON at all.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed JSON that fails validation; names the field.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("request body is larger than the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    NotFound(String),
    /// A backend the request needs does not answer; the client may retry.
    #[error("{what} is unavailable")]
    Unavailable { what: &'static str },
    /// The service sheds load instead of queueing without bound.
    #[error("the service is overloaded")]
    Overloaded,
    #[error("the request took too long")]
    Timeout,
    /// The client did not send its whole body in time (a slow or stalled client).
    #[error("the request body did not arrive within {timeout:?}")]
    BodyTimeout { timeout: std::time::Duration },
    /// Anything else: logged with its cause, answered with a generic message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `invalid_json`, `not_found`.
    pub code: &'static str,
    /// Human-readable explanation; never contains internal error text.
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable { .. } | Self::Overloaded | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "invalid_json",
            Self::Invalid { .. } => "invalid_field",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound(_) => "not_found",
            Self::Unavailable { .. } => "backend_unavailable",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::BodyTimeout { .. } => "request_timeout",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Self::Unavailable { what } => tracing::warn!(backend = what, "backend unavailable"),
            _ => {}
        }
        let body = ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string() } };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still trickle in: do not keep reading it.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // axum's rejection texts describe the client's input only, so they are safe to return.
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Invalid { field: "body", reason: e.body_text() },
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) => {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit: 0 }
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable { what, source } => {
                tracing::warn!(backend = what, error = %source, "backend call failed");
                ApiError::Unavailable { what }
            }
            BackendError::Other(cause) => ApiError::Internal(cause),
        }
    }
}
