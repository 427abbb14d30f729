//! `POST /data/load`: a load as an operation of the runner, answered at once (`async_mode`) or
//! when it has ended. The handler validates and starts; the runner does the work.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktrdr_data::manager::LoadRequest;
use ktrdr_data::types::LoadMode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::operation::{self, LoadJob};
use super::{date_bounds, no_series, off_runtime, parse_symbol, parse_timeframe};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::wire::{LoadAnswer, LoadBody};
use crate::api::ApiState;

/// The query of `POST /data/load`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LoadQuery {
    /// Answer at once with the operation id (`status: "started"`) instead of when the load
    /// has ended.
    #[serde(default)]
    async_mode: bool,
}

/// `POST /data/load`: loads a series into the store as a `data_load` operation.
///
/// Sync: 200 with the real counts once it completed; a failed load answers the status its
/// failure calls for (404 unknown symbol at the source, 503 source down, 502 requests failed,
/// …) with the error and what it saved; a cancelled one 409 with what it kept. Async: 200
/// with the operation id; follow it at `GET /operations/{id}`.
#[utoipa::path(
    post,
    path = "/api/v1/data/load",
    tag = "data",
    params(LoadQuery),
    request_body = LoadBody,
    responses(
        (status = 200, description = "Started (async) or completed (sync)", body = LoadAnswer),
        (status = 400, description = "A bad date, or start after end", body = ErrorBody),
        (status = 404, description = "Mode local and the series is not stored, or the source does not know the symbol", body = ErrorBody),
        (status = 409, description = "The load was cancelled before it completed (sync)", body = LoadAnswer),
        (status = 422, description = "A bad symbol, timeframe or mode (the details name the allowed values)", body = ErrorBody),
        (status = 502, description = "Requests to the source failed; what was fetched is saved (sync)", body = LoadAnswer),
        (status = 503, description = "A fetching mode and no data source configured, or the source is down", body = ErrorBody),
    )
)]
pub(crate) async fn load(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<LoadQuery>,
    ApiJson(body): ApiJson<LoadBody>,
) -> Result<Response, ApiError> {
    let job = validate(&body)?;
    let request = &job.request;
    if request.mode.fetches() && state.manager().provider_info().is_none() {
        return Err(no_source(request.mode));
    }
    if request.mode == LoadMode::Local {
        let manager = state.manager().clone();
        let (symbol, timeframe) = (request.symbol.clone(), request.timeframe);
        off_runtime(move || {
            let store = manager.store();
            if store.path(&symbol, timeframe).is_file() {
                return Ok(());
            }
            Err(no_series(&symbol, timeframe, &store.timeframes_of(&symbol)))
        })
        .await?;
    }
    let handle = state
        .blocking(move |state| operation::start(state, &job))
        .await?;
    if query.async_mode {
        return Ok(Json(operation::started_answer(handle.id())).into_response());
    }
    Ok(operation::sync_answer(&handle.wait().await))
}

/// The body as a load job: the symbol trimmed and upper-cased, the timeframe in its canonical
/// spelling, `mode` defaulting to `local`; each bad field answered 422 (400 for dates) naming
/// it and what it may be.
pub(crate) fn validate(body: &LoadBody) -> Result<LoadJob, ApiError> {
    let symbol = parse_symbol("symbol", &body.symbol)?;
    let timeframe = parse_timeframe("timeframe", &body.timeframe)?;
    let mode = match body.mode.as_deref().map(str::trim) {
        None | Some("") => LoadMode::Local,
        Some(text) => text.parse::<LoadMode>().map_err(|e| {
            let allowed = LoadMode::ALL.map(LoadMode::as_str);
            ApiError::invalid_field("mode", e.to_string(), &allowed)
        })?,
    };
    let (start, end) = date_bounds(body.start_date.as_deref(), body.end_date.as_deref())?;
    Ok(LoadJob {
        request: LoadRequest {
            symbol,
            timeframe,
            mode,
            start,
            end,
        },
        filters: body.filters,
    })
}

/// 503 for a fetching mode on a server started without a data source, naming what configures
/// one.
fn no_source(mode: LoadMode) -> ApiError {
    ApiError::unavailable(
        "DATA-NoSource",
        format!(
            "mode '{mode}' fetches from a data source, but this server has none configured: start \
             `ktrdr serve` with --source sim|host|ib (host: --host-url URL), or set \
             KTRDR_DATA_SOURCE=sim|host|ib, or USE_IB_HOST_SERVICE=true with \
             IB_HOST_SERVICE_URL; mode 'local' reads the store without one"
        ),
    )
    .with_details(serde_json::json!({
        "field": "mode",
        "flags": ["--source", "--host-url"],
        "env": ["KTRDR_DATA_SOURCE", "USE_IB_HOST_SERVICE", "IB_HOST_SERVICE_URL"],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn body(symbol: &str, timeframe: &str, mode: Option<&str>) -> LoadBody {
        LoadBody {
            symbol: symbol.into(),
            timeframe: timeframe.into(),
            mode: mode.map(Into::into),
            start_date: None,
            end_date: None,
            filters: None,
        }
    }

    #[test]
    fn the_symbol_is_trimmed_and_upper_cased_and_mode_defaults_to_local() {
        let job = validate(&body("  msft ", "60m", None)).unwrap();
        assert_eq!(job.request.symbol.as_str(), "MSFT");
        assert_eq!(job.request.timeframe.as_str(), "1h");
        assert_eq!(job.request.mode, LoadMode::Local);
    }

    #[test]
    fn a_bad_mode_or_timeframe_is_422_naming_the_field_and_the_allowed_values() {
        let error = validate(&body("MSFT", "1h", Some("fast"))).unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.details["field"], "mode");
        assert_eq!(
            error.details["allowed"],
            serde_json::json!(["local", "tail", "backfill", "full"])
        );
        let error = validate(&body("MSFT", "7x", None)).unwrap_err();
        assert_eq!(error.details["field"], "timeframe");
        assert!(error.details["allowed"]
            .as_array()
            .unwrap()
            .contains(&"1h".into()));
        let error = validate(&body("MS FT", "1h", None)).unwrap_err();
        assert_eq!(error.details["field"], "symbol");
    }
}
