//! The Keyhaven domain: vaults, objects and their versions, lifecycle (soft delete, recover, purge, purge
//! protection), per-object backup and restore, geographies, clients and authorization.
//!
//! It knows nothing of HTTP, JSON wire shapes or which storage engine it runs on: handlers call one method of
//! [`Keyhaven`] and map its [`Error`] to their protocol once.
#![warn(missing_docs)]

mod access;
mod actions;
mod backup;
mod caller_cache;
mod certificates;
mod deleted_vaults;
mod error;
mod geography;
mod heavy;
mod key_release;
mod keys;
mod latest_hints;
mod objects;
mod paging;
mod point_read;
mod principal;
mod records;
mod restore_journal;
mod roles;
mod rotation;
mod scope;
mod sealing;
mod secrets;
mod service;
mod vault_backup;
mod vault_keys;
mod vaults;
mod views;

pub use access::{
    AssignmentFilter, Authenticated, NewPrincipal, NewSecret, PrincipalInfo, RoleAssignment,
    RoleDefinitionChange, SecretInfo,
};
pub use actions::{Action, ActionPlane};
pub use certificates::{
    ActionSpec, AdministratorDetails, CertificateChange, CertificateOperation, CertificatePolicy,
    CertificateView, Contact, CreateCertificate, ImportCertificate, Issuer, IssuerChange,
    IssuerRef, KeyProps, LifetimeActionSpec, OperationError, OperationStatus, PolicyAttributes,
    Sans, SecretFormat, SecretProps, Trigger, X509Props, CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12,
    ISSUER_SELF, ISSUER_UNKNOWN,
};
pub use error::Error;
pub use geography::{GeographyExport, MIN_EXPORT_PASSPHRASE_CHARS};
pub use key_release::{
    same_authority, AttestationError, AttestationVerifier, ReleasePolicyInput, ReleaseRequest,
    ReleaseUpdate, ReleasedKey, VerifiedAttestation, RELEASE_POLICY_CONTENT_TYPE,
};
pub use keys::{KeyOperation, KeyProperties, KeySpec, OperationInput, OperationOutput};
pub use objects::ObjectUpdate;
pub use paging::{Page, PageRequest, MAX_PAGE_SIZE};
pub use principal::{Decision, Grant, Principal, Visible};
pub use roles::{
    built_in_role, built_in_roles, Permission, RoleDefinition, RoleType, KEYHAVEN_BACKUP_OPERATOR,
    KEY_VAULT_ADMINISTRATOR, KEY_VAULT_DATA_ACCESS_ADMINISTRATOR,
};
pub use rotation::{
    parse_duration, LifetimeAction, LifetimeActionType, LifetimeReport, RotationPolicy,
};
pub use scope::Resource;
pub use secrets::{SecretUpdate, SetSecret};
pub use service::{
    Deployment, Keyhaven, RestoreBatch, Settings, StoredRecords, VAULT_KEY_ROTATE_AFTER,
};
pub use vault_backup::{
    ConflictPolicy, Manifest, ObjectAction, ObjectOutcome, Progress, RestoreOptions,
    RestoreProgress, RestoreReport, SettingAction, SettingOutcome, VerifyTarget,
};
pub use vault_keys::VaultKeyInfo;
pub use vaults::{NewVault, VaultInfo, VaultPlacement};
pub use views::{
    CertificateFacts, DeletedInfo, Detail, KeyFacts, ObjectView, RecoveryLevel, ReleasePolicyView,
    VaultPolicy,
};

/// The result of a domain operation: its value, or the [`Error`] to map to the caller's protocol.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
