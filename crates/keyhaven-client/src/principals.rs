//! Principals (service principals) through the management API (`/_keyhaven/principals`): create, list, show,
//! delete, and add or remove their client secrets. A secret is in an answer only when it is made
//! ([`PrincipalCreated`], [`SecretCreated`]; both redact it in `Debug`).

use crate::transport::json_body;
use crate::vault::segment;
use crate::{Client, ClientError};
use keyhaven_azure_api::principals::{
    Principal, PrincipalCreate, PrincipalCreated, PrincipalList, SecretAdd, SecretCreated,
};
use reqwest::Method;

const PRINCIPALS: &str = "principals";

/// A principal's id as a path segment (its client id or object id).
fn id(s: &str) -> Result<&str, ClientError> {
    segment("principal id (client id or object id)", s.trim())
}

impl Client {
    /// `POST /_keyhaven/principals`: a new principal with its first client secret (the only time that secret is
    /// returned).
    pub async fn create_principal(
        &self,
        req: &PrincipalCreate,
    ) -> Result<PrincipalCreated, ClientError> {
        let body = json_body(req)?;
        self.management_json(Method::POST, &["_keyhaven", PRINCIPALS], Some(&body))
            .await
    }

    /// `GET /_keyhaven/principals`: every principal (with its secrets' ids and expiry, never the secrets).
    pub async fn list_principals(&self) -> Result<Vec<Principal>, ClientError> {
        let l: PrincipalList = self
            .management_json(Method::GET, &["_keyhaven", PRINCIPALS], None)
            .await?;
        Ok(l.value)
    }

    /// `GET /_keyhaven/principals/{id}`, by client id or object id.
    pub async fn get_principal(&self, principal: &str) -> Result<Principal, ClientError> {
        self.management_json(
            Method::GET,
            &["_keyhaven", PRINCIPALS, id(principal)?],
            None,
        )
        .await
    }

    /// `DELETE /_keyhaven/principals/{id}`: the principal and its role assignments are gone, and its tokens stop
    /// working. Returns the principal as it was.
    pub async fn delete_principal(&self, principal: &str) -> Result<Principal, ClientError> {
        self.management_json(
            Method::DELETE,
            &["_keyhaven", PRINCIPALS, id(principal)?],
            None,
        )
        .await
    }

    /// `POST /_keyhaven/principals/{id}/secrets`: a further client secret (the only time it is returned).
    pub async fn add_principal_secret(
        &self,
        principal: &str,
        req: &SecretAdd,
    ) -> Result<SecretCreated, ClientError> {
        let body = json_body(req)?;
        self.management_json(
            Method::POST,
            &["_keyhaven", PRINCIPALS, id(principal)?, "secrets"],
            Some(&body),
        )
        .await
    }

    /// `DELETE /_keyhaven/principals/{id}/secrets/{secretId}`: tokens obtained with that secret stop working.
    /// Returns the principal with the secrets it has left.
    pub async fn remove_principal_secret(
        &self,
        principal: &str,
        secret_id: &str,
    ) -> Result<Principal, ClientError> {
        self.management_json(
            Method::DELETE,
            &[
                "_keyhaven",
                PRINCIPALS,
                id(principal)?,
                "secrets",
                segment("secret id", secret_id.trim())?,
            ],
            None,
        )
        .await
    }
}
