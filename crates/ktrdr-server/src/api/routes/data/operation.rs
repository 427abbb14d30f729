//! A load as an operation of the runner, and the answers built from it.
//!
//! The operation's result summary is our [`LoadSummary`] with the Python backend's
//! [`DataLoadOperationResponse`] fields merged in (`fetched_bars`, `ib_requests_made`, …), so
//! the Python CLI, which reads `result_summary.fetched_bars` of a finished async load, finds
//! real values; a failed load adds `error_code`, from which a synchronous answer takes its
//! HTTP status.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktrdr_data::manager::{DataManager, LoadError, LoadRequest, LoadSummary, OPERATION_KIND};
use ktrdr_data::render::DataProgressRenderer;
use ktrdr_data::types::LoadMode;
use ktrdr_ops::operations::{
    OperationContext, OperationError, OperationOutcome, OperationsError, Started,
};
use ktrdr_ops::registry::{OperationStatus, RegistryError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api::error::{ApiError, ErrorDetail};
use crate::api::wire::{DataLoadOperationResponse, LoadAnswer, LoadFilters, OperationInfo};
use crate::api::ApiState;

/// A load request after validation: what the operation runs and what its idempotency
/// fingerprint is computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoadJob {
    /// The series, mode and window.
    pub(crate) request: LoadRequest,
    /// The filters the client sent (recorded, not applied to what is stored).
    pub(crate) filters: Option<LoadFilters>,
}

impl LoadJob {
    /// The operation's metadata: the manager's, with the filters as `parameters`.
    fn metadata(&self, manager: &DataManager) -> Value {
        let mut metadata = manager.operation_metadata(&self.request);
        if let Some(filters) = self.filters {
            metadata["parameters"] = serde_json::json!({
                "trading_hours_only": filters.trading_hours_only,
                "include_extended": filters.include_extended,
            });
        }
        metadata
    }

    /// What identifies the request for idempotency: a SHA-256 of the normalised request (the
    /// symbol upper-cased, the timeframe canonical, the dates as instants, absent filters as
    /// their defaults), so two spellings of one request are one request.
    pub(crate) fn fingerprint(&self) -> String {
        let r = &self.request;
        let normalised = serde_json::json!({
            "symbol": r.symbol.as_str(),
            "timeframe": r.timeframe.as_str(),
            "mode": r.mode.as_str(),
            "start": r.start,
            "end": r.end,
            "filters": self.filters.unwrap_or_default(),
        });
        let digest = Sha256::digest(normalised.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Starts `job` on the runner, once per idempotency `key` when one is given: a key already
/// used with the same request answers the operation it started ([`Started::Existing`]), with
/// another request 409. Makes the operation's `pending` insert (and looks the series' file
/// up), so call it through [`ApiState::blocking`].
pub(crate) fn start(
    state: &ApiState,
    job: &LoadJob,
    key: Option<&str>,
) -> Result<Started, ApiError> {
    let manager = state.manager().clone();
    let metadata = job.metadata(&manager);
    let request = job.request.clone();
    let file = series_file(&manager, &request);
    let plan = DataManager::plan(request.mode);
    let work = move |ctx| run(manager, request, file, ctx);
    let ops = state.operations();
    let started = match key {
        Some(key) => ops.run_idempotent(
            OPERATION_KIND,
            metadata,
            plan,
            key,
            &job.fingerprint(),
            work,
        ),
        None => ops
            .run(OPERATION_KIND, metadata, plan, work)
            .map(Started::New),
    }
    .map_err(refusal)?;
    if let Started::New(handle) = &started {
        // So that a reader polling before the work starts sees the load's own messages.
        handle
            .progress()
            .set_renderer(Arc::new(DataProgressRenderer::new(
                job.request.symbol.clone(),
                Some(job.request.timeframe),
                job.request.mode,
            )));
    }
    Ok(started)
}

/// Why the runner refused to start a load, as an answer.
fn refusal(error: OperationsError) -> ApiError {
    match error {
        OperationsError::IdempotencyConflict { key, operation_id } => ApiError::conflict(
            "REQUEST-IdempotencyConflict",
            format!(
                "Idempotency-Key {key:?} was used for another request (operation \
                 {operation_id}); use a new key for a new request"
            ),
        )
        .with_details(serde_json::json!({"operation_id": operation_id})),
        OperationsError::Registry(RegistryError::InvalidIdempotencyKey { reason, .. }) => {
            ApiError::invalid_field(
                IDEMPOTENCY_KEY,
                format!("the Idempotency-Key header {reason}"),
                &[],
            )
        }
        OperationsError::ShuttingDown => ApiError::unavailable(
            "OPERATIONS-ShuttingDown",
            "the server is shutting down and starts no new operation",
        ),
        other => ApiError::internal(other),
    }
}

/// The header that makes a `POST /data/load` idempotent.
pub(crate) const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The work of the operation: the load, its summary in both vocabularies.
async fn run(
    manager: DataManager,
    request: LoadRequest,
    file: SeriesFile,
    ctx: OperationContext,
) -> Result<Value, OperationError> {
    let result = manager.load(&request, &ctx.token, &ctx.progress).await;
    let facts = Facts {
        operation_id: &ctx.id,
        file_name: &file.name,
        cached_before: file.existed,
    };
    match result {
        Ok(summary) => {
            let status = if summary.is_cancelled() {
                "cancelled"
            } else {
                "success"
            };
            summary_value(&summary, facts.response(Some(&summary), status, None))
                .map_err(OperationError::failed)
        }
        Err(error) => {
            let message = error.to_string();
            let (status, partial) = match error.summary() {
                Some(s) if s.bars_saved > 0 => ("partial", Some(s)),
                other => ("failed", other),
            };
            let response = facts.response(partial, status, Some(message.clone()));
            let mut value = match partial {
                Some(summary) => summary_value(summary, response),
                None => serde_json::to_value(&response),
            }
            .map_err(OperationError::failed)?;
            value["error_code"] = Value::from(LoadFailure::of(&error).code());
            Err(OperationError::failed_with(message, value))
        }
    }
}

/// The series' file: its name (shown to clients, who need not know where the data directory
/// is) and whether it existed when the load was started.
struct SeriesFile {
    name: String,
    existed: bool,
}

fn series_file(manager: &DataManager, request: &LoadRequest) -> SeriesFile {
    let path = manager.store().path(&request.symbol, request.timeframe);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    SeriesFile {
        name,
        existed: path.is_file(),
    }
}

/// What the response needs beyond the summary.
struct Facts<'a> {
    operation_id: &'a str,
    file_name: &'a str,
    cached_before: bool,
}

impl Facts<'_> {
    fn response(
        &self,
        summary: Option<&LoadSummary>,
        status: &str,
        error_message: Option<String>,
    ) -> DataLoadOperationResponse {
        let mut response = DataLoadOperationResponse {
            status: status.to_owned(),
            operation_id: Some(self.operation_id.to_owned()),
            merged_file: self.file_name.to_owned(),
            cached_before: self.cached_before,
            error_message,
            ..zero_response(status)
        };
        if let Some(s) = summary {
            // A local load reads instead of fetching: what it "loaded" is the bars it read.
            response.fetched_bars = match s.mode {
                LoadMode::Local => s.bars_in_window as u64,
                _ => s.bars_fetched,
            };
            response.gaps_analyzed = s.gaps;
            response.segments_fetched = s.segments_done;
            response.ib_requests_made = s.requests_sent;
            response.external_requests_made = s.requests_sent;
            response.bars_saved = s.bars_saved;
            response.execution_time_seconds = s.elapsed_secs;
        }
        response
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

/// The summary as JSON with the response's fields merged in.
fn summary_value(
    summary: &LoadSummary,
    response: DataLoadOperationResponse,
) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(summary)?;
    if let (Value::Object(map), Value::Object(extra)) =
        (&mut value, serde_json::to_value(response)?)
    {
        map.extend(extra);
    }
    Ok(value)
}

/// Why a load failed, as a stable code and the HTTP status a synchronous load answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadFailure {
    NoSource,
    SymbolNotFound,
    UnsupportedTimeframe,
    ProviderFailed,
    InvalidWindow,
    SegmentsFailed,
    Internal,
}

impl LoadFailure {
    const ALL: [LoadFailure; 7] = [
        LoadFailure::NoSource,
        LoadFailure::SymbolNotFound,
        LoadFailure::UnsupportedTimeframe,
        LoadFailure::ProviderFailed,
        LoadFailure::InvalidWindow,
        LoadFailure::SegmentsFailed,
        LoadFailure::Internal,
    ];

    fn of(error: &LoadError) -> Self {
        match error {
            LoadError::NoProvider { .. } => LoadFailure::NoSource,
            LoadError::SymbolNotFound { .. } => LoadFailure::SymbolNotFound,
            LoadError::UnsupportedTimeframe { .. } => LoadFailure::UnsupportedTimeframe,
            LoadError::Provider { .. } => LoadFailure::ProviderFailed,
            LoadError::InvalidRange { .. } | LoadError::NoHeadTimestamp { .. } => {
                LoadFailure::InvalidWindow
            }
            LoadError::SegmentsFailed { .. } => LoadFailure::SegmentsFailed,
            LoadError::Partial { source, .. } => Self::of(source),
            _ => LoadFailure::Internal,
        }
    }

    fn code(self) -> &'static str {
        match self {
            LoadFailure::NoSource => "DATA-NoSource",
            LoadFailure::SymbolNotFound => "DATA-SymbolNotFound",
            LoadFailure::UnsupportedTimeframe => "DATA-UnsupportedTimeframe",
            LoadFailure::ProviderFailed => "DATA-ProviderFailed",
            LoadFailure::InvalidWindow => "DATA-InvalidWindow",
            LoadFailure::SegmentsFailed => "DATA-SegmentsFailed",
            LoadFailure::Internal => "INTERNAL-Error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            LoadFailure::NoSource | LoadFailure::ProviderFailed => StatusCode::SERVICE_UNAVAILABLE,
            LoadFailure::SymbolNotFound => StatusCode::NOT_FOUND,
            LoadFailure::UnsupportedTimeframe => StatusCode::UNPROCESSABLE_ENTITY,
            LoadFailure::InvalidWindow => StatusCode::BAD_REQUEST,
            LoadFailure::SegmentsFailed => StatusCode::BAD_GATEWAY,
            LoadFailure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|f| f.code() == code)
            .unwrap_or(LoadFailure::Internal)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_code_reads_back() {
        for failure in LoadFailure::ALL {
            assert_eq!(LoadFailure::from_code(failure.code()), failure);
        }
        assert_eq!(LoadFailure::from_code("nonsense"), LoadFailure::Internal);
    }

    #[test]
    fn failures_map_to_the_status_a_client_can_act_on() {
        let cause = LoadError::SymbolNotFound {
            symbol: "ZZZ".parse().unwrap(),
            provider: "sim".into(),
            message: "no such symbol".into(),
        };
        assert_eq!(LoadFailure::of(&cause).status(), StatusCode::NOT_FOUND);
        let no_source = LoadError::NoProvider {
            mode: LoadMode::Tail,
        };
        assert_eq!(
            LoadFailure::of(&no_source).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let internal = LoadError::Internal("lost".into());
        assert_eq!(LoadFailure::of(&internal), LoadFailure::Internal);
    }

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
