//! Synthetic datasets for the trainer's tests.
#![allow(dead_code)]

use ktrdr_train::dataset::{Dataset, Samples, Signal};
use ktrdr_train::spec::{Activation, MlpSpec, TrainParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How each row's label is made.
#[derive(Clone, Copy)]
pub enum Rule {
    /// From the features: BUY when x0 − x1 is high, SELL when low.
    Features,
    /// From the symbol alone (features are noise): symbol 0 BUY, 1 SELL, 2 HOLD.
    Symbol,
}

/// Three symbols, `width` uniform features, `per_symbol` rows each split 60/20/20 in time order.
pub fn dataset(width: usize, per_symbol: usize, rule: Rule, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let symbols = vec!["AAPL".to_owned(), "MSFT".to_owned(), "EURUSD".to_owned()];
    let mut parts = [Samples::default(), Samples::default(), Samples::default()];
    for s in 0..symbols.len() {
        for i in 0..per_symbol {
            let x: Vec<f32> = (0..width).map(|_| rng.random::<f32>()).collect();
            let label = match rule {
                Rule::Features => {
                    let score = x[0] - x[1];
                    if score > 0.25 {
                        Signal::Buy
                    } else if score < -0.25 {
                        Signal::Sell
                    } else {
                        Signal::Hold
                    }
                }
                Rule::Symbol => [Signal::Buy, Signal::Sell, Signal::Hold][s],
            };
            let part = if i < per_symbol * 6 / 10 {
                0
            } else if i < per_symbol * 8 / 10 {
                1
            } else {
                2
            };
            let p = &mut parts[part];
            p.features.extend(x);
            p.labels.push(label);
            p.symbol.push(s as u32);
            p.ts.push(i as i64 * 3_600_000);
        }
    }
    let [train, validation, test] = parts;
    Dataset {
        feature_names: (0..width).map(|i| format!("rsi_f{i}")).collect(),
        symbols,
        train,
        validation,
        test,
    }
}

/// A small network for `data`.
pub fn spec(data: &Dataset) -> MlpSpec {
    MlpSpec {
        input_size: data.width(),
        num_symbols: data.symbols.len(),
        symbol_embedding_dim: 4,
        hidden_layers: vec![16, 8],
        activation: Activation::Relu,
        dropout: 0.2,
    }
}

/// Short runs for debug-mode tests.
pub fn params(epochs: usize) -> TrainParams {
    TrainParams {
        epochs,
        batch_size: 16,
        learning_rate: 0.01,
        seed: 7,
        ..TrainParams::default()
    }
}
