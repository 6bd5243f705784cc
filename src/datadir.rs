//! The data directory: created 0700, and locked so that a second process on it refuses to
//! start instead of interleaving writes with ours.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
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
    // Every file and socket we make is ours alone (0600): the directory's mode is not the only
    // thing standing between the notes and other users (issue 16, item 9).
    // SAFETY: umask has no failure mode and touches only the process's file-mode mask.
    unsafe {
        libc::umask(0o077);
    }
    check_ownership(dir)?;
    tighten_files(dir);
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

/// A data directory owned by another user, or one others may write to, is refused: whoever
/// can write there can replace the notes or the token store, or plant a symlink where we
/// will write. One we own is tightened to 0700 (an installer may have made it too open).
/// Root may open another user's directory that only its owner can write (the owner
/// commands, `brain-mcp grants` and the like, on a systemd `DynamicUser=` state directory).
fn check_ownership(dir: &Path) -> Result<(), Error> {
    let meta = fs::metadata(dir)
        .map_err(|e| Error::Io(format!("cannot read data directory {}", dir.display()), e))?;
    // SAFETY: geteuid has no failure mode.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o7777;
    if meta.uid() == me {
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                Error::Io(
                    format!(
                        "cannot make data directory {} private (chmod 0700)",
                        dir.display()
                    ),
                    e,
                )
            })?;
        }
        return Ok(());
    }
    if me == 0 && mode & 0o022 == 0 {
        return Ok(());
    }
    Err(Error::Store(format!(
        "data directory {} belongs to uid {} (mode {mode:04o}), and this process runs as uid {me}: \
         refusing to keep notes where another user can change them; chown it to the user \
         brain-mcp runs as, or set BRAIN_DATA_DIR to a directory of its own",
        dir.display(),
        meta.uid()
    )))
}

/// Files an earlier version (or a copy) left readable by others become 0600.
fn tighten_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    // SAFETY: geteuid has no failure mode.
    let me = unsafe { libc::geteuid() };
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_file() && meta.uid() == me && meta.mode() & 0o077 != 0 {
            let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o600));
        }
    }
}
