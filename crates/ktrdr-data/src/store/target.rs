//! What a series path names on disk. A series file must be a regular file or a symlink to one
//! (invariant 8 of [`super`]): reads and writes both follow the link, and anything else (a
//! FIFO, a socket, a device, a directory) is refused by its type before it is opened, because
//! opening a FIFO for reading waits for a writer and would hang every command.

use std::borrow::Cow;
use std::fs::{self, FileType};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::error::StoreError;

/// Fails unless `path`, links followed, is a regular file or does not exist (the caller's open
/// reports a missing file in its own words).
pub(super) fn check_regular(path: &Path) -> Result<(), StoreError> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(StoreError::NotRegular {
            path: path.to_owned(),
            what: format!("a {}", kind(m.file_type())),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("stat", path)(e)),
    }
}

/// The file a rewrite of `path` replaces: `path` itself, or for a symlink the file it leads to,
/// so that a rewrite, like an append, changes the target and the link stays a link. A link to
/// nothing is refused: where the new file should go is not known.
pub(super) fn write_target(path: &Path) -> Result<Cow<'_, Path>, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => {
                check_regular(&target)?;
                Ok(Cow::Owned(target))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotRegular {
                path: path.to_owned(),
                what: match fs::read_link(path) {
                    Ok(to) => format!("a symlink to {}, which does not exist", to.display()),
                    Err(_) => "a symlink to a file that does not exist".into(),
                },
            }),
            Err(e) => Err(StoreError::io("resolve symlink", path)(e)),
        },
        Ok(_) => {
            check_regular(path)?;
            Ok(Cow::Borrowed(path))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Cow::Borrowed(path)),
        Err(e) => Err(StoreError::io("stat", path)(e)),
    }
}

fn kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}
