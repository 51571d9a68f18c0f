//! The root key file (`root.key` in the data directory): the root of the key hierarchy, kept outside the store
//! it protects, optionally wrapped under a passphrase.
//!
//! The file is JSON: `{"format": "keyhaven-root-key/2", "records": "authenticated", "key": B64}` or, protected,
//! `…, "protected": B64}` where `protected` is the key sealed under a key derived from the passphrase (argon2id,
//! see `keyhaven_crypto::seal_with_passphrase`). A file of exactly 32 raw bytes is the first format: its store was
//! written before records were authenticated, and the server converts the store at start, then rewrites the file.
//! A key file that its group or others may read is refused, as ssh refuses a private key.

use crate::ServerError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyhaven_core::StoredRecords;
use keyhaven_crypto::SealingKey;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const FORMAT: &str = "keyhaven-root-key/2";
const AUTHENTICATED: &str = "authenticated";
/// Binds a passphrase-sealed root key to its purpose.
const CONTEXT: &[u8] = b"keyhaven/v1/root-key";
/// The environment variable that may hold the passphrase.
pub const PASSPHRASE_ENV: &str = "KEYHAVEN_ROOT_KEY_PASSPHRASE";
/// The systemd credential (`LoadCredential=`) that may hold the passphrase.
pub const PASSPHRASE_CREDENTIAL: &str = "keyhaven-root-key-passphrase";
/// The shortest passphrase accepted when protecting a key.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyFile {
    format: String,
    records: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protected: Option<String>,
}

/// The root key as loaded.
pub struct RootKey {
    /// The key.
    pub key: SealingKey,
    /// What the store's records are.
    pub records: StoredRecords,
    /// Whether the file is protected by a passphrase.
    pub protected: bool,
}

/// Where a passphrase comes from, in order: the configured file, the environment variable
/// [`PASSPHRASE_ENV`], the systemd credential [`PASSPHRASE_CREDENTIAL`]. None when none is set.
pub fn configured_passphrase(
    file: Option<&Path>,
) -> Result<Option<Zeroizing<String>>, ServerError> {
    if let Some(path) = file {
        return read_passphrase_file(path).map(Some);
    }
    if let Some(v) = std::env::var_os(PASSPHRASE_ENV) {
        let v =
            Zeroizing::new(v.into_string().map_err(|_| {
                ServerError::Config(format!("{PASSPHRASE_ENV} is not valid UTF-8"))
            })?);
        return Ok(Some(v));
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = PathBuf::from(dir).join(PASSPHRASE_CREDENTIAL);
        if path.exists() {
            return read_passphrase_file(&path).map(Some);
        }
    }
    Ok(None)
}

/// A passphrase from a file (`-`: standard input), without its trailing line break.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<String>, ServerError> {
    let mut text = Zeroizing::new(String::new());
    if path == Path::new("-") {
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(
            ServerError::io("reading the passphrase from standard input"),
        )?;
    } else {
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(ServerError::io(format!("reading {}", path.display())))?,
        );
        text.push_str(
            std::str::from_utf8(&bytes).map_err(|_| {
                ServerError::Config(format!("{} is not UTF-8 text", path.display()))
            })?,
        );
    }
    while text.ends_with(['\n', '\r']) {
        text.pop();
    }
    if text.is_empty() {
        return Err(ServerError::Config(format!(
            "the passphrase in {} is empty",
            path.display()
        )));
    }
    Ok(text)
}

/// Refuses a key file that its group or others may read or write.
pub fn refuse_loose_permissions(path: &Path) -> Result<(), ServerError> {
    let meta =
        std::fs::metadata(path).map_err(ServerError::io(format!("reading {}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ServerError::Config(format!(
            "{} may be read by others (mode {mode:04o}); it holds a private key: make it readable by its owner \
             only (chmod 600 {})",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Loads the root key at `path`, creating it (protected if a passphrase is given) if there is none.
pub fn load_or_create(path: &Path, passphrase: Option<&str>) -> Result<RootKey, ServerError> {
    if !path.exists() {
        let key = SealingKey::generate()?;
        write(path, &key, passphrase)?;
        return Ok(RootKey {
            key,
            records: StoredRecords::Authenticated,
            protected: passphrase.is_some(),
        });
    }
    refuse_loose_permissions(path)?;
    let root = load(path, passphrase)?;
    if passphrase.is_some() && !root.protected {
        tracing::warn!(
            file = %path.display(),
            "a root key passphrase is configured but the root key is not protected by it; run \
             `keyhaven root-key protect` to protect it"
        );
    }
    Ok(root)
}

/// Reads the root key file.
fn load(path: &Path, passphrase: Option<&str>) -> Result<RootKey, ServerError> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(ServerError::io(format!("reading {}", path.display())))?,
    );
    if bytes.len() == keyhaven_crypto::KEY_LEN && bytes.first() != Some(&b'{') {
        return Ok(RootKey {
            key: SealingKey::from_bytes(&bytes)?,
            records: StoredRecords::Earlier,
            protected: false,
        });
    }
    let bad = |why: &str| {
        ServerError::Config(format!("{} is not a root key file: {why}", path.display()))
    };
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    if file.format != FORMAT || file.records != AUTHENTICATED {
        return Err(bad("unknown format"));
    }
    let b64 = |s: &str| {
        STANDARD
            .decode(s)
            .map(Zeroizing::new)
            .map_err(|_| bad("bad base64"))
    };
    match (file.key, file.protected) {
        (Some(k), None) => Ok(RootKey {
            key: SealingKey::from_bytes(&b64(&k)?).map_err(|_| bad("not a 32-byte key"))?,
            records: StoredRecords::Authenticated,
            protected: false,
        }),
        (None, Some(p)) => {
            let passphrase = passphrase.ok_or_else(|| {
                ServerError::Config(format!(
                    "{} is protected by a passphrase: give it with --root-key-passphrase-file, {PASSPHRASE_ENV} \
                     or the systemd credential {PASSPHRASE_CREDENTIAL}",
                    path.display()
                ))
            })?;
            let plain = keyhaven_crypto::open_with_passphrase(passphrase, CONTEXT, &b64(&p)?)
                .map_err(|_| {
                    ServerError::Config(format!(
                        "the root key passphrase does not open {}",
                        path.display()
                    ))
                })?;
            Ok(RootKey {
                key: SealingKey::from_bytes(&plain).map_err(|_| bad("not a 32-byte key"))?,
                records: StoredRecords::Authenticated,
                protected: true,
            })
        }
        _ => Err(bad("it needs exactly one of key and protected")),
    }
}

/// Writes the root key file (0600, atomically): sealed under `passphrase` if given.
fn write(path: &Path, key: &SealingKey, passphrase: Option<&str>) -> Result<(), ServerError> {
    let file = match passphrase {
        Some(p) => KeyFile {
            format: FORMAT.into(),
            records: AUTHENTICATED.into(),
            key: None,
            protected: Some(STANDARD.encode(keyhaven_crypto::seal_with_passphrase(
                p,
                CONTEXT,
                key.expose(),
            )?)),
        },
        None => KeyFile {
            format: FORMAT.into(),
            records: AUTHENTICATED.into(),
            key: Some(STANDARD.encode(key.expose())),
            protected: None,
        },
    };
    let json = Zeroizing::new(
        serde_json::to_vec_pretty(&file).map_err(|e| ServerError::Config(e.to_string()))?,
    );
    // The clear key's base64, if any, is wiped with the file's other copy.
    drop(file.key.map(Zeroizing::new));
    crate::private_files::write_private(path, &json)
}

/// Rewrites a first-format root key file in the current format once its store has been converted (the key
/// stays unprotected, as it was).
pub fn mark_store_authenticated(path: &Path, key: &SealingKey) -> Result<(), ServerError> {
    write(path, key, None)
}

/// Protects the root key at `path` with `passphrase` (at least [`MIN_PASSPHRASE_CHARS`] characters). An already
/// protected key is opened with `current` and sealed again under the new passphrase.
pub fn protect(path: &Path, passphrase: &str, current: Option<&str>) -> Result<(), ServerError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(ServerError::Config(format!(
            "the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"
        )));
    }
    refuse_loose_permissions(path)?;
    let root = load(path, current.or(Some(passphrase)))?;
    if root.records == StoredRecords::Earlier {
        return Err(earlier_store(path));
    }
    write(path, &root.key, Some(passphrase))
}

/// Removes the passphrase protection of the root key at `path` (opened with `passphrase`).
pub fn unprotect(path: &Path, passphrase: &str) -> Result<(), ServerError> {
    refuse_loose_permissions(path)?;
    let root = load(path, Some(passphrase))?;
    if root.records == StoredRecords::Earlier {
        return Err(earlier_store(path));
    }
    write(path, &root.key, None)
}

fn earlier_store(path: &Path) -> ServerError {
    ServerError::Config(format!(
        "{} belongs to a store written by an earlier version: start the server once to convert it first",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn created_protected_and_unprotected_keys_round_trip() {
        let d = dir();
        let path = d.path().join("root.key");
        let created = load_or_create(&path, None).unwrap();
        assert_eq!(created.records, StoredRecords::Authenticated);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        assert!(protect(&path, "short", None).is_err(), "too short");
        protect(&path, "correct horse battery staple", None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&STANDARD.encode(created.key.expose())),
            "not in the clear"
        );
        let e = load_or_create(&path, None).err().unwrap().to_string();
        assert!(e.contains("protected by a passphrase"), "{e}");
        let e = load_or_create(&path, Some("wrong passphrase!"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("does not open"), "{e}");
        let opened = load_or_create(&path, Some("correct horse battery staple")).unwrap();
        assert!(opened.protected);
        assert_eq!(opened.key.expose(), created.key.expose());

        protect(
            &path,
            "another long passphrase",
            Some("correct horse battery staple"),
        )
        .unwrap();
        assert!(unprotect(&path, "correct horse battery staple").is_err());
        unprotect(&path, "another long passphrase").unwrap();
        let plain = load_or_create(&path, None).unwrap();
        assert!(!plain.protected);
        assert_eq!(plain.key.expose(), created.key.expose());
    }

    #[test]
    fn first_format_keys_say_their_store_is_earlier_until_marked() {
        let d = dir();
        let path = d.path().join("root.key");
        let key = SealingKey::generate().unwrap();
        crate::private_files::write_private(&path, key.expose()).unwrap();
        let loaded = load_or_create(&path, None).unwrap();
        assert_eq!(loaded.records, StoredRecords::Earlier);
        assert!(protect(&path, "correct horse battery staple", None).is_err());
        mark_store_authenticated(&path, &loaded.key).unwrap();
        let again = load_or_create(&path, None).unwrap();
        assert_eq!(again.records, StoredRecords::Authenticated);
        assert_eq!(again.key.expose(), key.expose());
    }

    #[test]
    fn key_files_others_may_read_are_refused() {
        let d = dir();
        let path = d.path().join("root.key");
        load_or_create(&path, None).unwrap();
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = load_or_create(&path, None).err().unwrap().to_string();
            assert!(e.contains("chmod 600"), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(
            load_or_create(&path, None).is_ok(),
            "owner read-only is fine"
        );
    }

    #[test]
    fn passphrases_come_from_a_file_without_its_line_break() {
        let d = dir();
        let path = d.path().join("pass");
        std::fs::write(&path, "correct horse battery staple\n").unwrap();
        assert_eq!(
            configured_passphrase(Some(&path))
                .unwrap()
                .as_deref()
                .map(|s| s.as_str()),
            Some("correct horse battery staple")
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(configured_passphrase(Some(&path)).is_err(), "empty");
    }
}
