//! Why an indicator specification was refused.

/// An indicator specification that cannot be built. Every variant names what is wrong and what
/// would be accepted (the Python system silently dropped unknown names and parameters).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The name or type matches no indicator.
    #[error("unknown indicator {given:?}; known indicators: {known}")]
    UnknownIndicator {
        /// What was given.
        given: String,
        /// Every accepted name.
        known: String,
    },
    /// The entry has neither a `type` nor a `name`.
    #[error("an indicator needs a `type` or a `name`; known indicators: {known}")]
    MissingType {
        /// Every accepted name.
        known: String,
    },
    /// A parameter the indicator does not have.
    #[error("{indicator} has no parameter {param:?}; its parameters: {allowed}")]
    UnknownParam {
        /// The indicator's canonical name.
        indicator: &'static str,
        /// The parameter as given.
        param: String,
        /// The parameters it does accept.
        allowed: String,
    },
    /// A parameter given twice (under its name and an alias, say).
    #[error("{indicator} parameter {param:?} is given more than once (through an alias?)")]
    DuplicateParam {
        /// The indicator's canonical name.
        indicator: &'static str,
        /// The parameter's canonical name.
        param: &'static str,
    },
    /// A parameter value of the wrong type or out of range.
    #[error("{indicator} parameter {param:?} is {value}; expected {expected}")]
    InvalidParam {
        /// The indicator's canonical name.
        indicator: &'static str,
        /// The parameter's canonical name.
        param: &'static str,
        /// The value as given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// Parameters that are each valid but not together (MACD fast ≥ slow, say).
    #[error("{indicator}: {reason}")]
    Inconsistent {
        /// The indicator's canonical name.
        indicator: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A command-line specification that is not `NAME[:KEY=VALUE[,KEY=VALUE…]]`.
    #[error("cannot read indicator {input:?}: {reason} (expected NAME or NAME:KEY=VALUE,KEY=VALUE, e.g. rsi:period=14)")]
    Syntax {
        /// The argument as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}
