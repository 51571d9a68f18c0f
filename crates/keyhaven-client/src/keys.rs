//! Keys: create, import, get, list, versions, update, delete, deleted, recover, purge, rotate, rotation policy,
//! cryptographic operations, random bytes, backup, restore.

use crate::secrets::with_version;
use crate::vault::segment;
use crate::{ClientError, Pager, VaultClient};
use keyhaven_azure_api::b64url;
use keyhaven_azure_api::keys::{
    GetRandomBytesRequest, KeyBundle, KeyCreateParameters, KeyImportParameters, KeyItem,
    KeyOperationResult, KeyOperationsParameters, KeyRotationPolicy, KeySignParameters,
    KeyUpdateParameters, KeyVerifyParameters, KeyVerifyResult, RandomBytes,
};
use reqwest::Method;

const LIVE: &str = "keys";
const DELETED: &str = "deletedkeys";

fn name(n: &str) -> Result<&str, ClientError> {
    segment("key name", n)
}

impl VaultClient {
    /// `POST /keys/{name}/create`: a new key (or a new version of it).
    pub async fn create_key(
        &self,
        name_: &str,
        params: &KeyCreateParameters,
    ) -> Result<KeyBundle, ClientError> {
        self.call(Method::POST, &[LIVE, name(name_)?, "create"], Some(params))
            .await
    }

    /// `PUT /keys/{name}`: imports a JSON Web Key with its private parts.
    pub async fn import_key(
        &self,
        name_: &str,
        params: &KeyImportParameters,
    ) -> Result<KeyBundle, ClientError> {
        self.call(Method::PUT, &[LIVE, name(name_)?], Some(params))
            .await
    }

    /// `GET /keys/{name}[/{version}]`: the public key (the latest without a version).
    pub async fn get_key(
        &self,
        name_: &str,
        version: Option<&str>,
    ) -> Result<KeyBundle, ClientError> {
        self.call_without_body(Method::GET, &with_version(LIVE, name(name_)?, version)?)
            .await
    }

    /// `GET /keys`.
    pub fn list_keys(&self) -> Pager<'_, KeyItem> {
        Pager::new(self, self.url(&[LIVE], &[]))
    }

    /// `GET /keys/{name}/versions`.
    pub fn list_key_versions(&self, name_: &str) -> Result<Pager<'_, KeyItem>, ClientError> {
        Ok(Pager::new(
            self,
            self.url(&[LIVE, name(name_)?, "versions"], &[]),
        ))
    }

    /// `PATCH /keys/{name}[/{version}]`: operations, attributes, tags.
    pub async fn update_key(
        &self,
        name_: &str,
        version: Option<&str>,
        params: &KeyUpdateParameters,
    ) -> Result<KeyBundle, ClientError> {
        self.call(
            Method::PATCH,
            &with_version(LIVE, name(name_)?, version)?,
            Some(params),
        )
        .await
    }

    /// `DELETE /keys/{name}`: soft delete; the deleted key.
    pub async fn delete_key(&self, name_: &str) -> Result<KeyBundle, ClientError> {
        self.call_without_body(Method::DELETE, &[LIVE, name(name_)?])
            .await
    }

    /// `GET /deletedkeys/{name}`.
    pub async fn get_deleted_key(&self, name_: &str) -> Result<KeyBundle, ClientError> {
        self.call_without_body(Method::GET, &[DELETED, name(name_)?])
            .await
    }

    /// `GET /deletedkeys`.
    pub fn list_deleted_keys(&self) -> Pager<'_, KeyItem> {
        Pager::new(self, self.url(&[DELETED], &[]))
    }

    /// `POST /deletedkeys/{name}/recover`.
    pub async fn recover_deleted_key(&self, name_: &str) -> Result<KeyBundle, ClientError> {
        self.call_without_body(Method::POST, &[DELETED, name(name_)?, "recover"])
            .await
    }

    /// `DELETE /deletedkeys/{name}`.
    pub async fn purge_deleted_key(&self, name_: &str) -> Result<(), ClientError> {
        self.purge(DELETED, name(name_)?).await
    }

    /// `POST /keys/{name}/rotate`: a new version under the same parameters.
    pub async fn rotate_key(&self, name_: &str) -> Result<KeyBundle, ClientError> {
        self.call_without_body(Method::POST, &[LIVE, name(name_)?, "rotate"])
            .await
    }

    /// `GET /keys/{name}/rotationpolicy`.
    pub async fn get_key_rotation_policy(
        &self,
        name_: &str,
    ) -> Result<KeyRotationPolicy, ClientError> {
        self.call_without_body(Method::GET, &[LIVE, name(name_)?, "rotationpolicy"])
            .await
    }

    /// `PUT /keys/{name}/rotationpolicy`.
    pub async fn set_key_rotation_policy(
        &self,
        name_: &str,
        policy: &KeyRotationPolicy,
    ) -> Result<KeyRotationPolicy, ClientError> {
        self.call(
            Method::PUT,
            &[LIVE, name(name_)?, "rotationpolicy"],
            Some(policy),
        )
        .await
    }

    /// `POST /keys/{name}[/{version}]/{operation}` for encrypt, decrypt, wrapkey, unwrapkey.
    async fn key_operation(
        &self,
        name_: &str,
        version: Option<&str>,
        operation: &str,
        params: &KeyOperationsParameters,
    ) -> Result<KeyOperationResult, ClientError> {
        let mut path = with_version(LIVE, name(name_)?, version)?;
        path.push(operation);
        self.call(Method::POST, &path, Some(params)).await
    }

    /// `POST /keys/{name}[/{version}]/encrypt` (all byte fields base64url).
    pub async fn encrypt(
        &self,
        name: &str,
        version: Option<&str>,
        params: &KeyOperationsParameters,
    ) -> Result<KeyOperationResult, ClientError> {
        self.key_operation(name, version, "encrypt", params).await
    }

    /// `POST /keys/{name}[/{version}]/decrypt`.
    pub async fn decrypt(
        &self,
        name: &str,
        version: Option<&str>,
        params: &KeyOperationsParameters,
    ) -> Result<KeyOperationResult, ClientError> {
        self.key_operation(name, version, "decrypt", params).await
    }

    /// `POST /keys/{name}[/{version}]/wrapkey`.
    pub async fn wrap_key(
        &self,
        name: &str,
        version: Option<&str>,
        params: &KeyOperationsParameters,
    ) -> Result<KeyOperationResult, ClientError> {
        self.key_operation(name, version, "wrapkey", params).await
    }

    /// `POST /keys/{name}[/{version}]/unwrapkey`.
    pub async fn unwrap_key(
        &self,
        name: &str,
        version: Option<&str>,
        params: &KeyOperationsParameters,
    ) -> Result<KeyOperationResult, ClientError> {
        self.key_operation(name, version, "unwrapkey", params).await
    }

    /// `POST /keys/{name}[/{version}]/sign`: `value` is the digest.
    pub async fn sign(
        &self,
        name_: &str,
        version: Option<&str>,
        params: &KeySignParameters,
    ) -> Result<KeyOperationResult, ClientError> {
        let mut path = with_version(LIVE, name(name_)?, version)?;
        path.push("sign");
        self.call(Method::POST, &path, Some(params)).await
    }

    /// `POST /keys/{name}[/{version}]/verify`.
    pub async fn verify(
        &self,
        name_: &str,
        version: Option<&str>,
        params: &KeyVerifyParameters,
    ) -> Result<KeyVerifyResult, ClientError> {
        let mut path = with_version(LIVE, name(name_)?, version)?;
        path.push("verify");
        self.call(Method::POST, &path, Some(params)).await
    }

    /// `POST /rng`: `count` random bytes (1-128) from the vault.
    pub async fn get_random_bytes(&self, count: u8) -> Result<Vec<u8>, ClientError> {
        let r: RandomBytes = self
            .call(
                Method::POST,
                &["rng"],
                Some(&GetRandomBytesRequest {
                    count: i64::from(count),
                }),
            )
            .await?;
        b64url::decode(&r.value)
            .ok_or_else(|| ClientError::Protocol("the random bytes are not base64url".into()))
    }

    /// `POST /keys/{name}/backup`: the raw blob (all versions).
    pub async fn backup_key(&self, name_: &str) -> Result<Vec<u8>, ClientError> {
        self.backup(LIVE, name(name_)?).await
    }

    /// `POST /keys/restore`.
    pub async fn restore_key(&self, blob: &[u8]) -> Result<KeyBundle, ClientError> {
        self.restore(LIVE, blob).await
    }
}
