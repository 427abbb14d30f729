//! [`GapFillerConfig`]: how often the gap filler looks, how far back, and how much it may ask.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::types::{Symbol, Timeframe};

/// What the gap filler does each cycle. Build from [`Default`] and adjust fields; the service
/// checks them with [`validate`](Self::validate) before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapFillerConfig {
    /// Time between the start of one cycle and the next (the Python service's 1 hour).
    pub interval: Duration,
    /// How far back from now a missing bar counts as recent. Older holes are left to an
    /// explicit `backfill`; a series whose last bar is older than this is *stale* and left
    /// alone (reviving it would leave a hole between its end and the recent window).
    pub recent: Duration,
    /// Provider requests the loads of one cycle may plan, in all. A load that would need more
    /// is cut to the newest bars the remaining budget reaches; the rest waits for the next cycle.
    pub request_budget: usize,
    /// Only these symbols (`None`: every stored series).
    pub symbols: Option<BTreeSet<Symbol>>,
    /// Only these timeframes (`None`: every stored timeframe).
    pub timeframes: Option<BTreeSet<Timeframe>>,
    /// The longest a load's first request may have to wait at the pacing gate for the filler to
    /// start it. A busier gate (interactive loads using the connection, a pacing violation being
    /// waited out) ends the cycle early: the filler never queues behind the user.
    pub max_gate_wait: Duration,
    /// The longest interval between cycles after pacing errors: each cycle in a row that met
    /// one doubles the interval, up to this; a clean cycle restores [`interval`](Self::interval).
    pub max_backoff: Duration,
    /// How long a hole stays skipped after a load asked for it and the source had no bar for
    /// it (a halted day, a gap in the broker's own data): without this, such a hole would cost
    /// requests every cycle. A hole that changes (a new bar missing) is asked for at once.
    pub recheck_empty: Duration,
}

impl Default for GapFillerConfig {
    /// Every hour, the last 30 days (a tail load's default reach), 20 requests a cycle (a third
    /// of IB's 60 per 10 minutes, leaving the rest to interactive loads), a gate wait of 30 s,
    /// backing off up to 8 hours, a hole the source had nothing for asked again after a day.
    fn default() -> Self {
        GapFillerConfig {
            interval: Duration::from_secs(3600),
            recent: Duration::from_secs(30 * 86_400),
            request_budget: 20,
            symbols: None,
            timeframes: None,
            max_gate_wait: Duration::from_secs(30),
            max_backoff: Duration::from_secs(8 * 3600),
            recheck_empty: Duration::from_secs(86_400),
        }
    }
}

/// A [`GapFillerConfig`] field out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid gap filler setting: {field} must be {requirement}")]
pub struct InvalidConfig {
    /// The field.
    pub field: &'static str,
    /// What it must be.
    pub requirement: &'static str,
}

impl GapFillerConfig {
    /// Checks the fields.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] naming the field: a zero interval, recent window or budget, a maximum
    /// backoff shorter than the interval, or an empty symbol or timeframe filter (which would
    /// fill nothing, surely not what was meant).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let invalid = |field, requirement| Err(InvalidConfig { field, requirement });
        if self.interval.is_zero() {
            return invalid("interval", "longer than zero");
        }
        if self.recent.is_zero() {
            return invalid("recent", "longer than zero");
        }
        if self.request_budget == 0 {
            return invalid("request_budget", "at least 1");
        }
        if self.max_backoff < self.interval {
            return invalid("max_backoff", "at least the interval");
        }
        if self.symbols.as_ref().is_some_and(BTreeSet::is_empty) {
            return invalid("symbols", "a non-empty set (or none, for every symbol)");
        }
        if self.timeframes.as_ref().is_some_and(BTreeSet::is_empty) {
            return invalid(
                "timeframes",
                "a non-empty set (or none, for every timeframe)",
            );
        }
        Ok(())
    }

    /// Whether the filter lets `symbol`'s `timeframe` series through.
    pub fn selects(&self, symbol: &Symbol, timeframe: Timeframe) -> bool {
        self.symbols.as_ref().is_none_or(|s| s.contains(symbol))
            && self
                .timeframes
                .as_ref()
                .is_none_or(|t| t.contains(&timeframe))
    }

    /// The wait before the cycle after `pacing_cycles` cycles in a row met pacing errors.
    pub fn next_interval(&self, pacing_cycles: u32) -> Duration {
        let doubled = self.interval.saturating_mul(1u32 << pacing_cycles.min(31));
        doubled.min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_bad_fields_are_named() {
        assert_eq!(GapFillerConfig::default().validate(), Ok(()));
        let cases = [
            (
                GapFillerConfig {
                    interval: Duration::ZERO,
                    ..GapFillerConfig::default()
                },
                "interval",
            ),
            (
                GapFillerConfig {
                    recent: Duration::ZERO,
                    ..GapFillerConfig::default()
                },
                "recent",
            ),
            (
                GapFillerConfig {
                    request_budget: 0,
                    ..GapFillerConfig::default()
                },
                "request_budget",
            ),
            (
                GapFillerConfig {
                    max_backoff: Duration::from_secs(60),
                    ..GapFillerConfig::default()
                },
                "max_backoff",
            ),
            (
                GapFillerConfig {
                    timeframes: Some(BTreeSet::new()),
                    ..GapFillerConfig::default()
                },
                "timeframes",
            ),
        ];
        for (config, field) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn the_filter_selects_by_symbol_and_timeframe() {
        let aapl: Symbol = "AAPL".parse().unwrap();
        let msft: Symbol = "MSFT".parse().unwrap();
        let all = GapFillerConfig::default();
        assert!(all.selects(&aapl, Timeframe::M5));
        let some = GapFillerConfig {
            symbols: Some([aapl.clone()].into()),
            timeframes: Some([Timeframe::H1].into()),
            ..GapFillerConfig::default()
        };
        assert!(some.selects(&aapl, Timeframe::H1));
        assert!(!some.selects(&aapl, Timeframe::D1));
        assert!(!some.selects(&msft, Timeframe::H1));
    }

    #[test]
    fn pacing_errors_double_the_interval_up_to_the_cap() {
        let config = GapFillerConfig {
            interval: Duration::from_secs(600),
            max_backoff: Duration::from_secs(3000),
            ..GapFillerConfig::default()
        };
        let waits: Vec<u64> = (0..5).map(|k| config.next_interval(k).as_secs()).collect();
        assert_eq!(waits, [600, 1200, 2400, 3000, 3000]);
        assert_eq!(config.next_interval(u32::MAX).as_secs(), 3000);
    }
}
