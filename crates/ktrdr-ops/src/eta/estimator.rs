//! The per-operation estimator: live rate blended with a prior from history.
//!
//! # What "rate" means here
//!
//! Progress arrives in updates `(elapsed, fraction)`. Between two updates the work goes on
//! unseen, so a quiet spell is not evidence of a stall until it lasts longer than the gaps
//! between updates usually do. The estimator therefore reads the progress curve as
//!
//! 1. piecewise linear between updates (work is done continuously, reported in chunks), and
//! 2. *pending* for up to one typical gap after the last update: the remaining time counts down
//!    second by second, exactly as if the next update were on its way, and
//! 3. *flat* beyond that: the excess quiet time enters the rate as time with zero progress, so
//!    the estimate grows, continuously and about linearly (never by a jump, never freezing).
//!
//! The rate is a mix of the rate over a window that is a fixed share of the elapsed time (scale
//! free: the same estimator serves a 5-second load and a 5-hour training, where indicatif's fixed
//! 15-second horizon does not) and the whole-run average rate (which keeps a long stall from
//! driving the rate to zero and the estimate to "millions of days", hyperfine #670).
//!
//! With a [`Prior`] the live projection and the prior's projection are combined with weights
//! inverse to their squared errors: the prior's error is its learned spread times its duration,
//! the live error shrinks with progress and with the remaining time. Early on the prior rules,
//! late the live rate does, with no switch-over point to jump at.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Prior;

/// An estimate of the time an operation still needs, with an honest range.
///
/// `low_secs <= remaining_secs <= high_secs` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eta {
    /// Point estimate of the remaining time, in seconds.
    pub remaining_secs: f64,
    /// Optimistic end of the range, in seconds.
    pub low_secs: f64,
    /// Pessimistic end of the range, in seconds.
    pub high_secs: f64,
}

/// Most progress samples kept; when full, every other one is dropped.
///
/// The window is a share of the elapsed time, so resolution that halves as the run grows is
/// enough, and memory and `observe` stay O(1) amortised however many updates arrive.
const MAX_SAMPLES: usize = 128;

/// Smoothing of the typical gap between progress updates (an EWMA by count).
///
/// 0.3 follows a change of cadence within three or four updates while one late update moves
/// the typical gap by less than a third of its lateness.
const GAP_SMOOTHING: f64 = 0.3;

/// A quiet spell up to this many typical gaps is still "the next update is on its way".
///
/// Step timing jitters (a chunk of bars takes 1.5 s or 2.5 s); without the tolerance the ETA
/// would start climbing a little before every late-ish update and fall back after it, the
/// sawtooth of indicatif #580.
const GAP_TOLERANCE: f64 = 1.5;

/// Share of the elapsed time the windowed rate looks back over.
///
/// Half the run forgets a slow start (connection, first request) by the time the run has
/// doubled, yet still spans several bursts or steps, which a fixed short window would not.
const WINDOW_SHARE: f64 = 0.5;

/// The window spans at least this many typical gaps, so that with few long steps it always
/// holds a whole step.
const WINDOW_MIN_GAPS: f64 = 2.0;

/// Weight of the windowed rate against the whole-run average rate.
///
/// Mostly the window, which follows a change of pace (slow start, a faster phase); the average
/// keeps a share because it is the only rate that still sees the stalls and slow steps of the
/// whole run, and it bounds how far a long stall can push the estimate.
const WINDOW_WEIGHT: f64 = 0.7;

/// Below this progress and without a prior, the estimator says nothing: one early update is
/// mostly start-up cost, and a projection from it is noise presented as a number.
const MIN_LIVE_FRACTION: f64 = 0.02;

/// Relative error of the live projection with all the evidence in; it grows as
/// `1/sqrt(progress)` (less data, noisier rate) and with the disagreement between the windowed
/// and the average rate (a run changing pace).
///
/// 0.1 is about the wobble of a steady run's rate over half its length. In `eta_eval` larger
/// values (0.15, 0.2) let a prior with run-to-run spread override an already accurate steady
/// projection for longer, and lose on the cases with history.
const LIVE_ERROR: f64 = 0.1;

/// Relative half-width the live range always has, at the least.
const LIVE_MIN_SPREAD: f64 = 0.1;

/// Share of the prior's remaining time taken from its schedule (`prior − elapsed`) rather than
/// from its rate (`(1 − progress) × prior`).
///
/// The schedule is right when the run follows the usual shape (slow start, pacing waits at the
/// usual places); the rate is right when the whole run is uniformly slower or faster. Neither
/// alone is safe, so the prior uses both.
const PRIOR_SCHEDULE_SHARE: f64 = 0.5;

/// Live view of the remaining time, in seconds.
#[derive(Debug, Clone, Copy)]
struct Live {
    remaining: f64,
    low: f64,
    high: f64,
    /// Relative error of `remaining`, for the blend.
    rel_error: f64,
}

/// Estimates the remaining time of one operation run from its progress and, optionally, a
/// [`Prior`] learned from earlier runs.
///
/// `observe` is O(1) amortised and `estimate` is O(log n) over at most 128 samples; neither
/// allocates after warm-up, so both can sit in a per-update path.
///
/// ```
/// use std::time::Duration;
/// use ktrdr_ops::eta::{Prior, TimeEstimator};
///
/// // Earlier runs took about 100 s.
/// let prior = Prior::from_durations([95.0, 104.0, 99.0, 101.0]);
/// let mut est = TimeEstimator::new(prior);
/// let eta = est.estimate(Duration::from_secs(0)).expect("a prior gives an estimate at once");
/// assert!((eta.remaining_secs - 100.0).abs() < 5.0);
///
/// for s in 1..=40 {
///     est.observe(Duration::from_secs(s), s as f64 / 100.0); // 1 % per second
/// }
/// let eta = est.estimate(Duration::from_secs(40)).unwrap();
/// assert!(eta.low_secs <= eta.remaining_secs && eta.remaining_secs <= eta.high_secs);
/// assert!((eta.remaining_secs - 60.0).abs() < 3.0);
/// ```
#[derive(Debug, Clone)]
pub struct TimeEstimator {
    prior: Option<Prior>,
    /// `(elapsed secs, fraction)` at updates that advanced progress; both strictly increasing.
    samples: Vec<(f64, f64)>,
    last_t: f64,
    last_f: f64,
    /// EWMA of the seconds between updates that advanced progress.
    typical_gap: Option<f64>,
}

impl TimeEstimator {
    /// A fresh estimator, with what history says about this kind of operation, if anything.
    pub fn new(prior: Option<Prior>) -> Self {
        TimeEstimator {
            prior,
            samples: Vec::with_capacity(MAX_SAMPLES + 1),
            last_t: 0.0,
            last_f: 0.0,
            typical_gap: None,
        }
    }

    /// The prior this estimator was built with.
    pub fn prior(&self) -> Option<&Prior> {
        self.prior.as_ref()
    }

    /// Records that `fraction` (0..=1) of the work was done after `elapsed`.
    ///
    /// Updates that do not advance progress carry no information (a stall is seen by
    /// [`estimate`](Self::estimate) from the time that passes), nor do updates with time going
    /// backwards or a non-finite fraction; they are ignored. A fraction above 1 counts as 1.
    pub fn observe(&mut self, elapsed: Duration, fraction: f64) {
        let t = elapsed.as_secs_f64();
        if !fraction.is_finite() || t < self.last_t {
            return;
        }
        let f = fraction.min(1.0);
        if f <= self.last_f {
            return;
        }
        if t == self.last_t && !self.samples.is_empty() {
            // Two updates in the same instant are one update; a zero gap would drag the typical
            // gap down and make the next ordinary pause look like a stall.
            if let Some(last) = self.samples.last_mut() {
                last.1 = f;
            }
        } else {
            let gap = t - self.last_t;
            self.typical_gap = Some(match self.typical_gap {
                None => gap,
                Some(g) => g + GAP_SMOOTHING * (gap - g),
            });
            self.samples.push((t, f));
            if self.samples.len() > MAX_SAMPLES {
                self.decimate();
            }
        }
        self.last_t = t;
        self.last_f = f;
    }

    /// The remaining time after `elapsed`, or `None` when there is no honest answer yet (no
    /// history and less than 2 % progress).
    pub fn estimate(&self, elapsed: Duration) -> Option<Eta> {
        let t = elapsed.as_secs_f64().max(self.last_t);
        if self.last_f >= 1.0 {
            return Some(Eta {
                remaining_secs: 0.0,
                low_secs: 0.0,
                high_secs: 0.0,
            });
        }
        let live = self.live(t);
        let (remaining, low, high) = match (live, self.prior) {
            (None, None) => return None,
            (Some(l), None) => (l.remaining, l.low, l.high),
            (None, Some(p)) => self.prior_view(&p, t),
            (Some(l), Some(p)) => {
                let (p_rem, p_low, p_high) = self.prior_view(&p, t);
                let prior_err = p.relative_spread() * p.duration_secs;
                let live_err = l.rel_error * l.remaining;
                let w_live = if live_err <= 0.0 {
                    1.0
                } else {
                    prior_err * prior_err / (prior_err * prior_err + live_err * live_err)
                };
                let mix = |a: f64, b: f64| w_live * a + (1.0 - w_live) * b;
                (
                    mix(l.remaining, p_rem),
                    mix(l.low, p_low),
                    mix(l.high, p_high),
                )
            }
        };
        let remaining = remaining.max(0.0);
        Some(Eta {
            remaining_secs: remaining,
            low_secs: low.clamp(0.0, remaining),
            high_secs: high.max(remaining),
        })
    }

    /// What the progress alone says at time `t`, if it says anything yet.
    fn live(&self, t: f64) -> Option<Live> {
        let f = self.last_f;
        if f < MIN_LIVE_FRACTION {
            return None;
        }
        let gap = self.typical_gap.unwrap_or(self.last_t);
        let quiet = t - self.last_t;
        let pending = quiet.min(gap * GAP_TOLERANCE);
        // Quiet time beyond the tolerated gap counts as time spent without progress.
        let excess = quiet - pending;
        if self.last_t <= 0.0 {
            return None;
        }
        // The window ends at the last update and is stretched by the excess quiet time rather
        // than slid over it: sliding would empty the window during a long stall and send the
        // estimate up ever faster; stretching makes it grow linearly, with slope "remaining
        // work / work in the window".
        let window = (WINDOW_SHARE * self.last_t)
            .max(WINDOW_MIN_GAPS * gap)
            .min(self.last_t);
        let window_rate = (f - self.progress_at(self.last_t - window)) / (window + excess);
        let average_rate = f / (self.last_t + excess);
        let rate = WINDOW_WEIGHT * window_rate + (1.0 - WINDOW_WEIGHT) * average_rate;
        let left = 1.0 - f;
        let remaining = (left / rate - pending).max(0.0);
        // The two rates disagree when the run changes pace; their spread is the range.
        let fast = window_rate.max(average_rate);
        let slow = window_rate.min(average_rate).max(rate / 3.0);
        let spread = LIVE_MIN_SPREAD * remaining;
        let low = ((left / fast - pending).max(0.0))
            .min(remaining - spread)
            .max(0.0);
        let high = (left / slow - pending).max(remaining + spread);
        let disagreement = (window_rate - average_rate).abs() / rate;
        Some(Live {
            remaining,
            low,
            high,
            rel_error: LIVE_ERROR * (1.0 + disagreement) / f.sqrt(),
        })
    }

    /// What the prior says at time `t`: (point, low, high) remaining seconds.
    fn prior_view(&self, p: &Prior, t: f64) -> (f64, f64, f64) {
        let left = 1.0 - self.last_f;
        let spread = p.relative_spread();
        let project = |total: f64| {
            // The schedule's remaining time, softened so that it tends to zero instead of
            // hitting it once the run is past the usual total: a run past its usual duration
            // is in the distribution's tail, where the expected rest is short but not nil.
            let behind = total - t;
            let soft = spread * total;
            let schedule = 0.5 * (behind + (behind * behind + soft * soft).sqrt());
            PRIOR_SCHEDULE_SHARE * schedule + (1.0 - PRIOR_SCHEDULE_SHARE) * left * total
        };
        (
            project(p.duration_secs),
            project(p.low_secs),
            project(p.high_secs),
        )
    }

    /// Progress on the piecewise-linear curve through `(0, 0)` and the samples at time `t`
    /// (`t` is never past the last sample).
    fn progress_at(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let i = self.samples.partition_point(|s| s.0 <= t);
        let (t0, f0) = if i == 0 {
            (0.0, 0.0)
        } else {
            self.samples[i - 1]
        };
        match self.samples.get(i) {
            Some(&(t1, f1)) if t1 > t0 => f0 + (f1 - f0) * (t - t0) / (t1 - t0),
            _ => f0,
        }
    }

    /// Halves the samples, keeping the newest, so the curve loses detail evenly.
    fn decimate(&mut self) {
        let n = self.samples.len();
        let mut keep = 0;
        for i in 0..n {
            if (n - 1 - i).is_multiple_of(2) {
                self.samples[keep] = self.samples[i];
                keep += 1;
            }
        }
        self.samples.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn steady(est: &mut TimeEstimator, until: f64, rate: f64, tick: f64) {
        let mut t = tick;
        while t <= until + 1e-9 {
            est.observe(secs(t), t * rate);
            t += tick;
        }
    }

    fn check_order(eta: &Eta) {
        assert!(eta.low_secs >= 0.0, "{eta:?}");
        assert!(
            eta.low_secs <= eta.remaining_secs && eta.remaining_secs <= eta.high_secs,
            "{eta:?}"
        );
    }

    #[test]
    fn no_history_and_little_progress_says_nothing() {
        let mut est = TimeEstimator::new(None);
        assert_eq!(est.estimate(secs(0.0)), None);
        est.observe(secs(1.0), 0.01);
        assert_eq!(est.estimate(secs(2.0)), None);
        est.observe(secs(2.0), 0.05);
        assert!(est.estimate(secs(2.0)).is_some());
    }

    #[test]
    fn steady_progress_is_projected_and_counts_down() {
        let mut est = TimeEstimator::new(None);
        steady(&mut est, 30.0, 0.01, 0.5);
        let eta = est.estimate(secs(30.0)).unwrap();
        check_order(&eta);
        assert!((eta.remaining_secs - 70.0).abs() < 0.5, "{eta:?}");
        // Between updates (0.5 s apart) the estimate keeps counting down.
        let later = est.estimate(secs(30.4)).unwrap();
        assert!((later.remaining_secs - 69.6).abs() < 0.5, "{later:?}");
    }

    #[test]
    fn a_stall_grows_the_estimate_continuously() {
        let mut est = TimeEstimator::new(None);
        steady(&mut est, 20.0, 0.02, 0.5); // 40 % after 20 s
        let mut prev = est.estimate(secs(20.0)).unwrap().remaining_secs;
        let mut grew = 0.0;
        for k in 1..=200 {
            let now = 20.0 + k as f64 * 0.1;
            let eta = est.estimate(secs(now)).unwrap();
            check_order(&eta);
            let step = eta.remaining_secs - prev;
            // No jump: a tenth of a second moves the estimate by well under a second.
            assert!(step.abs() < 0.5, "jump of {step} at {now}");
            grew += step;
            prev = eta.remaining_secs;
        }
        // 20 s without progress: the estimate must now be clearly above the 30 s it started at.
        assert!(
            grew > 5.0,
            "estimate grew only {grew} s during a 20 s stall"
        );
        assert!(prev.is_finite() && prev < 1000.0, "runaway estimate {prev}");
    }

    #[test]
    fn few_long_regular_steps_do_not_make_the_eta_rise_between_steps() {
        // indicatif #580: one step every 5 s, ten steps.
        let mut est = TimeEstimator::new(None);
        let mut prev: Option<f64> = None;
        for step in 1..=9 {
            let t0 = step as f64 * 5.0;
            est.observe(secs(t0), step as f64 / 10.0);
            for k in 0..50 {
                let now = t0 + k as f64 * 0.1;
                let eta = est.estimate(secs(now)).unwrap();
                check_order(&eta);
                if let Some(p) = prev {
                    if step >= 3 {
                        assert!(
                            eta.remaining_secs <= p + 1e-9,
                            "rose at {now}: {p} -> {eta:?}"
                        );
                    }
                }
                prev = Some(eta.remaining_secs);
            }
        }
        let eta = est.estimate(secs(45.0)).unwrap();
        assert!((eta.remaining_secs - 5.0).abs() < 1.0, "{eta:?}");
    }

    #[test]
    fn prior_rules_early_and_live_rules_late() {
        let prior = Prior::new(100.0, 90.0, 110.0, 10);
        let mut est = TimeEstimator::new(prior);
        let start = est.estimate(secs(0.0)).unwrap();
        assert!((start.remaining_secs - 100.0).abs() < 1.0, "{start:?}");
        // This run is twice as slow as history: 0.5 % per second.
        steady(&mut est, 10.0, 0.005, 0.5);
        let early = est.estimate(secs(10.0)).unwrap();
        assert!(
            early.remaining_secs < 120.0,
            "prior should still dominate: {early:?}"
        );
        steady(&mut est, 180.0, 0.005, 0.5);
        let late = est.estimate(secs(180.0)).unwrap();
        check_order(&late);
        assert!(
            (late.remaining_secs - 20.0).abs() < 3.0,
            "live should dominate: {late:?}"
        );
    }

    #[test]
    fn finished_and_odd_inputs() {
        let mut est = TimeEstimator::new(None);
        est.observe(secs(1.0), f64::NAN);
        est.observe(secs(2.0), 0.5);
        est.observe(secs(1.0), 0.6); // time going backwards
        est.observe(secs(3.0), 0.4); // progress going backwards
        assert_eq!(est.last_f, 0.5);
        est.observe(secs(4.0), 7.0);
        let eta = est.estimate(secs(4.0)).unwrap();
        assert_eq!(
            eta,
            Eta {
                remaining_secs: 0.0,
                low_secs: 0.0,
                high_secs: 0.0
            }
        );
        // An elapsed time before the last update reads as the last update.
        let mut est = TimeEstimator::new(None);
        est.observe(secs(10.0), 0.5);
        assert_eq!(est.estimate(secs(1.0)), est.estimate(secs(10.0)));
    }

    #[test]
    fn samples_stay_bounded_and_the_estimate_survives_decimation() {
        let mut est = TimeEstimator::new(None);
        steady(&mut est, 500.0, 0.001, 0.1);
        assert!(est.samples.len() <= MAX_SAMPLES);
        let eta = est.estimate(secs(500.0)).unwrap();
        assert!((eta.remaining_secs - 500.0).abs() < 5.0, "{eta:?}");
    }

    #[test]
    fn progress_curve_interpolates() {
        let mut est = TimeEstimator::new(None);
        est.observe(secs(2.0), 0.2);
        est.observe(secs(4.0), 0.6);
        assert_eq!(est.progress_at(1.0), 0.1);
        assert!((est.progress_at(3.0) - 0.4).abs() < 1e-12);
        assert_eq!(est.progress_at(9.0), 0.6);
    }
}
