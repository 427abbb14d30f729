//! [`TrainingProgressRenderer`]: the progress line of a training operation.
//!
//! `Training mlp on AAPL 1h: epoch 15/50, batch 342/500, loss 0.6931, val acc 0.52`. The
//! message is a pure function of the [`ProgressState`] and of what the renderer was built with
//! (the model, the series, the batches per epoch), as every renderer's must be. The work reports
//! numbers only: the training step's sub-progress counts batches over all epochs, and its step
//! detail is built by [`detail::metrics`].

use std::fmt::Write as _;

use ktrdr_ops::progress::{
    format_duration, push_eta_range, Counter, ProgressPhase, ProgressRenderer, ProgressState,
};

/// The names of the steps of a training, as they appear in [`ProgressState::step_name`].
pub mod steps {
    /// Reading (or loading) the bars of every symbol and timeframe.
    pub const DATA: &str = "Load data";
    /// The strategy's indicators, their fuzzy memberships, timeframe alignment and lags.
    pub const FEATURES: &str = "Compute indicators and features";
    /// Zigzag labels and the chronological split.
    pub const LABELS: &str = "Label and split";
    /// The epochs.
    pub const TRAIN: &str = "Train";
    /// Test metrics and the model's files.
    pub const SAVE: &str = "Evaluate and save";
}

/// The step details of a training, so that every word of the line is written here.
pub mod detail {
    /// `loss 0.6931, val acc 0.52`, or `loss 0.6931` before the first validation.
    pub fn metrics(loss: f64, val_accuracy: Option<f64>) -> String {
        match val_accuracy {
            Some(acc) => format!("loss {loss:.4}, val acc {acc:.2}"),
            None => format!("loss {loss:.4}"),
        }
    }
}

/// Renders the progress of one training; see the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use ktrdr_ops::progress::{ProgressHandle, StepPlan};
/// use ktrdr_train::render::{detail, steps, TrainingProgressRenderer};
///
/// let plan = StepPlan::new([(steps::DATA, 5), (steps::TRAIN, 95)])?;
/// let progress = ProgressHandle::new("op", plan);
/// progress.set_renderer(Arc::new(TrainingProgressRenderer::new("mlp", "AAPL 1h", Some(500))));
/// progress.start_step(1)?;
/// progress.set_sub_progress(14 * 500 + 342, 50 * 500);
/// progress.set_step_detail(detail::metrics(0.69314, Some(0.523)));
/// assert_eq!(
///     progress.snapshot().message,
///     "Training mlp on AAPL 1h: epoch 15/50, batch 342/500, loss 0.6931, val acc 0.52"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrainingProgressRenderer {
    model: String,
    series: String,
    batches_per_epoch: Option<u64>,
}

impl TrainingProgressRenderer {
    /// A renderer for training `model` (`mlp`) on `series` (`AAPL 1h`, `SPY+QQQ 15m/1h`), whose
    /// epochs have `batches_per_epoch` batches once the dataset is known.
    pub fn new(
        model: impl Into<String>,
        series: impl Into<String>,
        batches_per_epoch: Option<u64>,
    ) -> Self {
        TrainingProgressRenderer {
            model: model.into(),
            series: series.into(),
            batches_per_epoch: batches_per_epoch.filter(|&b| b > 0),
        }
    }

    fn running(&self, s: &ProgressState, out: &mut String) {
        let _ = write!(out, "Training {} on {}: ", self.model, self.series);
        match (s.step_name.as_str(), s.sub_progress, self.batches_per_epoch) {
            (
                steps::TRAIN,
                Some(Counter {
                    done,
                    total: Some(total),
                }),
                Some(per_epoch),
            ) => {
                let epochs = total.div_ceil(per_epoch);
                // `done` counts finished batches; the one under way is the next.
                let (epoch, batch) = match done {
                    0 => (1, 0),
                    n => ((n - 1) / per_epoch + 1, (n - 1) % per_epoch + 1),
                };
                let _ = write!(out, "epoch {epoch}/{epochs}, batch {batch}/{per_epoch}");
                if let Some(detail) = &s.step_detail {
                    let _ = write!(out, ", {detail}");
                }
            }
            (name, sub, _) => {
                let _ = write!(
                    out,
                    "[{}/{}] {}",
                    s.step_index + 1,
                    s.step_count,
                    name.to_lowercase()
                );
                if let Some(Counter {
                    done,
                    total: Some(total),
                }) = sub
                {
                    let _ = write!(out, " {done}/{total}");
                }
                if let Some(detail) = &s.step_detail {
                    let _ = write!(out, " ({detail})");
                }
            }
        }
    }
}

impl ProgressRenderer for TrainingProgressRenderer {
    fn render(&self, s: &ProgressState) -> String {
        let mut out = String::with_capacity(96);
        match s.phase {
            ProgressPhase::Completed => {
                let _ = write!(
                    out,
                    "Trained {} on {} in {}",
                    self.model,
                    self.series,
                    format_duration(s.elapsed_secs)
                );
                if let Some(detail) = &s.step_detail {
                    let _ = write!(out, ": {detail}");
                }
            }
            ProgressPhase::Failed | ProgressPhase::Cancelled => {
                let verb = if s.phase == ProgressPhase::Failed {
                    "failed"
                } else {
                    "cancelled"
                };
                let _ = write!(
                    out,
                    "Training {} on {} {verb} at '{}': {}",
                    self.model,
                    self.series,
                    s.step_name,
                    s.error.as_deref().unwrap_or(verb)
                );
            }
            ProgressPhase::Running => {
                self.running(s, &mut out);
                push_eta_range(&mut out, s.eta);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::Arc;

    use ktrdr_ops::progress::{ProgressHandle, StepPlan};

    use super::*;

    fn training(batches: Option<u64>) -> ProgressHandle {
        let plan = StepPlan::new([
            (steps::DATA, 5),
            (steps::FEATURES, 5),
            (steps::TRAIN, 85),
            (steps::SAVE, 5),
        ])
        .unwrap();
        let progress = ProgressHandle::new("op", plan);
        progress.set_renderer(Arc::new(TrainingProgressRenderer::new(
            "mlp", "AAPL 1h", batches,
        )));
        progress
    }

    #[test]
    fn epochs_and_batches_follow_from_the_batches_done_over_all_epochs() {
        let progress = training(Some(4));
        progress.start_step(2).unwrap();
        let line = |done| {
            progress.set_sub_progress(done, 3 * 4);
            progress.snapshot().message
        };
        assert!(line(0).starts_with("Training mlp on AAPL 1h: epoch 1/3, batch 0/4"));
        assert!(line(4).starts_with("Training mlp on AAPL 1h: epoch 1/3, batch 4/4"));
        assert!(line(5).starts_with("Training mlp on AAPL 1h: epoch 2/3, batch 1/4"));
        assert!(line(12).starts_with("Training mlp on AAPL 1h: epoch 3/3, batch 4/4"));
    }

    #[test]
    fn steps_before_training_name_the_step_and_its_detail() {
        let progress = training(None);
        progress.start_step(1).unwrap();
        progress.set_sub_progress(2, 4);
        progress.set_step_detail("SPY 15m");
        assert_eq!(
            progress.snapshot().message,
            "Training mlp on AAPL 1h: [2/4] compute indicators and features 2/4 (SPY 15m)"
        );
    }

    #[test]
    fn the_end_says_how_it_ended() {
        let progress = training(Some(4));
        progress.start_step(2).unwrap();
        progress.mark_cancelled("user");
        let message = progress.snapshot().message;
        assert!(
            message.starts_with("Training mlp on AAPL 1h cancelled at 'Train'"),
            "{message}"
        );
    }
}
