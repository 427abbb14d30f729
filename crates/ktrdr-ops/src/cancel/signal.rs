//! Ctrl-C for binaries: the first press cancels gracefully, the second exits at once.

use std::future::Future;

use super::{CancelReason, CancellationToken};

/// Exit status of a process stopped by SIGINT (128 + 2), the shell convention.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Spawns a task that cancels `token` with [`CancelReason::User`] on the first Ctrl-C and exits
/// the process with status 130 on the second, for when graceful shutdown is stuck.
///
/// `on_first` runs once after the first press (to tell the user that a second press forces the
/// exit). Must be called inside a tokio runtime.
///
/// ```no_run
/// use ktrdr_ops::cancel::{spawn_ctrl_c_handler, CancellationToken};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let token = CancellationToken::new();
/// spawn_ctrl_c_handler(token.clone(), || eprintln!("cancelling… press Ctrl-C again to quit"));
/// let reason = token.cancelled().await;
/// # let _ = reason;
/// # }
/// ```
pub fn spawn_ctrl_c_handler(
    token: CancellationToken,
    on_first: impl FnOnce() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(on_presses(token, on_first, tokio::signal::ctrl_c, || {
        std::process::exit(EXIT_INTERRUPTED)
    }))
}

/// The policy of [`spawn_ctrl_c_handler`], with the press source and the exit passed in so
/// that a test can press without signals and observe the exit without ending the process.
async fn on_presses<P, Fut>(
    token: CancellationToken,
    on_first: impl FnOnce(),
    mut press: P,
    exit: impl FnOnce(),
) where
    P: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    if let Err(error) = press().await {
        tracing::warn!(%error, "cannot listen for Ctrl-C; cancel with the API instead");
        return;
    }
    token.cancel(CancelReason::User);
    on_first();
    if press().await.is_ok() {
        exit();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    /// A press source: each permit added to `keys` is one press, kept until the handler waits
    /// for it.
    fn presses(keys: &Arc<Semaphore>) -> impl FnMut() -> PressFuture {
        let keys = Arc::clone(keys);
        move || {
            let keys = Arc::clone(&keys);
            Box::pin(async move {
                keys.acquire()
                    .await
                    .map_err(std::io::Error::other)?
                    .forget();
                Ok(())
            })
        }
    }

    type PressFuture =
        std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'static>>;

    #[tokio::test]
    async fn first_press_cancels_with_user_second_exits() {
        let token = CancellationToken::new();
        let keys = Arc::new(Semaphore::new(0));
        let firsts = Arc::new(AtomicUsize::new(0));
        let exits = Arc::new(AtomicUsize::new(0));
        let handler = tokio::spawn(on_presses(
            token.clone(),
            {
                let firsts = Arc::clone(&firsts);
                move || {
                    firsts.fetch_add(1, Ordering::SeqCst);
                }
            },
            presses(&keys),
            {
                let exits = Arc::clone(&exits);
                move || {
                    exits.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));

        keys.add_permits(1);
        assert_eq!(token.cancelled().await, CancelReason::User);
        tokio::task::yield_now().await;
        assert_eq!(firsts.load(Ordering::SeqCst), 1);
        assert_eq!(exits.load(Ordering::SeqCst), 0, "one press must not exit");
        assert!(!handler.is_finished());

        keys.add_permits(1);
        handler.await.unwrap();
        assert_eq!(exits.load(Ordering::SeqCst), 1);
        assert_eq!(firsts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_first_press_keeps_an_earlier_cancel_reason() {
        let token = CancellationToken::new();
        token.cancel(CancelReason::Shutdown);
        let keys = Arc::new(Semaphore::new(0));
        keys.add_permits(2);
        let exited = Arc::new(AtomicUsize::new(0));
        let e = Arc::clone(&exited);
        on_presses(
            token.clone(),
            || {},
            presses(&keys),
            move || {
                e.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        assert_eq!(token.reason(), Some(CancelReason::Shutdown));
        assert_eq!(exited.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn no_signal_listener_cancels_nothing_and_never_exits() {
        let token = CancellationToken::new();
        let exited = Arc::new(AtomicUsize::new(0));
        let e = Arc::clone(&exited);
        on_presses(
            token.clone(),
            || panic!("on_first must not run"),
            || async { Err(std::io::Error::other("no signal support")) },
            move || {
                e.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        assert!(!token.is_cancelled());
        assert_eq!(exited.load(Ordering::SeqCst), 0);
    }
}
