//! The simulated broker: determinism, calendars, IB-like limits, faults, pacing, cancellation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use ktrdr_data::calendar::{Calendar, SessionHours};
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::pacing::{PacingGate, RequestKey};
use ktrdr_data::provider::sim::{FaultConfig, SimConfig, SimProvider, UnknownSymbols, SIM_NAME};
use ktrdr_data::provider::{DataProvider, ProviderError, ProviderInfo, SpanLimits, SymbolInfo};
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::{parse_timestamp, BarSeries, Symbol, Timeframe};
use ktrdr_data::validate::{validate, ValidateOptions};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use tokio::time::Instant;

const DAY: i64 = 86_400;

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn sym(s: &str) -> Symbol {
    s.parse().unwrap()
}

fn range(from: &str, to: &str) -> TimeRange {
    TimeRange::new(ts(from), ts(to)).unwrap()
}

/// The simulated "now" of these tests: 2025-06-01.
fn config() -> SimConfig {
    SimConfig {
        now: Some(ts("2025-06-01")),
        ..SimConfig::default()
    }
}

/// The simulator behind a pacing gate with its announced rules, as a well-behaved client
/// sends to it (the broker-side checker must then see no violation).
struct Paced {
    sim: SimProvider,
    gate: PacingGate,
}

impl Paced {
    fn inner(&self) -> &SimProvider {
        &self.sim
    }
}

#[async_trait]
impl DataProvider for Paced {
    fn describe(&self) -> ProviderInfo {
        self.sim.describe()
    }

    async fn validate_symbol(
        &self,
        symbol: &Symbol,
        token: &CancellationToken,
    ) -> Result<SymbolInfo, ProviderError> {
        self.sim.validate_symbol(symbol, token).await
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        self.sim.head_timestamp(symbol, timeframe, token).await
    }

    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        let key = RequestKey::new(symbol.clone(), timeframe, range);
        let call = self.sim.fetch_bars(symbol, timeframe, range, token);
        self.gate.send(&key, token, call).await
    }
}

fn paced(config: SimConfig) -> Paced {
    let sim = SimProvider::new(config).unwrap();
    let gate = PacingGate::new(sim.describe().pacing).unwrap();
    Paced { sim, gate }
}

async fn fetch(
    p: &impl DataProvider,
    symbol: &str,
    tf: Timeframe,
    r: TimeRange,
) -> Result<BarSeries, ProviderError> {
    p.fetch_bars(&sym(symbol), tf, r, &CancellationToken::new())
        .await
}

fn dates(bars: &BarSeries) -> BTreeSet<NaiveDate> {
    bars.ts()
        .iter()
        .map(|&t| chrono::DateTime::from_timestamp(t, 0).unwrap().date_naive())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_same_bars_whatever_the_split() {
    let p = paced(config());
    let cases = [
        ("AAPL", Timeframe::H1, range("2024-02-01", "2024-03-02")),
        ("EURUSD", Timeframe::M5, range("2024-03-07", "2024-03-14")),
        ("MSFT", Timeframe::D1, range("2023-01-01", "2024-01-01")),
        ("MSFT", Timeframe::W1, range("2022-01-01", "2024-01-01")),
        (
            "BTCUSD",
            Timeframe::M1,
            range("2024-05-05T12:00:00Z", "2024-05-06T12:00:00Z"),
        ),
    ];
    for (symbol, tf, whole) in cases {
        let all = fetch(&p, symbol, tf, whole).await.unwrap();
        assert!(all.len() > 5, "{symbol} {tf}: {} bars", all.len());
        // Cut at odd places, including inside bars and sessions.
        let cuts = [0.13, 0.31, 0.5, 0.77, 0.9]
            .map(|f| whole.start() + (whole.span() as f64 * f) as i64 + 17);
        let mut pieces = BarSeries::new();
        let mut start = whole.start();
        for end in cuts.into_iter().chain([whole.end()]) {
            let piece = fetch(&p, symbol, tf, TimeRange::new(start, end).unwrap())
                .await
                .unwrap();
            pieces = pieces.merge(&piece);
            start = end + 1;
        }
        assert_eq!(pieces, all, "{symbol} {tf}");
        // Another broker instance serves the same history.
        let again = fetch(&paced(config()), symbol, tf, whole).await.unwrap();
        assert_eq!(again, all, "{symbol} {tf} from a second instance");
    }
    // A different market seed is a different history.
    let other = paced(SimConfig {
        market_seed: 1,
        ..config()
    });
    let a = fetch(&p, "AAPL", Timeframe::D1, range("2024-01-01", "2024-02-01"))
        .await
        .unwrap();
    let b = fetch(
        &other,
        "AAPL",
        Timeframe::D1,
        range("2024-01-01", "2024-02-01"),
    )
    .await
    .unwrap();
    assert_eq!(a.ts(), b.ts());
    assert_ne!(a.close(), b.close());
    assert_eq!(p.inner().violations(), 0);
}

#[tokio::test(start_paused = true)]
async fn equities_skip_weekends_and_holidays_and_close_early() {
    let p = paced(config());
    // Week of 2024-07-01: early close on Wednesday 3rd (13:00 New York), Independence Day on
    // Thursday 4th, then the weekend.
    let bars = fetch(
        &p,
        "AAPL",
        Timeframe::H1,
        range("2024-07-01", "2024-07-07T23:59:59Z"),
    )
    .await
    .unwrap();
    let per_day = |d: &str| {
        let day = ts(d);
        bars.ts()
            .iter()
            .filter(|&&t| t >= day && t < day + DAY)
            .count()
    };
    // Regular session 13:30–20:00 UTC: 13:30, 14:00 … 19:00 = 7 bars; the early close at 17:00
    // UTC leaves 13:30, 14:00, 15:00, 16:00.
    assert_eq!(per_day("2024-07-01"), 7);
    assert_eq!(per_day("2024-07-02"), 7);
    assert_eq!(per_day("2024-07-03"), 4);
    assert_eq!(per_day("2024-07-04"), 0, "Independence Day");
    assert_eq!(per_day("2024-07-05"), 7);
    assert_eq!(per_day("2024-07-06") + per_day("2024-07-07"), 0, "weekend");
    assert_eq!(
        bars.ts()[0],
        ts("2024-07-01T13:30:00Z"),
        "the first bar starts at the open"
    );
    assert_eq!(
        bars.ts()[1],
        ts("2024-07-01T14:00:00Z"),
        "then the hour grid"
    );
    // Every bar starts inside a regular session of the symbol's calendar.
    for &t in bars.ts() {
        assert!(
            Calendar::Xnys.is_open(t, SessionHours::Regular).unwrap(),
            "bar at {t}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn daily_bars_are_one_per_session() {
    let p = paced(config());
    let bars = fetch(&p, "MSFT", Timeframe::D1, range("2023-01-01", "2023-12-31"))
        .await
        .unwrap();
    let sessions: BTreeSet<NaiveDate> = Calendar::Xnys
        .sessions(
            "2023-01-01".parse().unwrap(),
            "2023-12-31".parse().unwrap(),
            SessionHours::Regular,
        )
        .unwrap()
        .map(|s| s.date)
        .collect();
    assert_eq!(sessions.len(), 250);
    assert_eq!(dates(&bars), sessions);
    assert!(
        bars.ts().iter().all(|t| t % DAY == 0),
        "stamped at midnight UTC"
    );
    // Weekly bars aggregate the week's daily bars.
    let weeks = fetch(&p, "MSFT", Timeframe::W1, range("2023-01-02", "2023-01-09"))
        .await
        .unwrap();
    let days = fetch(&p, "MSFT", Timeframe::D1, range("2023-01-02", "2023-01-08"))
        .await
        .unwrap();
    let first_week = weeks.bar(0).unwrap();
    assert_eq!(first_week.ts, ts("2023-01-02"), "a Monday");
    assert_eq!(first_week.open, days.open()[0]);
    assert_eq!(first_week.close, *days.close().last().unwrap());
    assert_eq!(
        first_week.high,
        days.high().iter().cloned().fold(f64::MIN, f64::max)
    );
    assert_eq!(first_week.volume, days.volume().iter().sum::<f64>());
}

#[tokio::test(start_paused = true)]
async fn extended_hours_run_from_4_to_20_new_york() {
    let p = paced(SimConfig {
        session_hours: SessionHours::Extended,
        ..config()
    });
    assert_eq!(p.describe().session_hours, SessionHours::Extended);
    let bars = fetch(
        &p,
        "AAPL",
        Timeframe::H1,
        range("2024-07-01", "2024-07-01T23:59:59Z"),
    )
    .await
    .unwrap();
    // 04:00–20:00 New York (EDT) = 08:00–24:00 UTC: 16 bars.
    assert_eq!(bars.len(), 16);
    assert_eq!(bars.first_ts(), Some(ts("2024-07-01T08:00:00Z")));
    assert_eq!(bars.last_ts(), Some(ts("2024-07-01T23:00:00Z")));
    // Pre-market bars trade thinly next to the regular session.
    let volume_at = |t: &str| bars.volume()[bars.position_at_or_after(ts(t))];
    assert!(volume_at("2024-07-01T09:00:00Z") * 5.0 < volume_at("2024-07-01T14:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn fx_trades_24x5_from_sunday_evening() {
    let p = paced(config());
    // Friday 2024-03-08 to Tuesday 12th; US daylight saving starts on Sunday 10th.
    let bars = fetch(
        &p,
        "EURUSD",
        Timeframe::H1,
        range("2024-03-08", "2024-03-12T23:59:59Z"),
    )
    .await
    .unwrap();
    let friday_close = ts("2024-03-08T22:00:00Z"); // 17:00 EST
    let sunday_open = ts("2024-03-10T21:00:00Z"); // 17:00 EDT
    assert!(bars
        .ts()
        .iter()
        .all(|&t| t < friday_close || t >= sunday_open));
    assert_eq!(
        bars.ts()[bars.position_at_or_after(friday_close) - 1],
        ts("2024-03-08T21:00:00Z")
    );
    assert_eq!(
        bars.ts()[bars.position_at_or_after(friday_close)],
        sunday_open
    );
    // 24 bars a day through the week; no volume on FX quotes, as at IB.
    let monday = bars.index_range(Some(ts("2024-03-11")), Some(ts("2024-03-12") - 1));
    assert_eq!(monday.len(), 24);
    assert!(bars.volume().iter().all(|&v| v == 0.0));
    let price = bars.close()[0];
    assert!((0.5..2.0).contains(&price), "EURUSD at {price}");
}

#[tokio::test(start_paused = true)]
async fn a_request_longer_than_the_span_is_invalid() {
    let p = paced(config());
    let ok = fetch(
        &p,
        "AAPL",
        Timeframe::H1,
        TimeRange::new(ts("2024-01-01"), ts("2024-01-31")).unwrap(),
    )
    .await;
    assert!(ok.is_ok(), "30 days of 1h is one request");
    let err = fetch(
        &p,
        "AAPL",
        Timeframe::H1,
        TimeRange::new(ts("2024-01-01"), ts("2024-02-01")).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.is_invalid_request() && !err.is_retryable(), "{err}");
    assert!(err.to_string().contains("at most 30 days"), "{err}");
    let err = fetch(
        &p,
        "AAPL",
        Timeframe::M1,
        TimeRange::new(0, DAY + 60).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("at most 1 day"), "{err}");
    let limits = p.describe().spans;
    assert_eq!(limits.max_span(Timeframe::W1), Some(730 * DAY));
}

#[tokio::test(start_paused = true)]
async fn unknown_symbols_are_not_found() {
    let p = paced(SimConfig {
        unknown: UnknownSymbols {
            symbols: [sym("DELISTED")].into(),
            ..UnknownSymbols::default()
        },
        ..config()
    });
    let token = CancellationToken::new();
    for s in ["ZZTOP", "zzz", "DELISTED"] {
        let s = sym(s);
        assert!(p
            .validate_symbol(&s, &token)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(p
            .head_timestamp(&s, Timeframe::H1, &token)
            .await
            .unwrap_err()
            .is_not_found());
        let e = p
            .fetch_bars(&s, Timeframe::H1, range("2024-01-01", "2024-01-02"), &token)
            .await
            .unwrap_err();
        assert!(e.is_not_found() && !e.is_retryable(), "{e}");
    }
    assert!(p.validate_symbol(&sym("AAPL"), &token).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn data_starts_at_the_head_timestamp() {
    let p = paced(config());
    let token = CancellationToken::new();
    for (symbol, tf) in [
        ("AAPL", Timeframe::H1),
        ("EURUSD", Timeframe::M15),
        ("IBM", Timeframe::D1),
    ] {
        let head = p
            .head_timestamp(&sym(symbol), tf, &token)
            .await
            .unwrap()
            .unwrap();
        assert!(
            head >= ts("2000-01-01") && head < ts("2021-01-01"),
            "{symbol}: {head}"
        );
        let max = p.describe().spans.max_span(tf).unwrap();
        let around = TimeRange::new(head - max / 2, head + max / 2).unwrap();
        let bars = fetch(&p, symbol, tf, around).await.unwrap();
        assert_eq!(bars.first_ts(), Some(head), "{symbol} {tf}");
        let before = TimeRange::new(head - max, head - 1).unwrap();
        assert!(
            fetch(&p, symbol, tf, before).await.unwrap().is_empty(),
            "{symbol} before its head"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn no_bar_ends_after_now() {
    let p = paced(SimConfig {
        now: Some(ts("2024-07-02T15:10:00Z")),
        ..config()
    });
    let hourly = fetch(&p, "AAPL", Timeframe::H1, range("2024-07-01", "2024-07-03"))
        .await
        .unwrap();
    assert_eq!(
        hourly.last_ts(),
        Some(ts("2024-07-02T14:00:00Z")),
        "14:00–15:00 is the last finished bar"
    );
    let daily = fetch(&p, "AAPL", Timeframe::D1, range("2024-07-01", "2024-07-03"))
        .await
        .unwrap();
    assert_eq!(
        daily.ts(),
        &[ts("2024-07-01")],
        "the 2nd's session is still open"
    );
    let weekly = fetch(&p, "AAPL", Timeframe::W1, range("2024-06-01", "2024-07-03"))
        .await
        .unwrap();
    assert_eq!(
        weekly.last_ts(),
        Some(ts("2024-06-24")),
        "this week is not over"
    );
}

#[tokio::test(start_paused = true)]
async fn bars_look_like_a_market() {
    let p = paced(config());
    let mut daily = BarSeries::new();
    for year in 2019..2024 {
        let r = range(&format!("{year}-01-01"), &format!("{year}-12-31"));
        daily = daily.merge(&fetch(&p, "AAPL", Timeframe::D1, r).await.unwrap());
    }
    assert!(daily.len() > 1200);
    for b in daily.iter() {
        assert!(
            b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close),
            "{b:?}"
        );
        assert!(b.low > 0.0 && b.volume > 0.0, "{b:?}");
        assert!((1.0..5000.0).contains(&b.close), "{b:?}");
    }
    let returns: Vec<f64> = daily
        .close()
        .windows(2)
        .map(|w| (w[1] / w[0]).ln())
        .collect();
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / returns.len() as f64;
    let annual = (var * 252.0).sqrt();
    assert!(
        (0.1..0.7).contains(&annual),
        "annualised volatility {annual}"
    );
    // Intraday volume is U-shaped: the opening and closing half hours trade more than midday.
    let bars = fetch(
        &p,
        "AAPL",
        Timeframe::M30,
        range("2024-04-01", "2024-04-29"),
    )
    .await
    .unwrap();
    let mean_at = |hh_mm: &str| {
        let v: Vec<f64> = bars
            .iter()
            .filter(|b| {
                chrono::DateTime::from_timestamp(b.ts, 0)
                    .unwrap()
                    .format("%H:%M")
                    .to_string()
                    == hh_mm
            })
            .map(|b| b.volume)
            .collect();
        assert!(v.len() > 15, "{hh_mm}: {} bars", v.len());
        v.iter().sum::<f64>() / v.len() as f64
    };
    // EDT: the open is 13:30 UTC, midday 16:30, the last half hour 19:30.
    assert!(mean_at("13:30") > 2.0 * mean_at("16:30"));
    assert!(mean_at("19:30") > 2.0 * mean_at("16:30"));
}

#[tokio::test(start_paused = true)]
async fn faults_are_injected_deterministically() {
    let faults = FaultConfig {
        seed: 7,
        error_rate: 0.25,
        ..FaultConfig::none()
    };
    let run = || async {
        let p = paced(SimConfig {
            faults: faults.clone(),
            ..config()
        });
        let mut failed = Vec::new();
        for i in 0..100 {
            let start = ts("2024-01-01") + i * DAY;
            match fetch(
                &p,
                "AAPL",
                Timeframe::H1,
                TimeRange::new(start, start + DAY).unwrap(),
            )
            .await
            {
                Ok(_) => {}
                Err(e) => {
                    assert!(e.is_transient() && e.is_retryable(), "{e}");
                    failed.push(i);
                }
            }
        }
        (failed, p.inner().stats())
    };
    let (failed, stats) = run().await;
    assert!(
        (10..=45).contains(&failed.len()),
        "{} of 100 failed",
        failed.len()
    );
    assert_eq!(stats.faults_injected, failed.len() as u64);
    assert_eq!(stats.violations, 0);
    let (again, _) = run().await;
    assert_eq!(failed, again, "the same requests fail on every run");

    // A retry is a new draw: most failed requests succeed the second time.
    let p = paced(SimConfig { faults, ..config() });
    let mut recovered = 0;
    for &i in &failed {
        let start = ts("2024-01-01") + i * DAY;
        let r = TimeRange::new(start, start + DAY).unwrap();
        assert!(
            fetch(&p, "AAPL", Timeframe::H1, r).await.is_err(),
            "first attempt of {i} fails again"
        );
        recovered += usize::from(fetch(&p, "AAPL", Timeframe::H1, r).await.is_ok());
    }
    assert!(
        recovered * 2 > failed.len(),
        "{recovered} of {} recovered",
        failed.len()
    );
    assert_eq!(
        p.inner().violations(),
        0,
        "retries of identical requests were paced"
    );
}

#[tokio::test(start_paused = true)]
async fn each_kind_of_fault_behaves_as_described() {
    let with = |faults: FaultConfig| {
        paced(SimConfig {
            latency: Duration::from_millis(100),
            latency_jitter: Duration::ZERO,
            faults,
            ..config()
        })
    };
    let week = range("2024-03-04", "2024-03-08T23:59:59Z");

    let p = with(FaultConfig {
        timeout_rate: 1.0,
        hang: Duration::from_secs(30),
        ..FaultConfig::none()
    });
    let t0 = Instant::now();
    let e = fetch(&p, "AAPL", Timeframe::H1, week).await.unwrap_err();
    assert!(e.is_transient() && e.to_string().contains("hang"), "{e}");
    assert_eq!(t0.elapsed(), Duration::from_secs(30));

    let p = with(FaultConfig {
        pacing_rate: 1.0,
        pacing_retry_after: Duration::from_secs(3),
        ..FaultConfig::none()
    });
    let e = fetch(&p, "AAPL", Timeframe::H1, week).await.unwrap_err();
    assert!(
        e.is_pacing() && e.to_string().contains("pacing violation"),
        "{e}"
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(
        p.inner().violations(),
        0,
        "an injected violation is not the client's"
    );
    assert_eq!(p.inner().stats().faults_injected, 1);

    let p = with(FaultConfig {
        empty_rate: 1.0,
        ..FaultConfig::none()
    });
    assert!(fetch(&p, "AAPL", Timeframe::H1, week)
        .await
        .unwrap()
        .is_empty());

    let p = with(FaultConfig {
        slow_rate: 1.0,
        slow_extra: Duration::from_secs(5),
        ..FaultConfig::none()
    });
    let t0 = Instant::now();
    assert_eq!(
        fetch(&p, "AAPL", Timeframe::H1, week).await.unwrap().len(),
        35
    );
    assert_eq!(t0.elapsed(), Duration::from_millis(5100));

    let bad = SimProvider::new(SimConfig {
        faults: FaultConfig {
            error_rate: 0.7,
            empty_rate: 0.7,
            ..FaultConfig::none()
        },
        ..config()
    });
    let e = bad.err().unwrap();
    assert!(e.to_string().contains("sum to 1.4"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn the_broker_catches_a_client_that_ignores_pacing() {
    let sim = Arc::new(
        SimProvider::new(SimConfig {
            pacing: PacingRules::ib_conservative(),
            latency: Duration::from_millis(500),
            latency_jitter: Duration::ZERO,
            ..config()
        })
        .unwrap(),
    );
    // Ten requests for one contract at once: IB allows six in two seconds.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let sim = sim.clone();
        tasks.push(tokio::spawn(async move {
            let start = ts("2024-01-01") + i * DAY;
            fetch(
                &*sim,
                "AAPL",
                Timeframe::H1,
                TimeRange::new(start, start + DAY).unwrap(),
            )
            .await
        }));
    }
    let mut rejected = 0;
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            assert!(e.is_pacing() && e.to_string().contains("AAPL"), "{e}");
            assert!(e.retry_after().unwrap() <= Duration::from_secs(2));
            rejected += 1;
        }
    }
    assert_eq!(rejected, 4);
    assert_eq!(sim.violations(), 4);
    // The same request again within 15 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = TimeRange::new(ts("2024-01-01"), ts("2024-01-02")).unwrap();
    let e = fetch(&*sim, "AAPL", Timeframe::H1, r).await.unwrap_err();
    assert!(e.to_string().contains("identical"), "{e}");
    assert_eq!(sim.violations(), 5);
}

#[tokio::test(start_paused = true)]
async fn the_gate_prevents_every_violation() {
    // IB's rules and latency, four concurrent loads on one connection (two of them the same
    // series, so identical requests collide), transient faults retried at once.
    let config = SimConfig {
        faults: FaultConfig {
            seed: 3,
            error_rate: 0.2,
            ..FaultConfig::none()
        },
        ..SimConfig::realistic()
    };
    let p = Arc::new(paced(SimConfig {
        now: Some(ts("2025-06-01")),
        ..config
    }));
    let mut loads = Vec::new();
    for symbol in ["AAPL", "MSFT", "EURUSD", "AAPL"] {
        let p = p.clone();
        loads.push(tokio::spawn(async move {
            let mut bars = 0;
            for i in 0..40 {
                let start = ts("2022-01-01") + i * 30 * DAY;
                let r = TimeRange::new(start, start + 30 * DAY).unwrap();
                loop {
                    match fetch(&*p, symbol, Timeframe::H1, r).await {
                        Ok(b) => break bars += b.len(),
                        Err(e) if e.is_retryable() => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            bars
        }));
    }
    for l in loads {
        assert!(l.await.unwrap() > 5000);
    }
    let stats = p.inner().stats();
    assert!(stats.faults_injected > 10, "{stats:?}");
    assert_eq!(stats.violations, 0, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn cancel_during_a_slow_answer_returns_at_once() {
    let p = paced(SimConfig {
        faults: FaultConfig {
            slow_rate: 1.0,
            slow_extra: Duration::from_secs(60),
            ..FaultConfig::none()
        },
        ..config()
    });
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel(CancelReason::User);
    });
    let t0 = Instant::now();
    let e = p
        .fetch_bars(
            &sym("AAPL"),
            Timeframe::H1,
            range("2024-03-04", "2024-03-08"),
            &token,
        )
        .await
        .unwrap_err();
    assert!(e.is_cancelled() && !e.is_retryable(), "{e}");
    assert_eq!(e.cancel_reason(), Some(&CancelReason::User));
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
}

/// The same on the real clock, from another thread: a generous bound on wall time.
#[test]
fn cancel_from_another_thread_interrupts_a_real_latency_wait() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let p = paced(SimConfig {
        latency: Duration::from_secs(20),
        ..config()
    });
    let token = CancellationToken::new();
    let canceller = token.clone();
    let t0 = std::time::Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel(CancelReason::User);
    });
    let e = rt
        .block_on(p.fetch_bars(
            &sym("AAPL"),
            Timeframe::H1,
            range("2024-03-04", "2024-03-08"),
            &token,
        ))
        .unwrap_err();
    assert!(e.is_cancelled());
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn symbol_info_speaks_the_host_service_contract() {
    let p = paced(config());
    let token = CancellationToken::new();
    assert_eq!(p.describe().name, SIM_NAME);
    assert!(p.describe().simulated);

    let aapl = p.validate_symbol(&sym("AAPL"), &token).await.unwrap();
    let json = serde_json::to_value(&aapl).unwrap();
    assert_eq!(json["asset_type"], "STK");
    assert_eq!(json["currency"], "USD");
    assert!(json["description"].as_str().unwrap().contains("simulated"));
    let hours = &json["trading_hours"];
    assert_eq!(hours["timezone"], "America/New_York");
    assert_eq!(hours["regular_hours"]["start"], "09:30");
    assert_eq!(hours["regular_hours"]["end"], "16:00");
    assert_eq!(hours["extended_hours"][0]["start"], "04:00");
    assert_eq!(hours["extended_hours"][1]["end"], "20:00");
    assert_eq!(hours["trading_days"], serde_json::json!([0, 1, 2, 3, 4]));
    let head_1h = p
        .head_timestamp(&sym("AAPL"), Timeframe::H1, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(aapl.head_timestamp_for(Timeframe::H1), Some(head_1h));
    assert!(json["head_timestamp_timeframes"]["1d"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00Z"));
    let back: ktrdr_data::provider::SymbolInfo = serde_json::from_value(json).unwrap();
    assert_eq!(back, aapl);

    let fx = p.validate_symbol(&sym("EURUSD"), &token).await.unwrap();
    let json = serde_json::to_value(&fx).unwrap();
    assert_eq!(json["asset_type"], "CASH");
    assert_eq!(json["exchange"], "IDEALPRO");
    assert_eq!(json["trading_hours"]["regular_hours"]["start"], "17:00");
    assert_eq!(
        json["trading_hours"]["trading_days"],
        serde_json::json!([0, 1, 2, 3, 4, 6])
    );
}

#[tokio::test(start_paused = true)]
async fn bars_follow_the_exchange_wall_clock_across_daylight_saving() {
    let p = paced(config());
    // 2h bars: 09:30 open, then 10:00, 12:00, 14:00 New York in winter (EST) and summer (EDT).
    let winter = fetch(
        &p,
        "AAPL",
        Timeframe::H2,
        range("2024-01-08", "2024-01-08T23:59:59Z"),
    )
    .await
    .unwrap();
    let expected: Vec<i64> = ["14:30", "15:00", "17:00", "19:00"]
        .iter()
        .map(|t| ts(&format!("2024-01-08T{t}:00Z")))
        .collect();
    assert_eq!(winter.ts(), expected);
    let summer = fetch(
        &p,
        "AAPL",
        Timeframe::H2,
        range("2024-07-08", "2024-07-08T23:59:59Z"),
    )
    .await
    .unwrap();
    let expected: Vec<i64> = ["13:30", "14:00", "16:00", "18:00"]
        .iter()
        .map(|t| ts(&format!("2024-07-08T{t}:00Z")))
        .collect();
    assert_eq!(summer.ts(), expected);
}

#[tokio::test(start_paused = true)]
async fn a_full_fetch_leaves_no_gap_for_the_gap_analysis() {
    use ktrdr_data::gaps::{analyze, GapKind, GapOptions};
    for hours in [SessionHours::Regular, SessionHours::Extended] {
        let p = paced(SimConfig {
            session_hours: hours,
            ..config()
        });
        // From Sunday to Sunday (UTC), so that no session straddles the ends of the range
        // (Friday's extended hours end at 01:00 UTC on Saturday in winter).
        for (symbol, calendar, tf, from, to) in [
            (
                "AAPL",
                Calendar::Xnys,
                Timeframe::H1,
                "2024-11-03",
                "2024-12-01",
            ),
            (
                "AAPL",
                Calendar::Xnys,
                Timeframe::H4,
                "2024-03-03",
                "2024-03-31",
            ),
            (
                "EURUSD",
                Calendar::Fx,
                Timeframe::M30,
                "2024-03-03",
                "2024-03-31",
            ),
            (
                "MSFT",
                Calendar::Xnys,
                Timeframe::D1,
                "2024-01-01",
                "2024-06-30",
            ),
        ] {
            let r = range(from, to);
            let bars = fetch(&p, symbol, tf, r).await.unwrap();
            let opts = GapOptions {
                hours,
                start: Some(r.start()),
                end: Some(r.end() + 1),
                head: None,
            };
            let report = analyze(&bars, calendar, tf, &opts).unwrap();
            let what = format!("{symbol} {tf} {hours}");
            assert_eq!(
                report.unplaced_bars, 0,
                "{what}: bars off the expected grid"
            );
            assert_eq!(
                report.present_bars,
                report.expected_bars,
                "{what} {:?}",
                report.of_kind(GapKind::Missing).collect::<Vec<_>>()
            );
            assert_eq!(report.of_kind(GapKind::Missing).count(), 0, "{what}");
        }
    }
}

/// The level does not drift while the market is closed: a Monday open is an ordinary move, not
/// two days of volatility in one bar, so validation finds no outlier in plain simulated data.
#[tokio::test]
async fn simulated_data_validates_without_outliers_at_monday_opens() {
    // One request per series: spans of 100 days for the two bar sizes.
    let p = paced(SimConfig {
        spans: SpanLimits::new([(Timeframe::M1, 100 * 86_400), (Timeframe::M5, 100 * 86_400)]),
        ..config()
    });
    for (symbol, tf) in [("MSFT", Timeframe::M1), ("AAPL", Timeframe::M5)] {
        let bars = fetch(&p, symbol, tf, range("2024-01-02", "2024-04-02"))
            .await
            .unwrap();
        assert!(bars.len() > 4_000, "{symbol} {tf}: {}", bars.len());
        let report = validate(
            &bars,
            Calendar::Xnys,
            tf,
            &ValidateOptions {
                now: Some(ts("2025-06-01")),
                ..ValidateOptions::default()
            },
        )
        .unwrap();
        assert!(!report.has_problems(), "{symbol} {tf}: {:?}", report.issues);
    }
}
