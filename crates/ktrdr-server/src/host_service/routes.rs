//! The handlers: parse the request, call the provider, shape the answer. No logic beyond that.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use ktrdr_data::pacing::RequestKey;
use ktrdr_data::provider::host::wire::{
    encode_bars, routes, DetailedHealth, ErrorKind, HeadTimestampQuery, HeadTimestampResponse,
    Health, HistoricalDataRequest, HistoricalDataResponse, ServiceInfo, ValidationRequest,
    ValidationResponse, HEALTH_SERVICE_NAME, SERVICE_NAME, SERVICE_VERSION,
};
use ktrdr_data::provider::ProviderError;
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::{format_timestamp, Symbol, Timeframe};
use serde_json::{Map, Value};

use super::service::State;

type Shared = Arc<State>;

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route(routes::ROOT, get(root))
        .route(routes::HEALTH, get(health))
        .route(routes::HEALTH_DETAILED, get(health_detailed))
        .route(routes::HISTORICAL, post(historical))
        .route(routes::VALIDATE, post(validate))
        .route("/data/symbol-info/{symbol}", get(symbol_info))
        .route(routes::HEAD_TIMESTAMP, get(head_timestamp))
        .with_state(state)
}

fn now_iso() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn root(AxumState(state): AxumState<Shared>) -> Json<ServiceInfo> {
    Json(ServiceInfo {
        service: SERVICE_NAME.to_owned(),
        version: SERVICE_VERSION.to_owned(),
        status: "running".to_owned(),
        timestamp: now_iso(),
        provider: Some(state.provider_name.clone()),
    })
}

async fn health(AxumState(state): AxumState<Shared>) -> Json<Health> {
    Json(Health {
        healthy: true,
        service: HEALTH_SERVICE_NAME.to_owned(),
        timestamp: now_iso(),
        status: "operational".to_owned(),
        provider: Some(state.provider_name.clone()),
    })
}

async fn health_detailed(AxumState(state): AxumState<Shared>) -> Json<DetailedHealth> {
    let stats = state.counters.snapshot();
    let mut pool = Map::new();
    pool.insert(
        "provider".into(),
        Value::String(state.provider_name.clone()),
    );
    // The provider lives in this process: its "connection" is up while we answer.
    pool.insert("pool_initialized".into(), Value::Bool(true));
    if let Some(status) = &state.status {
        pool.extend(status());
    }
    Json(DetailedHealth {
        healthy: true,
        service: HEALTH_SERVICE_NAME.to_owned(),
        timestamp: now_iso(),
        ib_gateway_connected: true,
        active_connections: stats.active_requests,
        total_requests: stats.total_requests,
        error_count: stats.error_count,
        last_error: stats.last_error,
        uptime_seconds: stats.uptime_seconds,
        connection_pool_status: pool,
        provider: Some(state.provider_name.clone()),
    })
}

/// A refused request: the text a Python client can classify, our kind, the HTTP status.
struct Refusal {
    status: StatusCode,
    text: String,
    kind: ErrorKind,
    retry_after_seconds: Option<f64>,
}

impl Refusal {
    fn invalid(text: String) -> Self {
        Refusal {
            status: StatusCode::OK,
            text,
            kind: ErrorKind::InvalidRequest,
            retry_after_seconds: None,
        }
    }

    fn from_provider(e: &ProviderError) -> Self {
        let kind = ErrorKind::of(e);
        let text = match kind {
            // Keep IB's wording, so that any client (the Python one reads only the text)
            // recognises a pacing violation.
            ErrorKind::Pacing
                if e.message()
                    .to_ascii_lowercase()
                    .contains("pacing violation") =>
            {
                e.message().to_owned()
            }
            ErrorKind::Pacing => format!(
                "Error 162: Historical Market Data Service error message: pacing violation: {}",
                e.message()
            ),
            _ => e.to_string(),
        };
        Refusal {
            // Cut short by our own shutdown: the service, not the broker, failed the request.
            status: if kind == ErrorKind::Cancelled {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            },
            text,
            kind,
            retry_after_seconds: e.retry_after().map(|d| d.as_secs_f64()),
        }
    }

    fn record(&self, state: &State) {
        state.counters.error(&self.text);
        tracing::debug!(kind = ?self.kind, error = %self.text, "host service request refused");
    }
}

fn parse_symbol(s: &str) -> Result<Symbol, Refusal> {
    Symbol::new(s).map_err(|e| Refusal::invalid(e.to_string()))
}

fn parse_timeframe(s: &str) -> Result<Timeframe, Refusal> {
    s.parse()
        .map_err(|e: ktrdr_data::types::TimeframeError| Refusal::invalid(e.to_string()))
}

/// Which end of a range a request time is: fractions of a second round inwards, so that the
/// whole-second bars returned stay inside what the client asked for.
#[derive(Clone, Copy)]
enum Bound {
    Start,
    End,
}

/// Parses a request time as the Python service does (pydantic `datetime`): RFC 3339 with any
/// offset and fraction, or a naive date-time or date taken as UTC.
fn parse_request_time(field: &str, s: &str, bound: Bound) -> Result<i64, Refusal> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .map(|t| t.and_utc())
        })
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_time(Default::default()).and_utc())
        })
        .map_err(|_| {
            Refusal::invalid(format!(
                "{field} {s:?} is not an ISO 8601 date-time (e.g. 2025-01-02T14:30:00Z)"
            ))
        })?;
    let secs = parsed.timestamp();
    Ok(match bound {
        Bound::Start if parsed.timestamp_subsec_nanos() > 0 => secs + 1,
        _ => secs,
    })
}

fn historical_refusal(state: &State, r: Refusal) -> (StatusCode, Json<HistoricalDataResponse>) {
    r.record(state);
    (
        r.status,
        Json(HistoricalDataResponse {
            success: false,
            data: None,
            error: Some(r.text),
            rows: None,
            error_kind: Some(r.kind),
            retry_after_seconds: r.retry_after_seconds,
        }),
    )
}

async fn historical(
    AxumState(state): AxumState<Shared>,
    Json(request): Json<HistoricalDataRequest>,
) -> (StatusCode, Json<HistoricalDataResponse>) {
    let _in_flight = state.counters.start();
    let parsed = (|| {
        let symbol = parse_symbol(&request.symbol)?;
        let timeframe = parse_timeframe(&request.timeframe)?;
        let start = parse_request_time("start", &request.start, Bound::Start)?;
        let end = parse_request_time("end", &request.end, Bound::End)?;
        let range = TimeRange::new(start, end).map_err(|e| Refusal::invalid(e.to_string()))?;
        Ok((symbol, timeframe, range))
    })();
    let (symbol, timeframe, range) = match parsed {
        Ok(p) => p,
        Err(r) => return historical_refusal(&state, r),
    };
    let key = RequestKey::new(symbol.clone(), timeframe, range);
    if let Err(wait) = state.identical.admit(key) {
        let e = ProviderError::pacing(
            format!("identical request within the broker's cooldown; retry in {wait:.1?}"),
            wait,
        );
        return historical_refusal(&state, Refusal::from_provider(&e));
    }
    let token = state.requests.child_token();
    match state
        .provider
        .fetch_bars(&symbol, timeframe, range, &token)
        .await
    {
        Ok(bars) => {
            tracing::debug!(%symbol, %timeframe, %range, bars = bars.len(), "historical data served");
            (
                StatusCode::OK,
                Json(HistoricalDataResponse {
                    success: true,
                    data: Some(encode_bars(&bars)),
                    error: None,
                    rows: Some(bars.len() as u64),
                    error_kind: None,
                    retry_after_seconds: None,
                }),
            )
        }
        Err(e) => historical_refusal(&state, Refusal::from_provider(&e)),
    }
}

/// `/data/validate` and `/data/symbol-info/{symbol}`.
async fn validation(
    state: &State,
    symbol: &str,
    timeframes: &[String],
) -> (StatusCode, Json<ValidationResponse>) {
    let _in_flight = state.counters.start();
    let refused = |r: Refusal| {
        r.record(state);
        (
            r.status,
            Json(ValidationResponse {
                success: false,
                is_valid: None,
                error_message: None,
                contract_info: None,
                head_timestamps: None,
                error: Some(r.text),
                error_kind: Some(r.kind),
            }),
        )
    };
    let symbol = match parse_symbol(symbol) {
        Ok(s) => s,
        Err(r) => return refused(r),
    };
    let token = state.requests.child_token();
    match state.provider.validate_symbol(&symbol, &token).await {
        Ok(info) => {
            let head_timestamps: BTreeMap<String, Option<String>> = timeframes
                .iter()
                .map(|tf| {
                    let ts = tf
                        .parse::<Timeframe>()
                        .ok()
                        .and_then(|tf| info.head_timestamp_for(tf))
                        .map(format_timestamp);
                    (tf.clone(), ts)
                })
                .collect();
            (
                StatusCode::OK,
                Json(ValidationResponse {
                    success: true,
                    is_valid: Some(true),
                    error_message: None,
                    contract_info: Some(info),
                    head_timestamps: Some(head_timestamps),
                    error: None,
                    error_kind: None,
                }),
            )
        }
        // An unknown symbol is an answer, not a failure (the Python service's shape).
        Err(e) if e.is_not_found() => (
            StatusCode::OK,
            Json(ValidationResponse {
                success: true,
                is_valid: Some(false),
                error_message: Some(e.to_string()),
                contract_info: None,
                head_timestamps: Some(BTreeMap::new()),
                error: None,
                error_kind: None,
            }),
        ),
        Err(e) => refused(Refusal::from_provider(&e)),
    }
}

async fn validate(
    AxumState(state): AxumState<Shared>,
    Json(request): Json<ValidationRequest>,
) -> (StatusCode, Json<ValidationResponse>) {
    let timeframes = request.timeframes.unwrap_or_default();
    validation(&state, &request.symbol, &timeframes).await
}

async fn symbol_info(
    AxumState(state): AxumState<Shared>,
    Path(symbol): Path<String>,
) -> (StatusCode, Json<ValidationResponse>) {
    // The Python service asks for the 1h head timestamp here.
    validation(&state, &symbol, &["1h".to_owned()]).await
}

async fn head_timestamp(
    AxumState(state): AxumState<Shared>,
    Query(query): Query<HeadTimestampQuery>,
) -> (StatusCode, Json<HeadTimestampResponse>) {
    let _in_flight = state.counters.start();
    let refused = |r: Refusal| {
        r.record(&state);
        (
            r.status,
            Json(HeadTimestampResponse {
                success: false,
                timestamp: None,
                error: Some(r.text),
                error_kind: Some(r.kind),
                retry_after_seconds: r.retry_after_seconds,
            }),
        )
    };
    let parsed = parse_symbol(&query.symbol)
        .and_then(|s| parse_timeframe(&query.timeframe).map(|tf| (s, tf)));
    let (symbol, timeframe) = match parsed {
        Ok(p) => p,
        Err(r) => return refused(r),
    };
    let token = state.requests.child_token();
    match state
        .provider
        .head_timestamp(&symbol, timeframe, &token)
        .await
    {
        Ok(ts) => (
            StatusCode::OK,
            Json(HeadTimestampResponse {
                success: true,
                timestamp: ts.map(format_timestamp),
                error: None,
                error_kind: None,
                retry_after_seconds: None,
            }),
        ),
        Err(e) => refused(Refusal::from_provider(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_times_accept_python_forms_and_round_inwards() {
        let t = 1_735_828_200; // 2025-01-02T14:30:00Z
        for s in [
            "2025-01-02T14:30:00Z",
            "2025-01-02T14:30:00+00:00",
            "2025-01-02T15:30:00+01:00",
            "2025-01-02T14:30:00",
            "2025-01-02 14:30:00",
            "2025-01-02T14:30:00.000Z",
        ] {
            assert_eq!(
                parse_request_time("start", s, Bound::Start).ok(),
                Some(t),
                "{s}"
            );
        }
        // datetime.now().isoformat(): a fraction of a second.
        let s = "2025-01-02T14:30:00.123456+00:00";
        assert_eq!(
            parse_request_time("start", s, Bound::Start).ok(),
            Some(t + 1)
        );
        assert_eq!(parse_request_time("end", s, Bound::End).ok(), Some(t));
        assert_eq!(
            parse_request_time("start", "2025-01-02", Bound::Start).ok(),
            Some(1_735_776_000)
        );
        let r = parse_request_time("end", "yesterday", Bound::End)
            .err()
            .unwrap();
        assert_eq!(r.kind, ErrorKind::InvalidRequest);
        assert!(r.text.contains("end \"yesterday\""), "{}", r.text);
    }

    #[test]
    fn pacing_refusals_carry_ib_wording() {
        let e = ProviderError::pacing("too many requests", std::time::Duration::from_secs(15));
        let r = Refusal::from_provider(&e);
        assert!(r.text.contains("Error 162") && r.text.contains("pacing violation"));
        assert_eq!(r.retry_after_seconds, Some(15.0));
        assert_eq!(r.status, StatusCode::OK);

        let cancelled = ProviderError::from(ktrdr_ops::cancel::Cancelled {
            reason: ktrdr_ops::cancel::CancelReason::Shutdown,
        });
        assert_eq!(
            Refusal::from_provider(&cancelled).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
