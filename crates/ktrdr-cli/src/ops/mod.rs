//! `ktrdr ops …`: the operations of this machine (its registry, `$KTRDR_HOME/ktrdr.db`) or of
//! a server (`--server URL`, `KTRDR_API_URL`): list, show, cancel, watch, wait, retry.
//!
//! Exit status of `watch`, `wait` and `cancel --wait`: 0 the operation completed, 1 it failed
//! or was interrupted (or the command failed), 130 it was cancelled, 124 `wait --timeout`
//! passed first; 2 bad usage.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ktrdr_data::manager::LoadSummary;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_server::api::wire::OperationInfo;
use ktrdr_server::client::URL_ENV;
use tokio::sync::watch;

use crate::progress_display::{DisplayMode, ProgressDisplay, Shown};

mod backend;
mod render;

pub(crate) use backend::{Backend, Follow};

/// Exit status for an operation that ended cancelled: the shell's status for Ctrl-C.
pub(crate) const EXIT_CANCELLED: i32 = 130;
/// Exit status when `wait --timeout` passed before the operation ended (as `timeout(1)`).
const EXIT_TIMED_OUT: i32 = 124;

/// Operations of this machine or of a server.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ktrdr ops list --active\n  ktrdr ops show op_data_load_20250101_120000_0123abcd\n  ktrdr ops watch op_data_load_20250101_120000_0123abcd\n  ktrdr ops --server http://127.0.0.1:8000 cancel op_data_load_20250101_120000_0123abcd --wait\n  KTRDR_API_URL=http://gateway:8000 ktrdr ops wait op_… --timeout 600 && echo done\n\nWithout --server (or KTRDR_API_URL) the commands read this machine's registry ($KTRDR_HOME/ktrdr.db), which every ktrdr process records into; a cancel of an operation another process runs is stored there and that process stops it within a second.\nExit status of watch, wait and cancel --wait: 0 completed, 1 failed or interrupted, 130 cancelled, 124 wait --timeout passed first. Ctrl-C stops watching; the operation goes on."
)]
pub(crate) struct OpsArgs {
    /// The ktrdr API server to ask (http://host:port); else $KTRDR_API_URL; else this machine's
    /// registry.
    #[arg(long, global = true, env = URL_ENV, value_name = "URL")]
    server: Option<String>,
    /// Print JSON (the API's shapes) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: OpsCommand,
}

#[derive(Debug, Subcommand)]
enum OpsCommand {
    /// Operations, newest first.
    List(ListArgs),
    /// One operation, whole.
    Show(IdArg),
    /// Ask an operation to stop (it keeps what it saved).
    Cancel(CancelArgs),
    /// Follow an operation's progress until it ends.
    Watch(IdArg),
    /// Wait until an operation ends, silently; the exit status says how it ended.
    Wait(WaitArgs),
    /// Run a failed or cancelled operation again, as a new operation (server only).
    Retry(IdArg),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only this status.
    #[arg(long, value_parser = parse_status)]
    status: Option<OperationStatus>,
    /// Only this type (data_load, training, …).
    #[arg(long = "type", value_name = "TYPE")]
    operation_type: Option<String>,
    /// Only pending, running and cancelling operations.
    #[arg(long)]
    active: bool,
    /// At most this many (1..=1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Skip this many first.
    #[arg(long, default_value_t = 0)]
    offset: usize,
}

#[derive(Debug, Args)]
struct IdArg {
    /// The operation id (op_…).
    id: String,
}

#[derive(Debug, Args)]
struct CancelArgs {
    /// The operation id (op_…).
    id: String,
    /// Why, in words (recorded as the cancel reason).
    #[arg(long)]
    reason: Option<String>,
    /// Wait until the work has stopped and the operation is cancelled.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
struct WaitArgs {
    /// The operation id (op_…).
    id: String,
    /// Give up after this many seconds (exit status 124); default: wait as long as it takes.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
}

fn parse_status(s: &str) -> Result<OperationStatus, String> {
    s.parse()
        .map_err(|e: ktrdr_ops::registry::UnknownStatus| e.to_string())
}

pub(crate) fn run(args: OpsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(ops(args))?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn ops(args: OpsArgs) -> anyhow::Result<i32> {
    let backend = Backend::open(args.server.as_deref())?;
    let json = args.json;
    let colour = render::colour_stdout();
    match args.command {
        OpsCommand::List(list) => {
            let filter = backend::ListFilter {
                status: list.status,
                operation_type: list.operation_type,
                active_only: list.active,
                limit: usize::from(list.limit),
                offset: list.offset,
            };
            let page = backend.list(filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print!("{}", render::table(&page, colour));
            }
            Ok(0)
        }
        OpsCommand::Show(IdArg { id }) => {
            let info = backend.show(&id).await?;
            print_info(&info, json, colour)?;
            Ok(0)
        }
        OpsCommand::Cancel(cancel) => {
            let accepted = backend.cancel(&cancel.id, cancel.reason).await?;
            if !cancel.wait {
                if json {
                    let info = backend.show(&cancel.id).await?;
                    println!("{}", serde_json::to_string_pretty(&info)?);
                } else {
                    println!("{}: {} ({})", cancel.id, accepted.status, accepted.reason);
                }
                return Ok(0);
            }
            let ended = backend.wait(&cancel.id, Duration::MAX).await?;
            report(&ended.data, json, colour)
        }
        OpsCommand::Watch(IdArg { id }) => {
            let follow = backend.follow(&id).await?;
            let ended = watch(follow, &id, &backend.describe()).await?;
            report(&ended, json, colour)
        }
        OpsCommand::Wait(wait) => {
            let timeout = match wait.timeout {
                None => Duration::MAX,
                Some(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
                Some(secs) => {
                    let message = format!("--timeout must be 0 or more seconds, not {secs}");
                    return Err(crate::output::UsageError(message).into());
                }
            };
            let answer = backend.wait(&wait.id, timeout).await?;
            if !answer.terminal {
                if json {
                    println!("{}", serde_json::to_string_pretty(&answer.data)?);
                } else {
                    eprintln!(
                        "{}: still {} after {timeout:?}",
                        wait.id, answer.data.status
                    );
                }
                return Ok(EXIT_TIMED_OUT);
            }
            report(&answer.data, json, colour)
        }
        OpsCommand::Retry(IdArg { id }) => {
            let Backend::Remote(client) = &backend else {
                let message = "retry runs the operation again in a server: give --server URL \
                               (or KTRDR_API_URL); on this machine run the same ktrdr command \
                               again instead";
                return Err(crate::output::UsageError(message.to_owned()).into());
            };
            let info = client.retry(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("{id} retried as {} ({})", info.operation_id, info.status);
            }
            Ok(0)
        }
    }
}

fn print_info(info: &OperationInfo, json: bool, colour: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(info)?);
    } else {
        print!("{}", render::detail(info, colour));
    }
    Ok(())
}

/// Prints how `info` ended and returns the exit status for it.
fn report(info: &OperationInfo, json: bool, colour: bool) -> anyhow::Result<i32> {
    if json {
        println!("{}", serde_json::to_string_pretty(info)?);
    } else {
        let status = render::status(info.status, colour);
        let mut line = format!("{}: {status}", info.operation_id);
        if let Some(reason) = &info.cancel_reason {
            line.push_str(&format!(" ({reason})"));
        }
        if let Some(error) = &info.error_message {
            line.push_str(&format!(": {error}"));
        }
        println!("{line}");
        if let Some(summary) = &info.result_summary {
            println!("{}", describe_summary(summary));
        }
    }
    Ok(exit_code(info.status))
}

/// The exit status for an operation that ended in `status`.
pub(crate) fn exit_code(status: OperationStatus) -> i32 {
    match status {
        OperationStatus::Completed => 0,
        OperationStatus::Cancelled => EXIT_CANCELLED,
        _ => 1,
    }
}

/// A load's summary in words when it is one, else its JSON.
pub(crate) fn describe_summary(summary: &serde_json::Value) -> String {
    serde_json::from_value::<LoadSummary>(summary.clone())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| summary.to_string())
}

/// `ktrdr ops watch`: announces the operation, then shows its progress until it ends.
async fn watch(mut follow: Follow, id: &str, from: &str) -> anyhow::Result<OperationInfo> {
    let first = match follow.next().await {
        Some(first) => first?,
        None => anyhow::bail!("operation {id} sent no state"),
    };
    let mut display = ProgressDisplay::new(DisplayMode::detect(false, Duration::from_secs(5)));
    let meta = &first.metadata;
    let what: Vec<&str> = [&meta.symbol, &meta.timeframe, &meta.mode]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    display.println(&format!(
        "Watching {id} ({} {}) on {from}",
        first.operation_type,
        what.join(" ")
    ));
    follow_from(&mut display, first, follow).await
}

/// Shows the progress of the operation `follow` follows until it ends; returns its last state.
pub(crate) async fn follow_until_end(
    display: &mut ProgressDisplay,
    mut follow: Follow,
) -> anyhow::Result<OperationInfo> {
    match follow.next().await {
        Some(first) => follow_from(display, first?, follow).await,
        None => anyhow::bail!("the operation sent no state"),
    }
}

async fn follow_from(
    display: &mut ProgressDisplay,
    first: OperationInfo,
    mut follow: Follow,
) -> anyhow::Result<OperationInfo> {
    if first.status.is_terminal() {
        display.finish();
        return Ok(first);
    }
    let (shown, feed) = watch::channel(Shown::from(&first.progress));
    let reader = async move {
        while let Some(next) = follow.next().await {
            let info = next?;
            shown.send_replace(Shown::from(&info.progress));
            if info.status.is_terminal() {
                return Ok(info);
            }
        }
        anyhow::bail!("the operation's updates stopped before it ended")
    };
    display.follow(feed, reader).await
}
