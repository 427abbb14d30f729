use serde::{Deserialize, Serialize};

/// One OHLCV bar. `ts` is the bar's *start* in unix seconds UTC.
///
/// ```
/// use ktrdr_data::types::Bar;
/// let b = Bar { ts: 1_747_900_800, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 100.0 };
/// assert_eq!(b.high, 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Bar start, unix seconds UTC.
    pub ts: i64,
    /// Opening price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Traded volume (0 for IB forex quotes, which carry none).
    pub volume: f64,
}
