//! Exchange calendars: when a market trades, in UTC unix seconds.
//!
//! Four calendars, each computed from rules (never from a copied table) and cached per year:
//!
//! | calendar | sessions | extended hours |
//! |---|---|---|
//! | `XNYS`, `XNAS` | 09:30–16:00 New York, 13:00 on early-close days (14:00 before 1993); NYSE holidays and one-off closures; 1980 onward | 04:00–20:00 New York (17:00 on early-close days) |
//! | `FX` | 24x5, Sunday 17:00 to Friday 17:00 New York; the session dated `D` runs from 17:00 on the day before `D` to 17:00 on `D` | same as regular |
//! | `CRYPTO` | 24x7, one session per UTC day | same as regular |
//!
//! The US equity sessions reproduce `exchange_calendars` 4.13 row for row for 1980–2030 (tested
//! against `../shared/data/calendars/` for 2000–2030 and `tests/data/calendars/` for
//! 1980–1999); years from 2031 follow the same rules, so a future one-off closure (a state
//! funeral) appears only once it is added to the list in `us_equity.rs`.
//!
//! ```
//! use chrono::NaiveDate;
//! use ktrdr_data::calendar::{Calendar, Closed, SessionHours};
//!
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let xnys: Calendar = "XNYS".parse()?;
//! let week: Vec<_> = xnys
//!     .sessions(d("2024-12-23"), d("2024-12-27"), SessionHours::Regular)?
//!     .collect();
//! assert_eq!(week.len(), 4); // Christmas Day is a holiday
//! assert!(week[1].early_close); // Christmas Eve closes at 13:00
//!
//! let christmas_noon = 1_735_146_000; // 2024-12-25 12:00 New York
//! assert!(!xnys.is_open(christmas_noon, SessionHours::Regular)?);
//! assert_eq!(
//!     xnys.closure_kind(christmas_noon, SessionHours::Regular)?,
//!     Some(Closed::Holiday)
//! );
//! # Ok::<(), ktrdr_data::calendar::CalendarError>(())
//! ```

mod crypto;
mod day;
mod export;
mod fx;
mod local_time;
mod mapping;
mod rules;
mod table;
mod us_equity;

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use export::{format_utc, write_sessions_csv, CSV_HEADER};
pub use mapping::{CalendarConfigError, CalendarMap, MappingRule, CONFIG_FILE};

pub(crate) use local_time::{midnight, utc_date};
use table::{DayIter, RuleSet};

/// A trading calendar. `Copy` and one byte: pass it by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Calendar {
    /// New York Stock Exchange.
    #[serde(rename = "XNYS")]
    Xnys,
    /// Nasdaq (same holidays and hours as the NYSE).
    #[serde(rename = "XNAS")]
    Xnas,
    /// Spot FX, 24x5 (Sunday 17:00 to Friday 17:00 New York).
    #[serde(rename = "FX")]
    Fx,
    /// Crypto, 24x7 (UTC days).
    #[serde(rename = "CRYPTO")]
    Crypto,
}

/// Which part of the trading day counts as "open".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionHours {
    /// The regular session (09:30–16:00 New York for US equities).
    #[default]
    Regular,
    /// Pre-market through after-hours (04:00–20:00 New York for US equities).
    Extended,
}

/// One trading session: `[open, close)` in unix seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Session {
    /// The trading day the session belongs to (for FX: the day it closes on).
    pub date: NaiveDate,
    /// First second of the session.
    pub open: i64,
    /// First second after the session.
    pub close: i64,
    /// The exchange closes early this day (13:00 New York for US equities).
    pub early_close: bool,
}

impl Session {
    /// `open <= ts < close`.
    pub fn contains(&self, ts: i64) -> bool {
        self.open <= ts && ts < self.close
    }
}

/// Why the market is closed at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closed {
    /// A Saturday or Sunday (exchange time); for FX, Friday 17:00 to Sunday 17:00 New York.
    Weekend,
    /// A weekday without a session: a holiday or a one-off closure.
    Holiday,
    /// A trading day, but before the open or after the close (including after an early close).
    OutsideHours,
}

/// Calendar errors: bad names and requests outside what the rules cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The name is not one of [`Calendar::ALL`].
    #[error("unknown calendar `{name}` (known calendars: XNYS, XNAS, FX, CRYPTO)")]
    UnknownCalendar {
        /// The name given.
        name: String,
    },
    /// Not `regular` or `extended`.
    #[error("unknown session hours `{value}` (allowed: regular, extended)")]
    UnknownSessionHours {
        /// The value given.
        value: String,
    },
    /// A date or instant the calendar's rules do not cover.
    #[error("{calendar} covers {first} to {last}; {requested} is outside")]
    OutOfCoverage {
        /// The calendar asked.
        calendar: Calendar,
        /// What was asked, as text (a date or an RFC 3339 instant).
        requested: String,
        /// First covered date.
        first: NaiveDate,
        /// Last covered date.
        last: NaiveDate,
    },
    /// `from` after `to`.
    #[error("invalid date range: {from} is after {to}")]
    InvalidRange {
        /// Start of the range.
        from: NaiveDate,
        /// End of the range.
        to: NaiveDate,
    },
}

const DAY: i64 = 86_400;

impl Calendar {
    /// Every calendar, in the order error messages list them.
    pub const ALL: [Calendar; 4] = [
        Calendar::Xnys,
        Calendar::Xnas,
        Calendar::Fx,
        Calendar::Crypto,
    ];

    /// The calendar's name: `XNYS`, `XNAS`, `FX` or `CRYPTO`.
    pub fn name(self) -> &'static str {
        match self {
            Calendar::Xnys => "XNYS",
            Calendar::Xnas => "XNAS",
            Calendar::Fx => "FX",
            Calendar::Crypto => "CRYPTO",
        }
    }

    /// The time zone the calendar's rules are written in.
    pub fn time_zone(self) -> Tz {
        match self {
            Calendar::Xnys | Calendar::Xnas | Calendar::Fx => chrono_tz::America::New_York,
            Calendar::Crypto => chrono_tz::UTC,
        }
    }

    fn rules(self) -> RuleSet {
        match self {
            Calendar::Xnys | Calendar::Xnas => RuleSet::UsEquity,
            Calendar::Fx => RuleSet::Fx,
            Calendar::Crypto => RuleSet::Crypto,
        }
    }

    /// The session dates the calendar covers (US equities: 1980-01-01 to 2199-12-31).
    pub fn coverage(self) -> RangeInclusive<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(self.rules().first_year(), 1, 1);
        let last = NaiveDate::from_ymd_opt(table::LAST_YEAR, 12, 31);
        first.unwrap_or(NaiveDate::MIN)..=last.unwrap_or(NaiveDate::MIN)
    }

    /// The part of `from..=to` the calendar covers, or `None` when it covers none of it (or
    /// `from > to`). A range that straddles the coverage is answered for this part, with a
    /// word to the user about the rest.
    pub fn covered_part(self, from: NaiveDate, to: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let coverage = self.coverage();
        let (from, to) = (from.max(*coverage.start()), to.min(*coverage.end()));
        (from <= to).then_some((from, to))
    }

    fn out_of_coverage(self, requested: String) -> CalendarError {
        let coverage = self.coverage();
        CalendarError::OutOfCoverage {
            calendar: self,
            requested,
            first: *coverage.start(),
            last: *coverage.end(),
        }
    }

    fn ts_out_of_coverage(self, ts: i64) -> CalendarError {
        self.out_of_coverage(export::format_utc(ts).unwrap_or_else(|| format!("unix time {ts}")))
    }

    /// Fails unless the exchange-local date of `ts` is covered.
    fn check_ts(self, ts: i64) -> Result<(), CalendarError> {
        let (start, end) = self.rules().covered_instants();
        // Fast path: a day from either edge, no time-zone offset can move the local date out.
        if start + DAY <= ts && ts < end - DAY {
            return Ok(());
        }
        match local_time::local_date(self.time_zone(), ts) {
            Some(date) if self.coverage().contains(&date) => Ok(()),
            _ => Err(self.ts_out_of_coverage(ts)),
        }
    }

    /// The sessions dated `from..=to` (both inclusive), in order, from the cached year tables.
    pub fn sessions(
        self,
        from: NaiveDate,
        to: NaiveDate,
        hours: SessionHours,
    ) -> Result<Sessions, CalendarError> {
        if from > to {
            return Err(CalendarError::InvalidRange { from, to });
        }
        let coverage = self.coverage();
        for date in [from, to] {
            if !coverage.contains(&date) {
                return Err(self.out_of_coverage(date.to_string()));
            }
        }
        Ok(Sessions {
            days: DayIter::new(self.rules(), from, to),
            hours,
        })
    }

    /// The session dated `date`, or `None` if the market does not trade that day.
    pub fn session_on(
        self,
        date: NaiveDate,
        hours: SessionHours,
    ) -> Result<Option<Session>, CalendarError> {
        if !self.coverage().contains(&date) {
            return Err(self.out_of_coverage(date.to_string()));
        }
        Ok(table::day_of(self.rules(), date).map(|d| d.session(hours)))
    }

    /// The session that contains `ts` (unix seconds), if the market is open then.
    pub fn session_containing(
        self,
        ts: i64,
        hours: SessionHours,
    ) -> Result<Option<Session>, CalendarError> {
        self.check_ts(ts)?;
        let day = table::first_closing_after(self.rules(), ts, hours)
            .ok_or_else(|| self.ts_out_of_coverage(ts))?;
        Ok((day.open(hours) <= ts).then(|| day.session(hours)))
    }

    /// Whether the market is open at `ts` (unix seconds).
    pub fn is_open(self, ts: i64, hours: SessionHours) -> Result<bool, CalendarError> {
        Ok(self.session_containing(ts, hours)?.is_some())
    }

    /// The first session that opens at or after `ts`.
    pub fn next_open(self, ts: i64, hours: SessionHours) -> Result<Session, CalendarError> {
        self.check_ts(ts)?;
        let rules = self.rules();
        let day = table::first_closing_after(rules, ts, hours)
            .and_then(|d| {
                if d.open(hours) >= ts {
                    Some(d)
                } else {
                    table::day_after(rules, d)
                }
            })
            .ok_or_else(|| self.ts_out_of_coverage(ts))?;
        Ok(day.session(hours))
    }

    /// Why the market is closed at `ts`, or `None` if it is open.
    ///
    /// US equities: a Saturday or Sunday in New York is [`Closed::Weekend`], a weekday without a
    /// session [`Closed::Holiday`], any other closed instant [`Closed::OutsideHours`] (so Friday
    /// 18:00 is outside hours, Saturday 00:00 weekend). FX is only ever closed at weekends;
    /// crypto never closes.
    pub fn closure_kind(
        self,
        ts: i64,
        hours: SessionHours,
    ) -> Result<Option<Closed>, CalendarError> {
        if self.session_containing(ts, hours)?.is_some() {
            return Ok(None);
        }
        let kind = match self.rules() {
            RuleSet::Fx | RuleSet::Crypto => Closed::Weekend,
            RuleSet::UsEquity => {
                let date = local_time::local_date(self.time_zone(), ts)
                    .ok_or_else(|| self.ts_out_of_coverage(ts))?;
                if !rules::is_weekday(date) {
                    Closed::Weekend
                } else if table::day_of(self.rules(), date).is_none() {
                    Closed::Holiday
                } else {
                    Closed::OutsideHours
                }
            }
        };
        Ok(Some(kind))
    }

    /// The name of the holiday or one-off closure (a state funeral, a hurricane) that keeps the
    /// exchange closed on `date`; `None` on trading days, at weekends, and for calendars
    /// without holidays (FX, crypto).
    pub fn holiday_name(self, date: NaiveDate) -> Option<&'static str> {
        match self.rules() {
            RuleSet::UsEquity if rules::is_weekday(date) => us_equity::holiday_name(date),
            _ => None,
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Calendar {
    type Err = CalendarError;

    /// Case-insensitive: `xnys`, `XNYS`, `Fx`, `crypto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Calendar::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| CalendarError::UnknownCalendar {
                name: s.to_string(),
            })
    }
}

impl fmt::Display for SessionHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionHours::Regular => "regular",
            SessionHours::Extended => "extended",
        })
    }
}

impl FromStr for SessionHours {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "regular" => Ok(SessionHours::Regular),
            "extended" => Ok(SessionHours::Extended),
            _ => Err(CalendarError::UnknownSessionHours {
                value: s.to_string(),
            }),
        }
    }
}

/// The sessions of a date range, in order; see [`Calendar::sessions`]. Does not allocate.
#[derive(Debug, Clone)]
pub struct Sessions {
    days: DayIter,
    hours: SessionHours,
}

impl Iterator for Sessions {
    type Item = Session;

    fn next(&mut self) -> Option<Session> {
        self.days.next().map(|d| d.session(self.hours))
    }
}

impl std::iter::FusedIterator for Sessions {}
