//! What every kind of object shares on the wire: purge (`204`), backup and restore of raw blobs.

use crate::transport::{decode, json_body};
use crate::{ClientError, VaultClient};
use keyhaven_azure_api::{b64url, BackupBlob};
use reqwest::Method;
use serde::de::DeserializeOwned;

impl VaultClient {
    /// `DELETE /{deleted collection}/{name}`.
    pub(crate) async fn purge(&self, deleted: &str, name: &str) -> Result<(), ClientError> {
        let url = self.url(&[deleted, name], &[]);
        self.raw(Method::DELETE, &url, None).await?;
        Ok(())
    }

    /// `POST /{collection}/{name}/backup`: the blob's bytes.
    pub(crate) async fn backup(
        &self,
        collection: &str,
        name: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let b: BackupBlob = self
            .call_without_body(Method::POST, &[collection, name, "backup"])
            .await?;
        b64url::decode(&b.value)
            .ok_or_else(|| ClientError::Protocol("the backup blob is not base64url".into()))
    }

    /// `POST /{collection}/restore` with a blob's bytes.
    pub(crate) async fn restore<T: DeserializeOwned>(
        &self,
        collection: &str,
        blob: &[u8],
    ) -> Result<T, ClientError> {
        let url = self.url(&[collection, "restore"], &[]);
        let body = json_body(&BackupBlob {
            value: b64url::encode(blob),
        })?;
        let answer = self.raw(Method::POST, &url, Some(&body)).await?;
        decode(&url, &answer)
    }
}
