//! Crypto, 24x7: one session per UTC calendar day, 00:00 to 24:00 UTC, every day of the year.
//! Extended hours are the same as regular hours.

use chrono::NaiveTime;

use super::day::Day;
use super::rules::days_of;

const DAY: i64 = 86_400;

pub(crate) fn build_year(year: i32) -> Vec<Day> {
    days_of(year)
        .map(|date| {
            let open = date.and_time(NaiveTime::MIN).and_utc().timestamp();
            Day {
                date,
                open,
                close: open + DAY,
                ext_open: open,
                ext_close: open + DAY,
                early_close: false,
            }
        })
        .collect()
}
