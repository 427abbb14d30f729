//! `POST /data/load`: a load as an operation of the runner, answered at once (`async_mode`) or
//! when it has ended. The handler validates and starts; the runner does the work.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ktrdr_data::manager::LoadRequest;
use ktrdr_data::types::LoadMode;
use ktrdr_ops::operations::Started;
use serde::Deserialize;
use utoipa::IntoParams;

use super::answer::{self, LoadEnd};
use super::operation::{self, LoadJob, IDEMPOTENCY_KEY};
use super::{date_bounds, no_series, off_runtime, parse_symbol, parse_timeframe};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::follow::{state_tag, Follower};
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
/// with the operation id; follow it at `GET /operations/{id}`. A client that hangs up on a
/// synchronous load does not stop it (the load is the runner's, not the request's).
///
/// With an `Idempotency-Key` header the load starts once per key: the same key with the same
/// request (after normalising: `msft` and `MSFT`, `60m` and `1h` are one request) answers the
/// operation the first one started, wherever it stands, and starts nothing; the same key with
/// another request is 409. Keys live in the registry, so this holds across restarts.
#[utoipa::path(
    post,
    path = "/api/v1/data/load",
    tag = "data",
    params(
        LoadQuery,
        ("Idempotency-Key" = Option<String>, Header,
         description = "Start the load once per key (1 to 255 visible characters)"),
    ),
    request_body = LoadBody,
    responses(
        (status = 200, description = "Started (async) or completed (sync)", body = LoadAnswer),
        (status = 400, description = "A bad date, or start after end", body = ErrorBody),
        (status = 404, description = "Mode local and the series is not stored, or the source does not know the symbol", body = ErrorBody),
        (status = 409, description = "The load was cancelled before it completed (sync), or the Idempotency-Key was used for another request", body = LoadAnswer),
        (status = 422, description = "A bad symbol, timeframe or mode (the details name the allowed values)", body = ErrorBody),
        (status = 502, description = "Requests to the source failed; what was fetched is saved (sync)", body = LoadAnswer),
        (status = 503, description = "A fetching mode and no data source configured, or the source is down", body = ErrorBody),
    )
)]
pub(crate) async fn load(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<LoadQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoadBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let job = validate(&body)?;
    let request = &job.request;
    let provider = state.manager().provider_info();
    if let Some(expected) = body
        .source
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        check_source(expected, provider.as_ref().map(|p| p.name.as_str()))?;
    }
    if request.mode.fetches() && provider.is_none() {
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
    let started = state
        .blocking(move |state| operation::start(state, &job, key.as_deref()))
        .await?;
    let id = match &started {
        Started::New(handle) => handle.id(),
        Started::Existing(id) => id.as_str(),
    };
    if query.async_mode {
        return Ok(Json(answer::started_answer(id)).into_response());
    }
    let end = match &started {
        Started::New(handle) => LoadEnd::from(handle.wait().await),
        Started::Existing(id) => match ended(&state, id).await? {
            Some(end) => end,
            // The server is shutting down before the load it follows ended.
            None => return Ok(Json(answer::started_answer(id)).into_response()),
        },
    };
    Ok(answer::sync_answer(&end))
}

/// The `Idempotency-Key` header, if sent; 422 when it is not visible ASCII (the registry
/// checks its length).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get(IDEMPOTENCY_KEY)
        .map(|value| {
            value.to_str().map(str::to_owned).map_err(|_| {
                ApiError::invalid_field(
                    IDEMPOTENCY_KEY,
                    "the Idempotency-Key header must be visible ASCII",
                    &[],
                )
            })
        })
        .transpose()
}

/// Follows operation `id` (started by an earlier request with the same key, by this process
/// or another) until it has ended; `None` if the server shuts down first.
async fn ended(state: &ApiState, id: &str) -> Result<Option<LoadEnd>, ApiError> {
    let (mut info, mut follower) = Follower::start(state, id).await?;
    while !info.status.is_terminal() {
        let tag = state_tag(&info);
        tokio::select! {
            () = state.closing() => return Ok(None),
            changed = follower.changed(&tag) => info = changed?,
        }
    }
    Ok(Some(LoadEnd::from(info)))
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
        retry_of: None,
    })
}

/// 422 naming the server's source when the client expected another (`expected` is the first
/// word of a source's name: `sim`, `host`, `ib`).
fn check_source(expected: &str, configured: Option<&str>) -> Result<(), ApiError> {
    let kind = configured.and_then(|name| name.split_whitespace().next());
    if kind.is_some_and(|kind| kind.eq_ignore_ascii_case(expected)) {
        return Ok(());
    }
    let allowed: Vec<&str> = kind.into_iter().collect();
    let message = match configured {
        Some(name) => format!("source '{expected}' is not this server's: it loads from {name}"),
        None => format!("source '{expected}' is not configured: this server has no data source"),
    };
    Err(ApiError::invalid_field("source", message, &allowed))
}

/// 503 for a fetching mode on a server started without a data source, naming what configures
/// one.
pub(crate) fn no_source(mode: LoadMode) -> ApiError {
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
            source: None,
        }
    }

    #[test]
    fn a_source_other_than_the_servers_is_422_naming_the_servers() {
        assert!(check_source("sim", Some("sim (simulated data)")).is_ok());
        assert!(check_source("SIM", Some("sim (simulated data)")).is_ok());
        let error = check_source("ib", Some("sim (simulated data)")).unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.details["field"], "source");
        assert_eq!(error.details["allowed"], serde_json::json!(["sim"]));
        let error = check_source("sim", None).unwrap_err();
        assert_eq!(error.details["field"], "source");
        assert!(error.details.get("allowed").is_none(), "{}", error.details);
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

    #[test]
    fn one_request_spelled_two_ways_has_one_fingerprint() {
        let fingerprint = |b: &LoadBody| validate(b).unwrap().fingerprint();
        let plain = body("MSFT", "1h", Some("tail"));
        let mut spelled = body(" msft ", "60m", Some("TAIL"));
        spelled.filters = Some(crate::api::wire::LoadFilters::default());
        assert_eq!(fingerprint(&plain), fingerprint(&spelled));
        assert_eq!(fingerprint(&plain).len(), 64);
        assert_ne!(
            fingerprint(&plain),
            fingerprint(&body("MSFT", "1h", Some("full")))
        );
        let mut later = plain.clone();
        later.start_date = Some("2024-01-01".into());
        assert_ne!(fingerprint(&plain), fingerprint(&later));
    }
}
