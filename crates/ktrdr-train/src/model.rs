//! The MLP: the Python `MultiSymbolMLP` with candle.
//!
//! `symbol_embedding(symbol)` is concatenated after the features, then each hidden layer is
//! Linear → activation → dropout, and a Linear head gives 3 logits (BUY, HOLD, SELL). Parameter
//! names follow the PyTorch module (`symbol_embedding.weight`, `mlp.<i>.weight` with the
//! `nn.Sequential` indices, 3 per hidden layer), so the safetensors file reads like its state dict.
//! Initialisation draws from the caller's seeded RNG, never from candle's global one, so a seed
//! fixes every number. This forward pass is for evaluation and prediction; training (dropout
//! included) runs in the crate's `backprop` module.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::dataset::Signal;
use crate::spec::{Activation, MlpSpec, SpecError, NUM_CLASSES};

/// A failure building, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A stored tensor is missing or has the wrong shape for the spec.
    #[error("weights do not match the spec: {0}")]
    Mismatch(String),
    /// Input rows do not match the spec (width, symbol index).
    #[error("bad input: {0}")]
    Input(String),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The device models run on: the GPU when built with the `cuda` or `metal` feature and one is
/// present, else the CPU.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(device) = Device::new_cuda(0) {
        return device;
    }
    #[cfg(feature = "metal")]
    if let Ok(device) = Device::new_metal(0) {
        return device;
    }
    Device::Cpu
}

/// A model's prediction for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The most probable class.
    pub signal: Signal,
    /// Its softmax probability.
    pub confidence: f32,
    /// Probabilities of BUY, HOLD, SELL.
    pub probabilities: [f32; NUM_CLASSES],
}

/// The network's parameters and shape.
#[derive(Debug, Clone)]
pub struct Mlp {
    spec: MlpSpec,
    /// In [`Mlp::parameter_names`] order: embedding, then weight and bias of each layer.
    params: Vec<Tensor>,
}

impl Mlp {
    /// PyTorch's default initialisation: embedding N(0, 1); each Linear's weight and bias
    /// U(−1/√fan_in, 1/√fan_in).
    pub fn init(spec: &MlpSpec, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self, ModelError> {
        spec.validate()?;
        let mut params = Vec::new();
        let emb_len = spec.num_symbols * spec.symbol_embedding_dim;
        let emb: Vec<f32> = (0..emb_len).map(|_| standard_normal(rng)).collect();
        params.push(Tensor::from_vec(
            emb,
            (spec.num_symbols, spec.symbol_embedding_dim),
            device,
        )?);
        for (fan_in, fan_out) in layer_shapes(spec) {
            let bound = 1.0 / (fan_in as f32).sqrt();
            let mut uniform = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect::<Vec<f32>>()
            };
            let w = uniform(fan_in * fan_out);
            let b = uniform(fan_out);
            params.push(Tensor::from_vec(w, (fan_out, fan_in), device)?);
            params.push(Tensor::from_vec(b, fan_out, device)?);
        }
        Ok(Self {
            spec: spec.clone(),
            params,
        })
    }

    /// A model from named tensors (a safetensors file), checking every name and shape.
    pub fn from_named(
        spec: &MlpSpec,
        mut tensors: HashMap<String, Tensor>,
    ) -> Result<Self, ModelError> {
        spec.validate()?;
        let shapes = parameter_shapes(spec);
        let mut params = Vec::with_capacity(shapes.len());
        for (name, shape) in parameter_names(spec).into_iter().zip(shapes) {
            let t = tensors
                .remove(&name)
                .ok_or_else(|| ModelError::Mismatch(format!("tensor {name} is missing")))?;
            if t.dims() != shape.as_slice() {
                return Err(ModelError::Mismatch(format!(
                    "tensor {name} has shape {:?}, the spec needs {shape:?}",
                    t.dims()
                )));
            }
            params.push(t.to_dtype(DType::F32)?);
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(ModelError::Mismatch(format!(
                "unexpected tensor {extra} (not part of this spec)"
            )));
        }
        Ok(Self {
            spec: spec.clone(),
            params,
        })
    }

    /// A model sharing the given parameter tensors (variables during training).
    pub(crate) fn from_params(spec: &MlpSpec, params: Vec<Tensor>) -> Self {
        Self {
            spec: spec.clone(),
            params,
        }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The parameter tensors in [`parameter_names`] order.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// The parameters by name, as a safetensors file stores them.
    pub fn named(&self) -> HashMap<String, Tensor> {
        parameter_names(&self.spec)
            .into_iter()
            .zip(self.params.iter().cloned())
            .collect()
    }

    /// The same weights, cut from any autograd graph (for evaluation and deep copies).
    pub fn detached(&self) -> Result<Self, ModelError> {
        let params = self
            .params
            .iter()
            .map(|p| p.detach().copy())
            .collect::<Result<_, _>>()?;
        Ok(Self {
            spec: self.spec.clone(),
            params,
        })
    }

    /// Logits `[rows, 3]` for features `[rows, input_size]` and symbol indices `[rows]` (u32),
    /// without dropout (evaluation and prediction; training runs in `backprop`).
    pub fn forward(&self, features: &Tensor, symbols: &Tensor) -> Result<Tensor, ModelError> {
        let embedded = self.params[0].embedding(symbols)?;
        let mut h = Tensor::cat(&[features, &embedded], 1)?;
        let hidden = self.spec.hidden_layers.len();
        for layer in 0..=hidden {
            let w = &self.params[1 + 2 * layer];
            let b = &self.params[2 + 2 * layer];
            h = h.matmul(&w.t()?)?.broadcast_add(b)?;
            if layer == hidden {
                break;
            }
            h = activate(&h, self.spec.activation)?;
        }
        Ok(h)
    }

    /// Predictions for row-major `features` (`symbols.len()` rows), each row with its own
    /// symbol's embedding.
    pub fn predict(
        &self,
        features: &[f32],
        symbols: &[u32],
    ) -> Result<Vec<Prediction>, ModelError> {
        let rows = symbols.len();
        let width = self.spec.input_size;
        if features.len() != rows * width {
            return Err(ModelError::Input(format!(
                "{} feature values for {rows} rows of {width} columns",
                features.len()
            )));
        }
        if let Some(&bad) = symbols
            .iter()
            .find(|&&s| s as usize >= self.spec.num_symbols)
        {
            return Err(ModelError::Input(format!(
                "symbol index {bad} out of range: the model knows {} symbols",
                self.spec.num_symbols
            )));
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        let device = self.params[0].device();
        let x = Tensor::from_slice(features, (rows, width), device)?;
        let s = Tensor::from_slice(symbols, rows, device)?;
        let probs = candle_nn::ops::softmax_last_dim(&self.forward(&x, &s)?)?;
        let probs = probs.to_vec2::<f32>()?;
        Ok(probs
            .into_iter()
            .map(|p| {
                let (best, confidence) = argmax(&p);
                Prediction {
                    signal: class_signal(best),
                    confidence,
                    probabilities: [p[0], p[1], p[2]],
                }
            })
            .collect())
    }
}

/// Parameter names in storage and optimizer order, as PyTorch names `MultiSymbolMLP`'s.
pub fn parameter_names(spec: &MlpSpec) -> Vec<String> {
    let mut names = vec!["symbol_embedding.weight".to_owned()];
    for layer in 0..=spec.hidden_layers.len() {
        // Each hidden layer takes three slots of the Sequential: Linear, activation, Dropout.
        let index = 3 * layer;
        names.push(format!("mlp.{index}.weight"));
        names.push(format!("mlp.{index}.bias"));
    }
    names
}

/// Parameter shapes in [`parameter_names`] order (PyTorch's `[out, in]` for weights).
pub fn parameter_shapes(spec: &MlpSpec) -> Vec<Vec<usize>> {
    let mut shapes = vec![vec![spec.num_symbols, spec.symbol_embedding_dim]];
    for (fan_in, fan_out) in layer_shapes(spec) {
        shapes.push(vec![fan_out, fan_in]);
        shapes.push(vec![fan_out]);
    }
    shapes
}

/// `(fan_in, fan_out)` of every Linear, head last.
fn layer_shapes(spec: &MlpSpec) -> Vec<(usize, usize)> {
    let mut width = spec.input_size + spec.symbol_embedding_dim;
    let mut shapes = Vec::new();
    for &w in spec
        .hidden_layers
        .iter()
        .chain(std::iter::once(&NUM_CLASSES))
    {
        shapes.push((width, w));
        width = w;
    }
    shapes
}

/// The class index of a signal (its `repr`).
pub fn signal_class(signal: Signal) -> u32 {
    signal as u32
}

/// The signal of a class index; anything past SELL cannot come out of a 3-wide argmax.
pub fn class_signal(class: usize) -> Signal {
    match class {
        0 => Signal::Buy,
        1 => Signal::Hold,
        _ => Signal::Sell,
    }
}

/// Index and value of the largest element; the first one on ties, as `torch.max` does.
pub(crate) fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

fn activate(h: &Tensor, activation: Activation) -> Result<Tensor, candle_core::Error> {
    match activation {
        Activation::Relu => h.relu(),
        Activation::Tanh => h.tanh(),
        Activation::Sigmoid => candle_nn::ops::sigmoid(h),
        Activation::LeakyRelu => candle_nn::ops::leaky_relu(h, 0.01),
    }
}

/// A standard normal draw (Box–Muller), so no distribution crate is needed for one call site.
fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    // 1 − u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec() -> MlpSpec {
        MlpSpec {
            input_size: 4,
            num_symbols: 2,
            symbol_embedding_dim: 3,
            hidden_layers: vec![5, 6],
            activation: Activation::Tanh,
            dropout: 0.5,
        }
    }

    #[test]
    fn names_and_shapes_follow_the_pytorch_module() {
        let names = parameter_names(&spec());
        assert_eq!(
            names,
            [
                "symbol_embedding.weight",
                "mlp.0.weight",
                "mlp.0.bias",
                "mlp.3.weight",
                "mlp.3.bias",
                "mlp.6.weight",
                "mlp.6.bias"
            ]
        );
        let shapes = parameter_shapes(&spec());
        assert_eq!(shapes[1], [5, 7]);
        assert_eq!(shapes[5], [3, 6]);
    }

    #[test]
    fn each_row_uses_its_own_symbols_embedding() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let model = Mlp::init(&spec(), &mut rng, &Device::Cpu).unwrap();
        let row = [0.1f32, 0.2, 0.3, 0.4];
        let both: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        let p = model.predict(&both, &[0, 1]).unwrap();
        assert_ne!(p[0].probabilities, p[1].probabilities);
        let alone = model.predict(&row, &[1]).unwrap();
        assert_eq!(alone[0].probabilities, p[1].probabilities);
        let sum: f32 = p[0].probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }

    #[test]
    fn loading_refuses_missing_and_misshapen_tensors() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let model = Mlp::init(&spec(), &mut rng, &Device::Cpu).unwrap();
        let mut named = model.named();
        named.remove("mlp.3.bias");
        let err = Mlp::from_named(&spec(), named).unwrap_err();
        assert!(err.to_string().contains("mlp.3.bias is missing"), "{err}");
        let mut wider = spec();
        wider.hidden_layers[0] = 9;
        let err = Mlp::from_named(&wider, model.named()).unwrap_err();
        assert!(err.to_string().contains("mlp.0.weight has shape"), "{err}");
    }

    #[test]
    fn out_of_range_symbols_and_ragged_rows_are_errors() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let model = Mlp::init(&spec(), &mut rng, &Device::Cpu).unwrap();
        assert!(model.predict(&[0.0; 4], &[2]).is_err());
        assert!(model.predict(&[0.0; 5], &[0]).is_err());
    }
}
