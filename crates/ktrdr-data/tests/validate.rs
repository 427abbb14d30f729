//! Validation and repair: synthetic defects, and every real IB file in ../shared/data/ib.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use chrono::{DateTime, Offset, TimeZone};
use ktrdr_data::calendar::{Calendar, SessionHours};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{parse_timestamp, Bar, Symbol, Timeframe};
use ktrdr_data::validate::{
    repair, validate, validate_rows, IssueKind, RepairOptions, ValidateOptions, ValidationReport,
};

const IB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");

fn raw(symbol: &str, tf: Timeframe) -> Vec<Bar> {
    let store = BarStore::new(IB_DIR);
    let series = store.read_raw(&Symbol::new(symbol).unwrap(), tf).unwrap();
    series.rows.into_iter().map(|r| r.bar).collect()
}

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn bar(at: &str, close: f64) -> Bar {
    Bar {
        ts: ts(at),
        open: close,
        high: close + 0.5,
        low: close - 0.5,
        close,
        volume: 100.0,
    }
}

fn check(rows: &[Bar], cal: Calendar, tf: Timeframe) -> ValidationReport {
    validate_rows(rows, cal, tf, &ValidateOptions::default()).unwrap()
}

/// Only these kinds (with these counts) are present.
fn assert_kinds(report: &ValidationReport, expected: &[(IssueKind, usize)]) {
    let found: Vec<(IssueKind, usize)> =
        report.issues.iter().map(|i| (i.kind, i.affected)).collect();
    assert_eq!(found, expected);
}

#[test]
fn value_and_order_defects_are_counted_per_bar() {
    let mut rows = vec![
        bar("2025-06-02 14:00:00", 10.0),
        bar("2025-06-02 15:00:00", 10.0),
        bar("2025-06-02 13:00:00", 10.0), // unsorted
        bar("2025-06-02 15:00:00", 11.0), // duplicate of row 1, wins
        bar("2025-06-02 16:00:00", 10.0),
        bar("2025-06-02 17:00:00", 10.0),
        bar("2025-06-02 18:00:00", 10.0),
    ];
    rows[4].high = 9.0; // high < close
    rows[5].low = -1.0; // non-positive and low fine otherwise
    rows[6].volume = -1.0;
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_kinds(
        &report,
        &[
            (IssueKind::NonPositivePrice, 1),
            (IssueKind::OhlcInconsistent, 1),
            (IssueKind::NegativeVolume, 1),
            (IssueKind::Duplicate, 1),
            (IssueKind::Unsorted, 1),
        ],
    );
    // Each row names its own kinds.
    let kinds = |row| report.kinds_of_row(row).collect::<Vec<_>>();
    assert_eq!(kinds(0), []);
    assert_eq!(kinds(2), [IssueKind::Unsorted]);
    assert_eq!(kinds(4), [IssueKind::OhlcInconsistent]);
    assert_eq!(kinds(6), [IssueKind::NegativeVolume]);
    assert_eq!(kinds(rows.len()), [], "a row out of range has none");
    let dup = report.issue(IssueKind::Duplicate).unwrap();
    assert_eq!(dup.examples[0].row, 1, "the earlier row is the dropped one");
    assert_eq!(
        report.issue(IssueKind::Unsorted).unwrap().examples[0].row,
        2
    );

    let (series, log) = repair(&rows, &report, RepairOptions::default()).unwrap();
    assert_eq!(log.dropped_for(IssueKind::Duplicate), 1);
    assert_eq!(log.dropped_for(IssueKind::OhlcInconsistent), 1);
    assert_eq!(log.dropped_for(IssueKind::NonPositivePrice), 1);
    assert_eq!(log.reordered, 1);
    assert_eq!(log.output_bars, 4);
    let expect: Vec<i64> = ["13", "14", "15", "18"]
        .iter()
        .map(|h| ts(&format!("2025-06-02 {h}:00:00")))
        .collect();
    assert_eq!(series.ts(), expect.as_slice());
    // The later duplicate won, and no value was edited.
    assert_eq!(series.close()[2], 11.0);
    assert_eq!(series.volume()[3], -1.0);
    // Negative volume is dropped only on request.
    let opts = RepairOptions {
        drop_negative_volume: true,
        ..RepairOptions::default()
    };
    let (series, _) = repair(&rows, &report, opts).unwrap();
    assert_eq!(series.len(), 3);
}

#[test]
fn non_finite_values_are_impossible() {
    let mut rows = vec![
        bar("2025-06-02 14:00:00", 10.0),
        bar("2025-06-02 15:00:00", 10.0),
    ];
    rows[1].close = f64::NAN;
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_kinds(&report, &[(IssueKind::NonFinite, 1)]);
    let (series, _) = repair(&rows, &report, RepairOptions::default()).unwrap();
    assert_eq!(series.len(), 1);
}

#[test]
fn a_bar_dated_after_now_is_flagged_with_its_time_and_dropped_by_repair() {
    let rows = vec![
        bar("2025-06-02 14:00:00", 10.0),
        bar("2025-06-02 15:00:00", 10.0),
        bar("9999-12-31 00:00:00", 10.0),
    ];
    // With the system clock (the default), as `ktrdr data validate` runs it.
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert!(report.has_problems(), "{report:?}");
    let after = report
        .issue(IssueKind::AfterNow)
        .expect("an after_now issue");
    assert_eq!(after.affected, 1);
    assert_eq!(after.examples[0].row, 2);
    assert!(
        after.examples[0].detail.contains("9999-12-31 00:00:00"),
        "{}",
        after.examples[0].detail
    );
    let (series, log) = repair(&rows, &report, RepairOptions::default()).unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(log.dropped_for(IssueKind::AfterNow), 1);

    // The present is an option: a bar starting exactly at it is forming, not from the future.
    let at = |now: &str| ValidateOptions {
        now: Some(ts(now)),
        ..ValidateOptions::default()
    };
    let early = validate_rows(
        &rows,
        Calendar::Xnys,
        Timeframe::H1,
        &at("2025-06-02 15:00:00"),
    );
    assert_eq!(early.unwrap().affected(IssueKind::AfterNow), 1);
    let earlier = validate_rows(
        &rows,
        Calendar::Xnys,
        Timeframe::H1,
        &at("2025-06-02 14:59:59"),
    );
    assert_eq!(earlier.unwrap().affected(IssueKind::AfterNow), 2);
}

#[test]
fn finite_but_absurd_values_are_impossible() {
    let mut rows = vec![
        bar("2025-06-02 14:00:00", 10.0),
        bar("2025-06-02 15:00:00", 10.0),
        bar("2025-06-02 16:00:00", 10.0),
    ];
    // A corrupt row can be perfectly consistent: every price 1e308.
    rows[1] = Bar {
        open: 1e308,
        high: 1e308,
        low: 1e308,
        close: 1e308,
        ..rows[1]
    };
    rows[2].volume = 1e300;
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_kinds(&report, &[(IssueKind::Implausible, 2)]);
    let (series, _) = repair(&rows, &report, RepairOptions::default()).unwrap();
    assert_eq!(series.len(), 1);
}

#[test]
fn a_duplicate_never_replaces_a_good_bar_with_an_impossible_one() {
    let mut rows = vec![
        bar("2025-06-02 14:00:00", 10.0),
        bar("2025-06-02 15:00:00", 10.0), // the good one
        bar("2025-06-02 16:00:00", 10.0),
        bar("2025-06-02 15:00:00", 12.0), // later, but high < low
    ];
    rows[3].high = 1.0;
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_kinds(
        &report,
        &[
            (IssueKind::OhlcInconsistent, 1),
            (IssueKind::Duplicate, 1),
            (IssueKind::Unsorted, 1),
        ],
    );
    let duplicate = &report.issue(IssueKind::Duplicate).unwrap().examples[0];
    assert_eq!(duplicate.row, 3);
    assert!(duplicate.detail.contains("earlier row"), "{duplicate:?}");
    let (series, log) = repair(&rows, &report, RepairOptions::default()).unwrap();
    assert_eq!(series.len(), 3);
    assert_eq!(series.bar(1), Some(rows[1]), "the good 15:00 bar is kept");
    assert_eq!(log.dropped.len(), 1);
}

#[test]
fn repair_refuses_a_report_of_other_rows() {
    let rows = vec![bar("2025-06-02 14:00:00", 10.0)];
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    let err = repair(&[], &report, RepairOptions::default()).unwrap_err();
    assert_eq!((err.report_rows, err.rows), (1, 0));
}

#[test]
fn sessions_and_grid_follow_ib() {
    let rows = vec![
        bar("2025-06-02 08:00:00", 10.0), // 04:00 New York: extended open, on the grid
        bar("2025-06-02 13:30:00", 10.0), // 09:30: IB's useRTH first bar
        bar("2025-06-02 14:45:00", 10.0), // 10:45: off the 1h grid
        bar("2025-06-02 23:00:00", 10.0), // 19:00: last extended hour
        bar("2025-06-03 00:00:00", 10.0), // 20:00: closed
        bar("2025-06-07 15:00:00", 10.0), // Saturday
    ];
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_eq!(report.hours, SessionHours::Extended);
    assert_kinds(
        &report,
        &[(IssueKind::OutsideSession, 2), (IssueKind::Misaligned, 1)],
    );
    let outside = report.issue(IssueKind::OutsideSession).unwrap();
    assert!(
        outside.examples[1].detail.contains("weekend"),
        "{outside:?}"
    );
    assert_eq!(
        report.issue(IssueKind::Misaligned).unwrap().examples[0].row,
        2
    );

    // Regular hours only: the pre-market and after-hours bars are outside too.
    let opts = ValidateOptions {
        hours: Some(SessionHours::Regular),
        ..ValidateOptions::default()
    };
    let report = validate_rows(&rows, Calendar::Xnys, Timeframe::H1, &opts).unwrap();
    assert_eq!(report.affected(IssueKind::OutsideSession), 4);
}

#[test]
fn fx_reopening_bar_at_17_15_is_aligned_and_weekend_is_outside() {
    let rows = vec![
        bar("2025-01-06 21:00:00", 1.0), // 16:00 New York
        bar("2025-01-06 22:15:00", 1.0), // 17:15: IDEALPRO reopens after its break
        bar("2025-01-06 23:00:00", 1.0),
        bar("2025-01-11 12:00:00", 1.0), // Saturday
    ];
    let report = check(&rows, Calendar::Fx, Timeframe::H1);
    assert_kinds(&report, &[(IssueKind::OutsideSession, 1)]);
}

#[test]
fn daily_bars_sit_on_session_dates_at_midnight() {
    let rows = vec![
        bar("2025-05-23", 10.0),          // Friday
        bar("2025-05-24", 10.0),          // Saturday
        bar("2025-05-26", 10.0),          // Memorial Day
        bar("2025-05-27 13:30:00", 10.0), // a session date, but not at midnight
    ];
    let report = check(&rows, Calendar::Xnys, Timeframe::D1);
    assert_kinds(
        &report,
        &[(IssueKind::OutsideSession, 2), (IssueKind::Misaligned, 1)],
    );
    // A daily bar stands for its date: the reason names the day and why it has no session
    // (00:00 UTC is no instant of trading, and in New York it is the evening before).
    let details: Vec<&str> = report
        .issue(IssueKind::OutsideSession)
        .unwrap()
        .examples
        .iter()
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        details,
        [
            "Sat 2025-05-24 has no XNYS session (weekend)",
            "Mon 2025-05-26 has no XNYS session (holiday, Memorial Day)"
        ]
    );
}

#[test]
fn an_intraday_bar_on_a_holiday_names_it() {
    // 2025-07-04 10:00 New York, Independence Day.
    let rows = vec![
        bar("2025-07-03 14:00:00", 10.0),
        bar("2025-07-04 14:00:00", 10.0),
    ];
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    let outside = report.issue(IssueKind::OutsideSession).unwrap();
    assert_eq!(
        outside.examples[0].detail,
        "XNYS is closed at Fri 2025-07-04 10:00 EDT (holiday, Independence Day, extended hours)"
    );
}

/// `n` daily bars on the XNYS sessions from `start`, a random walk (1 % a day, from a fixed
/// pseudo-random sequence) from `level`.
fn daily_run(start: &str, n: usize, level: f64) -> Vec<Bar> {
    let from: chrono::NaiveDate = start.parse().unwrap();
    let to = from + chrono::Days::new(n as u64 * 2 + 10);
    let mut close = level;
    Calendar::Xnys
        .sessions(from, to, SessionHours::Regular)
        .unwrap()
        .take(n)
        .enumerate()
        .map(|(i, s)| {
            let u = ((i as u64 * 2_654_435_761) % 1_000) as f64 / 1_000.0;
            close *= 1.0 + 0.02 * (u - 0.5);
            Bar {
                ts: s.date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp(),
                ..bar("2021-01-01", close)
            }
        })
        .collect()
}

#[test]
fn outliers_are_not_scored_across_a_long_hole_in_the_data() {
    // RBLX-like: three months of daily bars near 100, a year without rows, then bars near 70.
    // The first bar after the hole is 30 % below a close of a year before: no one-bar move.
    let mut rows = daily_run("2021-03-10", 60, 100.0);
    rows.extend(daily_run("2022-09-01", 60, 70.0));
    assert!(rows[60].ts - rows[59].ts > 365 * 86_400);
    let report = check(&rows, Calendar::Xnys, Timeframe::D1);
    assert_eq!(report.affected(IssueKind::Outlier), 0, "{report:?}");

    // The same jump between consecutive sessions is one.
    let mut rows = daily_run("2021-03-10", 60, 100.0);
    rows.extend(daily_run("2021-06-07", 60, 70.0));
    assert_eq!(rows[60].ts - rows[59].ts, 4 * 86_400); // Thursday, then Monday
    let report = check(&rows, Calendar::Xnys, Timeframe::D1);
    let outlier = report.issue(IssueKind::Outlier).unwrap();
    assert_eq!(outlier.affected, 1);
    assert_eq!(outlier.examples[0].row, 60);
    // The finding names the bar it compares with.
    let prev = &rows[59];
    assert!(
        outlier.examples[0].detail.contains(&format!(
            "after {} at {}",
            prev.close,
            ktrdr_data::types::format_timestamp_human(prev.ts)
        )),
        "{}",
        outlier.examples[0].detail
    );
}

#[test]
fn a_series_shorter_than_the_window_is_not_scored() {
    // 30 daily bars with one 10 % spike: too few returns for a rolling median and MAD.
    let mut rows = daily_run("2025-03-03", 30, 100.0);
    rows[15].close *= 1.1;
    rows[15].high = rows[15].close;
    let report = check(&rows, Calendar::Xnys, Timeframe::D1);
    assert_eq!(report.affected(IssueKind::Outlier), 0, "{report:?}");
}

#[test]
fn a_trend_is_not_flagged_but_a_bad_tick_is() {
    // Three weeks of hourly regular-session bars rising 0.2 % a bar (a strong trend).
    let start = ts("2025-03-03 15:00:00");
    let mut rows = Vec::new();
    let mut close = 100.0;
    for day in 0..21 {
        for hour in 0..6 {
            let t = start + day * 86_400 + hour * 3600;
            let wd = (day % 7) as i32;
            if wd >= 5 {
                continue;
            }
            close *= 1.002 + 0.0005 * f64::from((hour as i32 * 7 + wd) % 5 - 2);
            rows.push(Bar {
                ts: t,
                open: close,
                high: close,
                low: close,
                close,
                volume: 1.0,
            });
        }
    }
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_eq!(report.affected(IssueKind::Outlier), 0, "{report:?}");
    let spike = 40;
    rows[spike].close *= 1.08;
    rows[spike].high = rows[spike].close;
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    let outlier = report.issue(IssueKind::Outlier).unwrap();
    assert_eq!(outlier.examples[0].row, spike);
}

#[test]
fn a_series_validates_like_its_rows() {
    let store = BarStore::new(IB_DIR);
    let series = store
        .load(&Symbol::new("AAPL").unwrap(), Timeframe::M5)
        .unwrap();
    let a = validate(
        &series,
        Calendar::Xnas,
        Timeframe::M5,
        &ValidateOptions::default(),
    )
    .unwrap();
    let b = check(&raw("AAPL", Timeframe::M5), Calendar::Xnas, Timeframe::M5);
    assert_eq!(a, b);
}

// ---- the real IB files ----

/// UTC offset of New York at `ts`, in seconds (negative).
fn ny_offset(ts: i64) -> i64 {
    let t = DateTime::from_timestamp(ts, 0).unwrap().naive_utc();
    i64::from(
        chrono_tz::America::New_York
            .offset_from_utc_datetime(&t)
            .fix()
            .local_minus_utc(),
    )
}

#[test]
fn msft_1h_shows_double_shifted_regular_hours() {
    let rows = raw("MSFT", Timeframe::H1);
    assert_eq!(rows.len(), 20_758);
    let report = check(&rows, Calendar::Xnys, Timeframe::H1);
    assert_kinds(
        &report,
        &[
            (IssueKind::OutsideSession, 13_244),
            (IssueKind::Misaligned, 2_800),
            (IssueKind::Outlier, 15),
            (IssueKind::ZeroVolume, 2),
        ],
    );
    // The first bar of the file, 2013-12-31 00:30 UTC, is 19:30 New York: the 09:30 open of
    // 2013-12-30 moved by +10 h.
    let mis = report.issue(IssueKind::Misaligned).unwrap();
    assert_eq!(mis.examples[0].bar.ts, ts("2013-12-31 00:30:00"));
    // Until IB extended-hours bars start (2025-02-28), every bar is a regular-hours bar shifted
    // by twice New York's UTC offset (+10 h in winter, +8 h in summer): moved back, all of them
    // land in regular sessions on IB's grid.
    let cut = ts("2025-02-28 00:00:00");
    let unshifted: Vec<Bar> = rows
        .iter()
        .filter(|b| b.ts < cut)
        .map(|b| Bar {
            ts: b.ts + 2 * ny_offset(b.ts - 9 * 3600),
            ..*b
        })
        .collect();
    assert_eq!(unshifted.len(), 19_579);
    let regular = ValidateOptions {
        hours: Some(SessionHours::Regular),
        ..ValidateOptions::default()
    };
    let fixed = validate_rows(&unshifted, Calendar::Xnys, Timeframe::H1, &regular).unwrap();
    assert_eq!(fixed.affected(IssueKind::OutsideSession), 0);
    assert_eq!(fixed.affected(IssueKind::Misaligned), 0);

    // 13 outliers are also off-session or misaligned bars.
    assert_eq!(report.problem_bars(), 16_046);
    let opts = RepairOptions {
        drop_outside_session: true,
        drop_misaligned: true,
        ..RepairOptions::default()
    };
    let (series, log) = repair(&rows, &report, opts).unwrap();
    assert_eq!(log.dropped.len(), 13_244 + 2_800);
    assert_eq!(series.len(), 20_758 - 16_044);
}

#[test]
fn msft_1m_is_clean_but_quiet() {
    let report = check(&raw("MSFT", Timeframe::M1), Calendar::Xnys, Timeframe::M1);
    assert_kinds(
        &report,
        &[(IssueKind::Outlier, 6), (IssueKind::ZeroVolume, 2_573)],
    );
    assert!(report.has_problems());
}

#[test]
fn aapl_5m_has_only_news_sized_moves() {
    let report = check(&raw("AAPL", Timeframe::M5), Calendar::Xnas, Timeframe::M5);
    assert_kinds(
        &report,
        &[(IssueKind::Outlier, 4), (IssueKind::ZeroVolume, 27)],
    );
}

#[test]
fn eurusd_1h_carries_no_volume_and_reopens_at_17_15() {
    let rows = raw("EURUSD", Timeframe::H1);
    let quarter_past = rows.iter().filter(|b| b.ts % 3600 == 900).count();
    assert_eq!(quarter_past, 110);
    let report = check(&rows, Calendar::Fx, Timeframe::H1);
    // The 110 reopening bars at 17:15 New York are not misaligned; every bar has volume 0.
    assert_kinds(
        &report,
        &[(IssueKind::Outlier, 2), (IssueKind::ZeroVolume, 2_591)],
    );
}

#[test]
fn msft_1d_is_clean() {
    let report = check(&raw("MSFT", Timeframe::D1), Calendar::Xnys, Timeframe::D1);
    assert_eq!(report.rows, 11);
    assert!(report.issues.is_empty(), "{report:?}");
    assert!(!report.has_problems());
}
