//! What to build and how to train it: plain types the strategy file is converted into.
//!
//! Defaults are the Python system's (`model_trainer.py`), including weight decay 1e-4 when the
//! file names none. Unlike the Python system, a value outside the allowed set is refused with the
//! allowed values, never silently replaced (it turned any unknown activation into ReLU and any
//! unknown optimizer into Adam).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value outside the allowed set or range, naming the field and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SpecError {
    /// The field, as named in the strategy file (`model.architecture.activation`).
    pub field: &'static str,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl SpecError {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// Declares a string-named enum whose parse error lists the allowed names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The names accepted in a strategy file.
            pub const ALLOWED: &'static [&'static str] = &[$($text),+];

            /// The name used in strategy files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = SpecError;

            fn from_str(s: &str) -> Result<Self, SpecError> {
                match s.to_ascii_lowercase().as_str() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(SpecError::new(
                        $field,
                        format!("unknown value {s:?}; allowed: {}", Self::ALLOWED.join(", ")),
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = SpecError;

            fn try_from(s: String) -> Result<Self, SpecError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// The activation after each hidden layer.
    Activation, "model.architecture.activation", {
        /// max(0, x).
        Relu = "relu",
        /// tanh(x).
        Tanh = "tanh",
        /// 1 / (1 + e^-x).
        Sigmoid = "sigmoid",
        /// x for x > 0, else 0.01·x (PyTorch's default slope).
        LeakyRelu = "leaky_relu",
    }
);

named_enum!(
    /// The optimizer, with PyTorch's semantics (weight decay added to the gradient).
    OptimizerKind, "model.training.optimizer", {
        /// Adam (β 0.9/0.999, ε 1e-8).
        Adam = "adam",
        /// Stochastic gradient descent with momentum.
        Sgd = "sgd",
        /// RMSprop (α 0.99, ε 1e-8), with momentum.
        RmsProp = "rmsprop",
    }
);

named_enum!(
    /// The validation figure early stopping (and the choice of the best epoch) watches.
    Monitor, "model.training.early_stopping.monitor", {
        /// Lower is better.
        ValLoss = "val_loss",
        /// Higher is better.
        ValAccuracy = "val_accuracy",
    }
);

/// The network: a symbol embedding concatenated to the features, hidden layers, a 3-class head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    /// Feature columns per row (without the embedding).
    pub input_size: usize,
    /// Rows of the symbol embedding.
    pub num_symbols: usize,
    /// Width of the symbol embedding (16 in the Python system).
    pub symbol_embedding_dim: usize,
    /// Width of each hidden layer, input side first.
    pub hidden_layers: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dropout probability after each hidden activation (training only).
    pub dropout: f32,
}

impl MlpSpec {
    /// The Python system's default embedding width.
    pub const DEFAULT_EMBEDDING_DIM: usize = 16;
    /// The Python system's default dropout.
    pub const DEFAULT_DROPOUT: f32 = 0.2;

    /// Checks every field, reporting the first bad one.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.input_size == 0 {
            return Err(SpecError::new("model.input_size", "must be at least 1"));
        }
        if self.num_symbols == 0 {
            return Err(SpecError::new("num_symbols", "must be at least 1"));
        }
        if self.symbol_embedding_dim == 0 {
            return Err(SpecError::new(
                "model.symbol_embedding_dim",
                "must be at least 1",
            ));
        }
        if let Some(i) = self.hidden_layers.iter().position(|&w| w == 0) {
            return Err(SpecError::new(
                "model.architecture.hidden_layers",
                format!("layer {i} has width 0"),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(SpecError::new(
                "model.architecture.dropout",
                format!("{} is outside [0, 1)", self.dropout),
            ));
        }
        Ok(())
    }

    /// Number of trainable parameters (embedding, hidden layers, head).
    pub fn parameter_count(&self) -> usize {
        let mut count = self.num_symbols * self.symbol_embedding_dim;
        let mut width = self.input_size + self.symbol_embedding_dim;
        for &w in self
            .hidden_layers
            .iter()
            .chain(std::iter::once(&NUM_CLASSES))
        {
            count += width * w + w;
            width = w;
        }
        count
    }
}

/// BUY, HOLD, SELL.
pub const NUM_CLASSES: usize = 3;

/// Early stopping: stop after `patience` epochs without an improvement of at least `min_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The watched figure.
    pub monitor: Monitor,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            patience: 10,
            monitor: Monitor::ValLoss,
            min_delta: 1e-4,
        }
    }
}

/// A learning-rate schedule, stepped once per epoch after validation (PyTorch's semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LrScheduler {
    /// Multiply by `gamma` every `step_size` epochs (Python defaults 30, 0.1).
    Step {
        /// Epochs between reductions.
        step_size: usize,
        /// Factor applied at each reduction.
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch (Python default 0.95).
    Exponential {
        /// Factor applied each epoch.
        gamma: f64,
    },
    /// Multiply by `factor` once validation loss has not improved (relative threshold 1e-4) for
    /// more than `patience` epochs (Python defaults 0.5, 5).
    ReduceOnPlateau {
        /// Factor applied at each reduction.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
    },
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Initial learning rate.
    pub learning_rate: f64,
    /// Rows per optimizer step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// L2 penalty added to the gradient (PyTorch's `weight_decay`).
    pub weight_decay: f64,
    /// Momentum of SGD and RMSprop.
    pub momentum: f64,
    /// Maximum L2 norm of all gradients together; 0 turns clipping off.
    pub gradient_clip: f64,
    /// Early stopping; `None` runs every epoch.
    pub early_stopping: Option<EarlyStopping>,
    /// Learning-rate schedule; `None` keeps it constant.
    pub lr_scheduler: Option<LrScheduler>,
    /// Seed of the one RNG behind initialisation, shuffling and dropout.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            batch_size: 32,
            epochs: 100,
            optimizer: OptimizerKind::Adam,
            weight_decay: 1e-4,
            momentum: 0.9,
            gradient_clip: 0.0,
            early_stopping: None,
            lr_scheduler: None,
            seed: 42,
        }
    }
}

impl TrainParams {
    /// Checks every field, reporting the first bad one.
    pub fn validate(&self) -> Result<(), SpecError> {
        let positive = |field, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(SpecError::new(
                    field,
                    format!("{v} must be a positive number"),
                ))
            }
        };
        let non_negative = |field, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(SpecError::new(field, format!("{v} must be 0 or more")))
            }
        };
        positive("model.training.learning_rate", self.learning_rate)?;
        if self.batch_size == 0 {
            return Err(SpecError::new(
                "model.training.batch_size",
                "must be at least 1",
            ));
        }
        if self.epochs == 0 {
            return Err(SpecError::new(
                "model.training.epochs",
                "must be at least 1",
            ));
        }
        non_negative("model.training.weight_decay", self.weight_decay)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(SpecError::new(
                "model.training.momentum",
                format!("{} is outside [0, 1)", self.momentum),
            ));
        }
        non_negative("model.training.gradient_clip", self.gradient_clip)?;
        if let Some(es) = &self.early_stopping {
            non_negative("model.training.early_stopping.min_delta", es.min_delta)?;
        }
        match &self.lr_scheduler {
            Some(LrScheduler::Step { step_size, gamma }) => {
                if *step_size == 0 {
                    return Err(SpecError::new(
                        "model.training.lr_scheduler.step_size",
                        "must be at least 1",
                    ));
                }
                positive("model.training.lr_scheduler.gamma", *gamma)?;
            }
            Some(LrScheduler::Exponential { gamma }) => {
                positive("model.training.lr_scheduler.gamma", *gamma)?;
            }
            Some(LrScheduler::ReduceOnPlateau { factor, .. })
                if !(*factor > 0.0 && *factor < 1.0) =>
            {
                return Err(SpecError::new(
                    "model.training.lr_scheduler.factor",
                    format!("{factor} is outside (0, 1)"),
                ));
            }
            Some(LrScheduler::ReduceOnPlateau { .. }) => {}
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_activation_is_refused_with_the_allowed_values() {
        let err = "gelu".parse::<Activation>().unwrap_err();
        assert_eq!(err.field, "model.architecture.activation");
        assert!(err.problem.contains("\"gelu\""), "{err}");
        assert!(
            err.problem.contains("relu, tanh, sigmoid, leaky_relu"),
            "{err}"
        );
        assert_eq!(
            "Leaky_ReLU".parse::<Activation>(),
            Ok(Activation::LeakyRelu)
        );
    }

    #[test]
    fn an_unknown_optimizer_is_refused_not_replaced_by_adam() {
        let err = "adagrad".parse::<OptimizerKind>().unwrap_err();
        assert!(err.problem.contains("adam, sgd, rmsprop"), "{err}");
        let parsed: Result<OptimizerKind, _> = serde_json::from_str("\"adagrad\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn the_rsi_mean_reversion_network_has_the_pytorch_parameter_count() {
        let spec = MlpSpec {
            input_size: 27,
            num_symbols: 4,
            symbol_embedding_dim: 16,
            hidden_layers: vec![50, 25],
            activation: Activation::Relu,
            dropout: 0.2,
        };
        // 4·16 + (43·50 + 50) + (50·25 + 25) + (25·3 + 3), as PyTorch counts it.
        assert_eq!(spec.parameter_count(), 64 + 2200 + 1275 + 78);
        spec.validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_field() {
        let params = TrainParams {
            batch_size: 0,
            ..TrainParams::default()
        };
        assert_eq!(
            params.validate().unwrap_err().field,
            "model.training.batch_size"
        );
        let params = TrainParams {
            lr_scheduler: Some(LrScheduler::ReduceOnPlateau {
                factor: 1.5,
                patience: 5,
            }),
            ..TrainParams::default()
        };
        assert_eq!(
            params.validate().unwrap_err().field,
            "model.training.lr_scheduler.factor"
        );
        let spec = MlpSpec {
            input_size: 3,
            num_symbols: 1,
            symbol_embedding_dim: 16,
            hidden_layers: vec![4, 0],
            activation: Activation::Relu,
            dropout: 0.2,
        };
        assert!(spec.validate().unwrap_err().problem.contains("layer 1"));
    }
}
