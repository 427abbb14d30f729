//! [`ApiError`]: every failure of the API, answered with a real HTTP status and the contract's
//! shape `{success: false, error: {code, message, details}}`.
//!
//! An internal error (ours, not the client's) never shows its text to the client: the response
//! carries it in an extension, and the request-id middleware logs it with the request id and
//! answers only that id (see [`super::request_id`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A failed request: the status, a stable machine-readable code, a message for people and
/// optional details (the field at fault, the allowed values…).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status answered.
    pub status: StatusCode,
    /// A stable code, `AREA-What` as the Python backend wrote them (`DATA-FileNotFound`).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Structured details (`null` when there are none).
    pub details: Value,
}

/// The body of every failed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, `AREA-What` (`OPERATIONS-NotFound`, `REQUEST-InvalidField`, …).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Structured details: the field at fault and the allowed values, a request id…
    pub details: Value,
}

/// The text of an internal error, carried to the request-id middleware in the response's
/// extensions instead of its body.
#[derive(Debug, Clone)]
pub(crate) struct InternalDetail(pub(crate) String);

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// The same error with `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 404: `what` does not exist.
    pub fn not_found(code: &'static str, what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, what)
    }

    /// 400: the request is wrong as a whole (a bad date, a state that forbids the action).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: `field` has a value outside `allowed` (or of the wrong form, when `allowed` is
    /// empty); the details name both so a client can show them.
    pub fn invalid_field(field: &str, message: impl Into<String>, allowed: &[&str]) -> Self {
        let mut details = serde_json::json!({ "field": field });
        if !allowed.is_empty() {
            details["allowed"] = serde_json::json!(allowed);
        }
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "REQUEST-InvalidField",
            message,
        )
        .with_details(details)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 503: something the request needs (a data source, the database) is not available.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// 500: our fault. `error` is logged with the request id and never sent to the client.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL-Error",
            error.to_string(),
        )
    }

    /// The body `{success: false, error: {code, message, details}}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            success: false,
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
            let mut response = self.status.into_response();
            response
                .extensions_mut()
                .insert(InternalDetail(self.message));
            return response;
        }
        (self.status, Json(self.body())).into_response()
    }
}

impl From<ktrdr_ops::registry::RegistryError> for ApiError {
    fn from(error: ktrdr_ops::registry::RegistryError) -> Self {
        ApiError::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_contract_shape() {
        let error = ApiError::invalid_field("mode", "unknown mode \"fast\"", &["local", "tail"]);
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            serde_json::to_value(error.body()).unwrap(),
            serde_json::json!({"success": false, "error": {
                "code": "REQUEST-InvalidField",
                "message": "unknown mode \"fast\"",
                "details": {"field": "mode", "allowed": ["local", "tail"]},
            }})
        );
    }

    #[test]
    fn an_internal_error_keeps_its_text_out_of_the_body() {
        let response = ApiError::internal("disk I/O error at /secret/path").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let detail = response.extensions().get::<InternalDetail>().unwrap();
        assert!(detail.0.contains("/secret/path"));
    }
}
