//! `GET /symbols`, `GET /timeframes`, `GET /data/info`: what the store holds.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use ktrdr_data::calendar::Calendar;
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, Symbol, Timeframe};

use super::off_runtime;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::wire::{
    DataInfo, Envelope, SeriesSummary, SymbolInfo, TimeframeInfo, TradingHours,
};
use crate::api::ApiState;

/// `GET /symbols`: every symbol with a stored series, with its calendar and timeframes.
#[utoipa::path(
    get,
    path = "/api/v1/symbols",
    tag = "data",
    responses(
        (status = 200, description = "The stored symbols, sorted", body = Envelope<Vec<SymbolInfo>>),
        (status = 500, description = "The data directory cannot be listed", body = ErrorBody),
    )
)]
pub(crate) async fn symbols(
    State(state): State<ApiState>,
) -> Result<Json<Envelope<Vec<SymbolInfo>>>, ApiError> {
    let manager = state.manager().clone();
    let by_symbol = off_runtime(move || list_by_symbol(manager.store())).await?;
    let calendars = state.manager().calendars();
    let symbols = by_symbol
        .into_iter()
        .map(|(symbol, timeframes)| {
            symbol_info(&symbol, calendars.calendar_for(&symbol), &timeframes)
        })
        .collect();
    Ok(Json(Envelope::ok(symbols)))
}

/// `GET /timeframes`: every bar size the store and the loads know, marking the stored ones.
#[utoipa::path(
    get,
    path = "/api/v1/timeframes",
    tag = "data",
    responses(
        (status = 200, description = "Every timeframe, shortest first", body = Envelope<Vec<TimeframeInfo>>),
        (status = 500, description = "The data directory cannot be listed", body = ErrorBody),
    )
)]
pub(crate) async fn timeframes(
    State(state): State<ApiState>,
) -> Result<Json<Envelope<Vec<TimeframeInfo>>>, ApiError> {
    let manager = state.manager().clone();
    let stored = off_runtime(move || {
        Ok(list_by_symbol(manager.store())?
            .into_values()
            .flatten()
            .collect::<Vec<_>>())
    })
    .await?;
    let infos = Timeframe::ALL
        .into_iter()
        .map(|tf| timeframe_info(tf, stored.contains(&tf)))
        .collect();
    Ok(Json(Envelope::ok(infos)))
}

/// `GET /data/info`: every stored series with its real row count and first and last bar.
#[utoipa::path(
    get,
    path = "/api/v1/data/info",
    tag = "data",
    responses(
        (status = 200, description = "What the store holds", body = Envelope<DataInfo>),
        (status = 500, description = "The data directory cannot be listed", body = ErrorBody),
    )
)]
pub(crate) async fn info(
    State(state): State<ApiState>,
) -> Result<Json<Envelope<DataInfo>>, ApiError> {
    let manager = state.manager().clone();
    let source = manager.provider_info().map(|p| p.name);
    let mut info = off_runtime(move || data_info(manager.store())).await?;
    info.data_source = source;
    Ok(Json(Envelope::ok(info)))
}

/// The stored series grouped by symbol, timeframes shortest first.
fn list_by_symbol(store: &BarStore) -> Result<BTreeMap<Symbol, Vec<Timeframe>>, ApiError> {
    let mut by_symbol: BTreeMap<Symbol, Vec<Timeframe>> = BTreeMap::new();
    for (symbol, tf) in store.list_series().map_err(ApiError::internal)? {
        by_symbol.entry(symbol).or_default().push(tf);
    }
    for timeframes in by_symbol.values_mut() {
        timeframes.sort();
    }
    Ok(by_symbol)
}

fn data_info(store: &BarStore) -> Result<DataInfo, ApiError> {
    let series: Vec<(Symbol, Timeframe)> = store.list_series().map_err(ApiError::internal)?;
    let mut symbols: Vec<String> = series.iter().map(|(s, _)| s.as_str().to_owned()).collect();
    symbols.dedup();
    let mut timeframes: Vec<Timeframe> = series.iter().map(|(_, tf)| *tf).collect();
    timeframes.sort();
    timeframes.dedup();
    let summaries: Vec<SeriesSummary> = series
        .iter()
        .map(|(symbol, tf)| series_summary(store, symbol, *tf))
        .collect();
    Ok(DataInfo {
        total_symbols: symbols.len(),
        total_series: summaries.len(),
        available_symbols: symbols,
        timeframes_available: timeframes.iter().map(|t| t.as_str().to_owned()).collect(),
        series: summaries,
        data_source: None,
    })
}

/// One series' summary; a file that cannot be read is listed with an error instead of
/// failing the whole answer (its cause is logged: it names the file).
fn series_summary(store: &BarStore, symbol: &Symbol, tf: Timeframe) -> SeriesSummary {
    let mut summary = SeriesSummary {
        symbol: symbol.as_str().to_owned(),
        timeframe: tf.as_str().to_owned(),
        rows: 0,
        first_bar: None,
        last_bar: None,
        unreadable_rows: 0,
        bytes: 0,
        error: None,
    };
    match store.series_info(symbol, tf) {
        Ok(info) => {
            summary.rows = info.rows;
            summary.first_bar = info.range.map(|r| format_timestamp(r.first));
            summary.last_bar = info.range.map(|r| format_timestamp(r.last));
            summary.unreadable_rows = info.skipped.len();
            summary.bytes = info.bytes;
        }
        Err(error) => {
            tracing::warn!(%symbol, %tf, %error, "a stored series cannot be read");
            summary.error = Some(format!(
                "the file cannot be read; `ktrdr data validate {symbol} {tf}` says why"
            ));
        }
    }
    summary
}

fn symbol_info(symbol: &Symbol, calendar: Calendar, timeframes: &[Timeframe]) -> SymbolInfo {
    let text = symbol.as_str();
    let (instrument_type, currency) = match calendar {
        Calendar::Fx if text.len() == 6 => ("forex", &text[3..]),
        Calendar::Fx => ("forex", "USD"),
        Calendar::Crypto => ("crypto", "USD"),
        Calendar::Xnys | Calendar::Xnas => ("stock", "USD"),
    };
    SymbolInfo {
        symbol: text.to_owned(),
        name: text.to_owned(),
        instrument_type: instrument_type.to_owned(),
        exchange: calendar.name().to_owned(),
        currency: currency.to_owned(),
        available_timeframes: timeframes.iter().map(|t| t.as_str().to_owned()).collect(),
        trading_hours: TradingHours {
            timezone: calendar.time_zone().name().to_owned(),
            calendar: calendar.name().to_owned(),
        },
    }
}

fn timeframe_info(tf: Timeframe, stored: bool) -> TimeframeInfo {
    let (name, description) = match tf {
        Timeframe::M1 => ("1 Minute", "one-minute bars"),
        Timeframe::M5 => ("5 Minutes", "five-minute bars"),
        Timeframe::M15 => ("15 Minutes", "fifteen-minute bars"),
        Timeframe::M30 => ("30 Minutes", "thirty-minute bars"),
        Timeframe::H1 => ("1 Hour", "hourly bars"),
        Timeframe::H2 => ("2 Hours", "two-hour bars"),
        Timeframe::H4 => ("4 Hours", "four-hour bars"),
        Timeframe::D1 => ("1 Day", "one bar per trading session"),
        Timeframe::W1 => ("1 Week", "one bar per trading week"),
    };
    TimeframeInfo {
        id: tf.as_str().to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        seconds: tf.seconds(),
        stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fx_pair_is_forex_in_its_quote_currency() {
        let eurusd = Symbol::new("eurusd").unwrap();
        let info = symbol_info(&eurusd, Calendar::Fx, &[Timeframe::H1]);
        assert_eq!(
            (info.instrument_type.as_str(), info.currency.as_str()),
            ("forex", "USD")
        );
        let eurjpy = Symbol::new("EURJPY").unwrap();
        assert_eq!(symbol_info(&eurjpy, Calendar::Fx, &[]).currency, "JPY");
        let msft = Symbol::new("MSFT").unwrap();
        let info = symbol_info(&msft, Calendar::Xnys, &[Timeframe::H1, Timeframe::D1]);
        assert_eq!(info.trading_hours.timezone, "America/New_York");
        assert_eq!(info.available_timeframes, ["1h", "1d"]);
    }
}
