//! Stop signals for binaries: the first SIGINT (Ctrl-C), SIGTERM or SIGHUP cancels the operation
//! gracefully, so it saves what it has and records itself `cancelled`; a second one exits at
//! once, for when the graceful stop is stuck. The process then ends with the shell's status for
//! the first signal (128 + its number), as if the signal had killed it, but only after saving.

use std::sync::{Arc, OnceLock};

use super::{CancelReason, CancellationToken};

/// Exit status of a process stopped by SIGINT (128 + 2), the shell convention.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit status of a process stopped by SIGTERM (128 + 15).
pub const EXIT_TERMINATED: i32 = 143;
/// Exit status of a process stopped by SIGHUP (128 + 1).
pub const EXIT_HUNG_UP: i32 = 129;

/// A signal that asks the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT: Ctrl-C in the terminal.
    Interrupt,
    /// SIGTERM: a service manager, `kill`, a container runtime stopping the process.
    Terminate,
    /// SIGHUP: the terminal went away (an SSH session closed).
    Hangup,
}

impl StopSignal {
    /// The cancel it stands for: the user's (Ctrl-C, a closed terminal) or a shutdown (SIGTERM).
    pub fn reason(self) -> CancelReason {
        match self {
            StopSignal::Interrupt | StopSignal::Hangup => CancelReason::User,
            StopSignal::Terminate => CancelReason::Shutdown,
        }
    }

    /// The exit status of a process it stopped: 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            StopSignal::Interrupt => EXIT_INTERRUPTED,
            StopSignal::Terminate => EXIT_TERMINATED,
            StopSignal::Hangup => EXIT_HUNG_UP,
        }
    }

    /// The signal's name, e.g. `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }
}

/// The handler of [`spawn_stop_handler`]. Dropping it stops listening.
#[derive(Debug)]
pub struct StopHandler {
    task: tokio::task::JoinHandle<()>,
    first: Arc<OnceLock<StopSignal>>,
}

impl StopHandler {
    /// The first stop signal received, if any: its [`StopSignal::exit_code`] is the status to
    /// exit with once the operation has saved.
    pub fn received(&self) -> Option<StopSignal> {
        self.first.get().copied()
    }
}

impl Drop for StopHandler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Spawns a task that cancels `token` on the first SIGINT, SIGTERM or SIGHUP (with the
/// signal's [`StopSignal::reason`]) and exits the process at once on a second one, with that
/// signal's [`StopSignal::exit_code`].
///
/// `on_first` runs once after the first signal (to tell the user that a second Ctrl-C forces
/// the exit). Must be called inside a tokio runtime. Outside Unix only Ctrl-C is heard.
///
/// ```no_run
/// use ktrdr_ops::cancel::{spawn_stop_handler, CancellationToken};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let token = CancellationToken::new();
/// let signals = spawn_stop_handler(token.clone(), |signal| {
///     eprintln!("{}: cancelling… press Ctrl-C again to quit", signal.name())
/// });
/// let reason = token.cancelled().await;
/// let status = signals.received().map_or(0, |s| s.exit_code());
/// # let _ = (reason, status);
/// # }
/// ```
pub fn spawn_stop_handler(
    token: CancellationToken,
    on_first: impl FnOnce(StopSignal) + Send + 'static,
) -> StopHandler {
    // Listening starts here, before the task runs, and one listener serves both signals: a
    // signal while `on_first` runs, or before the task is first polled, is not missed.
    let signals = Signals::listen();
    let first = Arc::new(OnceLock::new());
    let seen = Arc::clone(&first);
    let task = tokio::spawn(async move {
        let mut signals = match signals {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for stop signals; cancel with the API instead");
                return;
            }
        };
        on_signals(token, on_first, &mut signals, &seen, |signal| {
            std::process::exit(signal.exit_code())
        })
        .await;
    });
    StopHandler { task, first }
}

/// Where stop signals come from: the process's, or a test's.
trait Presses {
    /// Completes at the next signal.
    fn next(&mut self) -> impl std::future::Future<Output = std::io::Result<StopSignal>> + Send;
}

impl<P: Presses + Send> Presses for &mut P {
    fn next(&mut self) -> impl std::future::Future<Output = std::io::Result<StopSignal>> + Send {
        (**self).next()
    }
}

/// The process's stop signals, each from one listener.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Self> {
        Ok(Signals {})
    }
}

impl Presses for Signals {
    #[cfg(unix)]
    async fn next(&mut self) -> std::io::Result<StopSignal> {
        let received = tokio::select! {
            s = self.interrupt.recv() => s.map(|()| StopSignal::Interrupt),
            s = self.terminate.recv() => s.map(|()| StopSignal::Terminate),
            s = self.hangup.recv() => s.map(|()| StopSignal::Hangup),
        };
        received.ok_or_else(|| std::io::Error::other("a signal listener closed"))
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> std::io::Result<StopSignal> {
        tokio::signal::ctrl_c()
            .await
            .map(|()| StopSignal::Interrupt)
    }
}

/// The policy of [`spawn_stop_handler`], with the signal source and the exit passed in so that
/// a test can signal without signals and observe the exit without ending the process.
async fn on_signals(
    token: CancellationToken,
    on_first: impl FnOnce(StopSignal),
    mut presses: impl Presses,
    first: &OnceLock<StopSignal>,
    exit: impl FnOnce(StopSignal),
) {
    let signal = match presses.next().await {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for stop signals; cancel with the API instead");
            return;
        }
    };
    // Recorded before the cancel, so whoever wakes on the token finds it.
    let _ = first.set(signal);
    token.cancel(signal.reason());
    on_first(signal);
    if let Ok(second) = presses.next().await {
        exit(second);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::mpsc;

    use super::*;

    /// A signal source: each signal sent is one delivery, kept until the handler waits for it.
    struct Keys(mpsc::UnboundedReceiver<StopSignal>);

    impl Presses for Keys {
        async fn next(&mut self) -> std::io::Result<StopSignal> {
            self.0
                .recv()
                .await
                .ok_or_else(|| std::io::Error::other("no more signals"))
        }
    }

    /// Runs the policy on a fresh token; returns the sender of signals, the token, the first
    /// signal cell, what `on_first` saw and what `exit` saw, and the handler task.
    #[allow(clippy::type_complexity, reason = "a test fixture's bundle")]
    fn handler() -> (
        mpsc::UnboundedSender<StopSignal>,
        CancellationToken,
        Arc<OnceLock<StopSignal>>,
        Arc<Mutex<Vec<StopSignal>>>,
        Arc<Mutex<Vec<StopSignal>>>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let token = CancellationToken::new();
        let first = Arc::new(OnceLock::new());
        let firsts = Arc::new(Mutex::new(Vec::new()));
        let exits = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let (token, first, firsts, exits) = (
                token.clone(),
                Arc::clone(&first),
                Arc::clone(&firsts),
                Arc::clone(&exits),
            );
            async move {
                on_signals(
                    token,
                    |s| firsts.lock().unwrap().push(s),
                    Keys(rx),
                    &first,
                    |s| exits.lock().unwrap().push(s),
                )
                .await;
            }
        });
        (tx, token, first, firsts, exits, task)
    }

    #[tokio::test]
    async fn first_signal_cancels_with_its_reason_second_exits_with_its_status() {
        for (signal, reason, code) in [
            (StopSignal::Interrupt, CancelReason::User, 130),
            (StopSignal::Terminate, CancelReason::Shutdown, 143),
            (StopSignal::Hangup, CancelReason::User, 129),
        ] {
            let (tx, token, first, firsts, exits, task) = handler();
            tx.send(signal).unwrap();
            assert_eq!(token.cancelled().await, reason);
            assert_eq!(first.get(), Some(&signal));
            assert_eq!(signal.exit_code(), code);
            tokio::task::yield_now().await;
            assert_eq!(*firsts.lock().unwrap(), [signal]);
            assert!(exits.lock().unwrap().is_empty(), "one signal must not exit");
            assert!(!task.is_finished());

            tx.send(StopSignal::Interrupt).unwrap();
            task.await.unwrap();
            assert_eq!(*exits.lock().unwrap(), [StopSignal::Interrupt]);
            assert_eq!(
                first.get(),
                Some(&signal),
                "the first signal stays the first"
            );
        }
    }

    #[tokio::test]
    async fn a_first_signal_keeps_an_earlier_cancel_reason() {
        let (tx, token, _, _, exits, task) = handler();
        token.cancel(CancelReason::Remote("api".into()));
        tx.send(StopSignal::Terminate).unwrap();
        tx.send(StopSignal::Terminate).unwrap();
        task.await.unwrap();
        assert_eq!(token.reason(), Some(CancelReason::Remote("api".into())));
        assert_eq!(*exits.lock().unwrap(), [StopSignal::Terminate]);
    }

    /// A listener that fails at once.
    struct Deaf;

    impl Presses for Deaf {
        async fn next(&mut self) -> std::io::Result<StopSignal> {
            Err(std::io::Error::other("no signal support"))
        }
    }

    #[tokio::test]
    async fn no_signal_listener_cancels_nothing_and_never_exits() {
        let token = CancellationToken::new();
        let first = OnceLock::new();
        let mut exited = false;
        on_signals(
            token.clone(),
            |_| panic!("on_first must not run"),
            Deaf,
            &first,
            |_| exited = true,
        )
        .await;
        assert!(!token.is_cancelled());
        assert!(!exited);
        assert_eq!(first.get(), None);
    }
}
