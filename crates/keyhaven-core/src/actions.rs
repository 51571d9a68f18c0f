//! Every action an operation can perform, named as Azure names it.

use keyhaven_model::ObjectKind;
use std::fmt;

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// An action, named as Azure names it: data actions of the vault data plane
        /// (`Microsoft.KeyVault/vaults/secrets/getSecret/action`, …), the RBAC API's actions
        /// (`Microsoft.Authorization/roleAssignments/write`, …), and Keyhaven's own for what Azure has no name for
        /// (whole-vault backups, deployment management). One per operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// Its name, as role definitions and audit records write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    /// Reads secrets' properties, never their values: get properties, list, versions, deleted secrets.
    SecretsReadMetadata => "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    /// Reads a secret version's value.
    SecretsGetSecret => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    /// Writes a new secret version, creating the secret if needed.
    SecretsSetSecret => "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    /// Changes a secret version's attributes, tags or content type.
    SecretsUpdate => "Microsoft.KeyVault/vaults/secrets/update/action",
    /// Soft-deletes a secret with all its versions.
    SecretsDelete => "Microsoft.KeyVault/vaults/secrets/delete",
    /// Backs up a secret with all its versions into one protected blob.
    SecretsBackup => "Microsoft.KeyVault/vaults/secrets/backup/action",
    /// Restores a secret from its backup blob.
    SecretsRestore => "Microsoft.KeyVault/vaults/secrets/restore/action",
    /// Brings a deleted secret back.
    SecretsRecover => "Microsoft.KeyVault/vaults/secrets/recover/action",
    /// Removes a deleted secret for good.
    SecretsPurge => "Microsoft.KeyVault/vaults/secrets/purge/action",
    /// Reads keys' properties and public parts: get, list, versions, deleted keys.
    KeysRead => "Microsoft.KeyVault/vaults/keys/read",
    /// Generates a new key version in the vault, creating the key if needed.
    KeysCreate => "Microsoft.KeyVault/vaults/keys/create/action",
    /// Imports key material as a new key version.
    KeysImport => "Microsoft.KeyVault/vaults/keys/import/action",
    /// Changes a key version's attributes, tags or permitted operations.
    KeysUpdate => "Microsoft.KeyVault/vaults/keys/update/action",
    /// Soft-deletes a key with all its versions.
    KeysDelete => "Microsoft.KeyVault/vaults/keys/delete",
    /// Backs up a key with all its versions into one protected blob.
    KeysBackup => "Microsoft.KeyVault/vaults/keys/backup/action",
    /// Restores a key from its backup blob.
    KeysRestore => "Microsoft.KeyVault/vaults/keys/restore/action",
    /// Brings a deleted key back.
    KeysRecover => "Microsoft.KeyVault/vaults/keys/recover/action",
    /// Removes a deleted key for good.
    KeysPurge => "Microsoft.KeyVault/vaults/keys/purge/action",
    /// Encrypts with a key.
    KeysEncrypt => "Microsoft.KeyVault/vaults/keys/encrypt/action",
    /// Decrypts with a key.
    KeysDecrypt => "Microsoft.KeyVault/vaults/keys/decrypt/action",
    /// Wraps (encrypts) another key with a key.
    KeysWrap => "Microsoft.KeyVault/vaults/keys/wrap/action",
    /// Unwraps (decrypts) a wrapped key with a key.
    KeysUnwrap => "Microsoft.KeyVault/vaults/keys/unwrap/action",
    /// Signs a digest with a key.
    KeysSign => "Microsoft.KeyVault/vaults/keys/sign/action",
    /// Verifies a signature with a key.
    KeysVerify => "Microsoft.KeyVault/vaults/keys/verify/action",
    /// Makes a new version of a key with the same parameters.
    KeysRotate => "Microsoft.KeyVault/vaults/keys/rotate/action",
    /// Releases a key to an attested environment (Azure's secure key release). Keyhaven performs no
    /// release; the action exists so that role definitions naming it, built-in ones included, keep their meaning.
    KeysRelease => "Microsoft.KeyVault/vaults/keys/release/action",
    /// Reads a key's rotation policy.
    KeyRotationPoliciesRead => "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    /// Sets a key's rotation policy.
    KeyRotationPoliciesWrite => "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
    /// Random bytes from the vault's generator.
    RandomBytes => "Microsoft.KeyVault/vaults/rng/action",
    /// Reads certificates' properties, policies and pending operations: get, list, versions, deleted
    /// certificates.
    CertificatesRead => "Microsoft.KeyVault/vaults/certificates/read",
    /// Starts issuing a new certificate version, and completes one with a certificate signed outside Keyhaven
    /// (merge).
    CertificatesCreate => "Microsoft.KeyVault/vaults/certificates/create/action",
    /// Imports a certificate with its private key as a new version.
    CertificatesImport => "Microsoft.KeyVault/vaults/certificates/import/action",
    /// Changes a certificate's properties or policy, and cancels or deletes its pending create operation.
    CertificatesUpdate => "Microsoft.KeyVault/vaults/certificates/update/action",
    /// Soft-deletes a certificate with all its versions (and the key and secret it manages).
    CertificatesDelete => "Microsoft.KeyVault/vaults/certificates/delete",
    /// Backs up a certificate with all its versions into one protected blob.
    CertificatesBackup => "Microsoft.KeyVault/vaults/certificates/backup/action",
    /// Restores a certificate from its backup blob.
    CertificatesRestore => "Microsoft.KeyVault/vaults/certificates/restore/action",
    /// Brings a deleted certificate back.
    CertificatesRecover => "Microsoft.KeyVault/vaults/certificates/recover/action",
    /// Removes a deleted certificate for good.
    CertificatesPurge => "Microsoft.KeyVault/vaults/certificates/purge/action",
    /// Reads, sets and deletes the vault's certificate contacts (there is no separate read action).
    CertificateContactsWrite => "Microsoft.KeyVault/vaults/certificatecontacts/write",
    /// Reads the vault's certificate issuers.
    CertificateIssuersRead => "Microsoft.KeyVault/vaults/certificatecas/read",
    /// Creates and changes certificate issuers.
    CertificateIssuersWrite => "Microsoft.KeyVault/vaults/certificatecas/write",
    /// Deletes a certificate issuer.
    CertificateIssuersDelete => "Microsoft.KeyVault/vaults/certificatecas/delete",
    /// Starts a whole-vault backup, reads its status and downloads it.
    VaultBackup => "Microsoft.KeyVault/vaults/backup/start/action",
    /// Starts a whole-vault restore and reads its status.
    VaultRestore => "Microsoft.KeyVault/vaults/restore/start/action",
    /// Checks a whole-vault backup end to end without restoring it.
    VaultBackupVerify => "Microsoft.KeyVault/vaults/backup/verify/action",
    /// Reads role assignments.
    RoleAssignmentsRead => "Microsoft.Authorization/roleAssignments/read",
    /// Creates role assignments.
    RoleAssignmentsWrite => "Microsoft.Authorization/roleAssignments/write",
    /// Deletes role assignments.
    RoleAssignmentsDelete => "Microsoft.Authorization/roleAssignments/delete",
    /// Reads role definitions.
    RoleDefinitionsRead => "Microsoft.Authorization/roleDefinitions/read",
    /// Creates and changes custom role definitions.
    RoleDefinitionsWrite => "Microsoft.Authorization/roleDefinitions/write",
    /// Deletes custom role definitions.
    RoleDefinitionsDelete => "Microsoft.Authorization/roleDefinitions/delete",
    /// Lists vaults and reads their settings (deployment management).
    VaultsRead => "Keyhaven/vaults/read",
    /// Creates vaults (deployment management).
    VaultsWrite => "Keyhaven/vaults/write",
    /// Deletes vaults (deployment management).
    VaultsDelete => "Keyhaven/vaults/delete",
    /// Reads, exports, imports and rotates geography keys (deployment management).
    GeographiesManage => "Keyhaven/geographies/action",
    /// Creates, lists and deletes principals and their secrets (deployment management).
    PrincipalsManage => "Keyhaven/principals/action",
}

impl Action {
    /// Reading an object's properties (never a secret's value): list, get, versions, deleted objects.
    pub fn read(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsReadMetadata,
            ObjectKind::Key => Action::KeysRead,
            ObjectKind::Certificate => Action::CertificatesRead,
        }
    }

    /// Changing an object version's properties (attributes, tags, content type).
    pub fn update(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsUpdate,
            ObjectKind::Key => Action::KeysUpdate,
            ObjectKind::Certificate => Action::CertificatesUpdate,
        }
    }

    /// Soft-deleting an object.
    pub fn delete(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsDelete,
            ObjectKind::Key => Action::KeysDelete,
            ObjectKind::Certificate => Action::CertificatesDelete,
        }
    }

    /// Bringing a deleted object back.
    pub fn recover(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsRecover,
            ObjectKind::Key => Action::KeysRecover,
            ObjectKind::Certificate => Action::CertificatesRecover,
        }
    }

    /// Removing a deleted object for good.
    pub fn purge(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsPurge,
            ObjectKind::Key => Action::KeysPurge,
            ObjectKind::Certificate => Action::CertificatesPurge,
        }
    }

    /// Backing up one object into a blob.
    pub fn backup(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsBackup,
            ObjectKind::Key => Action::KeysBackup,
            ObjectKind::Certificate => Action::CertificatesBackup,
        }
    }

    /// Restoring one object from its backup blob.
    pub fn restore(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsRestore,
            ObjectKind::Key => Action::KeysRestore,
            ObjectKind::Certificate => Action::CertificatesRestore,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which list of a role's permissions an action is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionPlane {
    /// The vault data plane: matched against `dataActions` / `notDataActions`.
    Data,
    /// Azure's control plane (`Microsoft.Authorization/...`, the RBAC API): `actions` / `notActions`.
    Control,
    /// Keyhaven's own deployment management: allowed to deployment administrators only.
    Management,
}

impl Action {
    /// Where the action is granted.
    pub fn plane(self) -> ActionPlane {
        let name = self.as_str();
        if name.starts_with("Microsoft.Authorization/") {
            ActionPlane::Control
        } else if name.starts_with("Keyhaven/") {
            ActionPlane::Management
        } else {
            ActionPlane::Data
        }
    }

    /// A cryptographic operation with a key (encrypt, decrypt, wrap, unwrap, sign, verify): it computes and changes
    /// nothing stored.
    pub fn is_cryptographic(self) -> bool {
        matches!(
            self,
            Action::KeysEncrypt
                | Action::KeysDecrypt
                | Action::KeysWrap
                | Action::KeysUnwrap
                | Action::KeysSign
                | Action::KeysVerify
        )
    }

    /// The action named `name` (case-insensitive, as Azure compares them).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }
}
