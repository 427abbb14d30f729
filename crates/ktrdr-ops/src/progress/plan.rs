//! The step plan an operation declares before it starts.

use std::fmt::Write as _;
use std::ops::Range;

use super::ProgressError;

/// The steps of an operation, named and weighted, declared up front.
///
/// Weights are percentages of the whole operation and sum to exactly 100, so a step's range
/// of the overall percent is known before any work starts (the Python system guessed ranges
/// per call, which let percent run backwards and past 100). A step may weigh 0 (an instant
/// check that is still worth naming).
///
/// ```
/// use ktrdr_ops::progress::StepPlan;
///
/// let plan = StepPlan::new([("Load local data", 10), ("Fetch segments", 80), ("Save", 10)])?;
/// assert_eq!(plan.len(), 3);
/// assert_eq!(plan.range(1), Some(10.0..90.0));
/// assert!(StepPlan::new([("a", 50), ("b", 40)]).is_err());
/// # Ok::<(), ktrdr_ops::progress::ProgressError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, PartialEq)]
struct PlanStep {
    name: String,
    weight: u32,
    /// Percent at which the step starts: the sum of the weights before it.
    start: f64,
}

impl StepPlan {
    /// Builds a plan from `(name, weight)` pairs.
    ///
    /// # Errors
    ///
    /// [`ProgressError::EmptyPlan`] without steps, [`ProgressError::EmptyStepName`] for a blank
    /// name, [`ProgressError::WeightSum`] when the weights do not sum to exactly 100.
    pub fn new(
        steps: impl IntoIterator<Item = (impl Into<String>, u32)>,
    ) -> Result<StepPlan, ProgressError> {
        let mut out = Vec::new();
        let mut sum: u64 = 0;
        for (index, (name, weight)) in steps.into_iter().enumerate() {
            let name = name.into();
            if name.trim().is_empty() {
                return Err(ProgressError::EmptyStepName { index });
            }
            out.push(PlanStep {
                name,
                weight,
                // Exact: partial sums of integers far below 2^53.
                start: sum as f64,
            });
            sum += u64::from(weight);
        }
        if out.is_empty() {
            return Err(ProgressError::EmptyPlan);
        }
        if sum != 100 {
            let mut listing = String::new();
            for (i, s) in out.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(listing, "{sep}{:?}={}", s.name, s.weight);
            }
            return Err(ProgressError::WeightSum {
                sum,
                steps: listing,
            });
        }
        Ok(StepPlan { steps: out })
    }

    /// A plan of one step that is the whole operation.
    pub fn single(name: impl Into<String>) -> StepPlan {
        StepPlan {
            steps: vec![PlanStep {
                name: name.into(),
                weight: 100,
                start: 0.0,
            }],
        }
    }

    /// Number of steps (at least one).
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Always false: a plan has at least one step. Present for the `len`/`is_empty` pair.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The steps as `(name, weight)`, in order.
    pub fn steps(&self) -> impl ExactSizeIterator<Item = (&str, u32)> {
        self.steps.iter().map(|s| (s.name.as_str(), s.weight))
    }

    /// Name of step `index`, if there is such a step.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.steps.get(index).map(|s| s.name.as_str())
    }

    /// The part of the overall 0..100 percent that step `index` covers.
    pub fn range(&self, index: usize) -> Option<Range<f64>> {
        self.steps
            .get(index)
            .map(|s| s.start..s.start + f64::from(s.weight))
    }

    /// `(start, weight)` of a step known to exist; the hot path's view of [`range`](Self::range).
    pub(crate) fn bounds(&self, index: usize) -> (f64, f64) {
        self.steps
            .get(index)
            .map_or((100.0, 0.0), |s| (s.start, f64::from(s.weight)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_weights() {
        let plan = StepPlan::new([("a", 0), ("b", 30), ("c", 70)]).unwrap();
        assert_eq!(plan.range(0), Some(0.0..0.0));
        assert_eq!(plan.range(1), Some(0.0..30.0));
        assert_eq!(plan.range(2), Some(30.0..100.0));
        assert_eq!(plan.range(3), None);
        assert_eq!(plan.name(2), Some("c"));
        assert_eq!(
            plan.steps().collect::<Vec<_>>(),
            [("a", 0), ("b", 30), ("c", 70)]
        );
    }

    #[test]
    fn an_empty_plan_is_rejected() {
        let none: [(&str, u32); 0] = [];
        assert_eq!(StepPlan::new(none), Err(ProgressError::EmptyPlan));
    }

    #[test]
    fn weights_must_sum_to_exactly_100() {
        let err = StepPlan::new([("load", 60), ("save", 60)]).unwrap_err();
        assert_eq!(
            err,
            ProgressError::WeightSum {
                sum: 120,
                steps: r#""load"=60, "save"=60"#.into()
            }
        );
        assert!(err.to_string().contains("120"), "{err}");
        assert!(StepPlan::new([("x", 99)]).is_err());
    }

    #[test]
    fn huge_weights_do_not_overflow_the_sum() {
        let err = StepPlan::new([("a", u32::MAX), ("b", u32::MAX)]).unwrap_err();
        assert!(
            matches!(err, ProgressError::WeightSum { sum, .. } if sum == 2 * u64::from(u32::MAX))
        );
    }

    #[test]
    fn blank_step_names_are_rejected() {
        assert_eq!(
            StepPlan::new([("ok", 50), ("  ", 50)]),
            Err(ProgressError::EmptyStepName { index: 1 })
        );
    }

    #[test]
    fn single_covers_everything() {
        let plan = StepPlan::single("work");
        assert_eq!(plan.len(), 1);
        assert_eq!(plan.range(0), Some(0.0..100.0));
    }
}
