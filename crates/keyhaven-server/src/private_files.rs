//! Files only their owner may read: the data directory, keys and credentials, written atomically.

use crate::ServerError;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(ServerError::io(format!("creating {}", dir.display())))
}

/// Writes a file readable only by its owner, atomically (temp file, fsync, rename).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    write_atomic(path, bytes, 0o600)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ServerError> {
    let tmp = path.with_extension("tmp");
    let err = || ServerError::io(format!("writing {}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err())?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err())?;
    f.write_all(bytes).map_err(err())?;
    f.sync_all().map_err(err())?;
    std::fs::rename(&tmp, path).map_err(err())?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
