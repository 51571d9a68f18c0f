//! Who may do what: the one place authorization is decided.

use crate::Error;
use serde::{Deserialize, Serialize};

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

/// What an operation does, for authorization and audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ManageVaults,
    ManageDeployment,
    ReadObjects,
    ReadSecretValues,
    WriteObjects,
    DeleteObjects,
    PurgeObjects,
    Backup,
    Restore,
}

impl Principal {
    /// Decides whether this principal may perform `action`.
    pub fn authorize(&self, action: Action) -> Result<(), Error> {
        if self.roles.contains(&Role::Administrator) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "The caller (client {}) is not allowed to perform {action:?}.",
            self.client_id
        )))
    }
}
