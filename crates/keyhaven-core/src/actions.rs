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
    SecretsReadMetadata => "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    SecretsGetSecret => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    SecretsSetSecret => "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    SecretsUpdate => "Microsoft.KeyVault/vaults/secrets/update/action",
    SecretsDelete => "Microsoft.KeyVault/vaults/secrets/delete",
    SecretsBackup => "Microsoft.KeyVault/vaults/secrets/backup/action",
    SecretsRestore => "Microsoft.KeyVault/vaults/secrets/restore/action",
    SecretsRecover => "Microsoft.KeyVault/vaults/secrets/recover/action",
    SecretsPurge => "Microsoft.KeyVault/vaults/secrets/purge/action",
    KeysRead => "Microsoft.KeyVault/vaults/keys/read",
    KeysCreate => "Microsoft.KeyVault/vaults/keys/create/action",
    KeysImport => "Microsoft.KeyVault/vaults/keys/import/action",
    KeysUpdate => "Microsoft.KeyVault/vaults/keys/update/action",
    KeysDelete => "Microsoft.KeyVault/vaults/keys/delete",
    KeysBackup => "Microsoft.KeyVault/vaults/keys/backup/action",
    KeysRestore => "Microsoft.KeyVault/vaults/keys/restore/action",
    KeysRecover => "Microsoft.KeyVault/vaults/keys/recover/action",
    KeysPurge => "Microsoft.KeyVault/vaults/keys/purge/action",
    KeysEncrypt => "Microsoft.KeyVault/vaults/keys/encrypt/action",
    KeysDecrypt => "Microsoft.KeyVault/vaults/keys/decrypt/action",
    KeysWrap => "Microsoft.KeyVault/vaults/keys/wrap/action",
    KeysUnwrap => "Microsoft.KeyVault/vaults/keys/unwrap/action",
    KeysSign => "Microsoft.KeyVault/vaults/keys/sign/action",
    KeysVerify => "Microsoft.KeyVault/vaults/keys/verify/action",
    KeysRotate => "Microsoft.KeyVault/vaults/keys/rotate/action",
    KeysRelease => "Microsoft.KeyVault/vaults/keys/release/action",
    KeyRotationPoliciesRead => "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    KeyRotationPoliciesWrite => "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
    /// Random bytes from the vault's generator.
    RandomBytes => "Microsoft.KeyVault/vaults/rng/action",
    CertificatesRead => "Microsoft.KeyVault/vaults/certificates/read",
    CertificatesCreate => "Microsoft.KeyVault/vaults/certificates/create/action",
    CertificatesImport => "Microsoft.KeyVault/vaults/certificates/import/action",
    CertificatesUpdate => "Microsoft.KeyVault/vaults/certificates/update/action",
    CertificatesDelete => "Microsoft.KeyVault/vaults/certificates/delete",
    CertificatesBackup => "Microsoft.KeyVault/vaults/certificates/backup/action",
    CertificatesRestore => "Microsoft.KeyVault/vaults/certificates/restore/action",
    CertificatesRecover => "Microsoft.KeyVault/vaults/certificates/recover/action",
    CertificatesPurge => "Microsoft.KeyVault/vaults/certificates/purge/action",
    CertificateContactsWrite => "Microsoft.KeyVault/vaults/certificatecontacts/write",
    CertificateIssuersRead => "Microsoft.KeyVault/vaults/certificatecas/read",
    CertificateIssuersWrite => "Microsoft.KeyVault/vaults/certificatecas/write",
    CertificateIssuersDelete => "Microsoft.KeyVault/vaults/certificatecas/delete",
    /// Starts a whole-vault backup, reads its status and downloads it.
    VaultBackup => "Microsoft.KeyVault/vaults/backup/start/action",
    /// Starts a whole-vault restore and reads its status.
    VaultRestore => "Microsoft.KeyVault/vaults/restore/start/action",
    /// Checks a whole-vault backup end to end without restoring it.
    VaultBackupVerify => "Microsoft.KeyVault/vaults/backup/verify/action",
    RoleAssignmentsRead => "Microsoft.Authorization/roleAssignments/read",
    RoleAssignmentsWrite => "Microsoft.Authorization/roleAssignments/write",
    RoleAssignmentsDelete => "Microsoft.Authorization/roleAssignments/delete",
    RoleDefinitionsRead => "Microsoft.Authorization/roleDefinitions/read",
    RoleDefinitionsWrite => "Microsoft.Authorization/roleDefinitions/write",
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

    pub fn update(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsUpdate,
            ObjectKind::Key => Action::KeysUpdate,
            ObjectKind::Certificate => Action::CertificatesUpdate,
        }
    }

    pub fn delete(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsDelete,
            ObjectKind::Key => Action::KeysDelete,
            ObjectKind::Certificate => Action::CertificatesDelete,
        }
    }

    pub fn recover(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsRecover,
            ObjectKind::Key => Action::KeysRecover,
            ObjectKind::Certificate => Action::CertificatesRecover,
        }
    }

    pub fn purge(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsPurge,
            ObjectKind::Key => Action::KeysPurge,
            ObjectKind::Certificate => Action::CertificatesPurge,
        }
    }

    pub fn backup(kind: ObjectKind) -> Action {
        match kind {
            ObjectKind::Secret => Action::SecretsBackup,
            ObjectKind::Key => Action::KeysBackup,
            ObjectKind::Certificate => Action::CertificatesBackup,
        }
    }

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

    /// The action named `name` (case-insensitive, as Azure compares them).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }
}
