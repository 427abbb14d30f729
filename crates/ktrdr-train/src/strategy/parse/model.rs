//! `model`: the network and how to train it.

use crate::spec::{Activation, EarlyStopping, LrScheduler, Monitor, OptimizerKind, TrainParams};
use serde_norway::Value;

use crate::strategy::config::*;
use crate::strategy::reader::{self as r, Fields};
use crate::strategy::report::Report;

pub(super) fn model(report: &mut Report, path: &str, v: &Value) -> Option<ModelSection> {
    let mut f = Fields::of(report, path, v)?;
    let kind = f
        .required(report, "type")
        .and_then(|(v, p)| r::choice(report, &p, v, &["mlp"]));
    let symbol_embedding_dim = match f.optional("symbol_embedding_dim") {
        Some((v, p)) => r::count(report, &p, v, 1),
        None => Some(16),
    };
    let input_size = f
        .optional("input_size")
        .map(|(v, p)| r::count(report, &p, v, 1));
    let architecture = f
        .required(report, "architecture")
        .and_then(|(v, p)| architecture(report, &p, v));
    let features = match f.optional("features") {
        Some((v, p)) => features(report, &p, v),
        None => Some((0, None, None)),
    };
    let training = f
        .required(report, "training")
        .and_then(|(v, p)| training_params(report, &p, v));
    f.finish(report);
    kind?;
    let (lookback_periods, include_price_context, scale_features) = features?;
    let (training, estimated_duration_minutes) = training?;
    Some(ModelSection {
        symbol_embedding_dim: symbol_embedding_dim?,
        input_size: match input_size {
            Some(size) => Some(size?),
            None => None,
        },
        architecture: architecture?,
        lookback_periods,
        include_price_context,
        scale_features,
        training,
        estimated_duration_minutes,
    })
}

fn architecture(report: &mut Report, path: &str, v: &Value) -> Option<Architecture> {
    let mut f = Fields::of(report, path, v)?;
    let hidden_layers = f.required(report, "hidden_layers").and_then(|(v, p)| {
        let items = r::list(report, &p, v)?;
        if items.is_empty() {
            report.error(&p, "must list at least one layer width");
            return None;
        }
        let widths: Vec<Option<usize>> = items
            .iter()
            .enumerate()
            .map(|(i, w)| r::count(report, &r::index(&p, i), w, 1))
            .collect();
        widths.into_iter().collect::<Option<Vec<usize>>>()
    });
    let activation = match f.optional("activation") {
        Some((v, p)) => r::choice(report, &p, v, Activation::ALLOWED).and_then(|a| a.parse().ok()),
        None => Some(Activation::Relu),
    };
    if let Some((v, p)) = f.optional("output_activation") {
        if r::choice(report, &p, v, &["softmax"]).is_some() {
            report.note(
                &p,
                "the network outputs logits; softmax turns them into probabilities at prediction",
            );
        }
    }
    let dropout = match f.optional("dropout") {
        Some((v, p)) => below_one(report, &p, v),
        None => Some(0.2),
    };
    f.finish(report);
    Some(Architecture {
        hidden_layers: hidden_layers?,
        activation: activation?,
        dropout: dropout?,
    })
}

/// A number in [0, 1): a dropout probability or a momentum.
fn below_one(report: &mut Report, path: &str, v: &Value) -> Option<f64> {
    let x = r::number(report, path, v)?;
    if (0.0..1.0).contains(&x) {
        Some(x)
    } else {
        report.error(path, format!("{x} is out of range; allowed: [0, 1)"));
        None
    }
}

type Features = (usize, Option<bool>, Option<bool>);

fn features(report: &mut Report, path: &str, v: &Value) -> Option<Features> {
    let mut f = Fields::of(report, path, v)?;
    let include_price_context = f.optional("include_price_context").and_then(|(v, p)| {
        report.note(
            &p,
            "accepted; not used by training (features are fuzzy memberships only)",
        );
        r::boolean(report, &p, v)
    });
    let lookback = match f.optional("lookback_periods") {
        Some((v, p)) => r::count(report, &p, v, 0),
        None => Some(0),
    };
    let scale_features = f.optional("scale_features").and_then(|(v, p)| {
        report.note(
            &p,
            "accepted; not used by training (memberships are already in [0, 1])",
        );
        r::boolean(report, &p, v)
    });
    f.finish(report);
    Some((lookback?, include_price_context, scale_features))
}

/// `model.training`, with [`TrainParams::default`] (the Python system's defaults) for absent keys.
fn training_params(
    report: &mut Report,
    path: &str,
    v: &Value,
) -> Option<(TrainParams, Option<f64>)> {
    let d = TrainParams::default();
    let mut f = Fields::of(report, path, v)?;
    let learning_rate = f
        .optional("learning_rate")
        .map_or(Some(d.learning_rate), |(v, p)| r::positive(report, &p, v));
    let batch_size = f
        .optional("batch_size")
        .map_or(Some(d.batch_size), |(v, p)| r::count(report, &p, v, 1));
    let epochs = f
        .optional("epochs")
        .map_or(Some(d.epochs), |(v, p)| r::count(report, &p, v, 1));
    let optimizer = f.optional("optimizer").map_or(Some(d.optimizer), |(v, p)| {
        r::choice(report, &p, v, OptimizerKind::ALLOWED).and_then(|o| o.parse().ok())
    });
    let weight_decay = f
        .optional("weight_decay")
        .map_or(Some(d.weight_decay), |(v, p)| {
            r::number_in(report, &p, v, 0.0, f64::MAX, true)
        });
    let momentum = f
        .optional("momentum")
        .map_or(Some(d.momentum), |(v, p)| below_one(report, &p, v));
    let early_stopping = optional(f.optional("early_stopping"), |v, p| {
        early_stopping(report, p, v)
    });
    let lr_scheduler = optional(f.optional("lr_scheduler"), |v, p| {
        lr_scheduler(report, p, v)
    });
    let gradient_clip = f
        .optional("gradient_clip")
        .map_or(Some(d.gradient_clip), |(v, p)| r::positive(report, &p, v));
    let estimated_duration_minutes = optional(f.optional("estimated_duration_minutes"), |v, p| {
        report.note(
            p,
            "accepted; not used by training (the ETA is learned from runs)",
        );
        r::positive(report, p, v)
    });
    f.finish(report);
    let params = TrainParams {
        learning_rate: learning_rate?,
        batch_size: batch_size?,
        epochs: epochs?,
        optimizer: optimizer?,
        weight_decay: weight_decay?,
        momentum: momentum?,
        early_stopping: early_stopping?,
        lr_scheduler: lr_scheduler?,
        gradient_clip: gradient_clip?,
        seed: d.seed,
    };
    Some((params, estimated_duration_minutes?))
}

/// `Some(None)` when the key is absent, `Some(Some(x))` when valid, `None` when invalid.
fn optional<T>(
    found: Option<(&Value, String)>,
    parse: impl FnOnce(&Value, &str) -> Option<T>,
) -> Option<Option<T>> {
    match found {
        None => Some(None),
        Some((v, p)) => parse(v, &p).map(Some),
    }
}

fn early_stopping(report: &mut Report, path: &str, v: &Value) -> Option<EarlyStopping> {
    let mut f = Fields::of(report, path, v)?;
    let patience = f
        .optional("patience")
        .map_or(Some(10), |(v, p)| r::count(report, &p, v, 1));
    let monitor = f
        .optional("monitor")
        .map_or(Some(Monitor::ValLoss), |(v, p)| {
            r::choice(report, &p, v, Monitor::ALLOWED).and_then(|m| m.parse().ok())
        });
    let min_delta = f.optional("min_delta").map_or(Some(1e-4), |(v, p)| {
        r::number_in(report, &p, v, 0.0, f64::MAX, true)
    });
    f.finish(report);
    Some(EarlyStopping {
        patience: patience?,
        monitor: monitor?,
        min_delta: min_delta?,
    })
}

fn lr_scheduler(report: &mut Report, path: &str, v: &Value) -> Option<LrScheduler> {
    let mut f = Fields::of(report, path, v)?;
    let kind = f
        .required(report, "type")
        .and_then(|(v, p)| r::choice(report, &p, v, &["step", "exponential", "reduce_on_plateau"]));
    let factor = |report: &mut Report, found: Option<(&Value, String)>, default: f64| {
        found.map_or(Some(default), |(v, p)| {
            r::number_in(report, &p, v, 0.0, 1.0, false)
        })
    };
    let epochs = |report: &mut Report, found: Option<(&Value, String)>, default: usize| {
        found.map_or(Some(default), |(v, p)| r::count(report, &p, v, 1))
    };
    // Only the keys of the chosen type are asked for, so `finish` refuses the others by name.
    let scheduler = match kind? {
        "step" => {
            let step_size = epochs(report, f.optional("step_size"), 30);
            let gamma = factor(report, f.optional("gamma"), 0.1);
            Some(LrScheduler::Step {
                step_size: step_size?,
                gamma: gamma?,
            })
        }
        "exponential" => factor(report, f.optional("gamma"), 0.95)
            .map(|gamma| LrScheduler::Exponential { gamma }),
        _ => {
            let fac = factor(report, f.optional("factor"), 0.5);
            let patience = epochs(report, f.optional("patience"), 5);
            Some(LrScheduler::ReduceOnPlateau {
                factor: fac?,
                patience: patience?,
            })
        }
    };
    f.finish(report);
    scheduler
}
