//! The calendar's types: which calendar, session hours, a session, why a market is closed, and
//! what a calendar refuses. What a calendar answers is in `query.rs`.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

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
