//! The OAuth2 token endpoint's answers (`POST /{tenant}/oauth2/v2.0/token`, client-credentials grant), shaped as
//! Microsoft Entra ID's so that the Azure SDKs' credentials accept them.

use serde::{Deserialize, Serialize};

/// The OAuth2 token endpoint's success response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `Bearer` (the only type Keyhaven issues).
    pub token_type: String,
    /// The token's lifetime from now, in seconds.
    pub expires_in: i64,
    /// Entra ID's extended lifetime, in seconds; Keyhaven grants no extension and sends `expires_in`.
    pub ext_expires_in: i64,
    /// The access token (from Keyhaven: a JWT signed with RS256 by the server's token key).
    pub access_token: String,
}

/// The OAuth2 error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenError {
    /// The RFC 6749 error code (`invalid_client`, `invalid_request`, `invalid_scope`,
    /// `unsupported_grant_type`, `server_error`, `temporarily_unavailable`).
    pub error: String,
    /// A message for people.
    pub error_description: String,
    /// Entra ID's numeric error codes (the `AADSTS` number the description starts with), which the Azure identity
    /// libraries report as the error code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<u32>,
}
