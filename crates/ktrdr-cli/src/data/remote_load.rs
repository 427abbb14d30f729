//! `ktrdr data load … --server URL`: the load runs in a ktrdr server (its data source, its
//! store); this process starts it (`POST /data/load?async_mode=true`) and follows its event
//! stream with the same progress display as a local load. The first Ctrl-C (SIGTERM, SIGHUP)
//! cancels it in the server (`DELETE /operations/{id}`) and waits until it is `cancelled`,
//! with what it kept; a second one exits at once, leaving the server to finish the cancel.

use std::time::Duration;

use anyhow::{bail, Context as _};
use ktrdr_ops::cancel::{spawn_stop_handler, CancelReason, CancellationToken, StopSignal};
use ktrdr_ops::registry::OperationStatus;
use ktrdr_server::api::wire::LoadBody;
use ktrdr_server::client::ApiClient;

use super::load::LoadOptions;
use super::SeriesArgs;
use crate::ops::{describe_summary, follow_until_end, Follow, EXIT_CANCELLED};
use crate::progress_display::{DisplayMode, ProgressDisplay};

/// Runs the load of `series` in the server at `server`; returns the exit status.
pub(crate) async fn load(
    server: &str,
    series: &SeriesArgs,
    o: &LoadOptions,
) -> anyhow::Result<i32> {
    let client = ApiClient::from_env(server)?;
    let body = LoadBody {
        symbol: series.symbol.to_string(),
        timeframe: series.timeframe.to_string(),
        mode: Some(o.mode.to_string()),
        start_date: o.start.map(|d| d.to_wire()),
        end_date: o.end.map(|d| d.to_wire()),
        filters: None,
        source: None,
    };
    let mode = DisplayMode::detect(
        o.quiet,
        Duration::from_secs_f64(o.progress_interval.max(0.1)),
    );
    let mut display = ProgressDisplay::new(mode);
    // Listening for Ctrl-C before the load starts: a Ctrl-C from here on cancels it in the
    // server (once it has an id), never leaves it running unseen.
    let token = CancellationToken::new();
    let print = display.printer();
    let signals = spawn_stop_handler(token.clone(), move |signal| {
        print(&format!(
            "{}: cancelling in the server… (a second one exits at once)",
            signal.name()
        ))
    });
    let started = client.start_load(&body, None).await?;
    let id = started
        .data
        .operation_id
        .context("the server started the load but named no operation")?;
    let canceller = {
        let (client, id, print) = (client.clone(), id.clone(), display.printer());
        tokio::spawn(async move {
            let reason = token.cancelled().await;
            // The server records a plain cancel as the user's; a shutdown (SIGTERM) says so.
            let words = (reason != CancelReason::User).then(|| reason.to_string());
            if let Err(error) = client.cancel(&id, words).await {
                print(&format!("The server refused the cancel: {error}"));
            }
        })
    };
    display.println(&format!(
        "Loading {} {} ({}) in {}; operation {id}",
        series.symbol,
        series.timeframe,
        o.mode,
        client.base_url()
    ));
    let follow = Follow::Remote(Box::new(client.events(&id).await?));
    let ended = follow_until_end(&mut display, follow).await;
    canceller.abort();
    let ended = ended?;

    if o.json {
        println!("{}", serde_json::to_string_pretty(&ended)?);
    }
    let summary = ended.result_summary.as_ref().map(describe_summary);
    match ended.status {
        OperationStatus::Completed => {
            if !o.json {
                println!("{}", summary.unwrap_or_default());
            }
            Ok(0)
        }
        OperationStatus::Cancelled => {
            if !o.json {
                let reason = ended.cancel_reason.as_deref().unwrap_or("cancelled");
                let kept = summary.unwrap_or_else(|| "nothing was kept".into());
                println!("Cancelled ({reason}): {kept}");
                println!("Run the same command again to fetch only what is still missing.");
            }
            Ok(signals
                .received()
                .map_or(EXIT_CANCELLED, StopSignal::exit_code))
        }
        status => {
            if o.json {
                return Ok(1);
            }
            let error = ended.error_message.unwrap_or_else(|| status.to_string());
            bail!("operation {id} {status}: {error}")
        }
    }
}
