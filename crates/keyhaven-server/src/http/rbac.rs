//! Azure's RBAC API on every vault host: role definitions and role assignments under
//! `/{scope}/providers/Microsoft.Authorization/…`, the scope relative to the vault (`/`, `/keys`, `/keys/{name}`).
//! The same shapes serve deployment scope under `/_keyhaven/` (see `management`).

use super::context::Ctx;
use super::error::ApiError;
use super::objects::ok;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_azure_api::rbac::{
    self as wire, RoleAssignmentCreateParameters, RoleDefinitionCreateParameters,
    ROLE_ASSIGNMENT_TYPE, ROLE_DEFINITION_TYPE,
};
use keyhaven_azure_api::ListResult;
use keyhaven_core::{
    AssignmentFilter, Permission, Resource, RoleAssignment, RoleDefinition, RoleDefinitionChange,
    RoleType,
};

/// A role definition on the wire.
pub(crate) fn definition_out(d: &RoleDefinition) -> wire::RoleDefinition {
    wire::RoleDefinition {
        id: format!(
            "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{}",
            d.id
        ),
        name: d.id.clone(),
        kind: ROLE_DEFINITION_TYPE.into(),
        properties: wire::RoleDefinitionProperties {
            role_name: Some(d.role_name.clone()),
            description: Some(d.description.clone()),
            role_type: Some(
                match d.role_type {
                    RoleType::BuiltIn => "AKVBuiltInRole",
                    RoleType::Custom => "CustomRole",
                }
                .into(),
            ),
            permissions: d
                .permissions
                .iter()
                .map(|p| wire::Permission {
                    actions: p.actions.clone(),
                    not_actions: p.not_actions.clone(),
                    data_actions: p.data_actions.clone(),
                    not_data_actions: p.not_data_actions.clone(),
                })
                .collect(),
            assignable_scopes: d.assignable_scopes.clone(),
        },
    }
}

/// A role assignment on the wire; `scope` as the API it is served by writes it.
pub(crate) fn assignment_out(a: &RoleAssignment, scope: String) -> wire::RoleAssignment {
    let base = if scope == "/" { "" } else { scope.as_str() };
    wire::RoleAssignment {
        id: format!(
            "{base}/providers/Microsoft.Authorization/roleAssignments/{}",
            a.name
        ),
        name: a.name.clone(),
        kind: ROLE_ASSIGNMENT_TYPE.into(),
        properties: wire::RoleAssignmentPropertiesWithScope {
            scope,
            role_definition_id: format!(
                "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{}",
                a.role_definition_id
            ),
            principal_id: a.principal_id.clone(),
        },
    }
}

/// A role definition as a request gives it.
pub(crate) fn definition_in(
    p: RoleDefinitionCreateParameters,
) -> Result<RoleDefinitionChange, ApiError> {
    let props = p.properties;
    if props
        .role_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("CustomRole"))
    {
        return Err(ApiError::bad(
            "Only custom roles can be created ('type': 'CustomRole').",
        ));
    }
    Ok(RoleDefinitionChange {
        role_name: props.role_name.unwrap_or_default(),
        description: props.description.unwrap_or_default(),
        permissions: props
            .permissions
            .into_iter()
            .map(|p| Permission {
                actions: p.actions,
                not_actions: p.not_actions,
                data_actions: p.data_actions,
                not_data_actions: p.not_data_actions,
            })
            .collect(),
        assignable_scopes: props.assignable_scopes,
    })
}

/// `$filter`: `atScope()`, `assignedTo('{id}')` (for assignments), `roleName eq '{name}'` (for definitions),
/// joined by `and`.
pub(crate) struct Filter {
    pub assignments: AssignmentFilter,
    pub role_name: Option<String>,
}

pub(crate) fn filter(raw: Option<&str>) -> Result<Filter, ApiError> {
    let mut f = Filter {
        assignments: AssignmentFilter::default(),
        role_name: None,
    };
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(f);
    };
    for term in raw.split(" and ") {
        let term = term.trim();
        let quoted = |prefix: &str, t: &str| -> Option<String> {
            let lower = t.to_ascii_lowercase();
            lower.strip_prefix(prefix).map(|_| {
                t[prefix.len()..]
                    .trim()
                    .trim_end_matches(')')
                    .trim()
                    .trim_matches('\'')
                    .to_string()
            })
        };
        if term.eq_ignore_ascii_case("atScope()") {
            f.assignments.at_scope = true;
        } else if let Some(id) = quoted("assignedto(", term) {
            f.assignments.principal = Some(id);
        } else if let Some(name) = quoted("rolename eq ", term) {
            f.role_name = Some(name);
        } else {
            return Err(ApiError::bad(format!(
                "The $filter '{}' is not supported: use atScope(), assignedTo('{{objectId}}') or roleName eq \
                 '{{name}}'.",
                raw.chars().take(100).collect::<String>()
            )));
        }
    }
    Ok(f)
}

fn scope(cx: &Ctx, raw: &str) -> Result<Resource, ApiError> {
    Ok(Resource::parse_rbac_scope(&cx.vault, raw)?)
}

/// `GET /{scope}/providers/Microsoft.Authorization/roleDefinitions`.
pub(crate) fn list_definitions(cx: &Ctx, raw_scope: &str) -> Result<Response, ApiError> {
    let f = filter(cx.query.get("$filter"))?;
    let defs = cx
        .st
        .kh
        .list_role_definitions(&cx.who, &scope(cx, raw_scope)?)?;
    ok(ListResult {
        value: defs
            .iter()
            .filter(|d| {
                f.role_name
                    .as_deref()
                    .is_none_or(|n| d.role_name.eq_ignore_ascii_case(n))
            })
            .map(definition_out)
            .collect::<Vec<_>>(),
        next_link: None,
    })
}

/// `GET …/roleDefinitions/{name}`.
pub(crate) fn get_definition(cx: &Ctx, raw_scope: &str, name: &str) -> Result<Response, ApiError> {
    let d = cx
        .st
        .kh
        .get_role_definition(&cx.who, &scope(cx, raw_scope)?, name)?;
    ok(definition_out(&d))
}

/// `PUT …/roleDefinitions/{name}`.
pub(crate) async fn put_definition(
    cx: &Ctx,
    raw_scope: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let change = definition_in(cx.json()?)?;
    let d = cx
        .st
        .kh
        .set_role_definition(&cx.who, &scope(cx, raw_scope)?, name, change)
        .await?;
    Ok((StatusCode::CREATED, Json(definition_out(&d))).into_response())
}

/// `DELETE …/roleDefinitions/{name}`.
pub(crate) async fn delete_definition(
    cx: &Ctx,
    raw_scope: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let d = cx
        .st
        .kh
        .delete_role_definition(&cx.who, &scope(cx, raw_scope)?, name)
        .await?;
    ok(definition_out(&d))
}

/// `GET /{scope}/providers/Microsoft.Authorization/roleAssignments`.
pub(crate) fn list_assignments(cx: &Ctx, raw_scope: &str) -> Result<Response, ApiError> {
    let f = filter(cx.query.get("$filter"))?;
    let list = cx
        .st
        .kh
        .list_role_assignments(&cx.who, &scope(cx, raw_scope)?, &f.assignments)?;
    // As in Managed HSM, a vault's RBAC API knows the vault and what is inside it: deployment-wide assignments,
    // which it could only show as `/` (the vault's own scope), are listed by the management API.
    ok(ListResult {
        value: list
            .iter()
            .filter(|a| a.scope != Resource::Deployment)
            .map(|a| assignment_out(a, a.scope.rbac_scope()))
            .collect::<Vec<_>>(),
        next_link: None,
    })
}

/// `GET …/roleAssignments/{name}`.
pub(crate) fn get_assignment(cx: &Ctx, raw_scope: &str, name: &str) -> Result<Response, ApiError> {
    let a = cx
        .st
        .kh
        .get_role_assignment(&cx.who, &scope(cx, raw_scope)?, name)?;
    ok(assignment_out(&a, a.scope.rbac_scope()))
}

/// `PUT …/roleAssignments/{name}`.
pub(crate) async fn put_assignment(
    cx: &Ctx,
    raw_scope: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let p: RoleAssignmentCreateParameters = cx.json()?;
    let a = cx
        .st
        .kh
        .create_role_assignment(
            &cx.who,
            &scope(cx, raw_scope)?,
            name,
            &p.properties.role_definition_id,
            &p.properties.principal_id,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(assignment_out(&a, a.scope.rbac_scope())),
    )
        .into_response())
}

/// `DELETE …/roleAssignments/{name}`.
pub(crate) async fn delete_assignment(
    cx: &Ctx,
    raw_scope: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let a = cx
        .st
        .kh
        .delete_role_assignment(&cx.who, &scope(cx, raw_scope)?, name)
        .await?;
    ok(assignment_out(&a, a.scope.rbac_scope()))
}
