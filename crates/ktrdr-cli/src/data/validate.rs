//! `ktrdr data validate SYMBOL TF`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use ktrdr_data::store::{write_csv_file, BarStore, RawRow, RawSeries, SkippedRow};
use ktrdr_data::types::{format_timestamp, format_timestamp_human, Bar, Symbol};
use ktrdr_data::validate::{
    repair, validate_rows, IssueKind, RepairLog, RepairOptions, Severity, ValidateOptions,
    ValidationReport,
};
use serde::Serialize;

use super::gaps::{CalendarArgs, ReportFormat};
use super::SeriesArgs;

/// Exit status when validation found warnings or errors: distinct from 1 (the command failed)
/// and from 2 (clap's status for a usage error), so a script can tell them apart.
pub(crate) const EXIT_ISSUES: i32 = 3;

#[derive(Debug, Args)]
#[command(
    after_help = "Checks every row as it stands in the file: OHLC consistency, non-positive prices, \
NaN or absurd values (1e308), bars dated after now, negative volume, duplicates, unsorted rows, bars outside every session of the symbol's calendar \
(how time-zone errors show), bars off the timeframe's grid, and robust outliers (rolling median/MAD \
of log returns). Counts affected bars per issue, with examples (file line, time, values). Rows that \
cannot be read (an empty or non-numeric cell, a bad timestamp) are listed by line and count as errors.\n\n\
--repair writes a clean copy to --output (never over the input unless you name it): sorted, one bar \
per timestamp (the later row wins, unless it is impossible and an earlier one is not), impossible bars and unreadable rows dropped, plus the kinds you ask to drop. Values \
are never edited and bars never invented. Naming the store's own file (by any path) repairs it in \
place under the series lock, so a concurrent `data load` waits instead of interleaving.\n\n\
Exit status: 0 when no warning or error was found (info such as zero volume does not count), \
3 when issues were found (also with --repair: the status describes the input), 1 when the command \
could not run, 2 for a usage error.\n\n\
Examples:\n  ktrdr data validate MSFT 1h\n  ktrdr data validate MSFT 1h --format json\n  ktrdr data validate MSFT 1h --repair --drop-outside-session --drop-misaligned --output /tmp/MSFT_1h.csv"
)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    series: SeriesArgs,
    #[command(flatten)]
    cal: CalendarArgs,
    /// Write a repaired copy of the series to --output.
    #[arg(long, requires = "output")]
    repair: bool,
    /// Where --repair writes the clean series (CSV, canonical form, written atomically).
    #[arg(long, value_name = "FILE", requires = "repair")]
    output: Option<PathBuf>,
    /// With --repair: also drop bars outside every session.
    #[arg(long, requires = "repair")]
    drop_outside_session: bool,
    /// With --repair: also drop bars off the timeframe's grid.
    #[arg(long, requires = "repair")]
    drop_misaligned: bool,
    /// With --repair: also drop bars with negative volume.
    #[arg(long, requires = "repair")]
    drop_negative_volume: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

pub(crate) fn run(a: ValidateArgs, store: &BarStore) -> anyhow::Result<()> {
    let (sym, tf) = (&a.series.symbol, a.series.timeframe);
    let calendar = a.cal.calendar(sym)?;
    let opts = ValidateOptions {
        hours: a.cal.session,
        ..ValidateOptions::default()
    };
    let check = |raw: &RawSeries| -> anyhow::Result<(Vec<Bar>, ValidationReport)> {
        let bars: Vec<Bar> = raw.rows.iter().map(|r| r.bar).collect();
        let report = validate_rows(&bars, calendar, tf, &opts)
            .with_context(|| format!("validating {}", raw.path.display()))?;
        Ok((bars, report))
    };
    let ropts = RepairOptions {
        drop_outside_session: a.drop_outside_session,
        drop_misaligned: a.drop_misaligned,
        drop_negative_volume: a.drop_negative_volume,
    };
    let output = a.output.as_deref().filter(|_| a.repair);
    let (raw, report, repaired) = match output.map(|p| (p, store.series_at(p))) {
        None => {
            let raw = store.read_raw(sym, tf)?;
            let (_, report) = check(&raw)?;
            (raw, report, None)
        }
        // Repairing the series in place: read, check, repair and replace under the series
        // lock, so a concurrent save can neither interleave with the write nor be lost.
        Some((path, Some((s, t)))) if s == *sym && t == tf => {
            let (raw, report, log) = store
                .replace_series_with(sym, tf, |raw| -> anyhow::Result<_> {
                    let (bars, report) = check(&raw)?;
                    let (series, log) = repair(&bars, &report, ropts)?;
                    Ok((series, (raw, report, log)))
                })
                .with_context(|| format!("repairing {} in place", path.display()))?;
            (raw, report, Some((path.to_owned(), log)))
        }
        Some((path, target)) => {
            let raw = store.read_raw(sym, tf)?;
            let (bars, report) = check(&raw)?;
            let (series, log) = repair(&bars, &report, ropts)?;
            match target {
                // Another series' file: replaced under that series' lock.
                Some((s, t)) => store.replace_series(&s, t, &series),
                None => write_csv_file(path, &series),
            }
            .with_context(|| format!("writing the repaired series to {}", path.display()))?;
            (raw, report, Some((path.to_owned(), log)))
        }
    };

    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        ReportFormat::Json => {
            let doc = ValidateJson::new(sym, &raw, &report, repaired.as_ref());
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        ReportFormat::Table => write_table(&mut out, sym, &raw, &report, repaired.as_ref())?,
    }
    out.flush()?;
    drop(out);
    if report.has_problems() || !raw.skipped.is_empty() {
        // The report is the output; the status tells scripts that it found something.
        std::process::exit(EXIT_ISSUES);
    }
    Ok(())
}

/// How many unreadable rows the table lists (JSON lists them all).
const SKIPPED_SHOWN: usize = 20;

fn write_table(
    out: &mut impl Write,
    sym: &Symbol,
    raw: &RawSeries,
    r: &ValidationReport,
    repaired: Option<&(PathBuf, RepairLog)>,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{sym} {} · {} · {} hours · {} rows · {}",
        r.timeframe,
        r.calendar,
        r.hours,
        r.rows,
        raw.path.display()
    )?;
    let rows = &raw.rows[..];
    if !raw.skipped.is_empty() {
        writeln!(
            out,
            "{} unreadable rows (errors; not checked, --repair drops them):",
            raw.skipped.len()
        )?;
        for s in raw.skipped.iter().take(SKIPPED_SHOWN) {
            writeln!(out, "  {s}")?;
        }
        if raw.skipped.len() > SKIPPED_SHOWN {
            writeln!(
                out,
                "  ... and {} more (--format json lists every one)",
                raw.skipped.len() - SKIPPED_SHOWN
            )?;
        }
    }
    if r.unchecked_bars > 0 {
        writeln!(
            out,
            "{} bars lie outside the calendar's coverage and were not session-checked",
            r.unchecked_bars
        )?;
    }
    if r.issues.is_empty() && raw.skipped.is_empty() {
        writeln!(out, "no issues found")?;
    } else if r.issues.is_empty() {
        writeln!(out, "no issues found in the readable rows")?;
    } else {
        writeln!(out)?;
        writeln!(out, "{:<20}  {:<8}  {:>8}", "issue", "severity", "bars")?;
        for i in &r.issues {
            writeln!(
                out,
                "{:<20}  {:<8}  {:>8}",
                i.kind.as_str(),
                severity(i.severity),
                i.affected
            )?;
        }
        writeln!(
            out,
            "\n{} distinct bars with a warning or error",
            r.problem_bars()
        )?;
        for i in &r.issues {
            writeln!(out, "\n{} (first {}):", i.kind, i.examples.len())?;
            for e in &i.examples {
                let b = e.bar;
                writeln!(
                    out,
                    "  line {:>6}  {}  o {} h {} l {} c {} v {}  {}",
                    line_of(rows, e.row),
                    format_timestamp_human(b.ts),
                    Value(b.open),
                    Value(b.high),
                    Value(b.low),
                    Value(b.close),
                    Value(b.volume),
                    e.detail
                )?;
            }
        }
    }
    if let Some((path, log)) = repaired {
        writeln!(
            out,
            "\nrepaired: {} rows → {} bars written to {} ({} rows moved by sorting)",
            log.input_rows,
            log.output_bars,
            path.display(),
            log.reordered
        )?;
        if !raw.skipped.is_empty() {
            writeln!(out, "  dropped {} × unreadable", raw.skipped.len())?;
        }
        for kind in IssueKind::ALL {
            let n = log.dropped_for(kind);
            if n > 0 {
                writeln!(out, "  dropped {n} × {kind}")?;
            }
        }
    }
    Ok(())
}

/// A price or volume as the file would show it, but a corrupt one (`1e308`) in scientific
/// notation rather than as 309 digits.
struct Value(f64);

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.abs() >= 1e15 {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

fn line_of(rows: &[RawRow], row: usize) -> u64 {
    rows.get(row).map_or(0, |r| r.line)
}

#[derive(Serialize)]
struct ValidateJson<'a> {
    symbol: &'a str,
    file: &'a std::path::Path,
    #[serde(flatten)]
    report: &'a ValidationReport,
    problem_bars: usize,
    has_problems: bool,
    /// Rows that could not be read, every one (line, field, value, reason).
    unreadable_rows: &'a [SkippedRow],
    example_lines: Vec<ExampleLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repair: Option<RepairJson<'a>>,
}

/// File line and readable time of each example, in the order of the report's examples.
#[derive(Serialize)]
struct ExampleLine {
    kind: IssueKind,
    line: u64,
    time: String,
}

#[derive(Serialize)]
struct RepairJson<'a> {
    output: &'a std::path::Path,
    #[serde(flatten)]
    log: &'a RepairLog,
}

impl<'a> ValidateJson<'a> {
    fn new(
        sym: &'a Symbol,
        raw: &'a RawSeries,
        report: &'a ValidationReport,
        repaired: Option<&'a (PathBuf, RepairLog)>,
    ) -> Self {
        let rows = &raw.rows;
        ValidateJson {
            symbol: sym.as_str(),
            file: &raw.path,
            report,
            problem_bars: report.problem_bars(),
            has_problems: report.has_problems() || !raw.skipped.is_empty(),
            unreadable_rows: &raw.skipped,
            example_lines: report
                .issues
                .iter()
                .flat_map(|i| {
                    i.examples.iter().map(|e| ExampleLine {
                        kind: i.kind,
                        line: line_of(rows, e.row),
                        time: format_timestamp(e.bar.ts),
                    })
                })
                .collect(),
            repair: repaired.map(|(output, log)| RepairJson { output, log }),
        }
    }
}
