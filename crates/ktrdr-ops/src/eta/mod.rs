//! Learned time estimation.

use serde::{Deserialize, Serialize};

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
