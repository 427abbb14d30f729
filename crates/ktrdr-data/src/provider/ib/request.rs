//! How ktrdr talks to Interactive Brokers, without the `ibapi` dependency: the parameters of a
//! historical-data request (contract, duration string, bar size, `whatToShow`, `useRTH`) and
//! what IB's error codes and texts mean as a [`ProviderError`].
//!
//! The direct `ib` provider (feature `ib`) builds its requests from these; the `host` provider
//! reads a host service's error texts with [`classify_ib_text`]. Keeping them here means they
//! compile and are tested in every build.
//!
//! The Python system got several of these wrong (spec §9, pitfall 13): it sent `"N H"` durations
//! (not a unit IB knows), floored week and year durations (requests under-fetched), hard-coded
//! `useRTH=True`, and asked for `BID` quotes for FX. Here durations only use IB's units `S`,
//! `D`, `W`, `Y`, always round **up** to cover the whole range (bars outside it are dropped by
//! the caller), and respect IB's bar-size/duration step table (anchors.md §4.1).

use std::fmt;
use std::time::Duration;

use crate::calendar::{Calendar, CalendarMap, SessionHours};
use crate::provider::{AssetType, ProviderError};
use crate::types::TimeRange;
use crate::types::{Symbol, Timeframe};

const DAY: i64 = 86_400;

/// IB's wait after a pacing violation when it does not say how long: the Python system's (and
/// a working IB loader's, anchors.md §4.1) 60 s cooldown.
pub const DEFAULT_PACING_RETRY_AFTER: Duration = Duration::from_secs(60);

/// An IB duration unit. IB also knows `M` (month); we never send it, since a month's length
/// varies and rounding up in weeks or years is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    /// `S`, seconds (IB accepts up to 86 400).
    Seconds,
    /// `D`, days.
    Days,
    /// `W`, weeks.
    Weeks,
    /// `Y`, years.
    Years,
}

impl DurationUnit {
    /// The letter IB expects.
    pub fn letter(self) -> char {
        match self {
            DurationUnit::Seconds => 'S',
            DurationUnit::Days => 'D',
            DurationUnit::Weeks => 'W',
            DurationUnit::Years => 'Y',
        }
    }

    /// The shortest time one unit covers, in seconds (a year is at least 365 days).
    pub fn min_seconds(self) -> i64 {
        match self {
            DurationUnit::Seconds => 1,
            DurationUnit::Days => DAY,
            DurationUnit::Weeks => 7 * DAY,
            DurationUnit::Years => 365 * DAY,
        }
    }
}

/// An IB `durationStr`, e.g. `3600 S`, `30 D`, `18 W`, `1 Y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IbDuration {
    /// How many units; at least 1.
    pub count: u32,
    /// The unit.
    pub unit: DurationUnit,
}

impl IbDuration {
    /// The shortest time this duration covers, in seconds.
    pub fn min_seconds(self) -> i64 {
        i64::from(self.count) * self.unit.min_seconds()
    }
}

impl fmt::Display for IbDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.count, self.unit.letter())
    }
}

/// The smallest seconds-duration IB accepts for a bar size, from its step table (anchors.md
/// §4.1): 60 S allows bars up to 1 min, 1800 S up to 30 mins, 3600 S up to 1 hour, 14400 S up to
/// 3 hours, 28800 S up to 8 hours.
fn min_seconds_duration(timeframe: Timeframe) -> i64 {
    match timeframe.seconds() {
        s if s <= 60 => 60,
        s if s <= 1800 => 1800,
        s if s <= 3600 => 3600,
        s if s <= 10_800 => 14_400,
        _ => 28_800,
    }
}

/// The IB duration covering `span` seconds of `timeframe` bars: never shorter than `span`
/// (rounded **up**), in a unit IB accepts for that bar size:
///
/// - intraday bars, up to a day: seconds (at least the step table's minimum for the bar);
/// - intraday bars, longer: days, then weeks beyond 30 days;
/// - daily bars: days up to 30, weeks up to 52, then years;
/// - weekly bars: weeks up to 52, then years (IB refuses week bars with a `D` duration).
///
/// `span` below one second is taken as one second.
///
/// ```
/// use ktrdr_data::provider::ib::request::ib_duration;
/// use ktrdr_data::types::Timeframe;
///
/// assert_eq!(ib_duration(3 * 3600, Timeframe::H1).to_string(), "10800 S");
/// assert_eq!(ib_duration(30 * 86_400, Timeframe::H1).to_string(), "30 D");
/// assert_eq!(ib_duration(120 * 86_400, Timeframe::H4).to_string(), "18 W"); // 126 days, not 119
/// assert_eq!(ib_duration(365 * 86_400 + 1, Timeframe::D1).to_string(), "2 Y"); // never floored
/// ```
pub fn ib_duration(span: i64, timeframe: Timeframe) -> IbDuration {
    let span = span.max(1);
    let ceil_div = |a: i64, b: i64| (a + b - 1) / b;
    let days = ceil_div(span, DAY);
    let (count, unit) = match timeframe {
        Timeframe::W1 if days <= 52 * 7 => (ceil_div(days, 7), DurationUnit::Weeks),
        Timeframe::W1 => (ceil_div(days, 365), DurationUnit::Years),
        Timeframe::D1 if days <= 30 => (days, DurationUnit::Days),
        Timeframe::D1 if days <= 52 * 7 => (ceil_div(days, 7), DurationUnit::Weeks),
        Timeframe::D1 => (ceil_div(days, 365), DurationUnit::Years),
        tf if span <= DAY => (span.max(min_seconds_duration(tf)), DurationUnit::Seconds),
        _ if days <= 30 => (days, DurationUnit::Days),
        _ if days <= 52 * 7 => (ceil_div(days, 7), DurationUnit::Weeks),
        _ => (ceil_div(days, 365), DurationUnit::Years),
    };
    IbDuration {
        // Spans come from TimeRange (i64 seconds); even 10^9 years fits after dividing.
        count: u32::try_from(count).unwrap_or(u32::MAX),
        unit,
    }
}

/// IB's `whatToShow` per asset class: traded prices where there are trades, the bid/ask
/// midpoint for spot FX (IDEALPRO has no trades; the Python system asked for `BID`, which is
/// biased by half the spread), aggregated trades for crypto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatToShow {
    /// `TRADES`.
    Trades,
    /// `MIDPOINT`.
    Midpoint,
    /// `AGGTRADES` (IB's crypto venues).
    AggTrades,
}

impl WhatToShow {
    /// The `whatToShow` for an asset class.
    pub fn for_asset(asset: &AssetType) -> Self {
        match asset {
            AssetType::Forex => WhatToShow::Midpoint,
            AssetType::Crypto => WhatToShow::AggTrades,
            AssetType::Stock | AssetType::Future | AssetType::Index | AssetType::Other(_) => {
                WhatToShow::Trades
            }
        }
    }

    /// The string IB expects.
    pub fn as_str(self) -> &'static str {
        match self {
            WhatToShow::Trades => "TRADES",
            WhatToShow::Midpoint => "MIDPOINT",
            WhatToShow::AggTrades => "AGGTRADES",
        }
    }
}

/// IB's `useRTH`: regular trading hours only, or extended hours too.
pub fn use_rth(hours: SessionHours) -> bool {
    matches!(hours, SessionHours::Regular)
}

/// The fields of an IB `Contract` ktrdr sets for a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbContractSpec {
    /// IB's `symbol`: the ticker, or the base currency of an FX pair.
    pub symbol: String,
    /// `secType`.
    pub asset_type: AssetType,
    /// `exchange`: `SMART` for stocks, `IDEALPRO` for FX, `PAXOS` for crypto.
    pub exchange: String,
    /// `currency`: the quote currency.
    pub currency: String,
}

impl IbContractSpec {
    /// The contract for `symbol`. The asset class comes from the symbol's calendar (the same
    /// mapping gap analysis uses): an FX pair (`EURUSD`, `EUR.USD`) becomes `CASH` on
    /// `IDEALPRO` with base and quote split, a crypto pair `CRYPTO` on `PAXOS`, anything else
    /// a US stock on `SMART` in USD.
    ///
    /// ```
    /// use ktrdr_data::calendar::CalendarMap;
    /// use ktrdr_data::provider::ib::request::IbContractSpec;
    /// use ktrdr_data::provider::AssetType;
    ///
    /// let calendars = CalendarMap::builtin();
    /// let fx = IbContractSpec::for_symbol(&"EUR.USD".parse()?, &calendars);
    /// assert_eq!((fx.symbol.as_str(), fx.currency.as_str(), fx.exchange.as_str()), ("EUR", "USD", "IDEALPRO"));
    /// assert_eq!(fx.asset_type, AssetType::Forex);
    /// let stock = IbContractSpec::for_symbol(&"AAPL".parse()?, &calendars);
    /// assert_eq!((stock.exchange.as_str(), stock.asset_type.as_str()), ("SMART", "STK"));
    /// # Ok::<(), ktrdr_data::types::SymbolError>(())
    /// ```
    pub fn for_symbol(symbol: &Symbol, calendars: &CalendarMap) -> Self {
        let s = symbol.as_str();
        match calendars.calendar_for(symbol) {
            Calendar::Fx => {
                let (base, quote) = split_pair(s, 3);
                IbContractSpec {
                    symbol: base,
                    asset_type: AssetType::Forex,
                    exchange: "IDEALPRO".to_owned(),
                    currency: quote,
                }
            }
            Calendar::Crypto => {
                let quote_len = if s.ends_with("USDT") || s.ends_with("USDC") {
                    4
                } else {
                    3
                };
                let (base, quote) = split_pair(s, s.len().saturating_sub(quote_len));
                IbContractSpec {
                    symbol: base,
                    asset_type: AssetType::Crypto,
                    exchange: "PAXOS".to_owned(),
                    currency: quote,
                }
            }
            _ => IbContractSpec {
                symbol: s.to_owned(),
                asset_type: AssetType::Stock,
                exchange: "SMART".to_owned(),
                currency: "USD".to_owned(),
            },
        }
    }

    /// The `whatToShow` for this contract.
    pub fn what_to_show(&self) -> WhatToShow {
        WhatToShow::for_asset(&self.asset_type)
    }
}

/// Splits `EURUSD` / `EUR.USD` / `BTC-USD` at `base_len`, dropping the separator.
fn split_pair(s: &str, base_len: usize) -> (String, String) {
    const SEPARATORS: [char; 3] = ['.', '-', '_'];
    let base = s.get(..base_len).unwrap_or(s).trim_end_matches(SEPARATORS);
    let quote = s
        .get(base_len..)
        .unwrap_or("")
        .trim_start_matches(SEPARATORS);
    (base.to_owned(), quote.to_owned())
}

/// One IB historical-data request, ready to send: what the `ib` provider passes to `ibapi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbHistoricalRequest {
    /// The contract.
    pub contract: IbContractSpec,
    /// `endDateTime`, unix seconds UTC: one second after the range's last second, so that a
    /// bar starting exactly at the range's end is included (IB returns bars that start before
    /// the end time).
    pub end: i64,
    /// `durationStr`, covering at least `end - range.start()`.
    pub duration: IbDuration,
    /// `barSizeSetting`.
    pub bar_size: &'static str,
    /// `whatToShow`.
    pub what_to_show: WhatToShow,
    /// `useRTH`.
    pub use_rth: bool,
}

impl IbHistoricalRequest {
    /// The request for `range` of `timeframe` bars of `contract`. IB answers whole durations,
    /// so the answer may hold bars before `range.start()`; the caller keeps those in `range`.
    pub fn new(
        contract: IbContractSpec,
        timeframe: Timeframe,
        range: TimeRange,
        hours: SessionHours,
    ) -> Self {
        let end = range.end().saturating_add(1);
        IbHistoricalRequest {
            what_to_show: contract.what_to_show(),
            contract,
            end,
            duration: ib_duration(end - range.start(), timeframe),
            bar_size: timeframe.ib_bar_size(),
            use_rth: use_rth(hours),
        }
    }
}

/// A trading session read off IB's contract details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbHours {
    /// `HH:MM`, exchange time, of the first open session listed.
    pub start: String,
    /// `HH:MM`, exchange time, of the first open session listed.
    pub end: String,
    /// Weekdays (`0` = Monday) on which a listed session opens.
    pub trading_days: Vec<u8>,
}

/// Reads IB's `tradingHours` / `liquidHours` (`20240108:0930-20240108:1600;20240113:CLOSED`,
/// or the older `20090507:0700-1830,1830-2330`): the first open session's bounds and the
/// weekdays with a session. `None` when no entry is open or none parses.
///
/// ```
/// use ktrdr_data::provider::ib::request::parse_ib_hours;
///
/// let h = parse_ib_hours(&["20240106:CLOSED;20240108:0930-20240108:1600;20240109:0930-20240109:1600"]).unwrap();
/// assert_eq!((h.start.as_str(), h.end.as_str()), ("09:30", "16:00"));
/// assert_eq!(h.trading_days, [0, 1]);
/// ```
pub fn parse_ib_hours(entries: &[impl AsRef<str>]) -> Option<IbHours> {
    let hhmm = |s: &str| {
        let digits = s.get(s.len().checked_sub(4)?..)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(format!("{}:{}", &digits[..2], &digits[2..]))
    };
    let mut first: Option<(String, String)> = None;
    let mut days = Vec::new();
    for entry in entries.iter().flat_map(|e| e.as_ref().split(';')) {
        let Some((date, hours)) = entry.trim().split_once(':') else {
            continue;
        };
        if hours.eq_ignore_ascii_case("CLOSED") {
            continue;
        }
        let Ok(date) = chrono::NaiveDate::parse_from_str(date, "%Y%m%d") else {
            continue;
        };
        let Some((open, close)) = hours.split(',').next().and_then(|r| r.split_once('-')) else {
            continue;
        };
        let (Some(open), Some(close)) = (hhmm(open), hhmm(close)) else {
            continue;
        };
        first.get_or_insert((open, close));
        days.push(chrono::Datelike::weekday(&date).num_days_from_monday() as u8);
    }
    days.sort_unstable();
    days.dedup();
    first.map(|(start, end)| IbHours {
        start,
        end,
        trading_days: days,
    })
}

/// What an IB error means for a historical-data request.
#[derive(Debug)]
pub enum IbAnswer {
    /// IB has no bars there (`HMDS query returned no data`): an empty answer, not a failure.
    NoData,
    /// A failure, classified.
    Error(ProviderError),
}

/// Classifies an IB error by its code and text (IB's message codes; the Python host service's
/// `IbErrorClassifier`):
///
/// | code | meaning | class |
/// |---|---|---|
/// | 162 "pacing violation", 100, 420 | pacing | [`ProviderError::pacing`], retry after 60 s |
/// | 162 "returned no data", 165 "no data" | nothing there | [`IbAnswer::NoData`] |
/// | 162 "invalid step"/"bar size"/"duration", 321 | a request IB refuses | invalid request |
/// | 162 "cancelled", 366, 502, 504, 507, 326, 1100, 2103, 2105, 2107 | connection trouble | transient |
/// | 200 | no security definition | not found |
/// | 354, 10090, 10167, 10197, 162 "permissions" | no market-data subscription | fatal |
/// | any other code | unknown gateway condition | transient (retried a bounded number of times) |
pub fn classify_ib_error(code: i32, message: &str) -> IbAnswer {
    let text = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    let full = || format!("IB error {code}: {message}");
    let error = match code {
        100 | 420 => ProviderError::pacing(full(), DEFAULT_PACING_RETRY_AFTER),
        162 | 165 if has(&["pacing violation"]) => {
            ProviderError::pacing(full(), DEFAULT_PACING_RETRY_AFTER)
        }
        162 | 165 if has(&["no data", "returned no data"]) => return IbAnswer::NoData,
        162 if has(&["permission", "not subscribed"]) => ProviderError::fatal(full()),
        162 if has(&["invalid step", "bar size", "duration", "invalid"]) => {
            ProviderError::invalid_request(full())
        }
        162 if has(&["cancel"]) => ProviderError::transient(full()),
        200 => ProviderError::not_found(full()),
        321 => ProviderError::invalid_request(full()),
        354 | 10090 | 10167 | 10197 => ProviderError::fatal(full()),
        326 | 366 | 502 | 504 | 507 | 1100 | 2103 | 2105 | 2107 => ProviderError::transient(full()),
        _ => ProviderError::transient(full()),
    };
    IbAnswer::Error(error)
}

/// Classifies an error *text* with no structured code: what a host service puts in `error`
/// (`"Error 162, reqId 7: Historical Market Data Service error message:pacing violation"`, or
/// its own words). A number after `error`/`code` is read as the IB code and classified by
/// [`classify_ib_error`]; otherwise known phrases decide, and an unknown text is fatal (a host
/// service failure retrying will not fix).
pub fn classify_ib_text(message: &str) -> IbAnswer {
    if let Some(code) = ib_code_in(message) {
        return classify_ib_error(code, message);
    }
    let text = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    let error = if has(&["pacing violation", "pacing"]) {
        ProviderError::pacing(message, DEFAULT_PACING_RETRY_AFTER)
    } else if has(&["no data", "returned no data"]) {
        return IbAnswer::NoData;
    } else if has(&[
        "no security definition",
        "symbol validation failed",
        "not found",
        "unknown symbol",
    ]) {
        ProviderError::not_found(message)
    } else if has(&[
        "timeout",
        "timed out",
        "not connected",
        "disconnected",
        "connection",
        "socket",
        "unavailable",
    ]) {
        ProviderError::transient(message)
    } else if has(&[
        "invalid",
        "not available before",
        "not supported",
        "exceeds",
    ]) {
        ProviderError::invalid_request(message)
    } else {
        ProviderError::fatal(message)
    };
    IbAnswer::Error(error)
}

/// The IB error code in texts like `Error 162, reqId 7: …`, `error 162: …`, `errorCode=200`,
/// `code: 354`.
fn ib_code_in(message: &str) -> Option<i32> {
    let lower = message.to_ascii_lowercase();
    for marker in ["errorcode", "error code", "error", "code"] {
        let mut rest = lower.as_str();
        while let Some(at) = rest.find(marker) {
            let after = &rest[at + marker.len()..];
            let digits: String = after
                .trim_start_matches([' ', ':', '=', '#'])
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() && digits.len() <= 5 {
                if let Ok(code) = digits.parse() {
                    return Some(code);
                }
            }
            rest = after;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn intraday_allowed(d: IbDuration, tf: Timeframe) -> bool {
        match d.unit {
            // The step table: a seconds duration allows bars up to a size that grows with it.
            DurationUnit::Seconds => {
                d.count <= 86_400 && i64::from(d.count) >= min_seconds_duration(tf)
            }
            DurationUnit::Days | DurationUnit::Weeks | DurationUnit::Years => true,
        }
    }

    proptest! {
        #[test]
        fn durations_cover_the_span_in_valid_units(span in 1i64..(3 * 365 * DAY), tf_i in 0usize..9) {
            let tf = Timeframe::ALL[tf_i];
            let d = ib_duration(span, tf);
            prop_assert!(d.count >= 1);
            prop_assert!(d.min_seconds() >= span, "{d} covers less than {span} s");
            let s = d.to_string();
            prop_assert!(!s.ends_with('H') && !s.ends_with('M'), "{s}");
            match tf {
                Timeframe::W1 => prop_assert!(matches!(d.unit, DurationUnit::Weeks | DurationUnit::Years)),
                Timeframe::D1 => prop_assert!(d.unit != DurationUnit::Seconds),
                _ => prop_assert!(intraday_allowed(d, tf), "{s} for {tf}"),
            }
        }

        #[test]
        fn durations_do_not_overshoot_by_more_than_a_unit_step(span in (DAY + 1)..(30 * DAY), tf_i in 0usize..7) {
            // Intraday bars over more than a day: whole days, at most one day of slack.
            let d = ib_duration(span, Timeframe::ALL[tf_i]);
            prop_assert_eq!(d.unit, DurationUnit::Days);
            prop_assert!(d.min_seconds() - span < DAY);
        }
    }

    #[test]
    fn durations_at_the_edges() {
        for (span, tf, want) in [
            (1, Timeframe::M1, "60 S"),
            (60, Timeframe::M1, "60 S"),
            (61, Timeframe::M1, "61 S"),
            (300, Timeframe::M5, "1800 S"),
            (3600, Timeframe::H1, "3600 S"),
            (3600, Timeframe::H2, "14400 S"),
            (3600, Timeframe::H4, "28800 S"),
            (DAY, Timeframe::M1, "86400 S"),
            (DAY + 1, Timeframe::M5, "2 D"),
            (7 * DAY, Timeframe::M5, "7 D"),
            (30 * DAY, Timeframe::H1, "30 D"),
            (30 * DAY + 1, Timeframe::H1, "5 W"),
            (60 * DAY, Timeframe::H2, "9 W"),
            (1, Timeframe::D1, "1 D"),
            (30 * DAY, Timeframe::D1, "30 D"),
            (31 * DAY, Timeframe::D1, "5 W"),
            (364 * DAY, Timeframe::D1, "52 W"),
            (365 * DAY, Timeframe::D1, "1 Y"),
            (366 * DAY, Timeframe::D1, "2 Y"),
            (1, Timeframe::W1, "1 W"),
            (8 * DAY, Timeframe::W1, "2 W"),
            (730 * DAY, Timeframe::W1, "2 Y"),
            (0, Timeframe::H1, "3600 S"),
        ] {
            assert_eq!(ib_duration(span, tf).to_string(), want, "{span} s of {tf}");
        }
    }

    #[test]
    fn requests_end_one_second_after_the_range_and_pick_what_to_show() {
        let calendars = CalendarMap::builtin();
        let aapl: Symbol = "AAPL".parse().unwrap();
        // A planner request [t, t + 30 days) is the closed range [t, t + 30 days - 1].
        let range = TimeRange::new(1_700_000_000, 1_700_000_000 + 30 * DAY - 1).unwrap();
        let contract = IbContractSpec::for_symbol(&aapl, &calendars);
        let r = IbHistoricalRequest::new(contract, Timeframe::H1, range, SessionHours::Regular);
        assert_eq!(r.end, 1_700_000_000 + 30 * DAY);
        assert_eq!(r.duration.to_string(), "30 D");
        assert_eq!(r.bar_size, "1 hour");
        assert_eq!(r.what_to_show.as_str(), "TRADES");
        assert!(r.use_rth);

        let eurusd: Symbol = "EURUSD".parse().unwrap();
        let fx = IbContractSpec::for_symbol(&eurusd, &calendars);
        assert_eq!(fx.asset_type.as_str(), "CASH");
        assert_eq!((fx.symbol.as_str(), fx.currency.as_str()), ("EUR", "USD"));
        let r = IbHistoricalRequest::new(fx, Timeframe::M5, range, SessionHours::Extended);
        assert_eq!(r.what_to_show.as_str(), "MIDPOINT");
        assert!(!r.use_rth);

        let btc = IbContractSpec::for_symbol(&"BTC-USDT".parse().unwrap(), &calendars);
        assert_eq!(
            (btc.symbol.as_str(), btc.currency.as_str()),
            ("BTC", "USDT")
        );
        assert_eq!(btc.what_to_show(), WhatToShow::AggTrades);
    }

    fn class(a: IbAnswer) -> &'static str {
        match a {
            IbAnswer::NoData => "no-data",
            IbAnswer::Error(e) if e.is_pacing() => "pacing",
            IbAnswer::Error(e) if e.is_not_found() => "not-found",
            IbAnswer::Error(e) if e.is_invalid_request() => "invalid",
            IbAnswer::Error(e) if e.is_transient() => "transient",
            IbAnswer::Error(_) => "fatal",
        }
    }

    #[test]
    fn ib_codes_are_classified() {
        for (code, text, want) in [
            (162, "Historical Market Data Service error message:pacing violation", "pacing"),
            (162, "Historical Market Data Service error message:HMDS query returned no data: AAPL@SMART Trades", "no-data"),
            (162, "Historical Market Data Service error message:Invalid step", "invalid"),
            (162, "Historical Market Data Service error message:API historical data query cancelled: 7", "transient"),
            (162, "Historical Market Data Service error message:No market data permissions for NYSE STK", "fatal"),
            (200, "No security definition has been found for the request", "not-found"),
            (420, "Invalid real-time query", "pacing"),
            (504, "Not connected", "transient"),
            (1100, "Connectivity between IB and Trader Workstation has been lost.", "transient"),
            (10197, "No market data during competing live session", "fatal"),
            (9999, "something new", "transient"),
        ] {
            assert_eq!(class(classify_ib_error(code, text)), want, "{code} {text}");
        }
        let IbAnswer::Error(e) = classify_ib_error(162, "pacing violation") else {
            panic!("pacing is an error");
        };
        assert_eq!(e.retry_after(), Some(DEFAULT_PACING_RETRY_AFTER));
        assert!(e.message().contains("IB error 162"));
    }

    #[test]
    fn host_service_texts_are_classified() {
        for (text, want) in [
            ("Error 162, reqId 7: Historical Market Data Service error message:pacing violation", "pacing"),
            ("error 162: historical market data service error message: pacing violation: identical request within 15s (simulated broker)", "pacing"),
            ("Error 162, reqId 3: Historical Market Data Service error message:HMDS query returned no data", "no-data"),
            ("Error 200, reqId 1: No security definition has been found for the request", "not-found"),
            ("Symbol validation failed: Unknown error", "not-found"),
            ("Data not available before 2010-01-04T14:30:00+00:00. Requested start: 2005-01-01T00:00:00+00:00", "invalid"),
            ("IB connection failed: timed out", "transient"),
            ("'NoneType' object has no attribute 'df'", "fatal"),
        ] {
            assert_eq!(class(classify_ib_text(text)), want, "{text}");
        }
        assert_eq!(ib_code_in("errorCode=354 whatever"), Some(354));
        assert_eq!(ib_code_in("an error occurred"), None);
    }

    #[test]
    fn ib_hours_in_both_formats() {
        // FX: sessions from Sunday 17:15 to Monday 17:00 New York.
        let fx = parse_ib_hours(&[
            "20240107:1715-20240108:1700",
            "20240108:1715-20240109:1700",
            "20240113:CLOSED",
        ])
        .unwrap();
        assert_eq!((fx.start.as_str(), fx.end.as_str()), ("17:15", "17:00"));
        assert_eq!(fx.trading_days, [0, 6]);
        let old = parse_ib_hours(&["20090507:0700-1830,1830-2330;20090508:0700-1830"]).unwrap();
        assert_eq!((old.start.as_str(), old.end.as_str()), ("07:00", "18:30"));
        assert_eq!(old.trading_days, [3, 4]);
        assert!(parse_ib_hours(&["20240113:CLOSED"]).is_none());
        assert!(parse_ib_hours(&["garbage", "2024:0930-1600"]).is_none());
        let none: [&str; 0] = [];
        assert!(parse_ib_hours(&none).is_none());
    }
}
