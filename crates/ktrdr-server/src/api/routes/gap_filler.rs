//! `/gap-filler`: the status of the server's gap filler service, and its start and stop.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use ktrdr_data::gap_filler::GapFillerConfig;
use ktrdr_data::types::{Symbol, Timeframe};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiQuery;
use crate::api::wire::{Envelope, GapFillerStatus};
use crate::api::ApiState;

/// `GET /gap-filler`: whether it runs, its settings, its stats and its last cycle.
#[utoipa::path(
    get,
    path = "/api/v1/gap-filler",
    tag = "gap-filler",
    responses(
        (status = 200, description = "The gap filler's state and stats", body = Envelope<GapFillerStatus>),
    )
)]
pub(crate) async fn status(State(state): State<ApiState>) -> Json<Envelope<GapFillerStatus>> {
    Json(Envelope::ok(state.gap_filler().status().await))
}

/// The settings `POST /gap-filler/start` may change; each one left out keeps its last value.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StartQuery {
    /// Seconds between cycles.
    interval_secs: Option<f64>,
    /// How far back a missing bar counts as recent, in days.
    recent_days: Option<f64>,
    /// Provider requests one cycle's loads may plan.
    request_budget: Option<usize>,
    /// Only these symbols, comma-separated (empty: every stored series).
    symbols: Option<String>,
    /// Only these timeframes, comma-separated (empty: every stored timeframe).
    timeframes: Option<String>,
}

impl StartQuery {
    /// `base` with the settings given; `None` when none was.
    fn config(self, base: GapFillerConfig) -> Result<Option<GapFillerConfig>, ApiError> {
        let StartQuery {
            interval_secs,
            recent_days,
            request_budget,
            symbols,
            timeframes,
        } = self;
        if interval_secs.is_none()
            && recent_days.is_none()
            && request_budget.is_none()
            && symbols.is_none()
            && timeframes.is_none()
        {
            return Ok(None);
        }
        let mut config = base;
        if let Some(secs) = interval_secs {
            config.interval = seconds("interval_secs", secs)?;
        }
        if let Some(days) = recent_days {
            config.recent = seconds("recent_days", days * 86_400.0)?;
        }
        if let Some(budget) = request_budget {
            config.request_budget = budget;
        }
        if let Some(list) = symbols {
            config.symbols = listed(&list, |s| {
                s.parse::<Symbol>()
                    .map_err(|e| ApiError::invalid_field("symbols", e.to_string(), &[]))
            })?;
        }
        if let Some(list) = timeframes {
            config.timeframes = listed(&list, |s| {
                s.parse::<Timeframe>().map_err(|e| {
                    let allowed = Timeframe::ALL.map(Timeframe::as_str);
                    ApiError::invalid_field("timeframes", e.to_string(), &allowed)
                })
            })?;
        }
        Ok(Some(config))
    }
}

/// A duration from seconds; a negative, infinite or NaN number is refused naming `field`.
fn seconds(field: &str, secs: f64) -> Result<Duration, ApiError> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        ApiError::invalid_field(field, format!("{field} must be a positive number"), &[])
    })
}

/// A comma-separated list; an empty one means no filter.
fn listed<T: Ord>(
    list: &str,
    parse: impl Fn(&str) -> Result<T, ApiError>,
) -> Result<Option<BTreeSet<T>>, ApiError> {
    let items: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(None);
    }
    items
        .into_iter()
        .map(parse)
        .collect::<Result<_, _>>()
        .map(Some)
}

/// `POST /gap-filler/start`: starts the service (a first cycle at once), with the settings
/// given as query parameters (kept for later starts) or the last ones.
#[utoipa::path(
    post,
    path = "/api/v1/gap-filler/start",
    tag = "gap-filler",
    params(StartQuery),
    responses(
        (status = 200, description = "Started", body = Envelope<GapFillerStatus>),
        (status = 409, description = "Already running", body = ErrorBody),
        (status = 422, description = "A setting out of range", body = ErrorBody),
        (status = 503, description = "The server has no data source", body = ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<StartQuery>,
) -> Result<Json<Envelope<GapFillerStatus>>, ApiError> {
    let config = query.config(state.gap_filler().config())?;
    let status = state.gap_filler().start(&state, config).await?;
    Ok(Json(Envelope::ok(status)))
}

/// `POST /gap-filler/stop`: stops the service; its load in flight is cancelled with reason
/// `shutdown` (not `user`). Answers once it has stopped, with the final stats.
#[utoipa::path(
    post,
    path = "/api/v1/gap-filler/stop",
    tag = "gap-filler",
    responses(
        (status = 200, description = "Stopped; the final stats", body = Envelope<GapFillerStatus>),
        (status = 409, description = "Not running", body = ErrorBody),
    )
)]
pub(crate) async fn stop(
    State(state): State<ApiState>,
) -> Result<Json<Envelope<GapFillerStatus>>, ApiError> {
    let status = state.gap_filler().stop().await?;
    Ok(Json(Envelope::ok(status)))
}
