//! The advisory per-series lock (`flock` through [`std::fs::File::lock`]): held by an open
//! handle, released when the handle closes, so a crashed holder never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

use super::StoreError;

/// A held series lock; dropping it releases the lock.
#[derive(Debug)]
#[must_use = "the lock is released as soon as this guard is dropped"]
pub struct SeriesLock {
    _file: File,
}

fn open(path: &Path) -> io::Result<File> {
    // The lock file is never deleted: unlinking a lock file lets two processes lock two
    // different inodes under the same name.
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Blocks until the exclusive lock is ours (creating the lock file if needed).
pub(crate) fn exclusive(path: &Path) -> Result<SeriesLock, StoreError> {
    let file = open(path).map_err(StoreError::io("open lock file", path))?;
    file.lock().map_err(StoreError::io("lock", path))?;
    Ok(SeriesLock { _file: file })
}

/// The exclusive lock if it is free now, `None` if someone holds it.
pub(crate) fn try_exclusive(path: &Path) -> Result<Option<SeriesLock>, StoreError> {
    let file = open(path).map_err(StoreError::io("open lock file", path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SeriesLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io("lock", path)(e)),
    }
}

/// Blocks until a shared (reader) lock is ours. Readers never create files: without a lock
/// file `None` is returned and the caller follows invariant 5. Same when the lock file is not
/// readable to us.
pub(crate) fn shared(path: &Path) -> Result<Option<SeriesLock>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(StoreError::io("open lock file", path)(e)),
    };
    file.lock_shared().map_err(StoreError::io("lock", path))?;
    Ok(Some(SeriesLock { _file: file }))
}
