//! Request planner: minimality against a brute-force optimum, coverage, ordering, errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
// Gap lists are arrays of ranges; a one-gap list is meant, not a range of elements.
#![allow(clippy::single_range_in_vec_init)]

use std::collections::{HashSet, VecDeque};
use std::ops::Range;

use ktrdr_data::planner::{plan_requests, FetchRequest, PlanError, PlanOrder, RequestPlan};
use proptest::prelude::*;

const H: i64 = 3600;
const DAY: i64 = 86_400;

/// Integer seconds covered by the gaps, sorted and unique.
fn cells(gaps: &[Range<i64>]) -> Vec<i64> {
    let mut c: Vec<i64> = gaps.iter().flat_map(|g| g.clone()).collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// The minimal number of windows `[a, a + span)` covering every cell, by breadth-first search
/// over the sets of covered cells (independent of the greedy argument).
fn brute_force_min(cells: &[i64], span: i64) -> usize {
    let n = cells.len();
    if n == 0 {
        return 0;
    }
    assert!(n <= 24, "brute force is for small sets");
    let full: u32 = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
    let lo = cells[0] - span + 1;
    let hi = cells[n - 1];
    let windows: Vec<u32> = (lo..=hi)
        .map(|a| {
            cells
                .iter()
                .enumerate()
                .filter(|(_, &c)| a <= c && c < a + span)
                .fold(0u32, |m, (i, _)| m | (1 << i))
        })
        .filter(|&m| m != 0)
        .collect();
    let mut seen = HashSet::from([0u32]);
    let mut queue = VecDeque::from([(0u32, 0usize)]);
    while let Some((mask, depth)) = queue.pop_front() {
        for &w in &windows {
            let next = mask | w;
            if next == full {
                return depth + 1;
            }
            if seen.insert(next) {
                queue.push_back((next, depth + 1));
            }
        }
    }
    unreachable!("every cell lies in some window")
}

fn check_plan_shape(plan: &RequestPlan, gaps: &[Range<i64>], span: i64, order: PlanOrder) {
    let cells = cells(gaps);
    for r in &plan.requests {
        assert!(r.start < r.end, "empty request {r:?}");
        assert!(r.span() <= span, "request {r:?} longer than {span}");
        // Trimmed: a request starts and ends on gap material, fetching nothing needless at the
        // edges.
        assert!(
            cells.binary_search(&r.start).is_ok(),
            "{r:?} starts outside gaps"
        );
        assert!(
            cells.binary_search(&(r.end - 1)).is_ok(),
            "{r:?} ends outside gaps"
        );
    }
    // Every second of every gap is fetched (no under-fetching).
    for c in &cells {
        assert!(
            plan.requests.iter().any(|r| r.start <= *c && *c < r.end),
            "second {c} not covered by {plan:?}"
        );
    }
    for pair in plan.requests.windows(2) {
        match order {
            PlanOrder::OldestFirst => assert!(pair[0].end <= pair[1].start, "{plan:?}"),
            PlanOrder::NewestFirst => assert!(pair[1].end <= pair[0].start, "{plan:?}"),
        }
    }
}

fn small_gaps() -> impl Strategy<Value = (Vec<Range<i64>>, i64)> {
    (prop::collection::vec((0i64..40, 0i64..6), 0..6), 1i64..12)
        .prop_map(|(raw, span)| {
            let gaps: Vec<Range<i64>> = raw.into_iter().map(|(s, len)| s..s + len).collect();
            (gaps, span)
        })
        .prop_filter(
            "brute force needs a small cell set",
            |(gaps, _): &(Vec<Range<i64>>, i64)| cells(gaps).len() <= 20,
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn greedy_matches_brute_force_optimum((gaps, span) in small_gaps()) {
        let optimum = brute_force_min(&cells(&gaps), span);
        for order in [PlanOrder::OldestFirst, PlanOrder::NewestFirst] {
            let plan = plan_requests(gaps.clone(), span, order).unwrap();
            prop_assert_eq!(plan.len(), optimum, "order {:?}, gaps {:?}, span {}", order, gaps, span);
            check_plan_shape(&plan, &gaps, span, order);
        }
    }

    #[test]
    fn large_gap_sets_are_covered_and_ordered(
        raw in prop::collection::vec((0i64..10_000 * H, 1i64..40 * H), 0..200),
        span_days in 1i64..40,
    ) {
        let gaps: Vec<Range<i64>> = raw.into_iter().map(|(s, len)| s..s + len).collect();
        let span = span_days * DAY;
        let a = plan_requests(gaps.clone(), span, PlanOrder::OldestFirst).unwrap();
        let b = plan_requests(gaps.clone(), span, PlanOrder::NewestFirst).unwrap();
        // Both anchorings are optimal, so they agree on the count.
        prop_assert_eq!(a.len(), b.len());
        // Coverage on a coarse check: every gap's first and last second is fetched.
        for plan in [&a, &b] {
            for g in &gaps {
                for t in [g.start, g.end - 1] {
                    prop_assert!(plan.requests.iter().any(|r| r.start <= t && t < r.end));
                }
            }
            prop_assert!(plan.requests.iter().all(|r| r.span() <= span && r.start < r.end));
        }
    }
}

#[test]
fn nearby_gaps_share_one_request() {
    // Three 1-hour holes within a 30-day 1h window: one request, from the first hole to the
    // end of the last (the Python SegmentManager made three).
    let gaps = [10 * H..11 * H, 50 * H..51 * H, 300 * H..301 * H];
    let plan = plan_requests(gaps, 30 * DAY, PlanOrder::NewestFirst).unwrap();
    assert_eq!(
        plan.requests,
        vec![FetchRequest {
            start: 10 * H,
            end: 301 * H
        }]
    );
}

#[test]
fn long_gap_is_split_from_the_anchor_end() {
    let gap = [0..65 * DAY];
    let backfill = plan_requests(gap.clone(), 30 * DAY, PlanOrder::OldestFirst).unwrap();
    assert_eq!(
        backfill.requests,
        vec![
            FetchRequest {
                start: 0,
                end: 30 * DAY
            },
            FetchRequest {
                start: 30 * DAY,
                end: 60 * DAY
            },
            FetchRequest {
                start: 60 * DAY,
                end: 65 * DAY
            },
        ]
    );
    let tail = plan_requests(gap, 30 * DAY, PlanOrder::NewestFirst).unwrap();
    assert_eq!(
        tail.requests,
        vec![
            FetchRequest {
                start: 35 * DAY,
                end: 65 * DAY
            },
            FetchRequest {
                start: 5 * DAY,
                end: 35 * DAY
            },
            FetchRequest {
                start: 0,
                end: 5 * DAY
            },
        ]
    );
}

#[test]
fn overlapping_touching_unsorted_and_empty_gaps_are_normalised() {
    let gaps = [20..30, 0..10, 10..15, 25..40, 50..50];
    let plan = plan_requests(gaps, 100, PlanOrder::OldestFirst).unwrap();
    assert_eq!(plan.requests, vec![FetchRequest { start: 0, end: 40 }]);
    assert!(plan_requests([5..5], 10, PlanOrder::NewestFirst)
        .unwrap()
        .is_empty());
    assert!(plan_requests(Vec::new(), 10, PlanOrder::NewestFirst)
        .unwrap()
        .is_empty());
}

#[test]
fn bad_input_is_a_typed_error() {
    assert_eq!(
        plan_requests([0..10], 0, PlanOrder::OldestFirst),
        Err(PlanError::NonPositiveSpan(0))
    );
    #[allow(clippy::reversed_empty_ranges)]
    let inverted = [10..5];
    assert_eq!(
        plan_requests(inverted, 10, PlanOrder::OldestFirst),
        Err(PlanError::InvertedGap { start: 10, end: 5 })
    );
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    let gaps = [i64::MAX - 10..i64::MAX, i64::MIN..i64::MIN + 10];
    for order in [PlanOrder::OldestFirst, PlanOrder::NewestFirst] {
        let plan = plan_requests(gaps.clone(), i64::MAX, order).unwrap();
        assert_eq!(plan.len(), 2, "{order:?}: {plan:?}");
    }
}
