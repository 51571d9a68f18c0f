//! What an operation acts on: the deployment, a vault, every object of a kind in a vault, or one object.

use keyhaven_model::{Invalid, ObjectKind, ObjectName, VaultName};
use std::fmt;

/// What an operation is performed on, from the widest scope to the narrowest: every vault of the deployment, one
/// vault, every object of one kind in a vault, one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The whole deployment: every vault, and deployment management.
    Deployment,
    /// One vault and everything in it.
    Vault(VaultName),
    /// Every object of one kind in a vault (e.g. all its keys).
    Kind(VaultName, ObjectKind),
    /// One object, with all its versions. Its name compares case-insensitively, as Azure's do.
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
    pub fn parse_rbac_scope(vault: &VaultName, scope: &str) -> Result<Resource, Invalid> {
        let parts: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
        let kind = |c: &str| match c.to_ascii_lowercase().as_str() {
            "keys" => Some(ObjectKind::Key),
            "secrets" => Some(ObjectKind::Secret),
            "certificates" => Some(ObjectKind::Certificate),
            _ => None,
        };
        let bad = || {
            Invalid(format!(
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

    /// The vault `vault`.
    pub fn vault(vault: &VaultName) -> Self {
        Resource::Vault(vault.clone())
    }

    /// Every object of `kind` in `vault`.
    pub fn kind(vault: &VaultName, kind: ObjectKind) -> Self {
        Resource::Kind(vault.clone(), kind)
    }

    /// The object `name` of `kind` in `vault`.
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

#[cfg(test)]
mod scope_tests {
    use super::*;
    use crate::Action;

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
