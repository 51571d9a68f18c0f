//! Who may do what: the one place authorization is decided. Every domain operation asks
//! [`Principal::authorize`] with the Azure action it performs and the resource it performs it on, before it does
//! anything else. A principal carries the roles assigned to it (and where); the decision is Azure's: an action on a
//! resource is allowed when a role assigned at that resource or a scope containing it grants the action.
//!
//! A principal holding a role that grants every vault data action (Key Vault Administrator) at deployment scope
//! is a *deployment administrator*: it may also manage the deployment (vaults, geographies, principals) and every
//! role assignment and definition. The first-start admin is one.

mod actions;
mod assignments;
mod principals;
mod roles;
#[cfg(test)]
mod tests;

pub use actions::{Action, ActionPlane};
pub(crate) use assignments::delete_vault_assignments;
pub(crate) use assignments::AccessCache;
pub use assignments::{AssignmentFilter, RoleAssignment, RoleDefinitionChange};
pub use principals::{Authenticated, NewPrincipal, NewSecret, PrincipalInfo, SecretInfo};
pub use roles::{
    built_in_role, built_in_roles, Permission, RoleDefinition, RoleType, KEYHAVEN_BACKUP_OPERATOR,
    KEY_VAULT_ADMINISTRATOR, KEY_VAULT_DATA_ACCESS_ADMINISTRATOR,
};

use crate::Error;
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use std::fmt;
use std::sync::{Arc, Mutex};

/// A role assigned to a principal at a scope.
#[derive(Debug, Clone)]
pub struct Grant {
    pub scope: Resource,
    pub role: Arc<RoleDefinition>,
}

/// What authorization decided for an operation (the first decision of a request, kept for its audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub resource: Resource,
    pub allowed: bool,
}

/// The authenticated caller of an operation, with the roles assigned to it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The application (client) id it obtains tokens with.
    pub client_id: String,
    /// The id role assignments name it by.
    pub object_id: String,
    grants: Arc<[Grant]>,
    decision: Arc<Mutex<Option<Decision>>>,
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.client_id == other.client_id && self.object_id == other.object_id
    }
}

impl Eq for Principal {}

/// Which objects of a kind a listing may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// Every object (the action is granted on the kind or a wider scope).
    All,
    /// Only these (the action is granted on them one by one).
    Only(Vec<ObjectName>),
}

impl Visible {
    /// Whether an object of that name may be shown.
    pub fn shows(&self, name: &str) -> bool {
        match self {
            Visible::All => true,
            Visible::Only(names) => names.iter().any(|n| n.as_str().eq_ignore_ascii_case(name)),
        }
    }
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
    /// The vault the resource is in (none for the deployment).
    pub fn vault_name(&self) -> Option<&VaultName> {
        match self {
            Resource::Deployment => None,
            Resource::Vault(v) | Resource::Kind(v, _) | Resource::Object(v, _, _) => Some(v),
        }
    }

    /// The scope as the RBAC API writes it, relative to its vault: `/`, `/keys`, `/secrets/{name}` (`/` for the
    /// deployment).
    pub fn rbac_scope(&self) -> String {
        match self {
            Resource::Deployment | Resource::Vault(_) => "/".into(),
            Resource::Kind(_, k) => format!("/{}", collection(*k)),
            Resource::Object(_, k, n) => format!("/{}/{n}", collection(*k)),
        }
    }

    /// The scope named by an RBAC API path relative to `vault`: `/`, `/keys`, `/keys/{name}` (and the same for
    /// secrets and certificates).
    pub fn parse_rbac_scope(vault: &VaultName, scope: &str) -> Result<Resource, Error> {
        let parts: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
        let kind = |c: &str| match c.to_ascii_lowercase().as_str() {
            "keys" => Some(ObjectKind::Key),
            "secrets" => Some(ObjectKind::Secret),
            "certificates" => Some(ObjectKind::Certificate),
            _ => None,
        };
        let bad = || {
            Error::BadParameter(format!(
                "The scope '{}' is not valid: use /, /keys, /secrets, /certificates, or /keys/{{name}} (and so on).",
                scope.chars().take(100).collect::<String>()
            ))
        };
        match parts.as_slice() {
            [] => Ok(Resource::vault(vault)),
            [c] => Ok(Resource::kind(vault, kind(c).ok_or_else(bad)?)),
            [c, n] => Ok(Resource::object(
                vault,
                kind(c).ok_or_else(bad)?,
                &ObjectName::parse(n).map_err(|_| bad())?,
            )),
            _ => Err(bad()),
        }
    }

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

/// The resource as audit records and messages name it: `/` (the deployment), `/vaults/{v}`,
/// `/vaults/{v}/keys`, `/vaults/{v}/secrets/{name}`.
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

impl Principal {
    /// A principal with the given roles.
    pub fn new(
        client_id: impl Into<String>,
        object_id: impl Into<String>,
        grants: Vec<Grant>,
    ) -> Self {
        Principal {
            client_id: client_id.into(),
            object_id: object_id.into(),
            grants: grants.into(),
            decision: Arc::new(Mutex::new(None)),
        }
    }

    /// The server's own background work (maintenance, scheduled backups): a deployment administrator that no
    /// token can name.
    pub fn system(name: &str) -> Self {
        Principal::new(
            name,
            name,
            vec![Grant {
                scope: Resource::Deployment,
                role: Arc::new(roles::key_vault_administrator()),
            }],
        )
    }

    /// The roles assigned to this principal, and where.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Whether this principal is a deployment administrator (see the module documentation).
    pub fn is_deployment_administrator(&self) -> bool {
        self.grants
            .iter()
            .any(|g| g.scope == Resource::Deployment && g.role.grants_all_vault_data())
    }

    /// Whether this principal may perform `action` on `resource` (deciding nothing for the record).
    pub fn allows(&self, action: Action, resource: &Resource) -> bool {
        if self.is_deployment_administrator() {
            return true;
        }
        match action.plane() {
            ActionPlane::Management => false,
            ActionPlane::Data | ActionPlane::Control => self
                .grants
                .iter()
                .any(|g| g.scope.contains(resource) && g.role.grants(action)),
        }
    }

    /// Decides whether this principal may perform `action` on `resource`: the one place authorization is
    /// decided. Refused with [`Error::AccessDenied`].
    pub fn authorize(&self, action: Action, resource: &Resource) -> Result<(), Error> {
        let allowed = self.allows(action, resource);
        self.record(action, resource, allowed);
        if allowed {
            Ok(())
        } else {
            Err(self.denied(action, resource))
        }
    }

    /// Decides what a listing of `kind` in `vault` may show for `action`: everything when the action is granted
    /// on the kind (or wider), else the objects it is granted on one by one (as Azure lists for object-scoped
    /// assignments); refused when it is granted on none.
    pub fn authorize_listing(
        &self,
        action: Action,
        vault: &VaultName,
        kind: ObjectKind,
    ) -> Result<Visible, Error> {
        let scope = Resource::kind(vault, kind);
        if self.allows(action, &scope) {
            self.record(action, &scope, true);
            return Ok(Visible::All);
        }
        let names: Vec<ObjectName> = self
            .grants
            .iter()
            .filter(|g| g.role.grants(action))
            .filter_map(|g| match &g.scope {
                Resource::Object(v, k, n) if v == vault && *k == kind => Some(n.clone()),
                _ => None,
            })
            .collect();
        self.record(action, &scope, !names.is_empty());
        if names.is_empty() {
            Err(self.denied(action, &scope))
        } else {
            Ok(Visible::Only(names))
        }
    }

    fn denied(&self, action: Action, resource: &Resource) -> Error {
        Error::AccessDenied {
            action,
            resource: resource.clone(),
            client_id: self.client_id.clone(),
            object_id: self.object_id.clone(),
        }
    }

    fn record(&self, action: Action, resource: &Resource, allowed: bool) {
        if let Ok(mut d) = self.decision.lock() {
            if d.is_none() {
                *d = Some(Decision {
                    action,
                    resource: resource.clone(),
                    allowed,
                });
            }
        }
    }

    /// The first decision made for this principal's request (for its audit record).
    pub fn decision(&self) -> Option<Decision> {
        self.decision.lock().ok().and_then(|d| d.clone())
    }

    /// The same principal for another request (no decision yet).
    pub fn fresh(&self) -> Self {
        Principal {
            decision: Arc::new(Mutex::new(None)),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod scope_tests {
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
