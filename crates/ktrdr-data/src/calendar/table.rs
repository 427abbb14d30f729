//! Per-year session tables, built from the rules on first use and cached for the process.
//!
//! Invariants:
//! 1. A year's table is a pure function of (rule set, year): once built it never changes, and two
//!    threads racing to build it would build the same thing (`OnceLock` keeps one).
//! 2. A table holds the year's trading days in date order, and their sessions are disjoint and in
//!    time order, so both `date` and `close` can be binary-searched.
//! 3. Years before a rule set's first year, or after [`LAST_YEAR`], have an empty table: nothing
//!    is made up for years the rules do not cover.
//!
//! No locks beyond `OnceLock`'s own initialisation.
//!
//! Imports go one way: the tables call the per-exchange builders (`us_equity`, `fx`, `crypto`),
//! which build [`Day`]s from `day.rs`, `local_time.rs` and `rules.rs` and know nothing of the
//! tables.

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, NaiveTime};

use super::day::Day;
use super::local_time::utc_date;
use super::{crypto, fx, us_equity, SessionHours};

/// The first year any rule set covers.
const FIRST_YEAR: i32 = 1970;
/// The last year any rule set covers. The rules run on indefinitely; the bound only sizes the
/// cache (230 years × 3 rule sets of lazily-filled slots, about 16 KiB of statics).
pub(crate) const LAST_YEAR: i32 = 2199;
const YEARS: usize = (LAST_YEAR - FIRST_YEAR + 1) as usize;

/// The distinct rule sets behind the public calendars (XNYS and XNAS share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleSet {
    UsEquity,
    Fx,
    Crypto,
}

impl RuleSet {
    pub(crate) const fn first_year(self) -> i32 {
        match self {
            RuleSet::UsEquity => us_equity::FIRST_YEAR,
            RuleSet::Fx | RuleSet::Crypto => FIRST_YEAR,
        }
    }

    /// `[start, end)` in unix seconds: 00:00 UTC of the first covered day to 00:00 UTC after
    /// the last. Const, because `is_open` checks it on every call.
    pub(crate) const fn covered_instants(self) -> (i64, i64) {
        (
            midnight_utc(self.first_year(), 1, 1),
            midnight_utc(LAST_YEAR + 1, 1, 1),
        )
    }

    fn index(self) -> usize {
        self as usize
    }

    fn build(self, year: i32) -> Vec<Day> {
        match self {
            RuleSet::UsEquity => us_equity::build_year(year),
            RuleSet::Fx => fx::build_year(year),
            RuleSet::Crypto => crypto::build_year(year),
        }
    }
}

static TABLES: [[OnceLock<Box<[Day]>>; YEARS]; 3] =
    [const { [const { OnceLock::new() }; YEARS] }; 3];

/// The trading days of `year` (empty outside the rule set's years, invariant 3).
pub(crate) fn year_table(rules: RuleSet, year: i32) -> &'static [Day] {
    if year < rules.first_year() {
        return &[];
    }
    let Some(slot) = usize::try_from(year - FIRST_YEAR)
        .ok()
        .and_then(|i| TABLES[rules.index()].get(i))
    else {
        return &[];
    };
    slot.get_or_init(|| rules.build(year).into_boxed_slice())
}

/// The first trading day whose session (in `hours`) closes after `ts`; `None` past the last
/// covered year.
pub(crate) fn first_closing_after(
    rules: RuleSet,
    ts: i64,
    hours: SessionHours,
) -> Option<&'static Day> {
    let year = utc_date(ts)?.year();
    // A session dated the previous (local) year can still be running at `ts` (an evening
    // extended session past midnight UTC): only the last day of that year can be.
    if let Some(last) = year_table(rules, year - 1).last() {
        if last.close(hours) > ts {
            return Some(last);
        }
    }
    // Every year has trading days, so the next year's first one is the latest candidate.
    let table = year_table(rules, year);
    table
        .get(table.partition_point(|d| d.close(hours) <= ts))
        .or_else(|| year_table(rules, year + 1).first())
}

/// The trading day dated `date`, if the exchange trades that day.
pub(crate) fn day_of(rules: RuleSet, date: NaiveDate) -> Option<&'static Day> {
    let table = year_table(rules, date.year());
    table
        .binary_search_by_key(&date, |d| d.date)
        .ok()
        .and_then(|i| table.get(i))
}

/// The day after `day` in the tables (crossing into the next year when needed).
pub(crate) fn day_after(rules: RuleSet, day: &Day) -> Option<&'static Day> {
    let table = year_table(rules, day.date.year());
    let i = table.partition_point(|d| d.date <= day.date);
    table
        .get(i)
        .or_else(|| year_table(rules, day.date.year() + 1).first())
}

/// Trading days dated `from..=to`, without allocating: it walks the cached year tables.
#[derive(Debug, Clone)]
pub(crate) struct DayIter {
    rules: RuleSet,
    current: std::slice::Iter<'static, Day>,
    next_year: i32,
    to: NaiveDate,
}

impl DayIter {
    pub(crate) fn new(rules: RuleSet, from: NaiveDate, to: NaiveDate) -> Self {
        let table = year_table(rules, from.year());
        let start = table.partition_point(|d| d.date < from);
        DayIter {
            rules,
            current: table[start..].iter(),
            next_year: from.year() + 1,
            to,
        }
    }
}

impl Iterator for DayIter {
    type Item = &'static Day;

    fn next(&mut self) -> Option<&'static Day> {
        loop {
            if let Some(day) = self.current.next() {
                if day.date > self.to {
                    self.current = [].iter();
                    self.next_year = i32::MAX;
                    return None;
                }
                return Some(day);
            }
            if self.next_year > self.to.year() {
                return None;
            }
            self.current = year_table(self.rules, self.next_year).iter();
            self.next_year += 1;
        }
    }
}

impl std::iter::FusedIterator for DayIter {}

/// 00:00 UTC of a constant date, in unix seconds; an invalid date fails the build.
const fn midnight_utc(year: i32, month: u32, day: u32) -> i64 {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date.and_time(NaiveTime::MIN).and_utc().timestamp(),
        None => panic!("invalid constant date"),
    }
}
