//! Where a progress handle gets its ETA from.
//!
//! Progress depends on `eta` (its [`Eta`] type and the [`TimeEstimator`] it samples), never the
//! other way round: the estimator knows nothing of progress handles.

use std::time::Duration;

use crate::eta::{Eta, TimeEstimator};

/// An estimator the progress handle samples when someone reads the progress.
///
/// Each read of a running operation calls [`observe`](Self::observe) with the elapsed time and
/// the fraction done (`percent / 100`, in 0..=1, never decreasing), then
/// [`estimate`](Self::estimate). Updates alone never call it, so an operation that reports a
/// million sub-steps pays nothing for its ETA until a reader looks. [`TimeEstimator`]
/// implements it.
///
/// Calls are serialised by the handle and made without the progress state locked; an
/// implementation must not call back into the handle it is attached to.
///
/// ```
/// use std::time::Duration;
/// use ktrdr_ops::eta::Eta;
/// use ktrdr_ops::progress::EtaSource;
///
/// /// Remaining = elapsed / fraction − elapsed, once something is done.
/// struct Linear { fraction: f64 }
/// impl EtaSource for Linear {
///     fn observe(&mut self, _elapsed: Duration, fraction: f64) { self.fraction = fraction; }
///     fn estimate(&self, elapsed: Duration) -> Option<Eta> {
///         (self.fraction > 0.0).then(|| {
///             let rest = elapsed.as_secs_f64() * (1.0 / self.fraction - 1.0);
///             Eta { remaining_secs: rest, low_secs: rest, high_secs: rest }
///         })
///     }
/// }
/// ```
pub trait EtaSource: Send {
    /// Records a sample: `fraction` of the work was done after `elapsed`.
    fn observe(&mut self, elapsed: Duration, fraction: f64);
    /// The remaining time as seen at `elapsed`, or `None` when it cannot honestly say.
    fn estimate(&self, elapsed: Duration) -> Option<Eta>;
    /// Whether the source knows what to expect before any progress (a prior from earlier
    /// runs); a caller that can compute an expectation itself supplies one only when not.
    fn has_prior(&self) -> bool {
        false
    }
}

/// Progress handles sample the estimator when someone reads the progress; updates between two
/// reads are seen as one, which the estimator treats like any other update.
impl EtaSource for TimeEstimator {
    fn observe(&mut self, elapsed: Duration, fraction: f64) {
        TimeEstimator::observe(self, elapsed, fraction);
    }

    fn estimate(&self, elapsed: Duration) -> Option<Eta> {
        TimeEstimator::estimate(self, elapsed)
    }

    fn has_prior(&self) -> bool {
        self.prior().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_as_the_progress_eta_source() {
        let mut source: Box<dyn EtaSource> = Box::new(TimeEstimator::new(None));
        source.observe(Duration::from_secs(10), 0.25);
        let eta = source.estimate(Duration::from_secs(10)).unwrap();
        assert!((eta.remaining_secs - 30.0).abs() < 1e-9, "{eta:?}");
    }
}
