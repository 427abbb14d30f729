//! The per-bar rules (`BarRules`, used by the fetch path) say what validation says, bar by bar.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use ktrdr_data::calendar::{Calendar, SessionHours};
use ktrdr_data::types::{parse_timestamp, Bar, Timeframe};
use ktrdr_data::validate::{
    validate_rows, value_defects, BarDefect, BarRules, IssueKind, ValidateOptions,
};

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn bar(at: &str) -> Bar {
    Bar {
        ts: ts(at),
        open: 10.0,
        high: 10.5,
        low: 9.5,
        close: 10.0,
        volume: 100.0,
    }
}

/// One bar per rule, each breaking only that rule (XNYS 1h, Monday 2025-06-02, extended hours).
fn one_defect_each() -> Vec<(Bar, IssueKind)> {
    let b = bar("2025-06-02 14:00:00");
    vec![
        (
            Bar {
                close: f64::NAN,
                ..b
            },
            IssueKind::NonFinite,
        ),
        (
            Bar {
                volume: 1e308,
                ..bar("2025-06-02 15:00:00")
            },
            IssueKind::Implausible,
        ),
        (
            Bar {
                open: -1.0,
                low: -1.0,
                ..bar("2025-06-02 16:00:00")
            },
            IssueKind::NonPositivePrice,
        ),
        (
            Bar {
                high: 9.0,
                low: 9.5,
                ..bar("2025-06-02 17:00:00")
            },
            IssueKind::OhlcInconsistent,
        ),
        (
            Bar {
                volume: -1.0,
                ..bar("2025-06-02 18:00:00")
            },
            IssueKind::NegativeVolume,
        ),
        // 2025-06-03 03:00 New York: before the 04:00 pre-market.
        (bar("2025-06-03 07:00:00"), IssueKind::OutsideSession),
        (bar("2025-06-03 14:20:00"), IssueKind::Misaligned),
        (bar("2025-06-03 16:00:00"), IssueKind::AfterNow),
    ]
}

#[test]
fn each_rule_flags_the_bar_that_breaks_it_as_validation_does() {
    let now = ts("2025-06-03 15:00:00");
    let cases = one_defect_each();
    let rows: Vec<Bar> = cases.iter().map(|(b, _)| *b).collect();
    let span = ts("2025-06-02 00:00:00")..ts("2025-06-04 00:00:00");
    let rules = BarRules::new(
        Calendar::Xnys,
        Timeframe::H1,
        SessionHours::Extended,
        span,
        now,
    )
    .unwrap();
    for (b, kind) in &cases {
        let found: Vec<IssueKind> = rules.defects(b).iter().map(BarDefect::kind).collect();
        assert_eq!(found, [*kind], "{b:?}");
        assert_eq!(rules.check(b).map(|d| d.kind()), Some(*kind));
    }

    let opts = ValidateOptions {
        now: Some(now),
        ..ValidateOptions::default()
    };
    let report = validate_rows(&rows, Calendar::Xnys, Timeframe::H1, &opts).unwrap();
    for (row, (_, kind)) in cases.iter().enumerate() {
        let issue = report.issue(*kind).unwrap();
        assert_eq!(issue.affected, 1, "{kind}");
        assert_eq!(issue.examples[0].row, row, "{kind}");
    }
    let good = bar("2025-06-02 19:00:00");
    assert_eq!(rules.check(&good), None);
}

#[test]
fn a_bar_outside_the_span_is_checked_against_its_own_sessions() {
    let span = ts("2025-06-02 13:00:00")..ts("2025-06-02 14:00:00");
    let rules = BarRules::new(
        Calendar::Xnys,
        Timeframe::H1,
        SessionHours::Extended,
        span,
        ts("2026-01-01 00:00:00"),
    )
    .unwrap();
    // A Tuesday bar on the grid, and a Saturday one.
    assert_eq!(rules.check(&bar("2025-06-10 14:00:00")), None);
    assert_eq!(
        rules.check(&bar("2025-06-14 14:00:00")).map(|d| d.kind()),
        Some(IssueKind::OutsideSession)
    );
}

#[test]
fn value_rules_need_no_calendar() {
    let b = bar("2025-06-02 14:00:00");
    assert!(value_defects(&b).is_empty());
    let bad = Bar {
        high: 9.0,
        low: 9.5,
        volume: -1.0,
        ..b
    };
    assert_eq!(
        value_defects(&bad),
        [
            BarDefect::HighBelowLow {
                high: 9.0,
                low: 9.5
            },
            BarDefect::NegativeVolume { volume: -1.0 }
        ]
    );
    assert_eq!(
        BarDefect::HighBelowLow {
            high: 9.0,
            low: 9.5
        }
        .to_string(),
        "high 9 < low 9.5"
    );
}

#[test]
fn a_weekly_bar_is_checked_against_its_whole_week() {
    // Hurricane Sandy closed Monday and Tuesday 2012-10-29/30; the week still traded.
    let span = ts("2025-06-02 00:00:00")..ts("2025-06-09 00:00:00");
    let rules = BarRules::new(
        Calendar::Xnys,
        Timeframe::W1,
        SessionHours::Regular,
        span,
        ts("2026-01-01 00:00:00"),
    )
    .unwrap();
    assert_eq!(rules.check(&bar("2012-10-29 00:00:00")), None);

    // The same week as the last bar of a file.
    let rows = [bar("2012-10-22 00:00:00"), bar("2012-10-29 00:00:00")];
    let report = validate_rows(
        &rows,
        Calendar::Xnys,
        Timeframe::W1,
        &ValidateOptions::default(),
    )
    .unwrap();
    assert!(!report.has_problems(), "{:?}", report.issues);
}
