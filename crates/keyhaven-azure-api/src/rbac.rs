//! Role-based access control on the wire: Azure's RBAC API (`rbac.json`: role definitions and role assignments
//! under `/{scope}/providers/Microsoft.Authorization/...`), which Keyhaven serves on every vault host (scopes
//! relative to that vault) and, for deployment scope, under `/_keyhaven/`.

use serde::{Deserialize, Serialize};

/// `type` of a role definition.
pub const ROLE_DEFINITION_TYPE: &str = "Microsoft.Authorization/roleDefinitions";
/// `type` of a role assignment.
pub const ROLE_ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/roleAssignments";

/// One block of a role's permissions (every list always present in responses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Control-plane actions granted.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Control-plane actions excluded.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data actions granted.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Data actions excluded.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// A role definition's properties.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    /// The role's display name (`Key Vault Secrets User`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// What the role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `AKVBuiltInRole` or `CustomRole`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub role_type: Option<String>,
    /// What the role grants.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Where it may be assigned (`/`: anywhere).
    #[serde(default)]
    pub assignable_scopes: Vec<String>,
}

/// A role definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinition {
    /// `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
    pub id: String,
    /// The GUID.
    pub name: String,
    /// `Microsoft.Authorization/roleDefinitions`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the role is and grants.
    pub properties: RoleDefinitionProperties,
}

/// `PUT …/roleDefinitions/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinitionCreateParameters {
    /// The role definition to create or replace.
    pub properties: RoleDefinitionProperties,
}

/// A role assignment's properties as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    /// The role definition's id (or its GUID).
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
}

/// `PUT …/roleAssignments/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignmentCreateParameters {
    /// The role, the principal.
    pub properties: RoleAssignmentProperties,
}

/// A role assignment's properties as read, with its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentPropertiesWithScope {
    /// `/`, `/keys`, `/keys/{name}` (relative to the vault); on the management API also `/vaults/{vault}/…` and
    /// `/` for the deployment.
    pub scope: String,
    /// The role definition's id.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
}

/// A role assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: String,
    /// The assignment's GUID.
    pub name: String,
    /// `Microsoft.Authorization/roleAssignments`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it applies, and what it gives to whom.
    pub properties: RoleAssignmentPropertiesWithScope,
}
