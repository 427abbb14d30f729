//! The registry's SQL schema and its migration, guarded by the `schema_version` table.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::RegistryError;

/// The version of the `operations` component this build writes.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// The version of the `idempotency` component (the keys of idempotent starts) this build
/// writes; a component of its own, so databases written before it gain the table on open.
pub(super) const IDEMPOTENCY_VERSION: i64 = 1;

/// Idempotency keys: a key names the one operation started for it, with the fingerprint of the
/// request that started it. Dropped by retention cleanup with (or after) their operation.
pub(super) const IDEMPOTENCY_V1: &str = "
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
";

// No index on `status`: it has seven values, so it would not narrow a listing much, and
// maintaining it doubled the cost of every write (measured: 72 → 151 µs per recorded operation).
// Retention cleanup keeps the table small enough to scan: the CLI opens the registry with
// `SqliteRegistry::open_with_retention`, which drops old finished operations every time.
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE operations (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    operation_type TEXT NOT NULL,
    status         TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    progress       TEXT,
    result_summary TEXT,
    error          TEXT,
    cancel_reason  TEXT,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    updated_at     TEXT NOT NULL,
    owner_pid      INTEGER NOT NULL,
    owner_host     TEXT NOT NULL,
    owner_start    TEXT
);
CREATE INDEX operations_by_created ON operations (created_at DESC, seq DESC);
";

/// The columns of an operation row, in the order [`super::rows::read_record`] reads them.
pub(super) const COLUMNS: &str =
    "seq, id, operation_type, status, metadata, progress, result_summary, \
                       error, cancel_reason, created_at, started_at, finished_at, updated_at, \
                       owner_pid, owner_host, owner_start";

/// Creates the tables of each component missing from `schema_version` (all on first open);
/// refuses a database with a component written by a newer schema.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), RegistryError> {
    let db_err = |source| RegistryError::Database {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             component TEXT PRIMARY KEY,
             version   INTEGER NOT NULL
         )",
    )
    .map_err(db_err)?;
    for (component, version, ddl) in [
        ("operations", SCHEMA_VERSION, SCHEMA_V1),
        ("idempotency", IDEMPOTENCY_VERSION, IDEMPOTENCY_V1),
    ] {
        let found: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_version WHERE component = ?1",
                [component],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        match found {
            None => {
                tx.execute_batch(ddl).map_err(db_err)?;
                tx.execute(
                    "INSERT INTO schema_version (component, version) VALUES (?1, ?2)",
                    rusqlite::params![component, version],
                )
                .map_err(db_err)?;
            }
            Some(found) if found == version => {}
            Some(found) => {
                return Err(RegistryError::SchemaTooNew {
                    path: path.to_path_buf(),
                    component,
                    found,
                    supported: version,
                })
            }
        }
    }
    tx.commit().map_err(db_err)
}
