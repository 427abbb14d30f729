//! Every request gets an id, answered in `x-request-id` and written on its log line; a 500's
//! real cause is logged under that id and the client is told only the id.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::time::Instant;

use super::error::{ApiError, InternalDetail};

/// The header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Tags the request with a fresh id, logs one structured line when it is answered, and
/// replaces the body of an internal error with its id.
pub(crate) async fn tag_requests(mut request: Request, next: Next) -> Response {
    let id = RequestId(format!(
        "req_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    request.extensions_mut().insert(id.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    let micros = started.elapsed().as_micros();
    if let Some(InternalDetail(cause)) = response.extensions_mut().remove::<InternalDetail>() {
        tracing::error!(request_id = %id.0, %method, %path, %cause, "internal error");
        response = internal_error_body(status, &id);
    } else if status.is_server_error() {
        tracing::warn!(request_id = %id.0, %method, %path, status = status.as_u16(), micros);
    } else {
        tracing::info!(request_id = %id.0, %method, %path, status = status.as_u16(), micros);
    }
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn internal_error_body(status: StatusCode, id: &RequestId) -> Response {
    let error = ApiError::new(
        status,
        "INTERNAL-Error",
        format!(
            "internal error; the server's log has the cause under request id {}",
            id.0
        ),
    )
    .with_details(serde_json::json!({ "request_id": id.0 }));
    (status, Json(error.body())).into_response()
}
