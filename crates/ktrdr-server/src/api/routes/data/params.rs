//! What the data routes share: reading symbols, timeframes and dates from a request, the
//! store's failures as answers, and running file work off the runtime.

use ktrdr_data::store::StoreError;
use ktrdr_data::types::{
    format_timestamp, parse_timestamp, parse_window_end, Symbol, Timeframe, TimestampError,
};

use crate::api::error::ApiError;

/// The canonical timeframe spellings, for error details.
const TIMEFRAMES: [&str; 9] = ["1m", "5m", "15m", "30m", "1h", "2h", "4h", "1d", "1w"];

/// `symbol` trimmed and upper-cased; 422 naming `field` when it is not a symbol.
pub(crate) fn parse_symbol(field: &str, symbol: &str) -> Result<Symbol, ApiError> {
    Symbol::new(symbol).map_err(|e| ApiError::invalid_field(field, e.to_string(), &[]))
}

/// `timeframe` in any accepted spelling; 422 naming `field` and the allowed values.
pub(crate) fn parse_timeframe(field: &str, timeframe: &str) -> Result<Timeframe, ApiError> {
    timeframe
        .parse()
        .map_err(|e: ktrdr_data::types::TimeframeError| {
            ApiError::invalid_field(field, e.to_string(), &TIMEFRAMES)
        })
}

/// Inclusive bounds in unix seconds from `start_date`/`end_date` (a date or a date-time; a
/// date alone as `end_date` covers that whole day). A value that is not a date answers 400
/// with the Python backend's message, naming the field.
pub(crate) fn date_bounds(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let parse = |field: &str,
                 value: Option<&str>,
                 read: fn(&str) -> Result<i64, TimestampError>|
     -> Result<Option<i64>, ApiError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => read(v).map(Some).map_err(|e| {
                ApiError::bad_request(
                    "DATA-InvalidDate",
                    format!("Invalid {field} format. Use YYYY-MM-DD"),
                )
                .with_details(serde_json::json!({"field": field, "reason": e.to_string()}))
            }),
        }
    };
    let lo = parse("start_date", start, parse_timestamp)?;
    let hi = parse("end_date", end, parse_window_end)?;
    if let (Some(l), Some(h)) = (lo, hi) {
        if l > h {
            return Err(ApiError::bad_request(
                "DATA-InvalidRange",
                format!(
                    "start_date {} is after end_date {}",
                    format_timestamp(l),
                    format_timestamp(h)
                ),
            ));
        }
    }
    Ok((lo, hi))
}

/// A store failure as an answer: a missing series is 404 (naming the series and, when
/// there are some, the timeframes stored for the symbol); anything else is ours (500, its
/// text logged, never shown: it names files).
pub(crate) fn store_error(
    error: StoreError,
    symbol: &Symbol,
    timeframe: Timeframe,
    stored: &[Timeframe],
) -> ApiError {
    if error.is_not_found() {
        return no_series(symbol, timeframe, stored);
    }
    ApiError::internal(error)
}

/// 404 for a series the store does not have.
pub(crate) fn no_series(symbol: &Symbol, timeframe: Timeframe, stored: &[Timeframe]) -> ApiError {
    let available: Vec<&str> = stored.iter().map(|t| t.as_str()).collect();
    let hint = if available.is_empty() {
        String::new()
    } else {
        format!(" (stored for {symbol}: {})", available.join(", "))
    };
    ApiError::not_found(
        "DATA-NotFound",
        format!(
            "No data stored for {symbol} {timeframe}{hint}; load it with POST /api/v1/data/load"
        ),
    )
    .with_details(serde_json::json!({
        "symbol": symbol.as_str(),
        "timeframe": timeframe.as_str(),
        "available_timeframes": available,
    }))
}

/// Runs CPU or file work (parsing a series, gap analysis) on the blocking pool.
pub(crate) async fn off_runtime<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

/// `2025-05-22T08:00:00`: the Python backend's bar time format (UTC, no zone suffix).
pub(crate) fn python_time(ts: i64) -> String {
    let mut text = format_timestamp(ts);
    text.pop();
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn a_bad_date_is_400_with_the_python_message_naming_the_field() {
        let error = date_bounds(Some("2024-13-45"), None).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.message, "Invalid start_date format. Use YYYY-MM-DD");
        let error = date_bounds(None, Some("yesterday")).unwrap_err();
        assert_eq!(error.message, "Invalid end_date format. Use YYYY-MM-DD");
    }

    #[test]
    fn a_date_alone_as_end_covers_that_day() {
        let (lo, hi) = date_bounds(Some("2025-01-02"), Some("2025-01-02")).unwrap();
        assert_eq!(lo, Some(1_735_776_000));
        assert_eq!(hi, Some(1_735_776_000 + 86_399));
        assert!(date_bounds(Some("2025-01-03"), Some("2025-01-02")).is_err());
    }

    #[test]
    fn python_time_has_no_zone_suffix() {
        assert_eq!(python_time(1_735_776_000), "2025-01-02T00:00:00");
    }
}
