//! `ktrdr data gaps SYMBOL TF`.

use std::io::{BufWriter, Write};

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use ktrdr_data::calendar::{Calendar, CalendarMap, SessionHours};
use ktrdr_data::gaps::{analyze, session_hours_of, Gap, GapKind, GapOptions, GapReport};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, format_timestamp_human, Symbol};
use serde::Serialize;

use super::{load_readable, time_bounds, DateArg, SeriesArgs};

/// How `gaps` and `validate` render their report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ReportFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
}

/// Calendar and session hours, shared by `gaps` and `validate`.
#[derive(Debug, Args)]
pub(crate) struct CalendarArgs {
    /// Session hours bars are expected in: regular or extended [default: `gaps` expects the
    /// hours the stored bars show (extended once an intraday bar starts outside regular hours,
    /// as IB data fetched with useRTH=False does); `validate` accepts extended hours for
    /// intraday bars; 1d and 1w are regular].
    #[arg(long, value_name = "HOURS")]
    pub(crate) session: Option<SessionHours>,
    /// Calendar to use instead of the symbol's: XNYS, XNAS, FX, CRYPTO [default: from
    /// $KTRDR_HOME/calendars.toml; six-letter currency pairs are FX, others XNYS].
    #[arg(long, value_name = "NAME")]
    pub(crate) calendar: Option<Calendar>,
}

impl CalendarArgs {
    pub(crate) fn calendar(&self, symbol: &Symbol) -> anyhow::Result<Calendar> {
        match self.calendar {
            Some(c) => Ok(c),
            None => Ok(CalendarMap::load()
                .context("loading the symbol → calendar mapping")?
                .calendar_for(symbol)),
        }
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Every expected bar slot of every session (calendar × timeframe × session hours) is checked; \
missing slots are merged into intervals, and the closed time between sessions is shown as weekend, \
holiday or outside-hours intervals (with --all). A weekend never hides missing weekdays.\n\n\
Bars that sit in no expected slot (outside the session hours, or shifted by a time-zone error) fill \
nothing and are counted as 'unplaced'; `ktrdr data validate` lists them.\n\n\
Examples:\n  ktrdr data gaps MSFT 1h\n  ktrdr data gaps MSFT 1h --session regular --start 2025-03-01 --end 2025-03-31\n  ktrdr data gaps EURUSD 1h --all --format json"
)]
pub(crate) struct GapsArgs {
    #[command(flatten)]
    series: SeriesArgs,
    #[command(flatten)]
    cal: CalendarArgs,
    /// Start of the analysed range (UTC) [default: the first stored bar].
    #[arg(long, value_name = "DATE")]
    start: Option<DateArg>,
    /// End of the analysed range (UTC, inclusive; a date alone includes that day) [default:
    /// the last stored bar].
    #[arg(long, value_name = "DATE")]
    end: Option<DateArg>,
    /// The instrument's first available bar at the source (UTC): empty slots before it are
    /// `before_head`, not missing [default: none known].
    #[arg(long, value_name = "DATE")]
    head: Option<DateArg>,
    /// List closures (weekend, holiday, outside hours) too, not only missing bars.
    #[arg(long)]
    all: bool,
    /// Print at most N intervals in the table (0: all).
    #[arg(long, default_value_t = 50, value_name = "N")]
    limit: usize,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

pub(crate) fn run(a: GapsArgs, store: &BarStore) -> anyhow::Result<()> {
    let (sym, tf) = (&a.series.symbol, a.series.timeframe);
    let (lo, hi) = time_bounds(a.start, a.end)?;
    let calendar = a.cal.calendar(sym)?;
    let series = load_readable(store, sym, tf)?;
    let hours = match a.cal.session {
        Some(hours) => hours,
        None => session_hours_of(&series, calendar, tf)
            .with_context(|| format!("judging the session hours of {sym} {tf}"))?,
    };
    // Bounds left open default to the stored bars; say which bound went wrong, in dates.
    let start = lo.or(series.first_ts());
    let end = hi.map(|h| h + 1).or(series.last_ts().map(|t| t + 1));
    let (Some(start), Some(end)) = (start, end) else {
        bail!("{sym} {tf} has no bars stored; give --start and --end to see what a range lacks");
    };
    if start >= end {
        match (lo, hi) {
            (Some(l), None) => bail!(
                "--start {} is after the last stored bar ({}); give --end as well",
                format_timestamp_human(l),
                format_timestamp_human(end - 1)
            ),
            (None, Some(h)) => bail!(
                "--end {} is before the first stored bar ({}); give --start as well",
                format_timestamp_human(h),
                format_timestamp_human(start)
            ),
            _ => {}
        }
    }
    let opts = GapOptions {
        hours,
        start: Some(start),
        end: Some(end),
        head: a.head.map(|d| d.ts),
    };
    let report = analyze(&series, calendar, tf, &opts)
        .with_context(|| format!("gap analysis of {sym} {tf}"))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &GapsJson::new(sym, &report))?;
            writeln!(out)?;
        }
        ReportFormat::Table => write_table(&mut out, sym, &report, a.all, a.limit)?,
    }
    out.flush()?;
    Ok(())
}

fn write_table(
    out: &mut impl Write,
    sym: &Symbol,
    r: &GapReport,
    all: bool,
    limit: usize,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{sym} {} · {} · {} hours · {} to {} UTC",
        r.timeframe,
        r.calendar,
        r.hours,
        format_timestamp_human(r.start),
        // The range is half-open; show its last second.
        format_timestamp_human(r.end - 1),
    )?;
    let pct = if r.expected_bars == 0 {
        100.0
    } else {
        100.0 * r.present_bars as f64 / r.expected_bars as f64
    };
    writeln!(
        out,
        "expected bars {} · present {} ({pct:.1} %) · unplaced bars {}",
        r.expected_bars, r.present_bars, r.unplaced_bars
    )?;
    let coverage = r.calendar.coverage();
    for (from, to) in r.uncovered() {
        writeln!(
            out,
            "note: {} sessions are known for {} to {}; nothing is expected from {} to {}",
            r.calendar,
            coverage.start(),
            coverage.end(),
            format_timestamp_human(from),
            format_timestamp_human(to),
        )?;
    }
    let listed: Vec<&Gap> = r
        .gaps
        .iter()
        .filter(|g| all || !g.kind.is_closure())
        .collect();
    writeln!(out)?;
    if listed.is_empty() {
        writeln!(out, "no missing bars")?;
    } else {
        writeln!(
            out,
            "{:<19}  {:<19}  {:<13}  {:>7}  {:>9}",
            "start (UTC)", "end (UTC)", "kind", "bars", "length"
        )?;
        let shown = if limit == 0 { listed.len() } else { limit };
        for g in listed.iter().take(shown) {
            writeln!(
                out,
                "{:<19}  {:<19}  {:<13}  {:>7}  {:>9}",
                format_timestamp_human(g.start),
                format_timestamp_human(g.end),
                g.kind.as_str(),
                g.missing_bars,
                duration(g.end - g.start),
            )?;
        }
        if listed.len() > shown {
            writeln!(out, "… {} more (--limit 0 shows all)", listed.len() - shown)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<13}  {:>9}  {:>7}  {:>9}",
        "summary", "intervals", "bars", "length"
    )?;
    for (kind, s) in r.summary() {
        if s.intervals == 0 && kind != GapKind::Missing {
            continue;
        }
        writeln!(
            out,
            "{:<13}  {:>9}  {:>7}  {:>9}",
            kind.as_str(),
            s.intervals,
            s.missing_bars,
            duration(s.seconds)
        )?;
    }
    Ok(())
}

fn duration(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h:02}h"),
    }
}

#[derive(Serialize)]
struct GapsJson<'a> {
    symbol: &'a str,
    timeframe: &'a str,
    calendar: Calendar,
    session: SessionHours,
    start: String,
    end: String,
    expected_bars: usize,
    present_bars: usize,
    unplaced_bars: usize,
    /// Parts of the range the calendar does not cover (nothing expected there).
    uncovered: Vec<(String, String)>,
    summary: Vec<SummaryJson>,
    gaps: Vec<GapJson>,
}

#[derive(Serialize)]
struct SummaryJson {
    kind: GapKind,
    intervals: usize,
    missing_bars: usize,
    seconds: i64,
}

#[derive(Serialize)]
struct GapJson {
    start: String,
    end: String,
    kind: GapKind,
    missing_bars: usize,
}

impl<'a> GapsJson<'a> {
    fn new(sym: &'a Symbol, r: &GapReport) -> Self {
        GapsJson {
            symbol: sym.as_str(),
            timeframe: r.timeframe.as_str(),
            calendar: r.calendar,
            session: r.hours,
            start: format_timestamp(r.start),
            end: format_timestamp(r.end),
            expected_bars: r.expected_bars,
            present_bars: r.present_bars,
            unplaced_bars: r.unplaced_bars,
            uncovered: r
                .uncovered()
                .into_iter()
                .map(|(from, to)| (format_timestamp(from), format_timestamp(to)))
                .collect(),
            summary: r
                .summary()
                .into_iter()
                .map(|(kind, s)| SummaryJson {
                    kind,
                    intervals: s.intervals,
                    missing_bars: s.missing_bars,
                    seconds: s.seconds,
                })
                .collect(),
            gaps: r
                .gaps
                .iter()
                .map(|g| GapJson {
                    start: format_timestamp(g.start),
                    end: format_timestamp(g.end),
                    kind: g.kind,
                    missing_bars: g.missing_bars,
                })
                .collect(),
        }
    }
}
