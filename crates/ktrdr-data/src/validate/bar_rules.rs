//! The rules one bar must satisfy on its own, whatever the bars around it: finite, plausible,
//! positive prices, a consistent OHLC, non-negative volume, not after now, inside a session of
//! its calendar and on the timeframe's grid.
//!
//! Validation applies them to every row of a file, and the fetch path to every bar a provider
//! returns, so a bar a load stores is one validation would accept and vice versa: there is one
//! rule set, here.

use std::fmt;
use std::ops::{Range, RangeInclusive};

use chrono::{Datelike, NaiveDate};

use super::IssueKind;
use crate::calendar::{Calendar, CalendarError, Closed, SessionHours};
use crate::gaps::grid::{self, LocalSession};
use crate::types::{format_timestamp_human, Bar, Timeframe};

/// Prices above this are not prices: no instrument ktrdr trades is quoted above a billion per
/// unit (BRK.A, the dearest US share, is under 10⁶), while a corrupt cell easily reads 1e308.
pub const MAX_PLAUSIBLE_PRICE: f64 = 1e9;
/// Volumes above this are not volumes (a busy US share trades under 10⁹ shares a day, a
/// low-priced token under 10¹⁴ units).
pub const MAX_PLAUSIBLE_VOLUME: f64 = 1e15;

/// One thing wrong with one bar. `Display` says what, in words, with the values involved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BarDefect {
    /// A price or the volume is NaN or infinite.
    NonFinite,
    /// A finite value beyond [`MAX_PLAUSIBLE_PRICE`] or [`MAX_PLAUSIBLE_VOLUME`].
    Implausible {
        /// The first such value (open, high, low, close, volume order).
        value: f64,
    },
    /// A price is zero or negative.
    NonPositivePrice {
        /// The first such price.
        price: f64,
    },
    /// `high < low`.
    HighBelowLow {
        /// The bar's high.
        high: f64,
        /// The bar's low.
        low: f64,
    },
    /// `high < max(open, close)`.
    HighBelowBody {
        /// The bar's high.
        high: f64,
        /// `max(open, close)`.
        body_high: f64,
    },
    /// `low > min(open, close)`.
    LowAboveBody {
        /// The bar's low.
        low: f64,
        /// `min(open, close)`.
        body_low: f64,
    },
    /// Volume below zero (IB uses -1 for "no volume reported").
    NegativeVolume {
        /// The volume.
        volume: f64,
    },
    /// The bar starts after the present: no market has traded it yet.
    AfterNow {
        /// The bar's start (unix seconds).
        ts: i64,
        /// The present the bar was checked against (unix seconds).
        now: i64,
    },
    /// The bar is in no session of its calendar for the checked session hours.
    OutsideSession {
        /// The bar's start (unix seconds).
        ts: i64,
        /// The calendar.
        calendar: Calendar,
        /// The session hours checked.
        hours: SessionHours,
        /// The bar size (daily and weekly bars are described by their date).
        timeframe: Timeframe,
    },
    /// The bar is in a session but off the timeframe's grid.
    Misaligned {
        /// The bar size.
        timeframe: Timeframe,
        /// The date of the session the bar is in.
        session: NaiveDate,
    },
}

impl BarDefect {
    /// The issue kind validation reports this defect under.
    pub fn kind(&self) -> IssueKind {
        match self {
            BarDefect::NonFinite => IssueKind::NonFinite,
            BarDefect::Implausible { .. } => IssueKind::Implausible,
            BarDefect::NonPositivePrice { .. } => IssueKind::NonPositivePrice,
            BarDefect::HighBelowLow { .. }
            | BarDefect::HighBelowBody { .. }
            | BarDefect::LowAboveBody { .. } => IssueKind::OhlcInconsistent,
            BarDefect::NegativeVolume { .. } => IssueKind::NegativeVolume,
            BarDefect::AfterNow { .. } => IssueKind::AfterNow,
            BarDefect::OutsideSession { .. } => IssueKind::OutsideSession,
            BarDefect::Misaligned { .. } => IssueKind::Misaligned,
        }
    }
}

impl fmt::Display for BarDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BarDefect::NonFinite => f.write_str("a value is NaN or infinite"),
            BarDefect::Implausible { value } => write!(
                f,
                "value {value:e} is beyond any real market (prices up to \
                 {MAX_PLAUSIBLE_PRICE:e}, volumes up to {MAX_PLAUSIBLE_VOLUME:e})"
            ),
            BarDefect::NonPositivePrice { price } => write!(f, "price {price} is not positive"),
            BarDefect::HighBelowLow { high, low } => write!(f, "high {high} < low {low}"),
            BarDefect::HighBelowBody { high, body_high } => {
                write!(f, "high {high} < max(open, close) {body_high}")
            }
            BarDefect::LowAboveBody { low, body_low } => {
                write!(f, "low {low} > min(open, close) {body_low}")
            }
            BarDefect::NegativeVolume { volume } => write!(f, "volume {volume}"),
            BarDefect::AfterNow { ts, now } => write!(
                f,
                "dated {} UTC, after the present ({} UTC)",
                format_timestamp_human(ts),
                format_timestamp_human(now)
            ),
            BarDefect::OutsideSession {
                ts,
                calendar,
                hours,
                timeframe,
            } => f.write_str(&closed_detail(calendar, ts, hours, timeframe)),
            BarDefect::Misaligned {
                timeframe: timeframe @ (Timeframe::D1 | Timeframe::W1),
                ..
            } => write!(f, "a {timeframe} bar should sit at 00:00 UTC of its date"),
            BarDefect::Misaligned { timeframe, session } => {
                write!(f, "not on the {timeframe} grid of the session {session}")
            }
        }
    }
}

/// The defects of a bar's values alone (no calendar, no clock), worst first; empty for a good
/// bar. A non-finite bar reports only that: nothing else can be said of NaN.
pub fn value_defects(bar: &Bar) -> Vec<BarDefect> {
    let mut found = Vec::new();
    let prices = [bar.open, bar.high, bar.low, bar.close];
    if prices.iter().chain([&bar.volume]).any(|v| !v.is_finite()) {
        found.push(BarDefect::NonFinite);
        return found;
    }
    let implausible = prices
        .iter()
        .copied()
        .find(|p| p.abs() > MAX_PLAUSIBLE_PRICE)
        .or((bar.volume.abs() > MAX_PLAUSIBLE_VOLUME).then_some(bar.volume));
    if let Some(value) = implausible {
        found.push(BarDefect::Implausible { value });
    }
    if let Some(&price) = prices.iter().find(|p| **p <= 0.0) {
        found.push(BarDefect::NonPositivePrice { price });
    }
    let (body_high, body_low) = (bar.open.max(bar.close), bar.open.min(bar.close));
    if bar.high < bar.low {
        found.push(BarDefect::HighBelowLow {
            high: bar.high,
            low: bar.low,
        });
    } else if bar.high < body_high {
        found.push(BarDefect::HighBelowBody {
            high: bar.high,
            body_high,
        });
    } else if bar.low > body_low {
        found.push(BarDefect::LowAboveBody {
            low: bar.low,
            body_low,
        });
    }
    if bar.volume < 0.0 {
        found.push(BarDefect::NegativeVolume { volume: bar.volume });
    }
    found
}

/// True when a bar's values alone make it impossible (non-finite, implausible, a non-positive
/// price, an inconsistent OHLC): how the store chooses among rows that share a timestamp
/// ([`kept_duplicate`](crate::types::kept_duplicate)). The clock's rule (after now) cannot
/// tell such rows apart, as they share their time.
pub fn has_impossible_values(bar: &Bar) -> bool {
    value_defects(bar).iter().any(|d| d.kind().is_impossible())
}

/// True when a bar starting at `ts` starts after `now` (both unix seconds): the bar cannot
/// exist yet. A bar still forming (started, not finished) is not after now.
pub fn is_after_now(ts: i64, now: i64) -> bool {
    ts > now
}

/// The session hours bars of `tf` are checked against unless the caller knows better:
/// extended for intraday bars (IB data is fetched with `useRTH=False`, and extended hours
/// contain the regular ones), regular for daily and weekly bars.
pub fn default_hours(tf: Timeframe) -> SessionHours {
    if tf.is_intraday() {
        SessionHours::Extended
    } else {
        SessionHours::Regular
    }
}

/// The present as unix seconds, from the system clock.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Every rule of this module for bars of one calendar, timeframe and session hours.
///
/// Sessions are looked up once for `span`, the time the bars are expected in (the requested
/// range of a fetch, the first to last row of a file); a bar outside it is still checked, with
/// a lookup of its own. Bars dated outside the calendar's coverage are not session-checked.
///
/// ```
/// use ktrdr_data::calendar::{Calendar, SessionHours};
/// use ktrdr_data::types::{Bar, Timeframe};
/// use ktrdr_data::validate::{BarDefect, BarRules};
///
/// let monday_10h = 1_748_872_800; // 2025-06-02 10:00 New York
/// let now = monday_10h + 86_400;
/// let rules = BarRules::new(
///     Calendar::Xnys,
///     Timeframe::H1,
///     SessionHours::Extended,
///     monday_10h..monday_10h + 3_600,
///     now,
/// )?;
/// let bar = Bar { ts: monday_10h, open: 10.0, high: 9.0, low: 9.5, close: 10.0, volume: 1.0 };
/// assert_eq!(rules.check(&bar), Some(BarDefect::HighBelowLow { high: 9.0, low: 9.5 }));
/// let good = Bar { high: 11.0, low: 9.0, ..bar };
/// assert_eq!(rules.check(&good), None);
/// # Ok::<(), ktrdr_data::calendar::CalendarError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BarRules {
    calendar: Calendar,
    timeframe: Timeframe,
    hours: SessionHours,
    now: i64,
    span: Range<i64>,
    /// The calendar's coverage, kept: it is asked for every bar.
    coverage: RangeInclusive<NaiveDate>,
    sessions: Vec<LocalSession>,
    /// Regular sessions, for extended-hours intraday data: IB's regular-hours first bar
    /// (09:30) is a valid anchor there too.
    regular: Vec<LocalSession>,
}

impl BarRules {
    /// Rules for bars of `calendar` and `timeframe` in `hours`, expected within `span` (unix
    /// seconds, `[start, end)`), checked against the present `now` (unix seconds; see
    /// [`now_unix`]).
    pub fn new(
        calendar: Calendar,
        timeframe: Timeframe,
        hours: SessionHours,
        span: Range<i64>,
        now: i64,
    ) -> Result<Self, CalendarError> {
        let (sessions, regular) = Self::sessions_for(calendar, timeframe, hours, &span)?;
        Ok(BarRules {
            calendar,
            timeframe,
            hours,
            now,
            span,
            coverage: calendar.coverage(),
            sessions,
            regular,
        })
    }

    fn sessions_for(
        calendar: Calendar,
        tf: Timeframe,
        hours: SessionHours,
        span: &Range<i64>,
    ) -> Result<(Vec<LocalSession>, Vec<LocalSession>), CalendarError> {
        if span.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        // Up to the end of the last bar: a weekly bar's sessions run to its Friday.
        let (start, end) = (span.start, span.end.saturating_add(tf.seconds()));
        let sessions = grid::sessions_around(calendar, start, end, hours)?;
        let regular = match hours {
            SessionHours::Extended if tf.is_intraday() => {
                grid::sessions_around(calendar, start, end, SessionHours::Regular)?
            }
            _ => Vec::new(),
        };
        Ok((sessions, regular))
    }

    /// The first (worst) defect of `bar`, or `None` when every rule holds.
    pub fn check(&self, bar: &Bar) -> Option<BarDefect> {
        self.defects(bar).into_iter().next()
    }

    /// Every defect of `bar`, worst first: its values ([`value_defects`]), then its time
    /// (after now, outside every session, off the grid). Empty for a good bar.
    pub fn defects(&self, bar: &Bar) -> Vec<BarDefect> {
        let mut found = value_defects(bar);
        found.extend(self.after_now(bar.ts));
        found.extend(self.time_defect(bar.ts));
        found
    }

    /// [`BarDefect::AfterNow`] when a bar starting at `ts` starts after the present.
    pub fn after_now(&self, ts: i64) -> Option<BarDefect> {
        is_after_now(ts, self.now).then_some(BarDefect::AfterNow { ts, now: self.now })
    }

    /// The session or grid defect of a bar starting at `ts`, if any; `None` also for a date
    /// outside the calendar's coverage (see [`BarRules::is_covered`]).
    pub fn time_defect(&self, ts: i64) -> Option<BarDefect> {
        if !self.is_covered(ts) {
            return None;
        }
        if self.span.contains(&ts) {
            return self.time_defect_in(ts, &self.sessions, &self.regular);
        }
        // A bar outside the expected span: the sessions of its own length (a weekly bar's whole
        // week), looked up for it alone (rare, so not cached).
        let around = ts..ts.saturating_add(self.timeframe.seconds());
        let (sessions, regular) =
            Self::sessions_for(self.calendar, self.timeframe, self.hours, &around).ok()?;
        self.time_defect_in(ts, &sessions, &regular)
    }

    /// True when the calendar covers the UTC date of `ts`, so its session can be checked.
    pub fn is_covered(&self, ts: i64) -> bool {
        grid::utc_date(ts).is_some_and(|d| self.coverage.contains(&d))
    }

    fn time_defect_in(
        &self,
        ts: i64,
        sessions: &[LocalSession],
        regular: &[LocalSession],
    ) -> Option<BarDefect> {
        let tf = self.timeframe;
        let outside = BarDefect::OutsideSession {
            ts,
            calendar: self.calendar,
            hours: self.hours,
            timeframe: tf,
        };
        if !tf.is_intraday() {
            let date = grid::utc_date(ts)?;
            let has_session = match tf {
                Timeframe::W1 => {
                    let week = date.week(chrono::Weekday::Mon);
                    let (a, b) = (week.first_day(), week.last_day());
                    sessions
                        .iter()
                        .any(|s| a <= s.session.date && s.session.date <= b)
                }
                _ => sessions
                    .binary_search_by_key(&date, |s| s.session.date)
                    .is_ok(),
            };
            return if !has_session {
                Some(outside)
            } else if ts != grid::midnight(date) {
                Some(BarDefect::Misaligned {
                    timeframe: tf,
                    session: date,
                })
            } else {
                None
            };
        }
        let step = tf.seconds();
        let Some(s) = grid::containing(sessions, ts) else {
            return Some(outside);
        };
        let aligned = grid::on_grid(ts, sessions[s].offset, step)
            || in_first_slot(&sessions[s], ts, step)
            || grid::containing(regular, ts).is_some_and(|r| in_first_slot(&regular[r], ts, step));
        (!aligned).then_some(BarDefect::Misaligned {
            timeframe: tf,
            session: sessions[s].session.date,
        })
    }
}

fn in_first_slot(s: &LocalSession, ts: i64, step: i64) -> bool {
    ts < grid::next_grid_point(s.session.open, s.offset, step)
}

/// Why a bar outside every session is closed. Daily and weekly bars stand for a date (their
/// 00:00 UTC stamp is no instant of trading), so they are described by their date: the day and
/// why it has no session. Intraday bars by the exchange's wall clock at the bar's start.
fn closed_detail(calendar: Calendar, ts: i64, hours: SessionHours, tf: Timeframe) -> String {
    let Some(utc) = chrono::DateTime::from_timestamp(ts, 0) else {
        return format!("{calendar} has no session at unix time {ts}");
    };
    let date = utc.date_naive();
    match tf {
        Timeframe::W1 => {
            let monday = date.week(chrono::Weekday::Mon).first_day();
            format!(
                "the week of {} has no {calendar} session",
                monday.format("%a %Y-%m-%d")
            )
        }
        Timeframe::D1 => {
            let why = match (date.weekday(), calendar.holiday_name(date)) {
                (chrono::Weekday::Sat | chrono::Weekday::Sun, _) => "weekend".to_owned(),
                (_, Some(name)) => format!("holiday, {name}"),
                (_, None) => "holiday".to_owned(),
            };
            format!(
                "{} has no {calendar} session ({why})",
                date.format("%a %Y-%m-%d")
            )
        }
        _ => {
            let local = utc.with_timezone(&calendar.time_zone());
            let why = match calendar.closure_kind(ts, hours) {
                Ok(Some(Closed::Weekend)) => "weekend".to_owned(),
                Ok(Some(Closed::Holiday)) => match calendar.holiday_name(local.date_naive()) {
                    Some(name) => format!("holiday, {name}"),
                    None => "holiday".to_owned(),
                },
                Ok(Some(Closed::OutsideHours)) => "outside hours".to_owned(),
                Ok(None) | Err(_) => "closed".to_owned(),
            };
            format!(
                "{calendar} is closed at {} ({why}, {hours} hours)",
                local.format("%a %Y-%m-%d %H:%M %Z")
            )
        }
    }
}
