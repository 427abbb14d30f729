//! Times the whole feature pipeline of a three-timeframe strategy: indicators → fuzzy sets →
//! alignment → lags → labels → dataset, for rsi_mean_reversion (15m / 1h / 4h) on 20,000
//! synthetic 15m bars of one symbol.
//!
//! `cargo run --release -p ktrdr-train --example feature_pipeline [BASE_BARS] [RUNS]`

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use ktrdr_data::types::Timeframe;
use ktrdr_train::features::{assemble_dataset, FeatureSpec, SymbolBars};
use ktrdr_train::strategy::Strategy;

#[allow(
    dead_code,
    clippy::unwrap_used,
    reason = "the integration tests' bar generator, shared as it is"
)]
#[path = "../tests/support/bars.rs"]
mod bars;

const STRATEGY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies/rsi_mean_reversion.yaml"
);

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let base_bars: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(20), |a| a.parse::<usize>())?.max(1);
    let strategy = Strategy::load(Path::new(STRATEGY))?;
    let timeframes = strategy
        .timeframes()
        .ok_or("the strategy names no timeframes")?;
    let walk = bars::walk(Timeframe::M15, base_bars, 42);
    let symbol = SymbolBars {
        symbol: "SPY".to_owned(),
        series: bars::series(&walk, timeframes),
    };
    let sizes: Vec<String> = symbol
        .series
        .iter()
        .map(|(tf, s)| format!("{} {tf}", s.len()))
        .collect();
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let spec = FeatureSpec::from_strategy(&strategy, timeframes)?;
        let dataset = assemble_dataset(
            &spec,
            strategy.labels(),
            strategy.data_split(),
            std::slice::from_ref(&symbol),
        )?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        rows = dataset.train.len() + dataset.validation.len() + dataset.test.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "feature pipeline, rsi_mean_reversion ({}): {} rows x {} columns; {runs} runs: \
         median {:.2} ms, min {:.2} ms, max {:.2} ms",
        sizes.join(", "),
        rows,
        strategy.feature_width(timeframes.len()),
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}
