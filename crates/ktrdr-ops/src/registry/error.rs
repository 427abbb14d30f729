//! The registry's error type.

use std::path::{Path, PathBuf};

use super::OperationStatus;

/// What can go wrong in a [`Registry`](super::Registry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No operation has this id.
    #[error("operation {id} not found")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// An operation with this id is already recorded.
    #[error("operation {id} already exists")]
    Duplicate {
        /// The id.
        id: String,
    },
    /// The compare-and-set failed: the operation was not in any of the expected statuses (for
    /// example a completion arriving after a cancel).
    #[error("operation {id} is {actual}, not one of {expected:?}, so it cannot become {to}")]
    Conflict {
        /// The operation.
        id: String,
        /// Its status as read right after the failed compare-and-set.
        actual: OperationStatus,
        /// The statuses the caller expected.
        expected: Vec<OperationStatus>,
        /// The status the caller asked for.
        to: OperationStatus,
    },
    /// The caller asked for a move the state machine forbids (a bug in the caller).
    #[error("illegal operation transition {from} -> {to}")]
    IllegalTransition {
        /// One of the expected statuses.
        from: OperationStatus,
        /// The requested status.
        to: OperationStatus,
    },
    /// A transition named no expected status.
    #[error("a transition to {to} must name at least one expected status")]
    NoExpectedStatus {
        /// The requested status.
        to: OperationStatus,
    },
    /// A record given to `insert` breaks an invariant.
    #[error("invalid operation record {id:?}: {reason}")]
    InvalidRecord {
        /// The record's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A stored row could not be read back.
    #[error("corrupt operation row {id:?}, column {column}: {reason}")]
    Corrupt {
        /// The row's id (or its sequence number if the id itself is unreadable).
        id: String,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A value could not be encoded as JSON for storage.
    #[error("cannot encode {column} of operation {id} as JSON: {source}")]
    Encode {
        /// The operation.
        id: String,
        /// The column.
        column: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A call handed to a blocking thread never ran, because the runtime shut down first.
    #[error("the registry write for operation {id} did not run: the runtime is shutting down")]
    NotRun {
        /// The operation.
        id: String,
    },
    /// An idempotency key that cannot be stored.
    #[error("idempotency key {key:?} {reason}")]
    InvalidIdempotencyKey {
        /// The key (its first 64 characters).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The retention setting is not a whole number of days.
    #[error(
        "{}={value:?} is not a whole number of days (0 keeps operations forever): {reason}",
        super::RETENTION_ENV
    )]
    BadRetention {
        /// The value found.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The database failed. When the file is damaged or not a database, the message says how
    /// to start afresh.
    #[error("operations database {path}: {source}{}", damaged_hint(source, path))]
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer ktrdr.
    #[error(
        "operations database {path} has {component} schema version {found}; this ktrdr supports \
         up to {supported}"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The part of the schema (`operations`, `idempotency`).
        component: &'static str,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
}

/// For a file SQLite cannot read as a database: how to get going again without losing it.
fn damaged_hint(source: &rusqlite::Error, path: &Path) -> String {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match source.sqlite_error_code() {
        Some(NotADatabase | DatabaseCorrupt) => format!(
            "; the file is damaged or not a ktrdr database. Move it aside (mv {0} {0}.damaged) \
             and run again: a new, empty registry is created, and the old file is kept for \
             inspection",
            path.display()
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_damaged_file_is_named_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ktrdr.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = crate::registry::SqliteRegistry::open(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("operations database {}", path.display())),
            "{text}"
        );
        assert!(
            text.contains(&format!("mv {0} {0}.damaged", path.display())),
            "{text}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            vec![0x5a; 8192],
            "the file is untouched"
        );
    }
}
