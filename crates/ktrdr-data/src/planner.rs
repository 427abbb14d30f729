//! Request planning: turn the gaps to fill into provider requests under a maximum span per
//! request, with the minimal number of requests.
//!
//! Replaces the Python `SegmentManager.create_segments`, which cut every gap separately (two
//! one-hour holes a day apart cost two IB requests, where one 30-day `1h` request covers both)
//! and never ordered the segments (`prioritize_segments` existed but was never called).
//!
//! # Why greedy is optimal
//!
//! Let `U` be the union of the gaps (half-open intervals on the time line) and `L` the maximum
//! span. A request is a window `[a, a + L)`; a plan is feasible when its windows cover `U`.
//!
//! *Greedy from the left*: let `p` be the leftmost point of `U` not yet covered; place the
//! window `[p, p + L)`; repeat. Claim: no feasible plan uses fewer windows.
//!
//! Proof (exchange argument, induction on the size of an optimal plan). Take an optimal plan
//! `O`. Some window `[a, a + L)` of `O` covers `g = min U`, so `a ≤ g`. Nothing of `U` lies
//! left of `g`, hence `U ∩ [a, a + L) ⊆ [g, a + L) ⊆ [g, g + L)`: swapping that window for
//! greedy's first window `[g, g + L)` keeps the plan feasible and its size. The other
//! `|O| - 1` windows of `O` then cover `U' = U ∖ [g, g + L)`, and greedy's remaining windows
//! are exactly greedy run on `U'`, which by induction uses at most `|O| - 1` windows. So
//! greedy uses at most `|O|` windows, i.e. it is optimal. (Base: `U` empty, zero windows.)
//!
//! The mirror image (greedy from the right, each window ending at the rightmost uncovered
//! point) is optimal by the same argument on the reflected line, so both orders below are
//! minimal. `tests/planner.rs` checks this against a brute-force breadth-first search over
//! window placements on random small gap sets.
//!
//! Each window is then trimmed to the gap material it covers (it starts and ends inside a
//! gap), which never changes the count and never fetches less than the gaps: every gap point
//! lies in some request (no under-fetching, the Python W/Y flooring bug).

use std::ops::Range;

use crate::types::Timeframe;

/// One request to the provider: bars with timestamps in `[start, end)`, unix seconds UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FetchRequest {
    /// First second the request covers (inclusive).
    pub start: i64,
    /// End of the request (exclusive).
    pub end: i64,
}

impl FetchRequest {
    /// Length of the request in seconds.
    pub fn span(&self) -> i64 {
        self.end - self.start
    }
}

/// The requests that fill a set of gaps, in the order they should be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestPlan {
    /// Requests in sending order.
    pub requests: Vec<FetchRequest>,
}

impl RequestPlan {
    /// Number of requests in the plan.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// True when there is nothing to fetch.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// The order in which requests are sent, which also decides where windows are anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PlanOrder {
    /// Tail loads: the newest data first. Windows are anchored at the newest uncovered point,
    /// so each request ends where a gap ends (IB requests are "end time + duration").
    NewestFirst,
    /// Backfill: the oldest data first. Windows are anchored at the oldest uncovered point.
    OldestFirst,
}

/// A plan could not be made from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The maximum span must be at least one second.
    #[error("maximum request span must be positive, got {0} s")]
    NonPositiveSpan(i64),
    /// A gap ends before it starts.
    #[error("gap ends before it starts: [{start}, {end})")]
    InvertedGap {
        /// Start of the offending gap.
        start: i64,
        /// End of the offending gap.
        end: i64,
    },
}

/// Maximum span per request for Interactive Brokers, in seconds, by bar size.
///
/// The table of `contracts/host-service.md` (1m 1 day, 5m 7 days, 15m 14 days, 30m 30 days,
/// 1h 30 days, 4h 120 days, 1d 365 days, 1w 730 days). IB also serves `2h` bars, which the
/// Python table rejected (pitfall 13); we give them 60 days, between the 1h and 4h rows and
/// what the working `nautilus-fetch` loader uses ("2 M" for 2 hours).
pub fn ib_max_span(tf: Timeframe) -> i64 {
    const DAY: i64 = 86_400;
    match tf {
        Timeframe::M1 => DAY,
        Timeframe::M5 => 7 * DAY,
        Timeframe::M15 => 14 * DAY,
        Timeframe::M30 => 30 * DAY,
        Timeframe::H1 => 30 * DAY,
        Timeframe::H2 => 60 * DAY,
        Timeframe::H4 => 120 * DAY,
        Timeframe::D1 => 365 * DAY,
        Timeframe::W1 => 730 * DAY,
    }
}

/// Plans the requests for `gaps` (half-open `[start, end)` intervals in unix seconds) under
/// the IB span limit for `tf`. See [`plan_requests`].
pub fn plan_ib(
    gaps: impl IntoIterator<Item = Range<i64>>,
    tf: Timeframe,
    order: PlanOrder,
) -> Result<RequestPlan, PlanError> {
    plan_requests(gaps, ib_max_span(tf), order)
}

/// Plans the minimal number of requests of at most `max_span` seconds that together cover
/// every gap, in the given order.
///
/// Gaps may come unsorted and may overlap or touch; empty gaps are ignored. Nearby gaps share
/// a request whenever one window reaches them all; a gap longer than `max_span` is split.
///
/// ```
/// use ktrdr_data::planner::{plan_requests, FetchRequest, PlanOrder};
/// const H: i64 = 3600;
/// // Two 1-hour holes a day apart and a 3-day hole, 2-day windows, newest first.
/// let gaps = [0..H, 24 * H..25 * H, 100 * H..172 * H];
/// let plan = plan_requests(gaps, 48 * H, PlanOrder::NewestFirst).unwrap();
/// assert_eq!(
///     plan.requests,
///     vec![
///         FetchRequest { start: 124 * H, end: 172 * H },
///         FetchRequest { start: 100 * H, end: 124 * H },
///         FetchRequest { start: 0, end: 25 * H },
///     ]
/// );
/// ```
pub fn plan_requests(
    gaps: impl IntoIterator<Item = Range<i64>>,
    max_span: i64,
    order: PlanOrder,
) -> Result<RequestPlan, PlanError> {
    if max_span <= 0 {
        return Err(PlanError::NonPositiveSpan(max_span));
    }
    let merged = merge(gaps)?;
    let requests = match order {
        PlanOrder::OldestFirst => greedy_from_oldest(&merged, max_span),
        PlanOrder::NewestFirst => greedy_from_newest(&merged, max_span),
    };
    Ok(RequestPlan { requests })
}

/// Sorted, disjoint, non-touching, non-empty intervals.
fn merge(input: impl IntoIterator<Item = Range<i64>>) -> Result<Vec<Range<i64>>, PlanError> {
    let mut gaps: Vec<Range<i64>> = Vec::new();
    for g in input {
        if g.end < g.start {
            return Err(PlanError::InvertedGap {
                start: g.start,
                end: g.end,
            });
        }
        if g.end > g.start {
            gaps.push(g);
        }
    }
    gaps.sort_unstable_by_key(|g| g.start);
    let mut merged: Vec<Range<i64>> = Vec::with_capacity(gaps.len());
    for g in gaps {
        match merged.last_mut() {
            Some(last) if g.start <= last.end => last.end = last.end.max(g.end),
            _ => merged.push(g),
        }
    }
    Ok(merged)
}

fn greedy_from_oldest(gaps: &[Range<i64>], max_span: i64) -> Vec<FetchRequest> {
    let mut out = Vec::new();
    let mut i = 0;
    // Uncovered remainder of gaps[i] starts here (a gap split by a window keeps its tail).
    let mut rest = gaps.first().map_or(0, |g| g.start);
    while i < gaps.len() {
        let start = rest.max(gaps[i].start);
        let limit = start.saturating_add(max_span);
        let mut end = start;
        while i < gaps.len() && gaps[i].start < limit {
            if gaps[i].end <= limit {
                end = gaps[i].end;
                i += 1;
            } else {
                end = limit;
                break;
            }
        }
        rest = end;
        out.push(FetchRequest { start, end });
    }
    out
}

fn greedy_from_newest(gaps: &[Range<i64>], max_span: i64) -> Vec<FetchRequest> {
    let mut out = Vec::new();
    let mut i = gaps.len();
    // Uncovered remainder of gaps[i - 1] ends here.
    let mut rest = gaps.last().map_or(0, |g| g.end);
    while i > 0 {
        let end = rest.min(gaps[i - 1].end);
        let limit = end.saturating_sub(max_span);
        let mut start = end;
        while i > 0 && gaps[i - 1].end > limit {
            if gaps[i - 1].start >= limit {
                start = gaps[i - 1].start;
                i -= 1;
            } else {
                start = limit;
                break;
            }
        }
        rest = start;
        out.push(FetchRequest { start, end });
    }
    out
}
