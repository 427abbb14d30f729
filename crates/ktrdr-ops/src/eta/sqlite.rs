//! The ETA history in the kernel's SQLite database (table `eta_history`).
//!
//! # Invariants
//!
//! The invariants of [`super::history`] hold; each write is one transaction, so a crash leaves
//! either the whole write or none of it (SQLite's journal gives the atomicity). An import finds
//! the records already stored (invariant 4) inside its transaction, by reading
//! `ktrdr_legacy.timestamp` out of the stored contexts, so the rows of databases written before
//! that check existed count too.
//!
//! # Lock order
//!
//! One mutex around the connection; no call holds it while calling out.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::history::{records_to_import, DurationRecord, EtaHistory, DEFAULT_KEEP};
use super::{EtaError, EtaKey, LEGACY_CONTEXT_FIELD};
use crate::db;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS eta_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT    NOT NULL,
    duration_secs REAL    NOT NULL,
    finished_at   INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    context       TEXT    NOT NULL  -- a JSON object
);
CREATE INDEX IF NOT EXISTS eta_history_by_key ON eta_history (key, finished_at, id);
CREATE TABLE IF NOT EXISTS eta_imports (
    marker      TEXT    PRIMARY KEY,
    imported_at INTEGER NOT NULL,
    records     INTEGER NOT NULL -- how many it wrote (records already stored are not)
);
";

/// [`EtaHistory`] in SQLite, sharing the registry's database file.
#[derive(Debug)]
pub struct SqliteEtaHistory {
    path: PathBuf,
    keep: usize,
    conn: Mutex<Connection>,
}

impl SqliteEtaHistory {
    /// Opens (creating if needed) the history in the database at `path`, keeping
    /// [`DEFAULT_KEEP`] records per key. Use [`db::default_db_path`] for the usual file.
    pub fn open(path: &Path) -> Result<Self, EtaError> {
        let conn = db::open(path).map_err(|source| EtaError::Db {
            path: path.to_owned(),
            source,
        })?;
        Self::with_connection(conn, path.to_owned())
    }

    /// The history in a private in-memory database.
    pub fn open_in_memory() -> Result<Self, EtaError> {
        let path = PathBuf::from(":memory:");
        let conn = db::open_in_memory().map_err(|source| EtaError::Db {
            path: path.clone(),
            source,
        })?;
        Self::with_connection(conn, path)
    }

    /// Keeps `keep` (at least 1) records per key from now on.
    pub fn with_keep(mut self, keep: usize) -> Self {
        self.keep = keep.max(1);
        self
    }

    fn with_connection(conn: Connection, path: PathBuf) -> Result<Self, EtaError> {
        conn.execute_batch(SCHEMA).map_err(|source| EtaError::Db {
            path: path.clone(),
            source,
        })?;
        Ok(SqliteEtaHistory {
            path,
            keep: DEFAULT_KEEP,
            conn: Mutex::new(conn),
        })
    }

    fn db_err(&self, source: rusqlite::Error) -> EtaError {
        EtaError::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // The connection holds no state of ours that a panic could leave inconsistent: an open
        // transaction is rolled back when its guard drops.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        key: &str,
        record: &DurationRecord,
    ) -> Result<(), EtaError> {
        // Serialised in place (no clone into a `Value`); a map of JSON values with string keys
        // cannot fail to encode, but an error would still be reported, not unwrapped.
        let context =
            serde_json::to_string(&record.context).map_err(|e| EtaError::InvalidRecord {
                key: key.to_owned(),
                reason: format!("context cannot be encoded: {e}"),
            })?;
        tx.prepare_cached(
            "INSERT INTO eta_history (key, duration_secs, finished_at, context) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                key,
                record.duration_secs,
                record.finished_at.timestamp_micros(),
                context
            ])
        })
        .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    fn prune(&self, tx: &rusqlite::Transaction<'_>, key: &str) -> Result<(), EtaError> {
        // Deletes what is at or below the first record past the newest `keep`: two short walks
        // of the `(key, finished_at, id)` index. (`id NOT IN (newest keep)` built a temporary
        // list and scanned the key's rows on every write: 38 of a record's 73 µs.) With `keep`
        // records or fewer the subquery is NULL and nothing is deleted.
        tx.prepare_cached(
            "DELETE FROM eta_history WHERE key = ?1 AND (finished_at, id) <= (
                 SELECT finished_at, id FROM eta_history WHERE key = ?1
                 ORDER BY finished_at DESC, id DESC LIMIT 1 OFFSET ?2)",
        )
        .and_then(|mut stmt| stmt.execute(params![key, self.keep as i64]))
        .map_err(|e| self.db_err(e))?;
        Ok(())
    }
}

impl EtaHistory for SqliteEtaHistory {
    fn record(&self, key: &EtaKey, record: DurationRecord) -> Result<(), EtaError> {
        record.validate(key)?;
        let key = key.to_string();
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        self.insert(&tx, &key, &record)?;
        self.prune(&tx, &key)?;
        tx.commit().map_err(|e| self.db_err(e))
    }

    fn records(&self, key: &EtaKey) -> Result<Vec<DurationRecord>, EtaError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, duration_secs, finished_at, context FROM eta_history
                 WHERE key = ?1 ORDER BY finished_at, id",
            )
            .map_err(|e| self.db_err(e))?;
        let rows = stmt
            .query_map([key.to_string()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, f64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, duration_secs, micros, context) = row.map_err(|e| self.db_err(e))?;
            let corrupt = |reason: String| EtaError::CorruptRow {
                path: self.path.clone(),
                row_id: id,
                reason,
            };
            let finished_at = DateTime::<Utc>::from_timestamp_micros(micros)
                .ok_or_else(|| corrupt(format!("finished_at {micros} µs is out of range")))?;
            let context = match serde_json::from_str(&context) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(other) => return Err(corrupt(format!("context is not a JSON object: {other}"))),
                Err(e) => return Err(corrupt(format!("context is not JSON: {e}"))),
            };
            out.push(DurationRecord {
                duration_secs,
                finished_at,
                context,
            });
        }
        Ok(out)
    }

    fn import_once(
        &self,
        marker: &str,
        records: &[(EtaKey, DurationRecord)],
    ) -> Result<Option<usize>, EtaError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        let seen: Option<i64> = tx
            .query_row(
                "SELECT records FROM eta_imports WHERE marker = ?1",
                [marker],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db_err(e))?;
        if seen.is_some() {
            return Ok(None);
        }
        // A context that is not JSON (a corrupt row, reported when the key is read) is no match
        // rather than an error that would stop every import.
        let origin_path = format!("$.{LEGACY_CONTEXT_FIELD}.timestamp");
        let fresh = records_to_import(records, EtaKey::to_string, |key, duration, origin| {
            tx.prepare_cached(
                "SELECT count(*) FROM eta_history WHERE key = ?1 AND duration_secs = ?2
                 AND CASE WHEN json_valid(context) THEN json_extract(context, ?3) END = ?4",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![key, duration, origin_path, origin], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .map(|n| n as usize)
            .map_err(|e| self.db_err(e))
        })?;
        // No pruning: an import stores every record it brings (invariant 2).
        for (key, record) in &fresh {
            self.insert(&tx, &key.to_string(), record)?;
        }
        tx.execute(
            "INSERT INTO eta_imports (marker, imported_at, records) VALUES (?1, ?2, ?3)",
            params![marker, Utc::now().timestamp_micros(), fresh.len() as i64],
        )
        .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(Some(fresh.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(secs: i64, micros: u32, duration: f64) -> DurationRecord {
        let mut context = serde_json::Map::new();
        context.insert("data_points".into(), 5000.into());
        context.insert("symbol".into(), "AAPL".into());
        // A float that a fast, inexact JSON parser reads one ulp off.
        context.insert("ratio".into(), 985.8468459048679.into());
        DurationRecord {
            duration_secs: duration,
            finished_at: Utc
                .timestamp_opt(1_790_000_000 + secs, micros * 1000)
                .unwrap(),
            context,
        }
    }

    #[test]
    fn records_round_trip_exactly_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ktrdr.db");
        let key = EtaKey::new("data_load").unwrap().with_items(5000);
        let written = vec![rec(0, 376_552, 45.35882004306689), rec(1, 1, 0.1 + 0.2)];
        {
            let h = SqliteEtaHistory::open(&path).unwrap();
            for r in &written {
                h.record(&key, r.clone()).unwrap();
            }
        }
        let h = SqliteEtaHistory::open(&path).unwrap();
        assert_eq!(h.records(&key).unwrap(), written);
        assert!(h
            .records(&EtaKey::new("other").unwrap())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn keeps_the_newest_per_key_and_falls_back() {
        let h = SqliteEtaHistory::open_in_memory().unwrap().with_keep(3);
        let coarse = EtaKey::new("op").unwrap().with_items(20);
        for (s, d) in [(5, 5.0), (1, 1.0), (3, 3.0), (4, 4.0), (2, 2.0)] {
            h.record(&coarse, rec(s, 0, d)).unwrap();
        }
        let got: Vec<f64> = h
            .records(&coarse)
            .unwrap()
            .iter()
            .map(|r| r.duration_secs)
            .collect();
        assert_eq!(got, [3.0, 4.0, 5.0]);
        // Ties on `finished_at` keep the later insertions, other keys are untouched.
        let tied = EtaKey::new("tied").unwrap();
        for d in [1.0, 2.0, 3.0, 4.0] {
            h.record(&tied, rec(7, 0, d)).unwrap();
        }
        let got: Vec<f64> = h.durations(&tied).unwrap();
        assert_eq!(got, [2.0, 3.0, 4.0]);
        assert_eq!(h.records(&coarse).unwrap().len(), 3);
        let exact = coarse.clone().with_symbol("X").unwrap();
        // Weighted median of [3, 4, 5] with weights 1, 2, 3.
        assert_eq!(h.prior(&exact).unwrap().unwrap().duration_secs, 4.0);
        assert!(matches!(
            h.record(&coarse, rec(9, 0, f64::NAN)),
            Err(EtaError::InvalidRecord { .. })
        ));
    }

    #[test]
    fn import_is_atomic_once_and_skips_stored_records() {
        fn legacy(secs: i64, duration: f64, origin: &str) -> DurationRecord {
            let mut r = rec(secs, 0, duration);
            r.context.insert(
                LEGACY_CONTEXT_FIELD.into(),
                serde_json::json!({ "timestamp": origin }),
            );
            r
        }
        let h = SqliteEtaHistory::open_in_memory().unwrap().with_keep(1);
        let key = EtaKey::new("op").unwrap();
        let batch = vec![
            (key.clone(), legacy(0, 1.0, "t0")),
            (key.clone(), legacy(1, 2.0, "t1")),
        ];
        assert_eq!(h.import_once("legacy:a", &batch).unwrap(), Some(2));
        assert_eq!(h.import_once("legacy:a", &batch).unwrap(), None);
        assert_eq!(
            h.records(&key).unwrap().len(),
            2,
            "an import prunes nothing"
        );

        // A row whose context is not JSON is no match, not an error.
        h.lock()
            .execute(
                "INSERT INTO eta_history (key, duration_secs, finished_at, context) VALUES ('op', 2.0, 0, 'not json')",
                [],
            )
            .unwrap();
        // A later version: one record gone, one new, an exact copy of a stored one taken twice
        // (one of the two is new), and the same origin with another duration.
        let later = vec![
            (key.clone(), legacy(1, 2.0, "t1")),
            (key.clone(), legacy(1, 2.0, "t1")),
            (key.clone(), legacy(1, 2.5, "t1")),
            (key.clone(), legacy(2, 3.0, "t2")),
        ];
        assert_eq!(h.import_once("legacy:b", &later).unwrap(), Some(3));
        h.lock()
            .execute("DELETE FROM eta_history WHERE context = 'not json'", [])
            .unwrap();
        assert_eq!(h.records(&key).unwrap().len(), 5);

        let bad = vec![
            (key.clone(), legacy(3, 3.0, "t3")),
            (key.clone(), legacy(4, -3.0, "t4")),
        ];
        assert!(h.import_once("legacy:c", &bad).is_err());
        let no_origin = vec![(key.clone(), rec(3, 0, 1.0))];
        assert!(matches!(
            h.import_once("legacy:c", &no_origin),
            Err(EtaError::InvalidRecord { .. })
        ));
        assert_eq!(
            h.records(&key).unwrap().len(),
            5,
            "nothing of a rejected batch is written"
        );
        assert_eq!(
            h.import_once("legacy:c", &batch).unwrap(),
            Some(0),
            "a rejected batch sets no marker"
        );
    }

    #[test]
    fn a_corrupt_row_is_a_typed_error() {
        let h = SqliteEtaHistory::open_in_memory().unwrap();
        h.lock()
            .execute(
                "INSERT INTO eta_history (key, duration_secs, finished_at, context) VALUES ('op', 1.0, 0, '[1]')",
                [],
            )
            .unwrap();
        let err = h.records(&EtaKey::new("op").unwrap()).unwrap_err();
        assert!(
            matches!(err, EtaError::CorruptRow { row_id: 1, .. }),
            "{err}"
        );
    }
}
