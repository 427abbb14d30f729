//! `ktrdr data range SYMBOL TF`.

use clap::Args;
use ktrdr_data::store::BarStore;
use ktrdr_data::types::format_timestamp;
use serde::Serialize;

use super::{rows, SeriesArgs};
use crate::output::Format;

#[derive(Debug, Args)]
#[command(
    after_help = "Reads the whole file once without building the series: first and last are the earliest and latest readable bars even when the file is not in order, and rows counts every data line. A file that is not in order or has unreadable rows gets a note on stderr (`ktrdr data validate` lists the rows).\n\nExamples:\n  ktrdr data range MSFT 1h\n  ktrdr data range EURUSD 1h --format json"
)]
pub(crate) struct RangeArgs {
    #[command(flatten)]
    series: SeriesArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(a: RangeArgs, store: &BarStore) -> anyhow::Result<()> {
    let (sym, tf) = (&a.series.symbol, a.series.timeframe);
    let info = store.series_info(sym, tf)?;
    if info.out_of_order > 0 {
        eprintln!(
            "note: {} is not in time order ({} dated at or before the row above); first and last are the earliest and latest bars",
            info.path.display(),
            rows(info.out_of_order, "row")
        );
    }
    if let Some(s) = info.skipped.first() {
        eprintln!(
            "note: {} of {} left out of first and last (first: {s}); `ktrdr data validate {sym} {tf}` lists them",
            rows(info.skipped.len(), "unreadable row"),
            info.path.display()
        );
    }
    let first = info.range.map(|r| format_timestamp(r.first));
    let last = info.range.map(|r| format_timestamp(r.last));
    match a.format {
        Format::Json => {
            let doc = RangeJson {
                symbol: sym.as_str(),
                timeframe: tf.as_str(),
                first,
                last,
                rows: info.rows,
                out_of_order: info.out_of_order,
                unreadable_rows: info.skipped.len(),
                file: &info.path,
                bytes: info.bytes,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Csv => {
            println!("symbol,timeframe,first,last,rows");
            let o = |v: Option<String>| v.unwrap_or_default();
            println!("{sym},{tf},{},{},{}", o(first), o(last), info.rows);
        }
        Format::Table => {
            let none = || "-".to_string();
            println!("symbol     {sym}");
            println!("timeframe  {tf}");
            println!("first      {}", first.unwrap_or_else(none));
            println!("last       {}", last.unwrap_or_else(none));
            println!("rows       {}", info.rows);
            println!("file       {} ({} bytes)", info.path.display(), info.bytes);
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct RangeJson<'a> {
    symbol: &'a str,
    timeframe: &'a str,
    first: Option<String>,
    last: Option<String>,
    rows: usize,
    /// Rows dated at or before the row above them (0: in order).
    out_of_order: usize,
    /// Rows that could not be read (not part of first/last).
    unreadable_rows: usize,
    file: &'a std::path::Path,
    bytes: u64,
}
