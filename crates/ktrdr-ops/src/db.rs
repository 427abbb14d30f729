//! Where ktrdr keeps its state, and how its SQLite database is opened.
//!
//! The operations registry and the ETA history share one database file,
//! `$KTRDR_HOME/ktrdr.db`; each opens its own connection (WAL lets readers and the single
//! writer proceed together).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// File name of the kernel's database inside [`ktrdr_home`].
pub const DB_FILE: &str = "ktrdr.db";

/// `$KTRDR_HOME`, or `~/.ktrdr` when unset.
pub fn ktrdr_home() -> PathBuf {
    if let Some(home) = std::env::var_os("KTRDR_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    let user_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    user_home.join(".ktrdr")
}

/// The default database path, `$KTRDR_HOME/ktrdr.db`.
pub fn default_db_path() -> PathBuf {
    ktrdr_home().join(DB_FILE)
}

/// Opens (creating parent folders and the file if needed) a connection in WAL mode with a busy
/// timeout, so that a second process waits for the writer instead of failing at once.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // A failure here surfaces as the open error below, which names the path.
        let _ = std::fs::create_dir_all(parent);
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// An in-memory connection with the same settings, for tests.
pub fn open_in_memory() -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}
