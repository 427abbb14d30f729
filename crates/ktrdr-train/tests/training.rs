//! The training loop end to end on synthetic data: determinism, best-epoch weights, metrics,
//! early stopping, cancel and resume.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test helper crate, outside #[test] functions

mod common;

use common::{dataset, params, spec, Rule};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_train::checkpoint::Checkpoint;
use ktrdr_train::dataset::Dataset;
use ktrdr_train::evaluate::{evaluate, to_classes};
use ktrdr_train::metrics::{Classification, TrainingMetrics};
use ktrdr_train::progress::{TrainObserver, TrainProgress};
use ktrdr_train::spec::{EarlyStopping, LrScheduler, Monitor, OptimizerKind, TrainParams};
use ktrdr_train::train::{train, TrainError, TrainOutcome, TrainedModel};

fn ignore(_: &TrainProgress) {}

fn run(data: &Dataset, params: &TrainParams) -> TrainedModel {
    match train(
        data,
        &spec(data),
        params,
        &CancellationToken::new(),
        &mut ignore,
        None,
    ) {
        Ok(TrainOutcome::Completed(m)) => *m,
        other => panic!("expected a completed run, got {other:?}"),
    }
}

/// Every weight as raw bits, by parameter name.
fn weight_bits(m: &TrainedModel) -> Vec<(String, Vec<u32>)> {
    let mut named: Vec<_> = m
        .model
        .named()
        .into_iter()
        .map(|(k, t)| {
            let bits = t
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            (k, bits)
        })
        .collect();
    named.sort();
    named
}

/// The metrics without the wall time, which no two runs share.
fn comparable(m: &TrainingMetrics) -> TrainingMetrics {
    TrainingMetrics {
        training_time: 0.0,
        ..m.clone()
    }
}

#[test]
fn the_same_seed_gives_bit_identical_weights_and_metrics() {
    let data = dataset(6, 120, Rule::Features, 1);
    for optimizer in [
        OptimizerKind::Adam,
        OptimizerKind::Sgd,
        OptimizerKind::RmsProp,
    ] {
        let p = TrainParams {
            optimizer,
            gradient_clip: 1.0,
            lr_scheduler: Some(LrScheduler::Exponential { gamma: 0.9 }),
            ..params(4)
        };
        let a = run(&data, &p);
        let b = run(&data, &p);
        assert_eq!(weight_bits(&a), weight_bits(&b), "{optimizer}");
        assert_eq!(
            comparable(&a.metrics),
            comparable(&b.metrics),
            "{optimizer}"
        );
        let other = run(&data, &TrainParams { seed: 8, ..p });
        assert_ne!(weight_bits(&a), weight_bits(&other), "{optimizer}");
    }
}

#[test]
fn it_learns_and_reports_the_metrics_json_shape() {
    let data = dataset(6, 200, Rule::Features, 2);
    let m = run(&data, &params(15));
    let metrics = &m.metrics;
    assert_eq!(metrics.epochs_trained, 15);
    assert_eq!(metrics.history.val_accuracy.len(), 15);
    // Three classes of roughly equal size: chance is about 1/3.
    assert!(
        metrics.test_metrics.test_accuracy > 0.7,
        "{:?}",
        metrics.test_metrics
    );
    assert_eq!(metrics.test_metrics.sample_count, data.test.len());
    let json = serde_json::to_value(metrics).unwrap();
    for key in [
        "epochs_trained",
        "final_train_loss",
        "final_train_accuracy",
        "best_train_accuracy",
        "training_time",
        "history",
        "final_val_loss",
        "final_val_accuracy",
        "best_val_accuracy",
        "test_metrics",
        "per_symbol_metrics",
    ] {
        assert!(json.get(key).is_some(), "metrics.json lacks {key}");
    }
    for key in ["train_loss", "train_accuracy", "val_loss", "val_accuracy"] {
        assert_eq!(json["history"][key].as_array().unwrap().len(), 15);
    }
}

#[test]
fn the_result_holds_the_best_validation_weights_not_the_last() {
    let data = dataset(6, 120, Rule::Features, 3);
    // A large learning rate makes validation accuracy wander, so the best epoch is not the last.
    let p = TrainParams {
        learning_rate: 0.3,
        optimizer: OptimizerKind::Sgd,
        ..params(12)
    };
    let m = run(&data, &p);
    let h = &m.metrics.history;
    let best = m.metrics.best_epoch;
    let best_acc = h.val_accuracy.iter().copied().fold(0.0, f64::max);
    assert_eq!(h.val_accuracy[best - 1], best_acc);
    assert_eq!(
        h.val_accuracy.iter().position(|&a| a == best_acc),
        Some(best - 1),
        "the first epoch reaching the best is kept"
    );
    assert_ne!(best, 12, "the data should make the last epoch not the best");
    let eval = evaluate(&m.model, &data.validation, data.width(), None)
        .unwrap()
        .unwrap();
    let acc = Classification::of(&to_classes(&data.validation.labels), &eval.predicted).accuracy;
    assert_eq!(acc, best_acc);
    assert_eq!(eval.mean_loss(), h.val_loss[best - 1]);
}

#[test]
fn per_symbol_metrics_use_each_symbols_own_embedding() {
    // Labels depend only on the symbol, so only the embedding can tell the rows apart: with
    // symbol 0's embedding for every row (the Python system's bug) two symbols would score 0.
    let data = dataset(4, 100, Rule::Symbol, 4);
    let m = run(&data, &params(20));
    let per = &m.metrics.per_symbol_metrics;
    assert_eq!(per.len(), 3);
    for (name, s) in per {
        assert_eq!(s.sample_count, 20, "{name}");
        assert!(s.accuracy > 0.95, "{name}: {s:?}");
    }
}

#[test]
fn early_stopping_ends_the_run_when_the_monitor_stalls() {
    let data = dataset(6, 60, Rule::Features, 5);
    let p = TrainParams {
        learning_rate: 1e-9,
        weight_decay: 0.0,
        early_stopping: Some(EarlyStopping {
            patience: 2,
            monitor: Monitor::ValLoss,
            min_delta: 1e-3,
        }),
        ..params(30)
    };
    let m = run(&data, &p);
    // Epoch 1 sets the reference; epochs 2 and 3 do not improve by 1e-3.
    assert_eq!(m.metrics.epochs_trained, 3);
    assert!(m.metrics.early_stopped);
}

#[test]
fn progress_reports_every_epoch_with_validation() {
    let data = dataset(6, 60, Rule::Features, 6);
    let mut seen = Vec::new();
    let mut observer = |p: &TrainProgress| seen.push(*p);
    let p = params(3);
    let outcome = train(
        &data,
        &spec(&data),
        &p,
        &CancellationToken::new(),
        &mut observer,
        None,
    )
    .unwrap();
    assert!(matches!(outcome, TrainOutcome::Completed(_)));
    let epochs: Vec<_> = seen.iter().filter(|p| p.val_accuracy.is_some()).collect();
    assert_eq!(epochs.len(), 3);
    let batches = data.train.len().div_ceil(p.batch_size);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!((e.epoch, e.total_epochs), (i + 1, 3));
        assert_eq!((e.batch, e.total_batches), (batches, batches));
    }
}

/// Cancels the token at the first report that satisfies `when`, and records that report.
struct CancelAt<F: Fn(&TrainProgress) -> bool> {
    token: CancellationToken,
    when: F,
    at: Option<TrainProgress>,
}

impl<F: Fn(&TrainProgress) -> bool> TrainObserver for CancelAt<F> {
    fn progress(&mut self, p: &TrainProgress) {
        if self.at.is_none() && (self.when)(p) {
            self.at = Some(*p);
            self.token.cancel(CancelReason::User);
        }
    }
}

fn cancelled_at(
    data: &Dataset,
    p: &TrainParams,
    resume: Option<Checkpoint>,
    when: impl Fn(&TrainProgress) -> bool,
) -> (Checkpoint, TrainProgress) {
    let mut observer = CancelAt {
        token: CancellationToken::new(),
        when,
        at: None,
    };
    let token = observer.token.clone();
    match train(data, &spec(data), p, &token, &mut observer, resume) {
        Ok(TrainOutcome::Cancelled(cp)) => (*cp, observer.at.unwrap()),
        other => panic!("expected a cancelled run, got {other:?}"),
    }
}

fn resume(data: &Dataset, p: &TrainParams, cp: Checkpoint) -> TrainedModel {
    // Through JSON, as a checkpoint on disk would be.
    let cp = Checkpoint::from_json(&cp.to_json().unwrap()).unwrap();
    match train(
        data,
        &spec(data),
        p,
        &CancellationToken::new(),
        &mut ignore,
        Some(cp),
    ) {
        Ok(TrainOutcome::Completed(m)) => *m,
        other => panic!("expected a completed run, got {other:?}"),
    }
}

#[test]
fn a_cancelled_run_resumed_ends_exactly_like_an_uninterrupted_one() {
    let data = dataset(6, 150, Rule::Features, 7);
    let p = TrainParams {
        lr_scheduler: Some(LrScheduler::ReduceOnPlateau {
            factor: 0.5,
            patience: 1,
        }),
        ..params(5)
    };
    let whole = run(&data, &p);

    // Cancelled after epoch 2's validation: stops before epoch 3's first batch, after its
    // shuffle.
    let (cp, at) = cancelled_at(&data, &p, None, |p| p.epoch == 2 && p.val_loss.is_some());
    assert_eq!(cp.epoch(), 3);
    assert_eq!(cp.position.batch, 0);
    assert_eq!(cp.history.val_loss.len(), 2);
    assert_eq!(cp.best.as_ref().map(|b| b.epoch <= 2), Some(true));
    assert_eq!(at.epoch, 2);

    // Cancelled again from that checkpoint at the first report inside epoch 4 (batch reports
    // come at most every few ms, so the batch varies between runs; the result must not).
    let (cp, at) = cancelled_at(&data, &p, Some(cp), |p| p.epoch == 4);
    if at.val_loss.is_none() {
        assert_eq!(
            cp.position.batch, at.batch,
            "no batch runs after the cancel"
        );
    }

    let resumed = resume(&data, &p, cp);
    assert_eq!(weight_bits(&resumed), weight_bits(&whole));
    assert_eq!(comparable(&resumed.metrics), comparable(&whole.metrics));
}

#[test]
fn a_cancel_after_an_early_stop_resumes_into_the_final_evaluation_only() {
    let data = dataset(6, 60, Rule::Features, 11);
    let p = TrainParams {
        learning_rate: 1e-9,
        weight_decay: 0.0,
        early_stopping: Some(EarlyStopping {
            patience: 2,
            monitor: Monitor::ValLoss,
            min_delta: 1e-3,
        }),
        ..params(30)
    };
    let whole = run(&data, &p);
    assert_eq!(whole.metrics.epochs_trained, 3);
    // Cancelled at the stopping epoch's report: the test evaluation sees the cancel.
    let (cp, _) = cancelled_at(&data, &p, None, |p| p.epoch == 3 && p.val_loss.is_some());
    assert!(cp.early_stop.stopped);
    let resumed = resume(&data, &p, cp);
    assert_eq!(comparable(&resumed.metrics), comparable(&whole.metrics));
    assert_eq!(weight_bits(&resumed), weight_bits(&whole));
}

#[test]
fn a_token_cancelled_before_the_start_gives_a_resumable_checkpoint() {
    let data = dataset(6, 60, Rule::Features, 8);
    let p = params(2);
    let token = CancellationToken::new();
    token.cancel(CancelReason::User);
    let outcome = train(&data, &spec(&data), &p, &token, &mut ignore, None).unwrap();
    let TrainOutcome::Cancelled(cp) = outcome else {
        panic!("expected a cancel");
    };
    assert_eq!((cp.epoch(), cp.position.batch), (1, 0));
    assert!(cp.best.is_none());
    let resumed = resume(&data, &p, *cp);
    assert_eq!(weight_bits(&resumed), weight_bits(&run(&data, &p)));
}

/// Keeps every epoch's checkpoint, as a caller persisting them for crash recovery would.
struct KeepCheckpoints(Vec<Checkpoint>);

impl TrainObserver for KeepCheckpoints {
    fn progress(&mut self, _: &TrainProgress) {}

    fn wants_epoch_checkpoints(&self) -> bool {
        true
    }

    fn epoch_checkpoint(&mut self, checkpoint: &Checkpoint) {
        self.0.push(checkpoint.clone());
    }
}

#[test]
fn an_epoch_checkpoint_resumes_like_an_interrupted_process_would() {
    let data = dataset(6, 80, Rule::Features, 12);
    let p = params(4);
    let mut keep = KeepCheckpoints(Vec::new());
    let outcome = train(
        &data,
        &spec(&data),
        &p,
        &CancellationToken::new(),
        &mut keep,
        None,
    )
    .unwrap();
    let TrainOutcome::Completed(whole) = outcome else {
        panic!("expected a completed run");
    };
    assert_eq!(keep.0.len(), 4);
    assert_eq!((keep.0[1].epoch(), keep.0[1].position.batch), (3, 0));
    let resumed = resume(&data, &p, keep.0.swap_remove(1));
    assert_eq!(weight_bits(&resumed), weight_bits(&whole));
    assert_eq!(comparable(&resumed.metrics), comparable(&whole.metrics));
}

#[test]
fn a_checkpoint_of_another_run_is_refused() {
    let data = dataset(6, 60, Rule::Features, 9);
    let p = params(2);
    let (cp, _) = cancelled_at(&data, &p, None, |p| p.val_loss.is_some());
    let other = TrainParams {
        learning_rate: 0.5,
        ..p.clone()
    };
    let err = train(
        &data,
        &spec(&data),
        &other,
        &CancellationToken::new(),
        &mut ignore,
        Some(cp.clone()),
    )
    .unwrap_err();
    assert!(matches!(err, TrainError::Resume(_)), "{err}");
    // The message names what differs, with both values.
    assert!(
        err.to_string()
            .contains("learning_rate: checkpoint 0.01, now 0.5"),
        "{err}"
    );
    let smaller = dataset(6, 50, Rule::Features, 9);
    let err = train(
        &smaller,
        &spec(&smaller),
        &p,
        &CancellationToken::new(),
        &mut ignore,
        Some(cp),
    )
    .unwrap_err();
    assert!(err.to_string().contains("dataset"), "{err}");
}

#[test]
fn a_dataset_that_does_not_fit_the_network_is_refused() {
    let data = dataset(6, 60, Rule::Features, 10);
    let mut s = spec(&data);
    s.input_size = 7;
    let err = train(
        &data,
        &s,
        &params(1),
        &CancellationToken::new(),
        &mut ignore,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("6 feature columns"), "{err}");
    let mut empty_val = data.clone();
    empty_val.validation = Default::default();
    let err = train(
        &empty_val,
        &spec(&data),
        &params(1),
        &CancellationToken::new(),
        &mut ignore,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("validation part is empty"),
        "{err}"
    );
}
