//! Opening the kernel's state for a process that runs operations.
//!
//! [`Home::open_default`] is what the CLI and the servers call: the operations registry and
//! the ETA history in `$KTRDR_HOME/ktrdr.db` (see [`crate::db`]), the registry's retention from
//! [`RETENTION_ENV`](crate::registry::RETENTION_ENV), and the Python system's ETA caches
//! (`$KTRDR_HOME/cache/*time_estimation.pkl`) imported so a migrated deployment's first ETAs
//! are informed. The history remembers each imported file's content, so after the first time
//! this costs reading the caches (a few KB).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::eta::{default_legacy_dir, import_legacy, EtaHistory, ImportReport, SqliteEtaHistory};
use crate::operations::Operations;
use crate::registry::{Registry, RegistryError, Retention, SqliteRegistry};

/// The runner of a process, recording into the kernel database and learning durations there.
pub struct Home {
    operations: Operations,
    history: Option<Arc<dyn EtaHistory>>,
    eta_import: Option<ImportReport>,
}

impl Home {
    /// Opens `$KTRDR_HOME/ktrdr.db` with the retention of `$KTRDR_OPERATIONS_RETENTION_DAYS`
    /// (default 90 days) and imports the Python caches from `$KTRDR_HOME/cache`.
    pub fn open_default() -> Result<Home, RegistryError> {
        Home::open(
            &crate::db::default_db_path(),
            Retention::from_env()?,
            &[default_legacy_dir()],
        )
    }

    /// Opens the registry at `db_path` (dropping the finished operations older than
    /// `retention`) and the ETA history in the same file, importing the Python caches found in
    /// `legacy_dirs`.
    ///
    /// Only the registry is required. Without a readable history the runner estimates from the
    /// live rate alone, and a failed import costs only those priors; both are logged.
    pub fn open(
        db_path: &Path,
        retention: Retention,
        legacy_dirs: &[PathBuf],
    ) -> Result<Home, RegistryError> {
        let registry = SqliteRegistry::open_with_retention(db_path, retention)?;
        let (history, eta_import) = match SqliteEtaHistory::open(db_path) {
            Ok(history) => {
                let report = import_caches(&history, legacy_dirs);
                (Some(Arc::new(history) as Arc<dyn EtaHistory>), report)
            }
            Err(error) => {
                tracing::warn!(%error, "no ETA history; estimates use the live rate only");
                (None, None)
            }
        };
        Ok(Home {
            operations: Operations::new(Arc::new(registry), history.clone()),
            history,
            eta_import,
        })
    }

    /// The same home with its registry wrapped by `layer` (a decorator that measures the
    /// registry's calls, say): the runner records through the wrapper. Call it before running
    /// anything; the previous runner is replaced.
    pub fn layer_registry(
        self,
        layer: impl FnOnce(Arc<dyn Registry>) -> Arc<dyn Registry>,
    ) -> Home {
        let registry = layer(Arc::clone(self.operations.registry()));
        Home {
            operations: Operations::new(registry, self.history.clone()),
            ..self
        }
    }

    /// The runner.
    pub fn operations(&self) -> &Operations {
        &self.operations
    }

    /// What the import of the Python caches did, if it ran.
    pub fn eta_import(&self) -> Option<&ImportReport> {
        self.eta_import.as_ref()
    }
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Home")
            .field("operations", &self.operations)
            .field("history", &self.history.is_some())
            .field("eta_import", &self.eta_import)
            .finish()
    }
}

/// Imports the caches in `dirs`, logging the unreadable ones (moved aside by the import).
fn import_caches(history: &dyn EtaHistory, dirs: &[PathBuf]) -> Option<ImportReport> {
    let report = match import_legacy(dirs, history) {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, "the Python system's ETA caches were not imported");
            return None;
        }
    };
    for cache in &report.corrupt {
        let moved = cache.moved_to.as_ref().map_or_else(
            || "left in place".to_owned(),
            |to| format!("moved to {}", to.display()),
        );
        tracing::warn!(
            "the Python system's ETA cache {} cannot be read ({}); {moved}",
            cache.path.display(),
            cache.error
        );
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::OperationFilter;

    #[test]
    fn opens_the_registry_and_history_in_one_file_and_reports_the_import() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("home/ktrdr.db");
        let home = Home::open(&db, Retention::days(1), &[dir.path().join("no-cache")]).unwrap();
        let registry = home.operations().registry();
        assert_eq!(
            registry
                .list(&OperationFilter::default())
                .unwrap()
                .total_count,
            0
        );
        let report = home
            .eta_import()
            .expect("the history opened, so the import ran");
        assert!(report.imported.is_empty() && report.corrupt.is_empty());
        assert!(
            SqliteEtaHistory::open(&db).is_ok(),
            "the history shares the file"
        );
    }
}
