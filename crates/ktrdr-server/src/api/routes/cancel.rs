//! `DELETE /operations/{id}` (and its alias `POST /operations/{id}/cancel`): ask an operation to
//! stop, whichever process runs it (the runner records the request in the registry and the
//! owning process acts on it within a second).

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::operations::OperationsError;
use ktrdr_ops::registry::OperationStatus;

use super::operations::unknown_operation;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::OptionalJson;
use crate::api::wire::{CancelBody, CancelResult, Envelope};
use crate::api::ApiState;

/// Longest cancel reason recorded, in characters: it is stored with the operation and shown in
/// every listing.
const MAX_REASON_CHARS: usize = 500;

/// `DELETE /operations/{id}`: the operation becomes `cancelling` at once and `cancelled` once
/// its work has stopped (with what it kept); the answer says which it is now.
#[utoipa::path(
    delete,
    path = "/api/v1/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "The operation id")),
    request_body(content = Option<CancelBody>, description = "Optional: why, in words"),
    responses(
        (status = 200, description = "Accepted: `cancelling` until the work has stopped", body = Envelope<CancelResult>),
        (status = 400, description = "The operation has already ended, or the body is not JSON", body = ErrorBody),
        (status = 404, description = "No such operation", body = ErrorBody),
        (status = 422, description = "A field of the body has the wrong type or is too long", body = ErrorBody),
    )
)]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<CancelBody>,
) -> Result<Json<Envelope<CancelResult>>, ApiError> {
    let reason = cancel_reason(body.reason)?;
    let result = state
        .blocking(move |state| {
            let before = state.registry().get(&id)?;
            let before = before.ok_or_else(|| unknown_operation(&id))?;
            let ack = state
                .operations()
                .cancel(&id, reason)
                .map_err(|error| refused(&id, error))?;
            Ok(CancelResult {
                success: true,
                operation_id: ack.id,
                status: ack.status,
                cancelled_at: Utc::now(),
                cancellation_reason: ack.reason.to_string(),
                task_cancelled: before.status != OperationStatus::Cancelling,
            })
        })
        .await?;
    Ok(Json(Envelope::ok(result)))
}

/// `POST /operations/{id}/cancel`: the same as `DELETE /operations/{id}` (the Python clients'
/// model commands call it).
#[utoipa::path(
    post,
    path = "/api/v1/operations/{id}/cancel",
    tag = "operations",
    params(("id" = String, Path, description = "The operation id")),
    request_body(content = Option<CancelBody>, description = "Optional: why, in words"),
    responses(
        (status = 200, description = "Accepted: `cancelling` until the work has stopped", body = Envelope<CancelResult>),
        (status = 400, description = "The operation has already ended, or the body is not JSON", body = ErrorBody),
        (status = 404, description = "No such operation", body = ErrorBody),
        (status = 422, description = "A field of the body has the wrong type or is too long", body = ErrorBody),
    )
)]
pub(crate) async fn cancel_alias(
    state: State<ApiState>,
    id: Path<String>,
    body: OptionalJson<CancelBody>,
) -> Result<Json<Envelope<CancelResult>>, ApiError> {
    cancel(state, id, body).await
}

/// The reason a cancel is recorded with: the client's words as [`CancelReason::Remote`] (so
/// they are kept and shown as `cancelled remotely: <words>`), or [`CancelReason::User`] when it
/// gave none, which is what a bare `DELETE` is: a person asking.
fn cancel_reason(words: Option<String>) -> Result<CancelReason, ApiError> {
    let words = words.as_deref().map(str::trim).unwrap_or_default();
    if words.is_empty() {
        return Ok(CancelReason::User);
    }
    let chars = words.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(ApiError::invalid_field(
            "reason",
            format!("the reason is {chars} characters long; at most {MAX_REASON_CHARS} are kept"),
            &[],
        ));
    }
    Ok(CancelReason::Remote(words.to_owned()))
}

/// The answer to a cancel the runner refused.
fn refused(id: &str, error: OperationsError) -> ApiError {
    match error {
        OperationsError::NotFound { .. } => unknown_operation(id),
        OperationsError::AlreadyFinished { status, .. } => {
            ApiError::bad_request("OPERATIONS-AlreadyFinished", error.to_string())
                .with_details(serde_json::json!({ "status": status }))
        }
        // A registry failure, or a refusal the runner's cancel does not make today: ours.
        other => ApiError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_in_words_is_kept_and_none_is_the_user() {
        assert_eq!(cancel_reason(None), Ok(CancelReason::User));
        assert_eq!(cancel_reason(Some("  ".into())), Ok(CancelReason::User));
        assert_eq!(
            cancel_reason(Some(" disk full ".into())),
            Ok(CancelReason::Remote("disk full".into()))
        );
        let long = cancel_reason(Some("x".repeat(MAX_REASON_CHARS + 1))).unwrap_err();
        assert_eq!(long.details["field"], "reason");
        assert!(cancel_reason(Some("é".repeat(MAX_REASON_CHARS))).is_ok());
    }
}
