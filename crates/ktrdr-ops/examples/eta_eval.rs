//! Replays synthetic progress traces through `TimeEstimator` and three baselines and prints
//! their errors. Deterministic (seeded); the table in `docs/PERFORMANCE.md` ("## ETA") is its
//! output.
//!
//! ```text
//! cargo run -p ktrdr-ops --release --example eta_eval [-- TRACES_PER_CASE [SEED]]
//! ```
//!
//! Each trace is a run of true total duration `T` with progress updates `(t, fraction)`:
//!
//! - `steady`: an update every 0.5–2 s, each chunk ±30 % around the mean;
//! - `bursty`: quiet spells of 2–12 s, then 3–10 updates 0.1 s apart;
//! - `slow-start`: the first 10–30 % of the time runs at 20–40 % of the later rate;
//! - `stalls`: steady, with 2–4 stalls (pacing waits) of 4–12 % of the run each;
//! - `few-steps`: 4–8 steps of similar length (±25 %), one update at the end of each.
//!
//! A kind of run has a typical duration `D` (log-uniform 20 s–10 min); this run takes
//! `D·e^N(0, 0.2)`. "With history" gives each estimator the 10 previous runs' durations, drawn
//! the same way. Estimates are read at 10/25/50/75/90 % of `T`; the error is
//! `|estimate − (T − t)| / (T − t)`; no estimate counts as 100 %. "Rises" is the share of
//! reads (every 1 % of `T`, from 10 % to 95 %) at which the point estimate went up by more than
//! 0.1 % of `T`, on the steady traces and on the few-steps traces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::time::Duration;

use ktrdr_ops::eta::{Prior, TimeEstimator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHECKPOINTS: [f64; 5] = [0.10, 0.25, 0.50, 0.75, 0.90];
const HISTORY_RUNS: usize = 10;
const RUN_SPREAD: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    Steady,
    Bursty,
    SlowStart,
    Stalls,
    FewSteps,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::Steady,
    Scenario::Bursty,
    Scenario::SlowStart,
    Scenario::Stalls,
    Scenario::FewSteps,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Bursty => "bursty",
            Scenario::SlowStart => "slow-start",
            Scenario::Stalls => "stalls",
            Scenario::FewSteps => "few-steps",
        }
    }
}

struct Trace {
    total: f64,
    /// `(t, fraction)`, strictly increasing, ending at `(total, 1.0)`.
    updates: Vec<(f64, f64)>,
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller; `1 − u` keeps the logarithm finite.
    let (u, v): (f64, f64) = (rng.random(), rng.random());
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Builds a trace in "model time" from (time, work) events, then scales it to `total`.
fn trace(rng: &mut StdRng, scenario: Scenario, total: f64) -> Trace {
    let mut events: Vec<(f64, f64)> = Vec::new(); // (time, work done by then)
    let mut t = 0.0;
    let mut work = 0.0;
    let chunk = |rng: &mut StdRng| 1.0 + 0.3 * (2.0 * rng.random::<f64>() - 1.0);
    match scenario {
        Scenario::Steady | Scenario::Stalls => {
            let tick = rng.random_range(0.5..2.0) / 100.0; // ~100 updates per unit time
            let stalls: Vec<(f64, f64)> = if scenario == Scenario::Stalls {
                let n = rng.random_range(2..=4);
                (0..n)
                    .map(|_| (rng.random_range(0.05..0.9), rng.random_range(0.04..0.12)))
                    .collect()
            } else {
                Vec::new()
            };
            let mut pending: Vec<(f64, f64)> = stalls;
            pending.sort_by(|a, b| a.0.total_cmp(&b.0));
            let base = 1.0;
            while work < base {
                t += tick;
                work += tick * chunk(rng);
                if let Some(&(at, len)) = pending.first() {
                    if work >= at {
                        t += len;
                        pending.remove(0);
                    }
                }
                events.push((t, work.min(base)));
            }
        }
        Scenario::Bursty => {
            for _ in 0..rng.random_range(8..=30) {
                t += rng.random_range(2.0..12.0);
                for _ in 0..rng.random_range(3..=10) {
                    t += 0.1;
                    work += chunk(rng);
                    events.push((t, work));
                }
            }
            // Work units: normalise so that the last event is all the work.
            let last = work;
            for e in &mut events {
                e.1 /= last;
            }
        }
        Scenario::SlowStart => {
            let slow_share = rng.random_range(0.10..0.30);
            let slow_rate = rng.random_range(0.2..0.4);
            let tick = rng.random_range(0.5..2.0) / 100.0;
            // Time units chosen so the whole run is ~1.
            let slow_time = slow_share;
            while work < 1.0 {
                t += tick;
                let rate = if t < slow_time { slow_rate } else { 1.0 };
                work += tick * rate * chunk(rng);
                events.push((t, work.min(1.0)));
            }
        }
        Scenario::FewSteps => {
            let steps = rng.random_range(4..=8);
            for k in 1..=steps {
                t += 1.0 + 0.25 * (2.0 * rng.random::<f64>() - 1.0);
                events.push((t, k as f64 / steps as f64));
            }
        }
    }
    let end = events.last().map_or(1.0, |e| e.0);
    let mut updates: Vec<(f64, f64)> = Vec::with_capacity(events.len());
    for (et, ew) in events {
        let ts = et / end * total;
        if updates
            .last()
            .is_none_or(|l: &(f64, f64)| ts > l.0 && ew > l.1)
        {
            updates.push((ts, ew.min(1.0)));
        }
    }
    if let Some(last) = updates.last_mut() {
        last.1 = 1.0;
    }
    Trace { total, updates }
}

/// An estimator under evaluation: fed the updates in order, asked at times in between.
trait Estimate {
    fn observe(&mut self, t: f64, f: f64);
    fn remaining(&self, t: f64) -> Option<f64>;
}

struct Ours(TimeEstimator);

impl Estimate for Ours {
    fn observe(&mut self, t: f64, f: f64) {
        self.0.observe(Duration::from_secs_f64(t), f);
    }
    fn remaining(&self, t: f64) -> Option<f64> {
        self.0
            .estimate(Duration::from_secs_f64(t))
            .map(|e| e.remaining_secs)
    }
}

/// Linear projection: `elapsed × (1 − f) / f`.
#[derive(Default)]
struct Linear {
    f: f64,
}

impl Estimate for Linear {
    fn observe(&mut self, _t: f64, f: f64) {
        self.f = f;
    }
    fn remaining(&self, t: f64) -> Option<f64> {
        (self.f > 0.0).then(|| t * (1.0 - self.f) / self.f)
    }
}

/// indicatif 0.18's estimator (`src/state.rs`), rewritten from its description: a doubly
/// smoothed exponentially weighted steps-per-second, weight `0.1^(age / 15 s)`, normalised by
/// the weight missing before the first sample, with the time since the last update read as a
/// zero-step pseudo-update. Positions are `fraction × 10 000` steps; the ETA is remaining steps
/// over the rate (no estimate when the rate is not positive).
struct Indicatif {
    single: f64,
    double: f64,
    prev_steps: u64,
    prev_t: f64,
}

const STEPS: f64 = 10_000.0;

fn ewa_weight(age: f64) -> f64 {
    0.1_f64.powf(age / 15.0)
}

impl Default for Indicatif {
    fn default() -> Self {
        Indicatif {
            single: 0.0,
            double: 0.0,
            prev_steps: 0,
            prev_t: 0.0,
        }
    }
}

impl Estimate for Indicatif {
    fn observe(&mut self, t: f64, f: f64) {
        let steps = (f * STEPS).round() as u64;
        if steps <= self.prev_steps || t <= self.prev_t {
            return;
        }
        let dt = t - self.prev_t;
        let rate = (steps - self.prev_steps) as f64 / dt;
        let w = ewa_weight(dt);
        self.single = self.single * w + rate * (1.0 - w);
        let norm = 1.0 - ewa_weight(t);
        self.double = self.double * w + self.single / norm * (1.0 - w);
        self.prev_steps = steps;
        self.prev_t = t;
    }
    fn remaining(&self, t: f64) -> Option<f64> {
        let w = ewa_weight(t - self.prev_t);
        let norm = 1.0 - ewa_weight(t);
        if norm <= 0.0 {
            return None;
        }
        let single = self.single * w / norm;
        let rate = (self.double * w + single * (1.0 - w)) / norm;
        (rate > 0.0 && rate.is_finite()).then(|| (STEPS - self.prev_steps as f64) / rate)
    }
}

/// The Python engine: recency-weighted mean of past runs (run `i` of `n` weighs `i + 1`) minus
/// elapsed, floored at 0; without history (fewer than 2 runs) the Python renderer's linear ETA.
struct Python {
    average: Option<f64>,
    linear: Linear,
}

impl Estimate for Python {
    fn observe(&mut self, t: f64, f: f64) {
        self.linear.observe(t, f);
    }
    fn remaining(&self, t: f64) -> Option<f64> {
        match self.average {
            Some(avg) => Some((avg - t).max(0.0)),
            None => self.linear.remaining(t),
        }
    }
}

fn python_average(history: &[f64]) -> Option<f64> {
    (history.len() >= 2).then(|| {
        let (n, d) = history
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(n, d), (i, x)| {
                (n + (i + 1) as f64 * x, d + (i + 1) as f64)
            });
        n / d
    })
}

const NAMES: [&str; 4] = [
    "ktrdr TimeEstimator",
    "linear projection",
    "indicatif double EWMA",
    "Python avg − elapsed",
];

fn estimators(history: &[f64]) -> Vec<Box<dyn Estimate>> {
    let prior = Prior::from_durations(history.iter().copied());
    vec![
        Box::new(Ours(TimeEstimator::new(prior))),
        Box::new(Linear::default()),
        Box::new(Indicatif::default()),
        Box::new(Python {
            average: python_average(history),
            linear: Linear::default(),
        }),
    ]
}

#[derive(Default, Clone)]
struct Scores {
    /// APE per checkpoint, per estimator.
    ape: Vec<[Vec<f64>; 5]>,
    answered: Vec<(usize, usize)>,
    rises_steady: Vec<(usize, usize)>,
    rises_steps: Vec<(usize, usize)>,
}

impl Scores {
    fn new(n: usize) -> Self {
        Scores {
            ape: vec![Default::default(); n],
            answered: vec![(0, 0); n],
            rises_steady: vec![(0, 0); n],
            rises_steps: vec![(0, 0); n],
        }
    }
}

fn evaluate(
    trace: &Trace,
    scenario: Scenario,
    history: &[f64],
    scores: &mut Scores,
    by_case: &mut [Vec<f64>],
) {
    let mut ests = estimators(history);
    let total = trace.total;
    // Read times: the checkpoints plus every 1 % from 10 % to 95 %.
    let mut reads: Vec<(f64, Option<usize>)> = CHECKPOINTS
        .iter()
        .enumerate()
        .map(|(i, q)| (q * total, Some(i)))
        .collect();
    reads.extend((10..=95).map(|p| (p as f64 / 100.0 * total, None)));
    reads.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut next = 0;
    let mut prev: Vec<Option<f64>> = vec![None; ests.len()];
    for (t, checkpoint) in reads {
        while next < trace.updates.len() && trace.updates[next].0 <= t {
            let (ut, uf) = trace.updates[next];
            for e in ests.iter_mut() {
                e.observe(ut, uf);
            }
            next += 1;
        }
        let truth = total - t;
        for (i, e) in ests.iter().enumerate() {
            let r = e.remaining(t);
            if let Some(q) = checkpoint {
                let ape = r.map_or(100.0, |r| (r - truth).abs() / truth * 100.0);
                scores.ape[i][q].push(ape);
                by_case[i].push(ape);
                scores.answered[i].1 += 1;
                if r.is_some() {
                    scores.answered[i].0 += 1;
                }
            } else {
                let counter = match scenario {
                    Scenario::Steady => Some(&mut scores.rises_steady[i]),
                    Scenario::FewSteps => Some(&mut scores.rises_steps[i]),
                    _ => None,
                };
                if let (Some(c), Some(p), Some(now)) = (counter, prev[i], r) {
                    c.1 += 1;
                    if now > p + 0.001 * total {
                        c.0 += 1;
                    }
                }
                prev[i] = r;
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn pct(c: (usize, usize)) -> f64 {
    if c.1 == 0 {
        0.0
    } else {
        c.0 as f64 / c.1 as f64 * 100.0
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let per_case: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2026);
    let mut rng = StdRng::seed_from_u64(seed);
    let n = NAMES.len();
    let mut scores = Scores::new(n);
    // Per (scenario, history) case: all APEs per estimator.
    let mut cases: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for with_history in [false, true] {
        for scenario in SCENARIOS {
            let mut by_case = vec![Vec::new(); n];
            for _ in 0..per_case {
                let typical = (20f64.ln() + rng.random::<f64>() * (600f64 / 20.0).ln()).exp();
                let history: Vec<f64> = if with_history {
                    (0..HISTORY_RUNS)
                        .map(|_| typical * (RUN_SPREAD * normal(&mut rng)).exp())
                        .collect()
                } else {
                    Vec::new()
                };
                let total = typical * (RUN_SPREAD * normal(&mut rng)).exp();
                let tr = trace(&mut rng, scenario, total);
                evaluate(&tr, scenario, &history, &mut scores, &mut by_case);
            }
            let label = format!(
                "{}{}",
                scenario.name(),
                if with_history { " +hist" } else { "" }
            );
            cases.push((label, by_case));
        }
    }

    println!(
        "eta_eval: {} traces ({} per scenario, with and without history), seed {seed}\n",
        per_case * 10,
        per_case
    );
    println!("Median APE of remaining time (%), at share of true duration; rises = share of reads where the ETA went up");
    println!(
        "| estimator | 10 % | 25 % | 50 % | 75 % | 90 % | **all** | answered | rises (steady) | rises (few steps) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut overall = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let mut cells = Vec::new();
        let mut all = Vec::new();
        for q in 0..CHECKPOINTS.len() {
            let mut v = scores.ape[i][q].clone();
            all.extend_from_slice(&v);
            cells.push(format!("{:.1}", median(&mut v)));
        }
        let m = median(&mut all);
        overall.push(m);
        println!(
            "| {} | {} | **{:.1}** | {:.1} % | {:.1} % | {:.1} % |",
            name,
            cells.join(" | "),
            m,
            pct(scores.answered[i]),
            pct(scores.rises_steady[i]),
            pct(scores.rises_steps[i])
        );
    }
    println!("\nMedian APE (%) over the five checkpoints, per case");
    println!("| case | {} |", NAMES.join(" | "));
    println!("|---|{}", "---:|".repeat(n));
    for (label, by_case) in &mut cases {
        let cells: Vec<String> = by_case
            .iter_mut()
            .map(|v| format!("{:.1}", median(v)))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    let ours = overall[0];
    let beaten = overall[1..].iter().all(|&b| ours < b);
    println!(
        "\nours {ours:.1} % vs best baseline {:.1} %: {}",
        overall[1..].iter().cloned().fold(f64::INFINITY, f64::min),
        if beaten {
            "ours is best"
        } else {
            "A BASELINE WINS"
        }
    );
    if !beaten {
        std::process::exit(1);
    }
}
