//! One training step's forward and backward pass: the matrix products on candle, the rest on
//! host vectors.
//!
//! candle's autograd allocates a tensor per operation and adds a zero tensor and a sum per
//! gradient edge: about a hundred small operations per step for this network, which at batch 32
//! cost far more than the arithmetic (docs/PERFORMANCE.md). The MLP's gradients are short to
//! derive, so this pass runs only the six matrix products per step on candle (forward, and
//! backward to the weights and to the inputs) and does the bias, activation, dropout, softmax,
//! cross-entropy and embedding scatter on the host copies that the optimizer updates anyway.
//! A test checks every gradient against candle's autograd of [`Mlp::forward`] for each
//! activation.
//!
//! [`Mlp::forward`]: crate::model::Mlp::forward

use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use crate::evaluate::softmax_cross_entropy;
use rand::RngCore;

use crate::model::argmax;
use crate::spec::{Activation, MlpSpec, NUM_CLASSES};

/// The gradients of one batch's mean cross-entropy, with its loss and hits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchGradients {
    /// Mean cross-entropy of the batch.
    pub loss: f64,
    /// Rows whose largest logit is their label.
    pub correct: usize,
    /// Gradients in [`crate::model::parameter_names`] order, flattened row-major.
    pub grads: Vec<Vec<f32>>,
}

/// A batch: `labels.len()` rows of `spec.input_size` features, their symbols and labels.
pub(crate) struct Batch<'a> {
    pub features: &'a [f32],
    pub symbols: &'a [u32],
    pub labels: &'a [u32],
}

/// Forward and backward pass of `spec` with weights `params` (in parameter order, PyTorch
/// layout) on `batch`, drawing dropout masks from `rng`.
pub(crate) fn forward_backward(
    spec: &MlpSpec,
    params: &[Vec<f32>],
    batch: &Batch<'_>,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> candle_core::Result<BatchGradients> {
    let n = batch.labels.len();
    let emb = spec.symbol_embedding_dim;
    let input = spec.input_size;
    let widths: Vec<usize> = std::iter::once(input + emb)
        .chain(spec.hidden_layers.iter().copied())
        .chain(std::iter::once(NUM_CLASSES))
        .collect();
    let layers = widths.len() - 1;

    // The first layer's input: each row's features, then its symbol's embedding row.
    let mut h = Vec::with_capacity(n * widths[0]);
    for (row, &s) in batch.features.chunks_exact(input).zip(batch.symbols) {
        h.extend_from_slice(row);
        let s = s as usize;
        h.extend_from_slice(&params[0][s * emb..(s + 1) * emb]);
    }

    let weights = (0..layers)
        .map(|l| Tensor::from_slice(&params[1 + 2 * l], (widths[l + 1], widths[l]), device))
        .collect::<candle_core::Result<Vec<_>>>()?;
    // Per layer: its input as a tensor, and for hidden layers d(output)/d(pre-activation)
    // including the dropout scale.
    let mut inputs = Vec::with_capacity(layers);
    let mut derivatives: Vec<Vec<f32>> = Vec::with_capacity(layers - 1);
    let mut out = Vec::new();
    for l in 0..layers {
        let x = Tensor::from_vec(std::mem::take(&mut h), (n, widths[l]), device)?;
        out = x
            .matmul(&weights[l].t()?)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        inputs.push(x);
        let bias = &params[2 + 2 * l];
        for row in out.chunks_exact_mut(widths[l + 1]) {
            for (z, b) in row.iter_mut().zip(bias) {
                *z += b;
            }
        }
        if l + 1 == layers {
            break;
        }
        let mask = dropout_mask(out.len(), spec.dropout, rng);
        let mut d = vec![0f32; out.len()];
        for ((z, d), m) in out.iter_mut().zip(d.iter_mut()).zip(mask) {
            let (a, da) = activate(*z, spec.activation);
            *z = a * m;
            *d = da * m;
        }
        derivatives.push(d);
        h = out.clone();
    }

    // `out` holds the logits: loss, hits and d(loss)/d(logits).
    let mut g = vec![0f32; out.len()];
    let mut loss = 0f64;
    let mut correct = 0;
    for ((row, d), &label) in out
        .chunks_exact(NUM_CLASSES)
        .zip(g.chunks_exact_mut(NUM_CLASSES))
        .zip(batch.labels)
    {
        let label = label as usize;
        let (l, probs) = softmax_cross_entropy(row, label);
        loss += l;
        for (c, (d, p)) in d.iter_mut().zip(probs).enumerate() {
            let target = if c == label { 1.0 } else { 0.0 };
            *d = ((p - target) / n as f64) as f32;
        }
        if argmax(row).0 == label {
            correct += 1;
        }
    }

    let mut grads: Vec<Vec<f32>> = params.iter().map(|p| vec![0f32; p.len()]).collect();
    for l in (0..layers).rev() {
        let out_w = widths[l + 1];
        let bias_grad = &mut grads[2 + 2 * l];
        for row in g.chunks_exact(out_w) {
            for (b, v) in bias_grad.iter_mut().zip(row) {
                *b += v;
            }
        }
        let gt = Tensor::from_slice(&g, (n, out_w), device)?;
        grads[1 + 2 * l] = gt
            .t()?
            .matmul(&inputs[l])?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut dh = gt.matmul(&weights[l])?.flatten_all()?.to_vec1::<f32>()?;
        if l == 0 {
            // Only the embedding columns of the input have parameters behind them.
            for (row, &s) in dh.chunks_exact(widths[0]).zip(batch.symbols) {
                let s = s as usize;
                let target = &mut grads[0][s * emb..(s + 1) * emb];
                for (t, v) in target.iter_mut().zip(&row[input..]) {
                    *t += v;
                }
            }
        } else {
            for (v, d) in dh.iter_mut().zip(&derivatives[l - 1]) {
                *v *= d;
            }
            g = dh;
        }
    }
    Ok(BatchGradients {
        loss: loss / n as f64,
        correct,
        grads,
    })
}

/// Inverted dropout: each of `n` elements kept with probability 1 − p and scaled by 1/(1 − p).
///
/// Each element is decided by 16 random bits (dropped when below round(p·2¹⁶), so p is exact
/// to 2⁻¹⁷), from one bulk fill of the RNG: a call per element cost a tenth of a step. Nothing
/// is drawn when p is 0.
fn dropout_mask(n: usize, p: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    if p == 0.0 {
        return vec![1.0; n];
    }
    let scale = 1.0 / (1.0 - p);
    let threshold = (f64::from(p) * 65536.0).round() as u16;
    let mut bits = vec![0u8; 2 * n];
    rng.fill_bytes(&mut bits);
    bits.chunks_exact(2)
        .map(|b| {
            if u16::from_le_bytes([b[0], b[1]]) < threshold {
                0.0
            } else {
                scale
            }
        })
        .collect()
}

/// The activation and its derivative at pre-activation `z`.
fn activate(z: f32, activation: Activation) -> (f32, f32) {
    match activation {
        Activation::Relu => {
            if z > 0.0 {
                (z, 1.0)
            } else {
                (0.0, 0.0)
            }
        }
        Activation::LeakyRelu => {
            if z > 0.0 {
                (z, 1.0)
            } else {
                (0.01 * z, 0.01)
            }
        }
        Activation::Tanh => {
            let a = z.tanh();
            (a, 1.0 - a * a)
        }
        Activation::Sigmoid => {
            let a = 1.0 / (1.0 + (-z).exp());
            (a, a * (1.0 - a))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parameter_shapes, Mlp};
    use candle_core::Var;
    use rand::{Rng, SeedableRng};

    #[test]
    fn dropout_drops_the_configured_share_and_scales_the_rest() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mask = dropout_mask(100_000, 0.2, &mut rng);
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        // 100,000 draws: the standard deviation of the share is 0.0013.
        assert!((dropped - 0.2).abs() < 0.006, "{dropped}");
        assert!(mask.iter().all(|&m| m == 0.0 || m == 1.25));
        assert_eq!(dropout_mask(3, 0.0, &mut rng), [1.0; 3]);
    }

    /// With dropout off the pass is deterministic, so candle's autograd of the same network
    /// must give the same gradients.
    #[test]
    fn gradients_match_candles_autograd_for_every_activation() {
        for activation in [
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Tanh,
            Activation::Sigmoid,
        ] {
            let spec = MlpSpec {
                input_size: 5,
                num_symbols: 3,
                symbol_embedding_dim: 2,
                hidden_layers: vec![7, 4],
                activation,
                dropout: 0.0,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let model = Mlp::init(&spec, &mut rng, &Device::Cpu).unwrap();
            let params: Vec<Vec<f32>> = model
                .params()
                .iter()
                .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect();
            let n = 6;
            let features: Vec<f32> = (0..n * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
            let symbols = [0u32, 2, 2, 1, 0, 2];
            let labels = [0u32, 1, 2, 2, 1, 0];
            let batch = Batch {
                features: &features,
                symbols: &symbols,
                labels: &labels,
            };
            let ours = forward_backward(&spec, &params, &batch, &mut rng, &Device::Cpu).unwrap();

            let shapes = parameter_shapes(&spec);
            let vars: Vec<Var> = params
                .iter()
                .zip(&shapes)
                .map(|(p, s)| Var::from_slice(p, s.as_slice(), &Device::Cpu).unwrap())
                .collect();
            let live =
                Mlp::from_params(&spec, vars.iter().map(|v| v.as_tensor().clone()).collect());
            let x = Tensor::from_slice(&features, (n, 5), &Device::Cpu).unwrap();
            let s = Tensor::from_slice(&symbols, n, &Device::Cpu).unwrap();
            let y = Tensor::from_slice(&labels, n, &Device::Cpu).unwrap();
            let logits = live.forward(&x, &s).unwrap();
            let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
            let store = loss.backward().unwrap();
            assert!(
                (ours.loss - f64::from(loss.to_scalar::<f32>().unwrap())).abs() < 1e-5,
                "{activation}"
            );
            for (i, var) in vars.iter().enumerate() {
                let expected = store
                    .get(var.as_tensor())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                for (a, b) in ours.grads[i].iter().zip(&expected) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{activation} parameter {i}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
