use crate::{Client, ClientError};
use keyhaven_azure_api::management::{
    DeploymentInfo, GeographyImportResult, Vault, VaultCreate, VaultList,
};
use keyhaven_azure_api::{b64url, BackupBlob};
use reqwest::Method;
use serde_json::json;

fn missing() -> ClientError {
    ClientError::Protocol("the server sent an empty answer".into())
}

impl Client {
    pub async fn deployment(&self) -> Result<DeploymentInfo, ClientError> {
        self.call(Method::GET, "/_keyhaven/deployment", None)
            .await?
            .ok_or_else(missing)
    }

    pub async fn create_vault(&self, name: &str, req: &VaultCreate) -> Result<Vault, ClientError> {
        let body = serde_json::to_value(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.call(
            Method::PUT,
            &format!("/_keyhaven/vaults/{name}"),
            Some(&body),
        )
        .await?
        .ok_or_else(missing)
    }

    pub async fn list_vaults(&self) -> Result<Vec<Vault>, ClientError> {
        let l: VaultList = self
            .call(Method::GET, "/_keyhaven/vaults", None)
            .await?
            .ok_or_else(missing)?;
        Ok(l.value)
    }

    pub async fn get_vault(&self, name: &str) -> Result<Vault, ClientError> {
        self.call(Method::GET, &format!("/_keyhaven/vaults/{name}"), None)
            .await?
            .ok_or_else(missing)
    }

    pub async fn delete_vault(&self, name: &str) -> Result<(), ClientError> {
        self.call::<serde_json::Value>(Method::DELETE, &format!("/_keyhaven/vaults/{name}"), None)
            .await?;
        Ok(())
    }

    /// The geography's keys, sealed under `passphrase`.
    pub async fn export_geography(
        &self,
        geography: &str,
        passphrase: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let b: BackupBlob = self
            .call(
                Method::POST,
                &format!("/_keyhaven/geographies/{geography}/export"),
                Some(&json!({ "passphrase": passphrase })),
            )
            .await?
            .ok_or_else(missing)?;
        b64url::decode(&b.value)
            .ok_or_else(|| ClientError::Protocol("the export is not base64url".into()))
    }

    pub async fn import_geography(
        &self,
        data: &[u8],
        passphrase: &str,
    ) -> Result<GeographyImportResult, ClientError> {
        let body = json!({ "passphrase": passphrase, "value": b64url::encode(data) });
        self.call(Method::POST, "/_keyhaven/geographies/import", Some(&body))
            .await?
            .ok_or_else(missing)
    }

    pub async fn rotate_geography(
        &self,
        geography: &str,
    ) -> Result<serde_json::Value, ClientError> {
        self.call(
            Method::POST,
            &format!("/_keyhaven/geographies/{geography}/rotate"),
            None,
        )
        .await?
        .ok_or_else(missing)
    }
}
