//! DataManager through the `host` provider: who retries what when the host service is down.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ktrdr_data::manager::{DataManager, LoadError, LoadRequest, RetryPolicy};
use ktrdr_data::provider::host::{HostProvider, HostProviderConfig};
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::testing::Scripted;
use ktrdr_data::types::LoadMode;
use ktrdr_ops::cancel::CancellationToken;
use ktrdr_ops::progress::ProgressHandle;
use ktrdr_ops::retry::Backoff;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// 2025-01-01T00:00:00Z.
const NOW: i64 = 1_735_689_600;

/// A host service that is up but broken: every request gets a 503 (which the host client
/// counts as transient and retryable). Returns its URL and the number of requests it saw.
async fn failing_host() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                // The request head is all we need; the answer closes the connection.
                let mut buf = vec![0u8; 64 * 1024];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                              connection: close\r\n\r\n";
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_failing_host_costs_a_segment_the_managers_attempts_only() {
    let (url, seen) = failing_host().await;
    let sim = SimProvider::new(SimConfig {
        now: Some(NOW),
        ..SimConfig::default()
    })
    .unwrap();
    // The host provider as every caller gets it: default retries.
    let host = HostProvider::new(HostProviderConfig::new(url)).unwrap();
    // Validates through the simulator and fetches through the host, so that the only requests
    // the host sees are segment fetches.
    let provider = Scripted::new(Arc::new(sim)).fetch_from(Arc::new(host));
    let policy = RetryPolicy {
        // Short waits keep the test quick; the count of sends does not depend on them.
        backoff: Backoff {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..Backoff::default()
        },
        ..RetryPolicy::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let manager = DataManager::builder()
        .data_dir(dir.path())
        .provider(Arc::new(provider))
        .unpaced()
        .retry(policy)
        .now(NOW)
        .build()
        .unwrap();
    // One week of 1h bars: one segment.
    let request = LoadRequest::new(
        "AAPL".parse().unwrap(),
        "1h".parse().unwrap(),
        LoadMode::Full,
    )
    .with_start(1_733_011_200)
    .with_end(1_733_615_999);
    let progress = ProgressHandle::new("dead-host", DataManager::plan(LoadMode::Full));
    let error = manager
        .load(&request, &CancellationToken::new(), &progress)
        .await
        .unwrap_err();
    let LoadError::SegmentsFailed { failed, total, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((*failed, *total), (1, 1));
    // The documented cost (docs/ARCHITECTURE.md, "Retries"): the manager's attempts, once
    // each; the transport under the provider does not retry them again.
    assert_eq!(
        seen.load(Ordering::SeqCst),
        policy.backoff.max_attempts as usize
    );
    assert_eq!(error.summary().unwrap().requests_sent, 4);
}
