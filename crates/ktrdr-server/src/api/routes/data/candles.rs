//! `GET /data/{symbol}/{timeframe}/candles`: a window of a stored series at a resolution, for
//! charts: at most `max_points` candles, with the window's gaps and validation findings at the
//! same resolution, so that a chart pans and zooms over decades without loading every bar.

use axum::extract::{Path, State};
use axum::Json;
use ktrdr_data::gaps::{analyze, session_hours_of, GapOptions};
use ktrdr_data::validate::{validate, ValidateOptions};
use serde::Deserialize;
use utoipa::IntoParams;

use super::resolution::{bucket_seconds, candles, findings, thin_gaps};
use super::{date_bounds, off_runtime, parse_symbol, parse_timeframe, store_error};
use crate::api::chart_cache::ChartSeries;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiQuery;
use crate::api::wire::{Candles, Envelope};
use crate::api::ApiState;

/// The most candles one answer may hold.
pub(crate) const MAX_POINTS: usize = 10_000;

/// The query of `GET /data/{symbol}/{timeframe}/candles`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CandlesQuery {
    /// The window's start: `YYYY-MM-DD` or a date-time (default: the first bar).
    start_date: Option<String>,
    /// The window's end, inclusive; a date alone includes that day (default: the last bar).
    end_date: Option<String>,
    /// The most candles to answer, 1..=10000 (default 1000): bars are aggregated into
    /// buckets of a round multiple of the bar size when the window holds more.
    max_points: Option<usize>,
}

/// `GET /data/{symbol}/{timeframe}/candles`.
#[utoipa::path(
    get,
    path = "/api/v1/data/{symbol}/{timeframe}/candles",
    tag = "data",
    params(
        ("symbol" = String, Path, description = "The symbol (any case)"),
        ("timeframe" = String, Path, description = "The bar size"),
        CandlesQuery,
    ),
    responses(
        (status = 200, description = "The window's candles, gaps and findings", body = Envelope<Candles>),
        (status = 400, description = "A bad date, or start after end", body = ErrorBody),
        (status = 404, description = "The series is not stored", body = ErrorBody),
        (status = 422, description = "Not a symbol or timeframe, or max_points out of range", body = ErrorBody),
    )
)]
pub(crate) async fn candles_route(
    State(state): State<ApiState>,
    Path((symbol, timeframe)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<CandlesQuery>,
) -> Result<Json<Envelope<Candles>>, ApiError> {
    let symbol = parse_symbol("symbol", &symbol)?;
    let timeframe = parse_timeframe("timeframe", &timeframe)?;
    let (lo, hi) = date_bounds(query.start_date.as_deref(), query.end_date.as_deref())?;
    let max_points = query.max_points.unwrap_or(1000);
    if !(1..=MAX_POINTS).contains(&max_points) {
        return Err(ApiError::invalid_field(
            "max_points",
            format!("max_points must be 1..={MAX_POINTS}, not {max_points}"),
            &[],
        ));
    }
    let manager = state.manager().clone();
    let answer = off_runtime(move || {
        let store = manager.store();
        let calendar = manager.calendars().calendar_for(&symbol);
        let chart = state
            .chart_cache()
            .get_or_load(&store.path(&symbol, timeframe), || {
                let (series, _) = store.load_lenient(&symbol, timeframe).map_err(|e| {
                    store_error(e, &symbol, timeframe, &store.timeframes_of(&symbol))
                })?;
                let options = ValidateOptions::default();
                let report = validate(&series, calendar, timeframe, &options).ok();
                let hours =
                    session_hours_of(&series, calendar, timeframe).map_err(|e| e.to_string());
                Ok(ChartSeries {
                    series,
                    report,
                    hours,
                })
            })?;
        let series = &chart.series;
        let start = lo.or(series.first_ts());
        let end = hi.or(series.last_ts());
        let window = series.slice_time(start, end);
        let bar_seconds = timeframe.seconds();
        let width = match (start, end) {
            (Some(start), Some(end)) => bucket_seconds(end - start, bar_seconds, max_points),
            _ => bar_seconds,
        };
        let buckets = candles(&window, width);
        // Findings are judged on the whole series (outliers against their neighbours).
        let offset = series.index_range(start, end).start;
        let found = match &chart.report {
            Some(report) => findings(&buckets, |row| report.kinds_of_row(row + offset)),
            None => Vec::new(),
        };
        let (gaps, gaps_error) = match (start, end) {
            (Some(start), Some(end)) => {
                let report = chart.hours.clone().and_then(|hours| {
                    let options = GapOptions {
                        hours,
                        start: Some(start),
                        end: Some(end + 1),
                        head: None,
                    };
                    analyze(series, calendar, timeframe, &options).map_err(|e| e.to_string())
                });
                match report {
                    Ok(report) => (thin_gaps(&report.gaps, width, bar_seconds), None),
                    Err(error) => (Vec::new(), Some(error)),
                }
            }
            _ => (Vec::new(), None),
        };
        Ok(Candles {
            symbol: symbol.as_str().to_owned(),
            timeframe: timeframe.as_str().to_owned(),
            first_bar: series.first_ts(),
            last_bar: series.last_ts(),
            start,
            end,
            bucket_seconds: width,
            bars: window.len(),
            candles: buckets.into_iter().map(|(candle, _)| candle).collect(),
            gaps,
            gaps_error,
            findings: found,
        })
    })
    .await?;
    Ok(Json(Envelope::ok(answer)))
}
