//! Ctrl-C for binaries: the first press cancels gracefully, the second exits at once.

use super::{CancelReason, CancellationToken};

/// Exit status of a process stopped by SIGINT (128 + 2), the shell convention.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Spawns a task that cancels `token` with [`CancelReason::User`] on the first Ctrl-C and exits
/// the process with status 130 on the second, for when graceful shutdown is stuck.
///
/// `on_first` runs once after the first press (to tell the user that a second press forces the
/// exit). Must be called inside a tokio runtime.
pub fn spawn_ctrl_c_handler(
    token: CancellationToken,
    on_first: impl FnOnce() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            tracing::warn!("cannot listen for Ctrl-C; cancel with the API instead");
            return;
        }
        token.cancel(CancelReason::User);
        on_first();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(EXIT_INTERRUPTED);
        }
    })
}
