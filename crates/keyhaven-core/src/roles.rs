//! Role definitions: Azure's built-in Key Vault roles (names, ids and permissions as Azure's documentation defines
//! them), Keyhaven's Backup Operator, and custom roles; and how a role's permissions are matched against an
//! action, as Azure evaluates them (`*` matches any run of characters, names compare case-insensitively, an action
//! is granted by a permission block that lists it and does not exclude it).

use crate::actions::{Action, ActionPlane};
use serde::{Deserialize, Serialize};

/// One block of a role's permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Control-plane actions granted.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Control-plane actions excluded from `actions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data actions granted.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Data actions excluded from `data_actions`.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

impl Permission {
    /// Whether this block grants `action`.
    pub fn grants(&self, action: Action) -> bool {
        let name = action.as_str();
        let (granted, excluded) = match action.plane() {
            ActionPlane::Data => (&self.data_actions, &self.not_data_actions),
            ActionPlane::Control => (&self.actions, &self.not_actions),
            ActionPlane::Management => return false,
        };
        granted.iter().any(|p| matches(p, name)) && !excluded.iter().any(|p| matches(p, name))
    }

    /// Whether this block grants every data action of every vault: what makes a role assigned at deployment scope
    /// a deployment administrator.
    fn grants_all_vault_data(&self) -> bool {
        self.not_data_actions.is_empty()
            && self.data_actions.iter().any(|p| {
                ["*", "Microsoft.KeyVault/*", "Microsoft.KeyVault/vaults/*"]
                    .iter()
                    .any(|all| p.eq_ignore_ascii_case(all))
            })
    }
}

/// Built into Azure (or Keyhaven), or defined by a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleType {
    /// Built in: cannot be changed or deleted.
    #[serde(rename = "AKVBuiltInRole")]
    BuiltIn,
    /// Defined through the RBAC API.
    #[serde(rename = "CustomRole")]
    Custom,
}

/// A role: what it is called and what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    /// The role's GUID (its `name` in the RBAC API).
    pub id: String,
    /// Its display name (`Key Vault Secrets User`, …).
    pub role_name: String,
    /// What it is for, in a sentence.
    pub description: String,
    /// Built in or custom.
    pub role_type: RoleType,
    /// What it grants: an action is granted when any one block grants it.
    pub permissions: Vec<Permission>,
    /// Where it may be assigned, as the RBAC API writes scopes (`/`, `/keys`).
    pub assignable_scopes: Vec<String>,
}

impl RoleDefinition {
    /// Whether the role grants `action` (on whatever scope it is assigned at).
    pub fn grants(&self, action: Action) -> bool {
        self.permissions.iter().any(|p| p.grants(action))
    }

    /// Whether the role grants every data action of every vault (Key Vault Administrator, or a custom role with
    /// `Microsoft.KeyVault/vaults/*`): assigned at deployment scope, it makes its principal a deployment
    /// administrator, who may also manage the deployment and every assignment.
    pub fn grants_all_vault_data(&self) -> bool {
        self.permissions.iter().any(|p| p.grants_all_vault_data())
    }
}

/// Azure's wildcard match: `*` stands for any run of characters; case-insensitive.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    // Greedy matching with backtracking to the last star.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Key Vault Administrator.
pub const KEY_VAULT_ADMINISTRATOR: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
/// Key Vault Data Access Administrator.
pub const KEY_VAULT_DATA_ACCESS_ADMINISTRATOR: &str = "8b54135c-b56d-4d72-a534-26097cfdc8d8";
/// Keyhaven Backup Operator (Keyhaven's own role).
pub const KEYHAVEN_BACKUP_OPERATOR: &str = "5a1f6c2e-8d3b-4e7a-9c61-0b2e4f7d8a35";

/// The roles Key Vault Data Access Administrator may assign (Azure's condition on that role, plus Keyhaven's
/// Backup Operator): every Key Vault data role, never itself nor a custom role.
pub const ASSIGNABLE_BY_DATA_ACCESS_ADMINISTRATOR: [&str; 9] = [
    KEY_VAULT_ADMINISTRATOR,
    "a4417e6f-fecd-4de8-b567-7b0420556985",
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "12338af0-0e69-4776-bea7-57ae8d297424",
    "21090545-7ca7-4776-b22c-e363652d74d2",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "4633458b-17de-408a-b874-0445c86b69e6",
    KEYHAVEN_BACKUP_OPERATOR,
];

/// The control-plane actions most Key Vault roles carry in Azure (reading the vault resource and its
/// assignments); here they grant reading role definitions and assignments.
const COMMON_ACTIONS: [&str; 10] = [
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
];

const RBAC_ONLY: &str =
    " Only works for key vaults that use the 'Azure role-based access control' permission model.";

fn built_in(
    id: &str,
    name: &str,
    description: &str,
    actions: &[&str],
    data_actions: &[&str],
) -> RoleDefinition {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    RoleDefinition {
        id: id.into(),
        role_name: name.into(),
        description: description.into(),
        role_type: RoleType::BuiltIn,
        permissions: vec![Permission {
            actions: strings(actions),
            not_actions: Vec::new(),
            data_actions: strings(data_actions),
            not_data_actions: Vec::new(),
        }],
        assignable_scopes: vec!["/".into()],
    }
}

/// Key Vault Administrator: every data action of the vaults in its scope.
pub fn key_vault_administrator() -> RoleDefinition {
    built_in(
        KEY_VAULT_ADMINISTRATOR,
        "Key Vault Administrator",
        &format!(
            "Perform all data plane operations on a key vault and all objects in it, including certificates, \
             keys, and secrets. Cannot manage key vault resources or manage role assignments.{RBAC_ONLY}"
        ),
        &COMMON_ACTIONS,
        &["Microsoft.KeyVault/vaults/*"],
    )
}

/// Every built-in role.
pub fn built_in_roles() -> Vec<RoleDefinition> {
    vec![
        key_vault_administrator(),
        built_in(
            "21090545-7ca7-4776-b22c-e363652d74d2",
            "Key Vault Reader",
            &format!(
                "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values \
                 such as secret contents or key material.{RBAC_ONLY}"
            ),
            &COMMON_ACTIONS,
            &[
                "Microsoft.KeyVault/vaults/*/read",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            ],
        ),
        built_in(
            "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
            "Key Vault Secrets Officer",
            &format!(
                "Perform any action on the secrets of a key vault, except manage permissions.{RBAC_ONLY}"
            ),
            &COMMON_ACTIONS,
            &["Microsoft.KeyVault/vaults/secrets/*"],
        ),
        built_in(
            "4633458b-17de-408a-b874-0445c86b69e6",
            "Key Vault Secrets User",
            &format!("Read secret contents.{RBAC_ONLY}"),
            &[],
            &[
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            ],
        ),
        built_in(
            "a4417e6f-fecd-4de8-b567-7b0420556985",
            "Key Vault Certificates Officer",
            &format!(
                "Perform any action on the certificates of a key vault, except manage permissions.{RBAC_ONLY}"
            ),
            &COMMON_ACTIONS,
            &[
                "Microsoft.KeyVault/vaults/certificatecas/*",
                "Microsoft.KeyVault/vaults/certificates/*",
                "Microsoft.KeyVault/vaults/certificatecontacts/write",
            ],
        ),
        built_in(
            "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
            "Key Vault Certificate User",
            &format!("Read certificate contents.{RBAC_ONLY}"),
            &[],
            &[
                "Microsoft.KeyVault/vaults/certificates/read",
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
                "Microsoft.KeyVault/vaults/keys/read",
            ],
        ),
        built_in(
            "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
            "Key Vault Crypto Officer",
            &format!(
                "Perform any action on the keys of a key vault, except manage permissions.{RBAC_ONLY}"
            ),
            &COMMON_ACTIONS,
            &[
                "Microsoft.KeyVault/vaults/keys/*",
                "Microsoft.KeyVault/vaults/keyrotationpolicies/*",
            ],
        ),
        built_in(
            "12338af0-0e69-4776-bea7-57ae8d297424",
            "Key Vault Crypto User",
            &format!("Perform cryptographic operations using keys.{RBAC_ONLY}"),
            &[],
            &[
                "Microsoft.KeyVault/vaults/keys/read",
                "Microsoft.KeyVault/vaults/keys/update/action",
                "Microsoft.KeyVault/vaults/keys/backup/action",
                "Microsoft.KeyVault/vaults/keys/encrypt/action",
                "Microsoft.KeyVault/vaults/keys/decrypt/action",
                "Microsoft.KeyVault/vaults/keys/wrap/action",
                "Microsoft.KeyVault/vaults/keys/unwrap/action",
                "Microsoft.KeyVault/vaults/keys/sign/action",
                "Microsoft.KeyVault/vaults/keys/verify/action",
            ],
        ),
        built_in(
            "e147488a-f6f5-4113-8e2d-b22465e65bf6",
            "Key Vault Crypto Service Encryption User",
            &format!("Read metadata of keys and perform wrap/unwrap operations.{RBAC_ONLY}"),
            &[
                "Microsoft.EventGrid/eventSubscriptions/write",
                "Microsoft.EventGrid/eventSubscriptions/read",
                "Microsoft.EventGrid/eventSubscriptions/delete",
            ],
            &[
                "Microsoft.KeyVault/vaults/keys/read",
                "Microsoft.KeyVault/vaults/keys/wrap/action",
                "Microsoft.KeyVault/vaults/keys/unwrap/action",
            ],
        ),
        built_in(
            "08bbd89e-9f13-488c-ac41-acfcb10c90ab",
            "Key Vault Crypto Service Release User",
            &format!("Release keys.{RBAC_ONLY}"),
            &[],
            &["Microsoft.KeyVault/vaults/keys/release/action"],
        ),
        built_in(
            KEY_VAULT_DATA_ACCESS_ADMINISTRATOR,
            "Key Vault Data Access Administrator",
            "Manage access to Azure Key Vault by adding or removing role assignments for the Key Vault \
             Administrator, Key Vault Certificates Officer, Key Vault Crypto Officer, Key Vault Crypto Service \
             Encryption User, Key Vault Crypto User, Key Vault Reader, Key Vault Secrets Officer, or Key Vault \
             Secrets User roles. Includes an ABAC condition to constrain role assignments.",
            &[
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/delete",
                "Microsoft.Authorization/*/read",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Resources/subscriptions/read",
                "Microsoft.Management/managementGroups/read",
                "Microsoft.Support/*",
                "Microsoft.KeyVault/vaults/*/read",
            ],
            &[],
        ),
        built_in(
            KEYHAVEN_BACKUP_OPERATOR,
            "Keyhaven Backup Operator",
            "Back up and restore every kind of object and whole vaults, verify vault backups, and list metadata. \
             Cannot read secret values or key material, use keys, or delete or purge anything.",
            &[],
            &[
                "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
                "Microsoft.KeyVault/vaults/secrets/backup/action",
                "Microsoft.KeyVault/vaults/secrets/restore/action",
                "Microsoft.KeyVault/vaults/keys/read",
                "Microsoft.KeyVault/vaults/keys/backup/action",
                "Microsoft.KeyVault/vaults/keys/restore/action",
                "Microsoft.KeyVault/vaults/certificates/read",
                "Microsoft.KeyVault/vaults/certificates/backup/action",
                "Microsoft.KeyVault/vaults/certificates/restore/action",
                "Microsoft.KeyVault/vaults/certificatecas/read",
                "Microsoft.KeyVault/vaults/backup/start/action",
                "Microsoft.KeyVault/vaults/restore/start/action",
                "Microsoft.KeyVault/vaults/backup/verify/action",
            ],
        ),
    ]
}

/// The built-in role with this GUID.
pub fn built_in_role(id: &str) -> Option<RoleDefinition> {
    built_in_roles()
        .into_iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_azure_does() {
        assert!(matches(
            "Microsoft.KeyVault/vaults/*",
            "Microsoft.KeyVault/vaults/secrets/getSecret/action"
        ));
        assert!(matches(
            "microsoft.keyvault/VAULTS/*",
            "Microsoft.KeyVault/vaults/keys/read"
        ));
        assert!(matches(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/keys/read"
        ));
        assert!(!matches(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action"
        ));
        assert!(!matches(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/read"
        ));
        assert!(matches("*", "anything/at/all"));
        assert!(matches("a*b*c", "aXXbYYbc"));
        assert!(!matches("a*b*c", "aXXbYYb"));
        assert!(!matches(
            "Microsoft.KeyVault/vaults/secrets/*",
            "Microsoft.KeyVault/vaults/keys/read"
        ));
    }

    #[test]
    fn built_in_roles_grant_what_azure_documents() {
        let role = |name: &str| {
            built_in_roles()
                .into_iter()
                .find(|r| r.role_name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        let secrets_user = role("Key Vault Secrets User");
        assert!(secrets_user.grants(Action::SecretsGetSecret));
        assert!(!secrets_user.grants(Action::SecretsSetSecret));
        assert!(!secrets_user.grants(Action::SecretsBackup));
        let reader = role("Key Vault Reader");
        assert!(reader.grants(Action::KeysRead));
        assert!(reader.grants(Action::SecretsReadMetadata));
        assert!(!reader.grants(Action::SecretsGetSecret));
        assert!(reader.grants(Action::RoleAssignmentsRead));
        assert!(!reader.grants(Action::RoleAssignmentsWrite));
        let backup = role("Keyhaven Backup Operator");
        for a in [
            Action::SecretsBackup,
            Action::KeysRestore,
            Action::VaultBackup,
            Action::VaultRestore,
        ] {
            assert!(backup.grants(a), "{a}");
        }
        for a in [
            Action::SecretsGetSecret,
            Action::KeysSign,
            Action::KeysEncrypt,
            Action::SecretsDelete,
            Action::SecretsPurge,
        ] {
            assert!(!backup.grants(a), "{a}");
        }
        assert!(role("Key Vault Administrator").grants_all_vault_data());
        assert!(!role("Key Vault Secrets Officer").grants_all_vault_data());
        let dara = role("Key Vault Data Access Administrator");
        assert!(dara.grants(Action::RoleAssignmentsWrite));
        assert!(!dara.grants(Action::SecretsReadMetadata));
        assert!(!role("Key Vault Administrator").grants(Action::RoleAssignmentsWrite));
        assert!(
            !role("Key Vault Administrator").grants(Action::VaultsWrite),
            "management is not a data action"
        );
    }

    #[test]
    fn not_actions_exclude() {
        let p = Permission {
            data_actions: vec!["Microsoft.KeyVault/vaults/secrets/*".into()],
            not_data_actions: vec!["Microsoft.KeyVault/vaults/secrets/getSecret/action".into()],
            ..Default::default()
        };
        assert!(p.grants(Action::SecretsSetSecret));
        assert!(!p.grants(Action::SecretsGetSecret));
    }
}
