//! The `host` provider against the real host-service server (axum on 127.0.0.1:0) with the
//! simulated broker behind it, and the protocol's JSON shapes route by route.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::provider::host::{HostProvider, HostProviderConfig};
use ktrdr_data::provider::sim::{FaultConfig, SimConfig, SimProvider};
use ktrdr_data::provider::{DataProvider, ProviderError};
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::{Symbol, Timeframe};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};
use ktrdr_ops::retry::Backoff;
use ktrdr_server::host_service::HostService;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// 2025-01-01T00:00:00Z: the simulated "now", so every run sees the same history.
const NOW: i64 = 1_735_689_600;
/// Monday 2024-03-04 00:00 UTC to Friday 2024-03-08 23:59:59 UTC.
const WEEK: (i64, i64) = (1_709_510_400, 1_709_942_399);
/// Saturday 2024-03-09 00:00 UTC to Sunday 2024-03-10 12:00 UTC: no US equity session.
const WEEKEND: (i64, i64) = (1_709_942_400, 1_710_072_000);

fn sim_config() -> SimConfig {
    SimConfig {
        now: Some(NOW),
        latency: Duration::ZERO,
        latency_jitter: Duration::ZERO,
        ..SimConfig::default()
    }
}

fn sym(s: &str) -> Symbol {
    s.parse().unwrap()
}

fn range((start, end): (i64, i64)) -> TimeRange {
    TimeRange::new(start, end).unwrap()
}

struct Running {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap()
    }
}

async fn serve(service: HostService) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        service
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        url,
        stop: Some(stop),
        task,
    }
}

/// Serves a hand-written router (a fake host service).
async fn serve_router(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn client_config(url: &str) -> HostProviderConfig {
    HostProviderConfig {
        pacing: PacingRules::fast(),
        retry: Backoff {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            jitter: 0.0,
        },
        ..HostProviderConfig::new(url)
    }
}

fn client(url: &str) -> HostProvider {
    HostProvider::new(client_config(url)).unwrap()
}

async fn sim_service(config: SimConfig) -> (Arc<SimProvider>, Running) {
    let sim = Arc::new(SimProvider::new(config).unwrap());
    let running = serve(HostService::for_sim(sim.clone())).await;
    (sim, running)
}

fn kind(e: &ProviderError) -> &'static str {
    if e.is_not_found() {
        "not-found"
    } else if e.is_invalid_request() {
        "invalid"
    } else if e.is_pacing() {
        "pacing"
    } else if e.is_transient() {
        "transient"
    } else if e.is_cancelled() {
        "cancelled"
    } else {
        "fatal"
    }
}

#[tokio::test]
async fn bars_through_the_service_are_the_sims_bars() {
    let (_sim, running) = sim_service(sim_config()).await;
    // A second, identical simulated broker answers directly: the same bars, bit for bit.
    let direct = SimProvider::new(sim_config()).unwrap();
    let host = client(&running.url);
    let token = CancellationToken::new();
    for (symbol, tf, r) in [
        ("AAPL", Timeframe::H1, WEEK),
        ("MSFT", Timeframe::M5, (WEEK.0, WEEK.0 + 3 * 86_400 - 1)),
        ("EURUSD", Timeframe::M15, WEEK),
        ("SPY", Timeframe::D1, (WEEK.0 - 200 * 86_400, WEEK.1)),
        ("AAPL", Timeframe::W1, (WEEK.0 - 700 * 86_400, WEEK.1)),
    ] {
        let (s, r) = (sym(symbol), range(r));
        let via_host = host.fetch_bars(&s, tf, r, &token).await.unwrap();
        let want = direct.fetch_bars(&s, tf, r, &token).await.unwrap();
        assert!(!want.is_empty(), "{symbol} {tf}: the sim has bars there");
        assert_eq!(via_host, want, "{symbol} {tf} {r}");
    }

    let aapl = sym("AAPL");
    let info = host.validate_symbol(&aapl, &token).await.unwrap();
    let mut want = direct.validate_symbol(&aapl, &token).await.unwrap();
    want.validated_at = info.validated_at;
    want.head_timestamp_fetched_at = info.head_timestamp_fetched_at;
    assert_eq!(info, want);
    assert_eq!(
        host.head_timestamp(&aapl, Timeframe::H1, &token)
            .await
            .unwrap(),
        direct
            .head_timestamp(&aapl, Timeframe::H1, &token)
            .await
            .unwrap()
    );
    assert!(host.describe().name.contains(&running.url));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn empty_answers_are_empty_series_not_errors() {
    let (_sim, running) = sim_service(sim_config()).await;
    let host = client(&running.url);
    let token = CancellationToken::new();
    let bars = host
        .fetch_bars(&sym("AAPL"), Timeframe::H1, range(WEEKEND), &token)
        .await
        .unwrap();
    assert!(bars.is_empty());
    running.stop().await.unwrap();

    // The broker answering nothing for a range that has bars (an injected fault).
    let config = SimConfig {
        faults: FaultConfig {
            empty_rate: 1.0,
            ..FaultConfig::none()
        },
        ..sim_config()
    };
    let (sim, running) = sim_service(config).await;
    let bars = client(&running.url)
        .fetch_bars(&sym("AAPL"), Timeframe::H1, range(WEEK), &token)
        .await
        .unwrap();
    assert!(bars.is_empty());
    assert_eq!(sim.stats().faults_injected, 1);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_symbols_and_bad_requests_are_typed() {
    let (_sim, running) = sim_service(sim_config()).await;
    let host = client(&running.url);
    let token = CancellationToken::new();
    let zz = sym("ZZZZ");
    let e = host
        .fetch_bars(&zz, Timeframe::H1, range(WEEK), &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "not-found", "{e}");
    assert!(e.message().contains("ZZZZ"), "{e}");
    let e = host.validate_symbol(&zz, &token).await.unwrap_err();
    assert_eq!(kind(&e), "not-found", "{e}");
    let e = host
        .head_timestamp(&zz, Timeframe::H1, &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "not-found", "{e}");

    // Longer than one request may span: refused by the client before anything is sent …
    let too_long = range((WEEK.0 - 40 * 86_400, WEEK.1));
    let e = host
        .fetch_bars(&sym("AAPL"), Timeframe::H1, too_long, &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "invalid", "{e}");
    // … and by the server when a client sends it anyway.
    let raw: Value = reqwest::Client::new()
        .post(format!("{}/data/historical", running.url))
        .json(&serde_json::json!({"symbol": "AAPL", "timeframe": "1h",
            "start": "2024-01-01T00:00:00Z", "end": "2024-03-01T00:00:00Z", "instrument_type": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["success"], false);
    assert_eq!(raw["error_kind"], "invalid_request");
    assert!(raw["error"].as_str().unwrap().contains("spans"), "{raw}");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn pacing_violations_come_back_as_pacing_errors_with_a_delay() {
    // Injected: the broker says "pacing violation" whatever the client did.
    let config = SimConfig {
        faults: FaultConfig {
            pacing_rate: 1.0,
            pacing_retry_after: Duration::from_millis(7_500),
            ..FaultConfig::none()
        },
        ..sim_config()
    };
    let (_sim, running) = sim_service(config).await;
    let token = CancellationToken::new();
    let e = client(&running.url)
        .fetch_bars(&sym("AAPL"), Timeframe::H1, range(WEEK), &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "pacing", "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(7_500)));
    assert!(e.message().contains("pacing violation"), "{e}");
    running.stop().await.unwrap();

    // An unpaced client (or a second process) repeats a request within the broker's
    // identical-request cooldown: the service refuses it itself with the time left, so the
    // broker never sees the repeat, and the retry after that wait is served.
    let (sim, running) = sim_service(sim_config()).await;
    let host = client(&running.url);
    let r = range(WEEK);
    host.fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap();
    let e = host
        .fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "pacing", "{e}");
    assert!(e.message().contains("pacing violation"), "{e}");
    let wait = e.retry_after().unwrap();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(160),
        "{wait:?}"
    );
    assert_eq!(sim.violations(), 0, "the broker never saw the repeat");
    let health: Value = reqwest::get(format!("{}/health/detailed", running.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["connection_pool_status"]["sim_pacing_violations"], 0);
    assert_eq!(health["connection_pool_status"]["sim_requests"], 1);
    assert_eq!(health["total_requests"], 2);
    assert_eq!(health["error_count"], 1);
    assert!(health["last_error"]
        .as_str()
        .unwrap()
        .contains("pacing violation"));
    tokio::time::sleep(wait).await;
    host.fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap();
    assert_eq!(sim.violations(), 0);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_paced_client_causes_no_violation() {
    use ktrdr_data::pacing::{PacingGate, RequestKey};
    let (sim, running) = sim_service(sim_config()).await;
    let host = client(&running.url);
    let gate = PacingGate::new(host.describe().pacing).unwrap();
    let token = CancellationToken::new();
    let paced = |symbol: &'static str, r: TimeRange| {
        let (host, gate, token) = (&host, &gate, &token);
        async move {
            let key = RequestKey::new(sym(symbol), Timeframe::M5, r);
            gate.send(
                &key,
                token,
                host.fetch_bars(&sym(symbol), Timeframe::M5, r, token),
            )
            .await
        }
    };
    // The same request eight times and eight different ones for one contract: both the
    // identical-request and the per-contract rules are exercised.
    let day = 86_400;
    for i in 0..8 {
        let r = range((WEEK.0, WEEK.0 + day - 1));
        paced("AAPL", r).await.unwrap();
        let r = range((WEEK.0 + i * day, WEEK.0 + (i + 1) * day - 1));
        paced("MSFT", r).await.unwrap();
    }
    assert_eq!(sim.stats().requests, 16);
    assert_eq!(sim.violations(), 0);
    running.stop().await.unwrap();
}

/// A fake host service whose `/data/historical` fails `failures` times with `failure`, then
/// answers one bar; returns the URL and the call counter.
async fn flaky_service<F, Fut>(failures: u32, failure: F) -> (String, Arc<AtomicU32>)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (axum::http::StatusCode, String)> + Send,
{
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let handler = move || {
        let counter = counter.clone();
        let failure = failure.clone();
        async move {
            if counter.fetch_add(1, Ordering::SeqCst) < failures {
                return failure().await;
            }
            let data = r#"{"2024-03-04T14:30:00.000Z":{"open":1,"high":2,"low":0.5,"close":1.5,"volume":10}}"#;
            let body = serde_json::json!({"success": true, "data": data, "error": null, "rows": 1});
            (axum::http::StatusCode::OK, body.to_string())
        }
    };
    let router = Router::new().route("/data/historical", post(handler));
    (serve_router(router).await, calls)
}

#[tokio::test]
async fn service_errors_and_timeouts_are_retried_by_the_client() {
    let token = CancellationToken::new();
    let r = range(WEEK);

    // Two 503s (a host service restarting), then an answer.
    let (url, calls) = flaky_service(2, || async {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "restarting".to_owned(),
        )
    })
    .await;
    let host = client(&url);
    let bars = host
        .fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap();
    assert_eq!(bars.ts(), &[1_709_562_600]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let stats = host.client().stats();
    assert_eq!(stats[0].retries, 2, "{stats:?}");

    // A first answer slower than the per-attempt timeout, then a fast one.
    let (url, calls) = flaky_service(1, || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        (axum::http::StatusCode::OK, "{}".to_owned())
    })
    .await;
    let host = HostProvider::new(HostProviderConfig {
        historical_timeout: Duration::from_millis(300),
        ..client_config(&url)
    })
    .unwrap();
    let started = Instant::now();
    let bars = host
        .fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap();
    assert_eq!(bars.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Retries exhausted: a transient error naming the attempts.
    let (url, calls) = flaky_service(10, || async {
        (axum::http::StatusCode::BAD_GATEWAY, String::new())
    })
    .await;
    let e = client(&url)
        .fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "transient", "{e}");
    assert!(e.message().contains("after 3 attempts"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // A 4xx is not retried.
    let (url, calls) = flaky_service(10, || async {
        (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "bad".to_owned(),
        )
    })
    .await;
    let e = client(&url)
        .fetch_bars(&sym("AAPL"), Timeframe::H1, r, &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "invalid", "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cancel_drops_the_in_flight_request_at_once() {
    let config = SimConfig {
        latency: Duration::from_secs(20),
        ..sim_config()
    };
    let (_sim, running) = sim_service(config).await;
    let service_url = running.url.clone();
    let host = Arc::new(client(&running.url));
    let token = CancellationToken::new();
    let call = {
        let (host, token) = (host.clone(), token.clone());
        tokio::spawn(async move {
            let answer = host
                .fetch_bars(&sym("AAPL"), Timeframe::H1, range(WEEK), &token)
                .await;
            (answer, Instant::now())
        })
    };
    // Wait until the server is working on it.
    let detailed = || async {
        reqwest::get(format!("{service_url}/health/detailed"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while detailed().await["active_connections"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the request never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancelled_at = Instant::now();
    token.cancel(CancelReason::User);
    let (answer, returned_at) = call.await.unwrap();
    let latency = returned_at - cancelled_at;
    let e = answer.unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    assert_eq!(e.cancel_reason(), Some(&CancelReason::User));
    assert!(
        latency < Duration::from_millis(50),
        "cancel took {latency:?}"
    );

    // The connection was closed, so the server dropped its side of the request too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while detailed().await["active_connections"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the server kept the cancelled request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_cancels_requests_in_flight() {
    let config = SimConfig {
        latency: Duration::from_secs(30),
        ..sim_config()
    };
    let (_sim, running) = sim_service(config).await;
    let host = Arc::new(
        HostProvider::new(HostProviderConfig {
            retry: Backoff::none(),
            ..client_config(&running.url)
        })
        .unwrap(),
    );
    let call = {
        let host = host.clone();
        tokio::spawn(async move {
            host.fetch_bars(
                &sym("AAPL"),
                Timeframe::H1,
                range(WEEK),
                &CancellationToken::new(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    running.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let e = call.await.unwrap().unwrap_err();
    // Cut short by the service, not by us: worth retrying later.
    assert_eq!(kind(&e), "transient", "{e}");
    assert!(e.message().contains("503"), "{e}");
}

/// A fake *Python* host service: the contract's fields only, its error texts, its formats.
async fn python_service() -> String {
    let historical = |body: String| async move {
        let request: Value = serde_json::from_str(&body).unwrap();
        let answer = match request["symbol"].as_str().unwrap() {
            "AAPL" => serde_json::json!({"success": true, "rows": 2,
                "data": "{\"2024-03-04T15:30:00.000Z\":{\"open\":2,\"high\":3,\"low\":1,\"close\":2.5,\"volume\":7},\
                          \"2024-03-04T14:30:00.000Z\":{\"open\":1,\"high\":2,\"low\":0.5,\"close\":1.5,\"volume\":0}}",
                "error": null}),
            "NODATA" => serde_json::json!({"success": false, "data": null, "rows": null,
                "error": "Error 162, reqId 9: Historical Market Data Service error message:HMDS query returned no data: NODATA@SMART Trades"}),
            "PACED" => serde_json::json!({"success": false, "data": null, "rows": null,
                "error": "Error 162, reqId 10: Historical Market Data Service error message:pacing violation"}),
            "OLD" => serde_json::json!({"success": false, "data": null, "rows": null,
                "error": "Data not available before 2010-01-04T14:30:00+00:00. Requested start: 2005-01-01T00:00:00+00:00. Head timestamp: 2010-01-04T14:30:00+00:00"}),
            "BADBAR" => serde_json::json!({"success": true, "rows": 1,
                "data": "{\"2024-03-04T14:30:00.000Z\":{\"open\":1,\"high\":2,\"low\":0.5,\"close\":null,\"volume\":0}}",
                "error": null}),
            _ => serde_json::json!({"success": false, "data": null, "rows": null,
                "error": "Symbol validation failed: Error 200, reqId 3: No security definition has been found for the request"}),
        };
        answer.to_string()
    };
    let validate = |body: String| async move {
        let request: Value = serde_json::from_str(&body).unwrap();
        let answer = if request["symbol"] == "AAPL" {
            serde_json::json!({"success": true, "is_valid": true, "error_message": null, "error": null,
                "contract_info": {"symbol": "AAPL", "contract": {"conId": 265598, "secType": "STK"},
                    "asset_type": "STK", "exchange": "NASDAQ", "currency": "USD",
                    "description": "APPLE INC", "validated_at": 1.7e9,
                    "trading_hours": {"timezone": "America/New_York",
                        "regular_hours": {"start": "09:30", "end": "16:00", "name": "Regular Trading Hours"},
                        "extended_hours": [{"start": "04:00", "end": "09:30", "name": "Pre-Market"}],
                        "trading_days": [0, 1, 2, 3, 4]},
                    "head_timestamp": "1980-12-12T14:30:00+00:00",
                    "head_timestamp_timeframes": {}, "head_timestamp_fetched_at": null},
                "head_timestamps": {"1h": "1980-12-12T14:30:00", "1d": null}})
        } else {
            serde_json::json!({"success": true, "is_valid": false, "contract_info": null,
                "error_message": "No contract found for ZZZZ", "head_timestamps": {}, "error": null})
        };
        answer.to_string()
    };
    let head = || async {
        serde_json::json!({"success": true, "timestamp": "1980-12-12T14:30:00+00:00", "error": null})
            .to_string()
    };
    let json = |f: String| ([(axum::http::header::CONTENT_TYPE, "application/json")], f);
    let router = Router::new()
        .route(
            "/data/historical",
            post(move |body: String| async move { json(historical(body).await) }),
        )
        .route(
            "/data/validate",
            post(move |body: String| async move { json(validate(body).await) }),
        )
        .route(
            "/data/head-timestamp",
            get(move || async move { json(head().await) }),
        );
    serve_router(router).await
}

#[tokio::test]
async fn a_python_host_service_is_understood() {
    let url = python_service().await;
    let host = client(&url);
    let token = CancellationToken::new();
    let r = range(WEEK);
    let fetch = |s: &'static str| {
        let host = &host;
        let token = &token;
        async move { host.fetch_bars(&sym(s), Timeframe::H1, r, token).await }
    };
    let bars = fetch("AAPL").await.unwrap();
    assert_eq!(bars.ts(), &[1_709_562_600, 1_709_566_200]);
    assert_eq!(bars.close(), &[1.5, 2.5]);
    assert!(fetch("NODATA").await.unwrap().is_empty());
    let e = fetch("PACED").await.unwrap_err();
    assert_eq!(kind(&e), "pacing", "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(kind(&fetch("ZZZZ").await.unwrap_err()), "not-found");
    assert_eq!(kind(&fetch("OLD").await.unwrap_err()), "invalid");
    let e = fetch("BADBAR").await.unwrap_err();
    assert_eq!(kind(&e), "fatal", "{e}");
    assert!(
        e.message()
            .contains("bar 2024-03-04T14:30:00.000Z: invalid type: null"),
        "{e}"
    );

    let info = host.validate_symbol(&sym("AAPL"), &token).await.unwrap();
    assert_eq!(info.exchange, "NASDAQ");
    assert_eq!(info.head_timestamp, Some(345_479_400));
    // The naive `isoformat()` head timestamp of head_timestamps is read as UTC.
    assert_eq!(info.head_timestamp_timeframes.get("1h"), Some(&345_479_400));
    assert!(!info.head_timestamp_timeframes.contains_key("1d"));
    let e = host
        .validate_symbol(&sym("ZZZZ"), &token)
        .await
        .unwrap_err();
    assert_eq!(kind(&e), "not-found");
    assert!(e.message().contains("No contract found for ZZZZ"), "{e}");
    assert_eq!(
        host.head_timestamp(&sym("AAPL"), Timeframe::H1, &token)
            .await
            .unwrap(),
        Some(345_479_400)
    );
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Every route's field names against the contract (`../shared/contracts/host-service.md`);
/// our extensions (`provider`, `error_kind`, `retry_after_seconds`) are the only additions.
#[tokio::test]
async fn every_route_answers_the_contracts_fields() {
    let (_sim, running) = sim_service(sim_config()).await;
    let http = reqwest::Client::new();
    let url = &running.url;
    let get = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let post = |path: String, body: Value| {
        let http = http.clone();
        async move {
            let r = http.post(path).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let iso = |v: &Value| {
        let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
        assert!(
            ktrdr_data::types::parse_timestamp(&s[..19]).is_ok() && s.ends_with('Z'),
            "{s}"
        );
    };

    let root = get(format!("{url}/")).await;
    assert_eq!(
        keys(&root),
        set(&["service", "version", "status", "timestamp", "provider"])
    );
    assert_eq!(root["service"], "IB Connector Host Service");
    assert_eq!(root["version"], "1.0.0");
    assert_eq!(root["status"], "running");
    assert_eq!(root["provider"], "sim (simulated data)");
    iso(&root["timestamp"]);

    let health = get(format!("{url}/health")).await;
    assert_eq!(
        keys(&health),
        set(&["healthy", "service", "timestamp", "status", "provider"])
    );
    assert_eq!(health["healthy"], true);
    assert_eq!(health["service"], "ib-connector");
    assert_eq!(health["status"], "operational");

    let detailed = get(format!("{url}/health/detailed")).await;
    assert_eq!(
        keys(&detailed),
        set(&[
            "healthy",
            "service",
            "timestamp",
            "ib_gateway_connected",
            "active_connections",
            "total_requests",
            "error_count",
            "last_error",
            "uptime_seconds",
            "connection_pool_status",
            "provider"
        ])
    );
    assert!(detailed["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert!(detailed["last_error"].is_null());

    let hist = post(
        format!("{url}/data/historical"),
        serde_json::json!({"symbol": "AAPL", "timeframe": "1h", "start": "2024-03-04T00:00:00Z",
            "end": "2024-03-08T23:59:59Z", "instrument_type": null}),
    )
    .await;
    assert_eq!(keys(&hist), set(&["success", "data", "error", "rows"]));
    assert_eq!(hist["success"], true);
    let data: Value = serde_json::from_str(hist["data"].as_str().unwrap()).unwrap();
    let bars = data.as_object().unwrap();
    assert_eq!(bars.len() as u64, hist["rows"].as_u64().unwrap());
    for (ts, bar) in bars {
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with(".000Z"), "{ts}");
        assert_eq!(keys(bar), set(&["open", "high", "low", "close", "volume"]));
    }
    let refused = post(
        format!("{url}/data/historical"),
        serde_json::json!({"symbol": "ZZZZ", "timeframe": "1h", "start": "2024-03-04T00:00:00Z",
            "end": "2024-03-08T23:59:59Z", "instrument_type": "STK"}),
    )
    .await;
    assert_eq!(
        keys(&refused),
        set(&["success", "data", "error", "rows", "error_kind"])
    );
    assert_eq!(refused["success"], false);
    assert!(refused["data"].is_null() && refused["rows"].is_null());

    let validation_fields = set(&[
        "success",
        "is_valid",
        "error_message",
        "contract_info",
        "head_timestamps",
        "error",
    ]);
    let valid = post(
        format!("{url}/data/validate"),
        serde_json::json!({"symbol": "AAPL", "timeframes": ["1h", "1d", "7x"]}),
    )
    .await;
    assert_eq!(keys(&valid), validation_fields);
    assert_eq!(valid["is_valid"], true);
    assert_eq!(keys(&valid["head_timestamps"]), set(&["1h", "1d", "7x"]));
    iso(&valid["head_timestamps"]["1h"]);
    assert!(valid["head_timestamps"]["7x"].is_null());
    let contract = &valid["contract_info"];
    assert_eq!(
        keys(contract),
        set(&[
            "symbol",
            "contract",
            "asset_type",
            "exchange",
            "currency",
            "description",
            "validated_at",
            "trading_hours",
            "head_timestamp",
            "head_timestamp_timeframes",
            "head_timestamp_fetched_at"
        ])
    );
    assert_eq!(contract["asset_type"], "STK");
    assert!(contract["validated_at"].is_f64());
    iso(&contract["head_timestamp"]);
    assert_eq!(
        keys(&contract["trading_hours"]),
        set(&[
            "timezone",
            "regular_hours",
            "extended_hours",
            "trading_days"
        ])
    );
    assert_eq!(
        keys(&contract["trading_hours"]["regular_hours"]),
        set(&["start", "end", "name"])
    );
    let unknown = post(
        format!("{url}/data/validate"),
        serde_json::json!({"symbol": "ZZZZ", "timeframes": null}),
    )
    .await;
    assert_eq!(keys(&unknown), validation_fields);
    assert_eq!(
        (&unknown["success"], &unknown["is_valid"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    assert!(unknown["error_message"].as_str().unwrap().contains("ZZZZ"));

    let info = get(format!("{url}/data/symbol-info/EURUSD")).await;
    assert_eq!(keys(&info), validation_fields);
    assert_eq!(info["contract_info"]["asset_type"], "CASH");
    assert_eq!(keys(&info["head_timestamps"]), set(&["1h"]));

    let head = get(format!(
        "{url}/data/head-timestamp?symbol=AAPL&timeframe=1h&instrument_type=STK"
    ))
    .await;
    assert_eq!(keys(&head), set(&["success", "timestamp", "error"]));
    iso(&head["timestamp"]);
    let head = get(format!(
        "{url}/data/head-timestamp?symbol=AAPL&timeframe=7x"
    ))
    .await;
    assert_eq!(head["success"], false);
    assert_eq!(head["error_kind"], "invalid_request");
    assert!(head["error"].as_str().unwrap().contains("7x"), "{head}");

    let stats = get(format!("{url}/health/detailed")).await;
    // historical ×2, validate ×2, symbol-info, head-timestamp ×2.
    assert_eq!(stats["total_requests"], 7);
    // The unknown symbol's historical request and the bad timeframe; an invalid symbol in
    // /data/validate is an answer, not an error.
    assert_eq!(stats["error_count"], 2);
    running.stop().await.unwrap();
}
