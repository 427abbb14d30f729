//! The pacing gate: one per provider connection, shared by every load that uses the connection,
//! so that no schedule of requests ever breaks the broker's historical-data pacing rules.
//!
//! Interactive Brokers rejects a historical request with error 162 ("pacing violation") when a
//! client sends more than 60 requests in any 10 minutes, 6 or more for the same contract within
//! 2 s, an identical request within 15 s, or more than 50 at once (`../shared/contracts/
//! host-service.md`, anchors.md §4.1). The Python system spread these checks over a pace manager
//! with fixed sleeps; here one [`PacingGate`] computes, for each request, the *earliest instant*
//! at which sending it breaks no rule, and waits exactly until then (cancellably). Computing the
//! instant instead of sleeping a safe constant is what lets a long backfill run at the full
//! allowed rate.
//!
//! A rate rule "at most `n` in any window `w`" holds for a sorted list of send instants `t` if and
//! only if `t[i] - t[i - n] >= w` for every `i >= n`; so the gate keeps the last `n` instants and
//! the earliest next send is `t[len - n] + w`. [`PacingRules::safety_margin`] is added to every
//! window so that network jitter between the gate and the broker cannot turn an exact schedule
//! into a violation on the broker's clock.
//!
//! # Invariants
//!
//! 1. Every instant recorded in `State` is the instant a permit was granted, and grants are
//!    recorded in time order (under the lock, with the clock read under the lock).
//! 2. A permit is granted only if the instant of granting satisfies every rule against all
//!    earlier grants (`State::earliest` returns a time `<= now`).
//! 3. The slot semaphore is never closed, so acquiring from it fails only by cancellation.
//! 4. No lock is held across an `.await`: waiting happens after the state lock is released, and
//!    the state is re-checked after every wake-up (another waiter may have taken the slot).
//!
//! # Lock order
//!
//! There is one lock, `Inner::state` (a `std::sync::Mutex`, held for a few comparisons only).
//! The concurrency semaphore is acquired before it and never while it is held.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ktrdr_ops::cancel::{CancellationToken, Cancelled};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::provider::{ProviderError, MAX_RETRY_AFTER};
use crate::types::TimeRange;
use crate::types::{Symbol, Timeframe};

/// "At most `requests` in any window of length `per`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window; at least 1.
    pub requests: u32,
    /// The sliding window; not zero.
    pub per: Duration,
}

impl RateLimit {
    /// `requests` per `per`.
    pub const fn new(requests: u32, per: Duration) -> Self {
        RateLimit { requests, per }
    }
}

/// Which bar sizes the *hard* rules (rate per window, per contract, identical requests) apply to.
/// The concurrency limit and the minimum spacing apply to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardRulesScope {
    /// Every bar size (what the Python system did, and the safe choice for a real broker).
    AllBarSizes,
    /// Only bars of at most this length. IB's current documentation applies the hard pacing
    /// rules to bars of 30 s or less and only a soft throttle to larger bars.
    BarsUpTo(Duration),
}

impl HardRulesScope {
    /// Whether the hard rules apply to bars of `timeframe`.
    pub fn covers(self, timeframe: Timeframe) -> bool {
        match self {
            HardRulesScope::AllBarSizes => true,
            HardRulesScope::BarsUpTo(max) => {
                u64::try_from(timeframe.seconds()).is_ok_and(|s| s <= max.as_secs())
            }
        }
    }
}

/// The pacing rules a [`PacingGate`] enforces. Build one from a preset and adjust fields.
///
/// ```
/// use std::time::Duration;
/// use ktrdr_data::pacing::PacingRules;
///
/// let rules = PacingRules::ib_conservative();
/// assert_eq!(rules.max_requests.unwrap().requests, 60);
/// assert_eq!(rules.max_requests.unwrap().per, Duration::from_secs(600));
/// assert!(rules.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacingRules {
    /// A short name shown in logs and `describe()` output.
    pub name: &'static str,
    /// Requests in any window, over all contracts (IB: 60 per 10 minutes).
    pub max_requests: Option<RateLimit>,
    /// Requests for one contract in any window (IB: 6 per 2 s).
    pub per_contract: Option<RateLimit>,
    /// No identical request (same symbol, timeframe and range) within this time (IB: 15 s).
    pub identical_cooldown: Option<Duration>,
    /// Requests in flight at once (IB: 50).
    pub max_concurrent: Option<u32>,
    /// Time between any two consecutive requests, whatever their bar size (a soft throttle).
    pub min_spacing: Duration,
    /// Which bar sizes the three hard rules above apply to.
    pub hard_rules: HardRulesScope,
    /// Added to every window and cooldown, so that the gap between the gate's clock and the
    /// broker's (network jitter, a hop through the host service) never makes an exact schedule
    /// look like a violation. The checker on the broker side uses the rules without it.
    pub safety_margin: Duration,
}

impl PacingRules {
    /// The Python system's rules and the default for a real broker: IB's published hard limits
    /// applied to every bar size (60 per 10 min, 6 per 2 s per contract, identical requests
    /// 15 s apart, 50 in flight), 2 s between requests (the Python pace manager's spacing) and a
    /// 1 s safety margin. A 5-year 1h backfill (61 requests) takes one 10-minute window plus a
    /// little: the 61st request is the first that has to wait.
    pub fn ib_conservative() -> Self {
        PacingRules {
            name: "ib-conservative",
            max_requests: Some(RateLimit::new(60, Duration::from_secs(600))),
            per_contract: Some(RateLimit::new(6, Duration::from_secs(2))),
            identical_cooldown: Some(Duration::from_secs(15)),
            max_concurrent: Some(50),
            min_spacing: Duration::from_secs(2),
            hard_rules: HardRulesScope::AllBarSizes,
            safety_margin: Duration::from_secs(1),
        }
    }

    /// IB's rules as currently documented: the hard limits only for bars of 30 s or less, so for
    /// every [`Timeframe`] ktrdr supports (1 minute and up) only the soft throttle remains (1 s
    /// between requests, 50 in flight). Faster, but IB may still slow down or disconnect a client
    /// that pulls a lot; use it when you know your gateway tolerates it.
    pub fn ib_small_bars_only() -> Self {
        PacingRules {
            name: "ib-small-bars-only",
            min_spacing: Duration::from_secs(1),
            hard_rules: HardRulesScope::BarsUpTo(Duration::from_secs(30)),
            ..Self::ib_conservative()
        }
    }

    /// IB's rule shapes at 100 times the speed (60 per 6 s, 6 per 20 ms per contract, identical
    /// requests 150 ms apart, 20 ms spacing): for demos and tests against the simulated broker,
    /// so that they exercise the same waits in seconds instead of minutes.
    pub fn fast() -> Self {
        PacingRules {
            name: "fast (100x IB)",
            max_requests: Some(RateLimit::new(60, Duration::from_secs(6))),
            per_contract: Some(RateLimit::new(6, Duration::from_millis(20))),
            identical_cooldown: Some(Duration::from_millis(150)),
            max_concurrent: Some(50),
            min_spacing: Duration::from_millis(20),
            hard_rules: HardRulesScope::AllBarSizes,
            safety_margin: Duration::from_millis(10),
        }
    }

    /// Checks that the rules can be satisfied at all (no zero counts or zero windows).
    pub fn validate(&self) -> Result<(), InvalidPacingRules> {
        for (field, limit) in [
            ("max_requests", self.max_requests),
            ("per_contract", self.per_contract),
        ] {
            if let Some(l) = limit {
                if l.requests == 0 {
                    return Err(InvalidPacingRules {
                        field,
                        reason: "requests must be at least 1 (use None for no limit)",
                    });
                }
                if l.per.is_zero() {
                    return Err(InvalidPacingRules {
                        field,
                        reason: "the window must be longer than zero (use None for no limit)",
                    });
                }
            }
        }
        if self.max_concurrent == Some(0) {
            return Err(InvalidPacingRules {
                field: "max_concurrent",
                reason: "must be at least 1 (use None for no limit)",
            });
        }
        Ok(())
    }
}

impl Default for PacingRules {
    /// [`PacingRules::ib_conservative`].
    fn default() -> Self {
        Self::ib_conservative()
    }
}

impl fmt::Display for PacingRules {
    /// One line, e.g. `ib-conservative: 60/600s, 6/2s per contract, identical 15s, 50 in flight,
    /// spacing 2s, all bar sizes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.name)?;
        if let Some(l) = self.max_requests {
            write!(f, " {}/{:?},", l.requests, l.per)?;
        }
        if let Some(l) = self.per_contract {
            write!(f, " {}/{:?} per contract,", l.requests, l.per)?;
        }
        if let Some(c) = self.identical_cooldown {
            write!(f, " identical {c:?},")?;
        }
        if let Some(n) = self.max_concurrent {
            write!(f, " {n} in flight,")?;
        }
        write!(f, " spacing {:?}, ", self.min_spacing)?;
        match self.hard_rules {
            HardRulesScope::AllBarSizes => write!(f, "all bar sizes"),
            HardRulesScope::BarsUpTo(d) => write!(f, "hard rules for bars <= {d:?}"),
        }
    }
}

/// Rules that no schedule can satisfy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pacing rules: {field}: {reason}")]
pub struct InvalidPacingRules {
    /// The [`PacingRules`] field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// What the broker compares to decide that two requests are "the same contract" or "identical".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    /// The contract.
    pub symbol: Symbol,
    /// The bar size.
    pub timeframe: Timeframe,
    /// The requested range.
    pub range: TimeRange,
}

impl RequestKey {
    /// The key of a historical-bars request.
    pub fn new(symbol: Symbol, timeframe: Timeframe, range: TimeRange) -> Self {
        RequestKey {
            symbol,
            timeframe,
            range,
        }
    }
}

/// The right to send one request. Hold it until the answer has arrived: it counts against
/// [`PacingRules::max_concurrent`] until dropped.
#[must_use = "the request must be sent while the permit is held"]
#[derive(Debug)]
pub struct PacingPermit {
    granted_at: Instant,
    waited: Duration,
    _slot: Option<OwnedSemaphorePermit>,
}

impl PacingPermit {
    /// When the gate let the request go.
    pub fn granted_at(&self) -> Instant {
        self.granted_at
    }

    /// How long `acquire` waited for pacing (and for a free slot).
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

/// Counts of a [`PacingGate`]'s work, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PacingStats {
    /// Permits granted (requests let through).
    pub granted: u64,
    /// Of those, how many had to wait (for the rules or a free slot).
    pub waited: u64,
    /// The time all permits waited, together.
    pub waited_secs: f64,
    /// Pacing violations reported by the broker anyway.
    pub violations: u64,
}

impl PacingStats {
    fn count_grant(&mut self, waited: Duration) {
        self.granted += 1;
        if !waited.is_zero() {
            self.waited += 1;
            self.waited_secs += waited.as_secs_f64();
        }
    }
}

/// The pacing gate: a cheap `Clone` handle; all clones share one schedule.
///
/// ```
/// use ktrdr_data::pacing::{PacingGate, PacingRules, RequestKey};
/// use ktrdr_data::types::TimeRange;
/// use ktrdr_ops::cancel::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gate = PacingGate::new(PacingRules::fast())?;
/// let token = CancellationToken::new();
/// let key = RequestKey::new("AAPL".parse()?, "1h".parse()?, TimeRange::new(0, 86_400)?);
/// let permit = gate.acquire(&key, &token).await?;
/// // ... send the request, then drop the permit ...
/// drop(permit);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PacingGate {
    inner: Arc<Inner>,
}

struct Inner {
    rules: PacingRules,
    /// `None` when [`PacingRules::max_concurrent`] is `None`. Never closed (invariant 3).
    slots: Option<Arc<Semaphore>>,
    state: Mutex<State>,
}

/// The grants that still constrain future requests.
#[derive(Default, Clone)]
struct State {
    /// The last `max_requests.requests` grants covered by the hard rules, oldest first.
    recent: VecDeque<Instant>,
    /// Per contract, its last `per_contract.requests` hard-rule grants, oldest first. A contract
    /// is dropped once its newest grant is older than the window.
    per_contract: HashMap<Symbol, VecDeque<Instant>>,
    /// The last grant of each request still inside the identical-request cooldown.
    identical: HashMap<RequestKey, Instant>,
    /// The last grant of any request (for the minimum spacing).
    last: Option<Instant>,
    /// What the gate has done so far, for [`PacingGate::stats`].
    stats: PacingStats,
    /// No grant before this instant (set by [`PacingGate::report_violation`]).
    blocked_until: Option<Instant>,
}

impl State {
    /// The earliest instant, not before `now`, at which `key` may be sent (invariant 2).
    fn earliest(&self, rules: &PacingRules, key: &RequestKey, now: Instant) -> Instant {
        let mut t = now;
        if let Some(b) = self.blocked_until {
            t = t.max(b);
        }
        if let Some(last) = self.last {
            t = t.max(last + rules.min_spacing);
        }
        if !rules.hard_rules.covers(key.timeframe) {
            return t;
        }
        let margin = rules.safety_margin;
        if let Some(l) = rules.max_requests {
            if let Some(first) = nth_from_end(&self.recent, l.requests) {
                t = t.max(first + l.per + margin);
            }
        }
        if let Some(l) = rules.per_contract {
            let window = self.per_contract.get(&key.symbol);
            if let Some(first) = window.and_then(|w| nth_from_end(w, l.requests)) {
                t = t.max(first + l.per + margin);
            }
        }
        if let Some(cooldown) = rules.identical_cooldown {
            if let Some(&last) = self.identical.get(key) {
                t = t.max(last + cooldown + margin);
            }
        }
        t
    }

    /// Records a grant at `now` and forgets what no longer constrains anything.
    fn record(&mut self, rules: &PacingRules, key: &RequestKey, now: Instant) {
        self.last = Some(now);
        if !rules.hard_rules.covers(key.timeframe) {
            return;
        }
        let margin = rules.safety_margin;
        if let Some(l) = rules.max_requests {
            push_bounded(&mut self.recent, now, l.requests);
        }
        if let Some(l) = rules.per_contract {
            let horizon = l.per + margin;
            self.per_contract
                .retain(|_, w| w.back().is_some_and(|&t| now.duration_since(t) < horizon));
            let window = self.per_contract.entry(key.symbol.clone()).or_default();
            push_bounded(window, now, l.requests);
        }
        if let Some(cooldown) = rules.identical_cooldown {
            let horizon = cooldown + margin;
            self.identical
                .retain(|_, &mut t| now.duration_since(t) < horizon);
            self.identical.insert(key.clone(), now);
        }
    }
}

/// The `n`-th newest instant (`n >= 1`), if there are at least `n`.
fn nth_from_end(window: &VecDeque<Instant>, n: u32) -> Option<Instant> {
    let n = usize::try_from(n).ok()?;
    window
        .len()
        .checked_sub(n)
        .and_then(|i| window.get(i).copied())
}

fn push_bounded(window: &mut VecDeque<Instant>, t: Instant, cap: u32) {
    window.push_back(t);
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    while window.len() > cap {
        window.pop_front();
    }
}

impl PacingGate {
    /// A gate enforcing `rules`, which must pass [`PacingRules::validate`].
    pub fn new(rules: PacingRules) -> Result<Self, InvalidPacingRules> {
        rules.validate()?;
        let slots = rules
            .max_concurrent
            .map(|n| Arc::new(Semaphore::new(usize::try_from(n).unwrap_or(usize::MAX))));
        Ok(PacingGate {
            inner: Arc::new(Inner {
                rules,
                slots,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The rules this gate enforces.
    pub fn rules(&self) -> &PacingRules {
        &self.inner.rules
    }

    /// Waits until sending `key` breaks no rule, then records the send and returns the permit.
    ///
    /// Waits exactly as long as the rules require (to the timer's millisecond resolution), for a
    /// free in-flight slot first. Returns `Err(Cancelled)` as soon as `token` is cancelled, and
    /// then records nothing.
    pub async fn acquire(
        &self,
        key: &RequestKey,
        token: &CancellationToken,
    ) -> Result<PacingPermit, Cancelled> {
        token.check()?;
        let started = Instant::now();
        let slot = match &self.inner.slots {
            Some(sem) => {
                let acquired = token
                    .run_until_cancelled(sem.clone().acquire_owned())
                    .await?;
                #[expect(clippy::expect_used, reason = "the slot semaphore is never closed")]
                let permit = acquired.expect("invariant 3: the slot semaphore is never closed");
                Some(permit)
            }
            None => None,
        };
        loop {
            let wake_at = {
                let mut state = self.lock();
                let now = Instant::now();
                let t = state.earliest(&self.inner.rules, key, now);
                if t <= now {
                    state.record(&self.inner.rules, key, now);
                    let waited = now.duration_since(started);
                    state.stats.count_grant(waited);
                    return Ok(PacingPermit {
                        granted_at: now,
                        waited,
                        _slot: slot,
                    });
                }
                t
            };
            tracing::trace!(
                symbol = %key.symbol,
                timeframe = %key.timeframe,
                wait_ms = wake_at.duration_since(Instant::now()).as_millis() as u64,
                "pacing wait"
            );
            token
                .run_until_cancelled(tokio::time::sleep_until(wake_at))
                .await?;
        }
    }

    /// Sends one request through the gate, the one way a request is paced: waits for a permit,
    /// awaits `call` while holding it, and when the answer is a pacing violation anyway holds
    /// every request for its retry-after ([`report_violation`](Self::report_violation)).
    /// `call` is not polled before the permit is granted.
    ///
    /// # Errors
    ///
    /// What `call` returns, or a cancelled [`ProviderError`] if `token` is cancelled while
    /// waiting for the permit.
    pub async fn send<T>(
        &self,
        key: &RequestKey,
        token: &CancellationToken,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let permit = self.acquire(key, token).await?;
        let answer = call.await;
        drop(permit);
        if let Some(retry_after) = answer.as_ref().err().and_then(ProviderError::retry_after) {
            self.report_violation(retry_after);
        }
        answer
    }

    /// How long sending `n` distinct requests for one contract would take from now under this
    /// gate's rules and its current state (the last send's grant, answer latency excluded):
    /// what a load's plan costs in pacing, for its ETA before any answer is in. The gate's
    /// state is not changed.
    pub fn schedule_duration(&self, symbol: &Symbol, timeframe: Timeframe, n: usize) -> Duration {
        let rules = &self.inner.rules;
        let mut state = self.lock().clone();
        let now = Instant::now();
        let mut t = now;
        for i in 0..n {
            // Distinct ranges: a plan never repeats a request.
            let second = i64::try_from(i).unwrap_or(i64::MAX);
            let Ok(range) = TimeRange::new(second, second) else {
                break;
            };
            let key = RequestKey::new(symbol.clone(), timeframe, range);
            t = state.earliest(rules, &key, t);
            state.record(rules, &key, t);
        }
        t.duration_since(now)
    }

    /// Tells the gate the broker answered a pacing violation anyway (another client on the same
    /// account, a broker-side throttle): no request is let through for `retry_after`.
    pub fn report_violation(&self, retry_after: Duration) {
        let now = Instant::now();
        let until = now
            .checked_add(retry_after)
            .unwrap_or_else(|| now + MAX_RETRY_AFTER);
        let mut state = self.lock();
        state.blocked_until = Some(state.blocked_until.map_or(until, |b| b.max(until)));
        state.stats.violations += 1;
        tracing::warn!(
            retry_after_ms = retry_after.as_millis() as u64,
            "pacing violation reported; holding all requests"
        );
    }

    /// What the gate has done since it was made (all clones together).
    pub fn stats(&self) -> PacingStats {
        self.lock().stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while the lock is held, so a poisoned state is still consistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for PacingGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacingGate")
            .field("rules", &self.inner.rules)
            .finish_non_exhaustive()
    }
}
