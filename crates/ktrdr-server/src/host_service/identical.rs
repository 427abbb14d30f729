//! IB's identical-request rule, applied by the service on behalf of all its clients.
//!
//! Each client paces itself with its own [`PacingGate`](ktrdr_data::pacing::PacingGate), which
//! lives in the client's process. Two runs back to back (a load cancelled and started again at
//! once) are two gates that know nothing of each other, so the second can repeat the request
//! the first was cut short on within the broker's 15 s cooldown, which the broker counts as a
//! pacing violation. The service sees every client: it answers such a request itself with a
//! pacing refusal carrying the time left (`retry_after_seconds`), which clients honour as a
//! pacing wait, and the broker never sees the repeat.
//!
//! # Invariants
//!
//! 1. `seen` maps a request to when the service last forwarded it; entries older than the
//!    cooldown are dropped on each admission, so the map holds at most the requests of one
//!    cooldown.
//!
//! # Lock order
//!
//! One `std::sync::Mutex` (`seen`), never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ktrdr_data::pacing::{PacingRules, RequestKey};
use tokio::time::Instant;

pub(crate) struct IdenticalGuard {
    rules: PacingRules,
    seen: Mutex<HashMap<RequestKey, Instant>>,
}

impl IdenticalGuard {
    pub(crate) fn new(rules: PacingRules) -> Self {
        IdenticalGuard {
            rules,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records `key` as forwarded now, or returns how long to wait if the same request was
    /// forwarded within the cooldown (plus the rules' safety margin, so that the retry is
    /// clear of the broker's own check).
    pub(crate) fn admit(&self, key: RequestKey) -> Result<(), Duration> {
        let Some(cooldown) = self.rules.identical_cooldown else {
            return Ok(());
        };
        if !self.rules.hard_rules.covers(key.timeframe) {
            return Ok(());
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, at| now.duration_since(*at) < cooldown);
        if let Some(at) = seen.get(&key) {
            return Err(cooldown - now.duration_since(*at) + self.rules.safety_margin);
        }
        seen.insert(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::types::TimeRange;
    use ktrdr_data::types::Timeframe;

    fn key(start: i64) -> RequestKey {
        RequestKey::new(
            "AAPL".parse().unwrap(),
            Timeframe::H1,
            TimeRange::new(start, start + 3600).unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_within_the_cooldown_waits_for_the_rest_of_it() {
        let rules = PacingRules::ib_conservative();
        let (cooldown, margin) = (rules.identical_cooldown.unwrap(), rules.safety_margin);
        let guard = IdenticalGuard::new(rules);
        assert_eq!(guard.admit(key(0)), Ok(()));
        assert_eq!(
            guard.admit(key(3600)),
            Ok(()),
            "another range is another request"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            guard.admit(key(0)),
            Err(cooldown - Duration::from_secs(5) + margin)
        );
        tokio::time::advance(cooldown).await;
        assert_eq!(
            guard.admit(key(0)),
            Ok(()),
            "allowed once the cooldown is over"
        );
        assert_eq!(guard.seen.lock().unwrap().len(), 1, "old entries dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn bar_sizes_outside_the_hard_rules_are_not_held() {
        let guard = IdenticalGuard::new(PacingRules::ib_small_bars_only());
        assert_eq!(guard.admit(key(0)), Ok(()));
        assert_eq!(guard.admit(key(0)), Ok(()));
    }
}
