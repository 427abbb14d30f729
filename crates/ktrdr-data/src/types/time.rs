//! UTC timestamps as unix seconds, with a hand-written parser for every form the Python system
//! wrote (it sits in the store's per-row loop, so it allocates nothing and never goes through a
//! general date library).

/// A string that is not a timestamp in any accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: {reason}; expected e.g. 2025-05-22, 2025-05-22T08:00:00Z or 2025-05-22 08:00:00+00:00")]
pub struct TimestampError {
    /// The rejected input (cut to 64 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a timestamp to unix seconds UTC.
///
/// Accepted: `YYYY-MM-DD` (midnight UTC), then optionally `T` or a space, `HH:MM[:SS[.000…]]`,
/// then optionally `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH`. A timestamp without an offset is
/// UTC (the Python system's rule). Offsets are converted. A non-zero fraction of a second is
/// refused rather than truncated: bars sit on whole seconds, and silently moving a bar is
/// fabricating data.
///
/// ```
/// use ktrdr_data::types::parse_timestamp;
/// let t = parse_timestamp("2025-05-22 08:00:00+00:00").unwrap();
/// assert_eq!(t, parse_timestamp("2025-05-22T04:00:00-04:00").unwrap());
/// assert_eq!(t, 1_747_900_800);
/// ```
pub fn parse_timestamp(s: &str) -> Result<i64, TimestampError> {
    parse_ts_bytes(s.trim().as_bytes()).map_err(|reason| TimestampError {
        input: s.chars().take(64).collect(),
        reason,
    })
}

/// Parses the end of a window: as [`parse_timestamp`], except that a date alone covers that
/// whole day (its last second), so `--end 2025-05-22` keeps the bars of the 22nd. The one rule
/// for every end bound: the CLI's `--end`, the API's `end_date`, a training's window.
///
/// ```
/// use ktrdr_data::types::{parse_timestamp, parse_window_end};
/// let day = parse_timestamp("2025-05-22").unwrap();
/// assert_eq!(parse_window_end("2025-05-22").unwrap(), day + 86_399);
/// assert_eq!(parse_window_end("2025-05-22T08:00:00Z").unwrap(), day + 8 * 3600);
/// ```
pub fn parse_window_end(s: &str) -> Result<i64, TimestampError> {
    let ts = parse_timestamp(s)?;
    let date_only = s.trim().len() == "2025-05-22".len();
    Ok(if date_only { ts + 86_399 } else { ts })
}

/// Formats unix seconds in the store's canonical form, `2025-05-22T08:00:00Z`.
pub fn format_timestamp(ts: i64) -> String {
    let mut b = Vec::with_capacity(20);
    write_timestamp(&mut b, ts);
    // write_timestamp only emits ASCII digits and separators.
    String::from_utf8_lossy(&b).into_owned()
}

/// Formats unix seconds for people: `2025-05-22 08:00:00` (UTC).
pub fn format_timestamp_human(ts: i64) -> String {
    let mut s = format_timestamp(ts);
    s.pop();
    s.replace_range(10..11, " ");
    s
}

/// Appends the canonical form of `ts` to `out` (no allocation beyond `out`'s growth).
pub(crate) fn write_timestamp(out: &mut Vec<u8>, ts: i64) {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let two = |v: i64, sep: u8, out: &mut Vec<u8>| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
        out.push(sep);
    };
    if (0..=9999).contains(&y) {
        out.push(b'0' + (y / 1000) as u8);
        out.push(b'0' + (y / 100 % 10) as u8);
        out.push(b'0' + (y / 10 % 10) as u8);
        out.push(b'0' + (y % 10) as u8);
    } else {
        // Outside what the parser reads back; still render something honest.
        out.extend_from_slice(y.to_string().as_bytes());
    }
    out.push(b'-');
    two(m, b'-', out);
    two(d, b'T', out);
    two(secs / 3600, b':', out);
    two(secs / 60 % 60, b':', out);
    two(secs % 60, b'Z', out);
}

#[inline]
fn digit(b: &[u8], i: usize) -> Result<i64, &'static str> {
    match b.get(i) {
        Some(c @ b'0'..=b'9') => Ok((c - b'0') as i64),
        _ => Err("expected a digit"),
    }
}

#[inline]
fn two_digits(b: &[u8], i: usize) -> Result<i64, &'static str> {
    Ok(digit(b, i)? * 10 + digit(b, i + 1)?)
}

#[inline]
fn expect(b: &[u8], i: usize, c: u8, what: &'static str) -> Result<(), &'static str> {
    if b.get(i) == Some(&c) {
        Ok(())
    } else {
        Err(what)
    }
}

/// The byte-level parser behind [`parse_timestamp`]; the error is the reason text.
#[inline]
pub(crate) fn parse_ts_bytes(b: &[u8]) -> Result<i64, &'static str> {
    Ok(parse_date_bytes(b)? * 86_400 + parse_time_bytes(b)?)
}

/// Days since the epoch of the `YYYY-MM-DD` that starts `b`. Split from the time of day so the
/// store can reuse the day of the previous row (most rows share it).
#[inline]
pub(crate) fn parse_date_bytes(b: &[u8]) -> Result<i64, &'static str> {
    if b.len() < 10 {
        return Err("too short");
    }
    let year = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    expect(b, 4, b'-', "expected '-' after the year")?;
    let month = two_digits(b, 5)?;
    expect(b, 7, b'-', "expected '-' after the month")?;
    let day = two_digits(b, 8)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    Ok(days_from_civil(year, month, day))
}

/// Seconds from midnight UTC of the date that starts `b`, from everything after the date:
/// optional time of day, optional offset (subtracted, so the result may be negative).
#[inline]
pub(crate) fn parse_time_bytes(b: &[u8]) -> Result<i64, &'static str> {
    let mut secs = 0;
    let mut i = 10;
    if i < b.len() && (b[i] == b'T' || b[i] == b' ') {
        let hour = two_digits(b, 11)?;
        expect(b, 13, b':', "expected ':' after the hour")?;
        let minute = two_digits(b, 14)?;
        i = 16;
        let mut second = 0;
        if b.get(i) == Some(&b':') {
            second = two_digits(b, 17)?;
            i = 19;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while let Some(c @ b'0'..=b'9') = b.get(i) {
                    if *c != b'0' {
                        return Err("sub-second timestamps are not supported");
                    }
                    i += 1;
                }
                if i == start {
                    return Err("expected digits after '.'");
                }
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err("time of day out of range");
        }
        secs = hour * 3600 + minute * 60 + second;
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            const BAD: &str = "malformed UTC offset (use Z, +HH:MM, +HHMM or +HH)";
            let oh = two_digits(b, i + 1).map_err(|_| BAD)?;
            let om = match b.len() - i {
                3 => 0,
                5 => two_digits(b, i + 3).map_err(|_| BAD)?,
                6 if b[i + 3] == b':' => two_digits(b, i + 4).map_err(|_| BAD)?,
                _ => return Err(BAD),
            };
            if oh > 23 || om > 59 {
                return Err("UTC offset out of range");
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        Some(_) => return Err("unexpected characters after the date/time"),
    };
    Ok(secs - offset)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
#[inline]
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};

    #[test]
    fn every_python_variant_reads_the_same_instant() {
        let want = 1_747_900_800; // 2025-05-22T08:00:00Z
        for s in [
            "2025-05-22 08:00:00+00:00",
            "2025-05-22T08:00:00Z",
            "2025-05-22T08:00:00",
            "2025-05-22 08:00:00",
            "2025-05-22 08:00",
            "2025-05-22T08:00:00.000000+00:00",
            "2025-05-22T04:00:00-04:00",
            "2025-05-22T10:00:00+0200",
            "2025-05-22T09:00:00+01",
        ] {
            assert_eq!(parse_timestamp(s), Ok(want), "{s}");
        }
        assert_eq!(parse_timestamp("2025-05-22"), Ok(want - 8 * 3600));
    }

    #[test]
    fn rejects_with_reasons() {
        for (s, why) in [
            ("2025-13-01", "month"),
            ("2025-02-29", "day"),
            ("2025-05-22 24:00:00", "time of day"),
            ("2025-05-22T08:00:00.5Z", "sub-second"),
            ("2025-05-22T08:00:00Zjunk", "unexpected"),
            ("2025/05/22", "'-'"),
            ("22-05-2025", "digit"),
            ("2025-05-22T08:00:00+5:00", "offset"),
            ("", "short"),
        ] {
            let e = parse_timestamp(s).unwrap_err();
            assert!(e.reason.contains(why), "{s}: {e}");
        }
        assert!(parse_timestamp("2024-02-29").is_ok());
    }

    #[test]
    fn agrees_with_chrono_and_formats_back() {
        let mut d = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(2100, 12, 31).unwrap();
        while d <= end {
            let dt = d.and_hms_opt(13, 7, 9).unwrap().and_utc();
            let s = dt.format("%Y-%m-%d %H:%M:%S+00:00").to_string();
            let ts = parse_timestamp(&s).unwrap();
            assert_eq!(ts, dt.timestamp(), "{s}");
            assert_eq!(
                format_timestamp(ts),
                dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
            d = d.succ_opt().unwrap();
        }
        let ts = DateTime::parse_from_rfc3339("2013-12-31T00:30:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(format_timestamp_human(ts), "2013-12-31 00:30:00");
    }
}
