//! Whole-vault backup and restore jobs: start, poll, download the finished backup, upload one to restore.

use crate::transport::{api_error, decode, shown};
use crate::vault::segment;
use crate::{ClientError, VaultClient};
use keyhaven_azure_api::vault_backup::{VaultBackupRequest, VaultJobStatus};
use reqwest::Method;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What to do with objects of the backup that already exist in the vault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Nothing is restored.
    #[default]
    Fail,
    /// The existing object stays.
    Skip,
    /// The backup's latest version is written on top, as a new version.
    NewVersion,
}

impl ConflictPolicy {
    /// The `conflict` query value: `fail`, `skip` or `new-version`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::Fail => "fail",
            ConflictPolicy::Skip => "skip",
            ConflictPolicy::NewVersion => "new-version",
        }
    }
}

/// How a vault restore treats what it finds.
#[derive(Debug, Clone, Default)]
pub struct VaultRestoreOptions {
    /// What to do with objects the vault already has (live or deleted).
    pub conflict: ConflictPolicy,
    /// Check everything and report, writing nothing.
    pub dry_run: bool,
    /// Restore soft-deleted objects too (as deleted).
    pub include_deleted: bool,
}

/// What a restore writes: the whole backup, or one object of it.
#[derive(Debug, Clone, Copy)]
pub enum RestoreTarget<'a> {
    /// Every object of the backup (and its vault settings).
    Vault,
    /// The secret of this name only.
    Secret(&'a str),
    /// The key of this name only.
    Key(&'a str),
    /// The certificate of this name only (with the key and secret it manages).
    Certificate(&'a str),
}

impl VaultClient {
    /// `POST /backup`: starts a whole-vault backup job.
    pub async fn start_vault_backup(
        &self,
        include_deleted: bool,
    ) -> Result<VaultJobStatus, ClientError> {
        self.call(
            Method::POST,
            &["backup"],
            Some(&VaultBackupRequest { include_deleted }),
        )
        .await
    }

    /// `GET /backup/{job}/pending`.
    pub async fn vault_backup_job(&self, id: &str) -> Result<VaultJobStatus, ClientError> {
        self.call_without_body(Method::GET, &["backup", segment("job id", id)?, "pending"])
            .await
    }

    /// `GET /restore/{job}/pending`.
    pub async fn vault_restore_job(&self, id: &str) -> Result<VaultJobStatus, ClientError> {
        self.call_without_body(Method::GET, &["restore", segment("job id", id)?, "pending"])
            .await
    }

    /// `GET /backup/{job}/content`: streams a finished backup into `out`, calling `progress` with the bytes
    /// received so far; returns how many bytes arrived.
    pub async fn download_vault_backup<W: AsyncWrite + Unpin>(
        &self,
        id: &str,
        out: &mut W,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, ClientError> {
        let url = self.url(&["backup", segment("job id", id)?, "content"], &[]);
        let token = self.token_for(&url).await?;
        let mut resp = self
            .http
            .get(url.clone())
            .bearer_auth(token.as_str())
            .send()
            .await
            .map_err(|e| ClientError::connect(&shown(&url), e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(api_error(status, &body));
        }
        let mut n = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ClientError::connect(&shown(&url), e))?
        {
            out.write_all(&chunk)
                .await
                .map_err(|e| ClientError::Config(format!("writing the backup file: {e}")))?;
            n += chunk.len() as u64;
            progress(n);
        }
        Ok(n)
    }

    /// `PUT /restore` (or `PUT /{secrets|keys|certificates}/{name}/restore` for one object): uploads a
    /// whole-vault backup file, streamed, and starts the restore job.
    pub async fn start_vault_restore(
        &self,
        file: &std::path::Path,
        options: &VaultRestoreOptions,
        target: RestoreTarget<'_>,
    ) -> Result<VaultJobStatus, ClientError> {
        let path: Vec<&str> = match target {
            RestoreTarget::Vault => vec!["restore"],
            RestoreTarget::Secret(n) => vec!["secrets", segment("secret name", n)?, "restore"],
            RestoreTarget::Key(n) => vec!["keys", segment("key name", n)?, "restore"],
            RestoreTarget::Certificate(n) => {
                vec!["certificates", segment("certificate name", n)?, "restore"]
            }
        };
        let mut query = vec![("conflict", options.conflict.as_str())];
        if options.dry_run {
            query.push(("dryRun", "true"));
        }
        if options.include_deleted {
            query.push(("includeDeleted", "true"));
        }
        let url = self.url(&path, &query);
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::Config(format!("reading {}: {e}", file.display())))?;
        let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
        let token = self.token_for(&url).await?;
        let resp = self
            .http
            .put(url.clone())
            .bearer_auth(token.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::from(f))
            .send()
            .await
            .map_err(|e| ClientError::connect(&shown(&url), e))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClientError::connect(&shown(&url), e))?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        decode(&url, &body)
    }
}
