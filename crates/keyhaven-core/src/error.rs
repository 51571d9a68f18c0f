use keyhaven_blob::BlobError;
use keyhaven_model::{Invalid, ObjectKind};
use keyhaven_store::StoreError;

/// What went wrong, named for what the caller can do about it. Messages are safe to return to callers: they
/// never contain secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed or breaks a rule; nothing was changed.
    #[error("{0}")]
    BadParameter(String),
    /// The object (or version) does not exist.
    #[error("{message}")]
    NotFound {
        /// The kind looked for, which names the error code (`SecretNotFound`, `KeyNotFound`, …).
        kind: ObjectKind,
        /// Azure's wording, naming the object (and version).
        message: String,
    },
    /// The vault does not exist.
    #[error("Vault '{0}' was not found.")]
    VaultNotFound(String),
    /// The operation is not allowed on this object (disabled, purge-protected, managed by a certificate…).
    #[error("{0}")]
    Forbidden(String),
    /// No role assigned to the caller grants this action on this resource.
    #[error("Caller is not authorized to perform action on resource. Action: '{action}'. Resource: '{resource}'.")]
    AccessDenied {
        /// The action refused.
        action: crate::Action,
        /// What it was refused on.
        resource: crate::Resource,
        /// The caller's application (client) id, for the message Azure gives.
        client_id: String,
        /// The caller's object id, for the message Azure gives.
        object_id: String,
    },
    /// No principal has this client id or object id.
    #[error("Principal '{0}' was not found.")]
    PrincipalNotFound(String),
    /// No role definition has this id.
    #[error("Role definition '{0}' was not found.")]
    RoleDefinitionNotFound(String),
    /// No role assignment has this name at this scope.
    #[error("Role assignment '{0}' was not found.")]
    RoleAssignmentNotFound(String),
    /// The principal already has this role at this scope (under another assignment name).
    #[error("The role assignment already exists: {0}")]
    RoleAssignmentExists(String),
    /// The operation conflicts with the current state (name in use, deleted-but-recoverable, …).
    #[error("{0}")]
    Conflict(String),
    /// A backup blob was refused; nothing was written.
    #[error("{0}")]
    BadBackup(BlobError),
    /// The credentials are not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// The vault is being restored from a whole-vault backup: it serves nothing until the restore has finished or
    /// been rolled back. The request may be retried later.
    #[error(
        "Vault '{vault}' is being restored from a backup; it serves no requests until the restore has finished \
         or been rolled back. Retry later."
    )]
    RestoreInProgress {
        /// The vault being restored.
        vault: String,
    },
    /// The deployment serves reads only: its database is a standby (read-only failover).
    #[error(
        "The vault is in read-only failover: its database is a standby. Reads, cryptographic operations and \
         backups are served; writes are refused until the standby is promoted."
    )]
    ReadOnly,
    /// Storage failed; the operation may be retried.
    #[error("storage error: {0}")]
    Store(StoreError),
    /// An invariant broke inside the server.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ReadOnly => Error::ReadOnly,
            other => Error::Store(other),
        }
    }
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            // Reading or writing the backup's bytes failed: the server's problem, not a bad backup.
            BlobError::Io(m) => Error::Internal(format!("backup I/O: {m}")),
            other => Error::BadBackup(other),
        }
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::BadParameter(e.0)
    }
}

/// The one mapping of cryptographic failures: the crypto crate decides, where each error is made, whether the
/// caller's input was at fault (malformed, or failing authentication: a wrong ciphertext, tag or passphrase) or
/// the server (the library itself). Stored material that fails to open is corruption, which the barrier reports
/// itself and never passes through here.
impl From<keyhaven_crypto::CryptoError> for Error {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        use keyhaven_crypto::CryptoError;
        match e {
            CryptoError::Malformed(m) => Error::BadParameter(m),
            CryptoError::Unauthentic => Error::BadParameter(
                "The operation failed: the data is not valid for this key (decryption, unwrap or authentication \
                 failed)."
                    .into(),
            ),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl Error {
    pub(crate) fn not_found(kind: ObjectKind, name: &str) -> Self {
        Error::NotFound {
            kind,
            message: format!(
                "A {} with (name/id) {name} was not found in this key vault. If you recently deleted this {} you may \
                 be able to recover it using the correct recovery command.",
                kind.as_str(),
                kind.as_str()
            ),
        }
    }

    pub(crate) fn version_not_found(kind: ObjectKind, name: &str, version: &str) -> Self {
        Error::NotFound {
            kind,
            message: format!(
                "A {} with (name/id) {name}/{version} was not found in this key vault.",
                kind.as_str()
            ),
        }
    }

    pub(crate) fn deleted_not_found(kind: ObjectKind, name: &str) -> Self {
        Error::NotFound {
            kind,
            message: format!("Deleted {} not found: {name}", kind.title()),
        }
    }

    /// A name that is deleted but recoverable cannot be reused.
    pub(crate) fn deleted_conflict(kind: ObjectKind, name: &str) -> Self {
        Error::Conflict(format!(
            "{} {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, \
             the {} can only be recovered or purged.",
            kind.title(),
            kind.as_str()
        ))
    }

    /// No principal has this client id or object id.
    pub(crate) fn principal_not_found(id: &str) -> Self {
        Error::PrincipalNotFound(id.chars().take(64).collect())
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Error::Store(StoreError::corrupt(what))
    }
}
