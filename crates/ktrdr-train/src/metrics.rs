//! Classification metrics and the `metrics.json` shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::NUM_CLASSES;

/// Accuracy and weighted precision, recall and F1, as scikit-learn computes them with
/// `average="weighted", zero_division=0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Share of rows predicted right.
    pub accuracy: f64,
    /// Per-class precision weighted by each class's true count.
    pub precision: f64,
    /// Per-class recall weighted by each class's true count.
    pub recall: f64,
    /// Per-class F1 weighted by each class's true count.
    pub f1_score: f64,
}

impl Classification {
    /// Metrics of `predicted` against `truth` (class indices below 3); all 0 when empty.
    pub fn of(truth: &[u32], predicted: &[u32]) -> Self {
        let n = truth.len();
        if n == 0 {
            return Self {
                accuracy: 0.0,
                precision: 0.0,
                recall: 0.0,
                f1_score: 0.0,
            };
        }
        let mut true_count = [0usize; NUM_CLASSES];
        let mut pred_count = [0usize; NUM_CLASSES];
        let mut hits = [0usize; NUM_CLASSES];
        for (&t, &p) in truth.iter().zip(predicted) {
            true_count[t as usize] += 1;
            pred_count[p as usize] += 1;
            if t == p {
                hits[t as usize] += 1;
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
        for c in 0..NUM_CLASSES {
            let weight = true_count[c] as f64 / n as f64;
            let p = ratio(hits[c], pred_count[c]);
            let r = ratio(hits[c], true_count[c]);
            let f = if p + r == 0.0 {
                0.0
            } else {
                2.0 * p * r / (p + r)
            };
            precision += weight * p;
            recall += weight * r;
            f1 += weight * f;
        }
        Self {
            accuracy: hits.iter().sum::<usize>() as f64 / n as f64,
            precision,
            recall,
            f1_score: f1,
        }
    }
}

/// Loss and accuracy per epoch, in the Python `history` shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// Training accuracy of each epoch (with dropout active, as the Python system measured it).
    pub train_accuracy: Vec<f64>,
    /// Validation loss after each epoch.
    pub val_loss: Vec<f64>,
    /// Validation accuracy after each epoch.
    pub val_accuracy: Vec<f64>,
}

/// Metrics on the test part, with the keys of the Python `/performance` route.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    /// Mean cross-entropy.
    pub test_loss: f64,
    /// Share predicted right.
    pub test_accuracy: f64,
    /// Weighted precision.
    pub precision: f64,
    /// Weighted recall.
    pub recall: f64,
    /// Weighted F1.
    pub f1_score: f64,
    /// Rows in the test part.
    pub sample_count: usize,
}

/// One symbol's test metrics, computed with its own embedding row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SymbolMetrics {
    /// Share predicted right.
    pub accuracy: f64,
    /// Weighted precision.
    pub precision: f64,
    /// Weighted recall.
    pub recall: f64,
    /// Weighted F1.
    pub f1_score: f64,
    /// The symbol's test rows.
    pub sample_count: usize,
}

/// The content of `metrics.json`: the Python keys, then what it lacked (test and per-symbol
/// metrics, the epoch whose weights were kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingMetrics {
    /// Epochs run (fewer than configured after an early stop).
    pub epochs_trained: usize,
    /// Training loss of the last epoch.
    pub final_train_loss: f64,
    /// Training accuracy of the last epoch.
    pub final_train_accuracy: f64,
    /// Best training accuracy of any epoch.
    pub best_train_accuracy: f64,
    /// Wall time of the training loop, in seconds (summed over resumed runs).
    pub training_time: f64,
    /// Per-epoch figures.
    pub history: History,
    /// Validation loss of the last epoch.
    pub final_val_loss: f64,
    /// Validation accuracy of the last epoch.
    pub final_val_accuracy: f64,
    /// Best validation accuracy of any epoch.
    pub best_val_accuracy: f64,
    /// The 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub early_stopped: bool,
    /// Metrics of the kept weights on the test part.
    pub test_metrics: TestMetrics,
    /// Test metrics per symbol.
    pub per_symbol_metrics: BTreeMap<String, SymbolMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_scores_match_scikit_learn() {
        // sklearn.metrics.precision_recall_fscore_support(t, p, average="weighted",
        // zero_division=0) → (0.5, 0.5, 0.4666…): class 2 is never predicted (precision 0).
        let truth = [0, 0, 1, 1, 2, 2];
        let predicted = [0, 1, 1, 1, 0, 0];
        let m = Classification::of(&truth, &predicted);
        assert!((m.accuracy - 0.5).abs() < 1e-12);
        // class 0: p 1/3 r 1/2; class 1: p 2/3 r 1; class 2: p 0 r 0; weights 1/3 each.
        assert!((m.precision - (1.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((m.recall - 0.5).abs() < 1e-12);
        let f1 = (2.0 * (1.0 / 3.0) * 0.5 / (1.0 / 3.0 + 0.5) + 0.8) / 3.0;
        assert!((m.f1_score - f1).abs() < 1e-12);
    }

    #[test]
    fn empty_input_gives_zeros() {
        assert_eq!(Classification::of(&[], &[]).f1_score, 0.0);
    }
}
