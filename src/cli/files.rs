//! Files the CLI reads secrets from and writes secrets to. Files that hold secret or key material (backup blobs,
//! downloaded secrets, geography exports, vault exports, login profiles) are created readable by their owner only
//! (0600) from the first byte, never widened and narrowed later.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Creates a file that must not exist yet, readable and writable by its owner only.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Writes a file that must not exist yet (as `az`, which refuses to overwrite), durably, with the default mode:
/// for public material (a certificate without its key).
pub fn write_new(file: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .with_context(|| format!("creating {} (it must not exist)", file.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// Writes a file that must not exist yet, durably, readable by its owner only.
pub fn write_new_private(file: &Path, data: &[u8]) -> Result<()> {
    let mut f = create_private(file)
        .with_context(|| format!("creating {} (it must not exist)", file.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// The temporary name `replace_private` writes under: `{file}.tmp`.
pub fn temporary_name(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes `file` whole or not at all, readable by its owner only: a fresh temporary file (0600) is written,
/// synced, and renamed over `file`.
pub fn replace_private(file: &Path, data: &[u8]) -> Result<()> {
    let tmp = temporary_name(file);
    // A leftover of an interrupted run is replaced, not reused (it may have another mode).
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", tmp.display()))
        }
        _ => {}
    }
    let mut f = create_private(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// A file's bytes, wiped from memory when dropped.
pub fn read_secret_file(file: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let mut data = Zeroizing::new(Vec::new());
    File::open(file)
        .and_then(|mut f| f.read_to_end(&mut data))
        .with_context(|| format!("reading {}", file.display()))?;
    Ok(data)
}

/// The first line of a file (a password or passphrase), without its line ending.
pub fn read_first_line(file: &Path) -> Result<Zeroizing<String>> {
    let data = read_secret_file(file)?;
    let text = std::str::from_utf8(&data)
        .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
    Ok(Zeroizing::new(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

/// Text that must be UTF-8 (`what` names where it came from), wiped when dropped.
pub fn utf8(bytes: Zeroizing<Vec<u8>>, what: &str) -> Result<Zeroizing<String>> {
    match String::from_utf8(bytes.to_vec()) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            let mut rejected = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut rejected);
            anyhow::bail!("{what} is not UTF-8 text")
        }
    }
}

/// All of standard input, wiped when dropped.
pub fn read_stdin() -> Result<Zeroizing<Vec<u8>>> {
    let mut data = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .read_to_end(&mut data)
        .context("reading standard input")?;
    Ok(data)
}
