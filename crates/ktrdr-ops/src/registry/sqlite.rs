//! The SQLite [`Registry`], in the kernel database shared with the ETA history.
//!
//! # Invariants
//!
//! 1. The compare-and-set of [`Registry::transition`] is one `UPDATE … WHERE id = ? AND status
//!    IN (…)`: SQLite runs it atomically, also against other processes using the same file, and
//!    the number of changed rows says whether it applied.
//! 2. One connection per registry, behind a mutex held only for the statements of one call.
//!    No user code runs under it.
//! 3. Schema changes happen only in [`SqliteRegistry::open`] (through `schema::migrate`), inside
//!    an immediate transaction, guarded by the `operations` row of the `schema_version` table.
//!
//! # Lock order
//!
//! 1. `conn` is the only lock. `interrupt_dead_owners` releases it between its read and each
//!    transition (both take it), and judges owners (reading `/proc`) without it, and nothing else is locked while it is held. Across
//!    processes, SQLite's own file locks serialise writers (busy timeout in [`crate::db::open`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::idempotency::check_key;
use super::record::now;
use super::rows::{encode, encode_opt, insert_row, read_id, read_record, ts, Cells};
use super::schema::{migrate, COLUMNS};
use super::store::{check_record, check_transition, cleanup_cutoff, interrupt_dead};
use super::{
    CancelRequest, KeyClaim, OperationCount, OperationFilter, OperationList, OperationRecord,
    OperationStatus, Owner, Registry, RegistryError, Retention, TransitionPatch,
};
use crate::progress::ProgressState;

/// A [`Registry`] in a SQLite file (WAL mode, see [`crate::db::open`]).
///
/// Opening it marks the active operations of dead local processes `interrupted`
/// ([`Registry::interrupt_dead_owners`]); [`SqliteRegistry::interrupted_at_open`] lists them.
#[derive(Debug)]
pub struct SqliteRegistry {
    conn: Mutex<Connection>,
    path: PathBuf,
    interrupted_at_open: Vec<String>,
}

impl SqliteRegistry {
    /// Opens (creating if needed) the registry in the database at `path`, usually
    /// [`crate::db::default_db_path`]. Deletes nothing; see
    /// [`SqliteRegistry::open_with_retention`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryError> {
        let path = path.as_ref().to_path_buf();
        let db_err = |source| RegistryError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = crate::db::open(&path).map_err(db_err)?;
        migrate(&mut conn, &path)?;
        let mut registry = SqliteRegistry {
            conn: Mutex::new(conn),
            path,
            interrupted_at_open: Vec::new(),
        };
        registry.interrupted_at_open = registry.interrupt_dead_owners()?;
        Ok(registry)
    }

    /// [`SqliteRegistry::open`], then deletes the terminal operations older than `retention`
    /// (usually [`Retention::from_env`]); what a long-lived command should use, so the table
    /// does not grow without bound.
    ///
    /// A failed cleanup is logged, not returned: it is housekeeping, the registry works without
    /// it, and the next open tries again.
    pub fn open_with_retention(
        path: impl AsRef<Path>,
        retention: Retention,
    ) -> Result<Self, RegistryError> {
        let registry = Self::open(path)?;
        if let Some(max_age) = retention.max_age() {
            match registry.cleanup(max_age) {
                Ok(removed) => tracing::debug!(removed, ?retention, "old operations removed"),
                Err(error) => tracing::warn!(%error, "old operations not removed"),
            }
        }
        Ok(registry)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ids of the operations this `open` found active under a dead owner and marked
    /// `interrupted`.
    pub fn interrupted_at_open(&self) -> &[String] {
        &self.interrupted_at_open
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock is held cannot leave SQLite half-written: every statement is
        // atomic, so the connection is usable after poisoning.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn db_err(&self, source: rusqlite::Error) -> RegistryError {
        RegistryError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Id, status and owner of every active operation. Only these columns are read, so a cell
    /// this build cannot decode elsewhere in the row (progress written by a newer build, say)
    /// neither stops the sweep nor hides its row from it; a row whose owner itself is unreadable
    /// cannot be judged and is skipped with a warning.
    fn active_owners(&self) -> Result<Vec<(String, OperationStatus, Owner)>, RegistryError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, id, status, owner_pid, owner_host, owner_start FROM operations \
                 WHERE status IN ('pending', 'running', 'cancelling')",
            )
            .map_err(|e| self.db_err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.db_err(e))?;
        let mut active = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.db_err(e))? {
            let read = read_id(row, 0, 1).and_then(|id| {
                let cells = Cells { row, id: &id };
                let status = cells.status(2)?;
                let owner = cells.owner(3)?;
                Ok((id, status, owner))
            });
            match read {
                Ok(entry) => active.push(entry),
                Err(error) => {
                    tracing::warn!(%error, "owner unreadable; operation left as it is");
                }
            }
        }
        Ok(active)
    }

    /// The records matching `where_clause`. With `skip_corrupt`, a row that cannot be decoded
    /// is logged and left out instead of failing the whole call (a listing should show what it
    /// can; `get` of that id still reports the problem).
    fn select(
        &self,
        where_clause: &str,
        params: &[&dyn ToSql],
        skip_corrupt: bool,
    ) -> Result<Vec<OperationRecord>, RegistryError> {
        let conn = self.lock();
        let sql = format!("SELECT {COLUMNS} FROM operations {where_clause}");
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.db_err(e))?;
        let mut rows = stmt.query(params).map_err(|e| self.db_err(e))?;
        let mut records = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.db_err(e))? {
            match read_record(row) {
                Ok(record) => records.push(record),
                Err(RegistryError::Corrupt { id, column, reason }) if skip_corrupt => {
                    tracing::warn!(%id, column, %reason, "skipping an unreadable operation row");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(records)
    }

    fn status_of(
        &self,
        conn: &Connection,
        id: &str,
    ) -> Result<Option<OperationStatus>, RegistryError> {
        let status: Option<String> = conn
            .prepare_cached("SELECT status FROM operations WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
            .map_err(|e| self.db_err(e))?;
        status
            .map(|s| {
                s.parse()
                    .map_err(|e: super::UnknownStatus| RegistryError::Corrupt {
                        id: id.to_owned(),
                        column: "status",
                        reason: e.to_string(),
                    })
            })
            .transpose()
    }
}

impl Registry for SqliteRegistry {
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        check_record(record)?;
        insert_row(&self.lock(), record, &self.path)
    }

    fn insert_idempotent(
        &self,
        record: &OperationRecord,
        key: &str,
        fingerprint: &str,
    ) -> Result<KeyClaim, RegistryError> {
        check_key(key)?;
        check_record(record)?;
        let mut conn = self.lock();
        // Immediate: the write lock from the start, so two processes claiming one key
        // serialise here instead of both reading it free.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.db_err(e))?;
        let found: Option<(String, String, bool)> = tx
            .prepare_cached(
                "SELECT fingerprint, operation_id, \
                 EXISTS (SELECT 1 FROM operations o WHERE o.id = operation_id) \
                 FROM idempotency_keys WHERE key = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([key], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .optional()
            })
            .map_err(|e| self.db_err(e))?;
        match found {
            // Dropping the transaction rolls back: nothing was written.
            Some((stored, operation_id, true)) => {
                return Ok(if stored == fingerprint {
                    KeyClaim::Existing { operation_id }
                } else {
                    KeyClaim::Conflict { operation_id }
                });
            }
            // Its operation was deleted: the key is free again.
            Some((_, _, false)) => {
                tx.execute("DELETE FROM idempotency_keys WHERE key = ?1", [key])
                    .map_err(|e| self.db_err(e))?;
            }
            None => {}
        }
        insert_row(&tx, record, &self.path)?;
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (key, fingerprint, operation_id, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![key, fingerprint, record.id, ts(record.created_at)])
        })
        .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(KeyClaim::Inserted)
    }

    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError> {
        check_transition(expected, to)?;
        let progress = encode_opt(id, "progress", patch.progress.as_ref())?;
        let summary = encode_opt(id, "result_summary", patch.result_summary.as_ref())?;
        let reason = encode_opt(id, "cancel_reason", patch.cancel_reason.as_ref())?;
        let now = ts(now());
        let started = (to == OperationStatus::Running).then_some(now.as_str());
        let finished = to.is_terminal().then_some(now.as_str());
        let placeholders: Vec<String> = (0..expected.len())
            .map(|i| format!("?{}", 10 + i))
            .collect();
        let sql = format!(
            "UPDATE operations SET status = ?1, updated_at = ?2, \
             started_at = COALESCE(started_at, ?3), finished_at = COALESCE(finished_at, ?4), \
             progress = COALESCE(?5, progress), result_summary = COALESCE(?6, result_summary), \
             error = COALESCE(?7, error), cancel_reason = COALESCE(?8, cancel_reason) \
             WHERE id = ?9 AND status IN ({})",
            placeholders.join(", ")
        );
        let to_str = to.as_str();
        let mut values: Vec<&dyn ToSql> = vec![
            &to_str,
            &now,
            &started,
            &finished,
            &progress,
            &summary,
            &patch.error,
            &reason,
            &id,
        ];
        let expected_str: Vec<&'static str> = expected.iter().map(|s| s.as_str()).collect();
        values.extend(expected_str.iter().map(|s| s as &dyn ToSql));
        let conn = self.lock();
        let changed = conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute(values.as_slice()))
            .map_err(|e| self.db_err(e))?;
        if changed == 1 {
            return Ok(());
        }
        match self.status_of(&conn, id)? {
            None => Err(RegistryError::NotFound { id: id.to_owned() }),
            Some(actual) => Err(RegistryError::Conflict {
                id: id.to_owned(),
                actual,
                expected: expected.to_vec(),
                to,
            }),
        }
    }

    fn update_progress(&self, id: &str, progress: &ProgressState) -> Result<bool, RegistryError> {
        let json = encode(id, "progress", progress)?;
        let conn = self.lock();
        let changed = conn
            .prepare_cached(
                "UPDATE operations SET progress = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND status IN ('pending', 'running', 'cancelling')",
            )
            .and_then(|mut stmt| stmt.execute(params![json, ts(now()), id]))
            .map_err(|e| self.db_err(e))?;
        if changed == 1 {
            return Ok(true);
        }
        match self.status_of(&conn, id)? {
            None => Err(RegistryError::NotFound { id: id.to_owned() }),
            Some(_) => Ok(false),
        }
    }

    fn get(&self, id: &str) -> Result<Option<OperationRecord>, RegistryError> {
        Ok(self.select("WHERE id = ?1", &[&id], false)?.pop())
    }

    fn list(&self, filter: &OperationFilter) -> Result<OperationList, RegistryError> {
        let mut conditions = Vec::new();
        let mut values: Vec<&dyn ToSql> = Vec::new();
        if filter.active_only {
            conditions.push("status IN ('pending', 'running', 'cancelling')".to_owned());
        }
        let status = filter.status.map(OperationStatus::as_str);
        if let Some(status) = &status {
            values.push(status);
            conditions.push(format!("status = ?{}", values.len()));
        }
        if let Some(kind) = &filter.operation_type {
            values.push(kind);
            conditions.push(format!("operation_type = ?{}", values.len()));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let (total_count, active_count) = {
            let conn = self.lock();
            let count = |sql: &str, values: &[&dyn ToSql]| -> Result<usize, RegistryError> {
                let n: i64 = conn
                    .prepare_cached(sql)
                    .and_then(|mut stmt| stmt.query_row(values, |row| row.get(0)))
                    .map_err(|e| self.db_err(e))?;
                Ok(usize::try_from(n).unwrap_or(0))
            };
            (
                count(
                    &format!("SELECT COUNT(*) FROM operations {where_clause}"),
                    &values,
                )?,
                count(
                    "SELECT COUNT(*) FROM operations \
                     WHERE status IN ('pending', 'running', 'cancelling')",
                    &[],
                )?,
            )
        };
        // SQLite reads a negative LIMIT as "no limit".
        let limit = filter
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        values.push(&limit);
        values.push(&offset);
        let page = format!(
            "{where_clause} ORDER BY created_at DESC, seq DESC LIMIT ?{} OFFSET ?{}",
            values.len() - 1,
            values.len()
        );
        let operations = self.select(&page, &values, true)?;
        Ok(OperationList {
            operations,
            total_count,
            active_count,
        })
    }

    fn cancel_requests(&self, ids: &[String]) -> Result<Vec<CancelRequest>, RegistryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The ids travel as one JSON array, so the statement is the same (and cached) for any
        // number of them and never meets SQLite's limit on bound parameters.
        let wanted = encode("(cancel requests)", "id", ids)?;
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, id, cancel_reason FROM operations WHERE status = 'cancelling' \
                 AND id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(|e| self.db_err(e))?;
        let mut rows = stmt.query([wanted]).map_err(|e| self.db_err(e))?;
        let mut requests = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.db_err(e))? {
            let id = read_id(row, 0, 1)?;
            let cells = Cells { row, id: &id };
            // The request stands even when its reason is unreadable: the operation still stops.
            let reason = cells.json_opt(2, "cancel_reason").unwrap_or_else(|error| {
                tracing::warn!(%id, %error, "cancel reason unreadable; cancelling without it");
                None
            });
            requests.push(CancelRequest { id, reason });
        }
        Ok(requests)
    }

    fn interrupt_dead_owners(&self) -> Result<Vec<String>, RegistryError> {
        interrupt_dead(self, self.active_owners()?)
    }

    fn counts(&self) -> Result<Vec<OperationCount>, RegistryError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT operation_type, status, COUNT(*) FROM operations \
                 GROUP BY operation_type, status ORDER BY operation_type, status",
            )
            .map_err(|e| self.db_err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.db_err(e))?;
        let mut counts = Vec::new();
        for row in rows {
            let (operation_type, status, count) = row.map_err(|e| self.db_err(e))?;
            match status.parse() {
                Ok(status) => counts.push(OperationCount {
                    operation_type,
                    status,
                    count: usize::try_from(count).unwrap_or(0),
                }),
                // Written by a newer build: counted nowhere rather than miscounted.
                Err(error) => tracing::warn!(%error, "operations in an unknown status not counted"),
            }
        }
        Ok(counts)
    }

    fn cleanup(&self, older_than: Duration) -> Result<usize, RegistryError> {
        let Some(cutoff) = cleanup_cutoff(older_than) else {
            return Ok(0);
        };
        let cutoff = ts(cutoff);
        let conn = self.lock();
        let removed = conn
            .prepare_cached(
                "DELETE FROM operations WHERE finished_at <= ?1 \
                 AND status IN ('completed', 'failed', 'cancelled', 'interrupted')",
            )
            .and_then(|mut stmt| stmt.execute([&cutoff]))
            .map_err(|e| self.db_err(e))?;
        // A key stays while its operation exists and is active or younger than the cut-off.
        conn.prepare_cached(
            "DELETE FROM idempotency_keys WHERE NOT EXISTS (\
             SELECT 1 FROM operations o WHERE o.id = idempotency_keys.operation_id \
             AND (o.status IN ('pending', 'running', 'cancelling') \
             OR idempotency_keys.created_at > ?1))",
        )
        .and_then(|mut stmt| stmt.execute([&cutoff]))
        .map_err(|e| self.db_err(e))?;
        Ok(removed)
    }
}
