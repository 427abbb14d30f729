//! `ktrdr strategy …`: strategy files (format 2.0).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ktrdr_train::strategy::{self, Problem, Report, StrategyError};

/// `ktrdr strategy` subcommands.
#[derive(Debug, Subcommand)]
pub enum StrategyCommand {
    /// Check strategy files: every problem with its key path, and the keys training does not use.
    #[command(
        after_help = "Examples:\n  ktrdr strategy validate strategies/rsi_mean_reversion.yaml\n  ktrdr strategy validate strategies/*.yaml --json\n\nExit status: 0 when every file is valid (notes do not count), 1 when any file has an error or cannot be read."
    )]
    Validate(ValidateArgs),
}

/// Arguments of `ktrdr strategy validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Strategy files (YAML).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print one JSON document: a list of {file, valid, errors, notes}.
    #[arg(long)]
    json: bool,
}

/// Runs a `ktrdr strategy` subcommand, writing to stdout.
pub fn run(command: StrategyCommand) -> anyhow::Result<()> {
    match command {
        StrategyCommand::Validate(args) => validate(&args),
    }
}

#[derive(serde::Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    #[serde(flatten)]
    report: Report,
}

fn check(path: &Path) -> FileReport {
    let report = match strategy::check_file(path) {
        Ok(checked) => checked.report,
        Err(e @ StrategyError::Read { .. }) => {
            let mut report = Report::default();
            report.error("", e.to_string());
            report
        }
        Err(StrategyError::Invalid { report, .. }) => report,
    };
    FileReport {
        file: path.display().to_string(),
        valid: report.is_ok(),
        report,
    }
}

fn validate(args: &ValidateArgs) -> anyhow::Result<()> {
    let reports: Vec<FileReport> = args.files.iter().map(|f| check(f)).collect();
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &reports)?;
        writeln!(out)?;
    } else {
        for r in &reports {
            print_one(&mut out, r)?;
        }
    }
    out.flush()?;
    let invalid = reports.iter().filter(|r| !r.valid).count();
    if invalid > 0 {
        anyhow::bail!(
            "{invalid} of {} strategy files {} errors",
            reports.len(),
            if invalid == 1 { "has" } else { "have" }
        );
    }
    Ok(())
}

fn print_one(out: &mut impl Write, r: &FileReport) -> io::Result<()> {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let verdict = if r.valid { "valid" } else { "INVALID" };
    writeln!(
        out,
        "{}: {verdict} ({}, {})",
        r.file,
        count(r.report.errors.len(), "error"),
        count(r.report.notes.len(), "note")
    )?;
    let line = |out: &mut dyn Write, tag: &str, p: &Problem| {
        // A syntax error's line is the file's, so it is written the way editors jump to it.
        match (p.path.is_empty(), p.line) {
            (true, Some(n)) => writeln!(out, "  {tag}: {}:{n}: {}", r.file, p.message),
            _ => writeln!(out, "  {tag}: {p}"),
        }
    };
    for p in &r.report.errors {
        line(out, "error", p)?;
    }
    for p in &r.report.notes {
        line(out, "note", p)?;
    }
    Ok(())
}
