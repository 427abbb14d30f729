//! Where a progress handle gets its ETA from.

use std::time::Duration;

use crate::eta::Eta;

/// An estimator the progress handle samples when someone reads the progress.
///
/// Each read of a running operation calls [`observe`](Self::observe) with the elapsed time and
/// the fraction done (`percent / 100`, in 0..=1, never decreasing), then
/// [`estimate`](Self::estimate). Updates alone never call it, so an operation that reports a
/// million sub-steps pays nothing for its ETA until a reader looks. `eta::TimeEstimator`
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
}
