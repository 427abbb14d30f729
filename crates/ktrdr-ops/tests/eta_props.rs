//! Properties of `TimeEstimator` over arbitrary progress sequences.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::time::Duration;

use ktrdr_ops::eta::{Prior, TimeEstimator};
use proptest::prelude::*;

fn prior() -> impl Strategy<Value = Option<Prior>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(0.5f64..5_000.0, 1..12).prop_map(Prior::from_durations),
    ]
}

proptest! {
    /// Whatever arrives (repeats, regressions, jumps, long gaps), every estimate is finite,
    /// non-negative and ordered `low <= point <= high`, and a finished run has nothing left.
    #[test]
    fn estimates_are_finite_and_ordered(
        prior in prior(),
        steps in proptest::collection::vec((0.0f64..30.0, -0.05f64..0.3, 0.0f64..60.0), 1..80),
    ) {
        let mut est = TimeEstimator::new(prior);
        let (mut t, mut f) = (0.0, 0.0);
        for (dt, df, read_after) in steps {
            t += dt;
            f = (f + df).clamp(0.0, 1.0);
            est.observe(Duration::from_secs_f64(t), f);
            if let Some(eta) = est.estimate(Duration::from_secs_f64(t + read_after)) {
                prop_assert!(eta.low_secs.is_finite() && eta.high_secs.is_finite(), "{eta:?}");
                prop_assert!(0.0 <= eta.low_secs, "{eta:?}");
                prop_assert!(eta.low_secs <= eta.remaining_secs && eta.remaining_secs <= eta.high_secs, "{eta:?}");
            } else {
                prop_assert!(est.prior().is_none());
            }
        }
        if f >= 1.0 {
            prop_assert_eq!(est.estimate(Duration::from_secs_f64(t)).map(|e| e.high_secs), Some(0.0));
        }
    }

    /// With a prior there is always an answer, from the first instant.
    #[test]
    fn a_prior_always_answers(durations in proptest::collection::vec(0.5f64..5_000.0, 1..12), at in 0.0f64..10_000.0) {
        let est = TimeEstimator::new(Prior::from_durations(durations));
        prop_assert!(est.estimate(Duration::from_secs_f64(at)).is_some());
    }
}
