//! Keyhaven's management API (`/_keyhaven/...`): the deployment, vaults, geographies, backup verification.

use crate::transport::{api_error, decode, json_body, send, shown};
use crate::{Client, ClientError};
use keyhaven_azure_api::management::{
    DeploymentInfo, GeographyExportRequest, GeographyImportRequest, GeographyImportResult,
    GeographyRotateResult, Vault, VaultCreate, VaultDataKey, VaultList,
};
use keyhaven_azure_api::vault_backup::VaultBackupManifest;
use keyhaven_azure_api::{b64url, BackupBlob};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// The shortest passphrase a geography export is sealed under (it guards every backup of the geography).
pub const MIN_GEOGRAPHY_PASSPHRASE_CHARS: usize = 12;

impl Client {
    /// One management call to this server, with its token; the raw answer body.
    pub(crate) async fn management(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<bytes::Bytes, ClientError> {
        let token = self.tokens.token(self.server()).await?;
        send(&self.http, method, url, &token, body).await
    }

    pub(crate) async fn management_json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&[u8]>,
    ) -> Result<T, ClientError> {
        let url = self.management_url(segments);
        let answer = self.management(method, &url, body).await?;
        decode(&url, &answer)
    }

    /// `GET /_keyhaven/deployment`: the subscription, tenant, vault DNS suffix and locations.
    pub async fn deployment(&self) -> Result<DeploymentInfo, ClientError> {
        self.management_json(Method::GET, &["_keyhaven", "deployment"], None)
            .await
    }

    /// `PUT /_keyhaven/vaults/{name}`: creates a vault.
    pub async fn create_vault(&self, name: &str, req: &VaultCreate) -> Result<Vault, ClientError> {
        let body = json_body(req)?;
        self.management_json(Method::PUT, &["_keyhaven", "vaults", name], Some(&body))
            .await
    }

    /// `GET /_keyhaven/vaults`: every vault the caller may see.
    pub async fn list_vaults(&self) -> Result<Vec<Vault>, ClientError> {
        let l: VaultList = self
            .management_json(Method::GET, &["_keyhaven", "vaults"], None)
            .await?;
        Ok(l.value)
    }

    /// `GET /_keyhaven/vaults/{name}`: one vault's settings.
    pub async fn get_vault(&self, name: &str) -> Result<Vault, ClientError> {
        self.management_json(Method::GET, &["_keyhaven", "vaults", name], None)
            .await
    }

    /// The vault's active data key (its generation, creation and seals counted so far).
    pub async fn vault_data_key(&self, name: &str) -> Result<VaultDataKey, ClientError> {
        self.management_json(
            Method::GET,
            &["_keyhaven", "vaults", name, "data-key"],
            None,
        )
        .await
    }

    /// Rotates the vault's data key: a fresh key seals from now on; older ones keep opening what they sealed.
    pub async fn rotate_vault_data_key(&self, name: &str) -> Result<VaultDataKey, ClientError> {
        self.management_json(
            Method::POST,
            &["_keyhaven", "vaults", name, "data-key", "rotate"],
            None,
        )
        .await
    }

    /// Deletes a vault and everything in it.
    pub async fn delete_vault(&self, name: &str) -> Result<(), ClientError> {
        let url = self.management_url(&["_keyhaven", "vaults", name]);
        self.management(Method::DELETE, &url, None).await?;
        Ok(())
    }

    /// The geography's keys, sealed under `passphrase` (at least [`MIN_GEOGRAPHY_PASSPHRASE_CHARS`] characters;
    /// a shorter one is refused before anything is sent).
    pub async fn export_geography(
        &self,
        geography: &str,
        passphrase: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        if passphrase.chars().count() < MIN_GEOGRAPHY_PASSPHRASE_CHARS {
            return Err(ClientError::InvalidArgument(format!(
                "the passphrase is too short: an export is sealed under a passphrase of at least \
                 {MIN_GEOGRAPHY_PASSPHRASE_CHARS} characters (it guards every backup of the geography)"
            )));
        }
        let body = json_body(&GeographyExportRequest {
            passphrase: passphrase.to_string(),
        })?;
        let b: BackupBlob = self
            .management_json(
                Method::POST,
                &["_keyhaven", "geographies", geography, "export"],
                Some(&body),
            )
            .await?;
        b64url::decode(&b.value)
            .map(Zeroizing::new)
            .ok_or_else(|| ClientError::Protocol("the export is not base64url".into()))
    }

    /// Imports a geography export: this deployment joins its subscription and geography.
    pub async fn import_geography(
        &self,
        data: &[u8],
        passphrase: &str,
    ) -> Result<GeographyImportResult, ClientError> {
        let body = json_body(&GeographyImportRequest {
            passphrase: passphrase.to_string(),
            value: b64url::encode(data),
        })?;
        self.management_json(
            Method::POST,
            &["_keyhaven", "geographies", "import"],
            Some(&body),
        )
        .await
    }

    /// Seals new backups of `geography` under a fresh key.
    pub async fn rotate_geography(
        &self,
        geography: &str,
    ) -> Result<GeographyRotateResult, ClientError> {
        self.management_json(
            Method::POST,
            &["_keyhaven", "geographies", geography, "rotate"],
            None,
        )
        .await
    }

    /// Checks a whole-vault backup file through the server (which holds the geography keys), streaming it;
    /// returns its manifest.
    pub async fn verify_vault_backup(
        &self,
        file: &std::path::Path,
        geography: Option<&str>,
    ) -> Result<VaultBackupManifest, ClientError> {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::Config(format!("reading {}: {e}", file.display())))?;
        let token = self.tokens.token(self.server()).await?;
        let mut url = self.management_url(&["_keyhaven", "backups", "verify"]);
        if let Some(g) = geography {
            url.query_pairs_mut().append_pair("geography", g);
        }
        let resp = self
            .http
            .post(url.clone())
            .bearer_auth(token.as_str())
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
