//! The errors of declaring and driving progress.

/// What can go wrong when declaring or driving progress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    /// A plan was declared without steps.
    #[error("a step plan needs at least one step")]
    EmptyPlan,
    /// A step's name is empty or blank.
    #[error("step {index} of the plan has an empty name")]
    EmptyStepName {
        /// 0-based position of the step.
        index: usize,
    },
    /// The step weights do not sum to 100.
    #[error("step weights must sum to exactly 100, got {sum} ({steps})")]
    WeightSum {
        /// The actual sum.
        sum: u64,
        /// The steps as `"name"=weight`, for the message.
        steps: String,
    },
    /// A step index outside the plan (also what `next_step` returns after the last step).
    #[error("step index {index} is out of range: the plan has {count} steps (0..{count})")]
    StepOutOfRange {
        /// The index asked for.
        index: usize,
        /// Number of steps in the plan.
        count: usize,
    },
    /// A callback subscriber was requested outside a tokio runtime.
    #[error("progress callbacks run as tokio tasks; call on_update from within a tokio runtime")]
    NoRuntime,
    /// Every handle of the operation was dropped and the last state has been read.
    #[error("the progress handle was dropped; no further updates will come")]
    Closed,
}
