//! `ktrdr indicators compute SYMBOL TF --indicator rsi:period=14 …`: indicators over a stored
//! series. Each indicator runs over every stored bar (so the range shown has no extra warm-up);
//! `--start`/`--end`/`--tail` only choose the rows printed.

use std::io::{BufWriter, Write};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, format_timestamp_human};
use ktrdr_indicators::registry::help_text;
use ktrdr_indicators::{IndicatorOutput, IndicatorSpec};
use serde_json::{Map, Value};

use crate::data::{load_readable, time_bounds, DateArg, SeriesArgs};
use crate::output::{Format, UsageError};
use crate::Context;

/// Technical indicators over the local store.
#[derive(Debug, Args)]
pub(crate) struct IndicatorsArgs {
    #[command(subcommand)]
    command: IndicatorsCommand,
}

#[derive(Debug, Subcommand)]
enum IndicatorsCommand {
    /// Compute indicators over a stored series and print the last rows.
    Compute(ComputeArgs),
}

#[derive(Debug, Args)]
#[command(after_help = compute_help())]
struct ComputeArgs {
    #[command(flatten)]
    series: SeriesArgs,
    /// An indicator: NAME or NAME:KEY=VALUE,KEY=VALUE (e.g. rsi:period=14); repeat for more.
    #[arg(
        short,
        long = "indicator",
        value_name = "SPEC",
        required = true,
        value_parser = parse_spec
    )]
    indicators: Vec<IndicatorSpec>,
    /// First bar time to print (UTC): 2025-05-22 or 2025-05-22T08:00:00Z.
    #[arg(long, value_name = "DATE")]
    start: Option<DateArg>,
    /// Last bar time to print (UTC); a date alone includes that whole day.
    #[arg(long, value_name = "DATE")]
    end: Option<DateArg>,
    /// How many rows to print, counted back from the last bar in the range.
    #[arg(
        short = 'n',
        long,
        default_value_t = 10,
        value_name = "N",
        conflicts_with = "all"
    )]
    tail: usize,
    /// Print every row in the range.
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn parse_spec(s: &str) -> Result<IndicatorSpec, String> {
    IndicatorSpec::parse_cli(s).map_err(|e| e.to_string())
}

fn compute_help() -> String {
    format!(
        "Indicators (NAME (aliases): param=default …; names ignore case, '_' and '-'; → output columns):\n{}\
         Warm-up rows are NaN (null in JSON).\n\n\
         Examples:\n  ktrdr indicators compute MSFT 1h -i rsi -i macd\n  \
         ktrdr indicators compute MSFT 1h -i bbands:period=20,multiplier=2.5 --tail 50 -f csv\n  \
         ktrdr indicators compute EURUSD 1h -i stoch -i adx --start 2025-03-03 --end 2025-03-07 --all",
        help_text()
    )
}

pub(crate) fn run(args: IndicatorsArgs, ctx: &Context) -> anyhow::Result<()> {
    match args.command {
        IndicatorsCommand::Compute(a) => compute(a, &BarStore::new(&ctx.data_dir)),
    }
}

fn compute(a: ComputeArgs, store: &BarStore) -> anyhow::Result<()> {
    let (lo, hi) = time_bounds(a.start, a.end)?;
    let columns = column_names(&a.indicators)?;
    let (sym, tf) = (&a.series.symbol, a.series.timeframe);
    let series = load_readable(store, sym, tf)?;
    let outputs: Vec<IndicatorOutput> = a
        .indicators
        .iter()
        .map(|s| s.indicator.compute(&series))
        .collect();
    let values: Vec<&[f64]> = outputs
        .iter()
        .flat_map(|o| o.columns.iter().map(|c| c.values.as_slice()))
        .collect();
    let range = series.index_range(lo, hi);
    let in_range = range.len();
    let rows = if a.all {
        range
    } else {
        range.end - in_range.min(a.tail)..range.end
    };
    let ts = series.ts();
    let close = series.close();

    let mut out = BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Table => {
            writeln!(
                out,
                "{sym} {tf}: {} bars stored, indicators computed over all of them; {in_range} in the requested range, showing {}",
                series.len(),
                rows.len()
            )?;
            let width = columns.iter().map(|c| c.len().max(12)).collect::<Vec<_>>();
            write!(out, "{:<19}  {:>12}", "time (UTC)", "close")?;
            for (c, w) in columns.iter().zip(&width) {
                write!(out, " {c:>w$}")?;
            }
            writeln!(out)?;
            for i in rows {
                write!(
                    out,
                    "{:<19}  {:>12}",
                    format_timestamp_human(ts[i]),
                    close[i]
                )?;
                for (v, w) in values.iter().zip(&width) {
                    write!(out, " {:>w$}", table_cell(v[i]))?;
                }
                writeln!(out)?;
            }
        }
        Format::Csv => {
            write!(out, "timestamp,close")?;
            for c in &columns {
                write!(out, ",{c}")?;
            }
            writeln!(out)?;
            for i in rows {
                write!(out, "{},{}", format_timestamp(ts[i]), close[i])?;
                for v in &values {
                    write!(out, ",{}", v[i])?;
                }
                writeln!(out)?;
            }
        }
        Format::Json => {
            let data: Vec<Value> = rows
                .map(|i| {
                    let mut row = Map::new();
                    row.insert("timestamp".into(), format_timestamp(ts[i]).into());
                    row.insert("close".into(), number(close[i]));
                    for (c, v) in columns.iter().zip(&values) {
                        row.insert(c.clone(), number(v[i]));
                    }
                    Value::Object(row)
                })
                .collect();
            let doc = serde_json::json!({
                "symbol": sym.as_str(),
                "timeframe": tf.as_str(),
                "total_rows": series.len(),
                "rows_in_range": in_range,
                "displayed_rows": data.len(),
                "indicators": a.indicators.iter().map(|s| serde_json::json!({
                    "name": s.name,
                    "type": s.indicator.kind().info().name,
                    "columns": s.indicator.column_names(),
                })).collect::<Vec<_>>(),
                "columns": columns,
                "data": data,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

/// Every output column in order; two indicators giving the same column are refused.
fn column_names(specs: &[IndicatorSpec]) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for name in specs.iter().flat_map(|s| s.indicator.column_names()) {
        if names.contains(&name) {
            return Err(UsageError(format!(
                "column {name} would appear twice: two --indicator options compute the same thing"
            ))
            .into());
        }
        names.push(name);
    }
    Ok(names)
}

fn table_cell(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{v:.4}")
    }
}

/// A JSON number, or null for NaN (JSON has no NaN).
fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}
