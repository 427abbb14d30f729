//! `sim`: a simulated broker, the embedded default for demos and tests. Everything it serves is
//! made up, and it says so (`sim (simulated data)`) wherever it shows.
//!
//! It behaves like Interactive Brokers where that matters to a client:
//! - deterministic bars per symbol that follow the symbol's exchange calendar (regular or
//!   extended hours, holidays, early closes; FX 24x5; one daily bar per session), with a head
//!   timestamp some years back (see `market.rs` for how prices are made);
//! - the same bar for a timestamp whatever range asked for it, so re-fetches and resumed loads
//!   agree;
//! - a maximum span per request ([`SpanLimits`]), latency, and a server-side pacing check that
//!   answers a violation with a pacing error and counts it ([`SimProvider::violations`]);
//! - injectable faults ([`FaultConfig`]): transient errors, hangs, pacing violations, slow and
//!   empty answers, all deterministic;
//! - unknown symbols ([`UnknownSymbols`]: by default every symbol starting with `ZZ`) are not
//!   found.
//!
//! # Invariants
//!
//! 1. The counters in [`SimProvider`] only grow; they are statistics read with `Relaxed`
//!    loads, and no decision depends on them.
//! 2. `attempts` counts how often each distinct request was sent; the fault draw of a request
//!    depends on that count only, never on arrival order between different requests.
//!
//! # Lock order
//!
//! `SimProvider::attempts` and the checker's lock are never held together or across an
//! `.await`.

mod checker;
mod faults;
mod market;
mod rng;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ktrdr_ops::cancel::CancellationToken;

pub use faults::FaultConfig;

use self::checker::Checker;
use self::faults::Fault;
use self::market::Instrument;
use self::rng::{hash_str, key, uniform};
use super::{DataProvider, ProviderError, ProviderInfo, SpanLimits, SymbolInfo};
use crate::calendar::{CalendarError, CalendarMap, SessionHours};
use crate::pacing::{InvalidPacingRules, PacingRules, RequestKey};
use crate::types::TimeRange;
use crate::types::{BarSeries, Symbol, Timeframe};

/// The name the simulated broker shows everywhere.
pub const SIM_NAME: &str = "sim (simulated data)";

/// Which symbols the simulated broker does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSymbols {
    /// Every symbol starting with this prefix (case-insensitive) is unknown.
    pub prefix: Option<String>,
    /// These symbols are unknown too.
    pub symbols: BTreeSet<Symbol>,
}

impl UnknownSymbols {
    /// Whether `symbol` is unknown.
    pub fn contains(&self, symbol: &Symbol) -> bool {
        let by_prefix = self.prefix.as_deref().is_some_and(|p| {
            symbol
                .as_str()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        });
        by_prefix || self.symbols.contains(symbol)
    }
}

impl Default for UnknownSymbols {
    /// Symbols starting with `ZZ`.
    fn default() -> Self {
        UnknownSymbols {
            prefix: Some("ZZ".to_owned()),
            symbols: BTreeSet::new(),
        }
    }
}

/// How the simulated broker behaves. [`SimConfig::default`] is made for demos (a load of years
/// of bars takes seconds); [`SimConfig::realistic`] has IB's latency and pacing.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Latency of every answer.
    pub latency: Duration,
    /// Extra latency, uniform in `[0, latency_jitter)`, drawn per request.
    pub latency_jitter: Duration,
    /// The pacing rules the broker enforces (and announces in [`ProviderInfo`]).
    pub pacing: PacingRules,
    /// Maximum span per request.
    pub spans: SpanLimits,
    /// Which hours intraday bars cover (IB's `useRTH`).
    pub session_hours: SessionHours,
    /// Injected faults.
    pub faults: FaultConfig,
    /// Symbols answered with "not found".
    pub unknown: UnknownSymbols,
    /// Which calendar each symbol trades on.
    pub calendars: CalendarMap,
    /// The simulated "now" (unix seconds): no bar ends after it. `None`: the wall clock.
    pub now: Option<i64>,
    /// Seed of the simulated market: another seed, another history.
    pub market_seed: u64,
}

impl Default for SimConfig {
    /// 5 ms latency plus up to 10 ms jitter, [`PacingRules::fast`], IB's spans, regular hours,
    /// no faults, `ZZ…` symbols unknown, the built-in calendar mapping, the wall clock.
    fn default() -> Self {
        SimConfig {
            latency: Duration::from_millis(5),
            latency_jitter: Duration::from_millis(10),
            pacing: PacingRules::fast(),
            spans: SpanLimits::ib(),
            session_hours: SessionHours::Regular,
            faults: FaultConfig::none(),
            unknown: UnknownSymbols::default(),
            calendars: CalendarMap::builtin(),
            now: None,
            market_seed: 0,
        }
    }
}

impl SimConfig {
    /// IB-like timing: 0.4 s to 2 s per answer and [`PacingRules::ib_conservative`].
    pub fn realistic() -> Self {
        SimConfig {
            latency: Duration::from_millis(400),
            latency_jitter: Duration::from_millis(1600),
            pacing: PacingRules::ib_conservative(),
            ..Self::default()
        }
    }
}

/// A configuration the simulated broker cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimConfigError {
    /// A fault rate outside `[0, 1]`.
    #[error("faults.{field} is {value}; a rate must be between 0 and 1")]
    RateOutOfRange {
        /// The [`FaultConfig`] field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// The fault rates add up to more than one fault per request.
    #[error("the fault rates sum to {sum}; they must sum to at most 1 (one fault per request)")]
    RatesSumAboveOne {
        /// Their sum.
        sum: f64,
    },
    /// Pacing rules no client could satisfy.
    #[error(transparent)]
    Pacing(#[from] InvalidPacingRules),
}

/// Counts of what the simulated broker saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Historical-data requests received.
    pub requests: u64,
    /// Requests rejected because the client broke the pacing rules (injected pacing faults
    /// are not counted here).
    pub violations: u64,
    /// Faults injected.
    pub faults_injected: u64,
    /// Bars served.
    pub bars_served: u64,
}

/// The simulated broker. See the [module documentation](self).
///
/// ```
/// use ktrdr_data::provider::sim::{SimConfig, SimProvider};
/// use ktrdr_data::provider::DataProvider;
/// use ktrdr_data::types::TimeRange;
/// use ktrdr_ops::cancel::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sim = SimProvider::new(SimConfig { now: Some(1_735_689_600), ..SimConfig::default() })?;
/// let token = CancellationToken::new();
/// let eurusd = "EURUSD".parse()?;
/// // Sunday 2024-03-10 00:00 UTC to the end of Monday: FX opens on Sunday evening.
/// let bars = sim
///     .fetch_bars(&eurusd, "1h".parse()?, TimeRange::new(1_710_028_800, 1_710_201_599)?, &token)
///     .await?;
/// assert_eq!(bars.first_ts(), Some(1_710_104_400)); // Sunday 17:00 New York (21:00 UTC)
/// assert!(sim.describe().simulated);
/// assert_eq!(sim.violations(), 0);
/// # Ok(())
/// # }
/// ```
pub struct SimProvider {
    config: SimConfig,
    checker: Checker,
    attempts: Mutex<HashMap<RequestKey, u32>>,
    requests: AtomicU64,
    faults_injected: AtomicU64,
    bars_served: AtomicU64,
}

impl Default for SimProvider {
    fn default() -> Self {
        Self::with_valid_config(SimConfig::default())
    }
}

impl SimProvider {
    /// A simulated broker; fails if the fault rates or the pacing rules are invalid.
    pub fn new(config: SimConfig) -> Result<Self, SimConfigError> {
        config.faults.validate()?;
        config.pacing.validate()?;
        Ok(Self::with_valid_config(config))
    }

    fn with_valid_config(config: SimConfig) -> Self {
        SimProvider {
            checker: Checker::new(config.pacing.clone()),
            config,
            attempts: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            faults_injected: AtomicU64::new(0),
            bars_served: AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Requests rejected so far because the client broke the pacing rules.
    pub fn violations(&self) -> u64 {
        self.checker.violations()
    }

    /// What the broker saw so far.
    pub fn stats(&self) -> SimStats {
        SimStats {
            requests: self.requests.load(Ordering::Relaxed),
            violations: self.violations(),
            faults_injected: self.faults_injected.load(Ordering::Relaxed),
            bars_served: self.bars_served.load(Ordering::Relaxed),
        }
    }

    fn now(&self) -> i64 {
        self.config.now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    fn instrument(&self, symbol: &Symbol) -> Result<Instrument, ProviderError> {
        if self.config.unknown.contains(symbol) {
            return Err(ProviderError::not_found(format!(
                "no security definition has been found for {symbol} (simulated broker)"
            )));
        }
        let calendar = self.config.calendars.calendar_for(symbol);
        Ok(Instrument::new(symbol, calendar, self.config.market_seed))
    }

    /// The latency of the `attempt`-th sending of `request`.
    fn latency(&self, request: &RequestKey, attempt: u32) -> Duration {
        let u = uniform(key(&[
            self.config.faults.seed,
            hash_str(request.symbol.as_str()),
            request.range.start() as u64,
            request.range.end() as u64,
            u64::from(attempt),
            0x1A7E,
        ]));
        self.config.latency + self.config.latency_jitter.mul_f64(u)
    }

    fn next_attempt(&self, request: &RequestKey) -> u32 {
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = attempts.entry(request.clone()).or_insert(0);
        let attempt = *n;
        *n += 1;
        attempt
    }

    fn inject(&self, what: &str) {
        self.faults_injected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(fault = what, "sim: injecting a fault");
    }
}

async fn wait(d: Duration, token: &CancellationToken) -> Result<(), ProviderError> {
    if !d.is_zero() {
        token.run_until_cancelled(tokio::time::sleep(d)).await?;
    }
    Ok(())
}

fn calendar_failure(e: CalendarError) -> ProviderError {
    ProviderError::invalid_request(format!("the simulated broker has no data there: {e}"))
}

#[async_trait]
impl DataProvider for SimProvider {
    fn describe(&self) -> ProviderInfo {
        ProviderInfo {
            name: SIM_NAME.to_owned(),
            simulated: true,
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
        wait(self.config.latency, token).await?;
        let instrument = self.instrument(symbol)?;
        let hours = self.config.session_hours;
        let mut head_timestamp_timeframes = std::collections::BTreeMap::new();
        for tf in self.config.spans.timeframes() {
            if let Some(ts) = instrument
                .head_timestamp(tf, hours)
                .map_err(calendar_failure)?
            {
                head_timestamp_timeframes.insert(tf.as_str().to_owned(), ts);
            }
        }
        let head_timestamp = instrument
            .head_timestamp(Timeframe::M1, hours)
            .map_err(calendar_failure)?;
        let now = self.now() as f64;
        let contract = serde_json::json!({
            "symbol": symbol.as_str(),
            "secType": instrument.asset_type.as_str(),
            "exchange": instrument.exchange,
            "currency": instrument.currency,
            "conId": hash_str(symbol.as_str()) % 1_000_000_000,
        });
        Ok(SymbolInfo {
            symbol: symbol.clone(),
            contract: match contract {
                serde_json::Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
            asset_type: instrument.asset_type.clone(),
            exchange: instrument.exchange.to_owned(),
            currency: instrument.currency.clone(),
            description: format!("{symbol} (simulated)"),
            validated_at: now,
            trading_hours: instrument.trading_hours(),
            head_timestamp,
            head_timestamp_timeframes,
            head_timestamp_fetched_at: Some(now),
        })
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        token.check()?;
        wait(self.config.latency, token).await?;
        let instrument = self.instrument(symbol)?;
        if self.config.spans.max_span(timeframe).is_none() {
            return Err(ProviderError::invalid_request(format!(
                "timeframe {timeframe} is not supported by the simulated broker"
            )));
        }
        instrument
            .head_timestamp(timeframe, self.config.session_hours)
            .map_err(calendar_failure)
    }

    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        token.check()?;
        let request = RequestKey::new(symbol.clone(), timeframe, range);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let attempt = self.next_attempt(&request);
        let _in_flight = match self.checker.arrive(&request) {
            Ok(guard) => guard,
            Err(violation) => {
                tracing::warn!(%symbol, %timeframe, rule = %violation.rule, "sim: pacing violation");
                wait(self.config.latency, token).await?;
                return Err(ProviderError::pacing(
                    format!(
                        "error 162: historical market data service error message: pacing violation: {} (simulated broker)",
                        violation.rule
                    ),
                    violation.retry_after,
                ));
            }
        };
        let instrument = self.instrument(symbol)?;
        self.config.spans.check(timeframe, range)?;

        let mut latency = self.latency(&request, attempt);
        match self.config.faults.draw(&request, attempt) {
            None => {}
            Some(Fault::Error) => {
                self.inject("error");
                wait(latency, token).await?;
                return Err(ProviderError::transient(
                    "the gateway answered 503 Service Unavailable (simulated fault)",
                ));
            }
            Some(Fault::Timeout) => {
                self.inject("timeout");
                let hang = self.config.faults.hang;
                wait(hang, token).await?;
                return Err(ProviderError::transient(format!(
                    "no answer within {hang:?} (simulated hang)"
                )));
            }
            Some(Fault::Pacing) => {
                self.inject("pacing");
                wait(latency, token).await?;
                return Err(ProviderError::pacing(
                    "error 162: historical market data service error message: pacing violation (simulated fault)",
                    self.config.faults.pacing_retry_after,
                ));
            }
            Some(Fault::Slow) => {
                self.inject("slow");
                latency += self.config.faults.slow_extra;
            }
            Some(Fault::Empty) => {
                self.inject("empty");
                wait(latency, token).await?;
                return Ok(BarSeries::new());
            }
        }
        wait(latency, token).await?;
        let bars = instrument
            .bars(timeframe, self.config.session_hours, range, self.now())
            .map_err(calendar_failure)?;
        self.bars_served
            .fetch_add(bars.len() as u64, Ordering::Relaxed);
        Ok(bars)
    }
}
