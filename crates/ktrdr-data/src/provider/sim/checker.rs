//! The simulated broker's own pacing check: it judges each request on arrival against the
//! broker's rules, as IB's servers do, and answers a violation with a pacing error.
//!
//! It is deliberately not the client's [`PacingGate`](crate::pacing::PacingGate): the gate
//! computes when a request *may* go; this looks back at what *did* arrive. It checks the broker
//! rules only (window, per contract, identical, simultaneous), exactly, without the gate's
//! safety margin or minimum spacing (a client-side courtesy, not a broker rule). Rejected
//! requests are not recorded, as IB does not serve them.
//!
//! # Invariants
//!
//! 1. `in_flight` counts the live [`InFlight`] guards; a guard decrements it once, on drop.
//! 2. The histories hold only accepted requests, in arrival order.
//!
//! # Lock order
//!
//! One `std::sync::Mutex` (`Shared::state`), never held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::pacing::{PacingRules, RequestKey};
use crate::types::Symbol;

/// A request the broker's rules forbid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// IB-style text of the broken rule.
    pub(crate) rule: String,
    /// When the same request would no longer break that rule.
    pub(crate) retry_after: Duration,
}

pub(crate) struct Checker {
    shared: Arc<Shared>,
}

struct Shared {
    rules: PacingRules,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    recent: VecDeque<Instant>,
    per_contract: HashMap<Symbol, VecDeque<Instant>>,
    identical: HashMap<RequestKey, Instant>,
    in_flight: u32,
    violations: u64,
}

/// An accepted request, counted as in flight until dropped (invariant 1).
pub(crate) struct InFlight {
    shared: Arc<Shared>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

impl Checker {
    pub(crate) fn new(rules: PacingRules) -> Self {
        Checker {
            shared: Arc::new(Shared {
                rules,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Judges a request arriving now: an in-flight guard if it is allowed, else the violation
    /// (counted).
    pub(crate) fn arrive(&self, key: &RequestKey) -> Result<InFlight, Violation> {
        let rules = &self.shared.rules;
        let now = Instant::now();
        let mut state = lock(&self.shared);
        if let Err(v) = state.judge(rules, key, now) {
            state.violations += 1;
            return Err(v);
        }
        state.in_flight += 1;
        if rules.hard_rules.covers(key.timeframe) {
            if let Some(l) = rules.max_requests {
                push_bounded(&mut state.recent, now, l.requests);
            }
            if let Some(l) = rules.per_contract {
                state
                    .per_contract
                    .retain(|_, w| w.back().is_some_and(|&t| now.duration_since(t) < l.per));
                let w = state.per_contract.entry(key.symbol.clone()).or_default();
                push_bounded(w, now, l.requests);
            }
            if let Some(cooldown) = rules.identical_cooldown {
                state
                    .identical
                    .retain(|_, &mut t| now.duration_since(t) < cooldown);
                state.identical.insert(key.clone(), now);
            }
        }
        Ok(InFlight {
            shared: self.shared.clone(),
        })
    }

    /// Requests rejected as pacing violations so far.
    pub(crate) fn violations(&self) -> u64 {
        lock(&self.shared).violations
    }
}

impl State {
    fn judge(&self, rules: &PacingRules, key: &RequestKey, now: Instant) -> Result<(), Violation> {
        if let Some(max) = rules.max_concurrent {
            if self.in_flight >= max {
                return Err(Violation {
                    rule: format!("more than {max} simultaneous historical data requests"),
                    retry_after: Duration::from_secs(1),
                });
            }
        }
        if !rules.hard_rules.covers(key.timeframe) {
            return Ok(());
        }
        let window_rule = |window: Option<&VecDeque<Instant>>, l: crate::pacing::RateLimit| {
            let n = usize::try_from(l.requests).ok()?;
            let w = window?;
            let oldest = w.get(w.len().checked_sub(n)?)?;
            let age = now.duration_since(*oldest);
            (age < l.per).then(|| l.per - age)
        };
        if let Some(l) = rules.max_requests {
            if let Some(retry_after) = window_rule(Some(&self.recent), l) {
                return Err(Violation {
                    rule: format!("more than {} requests in {:?}", l.requests, l.per),
                    retry_after,
                });
            }
        }
        if let Some(l) = rules.per_contract {
            if let Some(retry_after) = window_rule(self.per_contract.get(&key.symbol), l) {
                return Err(Violation {
                    rule: format!(
                        "more than {} requests for {} in {:?}",
                        l.requests, key.symbol, l.per
                    ),
                    retry_after,
                });
            }
        }
        if let Some(cooldown) = rules.identical_cooldown {
            if let Some(&last) = self.identical.get(key) {
                let age = now.duration_since(last);
                if age < cooldown {
                    return Err(Violation {
                        rule: format!("identical request within {cooldown:?}"),
                        retry_after: cooldown - age,
                    });
                }
            }
        }
        Ok(())
    }
}

fn push_bounded(window: &mut VecDeque<Instant>, t: Instant, cap: u32) {
    window.push_back(t);
    while window.len() > usize::try_from(cap).unwrap_or(usize::MAX) {
        window.pop_front();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // Nothing panics while the lock is held, so a poisoned state is still consistent.
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}
