//! What a load is asked for ([`LoadRequest`]), and the order its requests go out in.

use serde::{Deserialize, Serialize};

use crate::planner::PlanOrder;
use crate::types::{LoadMode, Symbol, Timeframe};

/// One series to load: symbol, timeframe, mode and an optional window.
///
/// `start` and `end` are unix seconds UTC, both inclusive; `None` takes the mode's default.
///
/// ```
/// use ktrdr_data::manager::LoadRequest;
/// use ktrdr_data::types::LoadMode;
///
/// let req = LoadRequest::new("AAPL".parse()?, "1h".parse()?, LoadMode::Tail).with_start(1_704_067_200);
/// assert_eq!((req.start, req.end), (Some(1_704_067_200), None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar size.
    pub timeframe: Timeframe,
    /// What to do.
    pub mode: LoadMode,
    /// First second wanted (inclusive).
    pub start: Option<i64>,
    /// Last second wanted (inclusive).
    pub end: Option<i64>,
}

impl LoadRequest {
    /// A request over the mode's default window.
    pub fn new(symbol: Symbol, timeframe: Timeframe, mode: LoadMode) -> Self {
        LoadRequest {
            symbol,
            timeframe,
            mode,
            start: None,
            end: None,
        }
    }

    /// Sets the first second wanted.
    pub fn with_start(mut self, start: i64) -> Self {
        self.start = Some(start);
        self
    }

    /// Sets the last second wanted (inclusive).
    pub fn with_end(mut self, end: i64) -> Self {
        self.end = Some(end);
        self
    }
}

/// The order requests are sent in: a tail load wants the newest bars first (they are what
/// a cancelled tail load should have kept); the others grow the series from its oldest end,
/// which lets every save append.
pub(crate) fn plan_order(mode: LoadMode) -> PlanOrder {
    match mode {
        LoadMode::Tail => PlanOrder::NewestFirst,
        LoadMode::Local | LoadMode::Backfill | LoadMode::Full => PlanOrder::OldestFirst,
    }
}
