//! Spot FX, 24 hours five days a week: the week runs from Sunday 17:00 to Friday 17:00 New York
//! time, the interbank convention (the New York close is the FX value-date roll).
//!
//! Sessions are delimited at that roll: the session dated `D` (Monday to Friday) opens at 17:00
//! New York time on the day before `D` and closes at 17:00 on `D`, so Monday's session opens on
//! Sunday evening and the week's sessions touch end to end. Extended hours are the same as
//! regular hours. No holidays: interbank FX trades (thinly) on Christmas and New Year's Day.

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::America::New_York;

use super::day::Day;
use super::local_time::{hm, local_instant};
use super::rules::{days_of, is_weekday};

const ROLL: NaiveTime = hm(17, 0);

pub(crate) fn build_year(year: i32) -> Vec<Day> {
    days_of(year)
        .filter(|d| is_weekday(*d))
        .filter_map(|date: NaiveDate| {
            let open = local_instant(New_York, date.pred_opt()?, ROLL);
            let close = local_instant(New_York, date, ROLL);
            Some(Day {
                date,
                open,
                close,
                ext_open: open,
                ext_close: close,
                early_close: false,
            })
        })
        .collect()
}
