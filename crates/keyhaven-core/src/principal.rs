//! The caller of an operation and the one place it is authorized: a principal carries the roles assigned to it
//! (and where), and [`Principal::authorize`] decides, as Azure does, that an action on a resource is allowed when a
//! role assigned at that resource or a scope containing it grants the action.
//!
//! A principal holding a role that grants every vault data action (Key Vault Administrator) at deployment scope is
//! a *deployment administrator*: it may also manage the deployment (vaults, geographies, principals) and every role
//! assignment and definition. The first-start admin is one.

use crate::actions::{Action, ActionPlane};
use crate::roles::{self, RoleDefinition};
use crate::scope::Resource;
use crate::Error;
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use std::sync::{Arc, Mutex};

/// A role assigned to a principal at a scope.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Where the role is assigned; it applies there and to every narrower scope inside.
    pub scope: Resource,
    /// The role assigned.
    pub role: Arc<RoleDefinition>,
}

/// What authorization decided for an operation (the first decision of a request, kept for its audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action asked for.
    pub action: Action,
    /// What it was asked for on (for a listing, the kind in the vault).
    pub resource: Resource,
    /// Whether it was allowed.
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

impl Principal {
    /// A principal with the given roles.
    pub fn new(
        client_id: impl Into<String>,
        object_id: impl Into<String>,
        grants: impl Into<Arc<[Grant]>>,
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
