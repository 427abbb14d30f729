//! Wall-clock times and dates in an exchange's time zone, as unix seconds.

use chrono::{DateTime, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone};
use chrono_tz::Tz;

/// `HH:MM` as a constant; an invalid time fails the build, not the program.
pub(crate) const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => panic!("invalid constant time of day"),
    }
}

/// The instant (unix seconds) of wall-clock `time` on `date` in `tz`.
pub(crate) fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> i64 {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.timestamp(),
        // Clocks went back: the first occurrence, as pandas resolves it.
        chrono::LocalResult::Ambiguous(first, _) => first.timestamp(),
        // Clocks went forward over `time`. No session time used here lies in a DST gap (US
        // transitions happen at 02:00); should one, read it with the offset in force before
        // the jump, which lands just after the jump.
        chrono::LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(local - TimeDelta::hours(12)))
                .fix()
                .local_minus_utc();
            local.and_utc().timestamp() - i64::from(before)
        }
    }
}

/// The UTC calendar date of `ts`, `None` beyond chrono's range.
pub(crate) fn utc_date(ts: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(ts, 0).map(|t| t.date_naive())
}

/// 00:00 UTC of `date`, in unix seconds.
pub(crate) fn midnight(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// The wall-clock date of `ts` in `tz`.
pub(crate) fn local_date(tz: Tz, ts: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(ts, 0).map(|t| t.with_timezone(&tz).date_naive())
}
