//! Managing access: principals and their client secrets, role definitions, and role assignments at every scope
//! (the model of who may do what is in `principal`, `roles` and `scope`).

mod assignments;
mod principals;
#[cfg(test)]
mod tests;

pub(crate) use assignments::delete_vault_assignments;
pub use assignments::{AssignmentFilter, RoleAssignment, RoleDefinitionChange};
pub use principals::{Authenticated, NewPrincipal, NewSecret, PrincipalInfo, SecretInfo};
