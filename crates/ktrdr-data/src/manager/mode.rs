//! What a load does ([`LoadMode`]) and what it is asked for ([`LoadRequest`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::planner::PlanOrder;
use crate::types::{Symbol, Timeframe};

/// How a load fills the store.
///
/// | mode | default window | fetches |
/// |---|---|---|
/// | `local` | the stored series | nothing: reads the store only, needs no provider |
/// | `tail` | last stored bar (or 30 days ago) → now | what is missing, newest first |
/// | `backfill` | head timestamp → first stored bar (or now) | what is missing, oldest first |
/// | `full` | head timestamp → now | every gap, oldest first |
///
/// `--start`/`--end` override the defaults; in every mode the start is clamped to the
/// provider's head timestamp and only complete bars are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// Read the local store only.
    Local,
    /// Bring the series up to now.
    Tail,
    /// Extend the series back in time.
    Backfill,
    /// Fill every gap between the head timestamp and now.
    Full,
}

impl LoadMode {
    /// Every mode, in the order shown to users.
    pub const ALL: [LoadMode; 4] = [
        LoadMode::Local,
        LoadMode::Tail,
        LoadMode::Backfill,
        LoadMode::Full,
    ];

    /// The lowercase name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Local => "local",
            LoadMode::Tail => "tail",
            LoadMode::Backfill => "backfill",
            LoadMode::Full => "full",
        }
    }

    /// True for the modes that fetch from a provider.
    pub fn fetches(self) -> bool {
        self != LoadMode::Local
    }

    /// The order requests are sent in: a tail load wants the newest bars first (they are what
    /// a cancelled tail load should have kept); the others grow the series from its oldest end,
    /// which lets every save append.
    pub(crate) fn plan_order(self) -> PlanOrder {
        match self {
            LoadMode::Tail => PlanOrder::NewestFirst,
            LoadMode::Local | LoadMode::Backfill | LoadMode::Full => PlanOrder::OldestFirst,
        }
    }
}

impl fmt::Display for LoadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A load mode that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown load mode {input:?}; expected one of: local, tail, backfill, full")]
pub struct UnknownMode {
    /// What was given.
    pub input: String,
}

impl FromStr for LoadMode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        let t = s.trim();
        LoadMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownMode {
                input: s.to_owned(),
            })
    }
}

/// One series to load: symbol, timeframe, mode and an optional window.
///
/// `start` and `end` are unix seconds UTC, both inclusive; `None` takes the mode's default.
///
/// ```
/// use ktrdr_data::manager::{LoadMode, LoadRequest};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_case_insensitively_and_name_the_choices_on_error() {
        assert_eq!("Tail".parse::<LoadMode>(), Ok(LoadMode::Tail));
        assert_eq!(" full ".parse::<LoadMode>(), Ok(LoadMode::Full));
        let e = "latest".parse::<LoadMode>().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"unknown load mode "latest"; expected one of: local, tail, backfill, full"#
        );
        for m in LoadMode::ALL {
            assert_eq!(m.as_str().parse::<LoadMode>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!(!LoadMode::Local.fetches() && LoadMode::Backfill.fetches());
    }
}
