//! The one place domain errors become HTTP responses in Azure's error envelope.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyhaven_azure_api::{ErrorBody, InnerError};
use keyhaven_core::Error;
use keyhaven_model::{Invalid, ObjectKind};

/// `Retry-After` for requests to a vault that is being restored.
pub(crate) const RESTORE_RETRY_AFTER_SECS: u64 = 10;
/// What a write refused during read-only failover suggests waiting before retrying.
pub(crate) const READ_ONLY_RETRY_AFTER_SECS: u64 = 30;

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// A `WWW-Authenticate` value for 401 responses.
    pub challenge: Option<String>,
    /// Seconds for `Retry-After` (429 and 503 responses).
    pub retry_after: Option<u64>,
    /// A more specific code (`ForbiddenByRbac`).
    pub inner: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
            inner: None,
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    pub fn unauthorized(message: impl Into<String>, challenge: String) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "Unauthorized",
            message: message.into(),
            challenge: Some(challenge),
            retry_after: None,
            inner: None,
        }
    }

    /// 429 with `Retry-After`.
    pub fn throttled(retry_after_secs: u64) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "Throttled",
            message: format!("Request was not processed because too many requests were received. Retry after {retry_after_secs} seconds."),
            challenge: None,
            retry_after: Some(retry_after_secs),
            inner: None,
        }
    }

    pub fn no_route(method: &str, path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "There is no operation {method} {}.",
                path.chars().take(200).collect::<String>()
            ),
        )
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::bad(e.0)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let msg = e.to_string();
        match e {
            Error::BadParameter(_) | Error::BadBackup(_) => ApiError::bad(msg),
            Error::NotFound { kind, .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                match kind {
                    ObjectKind::Secret => "SecretNotFound",
                    ObjectKind::Key => "KeyNotFound",
                    ObjectKind::Certificate => "CertificateNotFound",
                },
                msg,
            ),
            Error::VaultNotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "VaultNotFound", msg),
            Error::AccessDenied {
                action,
                resource,
                client_id,
                object_id,
            } => ApiError {
                inner: Some("ForbiddenByRbac"),
                ..ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!(
                        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny \
                         assignments or role definitions were changed recently, please observe propagation time.\r\n\
                         Caller: appid={client_id};oid={object_id}\r\nAction: '{action}'\r\nResource: '{}'\r\n\
                         Assignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'\r\n{}",
                        resource.to_string().to_ascii_lowercase(),
                        resource
                            .vault_name()
                            .map(|v| format!("Vault: {v}\r\n"))
                            .unwrap_or_default()
                    ),
                )
            },
            Error::PrincipalNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "PrincipalNotFound", msg)
            }
            Error::RoleDefinitionNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "RoleDefinitionNotFound", msg)
            }
            Error::RoleAssignmentNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "RoleAssignmentNotFound", msg)
            }
            Error::RoleAssignmentExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "RoleAssignmentExists", msg)
            }
            Error::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", msg),
            // As Azure during a regional failover: reads go on, writes are refused until the primary is back.
            Error::ReadOnly => ApiError {
                retry_after: Some(READ_ONLY_RETRY_AFTER_SECS),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", msg)
            },
            Error::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "Conflict", msg),
            // Like Managed HSM during a full restore: the vault answers nothing until it is done.
            Error::RestoreInProgress { .. } => ApiError {
                retry_after: Some(RESTORE_RETRY_AFTER_SECS),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", msg)
            },
            Error::Unauthorized(_) => ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", msg),
            // Logged where it was found (naming the record); the caller learns only that it was refused.
            Error::Store(keyhaven_store::StoreError::Corrupt(_)) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Stored data failed its integrity check; the request was refused. The server log names the record.",
            ),
            Error::Store(keyhaven_store::StoreError::Unavailable(_))
            | Error::Store(keyhaven_store::StoreError::Closed) => {
                tracing::error!(error = %msg, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Storage is unavailable; retry later.",
                )
            }
            _ => {
                tracing::error!(error = %msg, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "The server failed to process the request.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut envelope = ErrorBody::new(self.code, self.message);
        envelope.error.innererror = self.inner.map(|code| InnerError { code: code.into() });
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response();
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_vault_being_restored_answers_503_with_retry_after() {
        let resp = ApiError::from(Error::RestoreInProgress {
            vault: "payments".into(),
        })
        .into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers().get(header::RETRY_AFTER).unwrap(),
            &RESTORE_RETRY_AFTER_SECS.to_string()
        );
        let api = ApiError::from(Error::RestoreInProgress {
            vault: "payments".into(),
        });
        assert_eq!(api.code, "ServiceUnavailable");
        assert!(api.message.contains("Vault 'payments' is being restored"));
    }
}
