//! `keyhaven vault export|import`: a whole-vault copy that uses only the per-object Azure API (list, backup,
//! restore), so it works against Keyhaven and against Azure Key Vault. Exports run concurrently, retry throttled
//! requests (honouring `Retry-After`), and resume after an interruption: each blob file is written under a
//! temporary name and renamed, so a file that exists is complete and is not fetched again.
//!
//! An import reads only files inside its directory: a manifest entry that is absolute, climbs out with `..`, or
//! resolves (through a symbolic link) outside the directory is refused before anything is imported.

use super::files::replace_private;
use super::objects::VaultArgs;
use super::output;
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use keyhaven_client::{ClientError, VaultClient};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

const FORMAT: &str = "keyhaven.vault-export/1";

/// The kinds of object an export holds, in the order they are exported and imported.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Key,
    Certificate,
}

const KINDS: [Kind; 3] = [Kind::Secret, Kind::Key, Kind::Certificate];

impl Kind {
    /// As the manifest spells it.
    fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Key => "key",
            Kind::Certificate => "certificate",
        }
    }

    /// The export's subdirectory.
    fn directory(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Key => "keys",
            Kind::Certificate => "certificates",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.as_str() == s)
    }

    /// The names of this kind's objects, leaving out those a certificate manages (its key and secret travel with
    /// it).
    async fn names(self, v: &VaultClient) -> Result<Vec<String>, ClientError> {
        let ids: Vec<String> = match self {
            Kind::Secret => v
                .list_secrets()
                .collect_all()
                .await?
                .into_iter()
                .filter(|s| s.managed != Some(true))
                .map(|s| s.id)
                .collect(),
            Kind::Key => v
                .list_keys()
                .collect_all()
                .await?
                .into_iter()
                .filter(|k| k.managed != Some(true))
                .map(|k| k.kid)
                .collect(),
            Kind::Certificate => v
                .list_certificates(false)
                .collect_all()
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect(),
        };
        Ok(ids
            .iter()
            .filter_map(|id| id.trim_end_matches('/').rsplit('/').next())
            .map(str::to_string)
            .collect())
    }

    async fn backup(self, v: &VaultClient, name: &str) -> Result<Vec<u8>, ClientError> {
        match self {
            Kind::Secret => v.backup_secret(name).await,
            Kind::Key => v.backup_key(name).await,
            Kind::Certificate => v.backup_certificate(name).await,
        }
    }

    async fn restore(self, v: &VaultClient, blob: &[u8]) -> Result<(), ClientError> {
        match self {
            Kind::Secret => v.restore_secret(blob).await.map(drop),
            Kind::Key => v.restore_key(blob).await.map(drop),
            Kind::Certificate => v.restore_certificate(blob).await.map(drop),
        }
    }
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Entry {
    kind: String,
    name: String,
    file: String,
    sha256: String,
    bytes: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    format: String,
    source: String,
    complete: bool,
    objects: Vec<Entry>,
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} objects, {{msg}} ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message("0 failed");
    pb
}

/// An object name as Azure allows it (1-127 of `0-9a-zA-Z-`): safe as a file name.
fn is_object_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Objects of one kind; a server without that kind of object (e.g. no certificates yet) answers 404 for the
/// collection, which lists nothing.
async fn list(v: &VaultClient, kind: Kind) -> Result<Vec<String>> {
    match kind.names(v).await {
        Ok(names) => Ok(names),
        Err(ClientError::Api {
            status: 404, code, ..
        }) if code == "NotFound" => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

pub async fn export(vault: &VaultArgs, dir: &Path, concurrency: usize) -> Result<()> {
    let v = vault.connect_allowing_external().await?;
    let v = &v;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut todo: Vec<(Kind, String, PathBuf)> = Vec::new();
    let mut failures = Vec::<(String, String, String)>::new();
    for kind in KINDS {
        let sub = dir.join(kind.directory());
        std::fs::create_dir_all(&sub)?;
        for name in list(v, kind).await? {
            if !is_object_name(&name) {
                failures.push((
                    kind.as_str().to_string(),
                    name.chars().take(140).collect(),
                    "the vault listed a name that is not an object name".to_string(),
                ));
                continue;
            }
            let path = sub.join(format!("{name}.blob"));
            todo.push((kind, name, path));
        }
    }
    let total = todo.len() as u64;
    let already = todo.iter().filter(|(_, _, p)| p.exists()).count() as u64;
    let pb = bar(total, "exporting");
    pb.set_position(already);
    let failures = std::sync::Mutex::new(failures);
    futures_util::stream::iter(todo.iter().filter(|(_, _, p)| !p.exists()))
        .for_each_concurrent(concurrency.max(1), |(kind, name, path)| {
            let (pb, failures) = (&pb, &failures);
            async move {
                let r = match kind.backup(v, name).await {
                    Ok(blob) => replace_private(path, &blob),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = r {
                    if let Ok(mut f) = failures.lock() {
                        f.push((kind.as_str().to_string(), name.clone(), format!("{e:#}")));
                        pb.set_message(format!("{} failed", f.len()));
                    }
                }
                pb.inc(1);
            }
        })
        .await;
    pb.finish_and_clear();
    let failures = failures.into_inner().unwrap_or_default();
    let mut entries = Vec::new();
    for (kind, name, path) in &todo {
        if let Ok(data) = std::fs::read(path) {
            entries.push(Entry {
                kind: kind.as_str().to_string(),
                name: name.clone(),
                file: path
                    .strip_prefix(dir)
                    .unwrap_or(path)
                    .to_string_lossy()
                    .into_owned(),
                sha256: keyhaven_crypto::hex(&keyhaven_crypto::sha256(&data)),
                bytes: data.len() as u64,
            });
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        source: v.base().to_string(),
        complete: failures.is_empty(),
        objects: entries,
    };
    replace_private(
        &dir.join("manifest.json"),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    summary("exported", &manifest.objects, already, &failures)?;
    if !failures.is_empty() {
        bail!(
            "{} object(s) could not be exported; run the same command again to retry them",
            failures.len()
        );
    }
    Ok(())
}

fn summary(
    verb: &str,
    done: &[Entry],
    resumed: u64,
    failures: &[(String, String, String)],
) -> Result<()> {
    // One row per kind: {"kind", "exported"|"imported", "failed"}.
    let mut rows = Vec::new();
    for kind in KINDS {
        let n = done.iter().filter(|e| e.kind == kind.as_str()).count();
        let f = failures
            .iter()
            .filter(|(k, _, _)| k == kind.as_str())
            .count();
        if n + f > 0 {
            let mut row = serde_json::Map::new();
            row.insert("kind".into(), kind.as_str().into());
            row.insert(verb.into(), n.into());
            row.insert("failed".into(), f.into());
            rows.push(row);
        }
    }
    for (kind, name, err) in failures {
        eprintln!("failed: {kind} {name}: {err}");
    }
    if resumed > 0 {
        eprintln!("{resumed} object(s) were already exported by an earlier run and were kept.");
    }
    output::print(&rows)
}

/// The file a manifest entry names, if it lies inside `dir` (`canonical_dir` is `dir` resolved): a relative path
/// of plain components whose resolved location (symbolic links followed) is still under the directory.
fn confined(dir: &Path, canonical_dir: &Path, file: &str) -> Result<PathBuf> {
    let rel = Path::new(file);
    if file.is_empty() || rel.is_absolute() {
        bail!("is not a path relative to the export directory");
    }
    if let Some(c) = rel
        .components()
        .find(|c| !matches!(c, Component::Normal(_)))
    {
        bail!(
            "has a '{}' component: only plain names inside the export directory are read",
            c.as_os_str().to_string_lossy()
        );
    }
    let resolved = dir
        .join(rel)
        .canonicalize()
        .with_context(|| format!("reading {}", dir.join(rel).display()))?;
    if !resolved.starts_with(canonical_dir) {
        bail!(
            "resolves to {}, outside the export directory",
            resolved.display()
        );
    }
    Ok(resolved)
}

/// Every blob the manifest names, checked (inside the directory, a known kind, its checksum) before anything is
/// imported.
fn checked_blobs(dir: &Path, manifest: &Manifest) -> Result<Vec<(Kind, Entry, Vec<u8>)>> {
    let canonical_dir = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?;
    let mut blobs = Vec::new();
    for e in &manifest.objects {
        let refuse = |why: String| {
            anyhow::anyhow!(
                "the manifest's entry for {} '{}' ({}) {why}; nothing was imported",
                e.kind,
                e.name,
                e.file
            )
        };
        let Some(kind) = Kind::parse(&e.kind) else {
            return Err(refuse(
                "is of an unknown kind (secret, key or certificate)".into(),
            ));
        };
        let path =
            confined(dir, &canonical_dir, &e.file).map_err(|err| refuse(format!("{err:#}")))?;
        let data = std::fs::read(&path).with_context(|| format!("reading {}", e.file))?;
        if keyhaven_crypto::hex(&keyhaven_crypto::sha256(&data)) != e.sha256 {
            bail!(
                "{} does not match its checksum in the manifest; nothing was imported",
                e.file
            );
        }
        blobs.push((kind, e.clone(), data));
    }
    Ok(blobs)
}

pub async fn import(vault: &VaultArgs, dir: &Path, concurrency: usize) -> Result<()> {
    let path = dir.join("manifest.json");
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not an export manifest", path.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{} has format '{}', not {FORMAT}",
            path.display(),
            manifest.format
        );
    }
    if !manifest.complete {
        bail!(
            "the export in {} is incomplete; finish it (run the export again) before importing",
            dir.display()
        );
    }
    // Every file is checked before anything is restored.
    let blobs = checked_blobs(dir, &manifest)?;
    let v = vault.connect_allowing_external().await?;
    let v = &v;
    let pb = bar(blobs.len() as u64, "importing");
    let failures = std::sync::Mutex::new(Vec::<(String, String, String)>::new());
    futures_util::stream::iter(blobs.iter())
        .for_each_concurrent(concurrency.max(1), |(kind, e, data)| {
            let (pb, failures) = (&pb, &failures);
            async move {
                if let Err(err) = kind.restore(v, data).await {
                    if let Ok(mut f) = failures.lock() {
                        f.push((e.kind.clone(), e.name.clone(), err.to_string()));
                        pb.set_message(format!("{} failed", f.len()));
                    }
                }
                pb.inc(1);
            }
        })
        .await;
    pb.finish_and_clear();
    let failures = failures.into_inner().unwrap_or_default();
    let done: Vec<Entry> = blobs
        .iter()
        .map(|(_, e, _)| e.clone())
        .filter(|e| {
            !failures
                .iter()
                .any(|(k, n, _)| *k == e.kind && *n == e.name)
        })
        .collect();
    summary("imported", &done, 0, &failures)?;
    if !failures.is_empty() {
        bail!("{} object(s) could not be imported", failures.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_entries_stay_inside_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("export");
        std::fs::create_dir_all(dir.join("secrets")).unwrap();
        std::fs::write(dir.join("secrets/a.blob"), b"a").unwrap();
        std::fs::write(root.path().join("outside.blob"), b"o").unwrap();
        std::os::unix::fs::symlink(
            root.path().join("outside.blob"),
            dir.join("secrets/out.blob"),
        )
        .unwrap();
        std::os::unix::fs::symlink(dir.join("secrets/a.blob"), dir.join("secrets/in.blob"))
            .unwrap();
        let canonical = dir.canonicalize().unwrap();
        let ok = |f: &str| confined(&dir, &canonical, f).is_ok();
        assert!(ok("secrets/a.blob"));
        assert!(ok("secrets/in.blob"), "a link that stays inside");
        for bad in [
            "",
            "/etc/passwd",
            "../outside.blob",
            "secrets/../../outside.blob",
            "secrets/../secrets/a.blob",
            "./secrets/a.blob",
            "secrets/out.blob",
        ] {
            assert!(!ok(bad), "{bad} was accepted");
        }
    }
}
