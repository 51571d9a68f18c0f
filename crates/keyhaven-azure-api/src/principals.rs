//! Keyhaven's management API for principals (`/_keyhaven/principals`).

use serde::{Deserialize, Serialize};

/// `POST /_keyhaven/principals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalCreate {
    pub display_name: String,
    /// Days until the first client secret expires (never when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_days: Option<u32>,
}

/// A principal just created: everything an application needs to connect. The only time the secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalCreated {
    pub client_id: String,
    pub object_id: String,
    pub client_secret: String,
    pub secret_id: String,
    /// When the secret expires (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires: Option<i64>,
    pub tenant_id: String,
    pub authority_host: String,
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
    pub secret_id: String,
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

/// A principal as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub client_id: String,
    pub object_id: String,
    pub display_name: String,
    pub created: i64,
    pub secrets: Vec<PrincipalSecret>,
}

/// `GET /_keyhaven/principals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalList {
    pub value: Vec<Principal>,
}

/// `POST /_keyhaven/principals/{id}/secrets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretAdd {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_days: Option<u32>,
}

/// A client secret just added: the only time it is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCreated {
    pub secret_id: String,
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

impl std::fmt::Debug for SecretCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretCreated({}, secret redacted)", self.secret_id)
    }
}
