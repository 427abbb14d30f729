//! Output helpers shared by commands.

use clap::ValueEnum;

/// How a command renders its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// CSV in the store's canonical form.
    Csv,
}

/// `ktrdr … | head` closes stdout early; that is not an error worth reporting.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The message of `e` and its causes, `: `-separated, each cause once: the libraries' errors
/// already include their cause's text (so a registry record or a log line says it all), and
/// `{:#}` would print it again, an OS error twice.
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
    let mut shown = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if shown.contains(&text) {
            continue;
        }
        if !shown.is_empty() {
            shown.push_str(": ");
        }
        shown.push_str(&text);
    }
    shown
}

/// Exit status of a usage error: a bad option value, also one read from the environment, or
/// options that contradict each other (clap's own usage errors exit with it too).
pub(crate) const EXIT_USAGE: u8 = 2;

/// An error in how the command was called, not in what it did: `main` exits with
/// [`EXIT_USAGE`] for it.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit status for an error: [`EXIT_USAGE`] when it is a usage error, else 1.
pub(crate) fn exit_status(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<UsageError>()) {
        EXIT_USAGE
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let os = std::io::Error::from_raw_os_error(20);
        let text = os.to_string();
        #[derive(Debug)]
        struct Wraps(std::io::Error);
        impl std::fmt::Display for Wraps {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "open lock file x.lock: {}", self.0)
            }
        }
        impl std::error::Error for Wraps {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(Wraps(os)).context("cannot load AAPL 1h");
        let shown = error_chain(&e);
        assert_eq!(
            shown,
            format!("cannot load AAPL 1h: open lock file x.lock: {text}")
        );
        assert_eq!(shown.matches(&text).count(), 1, "{shown}");
    }

    #[test]
    fn a_cause_not_in_the_message_is_appended() {
        let e = anyhow::anyhow!("disk full").context("cannot save");
        assert_eq!(error_chain(&e), "cannot save: disk full");
    }
}
