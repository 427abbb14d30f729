//! Date arithmetic shared by the holiday rules: Easter, "n-th weekday of a month" and the two
//! weekend observance rules US exchanges use.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// A date built from parts the rules themselves produce (a valid month, a day that exists).
/// Returning `Option` keeps the rules panic-free; `None` never happens for the inputs used here.
pub(crate) fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Western (Gregorian) Easter Sunday, by the anonymous Gregorian computus
/// (Meeus, *Astronomical Algorithms*, ch. 8), valid for every Gregorian year.
pub(crate) fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// The `n`-th (1-based) `weekday` of a month, e.g. the third Monday of January.
pub(crate) fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last `weekday` of a month, e.g. the last Monday of May.
pub(crate) fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let first_of_next = if month == 12 {
        ymd(year + 1, 1, 1)?
    } else {
        ymd(year, month + 1, 1)?
    };
    let last = first_of_next.pred_opt()?;
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last.checked_sub_days(Days::new(u64::from(back)))
}

/// A Saturday holiday is observed on the Friday before, a Sunday holiday on the Monday after
/// (pandas' `nearest_workday`, which exchange_calendars applies to Independence Day, Juneteenth
/// and Christmas).
pub(crate) fn nearest_workday(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => date.pred_opt(),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

/// A Sunday holiday moves to Monday; a Saturday holiday is not observed at all (`None`).
///
/// This is New Year's Day at the NYSE: moving a Saturday Jan 1 to Friday Dec 31 would close
/// the exchange on the last day of the accounting year, which NYSE Rule 7.2 avoids.
pub(crate) fn sunday_to_monday_skip_saturday(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => None,
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

/// Every day of `year`, in date order.
pub(crate) fn days_of(year: i32) -> impl Iterator<Item = NaiveDate> {
    ymd(year, 1, 1)
        .into_iter()
        .flat_map(|first| first.iter_days())
        .take_while(move |d| d.year() == year)
}

/// Monday to Friday.
pub(crate) fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_known_years() {
        // Includes the extremes of the Easter range (Mar 23 2008, Apr 25 2038) and 2000/2100.
        for (year, expected) in [
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2011, "2011-04-24"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2038, "2038-04-25"),
            (2100, "2100-03-28"),
        ] {
            assert_eq!(easter_sunday(year), Some(d(expected)), "{year}");
        }
    }

    #[test]
    fn weekday_of_month() {
        assert_eq!(nth_weekday(2025, 1, Weekday::Mon, 3), Some(d("2025-01-20")));
        assert_eq!(
            nth_weekday(2024, 11, Weekday::Thu, 4),
            Some(d("2024-11-28"))
        );
        assert_eq!(last_weekday(2025, 5, Weekday::Mon), Some(d("2025-05-26")));
        assert_eq!(last_weekday(2021, 5, Weekday::Mon), Some(d("2021-05-31")));
        assert_eq!(last_weekday(2030, 12, Weekday::Tue), Some(d("2030-12-31")));
    }

    #[test]
    fn observance() {
        assert_eq!(nearest_workday(d("2021-12-25")), Some(d("2021-12-24")));
        assert_eq!(nearest_workday(d("2022-12-25")), Some(d("2022-12-26")));
        assert_eq!(nearest_workday(d("2024-12-25")), Some(d("2024-12-25")));
        assert_eq!(sunday_to_monday_skip_saturday(d("2022-01-01")), None);
        assert_eq!(
            sunday_to_monday_skip_saturday(d("2023-01-01")),
            Some(d("2023-01-02"))
        );
    }
}
