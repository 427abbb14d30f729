//! Black-box tests of the exchange calendars: the `exchange_calendars` reference files row for
//! row, DST, FX week boundaries, crypto, closure classification.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::America::New_York;
use ktrdr_data::calendar::{
    write_sessions_csv, Calendar, CalendarError, Closed, Session, SessionHours,
};

const REFERENCE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/calendars"
);

use SessionHours::{Extended, Regular};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Unix seconds of a New York wall-clock time, `"2024-12-24 16:30"`.
fn ny(s: &str) -> i64 {
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    New_York
        .from_local_datetime(&local)
        .single()
        .unwrap()
        .timestamp()
}

/// Unix seconds of a UTC time, `"2024-03-10 21:00"`.
fn utc(s: &str) -> i64 {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp()
}

fn sessions(cal: Calendar, from: &str, to: &str, hours: SessionHours) -> Vec<Session> {
    cal.sessions(d(from), d(to), hours).unwrap().collect()
}

/// Reference sessions 1980–1999, generated with exchange_calendars 4.13.2 by the script next
/// to them (the shared files start in 2000).
const HISTORY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/calendars");

fn check_reference(cal: Calendar, file: &str) {
    check_reference_file(
        cal,
        &format!("{REFERENCE_DIR}/{file}"),
        ("2000-01-01", "2030-12-31"),
        7795,
    );
}

fn check_reference_file(cal: Calendar, path: &str, (from, to): (&str, &str), rows: usize) {
    let file = path;
    let reference = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut ours = Vec::new();
    write_sessions_csv(&mut ours, cal.sessions(d(from), d(to), Regular).unwrap()).unwrap();
    let ours = String::from_utf8(ours).unwrap();

    let (ref_lines, our_lines): (Vec<_>, Vec<_>) =
        (reference.lines().collect(), ours.lines().collect());
    let differences: Vec<String> = ref_lines
        .iter()
        .zip(&our_lines)
        .enumerate()
        .filter(|(_, (r, o))| r != o)
        .take(10)
        .map(|(i, (r, o))| format!("line {}: reference `{r}`, ours `{o}`", i + 1))
        .collect();
    assert!(
        differences.is_empty(),
        "{file}:\n{}",
        differences.join("\n")
    );
    assert_eq!(our_lines.len(), ref_lines.len(), "{file}: row count");
    assert_eq!(
        ours, reference,
        "{file}: byte-for-byte (line endings, final newline)"
    );
    // Guard against a vacuous pass on a truncated reference.
    assert_eq!(ref_lines.len(), rows);
}

#[test]
fn xnys_and_xnas_match_the_1980_to_1999_reference_row_for_row() {
    for cal in [Calendar::Xnys, Calendar::Xnas] {
        check_reference_file(
            cal,
            &format!("{HISTORY_DIR}/{cal}_sessions_1980_1999.csv"),
            ("1980-01-01", "1999-12-31"),
            5057,
        );
    }
}

#[test]
fn historic_closures_have_names() {
    let x = Calendar::Xnys;
    for (date, name) in [
        ("1980-11-04", "Election Day"),
        ("1985-09-27", "Hurricane Gloria"),
        ("1994-04-27", "President Nixon's funeral"),
        ("2025-07-04", "Independence Day"),
    ] {
        assert_eq!(x.session_on(d(date), Regular).unwrap(), None, "{date}");
        assert_eq!(x.holiday_name(d(date)), Some(name), "{date}");
    }
    assert_eq!(x.holiday_name(d("2025-07-05")), None); // a Saturday
    assert_eq!(x.holiday_name(d("2025-07-07")), None); // a trading day
                                                       // Until 1992 Christmas Eve closed at 14:00 (its after-hours four hours later).
    let eve = x.session_on(d("1985-12-24"), Extended).unwrap().unwrap();
    assert_eq!(eve.close, ny("1985-12-24 18:00"));
    assert!(eve.early_close);
}

#[test]
fn a_range_is_cut_to_the_coverage() {
    let x = Calendar::Xnys;
    assert_eq!(
        x.covered_part(d("1975-01-01"), d("1980-01-10")),
        Some((d("1980-01-01"), d("1980-01-10")))
    );
    assert_eq!(
        x.covered_part(d("1990-01-01"), d("1990-02-01")),
        Some((d("1990-01-01"), d("1990-02-01")))
    );
    assert_eq!(x.covered_part(d("1970-01-01"), d("1979-12-31")), None);
    assert_eq!(x.covered_part(d("1990-02-01"), d("1990-01-01")), None);
}

#[test]
fn xnys_matches_reference_row_for_row() {
    check_reference(Calendar::Xnys, "XNYS_sessions.csv");
}

#[test]
fn xnas_matches_reference_row_for_row() {
    check_reference(Calendar::Xnas, "XNAS_sessions.csv");
}

#[test]
fn us_dst_transitions_move_the_utc_open() {
    // Spring forward on Sunday 2024-03-10: 09:30 EST = 14:30 UTC, 09:30 EDT = 13:30 UTC.
    let s = sessions(Calendar::Xnys, "2024-03-08", "2024-03-11", Regular);
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].open, s[0].close),
        (utc("2024-03-08 14:30"), utc("2024-03-08 21:00"))
    );
    assert_eq!(
        (s[1].open, s[1].close),
        (utc("2024-03-11 13:30"), utc("2024-03-11 20:00"))
    );
    // Fall back on Sunday 2024-11-03.
    let s = sessions(Calendar::Xnys, "2024-11-01", "2024-11-04", Extended);
    assert_eq!(
        (s[0].open, s[0].close),
        (utc("2024-11-01 08:00"), utc("2024-11-02 00:00"))
    );
    assert_eq!(
        (s[1].open, s[1].close),
        (utc("2024-11-04 09:00"), utc("2024-11-05 01:00"))
    );
}

#[test]
fn early_close_in_regular_and_extended_hours() {
    let regular = Calendar::Xnys
        .session_on(d("2024-11-29"), Regular)
        .unwrap()
        .unwrap();
    assert!(regular.early_close);
    assert_eq!(regular.close, ny("2024-11-29 13:00"));
    let extended = Calendar::Xnys
        .session_on(d("2024-11-29"), Extended)
        .unwrap()
        .unwrap();
    assert!(extended.early_close);
    assert_eq!(
        (extended.open, extended.close),
        (ny("2024-11-29 04:00"), ny("2024-11-29 17:00"))
    );
    let normal = Calendar::Xnys
        .session_on(d("2024-11-26"), Regular)
        .unwrap()
        .unwrap();
    assert!(!normal.early_close);
    assert_eq!(
        Calendar::Xnys.session_on(d("2024-11-28"), Regular),
        Ok(None)
    );
}

#[test]
fn is_open_and_closure_kind_us_equity() {
    let x = Calendar::Xnys;
    let cases = [
        // (New York time, regular, extended)
        (
            "2024-12-25 12:00",
            Some(Closed::Holiday),
            Some(Closed::Holiday),
        ),
        (
            "2001-09-12 10:00",
            Some(Closed::Holiday),
            Some(Closed::Holiday),
        ),
        (
            "2025-01-09 10:00",
            Some(Closed::Holiday),
            Some(Closed::Holiday),
        ),
        (
            "2024-12-28 12:00",
            Some(Closed::Weekend),
            Some(Closed::Weekend),
        ),
        (
            "2024-12-29 23:00",
            Some(Closed::Weekend),
            Some(Closed::Weekend),
        ),
        ("2024-12-27 08:00", Some(Closed::OutsideHours), None),
        (
            "2024-12-27 03:59",
            Some(Closed::OutsideHours),
            Some(Closed::OutsideHours),
        ),
        ("2024-12-27 10:00", None, None),
        ("2024-12-27 16:00", Some(Closed::OutsideHours), None),
        (
            "2024-12-27 20:00",
            Some(Closed::OutsideHours),
            Some(Closed::OutsideHours),
        ),
        // Christmas Eve 2024 closes at 13:00 (after-hours until 17:00).
        ("2024-12-24 12:59", None, None),
        ("2024-12-24 16:30", Some(Closed::OutsideHours), None),
        (
            "2024-12-24 17:30",
            Some(Closed::OutsideHours),
            Some(Closed::OutsideHours),
        ),
    ];
    for (at, regular, extended) in cases {
        let ts = ny(at);
        assert_eq!(x.closure_kind(ts, Regular), Ok(regular), "{at} regular");
        assert_eq!(x.closure_kind(ts, Extended), Ok(extended), "{at} extended");
        assert_eq!(
            x.is_open(ts, Regular),
            Ok(regular.is_none()),
            "{at} is_open"
        );
        assert_eq!(
            x.is_open(ts, Extended),
            Ok(extended.is_none()),
            "{at} is_open ext"
        );
    }
}

#[test]
fn session_boundaries_are_half_open() {
    let x = Calendar::Xnas;
    let open = ny("2024-12-27 09:30");
    let close = ny("2024-12-27 16:00");
    assert_eq!(
        x.session_containing(open, Regular).unwrap().map(|s| s.date),
        Some(d("2024-12-27"))
    );
    assert_eq!(
        x.session_containing(close - 1, Regular)
            .unwrap()
            .map(|s| s.open),
        Some(open)
    );
    assert_eq!(x.session_containing(close, Regular), Ok(None));
    assert_eq!(x.session_containing(open - 1, Regular), Ok(None));
}

#[test]
fn next_open_skips_weekends_and_holidays() {
    let x = Calendar::Xnys;
    // At the open itself: that session.
    assert_eq!(
        x.next_open(ny("2024-12-27 09:30"), Regular).unwrap().date,
        d("2024-12-27")
    );
    // During a session: the next one.
    assert_eq!(
        x.next_open(ny("2024-12-27 10:00"), Regular).unwrap().date,
        d("2024-12-30")
    );
    // Over a weekend and New Year's Day.
    assert_eq!(
        x.next_open(ny("2024-12-31 17:00"), Regular).unwrap().date,
        d("2025-01-02")
    );
    // Over the Carter closure (Thursday 2025-01-09).
    let s = x.next_open(ny("2025-01-08 16:00"), Regular).unwrap();
    assert_eq!((s.date, s.open), (d("2025-01-10"), ny("2025-01-10 09:30")));
    // Extended: the pre-market open.
    assert_eq!(
        x.next_open(ny("2025-01-10 00:00"), Extended).unwrap().open,
        ny("2025-01-10 04:00")
    );
}

#[test]
fn extended_session_past_midnight_utc_at_year_end() {
    // 2024-12-31 20:00 New York is 2025-01-01 01:00 UTC: the session of the previous year's
    // table still contains 2025-01-01 00:30 UTC.
    let s = Calendar::Xnys
        .session_containing(utc("2025-01-01 00:30"), Extended)
        .unwrap();
    assert_eq!(s.map(|s| s.date), Some(d("2024-12-31")));
}

#[test]
fn sessions_cross_years_in_order() {
    let s = sessions(Calendar::Xnys, "2024-12-30", "2025-01-03", Regular);
    let dates: Vec<_> = s.iter().map(|s| s.date).collect();
    assert_eq!(
        dates,
        ["2024-12-30", "2024-12-31", "2025-01-02", "2025-01-03"].map(d)
    );
    assert!(s.windows(2).all(|w| w[0].close < w[1].open));
}

#[test]
fn fx_week_runs_sunday_17_to_friday_17_new_york() {
    let fx = Calendar::Fx;
    let week = sessions(fx, "2025-01-04", "2025-01-12", Regular);
    let dates: Vec<_> = week.iter().map(|s| s.date).collect();
    assert_eq!(
        dates,
        [
            "2025-01-06",
            "2025-01-07",
            "2025-01-08",
            "2025-01-09",
            "2025-01-10"
        ]
        .map(d)
    );
    assert_eq!(week[0].open, ny("2025-01-05 17:00"));
    assert_eq!(week[4].close, ny("2025-01-10 17:00"));
    // Sessions touch end to end within the week.
    assert!(week.windows(2).all(|w| w[0].close == w[1].open));
    // Same in extended hours.
    assert_eq!(sessions(fx, "2025-01-04", "2025-01-12", Extended), week);

    assert_eq!(fx.closure_kind(ny("2025-01-10 16:59"), Regular), Ok(None));
    assert_eq!(
        fx.closure_kind(ny("2025-01-10 17:00"), Regular),
        Ok(Some(Closed::Weekend))
    );
    assert_eq!(
        fx.closure_kind(ny("2025-01-11 12:00"), Regular),
        Ok(Some(Closed::Weekend))
    );
    assert_eq!(
        fx.closure_kind(ny("2025-01-12 16:59"), Regular),
        Ok(Some(Closed::Weekend))
    );
    // Sunday evening belongs to Monday's session.
    let sunday = fx
        .session_containing(ny("2025-01-12 17:00"), Regular)
        .unwrap();
    assert_eq!(sunday.map(|s| s.date), Some(d("2025-01-13")));
    // Wednesday 17:00 rolls into Thursday's session without a gap.
    let roll = fx
        .session_containing(ny("2025-01-08 17:00"), Regular)
        .unwrap();
    assert_eq!(roll.map(|s| s.date), Some(d("2025-01-09")));
    // No holidays: Christmas and New Year's Day trade.
    assert!(fx.session_on(d("2024-12-25"), Regular).unwrap().is_some());
    assert_eq!(
        fx.next_open(ny("2025-01-11 00:00"), Regular).unwrap().open,
        ny("2025-01-12 17:00")
    );
}

#[test]
fn fx_week_across_dst() {
    // The US clocks change on Sunday 2024-03-10 at 02:00, before the 17:00 open.
    let week = sessions(Calendar::Fx, "2024-03-08", "2024-03-11", Regular);
    assert_eq!(week[0].close, utc("2024-03-08 22:00"));
    assert_eq!(week[1].open, utc("2024-03-10 21:00"));
    assert_eq!(week[1].close - week[1].open, 24 * 3600);
    // The Friday session opened on Thursday 17:00 EST.
    assert_eq!(week[0].close - week[0].open, 24 * 3600);
}

#[test]
fn crypto_trades_every_utc_day() {
    let c = Calendar::Crypto;
    let s = sessions(c, "2024-02-28", "2024-03-02", Regular);
    assert_eq!(s.len(), 4); // leap day included, Saturday included
    assert_eq!(s[0].open, utc("2024-02-28 00:00"));
    assert!(s.windows(2).all(|w| w[0].close == w[1].open));
    assert_eq!(c.closure_kind(utc("2024-03-02 12:00"), Regular), Ok(None));
    assert_eq!(c.is_open(utc("2024-12-25 00:00"), Extended), Ok(true));
    assert_eq!(
        c.next_open(utc("2024-03-02 12:00"), Regular).unwrap().open,
        utc("2024-03-03 00:00")
    );
}

#[test]
fn errors_name_the_problem() {
    let x = Calendar::Xnys;
    let err = x
        .sessions(d("2024-02-01"), d("2024-01-01"), Regular)
        .unwrap_err();
    assert!(matches!(err, CalendarError::InvalidRange { .. }), "{err}");

    let err = x
        .sessions(d("1979-12-01"), d("1980-01-31"), Regular)
        .unwrap_err();
    assert!(matches!(err, CalendarError::OutOfCoverage { .. }));
    assert!(err.to_string().contains("1979-12-01"), "{err}");
    assert!(x.is_open(ny("1979-12-28 10:00"), Regular).is_err());
    assert!(x
        .sessions(d("2199-12-01"), d("2200-01-31"), Regular)
        .is_err());
    assert!(x.next_open(utc("2199-12-31 23:00"), Regular).is_err());

    let err = "NYSE".parse::<Calendar>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown calendar `NYSE` (known calendars: XNYS, XNAS, FX, CRYPTO)"
    );
    assert_eq!("xnas".parse::<Calendar>(), Ok(Calendar::Xnas));
    let err = "rth".parse::<SessionHours>().unwrap_err();
    assert!(err.to_string().contains("regular, extended"), "{err}");
}
