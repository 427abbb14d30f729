//! The one error type of the ETA module.

use std::path::PathBuf;

/// What can go wrong learning, storing or importing durations.
#[derive(Debug, thiserror::Error)]
pub enum EtaError {
    /// A key or its storage form is malformed.
    #[error("invalid ETA key {key:?}: {reason}")]
    InvalidKey {
        /// The key (or its operation) as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration record cannot be stored (e.g. a duration that is not finite and positive).
    #[error("invalid duration record for {key}: {reason}")]
    InvalidRecord {
        /// The key it was recorded under.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The history database failed.
    #[error("ETA history database {path}: {source}")]
    Db {
        /// The database file (`:memory:` for an in-memory one).
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A row of the history table cannot be read back.
    #[error("ETA history database {path}: row {row_id}: {reason}")]
    CorruptRow {
        /// The database file.
        path: PathBuf,
        /// The row's id in `eta_history`.
        row_id: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// A legacy cache is not a pickle this decoder accepts.
    #[error("{path}: {source}")]
    Pickle {
        /// The file.
        path: PathBuf,
        /// Where and why decoding stopped.
        #[source]
        source: super::pickle::PickleError,
    },
    /// A legacy cache decodes but does not hold what a time-estimation cache holds.
    #[error("{path}: not a time-estimation cache: {reason}")]
    LegacyFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key and record index.
        reason: String,
    },
    /// Reading or moving a legacy cache file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
