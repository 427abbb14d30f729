//! `ktrdr data …`: commands on the local bar store. Each subcommand lives in its own file and
//! adds one variant to [`DataCommand`].

use std::str::FromStr;

use clap::{Args, Subcommand};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{parse_timestamp, parse_window_end, BarSeries, Symbol, Timeframe};

use crate::output::UsageError;
use crate::Context;

mod gaps;
pub(crate) mod load;
mod range;
mod remote_load;
mod show;
mod validate;

/// Market data in the local store.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr data show MSFT 1h --rows 20\n  ktrdr data show EURUSD 1h --start 2025-03-01 --end 2025-03-07 --format csv\n  ktrdr data range AAPL 5m\n  ktrdr data gaps MSFT 1h --session regular\n  ktrdr data validate MSFT 1h\n  ktrdr data load AAPL 1h --source sim --mode full --start 2024-01-01"
)]
pub(crate) struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Print bars of a stored series (the last N by default).
    Show(show::ShowArgs),
    /// Print the first and last bar time and the real row count of a stored series.
    Range(range::RangeArgs),
    /// Classified gaps of a stored series against its exchange calendar.
    Gaps(gaps::GapsArgs),
    /// Check a stored series for bad bars (exit status 3 when issues are found); optionally repair.
    Validate(validate::ValidateArgs),
    /// Fill a series from a data source (sim, host, ib) with live progress; Ctrl-C keeps what was fetched.
    Load(load::LoadArgs),
    /// Load several timeframes of one symbol as one operation.
    LoadMulti(load::LoadMultiArgs),
}

pub(crate) fn run(args: DataArgs, ctx: &Context) -> anyhow::Result<()> {
    let store = BarStore::new(&ctx.data_dir);
    match args.command {
        DataCommand::Show(a) => show::run(a, &store),
        DataCommand::Range(a) => range::run(a, &store),
        DataCommand::Gaps(a) => gaps::run(a, &store),
        DataCommand::Validate(a) => validate::run(a, &store),
        DataCommand::Load(a) => load::run(a, store),
        DataCommand::LoadMulti(a) => load::run_multi(a, store),
    }
}

/// The series a command works on: `SYMBOL TF`.
#[derive(Debug, Args)]
pub(crate) struct SeriesArgs {
    /// Instrument symbol: letters, digits, '.', '-', '_', starting with a letter or digit
    /// (case-insensitive), e.g. MSFT, BRK.B, EURUSD.
    pub(crate) symbol: Symbol,
    /// Bar size: 1m 5m 15m 30m 1h 2h 4h 1d 1w (also 1H, 60m, '1 hour', daily).
    pub(crate) timeframe: Timeframe,
}

/// A `--start`/`--end` value: a date (`2025-05-22`) or a date-time (`2025-05-22T08:00:00Z`,
/// `2025-05-22 08:00`, offsets allowed, naive = UTC).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DateArg {
    ts: i64,
    /// The same text as the end of a window: a date alone reaches the day's last second.
    end_ts: i64,
    date_only: bool,
}

impl FromStr for DateArg {
    type Err = ktrdr_data::types::TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ts, end_ts) = (parse_timestamp(s)?, parse_window_end(s)?);
        Ok(DateArg {
            ts,
            end_ts,
            date_only: end_ts != ts,
        })
    }
}

impl DateArg {
    /// The same instant as the API reads it: the date alone for a date, else RFC 3339 in UTC.
    pub(crate) fn to_wire(self) -> String {
        let format = if self.date_only {
            "%Y-%m-%d"
        } else {
            "%Y-%m-%dT%H:%M:%SZ"
        };
        chrono::DateTime::from_timestamp(self.ts, 0)
            .map_or_else(|| self.ts.to_string(), |t| t.format(format).to_string())
    }
}

/// Inclusive bounds in unix seconds; a date-only `end` covers that whole day.
pub(crate) fn time_bounds(
    start: Option<DateArg>,
    end: Option<DateArg>,
) -> anyhow::Result<(Option<i64>, Option<i64>)> {
    let lo = start.map(|d| d.ts);
    let hi = end.map(|d| d.end_ts);
    if let (Some(l), Some(h)) = (lo, hi) {
        if l > h {
            return Err(UsageError("--start is after --end".to_owned()).into());
        }
    }
    Ok((lo, hi))
}

/// The readable bars of a series for a command that looks at them (`show`, `gaps`): rows with
/// empty or non-numeric cells are skipped with a note on stderr, so stdout stays the report.
pub(crate) fn load_readable(
    store: &BarStore,
    symbol: &Symbol,
    tf: Timeframe,
) -> anyhow::Result<BarSeries> {
    let (series, skipped) = store.load_lenient(symbol, tf)?;
    if let Some(first) = skipped.first() {
        eprintln!(
            "note: skipped {} of {} (first: {first}); `ktrdr data validate {symbol} {tf}` lists them",
            rows(skipped.len(), "unreadable row"),
            store.path(symbol, tf).display(),
        );
    }
    Ok(series)
}

/// `1 unreadable row`, `5 unreadable rows`.
pub(crate) fn rows(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
