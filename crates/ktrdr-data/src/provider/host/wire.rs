//! The IB host-service protocol on the wire (`../shared/contracts/host-service.md`): the request
//! and response bodies of every route, shared by the `host` provider (client) and
//! `ktrdr host-service` (server) so the two cannot drift apart, and the codec of the
//! JSON-in-JSON `data` field of `/data/historical`.
//!
//! Field names and shapes are the Python host service's (its pydantic models), so either side
//! can be swapped for the Python one. Two optional fields are our additions, ignored by Python
//! clients and absent from Python servers' answers: `error_kind` (the typed class of a
//! `success:false` answer, so our client need not read the text) and `retry_after_seconds`
//! (for pacing answers). `/`, `/health` and `/health/detailed` also carry an optional
//! `provider` name (e.g. `sim (simulated data)`), so simulated data is named wherever it shows.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::provider::{ProviderError, SymbolInfo};
use crate::types::{format_timestamp, parse_timestamp, Bar, BarSeries};

/// The `service` of `GET /`.
pub const SERVICE_NAME: &str = "IB Connector Host Service";
/// The `version` of `GET /`.
pub const SERVICE_VERSION: &str = "1.0.0";
/// The `service` of the health routes.
pub const HEALTH_SERVICE_NAME: &str = "ib-connector";

/// The route paths, as the Python host service mounts them.
pub mod routes {
    /// `GET /`.
    pub const ROOT: &str = "/";
    /// `GET /health`.
    pub const HEALTH: &str = "/health";
    /// `GET /health/detailed`.
    pub const HEALTH_DETAILED: &str = "/health/detailed";
    /// `POST /data/historical`.
    pub const HISTORICAL: &str = "/data/historical";
    /// `POST /data/validate`.
    pub const VALIDATE: &str = "/data/validate";
    /// `GET /data/symbol-info/{symbol}` (prefix; the symbol follows).
    pub const SYMBOL_INFO_PREFIX: &str = "/data/symbol-info/";
    /// `GET /data/head-timestamp?symbol&timeframe&instrument_type`.
    pub const HEAD_TIMESTAMP: &str = "/data/head-timestamp";
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Always [`SERVICE_NAME`].
    pub service: String,
    /// Always [`SERVICE_VERSION`].
    pub version: String,
    /// `running`.
    pub status: String,
    /// ISO 8601 UTC.
    pub timestamp: String,
    /// Extension: which provider serves the data (`sim (simulated data)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// The service is up.
    pub healthy: bool,
    /// Always [`HEALTH_SERVICE_NAME`].
    pub service: String,
    /// ISO 8601 UTC.
    pub timestamp: String,
    /// `operational`.
    pub status: String,
    /// Extension: which provider serves the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// `GET /health/detailed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailedHealth {
    /// The service is up.
    pub healthy: bool,
    /// Always [`HEALTH_SERVICE_NAME`].
    pub service: String,
    /// ISO 8601 UTC.
    pub timestamp: String,
    /// Whether the broker behind the service is reachable.
    pub ib_gateway_connected: bool,
    /// Requests being served right now.
    pub active_connections: u64,
    /// Data requests served since start.
    pub total_requests: u64,
    /// Data requests answered with an error since start.
    pub error_count: u64,
    /// The text of the last error, if any.
    pub last_error: Option<String>,
    /// Seconds since the service started.
    pub uptime_seconds: f64,
    /// Free-form status of the broker connection (our server: the provider's own counters).
    pub connection_pool_status: serde_json::Map<String, serde_json::Value>,
    /// Extension: which provider serves the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// The body of `POST /data/historical`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoricalDataRequest {
    /// e.g. `AAPL`.
    pub symbol: String,
    /// e.g. `1h`.
    pub timeframe: String,
    /// ISO 8601 UTC, inclusive.
    pub start: String,
    /// ISO 8601 UTC, inclusive.
    pub end: String,
    /// IB `secType` (`STK`, `CASH`, …) if the caller knows it; `null` makes a Python host
    /// service validate the symbol first.
    pub instrument_type: Option<String>,
}

/// The answer of `POST /data/historical`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoricalDataResponse {
    /// `false`: read `error`.
    pub success: bool,
    /// The bars, JSON-encoded (see [`encode_bars`]); `"{}"` when there are none.
    #[serde(default)]
    pub data: Option<String>,
    /// What went wrong, when `success` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// The number of bars in `data`.
    #[serde(default)]
    pub rows: Option<u64>,
    /// Extension: the class of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Extension: for a pacing error, when the request may be sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<f64>,
}

/// The body of `POST /data/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRequest {
    /// e.g. `AAPL`.
    pub symbol: String,
    /// Timeframes whose head timestamps to return.
    #[serde(default)]
    pub timeframes: Option<Vec<String>>,
}

/// The answer of `POST /data/validate` and `GET /data/symbol-info/{symbol}`.
///
/// An unknown symbol is `success: true, is_valid: false` with `error_message`; `success:
/// false` means the validation itself failed (broker down, pacing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationResponse {
    /// `false`: read `error`.
    pub success: bool,
    /// Whether the symbol exists.
    #[serde(default)]
    pub is_valid: Option<bool>,
    /// Why the symbol is not valid.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The contract, for a valid symbol.
    #[serde(default)]
    pub contract_info: Option<SymbolInfo>,
    /// Head timestamp per requested timeframe, ISO 8601 or `null`.
    #[serde(default)]
    pub head_timestamps: Option<BTreeMap<String, Option<String>>>,
    /// What went wrong, when `success` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// Extension: the class of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
}

/// The query of `GET /data/head-timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadTimestampQuery {
    /// e.g. `AAPL`.
    pub symbol: String,
    /// e.g. `1h`.
    pub timeframe: String,
    /// IB `secType`, optional.
    #[serde(default)]
    pub instrument_type: Option<String>,
}

/// The answer of `GET /data/head-timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadTimestampResponse {
    /// `false`: read `error`.
    pub success: bool,
    /// The earliest bar, ISO 8601, or `null` if unknown.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// What went wrong, when `success` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// Extension: the class of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Extension: for a pacing error, when the request may be sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<f64>,
}

/// Extension field `error_kind`: the [`ProviderError`] class of a `success:false` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`ProviderError::is_not_found`].
    NotFound,
    /// [`ProviderError::is_invalid_request`].
    InvalidRequest,
    /// [`ProviderError::is_pacing`].
    Pacing,
    /// [`ProviderError::is_transient`].
    Transient,
    /// [`ProviderError::is_fatal`].
    Fatal,
    /// [`ProviderError::is_cancelled`] (the server is shutting down).
    Cancelled,
}

impl ErrorKind {
    /// The class of `e`.
    pub fn of(e: &ProviderError) -> Self {
        if e.is_not_found() {
            ErrorKind::NotFound
        } else if e.is_invalid_request() {
            ErrorKind::InvalidRequest
        } else if e.is_pacing() {
            ErrorKind::Pacing
        } else if e.is_transient() {
            ErrorKind::Transient
        } else if e.is_cancelled() {
            ErrorKind::Cancelled
        } else {
            ErrorKind::Fatal
        }
    }
}

/// The `data` string of `/data/historical`: a JSON object keyed by bar timestamp
/// (`"2025-01-02T14:30:00.000Z"`, the form pandas' `to_json(orient="index", date_format="iso")`
/// writes), each value `{open, high, low, close, volume}`. No bars: `"{}"`.
///
/// ```
/// use ktrdr_data::provider::host::wire::{decode_bars, encode_bars};
/// use ktrdr_data::types::{Bar, BarSeries};
///
/// let bar = Bar { ts: 1_735_828_200, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 100.0 };
/// let data = encode_bars(&BarSeries::from_bars([bar]).unwrap());
/// assert_eq!(data, r#"{"2025-01-02T14:30:00.000Z":{"open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":100.0}}"#);
/// assert_eq!(decode_bars(&data).unwrap().bar(0), Some(bar));
/// assert_eq!(encode_bars(&BarSeries::new()), "{}");
/// ```
pub fn encode_bars(bars: &BarSeries) -> String {
    // Serialising plain numbers and ASCII keys cannot fail; non-finite prices (which a
    // BarSeries may hold) become `null`, which decode_bars then refuses by name.
    serde_json::to_string(&EncodeBars(bars)).unwrap_or_else(|_| "{}".to_owned())
}

struct EncodeBars<'a>(&'a BarSeries);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBar {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}

impl Serialize for EncodeBars<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for b in self.0.iter() {
            // `…:SSZ` → `…:SS.000Z`
            let mut key = format_timestamp(b.ts);
            key.pop();
            key.push_str(".000Z");
            let value = WireBar {
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
            };
            map.serialize_entry(&key, &value)?;
        }
        map.end()
    }
}

/// The `data` string of a `/data/historical` answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the host service's bar data is malformed: {reason}")]
pub struct BarDataError {
    /// What is wrong, naming the bar (its timestamp key) where there is one.
    pub reason: String,
}

/// Decodes the `data` string of `/data/historical` strictly: every key must be a timestamp,
/// every value an object of exactly five finite numbers, no timestamp twice. Bars are returned
/// sorted (the object's key order does not matter). Errors name the offending bar.
pub fn decode_bars(data: &str) -> Result<BarSeries, BarDataError> {
    let mut de = serde_json::Deserializer::from_str(data);
    let bars = BarsSeed
        .deserialize(&mut de)
        .and_then(|bars| de.end().map(|()| bars))
        .map_err(|e| BarDataError {
            reason: e.to_string(),
        })?;
    let (series, report) = BarSeries::from_unordered(bars);
    if report.duplicates > 0 {
        return Err(BarDataError {
            reason: format!(
                "{} bar timestamp(s) appear more than once (e.g. two spellings of one instant)",
                report.duplicates
            ),
        });
    }
    Ok(series)
}

struct BarsSeed;

impl<'de> DeserializeSeed<'de> for BarsSeed {
    type Value = Vec<Bar>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Bar>, D::Error> {
        d.deserialize_map(BarsVisitor)
    }
}

struct BarsVisitor;

impl<'de> Visitor<'de> for BarsVisitor {
    type Value = Vec<Bar>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of bars keyed by ISO 8601 timestamp")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Bar>, A::Error> {
        let mut bars = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<String>()? {
            let ts = parse_timestamp(&key)
                .map_err(|e| de::Error::custom(format!("bar key {key:?}: {e}")))?;
            let bar: WireBar = map
                .next_value()
                .map_err(|e| de::Error::custom(format!("bar {key}: {e}")))?;
            for (field, v) in [
                ("open", bar.open),
                ("high", bar.high),
                ("low", bar.low),
                ("close", bar.close),
                ("volume", bar.volume),
            ] {
                if !v.is_finite() {
                    return Err(de::Error::custom(format!(
                        "bar {key}: {field} is {v}, not a finite number"
                    )));
                }
            }
            bars.push(Bar {
                ts,
                open: bar.open,
                high: bar.high,
                low: bar.low,
                close: bar.close,
                volume: bar.volume,
            });
        }
        Ok(bars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, close: f64) -> Bar {
        Bar {
            ts,
            open: close - 1.0,
            high: close + 1.0,
            low: close - 2.0,
            close,
            volume: 1234.0,
        }
    }

    #[test]
    fn bars_round_trip_exactly() {
        let series = BarSeries::from_bars([
            bar(1_735_828_200, 187.123_456_789),
            bar(1_735_831_800, 0.1 + 0.2),
            bar(1_735_835_400, 1e-9),
        ])
        .unwrap();
        let data = encode_bars(&series);
        assert!(
            data.starts_with(r#"{"2025-01-02T14:30:00.000Z":{"open":"#),
            "{data}"
        );
        assert_eq!(decode_bars(&data).unwrap(), series);
    }

    #[test]
    fn python_forms_are_read_and_sorted() {
        // pandas writes integers for whole volumes and may order keys as it likes.
        let data = r#"{"2025-01-02T15:30:00.000Z":{"open":2,"high":3,"low":1,"close":2.5,"volume":10},
                       "2025-01-02T14:30:00.000Z":{"open":1,"high":2,"low":0.5,"close":1.5,"volume":0}}"#;
        let s = decode_bars(data).unwrap();
        assert_eq!(s.ts(), &[1_735_828_200, 1_735_831_800]);
        assert_eq!(s.close(), &[1.5, 2.5]);
        assert_eq!(s.volume(), &[0.0, 10.0]);
        assert!(decode_bars("{}").unwrap().is_empty());
        assert!(decode_bars("  {}  ").unwrap().is_empty());
    }

    #[test]
    fn malformed_data_names_the_bar() {
        for (data, needle) in [
            (
                r#"{"2025-01-02T14:30:00.000Z":{"open":1,"high":2,"low":0.5,"close":null,"volume":0}}"#,
                "bar 2025-01-02T14:30:00.000Z: invalid type: null",
            ),
            (
                r#"{"2025-01-02T14:30:00.000Z":{"open":1,"high":2,"low":0.5,"volume":0}}"#,
                "bar 2025-01-02T14:30:00.000Z: missing field `close`",
            ),
            (
                r#"{"2025-01-02T14:30:00.000Z":{"open":"1","high":2,"low":0.5,"close":1,"volume":0}}"#,
                "bar 2025-01-02T14:30:00.000Z: invalid type: string",
            ),
            (
                r#"{"2025-01-02T14:30:00.000Z":{"open":1,"high":2,"low":0.5,"close":1,"volume":0,"vwap":1}}"#,
                "unknown field `vwap`",
            ),
            (
                r#"{"yesterday":{"open":1,"high":2,"low":0.5,"close":1,"volume":0}}"#,
                "bar key \"yesterday\"",
            ),
            (
                r#"{"2025-01-02T14:30:00.500Z":{"open":1,"high":2,"low":0.5,"close":1,"volume":0}}"#,
                "sub-second",
            ),
            (
                r#"{"2025-01-02T14:30:00Z":{"open":1,"high":2,"low":0.5,"close":1,"volume":0},
                    "2025-01-02T14:30:00.000Z":{"open":1,"high":2,"low":0.5,"close":1,"volume":0}}"#,
                "more than once",
            ),
            (r#"[1,2]"#, "a JSON object of bars"),
            (r#"{"2025-01-02T14:30:00.000Z":"#, "EOF"),
            (r#"{} trailing"#, "trailing characters"),
        ] {
            let e = decode_bars(data).unwrap_err();
            assert!(e.to_string().contains(needle), "{data}\n→ {e}");
        }
    }

    #[test]
    fn non_finite_prices_are_refused_after_encoding() {
        let s = BarSeries::from_bars([bar(0, f64::NAN)]).unwrap();
        let e = decode_bars(&encode_bars(&s)).unwrap_err();
        assert!(
            e.to_string().contains("bar 1970-01-01T00:00:00.000Z"),
            "{e}"
        );
    }

    #[test]
    fn responses_read_python_answers_and_skip_absent_extensions() {
        // A Python error answer: no extension fields, nulls spelled out.
        let r: HistoricalDataResponse = serde_json::from_str(
            r#"{"success":false,"data":null,"error":"Error 162, reqId 7: Historical Market Data Service error message:pacing violation","rows":null}"#,
        )
        .unwrap();
        assert!(!r.success && r.error_kind.is_none() && r.retry_after_seconds.is_none());

        let ok = HistoricalDataResponse {
            success: true,
            data: Some("{}".into()),
            error: None,
            rows: Some(0),
            error_kind: None,
            retry_after_seconds: None,
        };
        let v = serde_json::to_value(&ok).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["data", "error", "rows", "success"]);

        let k = serde_json::to_value(ErrorKind::InvalidRequest).unwrap();
        assert_eq!(k, "invalid_request");
    }
}
