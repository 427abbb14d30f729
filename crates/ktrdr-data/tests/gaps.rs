//! Gap analysis: classification (holiday, weekend, early close, DST, head timestamp) and every
//! real IB file in ../shared/data/ib.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use ktrdr_data::calendar::{Calendar, Closed, SessionHours};
use ktrdr_data::gaps::{analyze, Gap, GapError, GapKind, GapOptions, GapReport};
use ktrdr_data::planner::{plan_ib, PlanOrder};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{parse_timestamp, Bar, BarSeries, Symbol, Timeframe};

const IB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");
const H: i64 = 3600;

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn series(times: impl IntoIterator<Item = i64>) -> BarSeries {
    BarSeries::from_bars(times.into_iter().map(|ts| Bar {
        ts,
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 1.0,
    }))
    .unwrap()
}

fn opts(hours: SessionHours, start: &str, end: &str) -> GapOptions {
    GapOptions {
        hours,
        start: Some(ts(start)),
        end: Some(ts(end)),
        head: None,
    }
}

fn shape(report: &GapReport) -> Vec<(GapKind, usize)> {
    report
        .gaps
        .iter()
        .map(|g| (g.kind, g.missing_bars))
        .collect()
}

fn gap(start: &str, end: &str, kind: GapKind, missing_bars: usize) -> Gap {
    Gap {
        start: ts(start),
        end: ts(end),
        kind,
        missing_bars,
    }
}

#[test]
fn a_weekend_never_hides_missing_weekdays() {
    // Daily bars on Monday 2024-06-03 and Monday 2024-06-17; the week between is missing.
    let s = series([ts("2024-06-03"), ts("2024-06-17")]);
    let r = analyze(&s, Calendar::Xnys, Timeframe::D1, &GapOptions::default()).unwrap();
    assert_eq!(
        shape(&r),
        [
            (GapKind::Missing, 4), // Tue..Fri
            (GapKind::Weekend, 0),
            (GapKind::Missing, 5), // Mon..Fri
            (GapKind::Weekend, 0),
        ]
    );
    assert_eq!(
        r.gaps[0],
        gap("2024-06-04", "2024-06-08", GapKind::Missing, 4)
    );
    assert_eq!(
        r.gaps[1],
        gap("2024-06-08", "2024-06-10", GapKind::Weekend, 0)
    );
    assert_eq!((r.expected_bars, r.present_bars), (11, 2));
}

#[test]
fn thanksgiving_is_a_holiday_and_black_friday_an_early_close() {
    // Hourly regular-session bars, Wednesday 2024-11-27 to Monday 2024-12-02, none on Friday.
    let mut times = Vec::new();
    for (day, hours) in [("2024-11-27", 7), ("2024-12-02", 7)] {
        let open = ts(&format!("{day} 14:30:00"));
        times.push(open);
        for h in 1..hours {
            times.push(open + 1800 + (h - 1) * H);
        }
    }
    let s = series(times);
    let r = analyze(
        &s,
        Calendar::Xnys,
        Timeframe::H1,
        &GapOptions {
            hours: SessionHours::Regular,
            ..GapOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        r.gaps,
        [
            // Wednesday close to Friday open: Thanksgiving Thursday makes it a holiday.
            gap(
                "2024-11-27 21:00:00",
                "2024-11-29 14:30:00",
                GapKind::Holiday,
                0
            ),
            // Friday closes at 13:00 New York: 09:30, 10:00, 11:00, 12:00 are all there is.
            gap(
                "2024-11-29 14:30:00",
                "2024-11-29 18:00:00",
                GapKind::Missing,
                4
            ),
            gap(
                "2024-11-29 18:00:00",
                "2024-12-02 14:30:00",
                GapKind::Weekend,
                0
            ),
        ]
    );
}

#[test]
fn extended_hours_follow_dst() {
    // One 1h bar per session at 04:00 New York; the analysis expects 16 extended-hours slots a
    // day whatever the UTC offset (Friday before and Monday after the 2025-03-09 switch).
    let s = series([ts("2025-03-07 09:00:00"), ts("2025-03-10 08:00:00")]);
    let r = analyze(
        &s,
        Calendar::Xnys,
        Timeframe::H1,
        &opts(SessionHours::Extended, "2025-03-07 05:00:00", "2025-03-11"),
    )
    .unwrap();
    assert_eq!(
        r.gaps,
        [
            gap(
                "2025-03-07 10:00:00",
                "2025-03-08 01:00:00",
                GapKind::Missing,
                15
            ),
            gap(
                "2025-03-08 01:00:00",
                "2025-03-10 08:00:00",
                GapKind::Weekend,
                0
            ),
            gap(
                "2025-03-10 09:00:00",
                "2025-03-11 00:00:00",
                GapKind::Missing,
                15
            ),
        ]
    );
}

#[test]
fn a_four_hour_grid_sits_on_new_york_wall_clock() {
    // 4h slots of the extended session: 04:00, 08:00, 12:00, 16:00 New York, in UTC 09/13/17/21
    // in winter and 08/12/16/20 in summer.
    for (day, first_utc) in [("2025-01-06", 9), ("2025-07-07", 8)] {
        let r = analyze(
            &BarSeries::new(),
            Calendar::Xnys,
            Timeframe::H4,
            &opts(SessionHours::Extended, day, &format!("{day} 23:59:59")),
        )
        .unwrap();
        let start = ts(&format!("{day} {first_utc:02}:00:00"));
        assert_eq!(
            r.gaps,
            [Gap {
                start,
                end: start + 16 * H,
                kind: GapKind::Missing,
                missing_bars: 4
            }]
        );
    }
}

#[test]
fn slots_before_the_head_timestamp_are_not_missing() {
    let s = series([ts("2024-06-14")]);
    let head = ts("2024-06-12 12:00:00");
    let r = analyze(
        &s,
        Calendar::Xnys,
        Timeframe::D1,
        &GapOptions {
            start: Some(ts("2024-06-10")),
            head: Some(head),
            ..GapOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        r.gaps,
        [
            gap("2024-06-10", "2024-06-12", GapKind::BeforeHead, 2),
            // The head falls inside Wednesday's slot: that bar can exist, so it is missing.
            gap("2024-06-12", "2024-06-14", GapKind::Missing, 2),
        ]
    );
    let fill: Vec<(i64, i64)> = r.to_fill().map(|g| (g.start, g.end)).collect();
    assert_eq!(fill, [(ts("2024-06-12"), ts("2024-06-14"))]);
}

#[test]
fn fx_is_closed_only_at_weekends() {
    // EURUSD hourly, Friday 2025-01-10 20:00 UTC (15:00 New York) to Monday 01:00 UTC.
    let s = series([ts("2025-01-10 20:00:00"), ts("2025-01-13 01:00:00")]);
    let r = analyze(&s, Calendar::Fx, Timeframe::H1, &GapOptions::default()).unwrap();
    assert_eq!(
        r.gaps,
        [
            gap(
                "2025-01-10 21:00:00",
                "2025-01-10 22:00:00",
                GapKind::Missing,
                1
            ),
            gap(
                "2025-01-10 22:00:00",
                "2025-01-12 22:00:00",
                GapKind::Weekend,
                0
            ),
            gap(
                "2025-01-12 22:00:00",
                "2025-01-13 01:00:00",
                GapKind::Missing,
                3
            ),
        ]
    );
}

#[test]
fn weekly_slots_one_per_trading_week() {
    let s = series([ts("2024-12-02"), ts("2024-12-23")]);
    let r = analyze(&s, Calendar::Xnys, Timeframe::W1, &GapOptions::default()).unwrap();
    assert_eq!(
        r.gaps,
        [gap("2024-12-09", "2024-12-23", GapKind::Missing, 2)]
    );
}

#[test]
fn an_inverted_range_is_an_error() {
    let err = analyze(
        &BarSeries::new(),
        Calendar::Xnys,
        Timeframe::H1,
        &opts(SessionHours::Regular, "2025-01-02", "2025-01-01"),
    )
    .unwrap_err();
    assert!(matches!(err, GapError::InvalidRange { .. }));
    assert!(
        err.to_string()
            .contains("start 2025-01-02 00:00:00 is not before end 2025-01-01 00:00:00"),
        "{err}"
    );
}

// ---- the real IB files ----

fn load(symbol: &str, tf: Timeframe) -> BarSeries {
    BarStore::new(IB_DIR)
        .load(&Symbol::new(symbol).unwrap(), tf)
        .unwrap()
}

fn run(symbol: &str, tf: Timeframe, cal: Calendar, hours: SessionHours) -> GapReport {
    let s = load(symbol, tf);
    let r = analyze(
        &s,
        cal,
        tf,
        &GapOptions {
            hours,
            ..GapOptions::default()
        },
    )
    .unwrap();
    check_partition(&r, cal);
    r
}

/// Gaps are ordered and disjoint; each closure agrees with the calendar, which says the market
/// is closed throughout and names the kind on at least one day of it.
fn check_partition(r: &GapReport, cal: Calendar) {
    for w in r.gaps.windows(2) {
        assert!(w[0].end <= w[1].start, "{w:?}");
    }
    for g in r.gaps.iter().filter(|g| g.kind.is_closure()) {
        let mut kinds = Vec::new();
        let mut t = g.start;
        while t < g.end {
            assert!(!cal.is_open(t, r.hours).unwrap(), "{g:?} open at {t}");
            kinds.push(cal.closure_kind(t, r.hours).unwrap());
            t += 6 * H;
        }
        let want = match g.kind {
            GapKind::Weekend => Closed::Weekend,
            GapKind::Holiday => Closed::Holiday,
            _ => Closed::OutsideHours,
        };
        // Daily slots are UTC days, so overnight closures between them are empty.
        assert!(
            kinds.contains(&Some(want)) || !r.timeframe.is_intraday(),
            "{g:?}: calendar says {kinds:?}"
        );
    }
}

fn summary(r: &GapReport, kind: GapKind) -> (usize, usize) {
    let s = r.summary().into_iter().find(|(k, _)| *k == kind).unwrap().1;
    (s.intervals, s.missing_bars)
}

#[test]
fn msft_1h_shifted_bars_fill_nothing() {
    let r = run(
        "MSFT",
        Timeframe::H1,
        Calendar::Xnys,
        SessionHours::Extended,
    );
    // 13,244 bars sit at night (see validate.rs): they are unplaced, not counted as present.
    assert_eq!(r.unplaced_bars, 13_244);
    assert_eq!((r.expected_bars, r.present_bars), (45_948, 7_498));
    assert_eq!(summary(&r, GapKind::Missing), (2_811, 38_450));
    assert_eq!(summary(&r, GapKind::Holiday).0, 108);
    assert_eq!(summary(&r, GapKind::Weekend).0, 516);
    // Regular hours: the shifted regular-session bars land at night and fill almost nothing.
    let reg = run("MSFT", Timeframe::H1, Calendar::Xnys, SessionHours::Regular);
    assert_eq!((reg.expected_bars, reg.present_bars), (20_063, 408));
    // Planning the refill: 30-day IB windows, newest first.
    let plan = plan_ib(reg.to_fill(), Timeframe::H1, PlanOrder::NewestFirst).unwrap();
    let newest = reg.of_kind(GapKind::Missing).map(|g| g.end).max().unwrap();
    assert_eq!(plan.requests[0].end, newest);
    // 2,876 holes over 11.4 years: one 30-day window each month instead of one request a hole.
    assert_eq!(reg.of_kind(GapKind::Missing).count(), 2_876);
    assert_eq!(plan.len(), 138);
}

#[test]
fn msft_1m_misses_only_a_few_pre_market_minutes() {
    let r = run(
        "MSFT",
        Timeframe::M1,
        Calendar::Xnys,
        SessionHours::Extended,
    );
    assert_eq!(r.unplaced_bars, 0);
    assert_eq!(
        r.of_kind(GapKind::Missing).copied().collect::<Vec<_>>(),
        [
            gap(
                "2025-06-03 08:00:00",
                "2025-06-03 08:05:00",
                GapKind::Missing,
                5
            ),
            gap(
                "2025-06-05 08:00:00",
                "2025-06-05 08:06:00",
                GapKind::Missing,
                6
            ),
            gap(
                "2025-06-06 08:00:00",
                "2025-06-06 08:01:00",
                GapKind::Missing,
                1
            ),
        ]
    );
    // The file starts 2025-05-30 08:02, so the analysis starts there too.
    let reg = run("MSFT", Timeframe::M1, Calendar::Xnys, SessionHours::Regular);
    assert_eq!(summary(&reg, GapKind::Missing), (0, 0));
}

#[test]
fn aapl_5m_lacks_all_of_2025_06_05() {
    let r = run(
        "AAPL",
        Timeframe::M5,
        Calendar::Xnas,
        SessionHours::Extended,
    );
    assert_eq!(
        r.of_kind(GapKind::Missing).copied().collect::<Vec<_>>(),
        [gap(
            "2025-06-05 08:00:00",
            "2025-06-06 00:00:00",
            GapKind::Missing,
            192
        )]
    );
}

#[test]
fn eurusd_1h_misses_whole_days() {
    let r = run(
        "EURUSD",
        Timeframe::H1,
        Calendar::Fx,
        SessionHours::Extended,
    );
    assert_eq!(summary(&r, GapKind::Missing), (6, 95));
    assert_eq!(summary(&r, GapKind::Weekend).0, 22);
    assert_eq!(summary(&r, GapKind::OutsideHours).0, 0);
    assert!(r.gaps.contains(&gap(
        "2025-04-01 07:00:00",
        "2025-04-01 21:00:00",
        GapKind::Missing,
        14
    )));
}

#[test]
fn msft_1d_is_complete() {
    let r = run("MSFT", Timeframe::D1, Calendar::Xnys, SessionHours::Regular);
    assert_eq!(
        r.gaps,
        [
            // Memorial Day joins the weekend before it.
            gap("2025-05-24", "2025-05-27", GapKind::Holiday, 0),
            gap("2025-05-31", "2025-06-02", GapKind::Weekend, 0),
        ]
    );
}

#[test]
fn session_hours_are_judged_from_the_bars() {
    use ktrdr_data::gaps::session_hours_of;
    let judge = |symbol, tf, cal| session_hours_of(&load(symbol, tf), cal, tf).unwrap();
    // The IB exports were fetched with useRTH=False: pre-market bars from 04:00 New York.
    for (symbol, tf, cal, hours) in [
        (
            "AAPL",
            Timeframe::M5,
            Calendar::Xnas,
            SessionHours::Extended,
        ),
        (
            "MSFT",
            Timeframe::M1,
            Calendar::Xnys,
            SessionHours::Extended,
        ),
        ("MSFT", Timeframe::D1, Calendar::Xnys, SessionHours::Regular),
        ("EURUSD", Timeframe::H1, Calendar::Fx, SessionHours::Regular),
    ] {
        assert_eq!(judge(symbol, tf, cal), hours, "{symbol} {tf}");
    }
    // Regular hours only (Tuesday 2025-06-03, 09:30 to 15:00 New York), then one 08:00 bar.
    let mut times: Vec<i64> = (0..7).map(|i| ts("2025-06-03 13:30:00") + i * H).collect();
    let regular = series(times.iter().copied());
    assert_eq!(
        session_hours_of(&regular, Calendar::Xnys, Timeframe::H1).unwrap(),
        SessionHours::Regular
    );
    times.push(ts("2025-06-04 12:00:00"));
    assert_eq!(
        session_hours_of(&series(times), Calendar::Xnys, Timeframe::H1).unwrap(),
        SessionHours::Extended
    );
    // Bars before the calendar's coverage say nothing.
    let old = series([ts("1979-01-02 03:00:00"), ts("2025-06-03 14:00:00")]);
    assert_eq!(
        session_hours_of(&old, Calendar::Xnys, Timeframe::H1).unwrap(),
        SessionHours::Regular
    );
}
