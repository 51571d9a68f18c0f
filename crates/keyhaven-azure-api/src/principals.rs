//! Keyhaven's management API for principals (`/_keyhaven/principals`).

use serde::{Deserialize, Serialize};

/// `POST /_keyhaven/principals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalCreate {
    /// A name for people (1–120 printable characters).
    pub display_name: String,
    /// Days until the first client secret expires (never when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_days: Option<u32>,
}

/// A principal just created: everything an application needs to connect. The only time the secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalCreated {
    /// The application id it gets tokens with (`client_id` of the client-credentials grant).
    pub client_id: String,
    /// The id role assignments name it by.
    pub object_id: String,
    /// Its first client secret (`{secretId}.{random}`).
    pub client_secret: String,
    /// The id of that secret (to remove it later).
    pub secret_id: String,
    /// When the secret expires (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires: Option<i64>,
    /// The tenant to ask for tokens in.
    pub tenant_id: String,
    /// Where to ask for tokens (`{authorityHost}/{tenantId}/oauth2/v2.0/token`).
    pub authority_host: String,
    /// The name given at creation.
    pub display_name: String,
}

impl std::fmt::Debug for PrincipalCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrincipalCreated({}, secret redacted)", self.client_id)
    }
}

/// A client secret as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalSecret {
    /// The secret's id (the part before the dot of the secret).
    pub secret_id: String,
    /// When it was added (Unix seconds).
    pub created: i64,
    /// When it stops working (Unix seconds), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

/// A principal as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// The application id it gets tokens with.
    pub client_id: String,
    /// The id role assignments name it by.
    pub object_id: String,
    /// Its name for people.
    pub display_name: String,
    /// When it was created (Unix seconds).
    pub created: i64,
    /// Its client secrets (never the secrets themselves).
    pub secrets: Vec<PrincipalSecret>,
}

/// `GET /_keyhaven/principals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalList {
    /// Every principal of the deployment.
    pub value: Vec<Principal>,
}

/// `POST /_keyhaven/principals/{id}/secrets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretAdd {
    /// Days until the new secret expires (never when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_days: Option<u32>,
}

/// A client secret just added: the only time it is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCreated {
    /// The new secret's id.
    pub secret_id: String,
    /// The new secret (`{secretId}.{random}`).
    pub client_secret: String,
    /// When it stops working (Unix seconds), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

impl std::fmt::Debug for SecretCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretCreated({}, secret redacted)", self.secret_id)
    }
}
