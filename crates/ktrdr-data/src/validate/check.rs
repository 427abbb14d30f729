//! The checks: per-bar values, file order and duplicates, sessions and grid, outliers.

use super::outliers;
use super::{Issue, IssueExample, IssueKind, ValidateOptions, ValidationReport, EXAMPLES_PER_KIND};
use crate::calendar::{Calendar, CalendarError, Closed, SessionHours};
use crate::gaps::grid::{self, LocalSession};
use crate::types::{format_timestamp_human, Bar, BarSeries, Timeframe};

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
    let hours = opts.hours.unwrap_or(if tf.is_intraday() {
        SessionHours::Extended
    } else {
        SessionHours::Regular
    });
    let mut v = Validator {
        rows,
        flags: vec![0; rows.len()],
        examples: vec![Vec::new(); IssueKind::ALL.len()],
    };
    v.check_values();
    let order = v.check_order();
    let unchecked_bars = v.check_sessions(&order, calendar, tf, hours)?;
    v.check_outliers(&order);
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

    fn check_values(&mut self) {
        for (i, b) in self.rows.iter().enumerate() {
            let prices = [b.open, b.high, b.low, b.close];
            if prices.iter().chain([&b.volume]).any(|v| !v.is_finite()) {
                self.flag(i, IssueKind::NonFinite, || {
                    "a value is NaN or infinite".into()
                });
                continue;
            }
            if prices.iter().any(|p| *p <= 0.0) {
                self.flag(i, IssueKind::NonPositivePrice, || {
                    "a price is zero or negative".into()
                });
            }
            let (hi, lo) = (b.open.max(b.close), b.open.min(b.close));
            if b.high < hi || b.low > lo || b.high < b.low {
                self.flag(i, IssueKind::OhlcInconsistent, || {
                    if b.high < b.low {
                        format!("high {} < low {}", b.high, b.low)
                    } else if b.high < hi {
                        format!("high {} < max(open, close) {hi}", b.high)
                    } else {
                        format!("low {} > min(open, close) {lo}", b.low)
                    }
                });
            }
            if b.volume < 0.0 {
                self.flag(i, IssueKind::NegativeVolume, || {
                    format!("volume {}", b.volume)
                });
            } else if b.volume == 0.0 {
                self.flag(i, IssueKind::ZeroVolume, || "volume 0".into());
            }
        }
    }

    /// Flags unsorted and duplicate rows; returns the rows in time order with duplicates
    /// removed. The later row wins, as in the store's merge, unless it is impossible (checked
    /// before this) and an earlier one is not: repair must not trade a good bar for a bad one.
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
            let possible = |i: &&usize| !self.is_impossible(**i);
            let winner = *same
                .iter()
                .rev()
                .find(possible)
                .unwrap_or(&same[same.len() - 1]);
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
    fn check_sessions(
        &mut self,
        order: &[usize],
        calendar: Calendar,
        tf: Timeframe,
        hours: SessionHours,
    ) -> Result<usize, CalendarError> {
        let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
            return Ok(0);
        };
        let (from, to) = (self.rows[first].ts, self.rows[last].ts + 1);
        let sessions = grid::sessions_around(calendar, from, to, hours)?;
        // IB's regular-hours first bar (09:30) is a valid anchor even in extended-hours data.
        let regular = match hours {
            SessionHours::Extended if tf.is_intraday() => {
                grid::sessions_around(calendar, from, to, SessionHours::Regular)?
            }
            _ => Vec::new(),
        };
        let coverage = calendar.coverage();
        let step = tf.seconds();
        let mut unchecked = 0;
        for &i in order {
            let ts = self.rows[i].ts;
            let covered = grid::utc_date(ts).is_some_and(|d| coverage.contains(&d));
            if !covered {
                unchecked += 1;
                continue;
            }
            match tf {
                Timeframe::D1 | Timeframe::W1 => {
                    self.check_day_bar(i, ts, tf, &sessions, calendar, hours)
                }
                _ => match grid::containing(&sessions, ts) {
                    None => self.flag(i, IssueKind::OutsideSession, || {
                        closed_detail(calendar, ts, hours)
                    }),
                    Some(s) => {
                        let aligned = grid::on_grid(ts, sessions[s].offset, step)
                            || in_first_slot(&sessions[s], ts, step)
                            || grid::containing(&regular, ts)
                                .is_some_and(|r| in_first_slot(&regular[r], ts, step));
                        if !aligned {
                            self.flag(i, IssueKind::Misaligned, || {
                                format!(
                                    "not on the {tf} grid of the session {}",
                                    sessions[s].session.date
                                )
                            });
                        }
                    }
                },
            }
        }
        Ok(unchecked)
    }

    fn check_day_bar(
        &mut self,
        i: usize,
        ts: i64,
        tf: Timeframe,
        sessions: &[LocalSession],
        calendar: Calendar,
        hours: SessionHours,
    ) {
        let Some(date) = grid::utc_date(ts) else {
            return;
        };
        let has_session = match tf {
            Timeframe::W1 => {
                let monday = date.week(chrono::Weekday::Mon);
                let (a, b) = (monday.first_day(), monday.last_day());
                sessions
                    .iter()
                    .any(|s| a <= s.session.date && s.session.date <= b)
            }
            _ => sessions
                .binary_search_by_key(&date, |s| s.session.date)
                .is_ok(),
        };
        if !has_session {
            self.flag(i, IssueKind::OutsideSession, || {
                format!(
                    "{date} has no {} session ({})",
                    calendar,
                    closed_detail(calendar, ts, hours)
                )
            });
        } else if ts != grid::midnight(date) {
            self.flag(i, IssueKind::Misaligned, || {
                format!("a {tf} bar should sit at 00:00 UTC of its date")
            });
        }
    }

    fn check_outliers(&mut self, order: &[usize]) {
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
        let returns: Vec<f64> = usable
            .windows(2)
            .map(|w| (self.rows[w[1]].close / self.rows[w[0]].close).ln())
            .collect();
        for o in outliers::find(&returns) {
            let (prev, row) = (usable[o.index], usable[o.index + 1]);
            let r = returns[o.index];
            let from = self.rows[prev].close;
            self.flag(row, IssueKind::Outlier, || {
                format!(
                    "close {} after {from}: log return {r:+.4}, {:.1} robust σ from the rolling median",
                    self.rows[row].close, o.score
                )
            });
        }
    }
}

fn in_first_slot(s: &LocalSession, ts: i64, step: i64) -> bool {
    ts < grid::next_grid_point(s.session.open, s.offset, step)
}

fn closed_detail(calendar: Calendar, ts: i64, hours: SessionHours) -> String {
    let why = match calendar.closure_kind(ts, hours) {
        Ok(Some(Closed::Weekend)) => "weekend",
        Ok(Some(Closed::Holiday)) => "holiday",
        Ok(Some(Closed::OutsideHours)) => "outside hours",
        Ok(None) | Err(_) => "closed",
    };
    let local = chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| {
            t.with_timezone(&calendar.time_zone())
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default();
    format!("{calendar} is closed at {local} ({why}, {hours} hours)")
}
