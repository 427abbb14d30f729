//! A 5-year `1h` backfill from the simulated broker with IB's conservative pacing rules and
//! latency, on tokio's paused clock (the waits are virtual, the figures exact): requests sent
//! versus the planner's minimum, and the time taken versus the lower bound the pacing rules allow.
//!
//! ```text
//! cargo run --release -p ktrdr-data --example sim_backfill
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use ktrdr_data::pacing::{PacingGate, PacingRules, RequestKey};
use ktrdr_data::planner::{plan_requests, PlanOrder};
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::DataProvider;
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::{parse_timestamp, Symbol, Timeframe};
use ktrdr_ops::cancel::CancellationToken;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    rt.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let end = parse_timestamp("2025-06-01")?;
    let start = end - 5 * 365 * 86_400;
    let rules = PacingRules::ib_conservative();
    let provider = SimProvider::new(SimConfig {
        now: Some(end),
        ..SimConfig::realistic()
    })?;
    let gate = PacingGate::new(provider.describe().pacing)?;
    let tf = Timeframe::H1;
    let max_span = provider
        .describe()
        .spans
        .max_span(tf)
        .ok_or("1h is not supported")?;
    let plan = plan_requests(
        std::iter::once(start..end),
        max_span,
        PlanOrder::OldestFirst,
    )?;
    let symbol: Symbol = "AAPL".parse()?;
    let token = CancellationToken::new();

    let wall = std::time::Instant::now();
    let t0 = tokio::time::Instant::now();
    let mut bars = 0;
    for r in &plan.requests {
        let range = TimeRange::half_open(r.start, r.end)?;
        let key = RequestKey::new(symbol.clone(), tf, range);
        let call = provider.fetch_bars(&symbol, tf, range, &token);
        bars += gate.send(&key, &token, call).await?.len();
    }
    let elapsed = t0.elapsed();
    let window = rules.max_requests.ok_or("no window rule")?;
    let n = plan.len();
    // The last request cannot leave before the window of the first one has passed, and its
    // answer takes at least the broker's minimum latency.
    let min_latency = provider.config().latency;
    let lower_bound = ((n - 1) / window.requests as usize) as u32 * window.per + min_latency;
    println!(
        "requests received by the broker: {} (planner's minimum for 5 years in {max_span} s spans: {n})",
        provider.stats().requests
    );
    println!(
        "bars: {bars}; pacing violations at the broker: {}",
        provider.violations()
    );
    println!(
        "backfill took {:.1} s (virtual); lower bound from {} per {:?} + {:?} latency: {:.1} s; \
         ratio {:.3}",
        elapsed.as_secs_f64(),
        window.requests,
        window.per,
        min_latency,
        lower_bound.as_secs_f64(),
        lower_bound.as_secs_f64() / elapsed.as_secs_f64()
    );
    println!("CPU (wall) time of the whole run: {:?}", wall.elapsed());
    Ok(())
}
