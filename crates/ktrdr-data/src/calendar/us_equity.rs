//! NYSE and Nasdaq (XNYS, XNAS) trading days, from the holiday and early-close rules plus a short
//! list of one-off closures.
//!
//! The rules are those `exchange_calendars` 4.13 applies from 2000 on; both exchanges follow the
//! same schedule in that period (their reference files are identical), so one rule set serves
//! both. Hours are in New York time; chrono-tz turns them into UTC, so DST needs no rule here.
//!
//! Extended hours are 04:00–20:00 ET (the pre-market and after-hours sessions of NYSE Arca and
//! Nasdaq, and the span IB's `useRTH=0` bars cover). On an early-close day the after-hours
//! session ends at 17:00 ET, four hours after the 13:00 close, as both exchanges schedule it.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::America::New_York;

use super::day::Day;
use super::local_time::{hm, local_instant};
use super::rules::{
    easter_sunday, is_weekday, last_weekday, nearest_workday, nth_weekday,
    sunday_to_monday_skip_saturday, ymd,
};

/// Days the exchanges were closed outside the holiday rules, with the reason.
const ONE_OFF_CLOSURES: &[((i32, u32, u32), &str)] = &[
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
const ONE_OFF_EARLY_CLOSES: &[((i32, u32, u32), &str)] = &[(
    (2003, 12, 26),
    "Friday after a Thursday Christmas (not repeated in 2008, 2014 or 2025)",
)];

/// The first year whose rules this module implements (and the reference verifies).
pub(crate) const FIRST_YEAR: i32 = 2000;

const OPEN: NaiveTime = hm(9, 30);
const CLOSE: NaiveTime = hm(16, 0);
const EARLY_CLOSE: NaiveTime = hm(13, 0);
const EXT_OPEN: NaiveTime = hm(4, 0);
const EXT_CLOSE: NaiveTime = hm(20, 0);
const EXT_EARLY_CLOSE: NaiveTime = hm(17, 0);

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

/// Trading days of `year` that close at 13:00 ET.
pub(crate) fn early_closes(year: i32) -> Vec<NaiveDate> {
    let july3 = ymd(year, 7, 3).filter(|d| match d.weekday() {
        Weekday::Mon | Weekday::Tue | Weekday::Thu => true,
        // A Wednesday July 3 closes early since 2013 ...
        Weekday::Wed => year >= 2013,
        _ => false,
    });
    // ... and a Friday July 5 did until 2012 (the post-holiday bridge day was dropped then).
    let july5 = ymd(year, 7, 5).filter(|d| d.weekday() == Weekday::Fri && year < 2013);
    let black_friday =
        nth_weekday(year, 11, Weekday::Thu, 4).and_then(|thanksgiving| thanksgiving.succ_opt());
    // A Friday Dec 24 is the observed Christmas holiday, so only Monday–Thursday close early.
    let christmas_eve = ymd(year, 12, 24).filter(|d| {
        matches!(
            d.weekday(),
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
        )
    });
    let mut days: Vec<NaiveDate> = [july3, july5, black_friday, christmas_eve]
        .into_iter()
        .flatten()
        .chain(one_offs(year, ONE_OFF_EARLY_CLOSES).map(|(d, _)| d))
        .collect();
    days.sort_unstable();
    days
}

/// Every trading day of `year`, in date order.
pub(crate) fn build_year(year: i32) -> Vec<Day> {
    let closed = holidays(year);
    let early = early_closes(year);
    let Some(first) = ymd(year, 1, 1) else {
        return Vec::new();
    };
    first
        .iter_days()
        .take_while(|d| d.year() == year)
        .filter(|d| is_weekday(*d) && closed.binary_search(d).is_err())
        .map(|date| {
            let is_early = early.binary_search(&date).is_ok();
            let at = |t| local_instant(New_York, date, t);
            Day {
                date,
                open: at(OPEN),
                close: at(if is_early { EARLY_CLOSE } else { CLOSE }),
                ext_open: at(EXT_OPEN),
                ext_close: at(if is_early { EXT_EARLY_CLOSE } else { EXT_CLOSE }),
                early_close: is_early,
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
        assert!(!early_closes(2002).contains(&d("2002-07-03")));
        assert!(early_closes(2013).contains(&d("2013-07-03")));
        // Friday July 5: early close before 2013, full day after.
        assert!(early_closes(2002).contains(&d("2002-07-05")));
        assert!(!early_closes(2024).contains(&d("2024-07-05")));
    }
}
