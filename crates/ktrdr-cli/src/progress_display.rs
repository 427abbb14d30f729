//! Live progress of an operation on the terminal (the Python `EnhancedCLIProgressDisplay`),
//! fed from a [`ProgressFeed`]: an operation this process runs (its [`ProgressSubscriber`]) or
//! one a server runs (its event stream, through a watch channel): an indicatif bar when a
//! person is watching, a plain line every few seconds when output goes to a file or a pipe,
//! nothing with `--quiet`.
//!
//! Everything shown comes from the typed progress ([`ProgressState`], or its wire form
//! [`OperationProgress`]): the percent, the step, the message the operation's renderer made
//! from the state (step detail, bars) and *our* ETA with its range. indicatif only draws; its
//! own rate and ETA estimates are not used (the Python CLI showed rich's guess because the real
//! ETA never reached it).

use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ktrdr_ops::cancel::{spawn_stop_handler, StopSignal};
use ktrdr_ops::operations::{OperationHandle, OperationOutcome};
use ktrdr_ops::progress::{format_duration, ProgressState, ProgressSubscriber};
use ktrdr_server::api::wire::OperationProgress;
use tokio::sync::watch;

/// What the display shows of a progress state.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Shown {
    /// 0..=100.
    pub(crate) percent: f64,
    /// The operation's message (step, detail, counts, ETA).
    pub(crate) message: String,
    /// Seconds since the work started.
    pub(crate) elapsed_secs: f64,
    /// The current step (a plain line is printed at each new one).
    pub(crate) step_index: usize,
}

impl From<&ProgressState> for Shown {
    fn from(state: &ProgressState) -> Self {
        Shown {
            percent: state.percent,
            message: state.message.clone(),
            elapsed_secs: state.elapsed_secs,
            step_index: state.step_index,
        }
    }
}

impl From<&OperationProgress> for Shown {
    fn from(progress: &OperationProgress) -> Self {
        Shown {
            percent: progress.percentage,
            message: progress.current_step.clone().unwrap_or_default(),
            elapsed_secs: progress.elapsed_seconds,
            step_index: progress.step_index,
        }
    }
}

/// Where the progress shown comes from.
pub(crate) trait ProgressFeed {
    /// Waits until the progress changed; `false` once it never will again.
    async fn changed(&mut self) -> bool;
    /// The latest progress.
    fn latest(&mut self) -> Shown;
}

impl ProgressFeed for ProgressSubscriber {
    async fn changed(&mut self) -> bool {
        ProgressSubscriber::changed(self).await.is_ok()
    }

    fn latest(&mut self) -> Shown {
        Shown::from(&ProgressSubscriber::latest(self))
    }
}

/// The progress of an operation run elsewhere, published by whoever reads its events.
impl ProgressFeed for watch::Receiver<Shown> {
    async fn changed(&mut self) -> bool {
        watch::Receiver::changed(self).await.is_ok()
    }

    fn latest(&mut self) -> Shown {
        self.borrow_and_update().clone()
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DisplayMode {
    /// An animated bar on standard error.
    Bar,
    /// One line on standard error at most every `every`, and at each step change.
    Lines { every: Duration },
    /// Nothing.
    Quiet,
}

impl DisplayMode {
    /// The bar when both standard output and standard error are terminals, plain lines
    /// otherwise, nothing when `quiet`.
    pub(crate) fn detect(quiet: bool, every: Duration) -> Self {
        if quiet {
            DisplayMode::Quiet
        } else if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            DisplayMode::Bar
        } else {
            DisplayMode::Lines { every }
        }
    }
}

/// Where plain lines go (standard error, or a test's buffer).
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Draws the progress of one operation.
pub(crate) struct ProgressDisplay {
    mode: DisplayMode,
    bar: Option<ProgressBar>,
    last_line: Option<(Instant, usize)>,
    sink: Sink,
}

impl ProgressDisplay {
    pub(crate) fn new(mode: DisplayMode) -> Self {
        Self::with_sink(mode, Arc::new(|text: &str| eprintln!("{text}")))
    }

    fn with_sink(mode: DisplayMode, sink: Sink) -> Self {
        let bar = (mode == DisplayMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr());
            bar.set_style(bar_style());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ProgressDisplay {
            mode,
            bar,
            last_line: None,
            sink,
        }
    }

    /// Prints `text` on its own line without breaking the bar.
    pub(crate) fn println(&self, text: &str) {
        self.printer()(text);
    }

    /// A handle for printing from another task (the Ctrl-C handler).
    pub(crate) fn printer(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let bar = self.bar.clone();
        let quiet = self.mode == DisplayMode::Quiet;
        let sink = Arc::clone(&self.sink);
        move |text: &str| match &bar {
            Some(bar) => bar.println(text),
            None if quiet => {}
            None => sink(text),
        }
    }

    /// Shows `state`: redraws the bar, or prints a line if one is due (a new step, `every`
    /// passed since the last line) or `forced`. Returns whether a line was printed.
    pub(crate) fn update(&mut self, state: &Shown, forced: bool) -> bool {
        match self.mode {
            DisplayMode::Quiet => false,
            DisplayMode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(state.percent.floor() as u64);
                    // The operation's renderer owns the whole message, step included.
                    bar.set_message(state.message.clone());
                }
                false
            }
            DisplayMode::Lines { every } => {
                let now = Instant::now();
                let due = forced
                    || match self.last_line {
                        None => true,
                        Some((at, step)) => {
                            step != state.step_index || now.duration_since(at) >= every
                        }
                    };
                if due {
                    (self.sink)(&plain_line(state));
                    self.last_line = Some((now, state.step_index));
                }
                due
            }
        }
    }

    /// Clears the bar (the caller prints the final summary).
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Shows the progress of `handle` until it ends; the first stop signal (Ctrl-C, SIGTERM,
    /// SIGHUP) cancels it, and the line printed then says that the work is `keeping` what it
    /// did meanwhile (`saving what was fetched`). Returns the outcome and that signal.
    pub(crate) async fn follow_cancellable(
        &mut self,
        handle: &OperationHandle,
        keeping: &'static str,
    ) -> (OperationOutcome, Option<StopSignal>) {
        let print = self.printer();
        let signals = spawn_stop_handler(handle.token().clone(), move |signal| match signal {
            StopSignal::Interrupt => print(&format!(
                "Cancelling: {keeping}… (Ctrl-C again exits at once)"
            )),
            other => print(&format!(
                "{}: {keeping}, then exiting… (a second signal exits at once)",
                other.name()
            )),
        });
        let outcome = self
            .follow(handle.progress().subscribe(), handle.wait())
            .await;
        (outcome, signals.received())
    }

    /// Shows every change of `progress` until `done` resolves, then the last state, and
    /// returns what `done` gave.
    pub(crate) async fn follow<T>(
        &mut self,
        mut progress: impl ProgressFeed,
        done: impl Future<Output = T>,
    ) -> T {
        tokio::pin!(done);
        let mut open = true;
        // Also redraw when nothing changes (a long pacing wait): the elapsed time and our ETA
        // move on. A plain line is printed at the latest `every` after the previous one: the
        // tick forces one, and a line printed for a change restarts the tick.
        let every = match self.mode {
            DisplayMode::Lines { every } => every.max(Duration::from_millis(10)),
            _ => Duration::from_secs(1),
        };
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                out = &mut done => {
                    self.update(&progress.latest(), true);
                    self.finish();
                    return out;
                }
                changed = progress.changed(), if open => {
                    if !changed {
                        open = false;
                    } else if self.update(&progress.latest(), false) {
                        tick.reset();
                    }
                }
                _ = tick.tick(), if self.mode != DisplayMode::Quiet => {
                    self.update(&progress.latest(), true);
                }
            }
        }
    }
}

/// The bar's line: 46 columns of spinner, clock, bar and percent, then the operation's
/// message cut to what is left of the terminal's width (`wide_msg`), so the line never wraps
/// (a wrapped line is redrawn as a new one on every tick). There is no `{eta}`/`{per_sec}`:
/// the ETA is ours, inside the message.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.green} [{elapsed_precise}] [{bar:20.cyan/blue}] {pos:>3}% {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// `[   12s]  45.3% Fetching AAPL 1h: segment 3/7 (…), 1,400 bars · ETA 20s (15s–30s)`.
pub(crate) fn plain_line(state: &Shown) -> String {
    format!(
        "[{:>6}] {:>5.1}% {}",
        format_duration(state.elapsed_secs),
        state.percent,
        state.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_ops::progress::{ProgressHandle, StepPlan};
    use std::sync::Mutex;

    #[test]
    fn plain_lines_carry_percent_step_and_message() {
        let progress =
            ProgressHandle::new("op", StepPlan::new([("Read", 20), ("Fetch", 80)]).unwrap());
        progress.next_step().unwrap();
        progress.set_sub_progress(1, 2);
        let line = plain_line(&Shown::from(&progress.snapshot()));
        assert!(line.ends_with(" 60.0% [2/2] Fetch (1/2)"), "{line}");
        assert!(line.starts_with("[    0s]"), "{line}");
    }

    /// An 80-column terminal that records what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Columns `s` takes: characters, less ANSI colour sequences.
    fn columns(s: &str) -> usize {
        let mut n = 0;
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|&c| c == 'm');
            } else {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn the_bar_fits_an_80_column_terminal() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(100),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(bar_style());
        bar.set_position(45);
        bar.set_message(
            "Fetching AAPL 1h: segment 5/18 (2023-05-05 → 2023-06-02), 12,735 bars · \
             ETA 1m 20s (1m 5s–1m 40s)",
        );
        bar.tick();
        let drawn = screen.0.lock().unwrap();
        assert!(
            drawn
                .iter()
                .any(|d| d.contains("45% Fetching AAPL 1h: segment 5/18")),
            "{drawn:?}"
        );
        for line in drawn.iter().flat_map(|d| d.lines()) {
            assert!(columns(line) <= 80, "{} columns: {line:?}", columns(line));
        }
    }

    #[tokio::test]
    async fn follow_returns_what_done_gives_after_showing_the_last_state() {
        let progress = ProgressHandle::new("op", StepPlan::single("Work"));
        let mut display = ProgressDisplay::new(DisplayMode::Quiet);
        let sub = progress.subscribe();
        let work = {
            let progress = progress.clone();
            async move {
                progress.set_sub_progress(3, 3);
                progress.complete();
                42
            }
        };
        assert_eq!(display.follow(sub, work).await, 42);
    }

    #[tokio::test(start_paused = true)]
    async fn plain_lines_keep_coming_while_nothing_changes() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink: Sink = {
            let lines = Arc::clone(&lines);
            Arc::new(move |text: &str| lines.lock().unwrap().push(text.to_owned()))
        };
        let every = Duration::from_millis(20);
        let mut display = ProgressDisplay::with_sink(DisplayMode::Lines { every }, sink);
        let progress = ProgressHandle::new("op", StepPlan::single("Wait"));
        progress.set_sub_progress(1, 4);
        // One change, then a long quiet wait (a pacing wait, say).
        display
            .follow(progress.subscribe(), tokio::time::sleep(every * 10))
            .await;
        let lines = lines.lock().unwrap();
        // The first state, one line per `every` of the quiet wait (the tenth at the end), and
        // the final state.
        assert_eq!(lines.len(), 11, "{lines:?}");
        assert!(lines.iter().all(|l| l.contains("Wait (1/4)")), "{lines:?}");
    }
}
