//! NYSE and Nasdaq (XNYS, XNAS) trading days, from the holiday and early-close rules plus a short
//! list of one-off closures.
//!
//! The rules are those `exchange_calendars` 4.13 applies from 1980 on, history included (the
//! 1980 Election Day closure, 14:00 early closes before 1993, July early closes only from 1995);
//! both exchanges follow the same schedule in that period (their reference files are
//! identical), so one rule set serves both. Hours are in New York time; chrono-tz turns them
//! into UTC, so DST needs no rule here.
//!
//! Extended hours are 04:00–20:00 ET (the pre-market and after-hours sessions of NYSE Arca and
//! Nasdaq, and the span IB's `useRTH=0` bars cover). On an early-close day the after-hours
//! session ends four hours after the close (17:00 ET after a 13:00 close), as both exchanges
//! schedule it.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::America::New_York;

use super::day::Day;
use super::local_time::{hm, local_instant};
use super::rules::{
    days_of, easter_sunday, is_weekday, last_weekday, nearest_workday, nth_weekday,
    sunday_to_monday_skip_saturday, ymd,
};

/// Days the exchanges were closed outside the holiday rules, with the reason.
const ONE_OFF_CLOSURES: &[((i32, u32, u32), &str)] = &[
    ((1985, 9, 27), "Hurricane Gloria"),
    ((1994, 4, 27), "President Nixon's funeral"),
    ((2001, 9, 11), "September 11 attacks"), // closed through Friday Sept 14
    ((2001, 9, 12), "September 11 attacks"),
    ((2001, 9, 13), "September 11 attacks"),
    ((2001, 9, 14), "September 11 attacks"),
    ((2004, 6, 11), "President Reagan's funeral"),
    ((2007, 1, 2), "President Ford's funeral"),
    ((2012, 10, 29), "Hurricane Sandy"),
    ((2012, 10, 30), "Hurricane Sandy"),
    ((2018, 12, 5), "President G. H. W. Bush's funeral"),
    ((2025, 1, 9), "President Carter's funeral"),
];

/// 13:00 closes outside the early-close rules.
const ONE_OFF_EARLY_CLOSES: &[((i32, u32, u32), &str)] = &[
    ((1997, 12, 26), "Friday after a Thursday Christmas"),
    ((1999, 12, 31), "New Year's Eve before the year 2000"),
    (
        (2003, 12, 26),
        "Friday after a Thursday Christmas (not repeated in 2008, 2014 or 2025)",
    ),
];

/// The first year whose rules this module implements (and the reference verifies).
pub(crate) const FIRST_YEAR: i32 = 1980;

const OPEN: NaiveTime = hm(9, 30);
const CLOSE: NaiveTime = hm(16, 0);
const EXT_OPEN: NaiveTime = hm(4, 0);
const EXT_CLOSE: NaiveTime = hm(20, 0);

/// The close of an early-close day and the end of its after-hours session, four hours later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EarlyClose {
    pub(crate) close: NaiveTime,
    ext_close: NaiveTime,
}

/// The early close since 1993.
const ONE_PM: EarlyClose = EarlyClose {
    close: hm(13, 0),
    ext_close: hm(17, 0),
};
/// The early close of Christmas Eve until 1992 and of the Friday after Thanksgiving in 1992.
const TWO_PM: EarlyClose = EarlyClose {
    close: hm(14, 0),
    ext_close: hm(18, 0),
};

fn one_offs<'a>(
    year: i32,
    list: &'a [((i32, u32, u32), &'static str)],
) -> impl Iterator<Item = (NaiveDate, &'static str)> + 'a {
    list.iter()
        .filter(move |((y, _, _), _)| *y == year)
        .filter_map(|&((y, m, d), why)| Some((ymd(y, m, d)?, why)))
}

/// Weekdays of `year` on which the exchange does not open at all.
pub(crate) fn holidays(year: i32) -> Vec<NaiveDate> {
    named_holidays(year).into_iter().map(|(d, _)| d).collect()
}

/// The name of the holiday or one-off closure that closes the exchange on `date`.
pub(crate) fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    named_holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, name)| name)
}

/// The closed weekdays of `year` with their names, in date order (a date once).
fn named_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut days: Vec<(NaiveDate, &'static str)> = [
        (
            ymd(year, 1, 1).and_then(sunday_to_monday_skip_saturday),
            "New Year's Day",
        ),
        // Martin Luther King Jr. Day closes the NYSE since 1998.
        (
            (year >= 1998)
                .then(|| nth_weekday(year, 1, Weekday::Mon, 3))
                .flatten(),
            "Martin Luther King Jr. Day",
        ),
        (nth_weekday(year, 2, Weekday::Mon, 3), "Presidents' Day"),
        (
            easter_sunday(year).and_then(|e| e.checked_sub_days(chrono::Days::new(2))),
            "Good Friday",
        ),
        (last_weekday(year, 5, Weekday::Mon), "Memorial Day"),
        // Juneteenth became an NYSE holiday in 2022 (a federal holiday from 2021, too late for
        // the exchange to close that year).
        (
            (year >= 2022)
                .then(|| ymd(year, 6, 19).and_then(nearest_workday))
                .flatten(),
            "Juneteenth",
        ),
        (
            ymd(year, 7, 4).and_then(nearest_workday),
            "Independence Day",
        ),
        (nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"),
        // Presidential Election Day closed the NYSE until 1980 (the first Tuesday after
        // November 1st).
        (
            ((1968..=1980).contains(&year) && year % 4 == 0)
                .then(|| nth_weekday(year, 11, Weekday::Mon, 1).and_then(|m| m.succ_opt()))
                .flatten(),
            "Election Day",
        ),
        (nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day"),
        (ymd(year, 12, 25).and_then(nearest_workday), "Christmas Day"),
    ]
    .into_iter()
    .filter_map(|(date, name)| Some((date?, name)))
    // Only dates of this year: nearest_workday never crosses a year for these holidays, but
    // the filter keeps that an explicit property rather than an accident.
    .filter(|(d, _)| d.year() == year)
    .chain(one_offs(year, ONE_OFF_CLOSURES))
    .collect();
    days.sort_by_key(|(d, _)| *d);
    days.dedup_by_key(|(d, _)| *d);
    days
}

/// Trading days of `year` that close early, with their hours, in date order.
pub(crate) fn early_closes(year: i32) -> Vec<(NaiveDate, EarlyClose)> {
    // Until 1992 the early close was at 14:00, and only on Christmas Eve (and, in 1992, on the
    // Friday after Thanksgiving); 13:00 since 1993, and around Independence Day since 1995.
    let holiday_eve = if year < 1993 { TWO_PM } else { ONE_PM };
    let july3 = ymd(year, 7, 3).filter(|d| match d.weekday() {
        Weekday::Mon | Weekday::Tue | Weekday::Thu => year >= 1995,
        // A Wednesday July 3 closes early since 2013 ...
        Weekday::Wed => year >= 2013,
        _ => false,
    });
    // ... and a Friday July 5 did from 1995 to 2012 (the post-holiday bridge day was dropped
    // then).
    let july5 =
        ymd(year, 7, 5).filter(|d| d.weekday() == Weekday::Fri && (1995..2013).contains(&year));
    let black_friday = (year >= 1992)
        .then(|| nth_weekday(year, 11, Weekday::Thu, 4))
        .flatten()
        .and_then(|thanksgiving| thanksgiving.succ_opt());
    // A Friday Dec 24 is the observed Christmas holiday, so only Monday–Thursday close early.
    let christmas_eve = ymd(year, 12, 24).filter(|d| {
        matches!(
            d.weekday(),
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
        )
    });
    let mut days: Vec<(NaiveDate, EarlyClose)> = [
        (july3, ONE_PM),
        (july5, ONE_PM),
        (black_friday, holiday_eve),
        (christmas_eve, holiday_eve),
    ]
    .into_iter()
    .filter_map(|(d, hours)| Some((d?, hours)))
    .chain(one_offs(year, ONE_OFF_EARLY_CLOSES).map(|(d, _)| (d, ONE_PM)))
    .collect();
    days.sort_unstable_by_key(|(d, _)| *d);
    days
}

/// Every trading day of `year`, in date order.
pub(crate) fn build_year(year: i32) -> Vec<Day> {
    let closed = holidays(year);
    let early = early_closes(year);
    days_of(year)
        .filter(|d| is_weekday(*d) && closed.binary_search(d).is_err())
        .map(|date| {
            let early = early
                .binary_search_by_key(&date, |(d, _)| *d)
                .ok()
                .and_then(|i| early.get(i))
                .map(|(_, hours)| *hours);
            let at = |t| local_instant(New_York, date, t);
            Day {
                date,
                open: at(OPEN),
                close: at(early.map_or(CLOSE, |e| e.close)),
                ext_open: at(EXT_OPEN),
                ext_close: at(early.map_or(EXT_CLOSE, |e| e.ext_close)),
                early_close: early.is_some(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn holidays_2025() {
        let expected = [
            "2025-01-01",
            "2025-01-09",
            "2025-01-20",
            "2025-02-17",
            "2025-04-18",
            "2025-05-26",
            "2025-06-19",
            "2025-07-04",
            "2025-09-01",
            "2025-11-27",
            "2025-12-25",
        ];
        assert_eq!(holidays(2025), expected.map(d).to_vec());
    }

    #[test]
    fn saturday_new_year_is_not_moved_to_friday() {
        assert!(!holidays(2021).contains(&d("2021-12-31")));
        assert!(!holidays(2022).iter().any(|h| h.month() == 1 && h.day() < 3));
    }

    #[test]
    fn july_early_close_year_rules() {
        // Wednesday July 3: open all day before 2013, early close from 2013.
        let early =
            |year| -> Vec<NaiveDate> { early_closes(year).into_iter().map(|(d, _)| d).collect() };
        assert!(!early(2002).contains(&d("2002-07-03")));
        assert!(early(2013).contains(&d("2013-07-03")));
        // Friday July 5: early close from 1995 to 2012, full day before and after.
        assert!(early(2002).contains(&d("2002-07-05")));
        assert!(!early(2024).contains(&d("2024-07-05")));
        assert!(!early(1985).contains(&d("1985-07-05")));
    }
}
