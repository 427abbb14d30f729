//! `ktrdr gap-filler run-once`: one cycle of the gap filler (`ktrdr_data::gap_filler`), the
//! loads it starts followed to their end, then its report. `ktrdr serve --gap-filler` runs the
//! same cycles as a service.
//!
//! Exit status: 0 done (also when there was nothing to fill), 1 when a series could not be
//! scanned or a load failed (the report still prints), 2 bad usage (also no source), 130 when
//! Ctrl-C or SIGTERM stopped the cycle (its load is recorded cancelled by shutdown).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ktrdr_data::gap_filler::{CycleEnd, CycleLoad, CycleReport, GapFiller, GapFillerConfig};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{format_timestamp, Symbol, Timeframe};
use ktrdr_ops::cancel::EXIT_INTERRUPTED;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_ops::service::Shutdown;
use ktrdr_server::host_service::shutdown_signal;

use crate::data::load::{operations, SourceArgs};

/// The gap filler: keeps the recent end of every stored series complete.
#[derive(Debug, Subcommand)]
pub(crate) enum GapFillerCommand {
    /// Run one cycle: find stored series whose recent in-session bars are missing, fill each
    /// with a tail load (recorded like any other), print what was done.
    RunOnce(RunOnceArgs),
}

/// `ktrdr gap-filler run-once`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr gap-filler run-once --source sim\n  ktrdr gap-filler run-once --source host --host-url http://gateway:5001 --budget 10 --json\n  ktrdr gap-filler run-once --source sim --symbol AAPL --symbol MSFT --timeframe 1h\n\nOnly bars missing inside trading sessions are fetched; weekends, holidays and the hours outside the session are counted, never fetched. A series whose last bar is older than --recent-days is left alone (use `ktrdr data load --mode tail` to revive it).\nThe loads run one at a time, through the pacing gate; the cycle stops at the request budget, when the gate is busy, or at the first pacing error. Run it again to continue.\nCtrl-C or SIGTERM stops the cycle; the load in flight is cancelled (reason: shutdown) and keeps what it fetched.\nExit status: 0 done, 1 a series or a load failed (the report still prints), 2 bad usage (also no source configured), 130 stopped."
)]
pub(crate) struct RunOnceArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Provider requests the cycle's loads may plan, in all; a load that needs more is cut to
    /// its newest bars.
    #[arg(long, value_name = "N", default_value_t = GapFillerConfig::default().request_budget)]
    budget: usize,
    /// How many days back a missing bar counts as recent.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    recent_days: u64,
    /// Only this symbol (repeat for more; default: every stored series).
    #[arg(long = "symbol", value_name = "SYMBOL")]
    symbols: Vec<Symbol>,
    /// Only this timeframe (repeat for more; default: every stored timeframe).
    #[arg(long = "timeframe", value_name = "TF")]
    timeframes: Vec<Timeframe>,
    /// Print the cycle's report as JSON on standard output.
    #[arg(long)]
    json: bool,
}

impl RunOnceArgs {
    fn config(&self) -> GapFillerConfig {
        GapFillerConfig {
            request_budget: self.budget,
            recent: Duration::from_secs(self.recent_days.saturating_mul(86_400)),
            symbols: filter(&self.symbols),
            timeframes: filter(&self.timeframes),
            ..GapFillerConfig::default()
        }
    }
}

/// The set of the values given, `None` (no filter) when none was.
fn filter<T: Ord + Clone>(given: &[T]) -> Option<BTreeSet<T>> {
    (!given.is_empty()).then(|| given.iter().cloned().collect())
}

pub(crate) fn run(command: GapFillerCommand, store: BarStore) -> anyhow::Result<()> {
    let GapFillerCommand::RunOnce(args) = command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(run_once(args, store))?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn run_once(args: RunOnceArgs, store: BarStore) -> anyhow::Result<i32> {
    let manager = args.source.manager(store, false).await?;
    let ops = operations(false)?;
    let filler = GapFiller::new(manager, ops, args.config())?;
    let (stop, shutdown) = Shutdown::channel();
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("Stopping: the load in flight is cancelled and keeps what it fetched…");
        stop.send_replace(true);
    });
    let report = filler.run_once(&shutdown).await;
    signals.abort();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", describe(&report));
    }
    Ok(match report.ended {
        CycleEnd::Shutdown => EXIT_INTERRUPTED,
        _ if !report.errors.is_empty() => 1,
        _ => 0,
    })
}

/// The report for people.
fn describe(report: &CycleReport) -> String {
    let mut out = format!(
        "Scanned {}: {} up to date, {} stale, {} of a bar size the source does not serve.\n",
        count(report.series_scanned, "series", "series"),
        report.up_to_date,
        report.stale,
        report.unsupported,
    );
    out += &format!(
        "Missing in session: {} ({}).\n",
        count(report.gaps_found, "gap", "gaps"),
        count(report.missing_bars_found, "bar", "bars"),
    );
    if report.known_empty > 0 {
        out += &format!(
            "Not asked again: {} whose missing bars the source had none of a moment ago.\n",
            count(report.known_empty, "series", "series"),
        );
    }
    let skipped: Vec<String> = report
        .skipped_by_class
        .iter()
        .map(|(kind, n)| format!("{} {n}", kind.as_str()))
        .collect();
    if !skipped.is_empty() {
        out += &format!("Closed, not fetched: {}.\n", skipped.join(", "));
    }
    for load in &report.loads {
        out += &format!("{}\n", describe_load(load));
    }
    out += &format!(
        "{} started, {} filled, {} planned; {}.\n",
        count(report.loads.len(), "load", "loads"),
        count(report.bars_filled(), "bar", "bars"),
        count(report.requests_planned, "request", "requests"),
        ending(report),
    );
    for error in &report.errors {
        out += &format!("error: {error}\n");
    }
    out
}

fn describe_load(load: &CycleLoad) -> String {
    let mut line = format!(
        "  {} {} from {}: {}, {} filled ({}), operation {}",
        load.symbol,
        load.timeframe,
        format_timestamp(load.start),
        load.status,
        count(load.bars_filled, "bar", "bars"),
        count(load.requests_sent, "request", "requests"),
        load.operation_id,
    );
    match (&load.status, &load.cancel_reason, &load.error) {
        (OperationStatus::Cancelled, Some(reason), _) => line += &format!(" ({reason})"),
        (OperationStatus::Failed, _, Some(error)) => line += &format!(": {error}"),
        _ => {}
    }
    line
}

fn ending(report: &CycleReport) -> String {
    let later = count(report.deferred, "series", "series");
    match report.ended {
        CycleEnd::Done => "nothing left for a later cycle".to_owned(),
        CycleEnd::BudgetSpent => format!("budget spent, {later} left for the next cycle"),
        CycleEnd::PacingGateBusy => {
            format!("the pacing gate is busy, {later} left for the next cycle")
        }
        CycleEnd::PacingError => format!("stopped at a pacing error, {later} left for later"),
        CycleEnd::Shutdown => format!("stopped, {later} not filled"),
        CycleEnd::StoreUnreadable => "the store could not be read".to_owned(),
    }
}

/// `1 bar`, `3 bars`.
fn count(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n = n.try_into().unwrap_or(u64::MAX);
    format!("{n} {}", if n == 1 { one } else { many })
}
