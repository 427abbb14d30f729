//! `ktrdr data show SYMBOL TF`.

use std::io::{BufWriter, Write};

use anyhow::Context as _;
use clap::Args;
use ktrdr_data::store::{write_csv, BarStore};
use ktrdr_data::types::{format_timestamp, format_timestamp_human, BarSeries};
use serde::Serialize;

use super::{load_readable, time_bounds, DateArg, SeriesArgs};
use crate::output::Format;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr data show MSFT 1h                      last 10 bars\n  ktrdr data show msft 60m --rows 3            same series, other spellings\n  ktrdr data show MSFT 1d --all --format json\n  ktrdr data show EURUSD 1h --start 2025-03-03 --end 2025-03-03   one whole day (UTC)"
)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    series: SeriesArgs,
    /// How many bars to print, counted back from the last bar in the range.
    #[arg(
        short = 'n',
        long,
        default_value_t = 10,
        value_name = "N",
        conflicts_with = "all"
    )]
    rows: usize,
    /// Print every bar in the range.
    #[arg(long)]
    all: bool,
    /// First bar time to include (UTC): 2025-05-22 or 2025-05-22T08:00:00Z.
    #[arg(long, value_name = "DATE")]
    start: Option<DateArg>,
    /// Last bar time to include (UTC); a date alone includes that whole day.
    #[arg(long, value_name = "DATE")]
    end: Option<DateArg>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(a: ShowArgs, store: &BarStore) -> anyhow::Result<()> {
    let (lo, hi) = time_bounds(a.start, a.end)?;
    let (sym, tf) = (&a.series.symbol, a.series.timeframe);
    let series = load_readable(store, sym, tf)?;
    let range = series.index_range(lo, hi);
    let total = range.len();
    let shown = if a.all {
        range
    } else {
        range.end - total.min(a.rows)..range.end
    };
    let bars = series.slice_index(shown);

    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Table => write_table(&mut out, &a.series, &series, total, &bars)?,
        Format::Csv => write_csv(&mut out, &bars)?,
        Format::Json => {
            let doc = ShowJson {
                symbol: sym.as_str(),
                timeframe: tf.as_str(),
                total_rows: total,
                displayed_rows: bars.len(),
                start: bars.first_ts().map(format_timestamp),
                end: bars.last_ts().map(format_timestamp),
                data: bars
                    .iter()
                    .map(|b| JsonBar {
                        timestamp: format_timestamp(b.ts),
                        open: b.open,
                        high: b.high,
                        low: b.low,
                        close: b.close,
                        volume: b.volume,
                    })
                    .collect(),
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn write_table(
    out: &mut impl Write,
    s: &SeriesArgs,
    all: &BarSeries,
    in_range: usize,
    bars: &BarSeries,
) -> anyhow::Result<()> {
    let span = match (all.first_ts(), all.last_ts()) {
        (Some(f), Some(l)) => format!(
            "{} .. {} UTC",
            format_timestamp_human(f),
            format_timestamp_human(l)
        ),
        _ => "no bars".into(),
    };
    writeln!(
        out,
        "{} {}: {} bars stored ({span}); {in_range} in the requested range, showing {}",
        s.symbol,
        s.timeframe,
        all.len(),
        bars.len()
    )?;
    if bars.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "{:<19}  {:>12} {:>12} {:>12} {:>12} {:>14}",
        "time (UTC)", "open", "high", "low", "close", "volume"
    )?;
    for b in bars.iter() {
        writeln!(
            out,
            "{:<19}  {:>12} {:>12} {:>12} {:>12} {:>14}",
            format_timestamp_human(b.ts),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        )?;
    }
    Ok(())
}

/// `--format json`: the Python CLI's shape (`symbol, timeframe, total_rows, displayed_rows, data`)
/// plus the shown range.
#[derive(Serialize)]
struct ShowJson<'a> {
    symbol: &'a str,
    timeframe: &'a str,
    total_rows: usize,
    displayed_rows: usize,
    start: Option<String>,
    end: Option<String>,
    data: Vec<JsonBar>,
}

#[derive(Serialize)]
struct JsonBar {
    timestamp: String,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
}
