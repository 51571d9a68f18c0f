//! Azure's error envelope: the body of the data plane's and the management API's error answers (the OAuth2
//! token endpoint answers with [`TokenError`](crate::identity::TokenError) instead).

use serde::{Deserialize, Serialize};

/// Azure's error envelope: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` member of the envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Azure's machine-readable code: `BadParameter`, `Unauthorized`, `Forbidden`, `SecretNotFound`,
    /// `KeyNotFound`, `CertificateNotFound`, `VaultNotFound`, `Conflict`, `Throttled`, `ServiceUnavailable`, ….
    pub code: String,
    /// A message for people; it never quotes secret material.
    pub message: String,
    /// A more specific error (`{"code": "ForbiddenByRbac"}` when role-based access refused the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub innererror: Option<InnerError>,
}

/// The more specific error inside an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerError {
    /// The more specific code (`ForbiddenByRbac`).
    pub code: String,
}

impl ErrorBody {
    /// An envelope with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                innererror: None,
            },
        }
    }
}
