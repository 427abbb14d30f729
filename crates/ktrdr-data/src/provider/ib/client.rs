//! `ib`: Interactive Brokers directly, through TWS or IB Gateway, on the `ibapi` crate (cargo
//! feature `ib`).
//!
//! The request parameters (contract, duration, bar size, `whatToShow`, `useRTH`) and the
//! meaning of IB's error codes live in [`request`](super::request), which compiles and is
//! tested without this feature; this module only sends the requests and converts the answers.
//!
//! Like every provider, it does not pace itself: send through a
//! [`PacingGate`](crate::pacing::PacingGate) (its [`describe`](DataProvider::describe)
//! announces IB's conservative rules). A cancelled token
//! drops the request future, which makes `ibapi` cancel the request at TWS.
//!
//! ```no_run
//! use ktrdr_data::provider::ib::{IbConfig, IbProvider};
//! use ktrdr_data::pacing::{PacingGate, RequestKey};
//! use ktrdr_data::provider::DataProvider;
//! use ktrdr_data::types::{Symbol, TimeRange, Timeframe};
//! use ktrdr_ops::cancel::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let ib = IbProvider::connect(IbConfig::new("127.0.0.1:4002", 17)).await?;
//! let gate = PacingGate::new(ib.describe().pacing)?; // the client side paces
//! let token = CancellationToken::new();
//! let week = TimeRange::new(1_709_510_400, 1_709_942_399)?;
//! let (aapl, h1): (Symbol, Timeframe) = ("AAPL".parse()?, "1h".parse()?);
//! let key = RequestKey::new(aapl.clone(), h1, week);
//! let bars = gate.send(&key, &token, ib.fetch_bars(&aapl, h1, week, &token)).await?;
//! # let _ = bars;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ibapi::contracts::{Contract, Currency, Exchange, SecurityType, Symbol as IbSymbol};
use ibapi::market_data::historical::{
    BarSize, BarTimestamp, Duration as IbApiDuration, WhatToShow as IbApiWhatToShow,
};
use ibapi::market_data::TradingHours as IbTradingHours;
use ibapi::Client;
use ktrdr_ops::cancel::CancellationToken;

use super::request::{
    classify_ib_error, parse_ib_hours, DurationUnit, IbAnswer, IbContractSpec, IbHistoricalRequest,
    WhatToShow,
};
use crate::calendar::{CalendarMap, SessionHours};
use crate::pacing::PacingRules;
use crate::provider::{
    AssetType, DataProvider, ProviderError, ProviderInfo, SpanLimits, SymbolInfo, TradingHours,
};
use crate::types::TimeRange;
use crate::types::{Bar, BarSeries, Symbol, Timeframe};

/// How to reach TWS / IB Gateway and what to ask it for.
#[derive(Debug, Clone)]
pub struct IbConfig {
    /// `host:port` of TWS or IB Gateway (Gateway paper trading: `127.0.0.1:4002`).
    pub address: String,
    /// The API client id; must differ from every other client connected to the gateway.
    pub client_id: i32,
    /// `useRTH`: regular hours only, or extended hours too.
    pub session_hours: SessionHours,
    /// IB's maximum span per request.
    pub spans: SpanLimits,
    /// The pacing rules the caller's gate must keep.
    pub pacing: PacingRules,
    /// How symbols map to asset classes (FX pairs, crypto) via their calendars.
    pub calendars: CalendarMap,
    /// How long one request may take before it counts as a transient failure (IB sometimes
    /// answers a request minutes late or never; anchors.md §4.1).
    pub request_timeout: Duration,
}

impl IbConfig {
    /// Defaults for the gateway at `address`: regular hours, IB's spans, the conservative
    /// pacing rules, the built-in calendar mapping, 120 s per request.
    pub fn new(address: impl Into<String>, client_id: i32) -> Self {
        IbConfig {
            address: address.into(),
            client_id,
            session_hours: SessionHours::Regular,
            spans: SpanLimits::ib(),
            pacing: PacingRules::ib_conservative(),
            calendars: CalendarMap::builtin(),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The direct IB provider. See the [module documentation](self).
pub struct IbProvider {
    client: Client,
    config: IbConfig,
}

impl IbProvider {
    /// Connects to the gateway; a refused or failed connection is a transient error.
    pub async fn connect(config: IbConfig) -> Result<Self, ProviderError> {
        let client = Client::connect(&config.address, config.client_id)
            .await
            .map_err(|e| {
                api_error(e)
                    .unwrap_or_else(|| ProviderError::transient("no answer from the gateway"))
            })?;
        Ok(IbProvider { client, config })
    }

    fn contract(&self, symbol: &Symbol) -> (IbContractSpec, Contract) {
        let spec = IbContractSpec::for_symbol(symbol, &self.config.calendars);
        let contract = Contract {
            symbol: IbSymbol::from(spec.symbol.as_str()),
            security_type: match &spec.asset_type {
                AssetType::Forex => SecurityType::ForexPair,
                AssetType::Crypto => SecurityType::Crypto,
                AssetType::Future => SecurityType::Future,
                AssetType::Index => SecurityType::Index,
                AssetType::Stock | AssetType::Other(_) => SecurityType::Stock,
            },
            exchange: Exchange::from(spec.exchange.as_str()),
            currency: Currency::from(spec.currency.as_str()),
            ..Contract::default()
        };
        (spec, contract)
    }

    fn trading_hours(&self) -> IbTradingHours {
        match self.config.session_hours {
            SessionHours::Regular => IbTradingHours::Regular,
            SessionHours::Extended => IbTradingHours::Extended,
        }
    }

    /// Runs one gateway call under the token and the request timeout.
    async fn call<T>(
        &self,
        what: &str,
        token: &CancellationToken,
        call: impl std::future::Future<Output = Result<T, ibapi::Error>>,
    ) -> Result<Result<T, ibapi::Error>, ProviderError> {
        let timeout = self.config.request_timeout;
        match token
            .run_until_cancelled(tokio::time::timeout(timeout, call))
            .await?
        {
            Ok(answer) => Ok(answer),
            Err(_) => Err(ProviderError::transient(format!(
                "{what}: no answer from the gateway within {timeout:?}"
            ))),
        }
    }
}

fn api_what_to_show(w: WhatToShow) -> IbApiWhatToShow {
    match w {
        WhatToShow::Trades => IbApiWhatToShow::Trades,
        WhatToShow::Midpoint => IbApiWhatToShow::MidPoint,
        WhatToShow::AggTrades => IbApiWhatToShow::AggTrades,
    }
}

fn bar_size(tf: Timeframe) -> BarSize {
    match tf {
        Timeframe::M1 => BarSize::Min,
        Timeframe::M5 => BarSize::Min5,
        Timeframe::M15 => BarSize::Min15,
        Timeframe::M30 => BarSize::Min30,
        Timeframe::H1 => BarSize::Hour,
        Timeframe::H2 => BarSize::Hour2,
        Timeframe::H4 => BarSize::Hour4,
        Timeframe::D1 => BarSize::Day,
        Timeframe::W1 => BarSize::Week,
    }
}

fn api_duration(r: &IbHistoricalRequest) -> IbApiDuration {
    let n = i32::try_from(r.duration.count).unwrap_or(i32::MAX);
    match r.duration.unit {
        DurationUnit::Seconds => IbApiDuration::seconds(n),
        DurationUnit::Days => IbApiDuration::days(n),
        DurationUnit::Weeks => IbApiDuration::weeks(n),
        DurationUnit::Years => IbApiDuration::years(n),
    }
}

fn offset_date_time(ts: i64) -> Result<time::OffsetDateTime, ProviderError> {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .map_err(|e| ProviderError::invalid_request(format!("time {ts} out of range: {e}")))
}

/// An `ibapi` error as a provider error; `None` for IB's "no data" (an empty answer).
fn api_error(e: ibapi::Error) -> Option<ProviderError> {
    use ibapi::Error as E;
    let message = e.to_string();
    let classified = match e {
        E::Notice(notice) => match classify_ib_error(notice.code, &notice.message) {
            IbAnswer::NoData => return None,
            IbAnswer::Error(error) => error,
        },
        E::Io(_)
        | E::ConnectionFailed
        | E::ConnectionReset
        | E::Shutdown
        | E::Timeout
        | E::EndOfStream
        | E::UnexpectedEndOfStream => ProviderError::transient(format!("gateway: {message}")),
        E::InvalidArgument(_) => ProviderError::invalid_request(format!("gateway: {message}")),
        _ => ProviderError::fatal(format!("gateway: {message}")),
    };
    Some(classified)
}

/// A bar's start in unix seconds: intraday bars carry their instant; daily bars their
/// trading day, stamped 00:00 UTC (the store's convention); weekly bars the Monday of their
/// week, 00:00 UTC.
fn bar_start(date: &BarTimestamp, timeframe: Timeframe) -> i64 {
    match date {
        BarTimestamp::DateTime(t) => t.unix_timestamp(),
        BarTimestamp::Date(d) => {
            let day = d.midnight().assume_utc().unix_timestamp();
            if timeframe == Timeframe::W1 {
                let back = i64::from(d.weekday().number_days_from_monday());
                day - back * 86_400
            } else {
                day
            }
        }
    }
}

#[async_trait]
impl DataProvider for IbProvider {
    fn describe(&self) -> ProviderInfo {
        ProviderInfo {
            name: format!("ib (Interactive Brokers at {})", self.config.address),
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
        let (spec, contract) = self.contract(symbol);
        let details = self
            .call(
                "contract details",
                token,
                self.client.contract_details(&contract),
            )
            .await?
            .map_err(|e| {
                api_error(e).unwrap_or_else(|| {
                    ProviderError::not_found(format!("no contract for {symbol}"))
                })
            })?;
        let Some(d) = details.into_iter().next() else {
            return Err(ProviderError::not_found(format!(
                "IB has no contract for {symbol} ({} on {})",
                spec.asset_type, spec.exchange
            )));
        };
        let head_timestamp = self.head_timestamp(symbol, Timeframe::H1, token).await?;
        let regular = parse_ib_hours(&d.liquid_hours);
        let full = parse_ib_hours(&d.trading_hours);
        let full_span = full.as_ref().map(|f| (f.start.clone(), f.end.clone()));
        let regular = regular.or(full);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let c = &d.contract;
        let contract = serde_json::json!({
            "conId": c.contract_id,
            "symbol": c.symbol.to_string(),
            "secType": spec.asset_type.as_str(),
            "exchange": c.exchange.to_string(),
            "primaryExchange": c.primary_exchange.to_string(),
            "currency": c.currency.to_string(),
            "localSymbol": c.local_symbol,
        });
        Ok(SymbolInfo {
            symbol: symbol.clone(),
            contract: match contract {
                serde_json::Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
            asset_type: spec.asset_type.clone(),
            exchange: if c.primary_exchange.to_string().is_empty() {
                spec.exchange.clone()
            } else {
                c.primary_exchange.to_string()
            },
            currency: c.currency.to_string(),
            description: d.long_name.clone(),
            validated_at: now,
            trading_hours: TradingHours::from_sessions(
                d.time_zone_id.clone(),
                regular
                    .as_ref()
                    .map(|h| (h.start.clone(), h.end.clone()))
                    .unwrap_or_default(),
                full_span,
                regular.map(|h| h.trading_days).unwrap_or_default(),
            ),
            head_timestamp,
            head_timestamp_timeframes: head_timestamp
                .map(|ts| BTreeMap::from([(Timeframe::H1.as_str().to_owned(), ts)]))
                .unwrap_or_default(),
            head_timestamp_fetched_at: Some(now),
        })
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        _timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        token.check()?;
        let (spec, contract) = self.contract(symbol);
        let answer = self
            .call(
                "head timestamp",
                token,
                self.client.head_timestamp(
                    &contract,
                    api_what_to_show(spec.what_to_show()),
                    self.trading_hours(),
                ),
            )
            .await?;
        match answer {
            Ok(t) => Ok(Some(t.unix_timestamp())),
            Err(e) => match api_error(e) {
                None => Ok(None),
                Some(e) => Err(e),
            },
        }
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
        let (spec, contract) = self.contract(symbol);
        let request = IbHistoricalRequest::new(spec, timeframe, range, self.config.session_hours);
        let end = offset_date_time(request.end)?;
        let answer = self
            .call(
                "historical data",
                token,
                self.client
                    .historical_data(&contract, bar_size(timeframe))
                    .what_to_show(api_what_to_show(request.what_to_show))
                    .trading_hours(self.trading_hours())
                    .duration(api_duration(&request))
                    .ending(end)
                    .fetch(),
            )
            .await?;
        let data = match answer {
            Ok(data) => data,
            Err(e) => match api_error(e) {
                None => return Ok(BarSeries::new()),
                Some(e) => return Err(e),
            },
        };
        let bars: Vec<Bar> = data
            .bars
            .iter()
            .map(|b| Bar {
                ts: bar_start(&b.date, timeframe),
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                // IB sends -1 where it has no volume (MIDPOINT quotes).
                volume: b.volume.max(0.0),
            })
            .filter(|b| range.contains(b.ts))
            .collect();
        let (series, report) = BarSeries::from_unordered(bars);
        if report.duplicates > 0 {
            tracing::warn!(%symbol, %timeframe, %range, duplicates = report.duplicates,
                "IB answered the same bar time more than once; the last one was kept");
        }
        Ok(series)
    }
}
