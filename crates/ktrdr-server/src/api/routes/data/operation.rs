//! A load as an operation of the runner.
//!
//! The operation's result summary is our [`LoadSummary`] with the Python backend's
//! [`DataLoadOperationResponse`] fields merged in (`fetched_bars`, `ib_requests_made`, …), so
//! the Python CLI, which reads `result_summary.fetched_bars` of a finished async load, finds
//! real values; a failed load adds `error_code` ([`LoadFailure`]), from which a synchronous
//! answer takes its HTTP status.

use std::sync::Arc;

use ktrdr_data::manager::{DataManager, LoadRequest, LoadSummary, OPERATION_KIND};
use ktrdr_data::render::DataProgressRenderer;
use ktrdr_data::types::LoadMode;
use ktrdr_ops::operations::{OperationContext, OperationError, OperationsError, Started};
use ktrdr_ops::registry::RegistryError;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::answer::zero_response;
use super::failure::LoadFailure;
use crate::api::error::ApiError;
use crate::api::wire::{DataLoadOperationResponse, LoadFilters};
use crate::api::ApiState;

/// A load request after validation: what the operation runs and what its idempotency
/// fingerprint is computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoadJob {
    /// The series, mode and window.
    pub(crate) request: LoadRequest,
    /// The filters the client sent (recorded, not applied to what is stored).
    pub(crate) filters: Option<LoadFilters>,
    /// The operation this load runs again (`POST /operations/{id}/retry`), recorded as
    /// `retry_of`; not part of the idempotency fingerprint.
    pub(crate) retry_of: Option<String>,
}

impl LoadJob {
    /// The operation's metadata: the manager's, with the filters as `parameters` and the
    /// operation it retries as `retry_of`.
    fn metadata(&self, manager: &DataManager) -> Value {
        let mut metadata = manager.operation_metadata(&self.request);
        if let Some(filters) = self.filters {
            metadata["parameters"] = serde_json::json!({
                "trading_hours_only": filters.trading_hours_only,
                "include_extended": filters.include_extended,
            });
        }
        if let Some(retried) = &self.retry_of {
            metadata["retry_of"] = Value::from(retried.as_str());
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
