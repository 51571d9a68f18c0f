//! `keyhaven role …` (as `az keyvault role`): role definitions and role assignments. With `--vault-name` they go to
//! Azure's RBAC API on the vault's host, at a scope relative to the vault (`/`, `/keys`, `/secrets/NAME`…); without
//! it, to the management API at deployment scope (every vault).

use super::output::{self, Format};
use super::{print_json, ClientArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use keyhaven_azure_api::principals::Principal;
use keyhaven_azure_api::rbac::{
    RoleAssignment, RoleAssignmentCreateParameters, RoleAssignmentProperties, RoleDefinition,
    RoleDefinitionProperties,
};
use keyhaven_client::{Client, RoleAssignmentFilter, VaultClient};
use serde::Serialize;

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Role definitions: Azure's built-in Key Vault roles, Keyhaven Backup Operator, and custom roles.
    #[command(subcommand)]
    Definition(RoleDefinitionCommand),
    /// Role assignments: a role, given to a principal, at a scope.
    #[command(subcommand)]
    Assignment(RoleAssignmentCommand),
}

#[derive(Subcommand)]
pub enum RoleDefinitionCommand {
    /// List the roles that may be assigned (at deployment scope, or at a vault's scope with --vault-name).
    ///
    /// Example: keyhaven role definition list -o table
    List {
        #[command(flatten)]
        at: Scope,
    },
}

#[derive(Subcommand)]
pub enum RoleAssignmentCommand {
    /// Assign a role to a principal: in a vault at a scope (--vault-name, --scope / for the whole vault, /keys,
    /// /secrets, /certificates, or one object such as /secrets/NAME), or without --vault-name at deployment scope
    /// (every vault).
    ///
    /// Example: keyhaven role assignment create --role "Key Vault Secrets User" --assignee 3f2c9a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f --vault-name default --scope /secrets/db-password
    Create {
        /// The role: its name (e.g. "Key Vault Secrets User", compared without case), GUID or id.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        assignee: Assignee,
        #[command(flatten)]
        at: Scope,
    },
    /// List role assignments: of a vault at a scope (those at the vault's scopes above it and inside it), or
    /// without --vault-name every assignment of the deployment (--scope / for those at deployment scope only).
    ///
    /// Example: keyhaven role assignment list --vault-name default --assignee 3f2c9a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f -o table
    List {
        #[command(flatten)]
        assignee: OptionalAssignee,
        #[command(flatten)]
        at: Scope,
    },
    /// Delete a role assignment by its name (a GUID; `role assignment list` shows it) or id.
    ///
    /// Example: keyhaven role assignment delete --id 7d1e0a52-46f3-4b8e-a0c1-5e2f3a4b6c7d --vault-name default
    Delete {
        /// The assignment's name (GUID) or id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        at: Scope,
    },
}

/// Where: a vault and a scope in it, or the deployment.
#[derive(Args, Clone, Debug)]
pub struct Scope {
    /// The vault (default: the deployment, every vault).
    #[arg(long)]
    vault_name: Option<String>,
    /// The vault by URL (overrides --vault-name): the server's own host or https://{vault}.{dns-suffix}.
    #[arg(long)]
    vault_url: Option<String>,
    /// The scope in the vault: / (the vault), /keys, /secrets, /certificates, or one object, e.g. /secrets/NAME.
    #[arg(long)]
    scope: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// The principal, by client id or object id (looked up), or by object id only (not looked up).
#[derive(Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct Assignee {
    /// The principal's client id or object id.
    #[arg(long)]
    assignee: Option<String>,
    /// The principal's object id, used as it is (no lookup: for callers who may not read principals).
    #[arg(long)]
    assignee_object_id: Option<String>,
}

#[derive(Args, Clone, Debug)]
#[group(required = false, multiple = false)]
pub struct OptionalAssignee {
    /// Only the assignments of this principal (client id or object id).
    #[arg(long)]
    assignee: Option<String>,
    /// Only the assignments of the principal with this object id (no lookup).
    #[arg(long)]
    assignee_object_id: Option<String>,
}

/// Where a verb acts, once connected.
enum Target {
    Deployment,
    /// A vault and the scope in it (`/` when not given).
    Vault(VaultClient, String),
}

impl Scope {
    async fn open(&self) -> Result<(Client, Target)> {
        let client = self.client.connect()?;
        let vault = match (&self.vault_url, &self.vault_name) {
            (Some(url), _) => Some(client.vault_at(url).await?),
            (None, Some(name)) => Some(client.vault(name).await?),
            (None, None) => None,
        };
        let target = match vault {
            Some(v) => Target::Vault(v, normal_scope(self.scope.as_deref().unwrap_or("/"))),
            None => Target::Deployment,
        };
        Ok((client, target))
    }

    /// Whether `--scope` names the vault itself (or is absent).
    fn scope_is_root(&self) -> bool {
        self.scope.as_deref().is_none_or(|s| s.trim() == "/")
    }
}

/// A scope with its leading `/` (`keys` → `/keys`) and without a trailing one.
fn normal_scope(s: &str) -> String {
    let t = s.trim().trim_matches('/');
    format!("/{t}")
}

/// A role definition as `az keyvault role definition list` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionView {
    role_name: String,
    name: String,
    id: String,
    role_type: String,
    description: String,
    permissions: Vec<keyhaven_azure_api::rbac::Permission>,
    assignable_scopes: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
}

impl From<RoleDefinition> for DefinitionView {
    fn from(d: RoleDefinition) -> Self {
        let RoleDefinitionProperties {
            role_name,
            description,
            role_type,
            permissions,
            assignable_scopes,
        } = d.properties;
        DefinitionView {
            role_name: role_name.unwrap_or_default(),
            name: d.name,
            id: d.id,
            role_type: role_type.unwrap_or_default(),
            description: description.unwrap_or_default(),
            permissions,
            assignable_scopes,
            kind: d.kind,
        }
    }
}

/// A role assignment as `az keyvault role assignment list` prints it: with its role's and principal's names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentView {
    name: String,
    role_name: Option<String>,
    principal_id: String,
    principal_name: Option<String>,
    scope: String,
    role_definition_id: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Names to show with assignments (whatever the caller may read).
struct Names {
    roles: Vec<RoleDefinition>,
    principals: Vec<Principal>,
}

impl Names {
    fn view(&self, a: RoleAssignment) -> AssignmentView {
        let guid = last_segment(&a.properties.role_definition_id);
        AssignmentView {
            role_name: self
                .roles
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(guid))
                .and_then(|r| r.properties.role_name.clone()),
            principal_name: self
                .principals
                .iter()
                .find(|p| p.object_id.eq_ignore_ascii_case(&a.properties.principal_id))
                .map(|p| p.display_name.clone()),
            name: a.name,
            principal_id: a.properties.principal_id,
            scope: a.properties.scope,
            role_definition_id: a.properties.role_definition_id,
            id: a.id,
            kind: a.kind,
        }
    }
}

/// The last `/`-separated part of an id (a GUID in a role definition or assignment id).
fn last_segment(id: &str) -> &str {
    let id = id.trim().trim_end_matches('/');
    id.rsplit('/').next().unwrap_or(id)
}

/// The roles that may be assigned where `target` is.
async fn definitions(client: &Client, target: &Target) -> Result<Vec<RoleDefinition>> {
    Ok(match target {
        Target::Deployment => client.list_role_definitions(None).await?,
        Target::Vault(v, scope) => v.list_role_definitions(scope, None)?.collect_all().await?,
    })
}

/// The role `role` names: by GUID, id, or name (without case).
fn find_role(defs: &[RoleDefinition], role: &str) -> Result<RoleDefinition> {
    let guid = last_segment(role);
    let found = defs.iter().find(|d| {
        d.name.eq_ignore_ascii_case(guid)
            || d.properties
                .role_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(role.trim()))
    });
    match found {
        Some(d) => Ok(d.clone()),
        None => {
            let mut names: Vec<&str> = defs
                .iter()
                .filter_map(|d| d.properties.role_name.as_deref())
                .collect();
            names.sort_unstable();
            bail!(
                "no role '{role}' here; the roles are: {}",
                names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// The object id of the principal `--assignee` names (looked up: a client id or an object id), or
/// `--assignee-object-id` as given.
async fn object_id(
    client: &Client,
    assignee: Option<&str>,
    object_id: Option<&str>,
) -> Result<Option<String>> {
    if let Some(oid) = object_id {
        return Ok(Some(oid.trim().to_string()));
    }
    let Some(id) = assignee else {
        return Ok(None);
    };
    match client.get_principal(id).await {
        Ok(p) => Ok(Some(p.object_id)),
        Err(e) if e.status() == Some(403) => Err(anyhow::Error::new(e).context(format!(
            "cannot look up the principal {id}: pass its object id with --assignee-object-id instead"
        ))),
        Err(e) => Err(anyhow::Error::new(e).context(format!("looking up the principal {id}"))),
    }
}

const DEFINITION_COLUMNS: [&str; 3] = ["roleName", "name", "roleType"];
const ASSIGNMENT_COLUMNS: [&str; 5] = ["name", "roleName", "principalName", "principalId", "scope"];

pub async fn run(cmd: RoleCommand) -> Result<()> {
    match cmd {
        RoleCommand::Definition(RoleDefinitionCommand::List { at }) => {
            let (client, target) = at.open().await?;
            let views: Vec<DefinitionView> = definitions(&client, &target)
                .await?
                .into_iter()
                .map(DefinitionView::from)
                .collect();
            output::print_columns(&views, &DEFINITION_COLUMNS)
        }
        RoleCommand::Assignment(RoleAssignmentCommand::Create { role, assignee, at }) => {
            let (client, target) = at.open().await?;
            if matches!(target, Target::Deployment) && !at.scope_is_root() {
                bail!(
                    "--scope needs --vault-name: without a vault, the assignment is at deployment scope (every vault)"
                );
            }
            let defs = definitions(&client, &target).await?;
            let role = find_role(&defs, &role)?;
            let principal_id = object_id(
                &client,
                assignee.assignee.as_deref(),
                assignee.assignee_object_id.as_deref(),
            )
            .await?
            .context("name the principal with --assignee")?;
            let params = RoleAssignmentCreateParameters {
                properties: RoleAssignmentProperties {
                    role_definition_id: role.id.clone(),
                    principal_id,
                },
            };
            let name = keyhaven_crypto::random_uuid()
                .map_err(|e| anyhow::anyhow!("making the assignment's name: {e}"))?;
            let a = match &target {
                Target::Deployment => client.create_role_assignment(&name, &params).await?,
                Target::Vault(v, scope) => v.create_role_assignment(scope, &name, &params).await?,
            };
            let principals = match assignee.assignee {
                Some(_) => client.list_principals().await.unwrap_or_default(),
                None => Vec::new(),
            };
            eprintln!(
                "Role '{}' assigned at {} (assignment {}).",
                role.properties.role_name.as_deref().unwrap_or(&role.name),
                match &target {
                    Target::Deployment => "deployment scope (every vault)".to_string(),
                    Target::Vault(v, _) => format!("{} in {}", a.properties.scope, v.base()),
                },
                a.name
            );
            let names = Names {
                roles: defs,
                principals,
            };
            let view = names.view(a);
            match output::format() {
                Format::Json => print_json(&view),
                _ => output::print_columns(&[view], &ASSIGNMENT_COLUMNS),
            }
        }
        RoleCommand::Assignment(RoleAssignmentCommand::List { assignee, at }) => {
            let (client, target) = at.open().await?;
            if matches!(target, Target::Deployment) && !at.scope_is_root() {
                bail!(
                    "--scope needs --vault-name (without a vault, --scope / lists the assignments at deployment \
                     scope only)"
                );
            }
            let filter = RoleAssignmentFilter {
                at_scope: matches!(target, Target::Deployment) && at.scope.is_some(),
                assigned_to: object_id(
                    &client,
                    assignee.assignee.as_deref(),
                    assignee.assignee_object_id.as_deref(),
                )
                .await?,
            };
            let list = match &target {
                Target::Deployment => client.list_role_assignments(&filter).await?,
                Target::Vault(v, scope) => {
                    v.list_role_assignments(scope, &filter)?
                        .collect_all()
                        .await?
                }
            };
            // The names are a convenience: a caller who may not read them still gets the list.
            let names = Names {
                roles: definitions(&client, &target).await.unwrap_or_default(),
                principals: client.list_principals().await.unwrap_or_default(),
            };
            let views: Vec<AssignmentView> = list.into_iter().map(|a| names.view(a)).collect();
            output::print_columns(&views, &ASSIGNMENT_COLUMNS)
        }
        RoleCommand::Assignment(RoleAssignmentCommand::Delete { id, at }) => {
            let (client, target) = at.open().await?;
            let a = match &target {
                Target::Deployment => {
                    if !at.scope_is_root() {
                        bail!(
                            "--scope needs --vault-name (without a vault, any assignment of the deployment is \
                             deleted by its name)"
                        );
                    }
                    client.delete_role_assignment(&id).await?
                }
                Target::Vault(v, scope) => {
                    // An id names its scope (`/secrets/x/providers/…/roleAssignments/{name}`): use it unless
                    // --scope says otherwise.
                    let scope = match (&at.scope, id.split_once("/providers/")) {
                        (None, Some((s, _))) => normal_scope(s),
                        _ => scope.clone(),
                    };
                    v.delete_role_assignment(&scope, &id).await?
                }
            };
            eprintln!("Role assignment {} deleted.", a.name);
            let names = Names {
                roles: definitions(&client, &target).await.unwrap_or_default(),
                principals: client.list_principals().await.unwrap_or_default(),
            };
            let view = names.view(a);
            match output::format() {
                Format::Json => print_json(&view),
                _ => output::print_columns(&[view], &ASSIGNMENT_COLUMNS),
            }
        }
    }
}
