//! The stop-signal handler against a real SIGINT sent to this test process (its own binary, so
//! the signal disposition it installs touches no other test). Only the first signal is sent: the
//! second would exit the process, which `cancel::signal`'s unit tests cover with fake signals,
//! and SIGTERM/SIGHUP are sent to a real `ktrdr data load` in the CLI's tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]
#![cfg(unix)]

use std::time::Duration;

use ktrdr_ops::cancel::{spawn_stop_handler, CancelReason, CancellationToken, StopSignal};

#[tokio::test]
async fn a_real_sigint_cancels_with_reason_user_and_does_not_exit() {
    let token = CancellationToken::new();
    let (told_tx, told_rx) = tokio::sync::oneshot::channel();
    let handler = spawn_stop_handler(token.clone(), move |signal| {
        let _ = told_tx.send(signal);
    });
    // Let the handler task run far enough to install its SIGINT listener (current-thread
    // runtime: it runs when this task yields).
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let reason = tokio::time::timeout(Duration::from_secs(10), token.cancelled())
        .await
        .expect("SIGINT did not cancel the token");
    assert_eq!(reason, CancelReason::User);
    let told = tokio::time::timeout(Duration::from_secs(10), told_rx)
        .await
        .expect("on_first did not run")
        .unwrap();
    assert_eq!(told, StopSignal::Interrupt);
    assert_eq!(handler.received(), Some(StopSignal::Interrupt));
    // Still alive (this test runs on), waiting for a second signal; dropping stops listening.
    drop(handler);
}
