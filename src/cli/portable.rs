//! `keyhaven vault export|import`: a whole-vault copy that uses only the per-object Azure API (list, backup,
//! restore), so it works against Keyhaven and against Azure Key Vault. Exports run concurrently, retry throttled
//! requests (honouring `Retry-After`), and resume after an interruption: each blob file is written under a
//! temporary name and renamed, so a file that exists is complete and is not fetched again.

use super::objects::VaultArgs;
use super::output;
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use keyhaven_client::{ClientError, VaultClient};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

const FORMAT: &str = "keyhaven.vault-export/1";
const KINDS: [(&str, &str); 3] = [
    ("secret", "secrets"),
    ("key", "keys"),
    ("certificate", "certificates"),
];

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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

/// Objects of one kind, leaving out those a certificate manages (its key and secret travel with it).
async fn list(v: &VaultClient<'_>, collection: &str) -> Result<Vec<String>> {
    let items = match v.list_all(&format!("/{collection}")).await {
        Ok(items) => items,
        // A server without that kind of object (e.g. no certificates yet) answers 404 for the collection.
        Err(ClientError::Api {
            status: 404, code, ..
        }) if code == "NotFound" => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(items
        .iter()
        .filter(|i| i["managed"] != Value::Bool(true))
        .filter_map(|i| {
            i["id"]
                .as_str()
                .or(i["kid"].as_str())
                .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
                .map(str::to_string)
        })
        .collect())
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("blob.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub async fn export(vault: &VaultArgs, dir: &Path, concurrency: usize) -> Result<()> {
    vault
        .run(async |v: &VaultClient<'_>| {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut todo: Vec<(String, String, PathBuf)> = Vec::new();
            for (kind, collection) in KINDS {
                let sub = dir.join(collection);
                std::fs::create_dir_all(&sub)?;
                for name in list(v, collection).await? {
                    todo.push((
                        kind.to_string(),
                        name.clone(),
                        sub.join(format!("{name}.blob")),
                    ));
                }
            }
            let total = todo.len() as u64;
            let already = todo.iter().filter(|(_, _, p)| p.exists()).count() as u64;
            let pb = bar(total, "exporting");
            pb.set_position(already);
            let failures = std::sync::Mutex::new(Vec::<(String, String, String)>::new());
            futures_util::stream::iter(todo.iter().filter(|(_, _, p)| !p.exists()))
                .for_each_concurrent(concurrency.max(1), |(kind, name, path)| {
                    let (pb, failures) = (&pb, &failures);
                    async move {
                        let collection = format!("{kind}s");
                        let r = match v.backup(&collection, name).await {
                            Ok(blob) => write_atomically(path, &blob),
                            Err(e) => Err(e.into()),
                        };
                        if let Err(e) = r {
                            if let Ok(mut f) = failures.lock() {
                                f.push((kind.clone(), name.clone(), format!("{e:#}")));
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
                        kind: kind.clone(),
                        name: name.clone(),
                        file: path
                            .strip_prefix(dir)
                            .unwrap_or(path)
                            .to_string_lossy()
                            .into_owned(),
                        sha256: hex(&keyhaven_crypto::sha256(&data)),
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
            write_atomically(
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
        })
        .await
}

fn summary(
    verb: &str,
    done: &[Entry],
    resumed: u64,
    failures: &[(String, String, String)],
) -> Result<()> {
    let mut rows = Vec::new();
    for (kind, _) in KINDS {
        let n = done.iter().filter(|e| e.kind == kind).count();
        let f = failures.iter().filter(|(k, _, _)| k == kind).count();
        if n + f > 0 {
            rows.push(serde_json::json!({ "kind": kind, verb: n, "failed": f }));
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
    let mut blobs = Vec::new();
    for e in &manifest.objects {
        let data =
            std::fs::read(dir.join(&e.file)).with_context(|| format!("reading {}", e.file))?;
        if hex(&keyhaven_crypto::sha256(&data)) != e.sha256 {
            bail!(
                "{} does not match its checksum in the manifest; nothing was imported",
                e.file
            );
        }
        blobs.push((e.clone(), data));
    }
    vault
        .run(async |v: &VaultClient<'_>| {
            let pb = bar(blobs.len() as u64, "importing");
            let failures = std::sync::Mutex::new(Vec::<(String, String, String)>::new());
            futures_util::stream::iter(blobs.iter())
                .for_each_concurrent(concurrency.max(1), |(e, data)| {
                    let (pb, failures) = (&pb, &failures);
                    async move {
                        if let Err(err) = v.restore(&format!("{}s", e.kind), data).await {
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
                .map(|(e, _)| e.clone())
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
        })
        .await
}
