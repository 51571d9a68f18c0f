//! Who may do what: the one place authorization is decided. Every domain operation asks
//! [`Principal::authorize`] with the Azure action it performs and the resource it performs it on, before it does
//! anything else.

use crate::Error;
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A role granted to a client. Administrators may do everything; finer roles come with role-based access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Administrator,
}

/// The authenticated caller of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub client_id: String,
    pub roles: Vec<Role>,
}

/// What an operation is performed on, from the widest scope to the narrowest: every vault of the deployment, one
/// vault, every object of one kind in a vault, one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Deployment,
    Vault(VaultName),
    Kind(VaultName, ObjectKind),
    Object(VaultName, ObjectKind, ObjectName),
}

impl Resource {
    pub fn vault(vault: &VaultName) -> Self {
        Resource::Vault(vault.clone())
    }

    pub fn kind(vault: &VaultName, kind: ObjectKind) -> Self {
        Resource::Kind(vault.clone(), kind)
    }

    pub fn object(vault: &VaultName, kind: ObjectKind, name: &ObjectName) -> Self {
        Resource::Object(vault.clone(), kind, name.clone())
    }

    /// Whether `self` is `other` or a scope that contains it.
    pub fn contains(&self, other: &Resource) -> bool {
        match (self, other) {
            (Resource::Deployment, _) => true,
            (Resource::Vault(a), Resource::Vault(b))
            | (Resource::Vault(a), Resource::Kind(b, _))
            | (Resource::Vault(a), Resource::Object(b, _, _)) => a == b,
            (Resource::Kind(a, k), Resource::Kind(b, l))
            | (Resource::Kind(a, k), Resource::Object(b, l, _)) => a == b && k == l,
            (Resource::Object(a, k, n), Resource::Object(b, l, m)) => {
                a == b && k == l && n.key() == m.key()
            }
            _ => false,
        }
    }
}

/// The scope as the RBAC API writes it, relative to the vault: `/`, `/keys`, `/secrets/{name}`; `/` for the
/// deployment too (every vault).
impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Deployment => f.write_str("/"),
            Resource::Vault(v) => write!(f, "/vaults/{v}"),
            Resource::Kind(v, k) => write!(f, "/vaults/{v}/{}", collection(*k)),
            Resource::Object(v, k, n) => write!(f, "/vaults/{v}/{}/{n}", collection(*k)),
        }
    }
}

fn collection(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Secret => "secrets",
        ObjectKind::Key => "keys",
        ObjectKind::Certificate => "certificates",
    }
}

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

impl Principal {
    /// Decides whether this principal may perform `action` on `resource`.
    pub fn authorize(&self, action: Action, resource: &Resource) -> Result<(), Error> {
        if self.roles.contains(&Role::Administrator) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "Caller is not authorized to perform action on resource. Caller: appid={}. Action: '{action}'. \
             Resource: '{resource}'.",
            self.client_id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_contain_narrower_ones() -> crate::Result<()> {
        let v = VaultName::parse("payments")?;
        let w = VaultName::parse("other")?;
        let n = ObjectName::parse("Db-Password")?;
        let object = Resource::object(&v, ObjectKind::Secret, &n);
        for wider in [
            Resource::Deployment,
            Resource::vault(&v),
            Resource::kind(&v, ObjectKind::Secret),
            Resource::object(&v, ObjectKind::Secret, &ObjectName::parse("db-password")?),
        ] {
            assert!(wider.contains(&object), "{wider} contains {object}");
        }
        for other in [
            Resource::vault(&w),
            Resource::kind(&v, ObjectKind::Key),
            Resource::object(&v, ObjectKind::Key, &n),
        ] {
            assert!(
                !other.contains(&object),
                "{other} does not contain {object}"
            );
        }
        assert!(!object.contains(&Resource::vault(&v)));
        assert_eq!(object.to_string(), "/vaults/payments/secrets/Db-Password");
        Ok(())
    }

    #[test]
    fn action_names_are_distinct() {
        let names: std::collections::BTreeSet<&str> =
            Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
