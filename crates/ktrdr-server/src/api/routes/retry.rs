//! `POST /operations/{id}/retry`: run an ended operation's request again, as a new operation.

use axum::extract::{Path, State};
use axum::Json;
use ktrdr_data::manager::{LoadRequest, OPERATION_KIND as DATA_LOAD};
use ktrdr_data::types::parse_timestamp;
use ktrdr_ops::operations::Started;
use ktrdr_ops::registry::{OperationRecord, OperationStatus};
use serde_json::Value;

use super::data::load::no_source;
use super::data::operation::{self, LoadJob};
use super::operations::unknown_operation;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::wire::{Envelope, LoadFilters, OperationInfo};
use crate::api::ApiState;

/// The statuses an operation may be retried from: it ended without doing all its work.
const RETRYABLE: [OperationStatus; 3] = [
    OperationStatus::Failed,
    OperationStatus::Cancelled,
    OperationStatus::Interrupted,
];

/// `POST /operations/{id}/retry`: starts a new operation with the request of `id` (which must
/// have failed, been cancelled or been interrupted) and answers it; its metadata names `id` in
/// `retry_of`. Only data loads can be retried; they run as a `POST /data/load` would, so their
/// result summary carries the same fields.
#[utoipa::path(
    post,
    path = "/api/v1/operations/{id}/retry",
    tag = "operations",
    params(("id" = String, Path, description = "The operation to run again")),
    responses(
        (status = 200, description = "The new operation, already started", body = Envelope<OperationInfo>),
        (status = 400, description = "Not failed, cancelled or interrupted; or a type this server cannot run", body = ErrorBody),
        (status = 404, description = "No such operation", body = ErrorBody),
        (status = 503, description = "A load that fetches on a server without a data source, or the server is shutting down", body = ErrorBody),
    )
)]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<OperationInfo>>, ApiError> {
    let info = state
        .blocking(move |state| {
            let record = state.registry().get(&id)?;
            let record = record.ok_or_else(|| unknown_operation(&id))?;
            let job = retryable_load(&record)?;
            if job.request.mode.fetches() && state.manager().provider_info().is_none() {
                return Err(no_source(job.request.mode));
            }
            let new_id = match operation::start(state, &job, None)? {
                Started::New(handle) => handle.id().to_owned(),
                Started::Existing(id) => id,
            };
            let started = state.registry().get(&new_id)?;
            let started = started.ok_or_else(|| {
                ApiError::internal(format!("operation {new_id} vanished once started"))
            })?;
            Ok(OperationInfo::from(&started))
        })
        .await?;
    Ok(Json(Envelope::ok(info)))
}

/// The load of `record` (its request and filters), if it may be retried.
fn retryable_load(record: &OperationRecord) -> Result<LoadJob, ApiError> {
    if !RETRYABLE.contains(&record.status) {
        return Err(ApiError::bad_request(
            "OPERATIONS-NotRetryable",
            format!(
                "operation {} is {}; only failed, cancelled or interrupted operations can be \
                 retried",
                record.id, record.status
            ),
        )
        .with_details(serde_json::json!({
            "status": record.status,
            "allowed": RETRYABLE,
        })));
    }
    if record.operation_type != DATA_LOAD {
        return Err(ApiError::bad_request(
            "OPERATIONS-NotRetryable",
            format!(
                "operation {} is of type {:?}, which this server cannot run; only {DATA_LOAD} \
                 operations can be retried",
                record.id, record.operation_type
            ),
        )
        .with_details(serde_json::json!({
            "operation_type": record.operation_type,
            "allowed": [DATA_LOAD],
        })));
    }
    let request = load_request(&record.metadata).map_err(|problem| {
        ApiError::bad_request(
            "OPERATIONS-NotRetryable",
            format!("operation {} cannot be retried: {problem}", record.id),
        )
    })?;
    Ok(LoadJob {
        request,
        filters: load_filters(&record.metadata),
        retry_of: Some(record.id.clone()),
    })
}

/// The filters a load through the API recorded in its metadata's `parameters`, if any.
fn load_filters(metadata: &Value) -> Option<LoadFilters> {
    let parameters = metadata.get("parameters")?;
    let flag = |key: &str| parameters.get(key).and_then(Value::as_bool);
    let (hours, extended) = (flag("trading_hours_only"), flag("include_extended"));
    (hours.is_some() || extended.is_some()).then(|| LoadFilters {
        trading_hours_only: hours.unwrap_or_default(),
        include_extended: extended.unwrap_or_default(),
    })
}

/// The [`LoadRequest`] a data load's metadata records (see `DataManager::start`); the problem
/// in words when a field is missing or unreadable.
fn load_request(metadata: &Value) -> Result<LoadRequest, String> {
    let text = |key: &str| metadata.get(key).and_then(Value::as_str);
    let required = |key: &str| text(key).ok_or_else(|| format!("its metadata has no {key}"));
    let unreadable = |key: &str, error: &dyn std::fmt::Display| {
        format!("its metadata's {key} cannot be read: {error}")
    };
    let symbol = required("symbol")?
        .parse()
        .map_err(|e| unreadable("symbol", &e))?;
    let timeframe = required("timeframe")?
        .parse()
        .map_err(|e| unreadable("timeframe", &e))?;
    let mode = required("mode")?
        .parse()
        .map_err(|e| unreadable("mode", &e))?;
    let mut request = LoadRequest::new(symbol, timeframe, mode);
    if let Some(start) = text("start") {
        request = request.with_start(parse_timestamp(start).map_err(|e| unreadable("start", &e))?);
    }
    if let Some(end) = text("end") {
        request = request.with_end(parse_timestamp(end).map_err(|e| unreadable("end", &e))?);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::types::{LoadMode, Timeframe};
    use serde_json::json;

    #[test]
    fn the_request_is_read_back_from_what_start_records() {
        let request = load_request(&json!({
            "symbol": "AAPL", "timeframe": "1h", "mode": "backfill",
            "start": "2024-01-01T00:00:00Z", "end": null, "provider": "sim",
        }))
        .unwrap();
        assert_eq!(request.symbol.as_str(), "AAPL");
        assert_eq!(request.timeframe, Timeframe::H1);
        assert_eq!(request.mode, LoadMode::Backfill);
        assert_eq!(request.start, Some(1_704_067_200));
        assert_eq!(request.end, None);
    }

    #[test]
    fn a_missing_or_bad_field_is_named() {
        let no_mode = load_request(&json!({"symbol": "AAPL", "timeframe": "1h"})).unwrap_err();
        assert!(no_mode.contains("no mode"), "{no_mode}");
        let bad = load_request(&json!({"symbol": "AAPL", "timeframe": "7q", "mode": "tail"}));
        assert!(bad.unwrap_err().contains("timeframe"));
    }

    #[test]
    fn the_filters_of_a_load_through_the_api_are_kept() {
        let recorded =
            json!({"parameters": {"trading_hours_only": true, "include_extended": false}});
        let filters = load_filters(&recorded).unwrap();
        assert!(filters.trading_hours_only && !filters.include_extended);
        assert_eq!(load_filters(&json!({"parameters": {}})), None);
        assert_eq!(load_filters(&json!({})), None);
    }

    #[test]
    fn only_ended_data_loads_are_retried() {
        let mut record = OperationRecord::pending(
            "op_1",
            DATA_LOAD,
            json!({"symbol": "AAPL", "timeframe": "1d", "mode": "local"}),
        );
        let running = retryable_load(&record).unwrap_err();
        assert_eq!(running.details["status"], "pending");
        for status in RETRYABLE {
            record.status = status;
            let job = retryable_load(&record).unwrap();
            assert_eq!(job.request.mode, LoadMode::Local, "{status}");
            assert_eq!(job.filters, None);
        }
        record.operation_type = "training".to_owned();
        let training = retryable_load(&record).unwrap_err();
        assert!(
            training.message.contains("\"training\""),
            "{}",
            training.message
        );
    }
}
