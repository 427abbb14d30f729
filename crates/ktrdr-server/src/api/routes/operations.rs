//! `/operations`: list and read the operations of every process sharing the registry (cancel
//! and retry have their own modules).

use axum::extract::{Path, State};
use axum::Json;
use ktrdr_ops::registry::{OperationFilter, OperationStatus};

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiQuery;
use crate::api::wire::{
    Envelope, OperationInfo, OperationList, OperationQuery, OperationSummary, OPERATION_TYPES,
};
use crate::api::ApiState;

/// Most operations one page may hold.
const MAX_LIMIT: usize = 1000;

/// The registry's filter for `query`; 422 naming the field for a value outside its range.
fn filter(query: OperationQuery) -> Result<OperationFilter, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(name) => Some(name.parse::<OperationStatus>().map_err(|e| {
            let allowed = OperationStatus::ALL.map(OperationStatus::as_str);
            ApiError::invalid_field("status", e.to_string(), &allowed)
        })?),
    };
    let operation_type = match query.operation_type {
        None => None,
        Some(t) if t.is_empty() => None,
        Some(t) if OPERATION_TYPES.contains(&t.as_str()) => Some(t),
        Some(t) => {
            return Err(ApiError::invalid_field(
                "operation_type",
                format!("unknown operation type {t:?}"),
                &OPERATION_TYPES,
            ))
        }
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be 1..={MAX_LIMIT}, not {limit}"),
            &[],
        ));
    }
    Ok(OperationFilter {
        status,
        operation_type,
        active_only: query.active_only,
        limit: Some(limit),
        offset: query.offset,
    })
}

/// `GET /operations`: one page, newest first, with the counts.
#[utoipa::path(
    get,
    path = "/api/v1/operations",
    tag = "operations",
    params(OperationQuery),
    responses(
        (status = 200, description = "One page of operations, newest first", body = OperationList),
        (status = 422, description = "A filter outside its allowed values", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<OperationQuery>,
) -> Result<Json<OperationList>, ApiError> {
    let filter = filter(query)?;
    let page = state
        .blocking(move |state| Ok(state.registry().list(&filter)?))
        .await?;
    Ok(Json(OperationList {
        success: true,
        data: page.operations.iter().map(OperationSummary::from).collect(),
        total_count: page.total_count,
        active_count: page.active_count,
    }))
}

/// `GET /operations/{id}`: the whole operation; 404 when unknown.
#[utoipa::path(
    get,
    path = "/api/v1/operations/{id}",
    tag = "operations",
    params(("id" = String, Path, description = "The operation id")),
    responses(
        (status = 200, description = "The operation", body = Envelope<OperationInfo>),
        (status = 404, description = "No such operation", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Envelope<OperationInfo>>, ApiError> {
    let record = state
        .blocking({
            let id = id.clone();
            move |state| Ok(state.registry().get(&id)?)
        })
        .await?;
    let record = record.ok_or_else(|| unknown_operation(&id))?;
    Ok(Json(Envelope::ok(OperationInfo::from(&record))))
}

/// `GET /operations/{id}/status`: the same as `GET /operations/{id}` (the Python clients' model
/// commands call it).
#[utoipa::path(
    get,
    path = "/api/v1/operations/{id}/status",
    tag = "operations",
    params(("id" = String, Path, description = "The operation id")),
    responses(
        (status = 200, description = "The operation", body = Envelope<OperationInfo>),
        (status = 404, description = "No such operation", body = ErrorBody),
    )
)]
pub(crate) async fn status(
    state: State<ApiState>,
    id: Path<String>,
) -> Result<Json<Envelope<OperationInfo>>, ApiError> {
    get(state, id).await
}

/// 404 for an id no process recorded.
pub(crate) fn unknown_operation(id: &str) -> ApiError {
    ApiError::not_found("OPERATIONS-NotFound", format!("no operation {id}"))
}
