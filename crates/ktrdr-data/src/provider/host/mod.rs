//! `host`: a client of the IB host-service protocol (`../shared/contracts/host-service.md`),
//! the Python system's `IbDataAdapter` in host-service mode. It talks to a Python IB host
//! service or to `ktrdr host-service` alike.
//!
//! Transport (pooling, timeouts, retries, statistics, dropping the in-flight request on cancel)
//! is the kernel's [`HostClient`]; this module speaks the protocol on top of it:
//!
//! - every answer's `success` is read; a `success:false` answer becomes a classified
//!   [`ProviderError`]: from its `error_kind` when the server is ours, else from the error text
//!   ([`classify_ib_text`]: IB error 162 "pacing violation" → pacing with a retry delay,
//!   error 200 → not found, "no data" → an empty series, …);
//! - the `data` of `/data/historical` (JSON inside JSON) is decoded strictly, naming the bar
//!   that is malformed ([`wire::decode_bars`]), and bars outside the requested range are
//!   dropped;
//! - transport failures (left after the client's retries, if it has any) are transient errors.
//!
//! # Retries: the caller's, not the transport's
//!
//! By default the provider sends each request once ([`HostProviderConfig::retry`] is
//! [`Backoff::none`]): the caller that knows the whole operation retries it. The
//! [`DataManager`](crate::manager::DataManager) retries every provider call per its
//! [`RetryPolicy`](crate::manager::RetryPolicy), so a dead host costs a segment exactly
//! `RetryPolicy::backoff.max_attempts` sends (4 by default) instead of that many times the
//! transport's own attempts (16 when both retried). A caller without its own retries may give
//! the provider a [`Backoff`] with more attempts.
//!
//! `POST /data/historical` only reads, so repeating it cannot corrupt anything: the provider
//! sends an `Idempotency-Key` (derived from the request: symbol, timeframe, range) so that the
//! kernel client may retry it when configured to, like the GET routes. The server does not need
//! to deduplicate on the key; a repeat costs one more broker request. A server should report a
//! *broker* error (timeout of the gateway, pacing) as `success:false` with HTTP 200: those reach
//! the caller as [`ProviderError`]s, and the caller retries them through its
//! [`PacingGate`](crate::pacing::PacingGate). HTTP 5xx is left for failures of the host service
//! itself (restarting, a proxy in front of it), where the broker has not seen the request.
//!
//! ```no_run
//! use ktrdr_data::provider::host::{HostProvider, HostProviderConfig};
//! use ktrdr_data::pacing::{PacingGate, RequestKey};
//! use ktrdr_data::provider::DataProvider;
//! use ktrdr_data::types::{Symbol, TimeRange, Timeframe};
//! use ktrdr_ops::cancel::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let host = HostProvider::new(HostProviderConfig::new("http://127.0.0.1:5001"))?;
//! let gate = PacingGate::new(host.describe().pacing)?; // the client side paces
//! let token = CancellationToken::new();
//! let range = TimeRange::new(1_709_510_400, 1_709_942_399)?;
//! let (aapl, h1): (Symbol, Timeframe) = ("AAPL".parse()?, "1h".parse()?);
//! let key = RequestKey::new(aapl.clone(), h1, range);
//! let bars = gate.send(&key, &token, host.fetch_bars(&aapl, h1, range, &token)).await?;
//! println!("{} bars", bars.len());
//! # Ok(())
//! # }
//! ```
//!
//! # Invariants
//!
//! 1. `asset_types` only caches what the service said in a successful validation; a missing
//!    entry only means `instrument_type: null` is sent (the Python service then validates).
//!
//! # Lock order
//!
//! One lock, `HostProvider::asset_types` (a `std::sync::Mutex`), never held across an `.await`.

pub mod wire;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use ktrdr_ops::cancel::{CancellationToken, Cancelled};
use ktrdr_ops::host::{redact_url, BuildError, HostClient, HostError, HostRequest};
use ktrdr_ops::retry::Backoff;
use serde::de::DeserializeOwned;

use self::wire::{
    routes, ErrorKind, HeadTimestampResponse, Health, HistoricalDataRequest,
    HistoricalDataResponse, ValidationRequest, ValidationResponse,
};
use super::ib::request::{classify_ib_text, IbAnswer, DEFAULT_PACING_RETRY_AFTER};
use super::{AssetType, DataProvider, ProviderError, ProviderInfo, SpanLimits, SymbolInfo};
use crate::calendar::SessionHours;
use crate::pacing::PacingRules;
use crate::types::TimeRange;
use crate::types::{format_timestamp, parse_timestamp, BarSeries, Symbol, Timeframe};

/// How to reach a host service and what the broker behind it allows.
#[derive(Debug, Clone)]
pub struct HostProviderConfig {
    /// The service's base URL, e.g. `http://127.0.0.1:5001` (the Python default port).
    pub url: String,
    /// Per-attempt timeout of `/data/historical` (IB answers take seconds; field reports show
    /// 1-minute bars over 5 days taking 8 s and more).
    pub historical_timeout: Duration,
    /// Per-attempt timeout of the other routes.
    pub timeout: Duration,
    /// Transport retries: none by default, since the caller retries (see the module docs).
    pub retry: Backoff,
    /// The broker's maximum span per request (IB's by default).
    pub spans: SpanLimits,
    /// The pacing rules of the broker behind the service, which the caller's gate must keep
    /// (IB's conservative rules by default; a `ktrdr host-service --provider sim` in front of a
    /// fast simulated broker announces [`PacingRules::fast`]).
    pub pacing: PacingRules,
    /// Which hours the service's intraday bars cover (the Python service asks IB for regular
    /// hours only).
    pub session_hours: SessionHours,
    /// The wait after a pacing answer that does not say how long.
    pub default_pacing_retry_after: Duration,
}

impl HostProviderConfig {
    /// Defaults for a real IB gateway behind the service at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        HostProviderConfig {
            url: url.into(),
            historical_timeout: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            retry: Backoff::none(),
            spans: SpanLimits::ib(),
            pacing: PacingRules::ib_conservative(),
            session_hours: SessionHours::Regular,
            default_pacing_retry_after: DEFAULT_PACING_RETRY_AFTER,
        }
    }
}

/// The `host` provider. See the [module documentation](self).
pub struct HostProvider {
    client: HostClient,
    config: HostProviderConfig,
    name: String,
    asset_types: Mutex<HashMap<Symbol, AssetType>>,
}

impl HostProvider {
    /// A provider for the host service `config.url`; fails if the URL or the retry policy is
    /// invalid. Nothing is sent until the first call.
    pub fn new(config: HostProviderConfig) -> Result<Self, BuildError> {
        let client = HostClient::builder(config.url.clone())
            .timeout(config.timeout)
            .retry_policy(config.retry)
            .build()?;
        Ok(Self::with_client(client, config))
    }

    /// A provider on an existing client: the client's base URL, timeout and retry policy are
    /// used, and `config`'s `url`, `timeout` and `retry` are ignored (its
    /// `historical_timeout` still applies to `/data/historical`).
    pub fn with_client(client: HostClient, config: HostProviderConfig) -> Self {
        HostProvider {
            // The URL may carry a password (basic auth); the name is shown and recorded.
            name: format!(
                "host (IB host service at {})",
                redact_url(client.base_url().as_str())
            ),
            client,
            config,
            asset_types: Mutex::new(HashMap::new()),
        }
    }

    /// The transport client (for its per-endpoint statistics).
    pub fn client(&self) -> &HostClient {
        &self.client
    }

    /// `GET /health`: whether the service answers and says it is healthy.
    pub async fn health(&self, token: &CancellationToken) -> Result<Health, ProviderError> {
        self.get(HostRequest::get(routes::HEALTH), token).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        request: HostRequest,
        token: &CancellationToken,
    ) -> Result<T, ProviderError> {
        self.client
            .send_json(request, token)
            .await
            .map_err(transport_error)
    }

    fn remember_asset_type(&self, info: &SymbolInfo) {
        self.asset_types
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(info.symbol.clone(), info.asset_type.clone());
    }

    fn known_asset_type(&self, symbol: &Symbol) -> Option<AssetType> {
        self.asset_types
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(symbol)
            .cloned()
    }

    /// A `success:false` answer as an error, or `Ok(())` for "no data".
    fn refusal(
        &self,
        kind: Option<ErrorKind>,
        text: Option<String>,
        retry_after_seconds: Option<f64>,
        token: &CancellationToken,
    ) -> Result<(), ProviderError> {
        let text = text.unwrap_or_else(|| "the host service gave no reason".to_owned());
        // Negative, NaN or overflowing values mean the default; huge ones are capped by
        // `ProviderError::pacing`.
        let retry_after = retry_after_seconds
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or(self.config.default_pacing_retry_after);
        let error = match kind {
            Some(ErrorKind::NotFound) => ProviderError::not_found(text),
            Some(ErrorKind::InvalidRequest) => ProviderError::invalid_request(text),
            Some(ErrorKind::Pacing) => ProviderError::pacing(text, retry_after),
            Some(ErrorKind::Transient) => ProviderError::transient(text),
            Some(ErrorKind::Fatal) => ProviderError::fatal(text),
            // The server stopped serving our request (it is shutting down): if we cancelled,
            // say so; otherwise the service will be back.
            Some(ErrorKind::Cancelled) => match token.check() {
                Err(c) => c.into(),
                Ok(()) => ProviderError::transient(text),
            },
            None => match classify_ib_text(&text) {
                IbAnswer::NoData => return Ok(()),
                IbAnswer::Error(e) if e.is_pacing() => ProviderError::pacing(text, retry_after),
                IbAnswer::Error(e) => e,
            },
        };
        Err(error)
    }
}

/// A transport failure after the client's retries, as a provider error.
fn transport_error(e: HostError) -> ProviderError {
    if let Some(reason) = e.cancel_reason() {
        return ProviderError::from(Cancelled {
            reason: reason.clone(),
        });
    }
    let message = e.to_string();
    let classified = if e.is_retryable() {
        ProviderError::transient(message)
    } else if e.status().is_some_and(|s| matches!(s.as_u16(), 400 | 422)) {
        // The service refused the request's shape: a request we should not have built.
        ProviderError::invalid_request(message)
    } else {
        // 404 on a route (not a host service at that URL), an undecodable answer, a bad URL.
        ProviderError::fatal(message)
    };
    classified.with_source(e)
}

fn decode_failure(route: &str, detail: impl std::fmt::Display) -> ProviderError {
    ProviderError::fatal(format!("{route}: {detail}"))
}

#[async_trait]
impl DataProvider for HostProvider {
    fn describe(&self) -> ProviderInfo {
        ProviderInfo {
            name: self.name.clone(),
            simulated: false,
            spans: self.config.spans.clone(),
            pacing: self.config.pacing.clone(),
            session_hours: self.config.session_hours,
        }
    }

    async fn validate_symbol(
        &self,
        symbol: &Symbol,
        token: &CancellationToken,
    ) -> Result<SymbolInfo, ProviderError> {
        token.check()?;
        let timeframes: Vec<String> = self
            .config
            .spans
            .timeframes()
            .map(|tf| tf.as_str().to_owned())
            .collect();
        let body = ValidationRequest {
            symbol: symbol.as_str().to_owned(),
            timeframes: Some(timeframes),
        };
        let answer: ValidationResponse = self
            .get(HostRequest::post(routes::VALIDATE).json(&body), token)
            .await?;
        if !answer.success {
            self.refusal(answer.error_kind, answer.error, None, token)?;
            return Err(ProviderError::not_found(format!(
                "the host service found no data for {symbol}"
            )));
        }
        if answer.is_valid != Some(true) {
            let why = answer
                .error_message
                .unwrap_or_else(|| "the host service says the symbol is not valid".to_owned());
            return Err(ProviderError::not_found(format!("{symbol}: {why}")));
        }
        let mut info = answer.contract_info.ok_or_else(|| {
            decode_failure(
                routes::VALIDATE,
                format!("{symbol} is valid but the answer has no contract_info"),
            )
        })?;
        // Head timestamps the service listed per timeframe but left out of contract_info.
        for (tf, ts) in answer.head_timestamps.unwrap_or_default() {
            if let (Some(ts), false) = (ts, info.head_timestamp_timeframes.contains_key(&tf)) {
                let ts = parse_timestamp(&ts).map_err(|e| {
                    decode_failure(routes::VALIDATE, format!("head_timestamps.{tf}: {e}"))
                })?;
                info.head_timestamp_timeframes.insert(tf, ts);
            }
        }
        self.remember_asset_type(&info);
        Ok(info)
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        token.check()?;
        let mut request = HostRequest::get(routes::HEAD_TIMESTAMP)
            .query("symbol", symbol.as_str())
            .query("timeframe", timeframe.as_str());
        if let Some(asset) = self.known_asset_type(symbol) {
            request = request.query("instrument_type", asset.as_str());
        }
        let answer: HeadTimestampResponse = self.get(request, token).await?;
        if !answer.success {
            self.refusal(
                answer.error_kind,
                answer.error,
                answer.retry_after_seconds,
                token,
            )?;
            return Ok(None);
        }
        answer
            .timestamp
            .map(|ts| {
                parse_timestamp(&ts)
                    .map_err(|e| decode_failure(routes::HEAD_TIMESTAMP, format!("timestamp: {e}")))
            })
            .transpose()
    }

    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        token.check()?;
        self.config.spans.check(timeframe, range)?;
        let body = HistoricalDataRequest {
            symbol: symbol.as_str().to_owned(),
            timeframe: timeframe.as_str().to_owned(),
            start: format_timestamp(range.start()),
            end: format_timestamp(range.end()),
            instrument_type: self.known_asset_type(symbol).map(|a| a.as_str().to_owned()),
        };
        let request = HostRequest::post(routes::HISTORICAL)
            .json(&body)
            .timeout(self.config.historical_timeout)
            .idempotency_key(format!(
                "historical:{symbol}:{timeframe}:{}:{}",
                range.start(),
                range.end()
            ));
        let answer: HistoricalDataResponse = self.get(request, token).await?;
        if !answer.success {
            self.refusal(
                answer.error_kind,
                answer.error,
                answer.retry_after_seconds,
                token,
            )?;
            return Ok(BarSeries::new());
        }
        let data = answer.data.as_deref().unwrap_or("{}");
        let bars = wire::decode_bars(data).map_err(|e| {
            decode_failure(
                routes::HISTORICAL,
                format_args!("{symbol} {timeframe} {range}: {e}"),
            )
        })?;
        if let Some(rows) = answer.rows {
            if rows != bars.len() as u64 {
                return Err(decode_failure(
                    routes::HISTORICAL,
                    format!(
                        "{symbol} {timeframe} {range}: rows says {rows} but data holds {} bars",
                        bars.len()
                    ),
                ));
            }
        }
        let inside = bars.slice_time(Some(range.start()), Some(range.end()));
        if inside.len() != bars.len() {
            tracing::debug!(
                %symbol, %timeframe, %range,
                dropped = bars.len() - inside.len(),
                "host service returned bars outside the requested range"
            );
        }
        Ok(inside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> HostProvider {
        HostProvider::new(HostProviderConfig::new("http://127.0.0.1:9")).unwrap()
    }

    fn kind(r: Result<(), ProviderError>) -> &'static str {
        match r {
            Ok(()) => "no-data",
            Err(e) if e.is_pacing() => "pacing",
            Err(e) if e.is_not_found() => "not-found",
            Err(e) if e.is_invalid_request() => "invalid",
            Err(e) if e.is_transient() => "transient",
            Err(e) if e.is_cancelled() => "cancelled",
            Err(_) => "fatal",
        }
    }

    #[test]
    fn refusals_follow_error_kind_then_text() {
        let p = provider();
        let t = CancellationToken::new();
        let text = |s: &str| Some(s.to_owned());
        // Our server's kind wins over the text.
        assert_eq!(
            kind(p.refusal(
                Some(ErrorKind::Transient),
                text("pacing violation"),
                None,
                &t
            )),
            "transient"
        );
        // A Python server: only the text.
        assert_eq!(
            kind(p.refusal(None, text("Error 162, reqId 4: Historical Market Data Service error message:HMDS query returned no data"), None, &t)),
            "no-data"
        );
        assert_eq!(kind(p.refusal(None, None, None, &t)), "fatal");
        // A server shutting down is transient unless we cancelled ourselves.
        assert_eq!(
            kind(p.refusal(Some(ErrorKind::Cancelled), None, None, &t)),
            "transient"
        );
        t.cancel(ktrdr_ops::cancel::CancelReason::User);
        assert_eq!(
            kind(p.refusal(Some(ErrorKind::Cancelled), None, None, &t)),
            "cancelled"
        );
    }

    #[test]
    fn pacing_retry_after_comes_from_the_answer_or_the_default() {
        let p = provider();
        let t = CancellationToken::new();
        let e = p
            .refusal(Some(ErrorKind::Pacing), Some("x".into()), Some(2.5), &t)
            .unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_millis(2500)));
        let e = p
            .refusal(None, Some("Error 162: pacing violation".into()), None, &t)
            .unwrap_err();
        assert_eq!(e.retry_after(), Some(DEFAULT_PACING_RETRY_AFTER));
        let e = p
            .refusal(
                Some(ErrorKind::Pacing),
                Some("x".into()),
                Some(f64::NAN),
                &t,
            )
            .unwrap_err();
        assert_eq!(e.retry_after(), Some(DEFAULT_PACING_RETRY_AFTER));
        // Values a Duration cannot hold, or that would hold every request for years.
        for (sent, honoured) in [
            (1e30, DEFAULT_PACING_RETRY_AFTER),
            (-1.0, DEFAULT_PACING_RETRY_AFTER),
            (f64::INFINITY, DEFAULT_PACING_RETRY_AFTER),
            (1e9, crate::provider::MAX_RETRY_AFTER),
        ] {
            let e = p
                .refusal(Some(ErrorKind::Pacing), Some("x".into()), Some(sent), &t)
                .unwrap_err();
            assert_eq!(e.retry_after(), Some(honoured), "{sent}");
        }
    }

    #[test]
    fn describe_names_the_service_and_is_not_simulated() {
        let info = provider().describe();
        assert_eq!(info.name, "host (IB host service at http://127.0.0.1:9/)");
        assert!(!info.simulated);
        assert_eq!(info.pacing, PacingRules::ib_conservative());
    }
}
