//! The checks: per-bar values, file order and duplicates, sessions and grid, outliers.

use super::bar_rules::{default_hours, now_unix, value_defects, BarDefect, BarRules};
use super::outliers;
use super::{Issue, IssueExample, IssueKind, ValidateOptions, ValidationReport, EXAMPLES_PER_KIND};
use crate::calendar::{Calendar, CalendarError};
use crate::types::{format_timestamp_human, kept_duplicate, Bar, BarSeries, Timeframe};

/// Validates a series (already sorted and unique, so order checks find nothing).
pub fn validate(
    series: &BarSeries,
    calendar: Calendar,
    tf: Timeframe,
    opts: &ValidateOptions,
) -> Result<ValidationReport, CalendarError> {
    let rows: Vec<Bar> = series.iter().collect();
    validate_rows(&rows, calendar, tf, opts)
}

/// Validates rows as they stand in a file (any order, duplicates allowed).
pub fn validate_rows(
    rows: &[Bar],
    calendar: Calendar,
    tf: Timeframe,
    opts: &ValidateOptions,
) -> Result<ValidationReport, CalendarError> {
    let hours = opts.hours.unwrap_or_else(|| default_hours(tf));
    let span = match (
        rows.iter().map(|b| b.ts).min(),
        rows.iter().map(|b| b.ts).max(),
    ) {
        (Some(first), Some(last)) => first..last.saturating_add(1),
        _ => 0..0,
    };
    let now = opts.now.unwrap_or_else(now_unix);
    let rules = BarRules::new(calendar, tf, hours, span, now)?;
    let mut v = Validator {
        rows,
        flags: vec![0; rows.len()],
        examples: vec![Vec::new(); IssueKind::ALL.len()],
    };
    v.check_values(&rules);
    let order = v.check_order();
    let unchecked_bars = v.check_sessions(&order, &rules);
    v.check_outliers(&order, tf);
    let Validator {
        flags, examples, ..
    } = v;
    let issues = IssueKind::ALL
        .iter()
        .zip(examples)
        .filter_map(|(&kind, examples)| {
            let affected = flags.iter().filter(|f| *f & kind.bit() != 0).count();
            (affected > 0).then_some(Issue {
                kind,
                severity: kind.severity(),
                affected,
                examples,
            })
        })
        .collect();
    Ok(ValidationReport {
        calendar,
        timeframe: tf,
        hours,
        rows: rows.len(),
        unchecked_bars,
        issues,
        flags,
    })
}

struct Validator<'a> {
    rows: &'a [Bar],
    flags: Vec<u16>,
    examples: Vec<Vec<IssueExample>>,
}

impl Validator<'_> {
    fn flag(&mut self, row: usize, kind: IssueKind, detail: impl FnOnce() -> String) {
        let f = &mut self.flags[row];
        if *f & kind.bit() != 0 {
            return;
        }
        *f |= kind.bit();
        let ex = &mut self.examples[kind as usize];
        if ex.len() < EXAMPLES_PER_KIND {
            ex.push(IssueExample {
                row,
                bar: self.rows[row],
                detail: detail(),
            });
        }
    }

    fn flag_defect(&mut self, row: usize, defect: BarDefect) {
        self.flag(row, defect.kind(), || defect.to_string());
    }

    fn check_values(&mut self, rules: &BarRules) {
        for (i, b) in self.rows.iter().enumerate() {
            let values = value_defects(b);
            let non_finite = values.first() == Some(&BarDefect::NonFinite);
            for defect in values.into_iter().chain(rules.after_now(b.ts)) {
                self.flag_defect(i, defect);
            }
            if b.volume == 0.0 && !non_finite {
                self.flag(i, IssueKind::ZeroVolume, || "volume 0".into());
            }
        }
    }

    /// Flags unsorted and duplicate rows; returns the rows in time order with duplicates
    /// removed, the kept one chosen by the store's rule ([`kept_duplicate`]; impossibility is
    /// checked before this).
    fn check_order(&mut self) -> Vec<usize> {
        let mut max_ts = i64::MIN;
        for i in 0..self.rows.len() {
            let ts = self.rows[i].ts;
            if ts < max_ts {
                self.flag(i, IssueKind::Unsorted, || {
                    format!("comes after {} in the file", format_timestamp_human(max_ts))
                });
            }
            max_ts = max_ts.max(ts);
        }
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by_key(|&i| self.rows[i].ts); // stable: file order among equal timestamps
        let mut unique: Vec<usize> = Vec::with_capacity(order.len());
        for same in order.chunk_by(|&a, &b| self.rows[a].ts == self.rows[b].ts) {
            // The common case, one row per timestamp, costs no flag lookups.
            if let [only] = same {
                unique.push(*only);
                continue;
            }
            let winner = same[kept_duplicate(same, |&i| self.is_impossible(i))];
            for &i in same.iter().filter(|&&i| i != winner) {
                let detail = if i < winner {
                    "duplicate timestamp; a later row with it is kept"
                } else {
                    "duplicate timestamp; an earlier row with it is kept (this one is impossible)"
                };
                self.flag(i, IssueKind::Duplicate, || detail.into());
            }
            unique.push(winner);
        }
        unique
    }

    fn is_impossible(&self, row: usize) -> bool {
        IssueKind::ALL
            .iter()
            .any(|k| k.is_impossible() && self.flags[row] & k.bit() != 0)
    }

    /// Session and grid checks; returns the number of bars the calendar does not cover.
    fn check_sessions(&mut self, order: &[usize], rules: &BarRules) -> usize {
        let mut unchecked = 0;
        for &i in order {
            let ts = self.rows[i].ts;
            if !rules.is_covered(ts) {
                unchecked += 1;
            } else if let Some(defect) = rules.time_defect(ts) {
                self.flag_defect(i, defect);
            }
        }
        unchecked
    }

    fn check_outliers(&mut self, order: &[usize], tf: Timeframe) {
        // Returns between consecutive bars with usable closes (impossible bars would make
        // their neighbours look like outliers).
        let bad = IssueKind::ALL
            .iter()
            .filter(|k| k.is_impossible())
            .fold(0u16, |m, k| m | k.bit());
        let usable: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| self.flags[i] & bad == 0)
            .collect();
        // Each run of bars without a long hole between two of them is scored on its own: a
        // return across the hole is no one-bar move, and the bars beyond it are another regime.
        let rows = self.rows;
        let max_gap = outliers::max_gap(tf.seconds());
        for run in usable.chunk_by(|&a, &b| rows[b].ts - rows[a].ts <= max_gap) {
            let returns: Vec<f64> = run
                .windows(2)
                .map(|w| (rows[w[1]].close / rows[w[0]].close).ln())
                .collect();
            for o in outliers::find(&returns) {
                let (prev, row) = (rows[run[o.index]], run[o.index + 1]);
                let r = returns[o.index];
                self.flag(row, IssueKind::Outlier, || {
                    format!(
                        "close {} after {} at {}: log return {r:+.4}, {:.1} robust σ from the \
                         rolling median",
                        rows[row].close,
                        prev.close,
                        format_timestamp_human(prev.ts),
                        o.score
                    )
                });
            }
        }
    }
}
