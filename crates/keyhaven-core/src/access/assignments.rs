//! Role assignments (a role, given to a principal, at a scope) and custom role definitions; and the cache that
//! turns a token's principal into a [`Principal`] with its roles on every request.

use crate::caller_cache::{Cached, CACHE_LIMIT, CACHE_TTL};
use crate::records::{self, AssignmentRecord, PrincipalRecord, ScopeRecord};
use crate::roles::{
    built_in_role, built_in_roles, Permission, RoleDefinition, RoleType,
    ASSIGNABLE_BY_DATA_ACCESS_ADMINISTRATOR,
};
use crate::{Action, Grant, Principal, Resource};
use crate::{Error, Keyhaven, Result};
use keyhaven_model::{ObjectName, VaultName};
use keyhaven_store::{Snapshot, WriteTxn};
use std::sync::Arc;
use std::time::Instant;

/// A role assigned to a principal at a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The assignment's GUID.
    pub name: String,
    /// Where the role applies: this scope and every scope inside it.
    pub scope: Resource,
    /// The role definition's GUID.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
}

/// Which assignments a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    /// Only those at the scope or above it (`atScope()`); otherwise also those below it.
    pub at_scope: bool,
    /// Only those of this principal (`assignedTo('{objectId}')`).
    pub principal: Option<String>,
}

fn scope_record(r: &Resource) -> ScopeRecord {
    match r {
        Resource::Deployment => ScopeRecord {
            vault: None,
            kind: None,
            name: None,
        },
        Resource::Vault(v) => ScopeRecord {
            vault: Some(v.to_string()),
            kind: None,
            name: None,
        },
        Resource::Kind(v, k) => ScopeRecord {
            vault: Some(v.to_string()),
            kind: Some(*k),
            name: None,
        },
        Resource::Object(v, k, n) => ScopeRecord {
            vault: Some(v.to_string()),
            kind: Some(*k),
            name: Some(n.as_str().to_string()),
        },
    }
}

fn scope_of(s: &ScopeRecord) -> Result<Resource> {
    let vault =
        |v: &str| VaultName::parse(v).map_err(|_| Error::corrupt("a stored scope is not valid"));
    Ok(match (&s.vault, s.kind, &s.name) {
        (None, _, _) => Resource::Deployment,
        (Some(v), None, _) => Resource::Vault(vault(v)?),
        (Some(v), Some(k), None) => Resource::Kind(vault(v)?, k),
        (Some(v), Some(k), Some(n)) => Resource::Object(
            vault(v)?,
            k,
            ObjectName::parse(n).map_err(|_| Error::corrupt("a stored scope is not valid"))?,
        ),
    })
}

fn assignment_of(r: &AssignmentRecord) -> Result<RoleAssignment> {
    Ok(RoleAssignment {
        name: r.name.clone(),
        scope: scope_of(&r.scope)?,
        role_definition_id: r.role_definition.clone(),
        principal_id: r.principal.clone(),
    })
}

/// Writes an assignment with its index entry.
pub(super) fn put_assignment(txn: &mut dyn WriteTxn, a: &AssignmentRecord) -> Result<()> {
    records::write_txn(txn, &records::assignment_key(&a.name), a)?;
    txn.put(
        &records::principal_assignment_key(&a.principal, &a.name),
        b"",
    )?;
    Ok(())
}

pub(super) fn delete_assignment(txn: &mut dyn WriteTxn, a: &AssignmentRecord) -> Result<()> {
    txn.delete(&records::assignment_key(&a.name))?;
    txn.delete(&records::principal_assignment_key(&a.principal, &a.name))?;
    Ok(())
}

/// A principal's assignments, read in a write transaction.
pub(super) fn assignments_of_in_txn(
    txn: &mut dyn WriteTxn,
    object_id: &str,
) -> Result<Vec<AssignmentRecord>> {
    let prefix = records::principal_assignments_prefix(object_id);
    let index = txn.scan(
        &prefix,
        &keyhaven_store::keys::prefix_end(&prefix),
        usize::MAX,
    )?;
    let mut out = Vec::with_capacity(index.len());
    for (k, _) in index {
        let name = String::from_utf8_lossy(keyhaven_store::keys::last_component(&k)).into_owned();
        if let Some(a) = records::read_txn(txn, &records::assignment_key(&name))? {
            out.push(a);
        }
    }
    Ok(out)
}

/// Every assignment, read in a write transaction.
fn all_assignments_in_txn(txn: &mut dyn WriteTxn) -> Result<Vec<AssignmentRecord>> {
    let p = records::assignments_prefix();
    txn.scan(&p, &keyhaven_store::keys::prefix_end(&p), usize::MAX)?
        .into_iter()
        .map(|(_, v)| records::decode(&v))
        .collect()
}

/// Refuses to leave the deployment without an administrator: `removed` may not hold every assignment that makes
/// one (a role granting every vault data action, at deployment scope).
pub(super) fn keep_an_administrator(
    txn: &mut dyn WriteTxn,
    removed: &[AssignmentRecord],
) -> Result<()> {
    let custom = custom_roles_in_txn(txn)?;
    let is_admin = |a: &AssignmentRecord| {
        a.scope.vault.is_none()
            && role_of(&a.role_definition, &custom).is_some_and(|r| r.grants_all_vault_data())
    };
    let remaining = all_assignments_in_txn(txn)?
        .into_iter()
        .filter(|a| is_admin(a) && !removed.iter().any(|r| r.name == a.name))
        .count();
    if remaining == 0 && removed.iter().any(is_admin) {
        return Err(Error::Conflict(
            "This would leave the deployment without an administrator (Key Vault Administrator at deployment \
             scope); assign one to another principal first."
                .into(),
        ));
    }
    Ok(())
}

fn custom_roles_in_txn(txn: &mut dyn WriteTxn) -> Result<Vec<RoleDefinition>> {
    let p = records::role_definitions_prefix();
    txn.scan(&p, &keyhaven_store::keys::prefix_end(&p), usize::MAX)?
        .into_iter()
        .map(|(_, v)| records::decode(&v))
        .collect()
}

fn custom_roles(snap: &dyn Snapshot) -> Result<Vec<RoleDefinition>> {
    let mut out = Vec::new();
    records::for_each_under(
        snap,
        &records::role_definitions_prefix(),
        256,
        &mut |_, v| {
            out.push(records::decode(&v)?);
            Ok(())
        },
    )?;
    Ok(out)
}

/// The role with this GUID, built in or custom.
fn role_of(id: &str, custom: &[RoleDefinition]) -> Option<RoleDefinition> {
    built_in_role(id).or_else(|| {
        custom
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .cloned()
    })
}

/// The GUID in a role definition id as clients send it: the GUID itself, or an id ending in
/// `/roleDefinitions/{guid}`.
fn role_guid(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn guid_ok(s: &str, what: &str) -> Result<String> {
    let ok = s.len() == 36
        && s.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(Error::BadParameter(format!(
            "The {what} must be a GUID, not '{}'.",
            s.chars().take(64).collect::<String>()
        )))
    }
}

/// Whether an assignment at `assigned` shows in a listing for `scope`.
fn related(assigned: &Resource, scope: &Resource, filter: &AssignmentFilter) -> bool {
    assigned.contains(scope) || (!filter.at_scope && scope.contains(assigned))
}

/// A custom role to create or replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinitionChange {
    /// The role's display name: 1 to 120 characters, unique among all roles (case-insensitive).
    pub role_name: String,
    /// What the role is for.
    pub description: String,
    /// What it grants: at least one block.
    pub permissions: Vec<Permission>,
    /// Where it may be assigned, as the RBAC API writes scopes; `/` when empty. Kept and returned as given:
    /// creating an assignment does not check them.
    pub assignable_scopes: Vec<String>,
}

impl Keyhaven {
    /// The principal a token names (`object_id`, and the secret it was obtained with), with its roles. Refused
    /// when the principal or the secret no longer exists or the secret has expired.
    pub fn caller(&self, object_id: &str, secret_id: &str) -> Result<Principal> {
        let cached = self
            .access
            .principals
            .read()
            .ok()
            .and_then(|m| m.get(object_id).cloned())
            .filter(|c| c.loaded.elapsed() < CACHE_TTL);
        let c = match cached {
            Some(c) => c,
            None => {
                let c = Arc::new(self.load_caller(object_id)?);
                if let Ok(mut m) = self.access.principals.write() {
                    if m.len() >= CACHE_LIMIT {
                        m.clear();
                    }
                    m.insert(object_id.to_string(), c.clone());
                }
                c
            }
        };
        let now = self.now();
        if !c
            .secrets
            .iter()
            .any(|(id, exp)| id == secret_id && exp.is_none_or(|e| e > now))
        {
            return Err(Error::Unauthorized(
                "The access token was revoked: its client secret was removed or has expired."
                    .into(),
            ));
        }
        Ok(Principal::new(
            c.client_id.clone(),
            object_id,
            c.grants.clone(),
        ))
    }

    fn load_caller(&self, object_id: &str) -> Result<Cached> {
        let snap = self.snapshot()?;
        let rec: PrincipalRecord = records::read(&*snap, &records::principal_key(object_id))?
            .ok_or_else(|| {
                Error::Unauthorized(
                    "The access token was revoked: its principal no longer exists.".into(),
                )
            })?;
        let custom = custom_roles(&*snap)?;
        let mut grants = Vec::new();
        records::for_each_under(
            &*snap,
            &records::principal_assignments_prefix(object_id),
            256,
            &mut |k, _| {
                let name =
                    String::from_utf8_lossy(keyhaven_store::keys::last_component(&k)).into_owned();
                let Some(a) =
                    records::read::<AssignmentRecord>(&*snap, &records::assignment_key(&name))?
                else {
                    return Ok(());
                };
                if let Some(role) = role_of(&a.role_definition, &custom) {
                    grants.push(Grant {
                        scope: scope_of(&a.scope)?,
                        role: Arc::new(role),
                    });
                }
                Ok(())
            },
        )?;
        Ok(Cached {
            client_id: rec.client_id,
            secrets: rec.secrets.into_iter().map(|s| (s.id, s.expires)).collect(),
            grants: grants.into(),
            loaded: Instant::now(),
        })
    }

    /// The roles that may be assigned at `scope`: every built-in role and every custom role.
    pub fn list_role_definitions(
        &self,
        who: &Principal,
        scope: &Resource,
    ) -> Result<Vec<RoleDefinition>> {
        who.authorize(Action::RoleDefinitionsRead, scope)?;
        let mut all = built_in_roles();
        all.extend(custom_roles(&*self.snapshot()?)?);
        Ok(all)
    }

    /// One role definition, by GUID.
    pub fn get_role_definition(
        &self,
        who: &Principal,
        scope: &Resource,
        id: &str,
    ) -> Result<RoleDefinition> {
        who.authorize(Action::RoleDefinitionsRead, scope)?;
        role_of(role_guid(id), &custom_roles(&*self.snapshot()?)?)
            .ok_or_else(|| Error::RoleDefinitionNotFound(id.chars().take(64).collect()))
    }

    /// Creates or replaces a custom role. Built-in roles cannot be changed.
    pub async fn set_role_definition(
        &self,
        who: &Principal,
        scope: &Resource,
        id: &str,
        change: RoleDefinitionChange,
    ) -> Result<RoleDefinition> {
        who.authorize(Action::RoleDefinitionsWrite, scope)?;
        let id = guid_ok(role_guid(id), "role definition name")?;
        if built_in_role(&id).is_some() {
            return Err(Error::Forbidden(
                "Built-in role definitions cannot be changed.".into(),
            ));
        }
        let role_name = change.role_name.trim().to_string();
        if role_name.is_empty() || role_name.chars().count() > 120 {
            return Err(Error::BadParameter(
                "A role needs a name of 1 to 120 characters ('roleName').".into(),
            ));
        }
        if change.permissions.is_empty()
            || change.permissions.iter().any(|p| {
                [
                    &p.actions,
                    &p.not_actions,
                    &p.data_actions,
                    &p.not_data_actions,
                ]
                .iter()
                .any(|l| l.iter().any(|a| a.trim().is_empty() || a.len() > 256))
            })
        {
            return Err(Error::BadParameter(
                "A role needs at least one permission block, and every action in it must be a name or a pattern."
                    .into(),
            ));
        }
        let def = RoleDefinition {
            id,
            role_name,
            description: change.description,
            role_type: RoleType::Custom,
            permissions: change.permissions,
            assignable_scopes: if change.assignable_scopes.is_empty() {
                vec!["/".into()]
            } else {
                change.assignable_scopes
            },
        };
        let stored = def.clone();
        self.store
            .write(move |txn| {
                let roles = custom_roles_in_txn(txn)?;
                if roles.iter().any(|r| {
                    r.id != stored.id && r.role_name.eq_ignore_ascii_case(&stored.role_name)
                }) || built_in_roles()
                    .iter()
                    .any(|r| r.role_name.eq_ignore_ascii_case(&stored.role_name))
                {
                    return Err(Error::Conflict(format!(
                        "A role named '{}' exists already.",
                        stored.role_name
                    )));
                }
                records::write_txn(txn, &records::role_definition_key(&stored.id), &stored)
            })
            .await?;
        self.access.clear();
        Ok(def)
    }

    /// Deletes a custom role that no assignment uses.
    pub async fn delete_role_definition(
        &self,
        who: &Principal,
        scope: &Resource,
        id: &str,
    ) -> Result<RoleDefinition> {
        who.authorize(Action::RoleDefinitionsDelete, scope)?;
        let id = role_guid(id).to_ascii_lowercase();
        if built_in_role(&id).is_some() {
            return Err(Error::Forbidden(
                "Built-in role definitions cannot be deleted.".into(),
            ));
        }
        let def = self
            .store
            .write(move |txn| {
                let key = records::role_definition_key(&id);
                let def: RoleDefinition = records::read_txn(txn, &key)?
                    .ok_or_else(|| Error::RoleDefinitionNotFound(id.clone()))?;
                if all_assignments_in_txn(txn)?
                    .iter()
                    .any(|a| a.role_definition.eq_ignore_ascii_case(&id))
                {
                    return Err(Error::Conflict(format!(
                        "Role '{}' is assigned; delete its assignments first.",
                        def.role_name
                    )));
                }
                txn.delete(&key)?;
                Ok(def)
            })
            .await?;
        self.access.clear();
        Ok(def)
    }

    /// The assignments related to `scope`: at it or above it and, unless `filter.at_scope`, below it.
    pub fn list_role_assignments(
        &self,
        who: &Principal,
        scope: &Resource,
        filter: &AssignmentFilter,
    ) -> Result<Vec<RoleAssignment>> {
        who.authorize(Action::RoleAssignmentsRead, scope)?;
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        records::for_each_under(&*snap, &records::assignments_prefix(), 256, &mut |_, v| {
            let a = assignment_of(&records::decode(&v)?)?;
            let mine = filter
                .principal
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(&a.principal_id));
            if mine && related(&a.scope, scope, filter) {
                out.push(a);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One assignment at `scope` or inside it, by name.
    pub fn get_role_assignment(
        &self,
        who: &Principal,
        scope: &Resource,
        name: &str,
    ) -> Result<RoleAssignment> {
        who.authorize(Action::RoleAssignmentsRead, scope)?;
        let rec: AssignmentRecord = records::read(
            &*self.snapshot()?,
            &records::assignment_key(&name.to_ascii_lowercase()),
        )?
        .ok_or_else(|| Error::RoleAssignmentNotFound(name.chars().take(64).collect()))?;
        let a = assignment_of(&rec)?;
        if !scope.contains(&a.scope) {
            return Err(Error::RoleAssignmentNotFound(
                name.chars().take(64).collect(),
            ));
        }
        Ok(a)
    }

    /// Assigns a role to a principal at `scope`. A Key Vault Data Access Administrator (who is not a deployment
    /// administrator) may assign only the Key Vault data roles, as Azure's condition on that role says.
    pub async fn create_role_assignment(
        &self,
        who: &Principal,
        scope: &Resource,
        name: &str,
        role_definition_id: &str,
        principal_id: &str,
    ) -> Result<RoleAssignment> {
        who.authorize(Action::RoleAssignmentsWrite, scope)?;
        let name = guid_ok(name, "role assignment name")?;
        let role = role_guid(role_definition_id).to_ascii_lowercase();
        if !who.is_deployment_administrator()
            && !ASSIGNABLE_BY_DATA_ACCESS_ADMINISTRATOR.contains(&role.as_str())
        {
            return Err(Error::Forbidden(format!(
                "Only a deployment administrator may assign role {role}: a Key Vault Data Access Administrator may \
                 assign the Key Vault data roles only."
            )));
        }
        let rec = AssignmentRecord {
            name: name.clone(),
            scope: scope_record(scope),
            role_definition: role.clone(),
            principal: principal_id.to_ascii_lowercase(),
            created: self.now(),
        };
        let stored = self
            .store
            .write(move |txn| {
                if role_of(&role, &custom_roles_in_txn(txn)?).is_none() {
                    return Err(Error::RoleDefinitionNotFound(role.clone()));
                }
                if records::read_txn::<PrincipalRecord>(
                    txn,
                    &records::principal_key(&rec.principal),
                )?
                .is_none()
                {
                    return Err(Error::principal_not_found(&rec.principal));
                }
                if let Some(existing) =
                    records::read_txn::<AssignmentRecord>(txn, &records::assignment_key(&rec.name))?
                {
                    if existing.scope == rec.scope
                        && existing.role_definition == rec.role_definition
                        && existing.principal == rec.principal
                    {
                        return Ok(existing);
                    }
                    return Err(Error::Conflict(format!(
                        "A role assignment named {} exists already with other properties.",
                        rec.name
                    )));
                }
                if assignments_of_in_txn(txn, &rec.principal)?
                    .iter()
                    .any(|a| a.scope == rec.scope && a.role_definition == rec.role_definition)
                {
                    return Err(Error::RoleAssignmentExists(
                        "the principal has this role at this scope under another assignment."
                            .into(),
                    ));
                }
                put_assignment(txn, &rec)?;
                Ok(rec)
            })
            .await?;
        self.access.clear();
        assignment_of(&stored)
    }

    /// Removes an assignment at `scope` or inside it. Refused when it would leave the deployment without an
    /// administrator.
    pub async fn delete_role_assignment(
        &self,
        who: &Principal,
        scope: &Resource,
        name: &str,
    ) -> Result<RoleAssignment> {
        who.authorize(Action::RoleAssignmentsDelete, scope)?;
        let (name, scope) = (name.to_ascii_lowercase(), scope.clone());
        let gone = self
            .store
            .write(move |txn| {
                let rec: AssignmentRecord =
                    records::read_txn(txn, &records::assignment_key(&name))?
                        .filter(|a: &AssignmentRecord| {
                            scope_of(&a.scope).is_ok_and(|s| scope.contains(&s))
                        })
                        .ok_or_else(|| Error::RoleAssignmentNotFound(name.clone()))?;
                keep_an_administrator(txn, std::slice::from_ref(&rec))?;
                delete_assignment(txn, &rec)?;
                Ok::<_, Error>(rec)
            })
            .await?;
        self.access.clear();
        assignment_of(&gone)
    }
}

/// Removes every assignment scoped to `vault` or inside it (the vault is being deleted: a vault created later
/// under the same name must not inherit them).
pub(crate) fn delete_vault_assignments(txn: &mut dyn WriteTxn, vault: &str) -> Result<()> {
    for a in all_assignments_in_txn(txn)? {
        if a.scope.vault.as_deref() == Some(vault) {
            delete_assignment(txn, &a)?;
        }
    }
    Ok(())
}
