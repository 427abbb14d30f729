//! `ktrdr calendar …`: exchange sessions as CSV, and which calendar a symbol trades on.

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use ktrdr_data::calendar::{write_sessions_csv, Calendar, CalendarMap, MappingRule, SessionHours};
use ktrdr_data::types::Symbol;

/// `ktrdr calendar` subcommands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print a calendar's sessions as CSV (`session,open_utc,close_utc`, the format of the
    /// exchange_calendars reference files).
    Sessions(SessionsArgs),
    /// Show which calendar a symbol maps to, and why.
    For {
        /// The symbol, e.g. MSFT or EURUSD.
        symbol: String,
    },
}

/// Arguments of `ktrdr calendar sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// The calendar: XNYS, XNAS, FX or CRYPTO.
    calendar: Calendar,
    /// First session date, YYYY-MM-DD (inclusive).
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last session date, YYYY-MM-DD (inclusive).
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Session hours: regular or extended.
    #[arg(long, default_value_t = SessionHours::Regular)]
    hours: SessionHours,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("`{s}` is not a date of the form YYYY-MM-DD ({e})"))
}

/// Runs a `ktrdr calendar` subcommand, writing to stdout.
pub fn run(command: CalendarCommand) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Sessions(args) => sessions(&args),
        CalendarCommand::For { symbol } => calendar_for(&symbol),
    }
}

fn sessions(args: &SessionsArgs) -> anyhow::Result<()> {
    if args.from > args.to {
        let why = format!(
            "invalid date range: --from {} is after --to {}",
            args.from, args.to
        );
        return Err(crate::output::UsageError(why).into());
    }
    let cal = args.calendar;
    // A range that straddles the coverage is answered for the covered part; one wholly
    // outside it (or inverted) is refused by `sessions` with the reason.
    let (from, to) = match cal.covered_part(args.from, args.to) {
        Some(part) if part != (args.from, args.to) => {
            let coverage = cal.coverage();
            eprintln!(
                "warning: {cal} covers {} to {}; listing {} to {} of the range asked",
                coverage.start(),
                coverage.end(),
                part.0,
                part.1
            );
            part
        }
        _ => (args.from, args.to),
    };
    let sessions = cal.sessions(from, to, args.hours)?;
    // A closed pipe (`| head`) surfaces as an io error that main treats as success.
    write_sessions_csv(BufWriter::new(io::stdout().lock()), sessions)
        .context("writing the sessions to stdout")
}

fn calendar_for(symbol: &str) -> anyhow::Result<()> {
    let symbol = Symbol::new(symbol)?;
    let map = CalendarMap::load()?;
    let (calendar, rule) = map.resolve(&symbol);
    let why = match (rule, map.source()) {
        (MappingRule::Config, Some(path)) => format!("listed in {}", path.display()),
        (MappingRule::Default, Some(path)) => format!("default of {}", path.display()),
        _ => rule.to_string(),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{symbol}\t{calendar}\t({why})")?;
    Ok(())
}
