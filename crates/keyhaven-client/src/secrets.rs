//! Secrets: set, get, list, versions, update, delete, deleted, recover, purge, backup, restore.

use crate::vault::segment;
use crate::{ClientError, Pager, VaultClient};
use keyhaven_azure_api::secrets::{SecretBundle, SecretSetParameters, SecretUpdateParameters};
use reqwest::Method;

const LIVE: &str = "secrets";
const DELETED: &str = "deletedsecrets";

fn name(n: &str) -> Result<&str, ClientError> {
    segment("secret name", n)
}

impl VaultClient {
    /// `PUT /secrets/{name}`: a new version.
    pub async fn set_secret(
        &self,
        name_: &str,
        params: &SecretSetParameters,
    ) -> Result<SecretBundle, ClientError> {
        self.call(Method::PUT, &[LIVE, name(name_)?], Some(params))
            .await
    }

    /// `GET /secrets/{name}[/{version}]`: a version with its value (the latest without a version).
    pub async fn get_secret(
        &self,
        name_: &str,
        version: Option<&str>,
    ) -> Result<SecretBundle, ClientError> {
        self.call_without_body(Method::GET, &with_version(LIVE, name(name_)?, version)?)
            .await
    }

    /// `GET /secrets`: every secret (no values).
    pub fn list_secrets(&self) -> Pager<'_, SecretBundle> {
        Pager::new(self, self.url(&[LIVE], &[]))
    }

    /// `GET /secrets/{name}/versions`.
    pub fn list_secret_versions(
        &self,
        name_: &str,
    ) -> Result<Pager<'_, SecretBundle>, ClientError> {
        Ok(Pager::new(
            self,
            self.url(&[LIVE, name(name_)?, "versions"], &[]),
        ))
    }

    /// `PATCH /secrets/{name}[/{version}]`: content type, attributes, tags.
    pub async fn update_secret(
        &self,
        name_: &str,
        version: Option<&str>,
        params: &SecretUpdateParameters,
    ) -> Result<SecretBundle, ClientError> {
        self.call(
            Method::PATCH,
            &with_version(LIVE, name(name_)?, version)?,
            Some(params),
        )
        .await
    }

    /// `DELETE /secrets/{name}`: soft delete; the deleted secret.
    pub async fn delete_secret(&self, name_: &str) -> Result<SecretBundle, ClientError> {
        self.call_without_body(Method::DELETE, &[LIVE, name(name_)?])
            .await
    }

    /// `GET /deletedsecrets/{name}`.
    pub async fn get_deleted_secret(&self, name_: &str) -> Result<SecretBundle, ClientError> {
        self.call_without_body(Method::GET, &[DELETED, name(name_)?])
            .await
    }

    /// `GET /deletedsecrets`.
    pub fn list_deleted_secrets(&self) -> Pager<'_, SecretBundle> {
        Pager::new(self, self.url(&[DELETED], &[]))
    }

    /// `POST /deletedsecrets/{name}/recover`.
    pub async fn recover_deleted_secret(&self, name_: &str) -> Result<SecretBundle, ClientError> {
        self.call_without_body(Method::POST, &[DELETED, name(name_)?, "recover"])
            .await
    }

    /// `DELETE /deletedsecrets/{name}`: gone for good.
    pub async fn purge_deleted_secret(&self, name_: &str) -> Result<(), ClientError> {
        self.purge(DELETED, name(name_)?).await
    }

    /// `POST /secrets/{name}/backup`: the raw blob (all versions).
    pub async fn backup_secret(&self, name_: &str) -> Result<Vec<u8>, ClientError> {
        self.backup(LIVE, name(name_)?).await
    }

    /// `POST /secrets/restore`: restores a raw blob.
    pub async fn restore_secret(&self, blob: &[u8]) -> Result<SecretBundle, ClientError> {
        self.restore(LIVE, blob).await
    }
}

/// `[collection, name]`, with the version when there is one (a version is letters and digits: 32 hex in Azure).
pub(crate) fn with_version<'a>(
    collection: &'a str,
    name: &'a str,
    version: Option<&'a str>,
) -> Result<Vec<&'a str>, ClientError> {
    match version.filter(|v| !v.is_empty()) {
        Some(v) if v.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok(vec![collection, name, v]),
        Some(v) => Err(ClientError::InvalidArgument(format!(
            "'{v}' is not a version (letters and digits)"
        ))),
        None => Ok(vec![collection, name]),
    }
}
