//! Training throughput of the rsi_mean_reversion network, next to the machine's arithmetic limit.
//!
//! 27 inputs + a 16-wide symbol embedding → 50 → 25 → 3, ReLU, dropout 0.2, Adam, batch 32,
//! 100,000 random samples; the median of 3 epochs. The limit is the fp32 rate of a 2048² matmul
//! measured in the same run divided by the network's FLOPs per sample (6 × the weights of its
//! matrix products: forward, and backward to inputs and to weights).
//!
//! `cargo run --release -p ktrdr-train --example train_throughput [-- --batch 32 --samples 100000]`
//! The PyTorch figure for the same setup comes from `train_throughput_torch.py` beside this file.
//!
//! Set `RAYON_NUM_THREADS`: candle reads the thread count on every matmul and, when that variable
//! is unset, works it out by parsing `/proc/cpuinfo`, which at batch 32 costs more than the
//! training itself (docs/PERFORMANCE.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement program, not library code

use std::time::Instant;

use candle_core::{Device, Tensor};
use ktrdr_ops::cancel::CancellationToken;
use ktrdr_train::dataset::{Dataset, Samples, Signal};
use ktrdr_train::progress::TrainProgress;
use ktrdr_train::spec::{Activation, MlpSpec, TrainParams};
use ktrdr_train::train::{train, TrainOutcome};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INPUTS: usize = 27;
const SYMBOLS: usize = 4;
const EPOCHS: usize = 3;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn random_part(rows: usize, rng: &mut ChaCha8Rng) -> Samples {
    let signals = [Signal::Buy, Signal::Hold, Signal::Sell];
    Samples {
        features: (0..rows * INPUTS).map(|_| rng.random::<f32>()).collect(),
        labels: (0..rows).map(|_| signals[rng.random_range(0..3)]).collect(),
        symbol: (0..rows)
            .map(|_| rng.random_range(0..SYMBOLS as u32))
            .collect(),
        ts: (0..rows as i64).collect(),
    }
}

/// fp32 GFLOP/s of a square matmul (the median of 5 after a warm-up).
fn matmul_gflops(n: usize) -> f64 {
    let a = Tensor::rand(0f32, 1f32, (n, n), &Device::Cpu).unwrap();
    let b = Tensor::rand(0f32, 1f32, (n, n), &Device::Cpu).unwrap();
    a.matmul(&b).unwrap();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let c = a.matmul(&b).unwrap();
            // Reading one value forces the result (candle's CPU backend is eager anyway).
            c.get(0).unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    2.0 * (n as f64).powi(3) / times[2] / 1e9
}

fn main() {
    let batch = arg("--batch", 32);
    let samples = arg("--samples", 100_000);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data = Dataset {
        feature_names: (0..INPUTS).map(|i| format!("f{i}")).collect(),
        symbols: (0..SYMBOLS).map(|i| format!("S{i}")).collect(),
        train: random_part(samples, &mut rng),
        // A token validation part, so an epoch's time is its training.
        validation: random_part(64, &mut rng),
        test: Samples::default(),
    };
    let spec = MlpSpec {
        input_size: INPUTS,
        num_symbols: SYMBOLS,
        symbol_embedding_dim: 16,
        hidden_layers: vec![50, 25],
        activation: Activation::Relu,
        dropout: 0.2,
    };
    let params = TrainParams {
        batch_size: batch,
        epochs: EPOCHS,
        ..TrainParams::default()
    };

    let start = Instant::now();
    let mut epoch_ends = Vec::new();
    let mut observer = |p: &TrainProgress| {
        if p.val_loss.is_some() {
            epoch_ends.push(start.elapsed().as_secs_f64());
        }
    };
    let outcome = train(
        &data,
        &spec,
        &params,
        &CancellationToken::new(),
        &mut observer,
        None,
    )
    .unwrap();
    assert!(matches!(outcome, TrainOutcome::Completed(_)));
    let mut epoch_secs: Vec<f64> = epoch_ends
        .iter()
        .scan(0.0, |prev, &t| {
            let d = t - *prev;
            *prev = t;
            Some(d)
        })
        .collect();
    epoch_secs.sort_by(f64::total_cmp);
    let rate = samples as f64 / epoch_secs[EPOCHS / 2];

    if std::env::args().any(|a| a == "--train-only") {
        println!("batch {batch}: {rate:.0} samples/s (median of {EPOCHS} epochs)");
        return;
    }
    let gflops = matmul_gflops(2048);
    let dense_weights: usize = [INPUTS + 16, 50, 25, 3]
        .windows(2)
        .map(|w| w[0] * w[1])
        .sum();
    let flops_per_sample = 6 * dense_weights;
    let limit = gflops * 1e9 / flops_per_sample as f64;
    match std::env::var("RAYON_NUM_THREADS") {
        Ok(n) => println!("RAYON_NUM_THREADS={n}"),
        Err(_) => println!("RAYON_NUM_THREADS unset: candle parses /proc/cpuinfo at every matmul"),
    }
    println!("batch {batch}, {samples} samples, epochs {epoch_secs:.3?} s");
    println!("training: {rate:.0} samples/s (median of {EPOCHS} epochs)");
    println!("fp32 matmul 2048²: {gflops:.1} GFLOP/s");
    println!(
        "arithmetic limit: {limit:.0} samples/s ({flops_per_sample} FLOPs per sample = 6 × \
         {dense_weights} weights); training reaches {:.2} % of it",
        100.0 * rate / limit
    );
}
