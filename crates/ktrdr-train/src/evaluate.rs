//! Forward passes without dropout over a whole part, in chunks, with per-row cross-entropy.

use candle_core::Tensor;

use ktrdr_ops::cancel::CancellationToken;

use crate::dataset::{Samples, Signal};
use crate::model::{argmax, signal_class, Mlp, ModelError};
use crate::spec::NUM_CLASSES;

/// Rows per forward pass: large enough to amortise per-call costs, small enough that a cancel
/// is seen quickly on a big validation part.
const CHUNK_ROWS: usize = 4096;

/// A part's predictions and summed loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Predicted class of each row.
    pub predicted: Vec<u32>,
    /// Sum of the rows' cross-entropy.
    pub loss_sum: f64,
}

impl Evaluation {
    /// Mean cross-entropy; 0 for an empty part, as the Python system reported it.
    pub fn mean_loss(&self) -> f64 {
        if self.predicted.is_empty() {
            0.0
        } else {
            self.loss_sum / self.predicted.len() as f64
        }
    }
}

/// Evaluates `model` on `part` (each row with its own symbol's embedding); `None` if `cancel`
/// fires between chunks.
pub fn evaluate(
    model: &Mlp,
    part: &Samples,
    width: usize,
    cancel: Option<&CancellationToken>,
) -> Result<Option<Evaluation>, ModelError> {
    let device = model.params()[0].device().clone();
    let mut predicted = Vec::with_capacity(part.len());
    let mut loss_sum = 0.0;
    let mut start = 0;
    while start < part.len() {
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            return Ok(None);
        }
        let end = (start + CHUNK_ROWS).min(part.len());
        let n = end - start;
        let x = Tensor::from_slice(
            &part.features[start * width..end * width],
            (n, width),
            &device,
        )?;
        let s = Tensor::from_slice(&part.symbol[start..end], n, &device)?;
        let logits = model.forward(&x, &s)?.to_vec2::<f32>()?;
        for (row, &label) in logits.iter().zip(&part.labels[start..end]) {
            predicted.push(argmax(row).0 as u32);
            loss_sum += cross_entropy(row, label);
        }
        start = end;
    }
    Ok(Some(Evaluation {
        predicted,
        loss_sum,
    }))
}

/// Class indices of labels.
pub fn to_classes(labels: &[Signal]) -> Vec<u32> {
    labels.iter().map(|&s| signal_class(s)).collect()
}

/// −log softmax(logits)[label] and the softmax, computed stably in f64.
pub(crate) fn softmax_cross_entropy(logits: &[f32], label: usize) -> (f64, [f64; NUM_CLASSES]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs = [0f64; NUM_CLASSES];
    for (p, &l) in probs.iter_mut().zip(logits) {
        *p = (l as f64 - max).exp();
    }
    let sum: f64 = probs.iter().sum();
    for p in &mut probs {
        *p /= sum;
    }
    (max + sum.ln() - logits[label] as f64, probs)
}

fn cross_entropy(logits: &[f32], label: Signal) -> f64 {
    softmax_cross_entropy(logits, signal_class(label) as usize).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_of_uniform_logits_is_ln_3() {
        let ce = cross_entropy(&[2.0, 2.0, 2.0], Signal::Sell);
        assert!((ce - 3f64.ln()).abs() < 1e-12);
        assert!(cross_entropy(&[10.0, 0.0, 0.0], Signal::Buy) < 1e-3);
        let (_, p) = softmax_cross_entropy(&[1.0, 2.0, 3.0], 0);
        let e: f64 = [1f64, 2.0, 3.0].iter().map(|x| x.exp()).sum();
        assert!((p[2] - 3f64.exp() / e).abs() < 1e-12);
    }
}
