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
