//! Data-loading figures for docs/PERFORMANCE.md ("## Data loading"):
//!
//! 1. a 5-year 1h backfill (and a 5-year 5m one, for a sustained rate): requests issued vs the
//!    planner's minimum (and vs one request per gap, the Python `SegmentManager`'s way), and the
//!    time taken vs the lower bound the pacing rules allow;
//! 2. cancel latency (token cancelled → `load` returned) over many cancels at random points
//!    (`-- --cancel`);
//! 3. with `-- --eta` only: how far a first run's ETA is from the truth on a paced load
//!    (`ETA_TRACE=1` prints the reads).
//!
//! The simulated broker enforces IB's rules scaled down in time: the 1h backfill runs under
//! `PacingRules::ib_conservative` with every duration divided by 10 (60 requests per 60 s, 200 ms
//! spacing), the 5m one under `PacingRules::fast` (divided by 100: 60 per 6 s, 20 ms spacing), so
//! the same waits happen in seconds instead of minutes.
//!
//! Run: `cargo run --release -p ktrdr-data --example backfill_bench`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ktrdr_data::calendar::{CalendarMap, SessionHours};
use ktrdr_data::gaps::{analyze, GapKind, GapOptions};
use ktrdr_data::manager::{DataManager, LoadRequest};
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::planner::{plan_requests, PlanOrder};
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::SpanLimits;
use ktrdr_data::render::steps;
use ktrdr_data::types::LoadMode;
use ktrdr_data::types::{parse_timestamp, BarSeries, Timeframe};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::progress::ProgressHandle;

const NOW: i64 = 1_735_689_600; // 2025-01-01

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--eta") {
        return first_run_eta().await;
    }
    println!("| backfill | planner minimum | one per gap (Python) | requests sent | time (fetch step) | pacing lower bound | bound / time (fetch step) |");
    println!("|---|---|---|---|---|---|---|");
    // 1h at a tenth of IB's time scale (a 1 ms timer tick is 0.5 % of its 200 ms spacing);
    // 5m at a hundredth, where four full 60-request windows set the pace.
    backfill(Timeframe::H1, scaled(&PacingRules::ib_conservative(), 10)).await?;
    backfill(Timeframe::M5, PacingRules::fast()).await?;
    println!();
    local_loads().await?;
    println!();
    if std::env::args().any(|a| a == "--cancel") {
        cancel_latency().await?;
    }

    Ok(())
}

/// IB's rules with every duration divided by `factor`.
fn scaled(rules: &PacingRules, factor: u32) -> PacingRules {
    let mut r = rules.clone();
    r.name = "ib-conservative, time / 10";
    for limit in [&mut r.max_requests, &mut r.per_contract]
        .into_iter()
        .flatten()
    {
        limit.per /= factor;
    }
    r.identical_cooldown = r.identical_cooldown.map(|d| d / factor);
    r.min_spacing /= factor;
    r.safety_margin /= factor;
    r
}

async fn backfill(tf: Timeframe, rules: PacingRules) -> Result<(), Box<dyn std::error::Error>> {
    let (start, end) = (
        parse_timestamp("2020-01-01")?,
        parse_timestamp("2024-12-31T23:59:59Z")?,
    );
    let sim = Arc::new(SimProvider::new(SimConfig {
        now: Some(NOW),
        pacing: rules.clone(),
        ..SimConfig::default()
    })?);
    let max_span = SpanLimits::ib().max_span(tf).ok_or("no span")?;

    // What the planner says for an empty store.
    let symbol = "AAPL".parse()?;
    let calendar = CalendarMap::builtin().calendar_for(&symbol);
    let report = analyze(
        &BarSeries::new(),
        calendar,
        tf,
        &GapOptions {
            hours: SessionHours::Regular,
            start: Some(start),
            end: Some(end + 1),
            head: None,
        },
    )?;
    let minimum = plan_requests(report.to_fill(), max_span, PlanOrder::OldestFirst)?.len();
    let per_gap: i64 = report
        .of_kind(GapKind::Missing)
        .map(|g| (g.end - g.start + max_span - 1) / max_span)
        .sum();

    let dir = tempfile::tempdir()?;
    let manager = DataManager::builder()
        .data_dir(dir.path())
        .provider(sim.clone())
        .now(NOW)
        .build()?;
    let request = LoadRequest::new(symbol, tf, LoadMode::Backfill)
        .with_start(start)
        .with_end(end);
    let progress = ProgressHandle::new("bench", DataManager::plan(LoadMode::Backfill));
    // When the fetch step starts and ends, seen from a progress watcher.
    let mut watcher = progress.subscribe();
    let phases = tokio::spawn(async move {
        let (mut fetch_start, mut fetch_end) = (None, None);
        while watcher.changed().await.is_ok() {
            let step = watcher.latest().step_name;
            if step == steps::FETCH && fetch_start.is_none() {
                fetch_start = Some(Instant::now());
            }
            if step == steps::SAVE && fetch_end.is_none() {
                fetch_end = Some(Instant::now());
            }
        }
        fetch_start.zip(fetch_end).map(|(a, b)| b - a)
    });
    let t = Instant::now();
    let summary = manager
        .load(&request, &CancellationToken::new(), &progress)
        .await?;
    let took = t.elapsed();
    drop(progress);
    let fetch = phases.await?.unwrap_or(took);
    let bound = lower_bound(summary.requests_sent, &rules);
    assert_eq!(sim.violations(), 0, "pacing violations");
    println!(
        "| 5 years {tf} ({} bars), {} | {minimum} | {per_gap} | {} | {:.2} s ({:.2} s) | {:.2} s | {:.3} ({:.3}) |",
        summary.bars_new,
        rules.name,
        summary.requests_sent,
        took.as_secs_f64(),
        fetch.as_secs_f64(),
        bound.as_secs_f64(),
        bound.as_secs_f64() / took.as_secs_f64(),
        bound.as_secs_f64() / fetch.as_secs_f64()
    );
    Ok(())
}

/// The least time in which `n` requests can be sent under `rules`, from the first send to the
/// last: the k-th request (0-based) cannot go before `floor(k / r) * window` for each rate rule,
/// nor before `k * spacing`. (Answer latency and the gate's safety margin come on top.)
fn lower_bound(n: u64, rules: &PacingRules) -> Duration {
    let k = n.saturating_sub(1);
    let mut bound = rules.min_spacing.saturating_mul(k as u32);
    for limit in [rules.max_requests, rules.per_contract]
        .into_iter()
        .flatten()
    {
        let windows = k / u64::from(limit.requests);
        bound = bound.max(limit.per.saturating_mul(windows as u32));
    }
    bound
}

/// Local-mode loads of the real IB files (read + gap analysis, no fetch), median of 7, beside
/// the Python system's figures in PEERS.md.
async fn local_loads() -> Result<(), Box<dyn std::error::Error>> {
    use ktrdr_data::manager::multi_timeframe::MultiLoadRequest;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ib");
    let dir = tempfile::tempdir()?;
    for f in ["MSFT_1h.csv", "MSFT_1m.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f))?;
    }
    let manager = DataManager::builder().data_dir(dir.path()).build()?;
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    let mut one = Vec::new();
    let mut bars = 0;
    for _ in 0..7 {
        let request = LoadRequest::new("MSFT".parse()?, Timeframe::H1, LoadMode::Local);
        let progress = ProgressHandle::new("bench", DataManager::plan(LoadMode::Local));
        let t = Instant::now();
        bars = manager
            .load(&request, &CancellationToken::new(), &progress)
            .await?
            .bars_in_window;
        one.push(t.elapsed());
    }
    let mut multi = Vec::new();
    for _ in 0..7 {
        let request = MultiLoadRequest {
            symbol: "MSFT".parse()?,
            timeframes: vec![Timeframe::H1, Timeframe::M1],
            base: None,
            mode: LoadMode::Local,
            start: None,
            end: None,
        };
        let progress = ProgressHandle::new("bench", DataManager::multi_plan(&request.timeframes));
        let t = Instant::now();
        manager
            .load_multi(&request, &CancellationToken::new(), &progress)
            .await?;
        multi.push(t.elapsed());
    }
    println!("| local load (read + gap analysis) | ktrdr | Python |");
    println!("|---|---|---|");
    println!("| MSFT 1h ({bars} bars) | {:.1} ms | 77.3 ms read alone; 2,480 ms with validation; gap analysis 652 ms |", median(one));
    println!(
        "| multi-timeframe MSFT 1h + 1m (+ coverage) | {:.1} ms | 119 ms without validation |",
        median(multi)
    );
    Ok(())
}

async fn cancel_latency() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Arc::new(SimProvider::new(SimConfig {
        now: Some(NOW),
        latency: Duration::from_millis(50),
        latency_jitter: Duration::from_millis(100),
        ..SimConfig::default()
    })?);
    let mut samples = Vec::new();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..100 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let dir = tempfile::tempdir()?;
        let manager = DataManager::builder()
            .data_dir(dir.path())
            .provider(sim.clone())
            .now(NOW)
            .build()?;
        let request = LoadRequest::new("MSFT".parse()?, Timeframe::M5, LoadMode::Full)
            .with_start(parse_timestamp("2024-01-01")?)
            .with_end(parse_timestamp("2024-12-31")?);
        let token = CancellationToken::new();
        let progress = ProgressHandle::new("bench", DataManager::plan(LoadMode::Full));
        let task = {
            let (token, progress) = (token.clone(), progress.clone());
            tokio::spawn(async move { manager.load(&request, &token, &progress).await })
        };
        tokio::time::sleep(Duration::from_millis(20 + seed % 400)).await;
        let asked = Instant::now();
        token.cancel(CancelReason::User);
        let summary = task.await??;
        samples.push(asked.elapsed());
        assert!(summary.is_cancelled());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "cancel → load returned, {} cancels at random points (requests in flight, saves running): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}

/// How far a first run's ETA (no history) is from the truth on a paced load: the 5-year 5m
/// backfill under `PacingRules::fast()` (bursts of 60 requests, then a wait), read every 50 ms
/// as a display would. Error = |elapsed + ETA − total| / total, from 10 % progress on.
async fn first_run_eta() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Arc::new(SimProvider::new(SimConfig {
        now: Some(NOW),
        pacing: PacingRules::fast(),
        ..SimConfig::default()
    })?);
    let dir = tempfile::tempdir()?;
    let manager = DataManager::builder()
        .data_dir(dir.path())
        .provider(sim)
        .now(NOW)
        .build()?;
    let request = LoadRequest::new("AAPL".parse()?, Timeframe::M5, LoadMode::Backfill)
        .with_start(parse_timestamp("2020-01-01")?)
        .with_end(parse_timestamp("2024-12-31T23:59:59Z")?);
    let progress = ProgressHandle::new("eta", DataManager::plan(LoadMode::Backfill));
    // What the runner attaches for an operation without history.
    progress.set_eta_source(Box::new(ktrdr_ops::eta::TimeEstimator::new(None)));
    let reader = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut reads = Vec::new();
            loop {
                let s = progress.snapshot();
                if s.phase != ktrdr_ops::progress::ProgressPhase::Running {
                    return reads;
                }
                if let Some(eta) = s.eta {
                    reads.push((s.elapsed_secs, s.percent, eta.remaining_secs));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    manager
        .load(&request, &CancellationToken::new(), &progress)
        .await?;
    progress.complete();
    let reads = reader.await?;
    let total = progress.snapshot().elapsed_secs;
    let errors: Vec<(f64, f64)> = reads
        .iter()
        .filter(|(_, percent, _)| *percent >= 10.0)
        .map(|&(t, percent, eta)| (percent, ((t + eta) - total).abs() / total))
        .collect();
    if std::env::var_os("ETA_TRACE").is_some() {
        for (t, p, eta) in reads.iter().step_by(10) {
            eprintln!("{t:.2} s {p:.1} % eta {eta:.1} s -> total {:.1}", t + eta);
        }
    }
    let worst = errors.iter().map(|e| e.1).fold(0.0, f64::max);
    let at = |p: f64| {
        errors
            .iter()
            .find(|e| e.0 >= p)
            .map_or(f64::NAN, |e| e.1 * 100.0)
    };
    println!("| first-run ETA, 5 years 5m, fast pacing | total {total:.1} s | worst error from 10 %: {:.1} % | at 10 %: {:.1} % | at 36 %: {:.1} % | at 60 %: {:.1} % | {} reads |",
        worst * 100.0, at(10.0), at(36.0), at(60.0), errors.len());
    Ok(())
}
