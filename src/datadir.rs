//! The data directory: created 0700, and locked so that a second process on it refuses to
//! start instead of interleaving writes with ours.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::error::Error;

/// Holds the exclusive lock for as long as it lives.
pub struct DirLock {
    _file: File,
}

pub fn open_and_lock(dir: &Path) -> Result<DirLock, Error> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Io(format!("cannot create data directory {}", dir.display()), e))?;
    } else if !dir.is_dir() {
        return Err(Error::Store(format!(
            "BRAIN_DATA_DIR {} is not a directory",
            dir.display()
        )));
    }
    // Tighten a directory we created earlier or that an installer made too open.
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::Io(format!("cannot open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Store(format!(
            "data directory {} is in use by another brain-mcp process; stop it first or set BRAIN_DATA_DIR to another directory",
            dir.display()
        ))),
        Err(fs::TryLockError::Error(e)) => {
            Err(Error::Io(format!("cannot lock {}", path.display()), e))
        }
    }
}
