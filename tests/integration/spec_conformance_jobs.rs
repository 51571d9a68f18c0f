//! The spec's examples of full backup into, and restore from, Azure Blob Storage (`backuprestore.json`), replayed
//! against Azurite (see `spec_conformance`): each example runs on vaults of its own — a source vault with a key and
//! a secret, backed up into a fresh container, and an empty vault to restore into — and its job is followed to the
//! end, which must be a success, before the next example runs.

use crate::azurite::Azurite;
use crate::bad_input::Raw;
use keyhaven_testkit::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Whether an operation of the spec is a Blob Storage backup or restore (or the status of one).
pub(crate) fn is_storage_job(spec_file: &str) -> bool {
    spec_file == "backuprestore.json"
}

/// Examples whose operation the spec names differently from any of its paths, and the example of the same path
/// that gives their request and response schema.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    // The status of a selective key restore is served at `GET /restore/{jobId}/pending`, as a full restore's is.
    ("SelectiveKeyRestoreStatus", "Restore-pending-example.json"),
];

/// Azurite, a container in it and what is needed to make vaults.
pub(crate) struct StorageJobs<'a> {
    ts: &'a TestServer,
    _azurite: Azurite,
    container: String,
    sas: String,
    token: String,
}

/// What a storage example runs on: the vault it is sent to, and the job its path names.
pub(crate) struct JobTarget {
    pub raw: Raw,
    pub job_id: Option<String>,
}

impl<'a> StorageJobs<'a> {
    pub(crate) async fn start(ts: &'a TestServer) -> StorageJobs<'a> {
        let azurite = Azurite::start().await;
        let (container, sas) = azurite.container(None).await;
        StorageJobs {
            ts,
            _azurite: azurite,
            container,
            sas,
            token: ts.admin_token().await,
        }
    }

    async fn vault(&self, name: &str) -> Raw {
        self.ts.create_vault(name).await;
        Raw {
            http: self.ts.http(&[name]),
            base: self.ts.vault_url(name),
            token: self.token.clone(),
        }
    }

    fn sas_parameters(&self) -> Value {
        json!({ "storageResourceUri": self.container, "token": self.sas })
    }

    /// A source vault holding a key `key` and a secret, backed up into the container: the vault, the backup
    /// job's id and the folder the backup is in.
    async fn backed_up(&self, n: usize, key: &str) -> Result<(Raw, String, String), String> {
        let src = self.vault(&format!("cj-src-{n}")).await;
        ok(
            &src,
            Method::POST,
            &format!("/keys/{key}/create"),
            json!({ "kty": "EC", "crv": "P-256" }),
        )
        .await?;
        ok(
            &src,
            Method::PUT,
            &format!("/secrets/s-{n}"),
            json!({ "value": "conformance" }),
        )
        .await?;
        let started = ok(&src, Method::POST, "/backup", self.sas_parameters()).await?;
        let id = job_id(&started)?;
        let done = wait(&src, "backup", &id).await?;
        let folder = done["azureStorageBlobContainerUri"]
            .as_str()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .ok_or_else(|| format!("a finished backup names no folder: {done}"))?
            .to_string();
        Ok((src, id, folder))
    }

    /// Makes what the operation (`op`, as the example names it) needs and maps the body onto Azurite.
    pub(crate) async fn prepare(
        &self,
        op: &str,
        n: usize,
        name: &str,
        body: Option<&mut Value>,
    ) -> Result<JobTarget, String> {
        let target = |raw| JobTarget { raw, job_id: None };
        match op {
            "FullBackup" | "PreFullBackup" => {
                let vault = self.vault(&format!("cj-bk-{n}")).await;
                ok(
                    &vault,
                    Method::PUT,
                    &format!("/secrets/s-{n}"),
                    json!({ "value": "conformance" }),
                )
                .await?;
                *body.ok_or("no body")? = self.sas_parameters();
                Ok(target(vault))
            }
            "FullBackupStatus" => {
                let (src, id, _) = self.backed_up(n, name).await?;
                Ok(JobTarget {
                    raw: src,
                    job_id: Some(id),
                })
            }
            "FullRestoreOperation" | "PreFullRestoreOperation" => {
                let (_, _, folder) = self.backed_up(n, name).await?;
                *body.ok_or("no body")? = json!({
                    "sasTokenParameters": self.sas_parameters(),
                    "folderToRestore": folder,
                });
                Ok(target(self.vault(&format!("cj-rs-{n}")).await))
            }
            "SelectiveKeyRestoreOperation" => {
                let (_, _, folder) = self.backed_up(n, name).await?;
                *body.ok_or("no body")? = json!({
                    "sasTokenParameters": self.sas_parameters(),
                    "folder": folder,
                });
                Ok(target(self.vault(&format!("cj-rs-{n}")).await))
            }
            "RestoreStatus" | "SelectiveKeyRestoreStatus" => {
                let (_, _, folder) = self.backed_up(n, name).await?;
                let dst = self.vault(&format!("cj-rs-{n}")).await;
                let started = if op == "RestoreStatus" {
                    let req = json!({
                        "sasTokenParameters": self.sas_parameters(),
                        "folderToRestore": folder,
                    });
                    ok(&dst, Method::PUT, "/restore", req).await?
                } else {
                    let req =
                        json!({ "sasTokenParameters": self.sas_parameters(), "folder": folder });
                    ok(&dst, Method::PUT, &format!("/keys/{name}/restore"), req).await?
                };
                let id = job_id(&started)?;
                wait(&dst, "restore", &id).await?;
                Ok(JobTarget {
                    raw: dst,
                    job_id: Some(id),
                })
            }
            other => Err(format!("no preparation for the storage operation {other}")),
        }
    }

    /// After an example that started a job (answered 202): follows it to its end, which must be a success; for a
    /// restore, the source's objects must be in the vault.
    pub(crate) async fn finish(
        &self,
        op: &str,
        target: &JobTarget,
        answer: &Value,
        name: &str,
    ) -> Result<(), String> {
        let kind = match op {
            "FullBackup" | "PreFullBackup" => "backup",
            "FullRestoreOperation" | "PreFullRestoreOperation" | "SelectiveKeyRestoreOperation" => {
                "restore"
            }
            _ => return Ok(()),
        };
        wait(&target.raw, kind, &job_id(answer)?).await?;
        if kind == "restore" && !op.starts_with("Pre") {
            ok(
                &target.raw,
                Method::GET,
                &format!("/keys/{name}"),
                Value::Null,
            )
            .await
            .map_err(|e| format!("after the restore, the key is not there: {e}"))?;
        }
        Ok(())
    }
}

fn job_id(answer: &Value) -> Result<String, String> {
    answer["jobId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no jobId in {answer}"))
}

async fn ok(raw: &Raw, m: Method, path: &str, body: Value) -> Result<Value, String> {
    let body = (!body.is_null()).then(|| serde_json::to_vec(&body).unwrap());
    let (s, v) = raw
        .call(m.clone(), &format!("{path}?api-version=7.5"), body)
        .await;
    match s.is_success() {
        true => Ok(v),
        false => Err(format!("preparing: {m} {path}: {s} {v}")),
    }
}

/// Waits for the end of job `id` (`kind`: `backup` or `restore`); its final status document, or why it failed.
async fn wait(raw: &Raw, kind: &str, id: &str) -> Result<Value, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = raw
            .call(
                Method::GET,
                &format!("/{kind}/{id}/pending?api-version=7.5"),
                None,
            )
            .await;
        if s != StatusCode::OK {
            return Err(format!("status of {kind} job {id}: {s} {v}"));
        }
        match v["status"].as_str() {
            Some("Succeeded") => return Ok(v),
            Some("InProgress") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            _ => return Err(format!("{kind} job {id} did not succeed: {v}")),
        }
    }
}
