//! Optimizers and learning-rate schedules with PyTorch's update rules.
//!
//! candle-nn has AdamW (decoupled decay) and a momentum-less SGD; the Python system used
//! PyTorch's Adam, SGD and RMSprop, whose weight decay is added to the gradient. The update runs
//! on host copies of the parameters (a few thousand floats for these networks): one pass per
//! parameter instead of a dozen candle operations, and the state is plain vectors a checkpoint
//! stores exactly.

use serde::{Deserialize, Serialize};

use crate::spec::{LrScheduler, OptimizerKind, TrainParams};

const ADAM_BETA1: f32 = 0.9;
const ADAM_BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;
const RMSPROP_ALPHA: f32 = 0.99;
const RMSPROP_EPS: f32 = 1e-8;
/// PyTorch's `ReduceLROnPlateau` default relative threshold.
const PLATEAU_THRESHOLD: f64 = 1e-4;

/// Everything an optimizer carries between steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// Steps taken.
    pub step: u64,
    /// The current learning rate (after scheduling).
    pub lr: f64,
    /// Per parameter: Adam's first moment, SGD's momentum buffer, RMSprop's square average.
    pub first: Vec<Vec<f32>>,
    /// Per parameter: Adam's second moment, RMSprop's momentum buffer; empty for SGD.
    pub second: Vec<Vec<f32>>,
}

/// An optimizer over host copies of the parameters.
#[derive(Debug, Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    weight_decay: f32,
    momentum: f32,
    state: OptimizerState,
}

impl Optimizer {
    /// A fresh optimizer for parameters of the given lengths.
    pub fn new(params: &TrainParams, lengths: &[usize]) -> Self {
        let zeros = || lengths.iter().map(|&n| vec![0.0; n]).collect::<Vec<_>>();
        let second = match params.optimizer {
            OptimizerKind::Sgd => Vec::new(),
            OptimizerKind::Adam | OptimizerKind::RmsProp => zeros(),
        };
        Self {
            kind: params.optimizer,
            weight_decay: params.weight_decay as f32,
            momentum: params.momentum as f32,
            state: OptimizerState {
                step: 0,
                lr: params.learning_rate,
                first: zeros(),
                second,
            },
        }
    }

    /// An optimizer continuing from a checkpointed state.
    pub fn resume(params: &TrainParams, state: OptimizerState) -> Self {
        Self {
            kind: params.optimizer,
            weight_decay: params.weight_decay as f32,
            momentum: params.momentum as f32,
            state,
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> &OptimizerState {
        &self.state
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.state.lr
    }

    /// Sets the learning rate (the scheduler's output).
    pub fn set_lr(&mut self, lr: f64) {
        self.state.lr = lr;
    }

    /// One step: updates `params[i]` in place from `grads[i]` (same lengths as at creation).
    pub fn step(&mut self, params: &mut [Vec<f32>], grads: &mut [Vec<f32>]) {
        self.state.step += 1;
        let lr = self.state.lr as f32;
        let wd = self.weight_decay;
        for (i, (p, g)) in params.iter_mut().zip(grads.iter_mut()).enumerate() {
            if wd != 0.0 {
                for (g, &p) in g.iter_mut().zip(p.iter()) {
                    *g += wd * p;
                }
            }
            match self.kind {
                OptimizerKind::Adam => {
                    let t = self.state.step as i32;
                    let bc1 = 1.0 - ADAM_BETA1.powi(t);
                    let bc2_sqrt = (1.0 - ADAM_BETA2.powi(t)).sqrt();
                    let step_size = lr / bc1;
                    let m = self.state.first[i].iter_mut();
                    let v = self.state.second[i].iter_mut();
                    // Zipped iterators (no indexing) let the compiler vectorise the loop.
                    for (((p, &g), m), v) in p.iter_mut().zip(g.iter()).zip(m).zip(v) {
                        *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
                        *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
                        let denom = v.sqrt() / bc2_sqrt + ADAM_EPS;
                        *p -= step_size * *m / denom;
                    }
                }
                OptimizerKind::Sgd => {
                    let buf = &mut self.state.first[i];
                    let first = self.state.step == 1;
                    for j in 0..p.len() {
                        let d = if self.momentum == 0.0 {
                            g[j]
                        } else {
                            // PyTorch starts the buffer at the first gradient, not at zero.
                            buf[j] = if first {
                                g[j]
                            } else {
                                self.momentum * buf[j] + g[j]
                            };
                            buf[j]
                        };
                        p[j] -= lr * d;
                    }
                }
                OptimizerKind::RmsProp => {
                    let sq = &mut self.state.first[i];
                    let buf = &mut self.state.second[i];
                    for j in 0..p.len() {
                        let g = g[j];
                        sq[j] = RMSPROP_ALPHA * sq[j] + (1.0 - RMSPROP_ALPHA) * g * g;
                        let avg = sq[j].sqrt() + RMSPROP_EPS;
                        if self.momentum > 0.0 {
                            buf[j] = self.momentum * buf[j] + g / avg;
                            p[j] -= lr * buf[j];
                        } else {
                            p[j] -= lr * g / avg;
                        }
                    }
                }
            }
        }
    }
}

/// Scales all gradients so their joint L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`, including its 1e-6 guard).
pub fn clip_grad_norm(grads: &mut [Vec<f32>], max_norm: f64) {
    let total: f64 = grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        let coef = coef as f32;
        for x in grads.iter_mut().flat_map(|g| g.iter_mut()) {
            *x *= coef;
        }
    }
}

/// A learning-rate schedule's state between epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    /// Epochs stepped.
    pub epochs: usize,
    /// Best validation loss seen (plateau schedule).
    pub best: Option<f64>,
    /// Epochs since it improved (plateau schedule).
    pub bad_epochs: usize,
}

/// A learning-rate schedule, stepped once per epoch.
#[derive(Debug, Clone)]
pub struct Scheduler {
    kind: Option<LrScheduler>,
    initial_lr: f64,
    state: SchedulerState,
}

impl Scheduler {
    /// A schedule from its first epoch, or continuing from `state`.
    pub fn new(params: &TrainParams, state: Option<SchedulerState>) -> Self {
        Self {
            kind: params.lr_scheduler.clone(),
            initial_lr: params.learning_rate,
            state: state.unwrap_or(SchedulerState {
                epochs: 0,
                best: None,
                bad_epochs: 0,
            }),
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> &SchedulerState {
        &self.state
    }

    /// The learning rate for the next epoch, given this epoch's rate and validation loss.
    pub fn step(&mut self, lr: f64, val_loss: f64) -> f64 {
        self.state.epochs += 1;
        match self.kind {
            None => lr,
            // Closed forms, as PyTorch's get_lr computes them, so no rounding accumulates.
            Some(LrScheduler::Step { step_size, gamma }) => {
                self.initial_lr * gamma.powi((self.state.epochs / step_size) as i32)
            }
            Some(LrScheduler::Exponential { gamma }) => {
                self.initial_lr * gamma.powi(self.state.epochs as i32)
            }
            Some(LrScheduler::ReduceOnPlateau { factor, patience }) => {
                let improved = self
                    .state
                    .best
                    .is_none_or(|best| val_loss < best * (1.0 - PLATEAU_THRESHOLD));
                if improved {
                    self.state.best = Some(val_loss);
                    self.state.bad_epochs = 0;
                    lr
                } else {
                    self.state.bad_epochs += 1;
                    if self.state.bad_epochs > patience {
                        self.state.bad_epochs = 0;
                        lr * factor
                    } else {
                        lr
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kind: OptimizerKind) -> TrainParams {
        TrainParams {
            optimizer: kind,
            learning_rate: 0.1,
            weight_decay: 0.0,
            ..TrainParams::default()
        }
    }

    // Expected values computed by hand from PyTorch's documented update rules.
    #[test]
    fn adam_matches_pytorch_on_two_steps() {
        let mut opt = Optimizer::new(&params(OptimizerKind::Adam), &[1]);
        let mut p = vec![vec![1.0f32]];
        opt.step(&mut p, &mut [vec![0.5]]);
        // Bias-corrected first step moves by lr·sign(g).
        assert!((p[0][0] - 0.9).abs() < 1e-6, "{}", p[0][0]);
        opt.step(&mut p, &mut [vec![-0.5]]);
        // m = .9·.05 − .05 = −.005 → m̂ = −.005/.19; v̂ = .25; step = .1·(.005/.19)/.5
        let expected = 0.9 + 0.1 * (0.005 / 0.19) / 0.5;
        assert!(
            (p[0][0] - expected).abs() < 1e-5,
            "{} vs {expected}",
            p[0][0]
        );
    }

    #[test]
    fn sgd_momentum_starts_from_the_first_gradient_and_adds_weight_decay() {
        let mut tp = params(OptimizerKind::Sgd);
        tp.weight_decay = 0.5;
        let mut opt = Optimizer::new(&tp, &[1]);
        let mut p = vec![vec![2.0f32]];
        opt.step(&mut p, &mut [vec![1.0]]);
        // g = 1 + .5·2 = 2; buf = 2; p = 2 − .1·2
        assert!((p[0][0] - 1.8).abs() < 1e-6);
        opt.step(&mut p, &mut [vec![1.0]]);
        // g = 1 + .9 = 1.9; buf = .9·2 + 1.9 = 3.7; p = 1.8 − .37
        assert!((p[0][0] - 1.43).abs() < 1e-5, "{}", p[0][0]);
    }

    #[test]
    fn rmsprop_divides_by_the_running_root_mean_square() {
        let mut tp = params(OptimizerKind::RmsProp);
        tp.momentum = 0.0;
        let mut opt = Optimizer::new(&tp, &[1]);
        let mut p = vec![vec![0.0f32]];
        opt.step(&mut p, &mut [vec![2.0]]);
        // sq = .01·4 = .04; p = −.1·2/.2
        assert!((p[0][0] + 1.0).abs() < 1e-5, "{}", p[0][0]);
    }

    #[test]
    fn clipping_scales_to_the_joint_norm() {
        let mut g = vec![vec![3.0f32], vec![4.0]];
        clip_grad_norm(&mut g, 1.0);
        assert!((g[0][0] - 0.6).abs() < 1e-5 && (g[1][0] - 0.8).abs() < 1e-5);
        let mut small = vec![vec![0.1f32]];
        clip_grad_norm(&mut small, 1.0);
        assert_eq!(small[0][0], 0.1);
    }

    #[test]
    fn schedules_follow_pytorch() {
        let mut tp = params(OptimizerKind::Adam);
        tp.lr_scheduler = Some(LrScheduler::Step {
            step_size: 2,
            gamma: 0.1,
        });
        let mut s = Scheduler::new(&tp, None);
        let lrs: Vec<f64> = (0..4).map(|_| s.step(0.0, 1.0)).collect();
        assert_eq!(lrs[0], 0.1);
        assert!((lrs[1] - 0.01).abs() < 1e-12 && (lrs[3] - 0.001).abs() < 1e-12);

        tp.lr_scheduler = Some(LrScheduler::ReduceOnPlateau {
            factor: 0.5,
            patience: 1,
        });
        let mut s = Scheduler::new(&tp, None);
        let mut lr = 0.1;
        for loss in [1.0, 0.9, 0.9, 0.9] {
            lr = s.step(lr, loss);
        }
        // Best .9 at epoch 2; epochs 3 and 4 do not improve; the second exceeds patience 1.
        assert!((lr - 0.05).abs() < 1e-12, "{lr}");
    }
}
