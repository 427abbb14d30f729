//! The answers of `POST /data/load`: at once for an async load, from how it ended for a
//! synchronous one ([`LoadEnd`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktrdr_ops::operations::OperationOutcome;
use ktrdr_ops::registry::OperationStatus;
use serde_json::Value;

use super::failure::LoadFailure;
use crate::api::error::{ApiError, ErrorDetail};
use crate::api::wire::{DataLoadOperationResponse, LoadAnswer, OperationInfo};

/// The answer of a synchronous load from its outcome: 200 with the real counts when it
/// completed; when it failed, the status its failure calls for, with the error and what it
/// did before failing; 409 when it was cancelled (by `DELETE /operations/{id}` or shutdown)
/// with what it kept.
pub(crate) fn sync_answer(outcome: &LoadEnd) -> Response {
    let summary = outcome.result_summary.as_ref();
    let data = || {
        let mut data = summary
            .and_then(|v| serde_json::from_value::<DataLoadOperationResponse>(v.clone()).ok())
            .unwrap_or_else(|| zero_response("failed"));
        data.operation_id = Some(outcome.id.clone());
        data
    };
    let (status, failure) = match outcome.status {
        OperationStatus::Completed => {
            let answer = LoadAnswer {
                success: true,
                data: data(),
                error: None,
            };
            return Json(answer).into_response();
        }
        OperationStatus::Cancelled | OperationStatus::Interrupted => {
            (StatusCode::CONFLICT, "DATA-LoadCancelled")
        }
        _ => {
            let code = summary
                .and_then(|v| v.get("error_code"))
                .and_then(Value::as_str)
                .unwrap_or("INTERNAL-Error");
            let failure = LoadFailure::from_code(code);
            if failure == LoadFailure::Internal {
                let message = outcome.error.clone().unwrap_or_default();
                return ApiError::internal(format!("load {} failed: {message}", outcome.id))
                    .into_response();
            }
            (failure.status(), failure.code())
        }
    };
    let mut data = data();
    if outcome.status != OperationStatus::Failed {
        data.status = "cancelled".to_owned();
    }
    let message = outcome
        .error
        .clone()
        .or_else(|| {
            outcome
                .cancel_reason
                .as_ref()
                .map(|r| format!("cancelled: {r}"))
        })
        .unwrap_or_else(|| outcome.status.to_string());
    data.error_message.get_or_insert_with(|| message.clone());
    let answer = LoadAnswer {
        success: false,
        error: Some(ErrorDetail {
            code: failure.to_owned(),
            message,
            details: serde_json::json!({"operation_id": outcome.id}),
        }),
        data,
    };
    (status, Json(answer)).into_response()
}

/// How a load ended: from its handle ([`OperationOutcome`]) or, for one this request did
/// not start, its record ([`OperationInfo`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoadEnd {
    id: String,
    status: OperationStatus,
    result_summary: Option<Value>,
    error: Option<String>,
    cancel_reason: Option<String>,
}

impl From<OperationOutcome> for LoadEnd {
    fn from(outcome: OperationOutcome) -> Self {
        LoadEnd {
            id: outcome.id,
            status: outcome.status,
            result_summary: outcome.result_summary,
            error: outcome.error,
            cancel_reason: outcome.cancel_reason.map(|r| r.to_string()),
        }
    }
}

impl From<OperationInfo> for LoadEnd {
    fn from(info: OperationInfo) -> Self {
        LoadEnd {
            id: info.operation_id,
            status: info.status,
            result_summary: info.result_summary,
            error: info.error_message,
            cancel_reason: info.cancel_reason,
        }
    }
}

/// The answer of an async load: the operation id, `status: "started"`, counts zero.
pub(crate) fn started_answer(id: &str) -> LoadAnswer {
    let mut data = zero_response("started");
    data.operation_id = Some(id.to_owned());
    LoadAnswer {
        success: true,
        data,
        error: None,
    }
}

/// A response with every count zero (a load that has not run, or did nothing).
pub(crate) fn zero_response(status: &str) -> DataLoadOperationResponse {
    DataLoadOperationResponse {
        status: status.to_owned(),
        operation_id: None,
        fetched_bars: 0,
        cached_before: false,
        merged_file: String::new(),
        gaps_analyzed: 0,
        segments_fetched: 0,
        ib_requests_made: 0,
        external_requests_made: 0,
        bars_saved: 0,
        execution_time_seconds: 0.0,
        error_message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(status: OperationStatus, summary: Option<Value>, error: Option<&str>) -> LoadEnd {
        LoadEnd {
            id: "op_data_load_x".into(),
            status,
            result_summary: summary,
            error: error.map(Into::into),
            cancel_reason: (status == OperationStatus::Cancelled).then(|| "user".into()),
        }
    }

    async fn body(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn a_sync_answer_takes_its_status_from_how_the_load_ended() {
        let mut kept = serde_json::to_value(zero_response("cancelled")).unwrap();
        kept["bars_saved"] = 40.into();
        let response = sync_answer(&end(OperationStatus::Cancelled, Some(kept), None));
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let answer = body(response).await;
        assert_eq!(answer["data"]["status"], "cancelled");
        assert_eq!(answer["data"]["bars_saved"], 40);
        assert_eq!(answer["data"]["operation_id"], "op_data_load_x");
        assert_eq!(answer["error"]["code"], "DATA-LoadCancelled");

        let mut failed = serde_json::to_value(zero_response("failed")).unwrap();
        failed["error_code"] = "DATA-SymbolNotFound".into();
        let response = sync_answer(&end(OperationStatus::Failed, Some(failed), Some("unknown")));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(response).await["error"]["message"], "unknown");

        // Our own failure: 500, its text kept out of the body.
        let mut internal = serde_json::to_value(zero_response("failed")).unwrap();
        internal["error_code"] = "INTERNAL-Error".into();
        let response = sync_answer(&end(
            OperationStatus::Failed,
            Some(internal),
            Some("disk error at /secret"),
        ));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body(response).await.to_string().contains("/secret"));
    }
}
