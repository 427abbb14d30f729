//! What a calendar answers (sessions, openness, why it is closed, holiday names), from the
//! cached year tables.

use std::ops::RangeInclusive;

use chrono::NaiveDate;

use super::table::{self, DayIter, RuleSet};
use super::{export, local_time, rules, us_equity};
use super::{Calendar, CalendarError, Closed, Session, SessionHours};

const DAY: i64 = 86_400;

impl Calendar {
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
