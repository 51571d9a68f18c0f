use serde::{Deserialize, Serialize};

/// The OAuth2 token endpoint's success response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
}

/// The OAuth2 error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenError {
    pub error: String,
    pub error_description: String,
}
