//! How an [`OperationRecord`] becomes a row and back: the insert, timestamps, JSON cells, and
//! errors that name the row and the column of anything unreadable.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{OperationRecord, OperationStatus, Owner, RegistryError, UnknownStatus};

/// Timestamps are stored as fixed-width RFC 3339 text in UTC, so text order is time order.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(super) fn encode<T: Serialize + ?Sized>(
    id: &str,
    column: &'static str,
    value: &T,
) -> Result<String, RegistryError> {
    serde_json::to_string(value).map_err(|source| RegistryError::Encode {
        id: id.to_owned(),
        column,
        source,
    })
}

pub(super) fn encode_opt<T: Serialize>(
    id: &str,
    column: &'static str,
    value: Option<&T>,
) -> Result<Option<String>, RegistryError> {
    value.map(|v| encode(id, column, v)).transpose()
}

/// Inserts `record` as a new row through `conn` (a connection or a transaction on the
/// database at `path`); an id already present is [`RegistryError::Duplicate`].
pub(super) fn insert_row(
    conn: &Connection,
    record: &OperationRecord,
    path: &Path,
) -> Result<(), RegistryError> {
    let id = &record.id;
    let metadata = encode(id, "metadata", &record.metadata)?;
    let progress = encode_opt(id, "progress", record.progress.as_ref())?;
    let summary = encode_opt(id, "result_summary", record.result_summary.as_ref())?;
    let reason = encode_opt(id, "cancel_reason", record.cancel_reason.as_ref())?;
    let result = conn
        .prepare_cached(
            "INSERT INTO operations (id, operation_type, status, metadata, progress, \
             result_summary, error, cancel_reason, created_at, started_at, finished_at, \
             updated_at, owner_pid, owner_host, owner_start) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                id,
                record.operation_type,
                record.status.as_str(),
                metadata,
                progress,
                summary,
                record.error,
                reason,
                ts(record.created_at),
                record.started_at.map(ts),
                record.finished_at.map(ts),
                ts(record.updated_at),
                record.owner.pid,
                record.owner.host,
                record.owner.start_token,
            ])
        });
    match result {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Err(RegistryError::Duplicate { id: id.clone() })
        }
        Err(source) => Err(RegistryError::Database {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads one row, naming the row and column of anything unreadable.
pub(super) fn read_record(row: &Row<'_>) -> Result<OperationRecord, RegistryError> {
    let id = read_id(row, 0, 1)?;
    let cells = Cells { row, id: &id };
    Ok(OperationRecord {
        operation_type: cells.get(2, "operation_type")?,
        status: cells.status(3)?,
        metadata: cells.json(4, "metadata")?,
        progress: cells.json_opt(5, "progress")?,
        result_summary: cells.json_opt(6, "result_summary")?,
        error: cells.get(7, "error")?,
        cancel_reason: cells.json_opt(8, "cancel_reason")?,
        created_at: cells.time(9, "created_at")?,
        started_at: cells.time_opt(10, "started_at")?,
        finished_at: cells.time_opt(11, "finished_at")?,
        updated_at: cells.time(12, "updated_at")?,
        owner: cells.owner(13)?,
        id,
    })
}

/// The id at `id_idx`; if it is unreadable, the error names the row by its `seq` instead.
pub(super) fn read_id(
    row: &Row<'_>,
    seq_idx: usize,
    id_idx: usize,
) -> Result<String, RegistryError> {
    row.get(id_idx).map_err(|e| {
        let seq: Option<i64> = row.get(seq_idx).ok();
        RegistryError::Corrupt {
            id: format!(
                "seq {}",
                seq.map_or_else(|| "?".to_owned(), |s| s.to_string())
            ),
            column: "id",
            reason: e.to_string(),
        }
    })
}

/// The cells of one row, read with errors that name the row's operation id.
pub(super) struct Cells<'a> {
    pub(super) row: &'a Row<'a>,
    pub(super) id: &'a str,
}

impl Cells<'_> {
    fn corrupt(&self, column: &'static str, reason: impl ToString) -> RegistryError {
        RegistryError::Corrupt {
            id: self.id.to_owned(),
            column,
            reason: reason.to_string(),
        }
    }

    fn get<T: rusqlite::types::FromSql>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<T, RegistryError> {
        self.row.get(idx).map_err(|e| self.corrupt(column, e))
    }

    pub(super) fn status(&self, idx: usize) -> Result<OperationStatus, RegistryError> {
        let text: String = self.get(idx, "status")?;
        text.parse()
            .map_err(|e: UnknownStatus| self.corrupt("status", e))
    }

    /// The owner from three consecutive columns: pid, host, start token.
    pub(super) fn owner(&self, idx: usize) -> Result<Owner, RegistryError> {
        let pid: i64 = self.get(idx, "owner_pid")?;
        Ok(Owner {
            pid: u32::try_from(pid).map_err(|e| self.corrupt("owner_pid", e))?,
            host: self.get(idx + 1, "owner_host")?,
            start_token: self.get(idx + 2, "owner_start")?,
        })
    }

    pub(super) fn json_opt<T: DeserializeOwned>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<T>, RegistryError> {
        let text: Option<String> = self.get(idx, column)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| self.corrupt(column, e)))
            .transpose()
    }

    fn json<T: DeserializeOwned>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<T, RegistryError> {
        self.json_opt(idx, column)?
            .ok_or_else(|| self.corrupt(column, "NULL"))
    }

    fn time_opt(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>, RegistryError> {
        let text: Option<String> = self.get(idx, column)?;
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| self.corrupt(column, format!("{t:?}: {e}")))
        })
        .transpose()
    }

    fn time(&self, idx: usize, column: &'static str) -> Result<DateTime<Utc>, RegistryError> {
        self.time_opt(idx, column)?
            .ok_or_else(|| self.corrupt(column, "NULL"))
    }
}
