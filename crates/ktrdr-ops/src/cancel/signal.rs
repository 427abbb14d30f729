//! Ctrl-C for binaries: the first press cancels gracefully, the second exits at once.

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
    // Listening starts here, before the task runs, and one listener serves both presses: a
    // press while `on_first` runs, or before the task is first polled, is not missed.
    let interrupts = Interrupts::listen();
    tokio::spawn(async move {
        let mut interrupts = match interrupts {
            Ok(i) => i,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for Ctrl-C; cancel with the API instead");
                return;
            }
        };
        on_presses(token, on_first, &mut interrupts, || {
            std::process::exit(EXIT_INTERRUPTED)
        })
        .await;
    })
}

/// Where presses come from: the process's signals, or a test's key presses.
trait Presses {
    /// Completes at the next press.
    fn next(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl<P: Presses + Send> Presses for &mut P {
    fn next(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        (**self).next()
    }
}

/// The process's Ctrl-C presses, from one listener.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Interrupts {
            signal: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Self> {
        Ok(Interrupts {})
    }
}

impl Presses for Interrupts {
    #[cfg(unix)]
    async fn next(&mut self) -> std::io::Result<()> {
        self.signal
            .recv()
            .await
            .ok_or_else(|| std::io::Error::other("the SIGINT listener closed"))
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> std::io::Result<()> {
        tokio::signal::ctrl_c().await
    }
}

/// The policy of [`spawn_ctrl_c_handler`], with the press source and the exit passed in so
/// that a test can press without signals and observe the exit without ending the process.
async fn on_presses(
    token: CancellationToken,
    on_first: impl FnOnce(),
    mut presses: impl Presses,
    exit: impl FnOnce(),
) {
    if let Err(error) = presses.next().await {
        tracing::warn!(%error, "cannot listen for Ctrl-C; cancel with the API instead");
        return;
    }
    token.cancel(CancelReason::User);
    on_first();
    if presses.next().await.is_ok() {
        exit();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    /// A press source: each permit added to the semaphore is one press, kept until the handler
    /// waits for it.
    struct Keys(Arc<Semaphore>);

    impl Presses for Keys {
        async fn next(&mut self) -> std::io::Result<()> {
            self.0
                .acquire()
                .await
                .map_err(std::io::Error::other)?
                .forget();
            Ok(())
        }
    }

    fn presses(keys: &Arc<Semaphore>) -> Keys {
        Keys(Arc::clone(keys))
    }

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

    /// A listener that fails at once.
    struct Deaf;

    impl Presses for Deaf {
        async fn next(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("no signal support"))
        }
    }

    #[tokio::test]
    async fn no_signal_listener_cancels_nothing_and_never_exits() {
        let token = CancellationToken::new();
        let exited = Arc::new(AtomicUsize::new(0));
        let e = Arc::clone(&exited);
        on_presses(
            token.clone(),
            || panic!("on_first must not run"),
            Deaf,
            move || {
                e.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        assert!(!token.is_cancelled());
        assert_eq!(exited.load(Ordering::SeqCst), 0);
    }
}
