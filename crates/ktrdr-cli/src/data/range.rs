//! `ktrdr data range SYMBOL TF`.

use clap::Args;
use ktrdr_data::store::BarStore;
use ktrdr_data::types::format_timestamp;
use serde::Serialize;

use super::SeriesArgs;
use crate::output::Format;

#[derive(Debug, Args)]
#[command(
    after_help = "Reads only the first and last lines for the dates and counts lines for the row count; it does not parse the whole file.\n\nExamples:\n  ktrdr data range MSFT 1h\n  ktrdr data range EURUSD 1h --format json"
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
    file: &'a std::path::Path,
    bytes: u64,
}
