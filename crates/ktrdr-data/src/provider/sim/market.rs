//! The simulated market: deterministic bars for any symbol, following its exchange calendar.
//!
//! Prices come in two layers, so that a bar never depends on the range a request asked for:
//!
//! 1. A **daily level path** per symbol: one log-price per calendar day from the day before the
//!    symbol's head date, an Ornstein–Uhlenbeck walk (a random walk pulled gently back to the
//!    symbol's base level, so twenty simulated years stay plausible) with a per-symbol annual
//!    volatility, stepping only on days with a session (a closed market does not drift). Seeded by the symbol only, so every timeframe of a symbol trades at the same
//!    level.
//! 2. **Intraday paths** per session and timeframe: a Brownian bridge from the session's open
//!    level to its close level across the session's bars, each bar's variance proportional to its
//!    length. Seeded by symbol, timeframe and date.
//!
//! Bars sit on the timeframe's grid on the exchange's wall clock (local time a multiple of the
//! bar length) with one exception, as at IB: the first bar of a session starts at the open (a
//! 09:30 `1h` bar covering 09:30–10:00). The intraday slots come from the gap analysis' grid
//! (`gaps::grid`), so the simulator serves exactly the bars the gap analysis expects. Daily bars are one per session, stamped at 00:00 UTC of the session date; weekly
//! bars aggregate a week's sessions, stamped at 00:00 UTC on its Monday. Only finished bars are
//! served (a bar whose end is after "now" does not exist yet).
//!
//! Volume follows the intraday U shape of equities (heavy at open and close, thin in extended
//! hours); spot FX carries no volume, as IB reports none for FX quotes.

use chrono::{Datelike, Days, NaiveDate, TimeZone, Timelike};

use super::rng::{hash_str, key, normal, uniform};
use crate::calendar::{Calendar, CalendarError, Session, SessionHours};
use crate::gaps::grid;
use crate::provider::{AssetType, TradingHours};
use crate::types::TimeRange;
use crate::types::{Bar, BarSeries, Symbol, Timeframe};

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// Mean-reversion speed of the daily level, per day: a five-year time constant keeps the
/// stationary spread of the log level near ±0.5 for a 30 % volatility stock.
const REVERSION_PER_DAY: f64 = 1.0 / (5.0 * 365.0);

// Stream tags: keep every random stream apart.
const S_PROFILE: u64 = 1;
const S_WALK: u64 = 2;
const S_GAP: u64 = 3;
const S_STEP: u64 = 4;
const S_WICK: u64 = 5;
const S_DAY_VOLUME: u64 = 6;
const S_BAR_VOLUME: u64 = 7;

/// One simulated instrument: its profile, derived from the symbol alone.
#[derive(Debug, Clone)]
pub(crate) struct Instrument {
    pub(crate) calendar: Calendar,
    pub(crate) asset_type: AssetType,
    pub(crate) currency: String,
    pub(crate) exchange: &'static str,
    /// The first date the simulated broker has data for.
    pub(crate) head_date: NaiveDate,
    seed: u64,
    base_ln: f64,
    /// Standard deviation of the daily level step (per trading session).
    sigma_day: f64,
    /// Typical volume of one regular session; 0 for FX.
    day_volume: f64,
    /// Prices are rounded to `1 / ticks_per_unit`.
    ticks_per_unit: f64,
}

impl Instrument {
    pub(crate) fn new(symbol: &Symbol, calendar: Calendar, market_seed: u64) -> Self {
        let seed = key(&[hash_str(symbol.as_str()), market_seed]);
        let u = |i: u64| uniform(key(&[seed, S_PROFILE, i]));
        let years = |from: i32, span: f64, v: f64| {
            let first = NaiveDate::from_ymd_opt(from, 1, 2).unwrap_or(NaiveDate::MIN);
            first + Days::new((span * 365.0 * v) as u64)
        };
        let coverage_start = *calendar.coverage().start();
        let (asset_type, currency, exchange, price, annual_vol, day_volume, ticks, head) =
            match calendar {
                Calendar::Xnys | Calendar::Xnas => (
                    AssetType::Stock,
                    "USD".to_owned(),
                    if calendar == Calendar::Xnas {
                        "NASDAQ"
                    } else {
                        "NYSE"
                    },
                    10f64.powf(1.2 + 1.5 * u(0)),
                    0.18 + 0.25 * u(1),
                    10f64.powf(5.5 + 2.0 * u(2)),
                    100.0,
                    years(2000, 15.0, u(3)),
                ),
                Calendar::Fx => {
                    let quote = quote_currency(symbol.as_str());
                    let jpy = quote == "JPY";
                    (
                        AssetType::Forex,
                        quote,
                        "IDEALPRO",
                        if jpy { 80.0 + 70.0 * u(0) } else { 0.6 + u(0) },
                        0.06 + 0.06 * u(1),
                        0.0,
                        if jpy { 1_000.0 } else { 100_000.0 },
                        years(2003, 10.0, u(3)),
                    )
                }
                Calendar::Crypto => (
                    AssetType::Crypto,
                    quote_currency(symbol.as_str()),
                    "PAXOS",
                    10f64.powf(1.5 + 3.0 * u(0)),
                    0.55 + 0.3 * u(1),
                    10f64.powf(3.0 + 2.0 * u(2)),
                    100.0,
                    years(2015, 5.0, u(3)),
                ),
            };
        Instrument {
            calendar,
            asset_type,
            currency,
            exchange,
            head_date: head.max(coverage_start),
            seed,
            base_ln: price.ln(),
            sigma_day: annual_vol / sessions_per_year(calendar).sqrt(),
            day_volume,
            ticks_per_unit: ticks,
        }
    }

    /// The trading hours in the host-service protocol's shape, read off the calendar (a
    /// reference week in January 2024, which has no holiday from Monday 8th to Friday 12th).
    pub(crate) fn trading_hours(&self) -> TradingHours {
        let tz = self.calendar.time_zone();
        let monday = NaiveDate::from_ymd_opt(2024, 1, 8).unwrap_or(NaiveDate::MIN);
        let hhmm = |ts: i64| {
            tz.timestamp_opt(ts, 0)
                .single()
                .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
                .unwrap_or_default()
        };
        let session = |hours| {
            self.calendar
                .session_on(monday, hours)
                .ok()
                .flatten()
                .map(|s: Session| (s.open, s.close))
        };
        let regular = session(SessionHours::Regular).unwrap_or((0, 0));
        let extended = session(SessionHours::Extended).unwrap_or(regular);
        // Weekdays (exchange time) on which some session is open during the reference week.
        let week_start = monday - Days::new(1);
        let mut trading_days: Vec<u8> = self
            .calendar
            .sessions(week_start, monday + Days::new(6), SessionHours::Regular)
            .map(|it| {
                it.flat_map(|s| {
                    let open = tz.timestamp_opt(s.open, 0).single();
                    let last = tz.timestamp_opt(s.close - 1, 0).single();
                    [open, last]
                })
                .flatten()
                .map(|t| t.weekday().num_days_from_monday() as u8)
                .collect()
            })
            .unwrap_or_default();
        trading_days.sort_unstable();
        trading_days.dedup();
        TradingHours::from_sessions(
            tz.name(),
            (hhmm(regular.0), hhmm(regular.1)),
            Some((hhmm(extended.0), hhmm(extended.1))),
            trading_days,
        )
    }

    /// The timestamp of the first bar at `timeframe`.
    pub(crate) fn head_timestamp(
        &self,
        timeframe: Timeframe,
        hours: SessionHours,
    ) -> Result<Option<i64>, CalendarError> {
        let to = self.head_date + Days::new(14);
        let first = self.calendar.sessions(self.head_date, to, hours)?.next();
        Ok(first.map(|s| match timeframe {
            Timeframe::D1 => midnight(s.date),
            Timeframe::W1 => midnight(monday_of(s.date)),
            _ => s.open,
        }))
    }

    /// The finished bars with timestamps in `range`, as of `now`.
    pub(crate) fn bars(
        &self,
        timeframe: Timeframe,
        hours: SessionHours,
        range: TimeRange,
        now: i64,
    ) -> Result<BarSeries, CalendarError> {
        let (mut from, mut to) = (utc_date(range.start()), utc_date(range.end()));
        if timeframe == Timeframe::W1 {
            from = monday_of(from);
            to = monday_of(to) + Days::new(6);
        } else {
            // An FX session dated D opens on D-1; US extended hours end after midnight UTC.
            from = from - Days::new(1);
            to = to + Days::new(1);
        }
        let coverage = self.calendar.coverage();
        from = from.max(self.head_date);
        to = to.min(*coverage.end()).min(utc_date(now) + Days::new(1));
        let mut out = Vec::new();
        if from > to {
            return Ok(BarSeries::new());
        }
        let levels = self.levels(to);
        if timeframe.is_intraday() {
            let mut slots = Vec::new();
            for local in grid::sessions_around(self.calendar, range.start(), range.end(), hours)? {
                let session = local.session;
                if session.date < from || session.date > to {
                    continue;
                }
                let regular = match hours {
                    SessionHours::Regular => session,
                    SessionHours::Extended => self
                        .calendar
                        .session_on(session.date, SessionHours::Regular)?
                        .unwrap_or(session),
                };
                slots.clear();
                grid::slots(
                    std::slice::from_ref(&local),
                    timeframe,
                    i64::MIN,
                    i64::MAX,
                    &mut slots,
                );
                let bars = self.session_bars(timeframe, &levels, &session, &regular, &slots);
                out.extend(
                    bars.into_iter()
                        .zip(&slots)
                        .filter(|(_, slot)| slot.end <= now)
                        .map(|(bar, _)| bar),
                );
            }
        } else {
            let mut weeks: Vec<Bar> = Vec::new();
            for session in self.calendar.sessions(from, to, hours)? {
                let day = self.daily_bar(&levels, &session);
                if timeframe == Timeframe::D1 {
                    if session.close <= now {
                        out.push(day);
                    }
                    continue;
                }
                let monday = midnight(monday_of(session.date));
                match weeks.last_mut() {
                    Some(week) if week.ts == monday => {
                        week.high = week.high.max(day.high);
                        week.low = week.low.min(day.low);
                        week.close = day.close;
                        week.volume += day.volume;
                    }
                    _ => weeks.push(Bar { ts: monday, ..day }),
                }
            }
            // A week is finished once its Sunday is over in UTC.
            out.extend(weeks.into_iter().filter(|w| w.ts + WEEK <= now));
        }
        out.retain(|b| range.contains(b.ts));
        Ok(BarSeries::from_unordered(out).0)
    }

    /// Log levels at the close of each calendar day from `head_date - 1` (index 0) to `to`.
    ///
    /// The level takes a random step only on days with a session: a closed market does not
    /// drift, so a Monday opens near Friday's close (plus the overnight gap of any session), as
    /// real markets do. Stepping on Saturday and Sunday too released two days of volatility in
    /// the first minute of every Monday, which validation rightly flagged as outliers.
    fn levels(&self, to: NaiveDate) -> Vec<f64> {
        let first = self.head_date - Days::new(1);
        let n = usize::try_from((to - first).num_days()).unwrap_or(0) + 1;
        let mut trades = vec![false; n];
        let coverage = self.calendar.coverage();
        let (from, until) = (first.max(*coverage.start()), to.min(*coverage.end()));
        if let Ok(sessions) = self.calendar.sessions(from, until, SessionHours::Regular) {
            for s in sessions {
                if let Some(t) = usize::try_from((s.date - first).num_days())
                    .ok()
                    .and_then(|i| trades.get_mut(i))
                {
                    *t = true;
                }
            }
        }
        let mut levels = Vec::with_capacity(n);
        let mut l = self.base_ln;
        levels.push(l);
        for (i, &trading) in trades.iter().enumerate().skip(1) {
            l += REVERSION_PER_DAY * (self.base_ln - l);
            if trading {
                let day = day_number(first) + i as i64;
                l += self.sigma_day * normal(key(&[self.seed, S_WALK, day as u64]));
            }
            levels.push(l);
        }
        levels
    }

    /// The log levels at the open and the close of the session dated `date`.
    fn open_close(&self, levels: &[f64], date: NaiveDate) -> (f64, f64) {
        let i = usize::try_from((date - self.head_date).num_days() + 1).unwrap_or(0);
        let close = levels.get(i).copied().unwrap_or(self.base_ln);
        let prev = levels.get(i.saturating_sub(1)).copied().unwrap_or(close);
        let gap = 0.15 * self.sigma_day * normal(key(&[self.seed, S_GAP, day_number(date) as u64]));
        (prev + gap, close)
    }

    fn daily_bar(&self, levels: &[f64], session: &Session) -> Bar {
        let (open, close) = self.open_close(levels, session.date);
        let k = key(&[
            self.seed,
            Timeframe::D1.seconds() as u64,
            day_number(session.date) as u64,
        ]);
        let volume = self.day_volume * (0.3 * normal(key(&[k, S_DAY_VOLUME]))).exp();
        self.bar(
            midnight(session.date),
            open,
            close,
            self.sigma_day,
            k,
            volume,
        )
    }

    /// The bars of one session at an intraday timeframe, one per slot (finished or not).
    fn session_bars(
        &self,
        timeframe: Timeframe,
        levels: &[f64],
        session: &Session,
        regular: &Session,
        slots: &[grid::Slot],
    ) -> Vec<Bar> {
        let step = timeframe.seconds();
        let total = (session.close - session.open) as f64;
        let (open_ln, close_ln) = self.open_close(levels, session.date);
        let base = key(&[self.seed, step as u64, day_number(session.date) as u64]);
        // Brownian bridge: walk with variance proportional to bar length, then pin the end.
        let mut walk = Vec::with_capacity(slots.len());
        let mut w = 0.0;
        for (i, slot) in slots.iter().enumerate() {
            let (start, end) = (slot.start, slot.end);
            let sd = self.sigma_day * ((end - start) as f64 / total).sqrt();
            w += sd * normal(key(&[base, S_STEP, i as u64]));
            walk.push(w);
        }
        let day_volume = self.day_volume
            * (0.3
                * normal(key(&[
                    self.seed,
                    S_DAY_VOLUME,
                    day_number(session.date) as u64,
                ])))
            .exp();
        let regular_len = (regular.close - regular.open).max(1) as f64;
        let mut prev = open_ln;
        let mut bars = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            let (start, end) = (slot.start, slot.end);
            let frac = (end - session.open) as f64 / total;
            let level = open_ln + frac * (close_ln - open_ln) + walk[i] - frac * w;
            let k = key(&[base, S_BAR_VOLUME, i as u64]);
            let share = (end - start) as f64 / regular_len;
            let mid = (start + end) / 2;
            let shape = if regular.contains(mid) {
                // U shape, mean 1 over the session: 0.5 at midday, 2 at the open and close.
                let x = (mid - regular.open) as f64 / regular_len;
                0.5 + 6.0 * (x - 0.5).powi(2)
            } else {
                0.05
            };
            let volume = day_volume * share * shape * (0.25 * normal(k)).exp();
            let sd = self.sigma_day * ((end - start) as f64 / total).sqrt();
            bars.push(self.bar(start, prev, level, sd, k, volume));
            prev = level;
        }
        bars
    }

    /// A bar from log open/close, with wicks of about half a bar's standard deviation.
    fn bar(&self, ts: i64, open_ln: f64, close_ln: f64, sd: f64, k: u64, volume: f64) -> Bar {
        let up = (0.6 * sd * normal(key(&[k, S_WICK, 0]))).abs();
        let down = (0.6 * sd * normal(key(&[k, S_WICK, 1]))).abs();
        let open = self.round(open_ln.exp());
        let close = self.round(close_ln.exp());
        let high = self
            .round(open_ln.max(close_ln).exp() * up.exp())
            .max(open.max(close));
        let low = self
            .round(open_ln.min(close_ln).exp() / down.exp())
            .min(open.min(close));
        Bar {
            ts,
            open,
            high,
            low,
            close,
            volume: volume.round(),
        }
    }

    fn round(&self, price: f64) -> f64 {
        // Dividing by an exact integer gives the double nearest the decimal (101.23, not
        // 101.23000000000002).
        (price * self.ticks_per_unit).round().max(1.0) / self.ticks_per_unit
    }
}

/// Sessions in a year, to turn an annual volatility into one per session.
fn sessions_per_year(calendar: Calendar) -> f64 {
    match calendar {
        Calendar::Xnys | Calendar::Xnas => 252.0,
        Calendar::Fx => 260.0,
        Calendar::Crypto => 365.0,
    }
}

/// The quote currency of a pair (`EURUSD`, `EUR.USD`, `BTC-USDT`): what follows the separator,
/// else the last three letters.
fn quote_currency(symbol: &str) -> String {
    match symbol.rsplit_once(['.', '/', '-', '_']) {
        Some((_, quote)) => quote.to_owned(),
        None => symbol
            .get(symbol.len().saturating_sub(3)..)
            .unwrap_or("USD")
            .to_owned(),
    }
}

fn day_number(date: NaiveDate) -> i64 {
    midnight(date).div_euclid(DAY)
}

fn midnight(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0)
}

fn utc_date(ts: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MIN)
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    let back = date.weekday().num_days_from_monday();
    date - Days::new(u64::from(back))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    #[test]
    fn quote_currency_reads_pairs() {
        assert_eq!(quote_currency("EURUSD"), "USD");
        assert_eq!(quote_currency("USD.JPY"), "JPY");
        assert_eq!(quote_currency("BTC-USDT"), "USDT");
    }

    #[test]
    fn monday_of_a_sunday_is_the_monday_before() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(monday_of(d("2024-03-10")), d("2024-03-04"));
        assert_eq!(monday_of(d("2024-03-04")), d("2024-03-04"));
        assert_eq!(d("2024-03-04").weekday(), Weekday::Mon);
    }
}
