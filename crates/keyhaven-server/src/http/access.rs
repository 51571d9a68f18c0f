//! Deployment management of access: principals (`/_keyhaven/principals`), and role definitions and assignments at
//! deployment scope (`/_keyhaven/roleDefinitions`, `/_keyhaven/roleAssignments`), in the RBAC API's shapes.

use super::error::ApiError;
use super::rbac::{assignment_out, definition_in, definition_out, filter};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyhaven_azure_api::principals::{
    Principal as PrincipalDto, PrincipalCreate, PrincipalCreated, PrincipalList, PrincipalSecret,
    SecretAdd, SecretCreated,
};
use keyhaven_azure_api::rbac::{RoleAssignmentCreateParameters, RoleDefinitionCreateParameters};
use keyhaven_azure_api::ListResult;
use keyhaven_core::{Principal, PrincipalInfo, Resource};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, ApiError>;

fn principal_out(p: PrincipalInfo) -> PrincipalDto {
    PrincipalDto {
        client_id: p.client_id,
        object_id: p.object_id,
        display_name: p.display_name,
        created: p.created,
        secrets: p
            .secrets
            .into_iter()
            .map(|s| PrincipalSecret {
                secret_id: s.id,
                created: s.created,
                expires: s.expires,
            })
            .collect(),
    }
}

fn days(d: Option<u32>) -> Option<i64> {
    d.map(|d| i64::from(d) * 86_400)
}

/// `POST /_keyhaven/principals`: creates a principal; the answer holds its secret, shown this once.
pub(crate) async fn create_principal(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(req): Json<PrincipalCreate>,
) -> Result<Response> {
    let new = st
        .kh
        .create_principal(&who, &req.display_name, days(req.secret_expires_days))
        .await?;
    let body = PrincipalCreated {
        client_id: new.client_id.clone(),
        object_id: new.object_id.clone(),
        client_secret: new.secret.client_secret.to_string(),
        secret_id: new.secret.secret_id.clone(),
        secret_expires: new.secret.expires,
        tenant_id: st.tokens.tenant().to_string(),
        authority_host: st.authority.clone(),
        display_name: new.display_name.clone(),
    };
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// `GET /_keyhaven/principals`.
pub(crate) async fn list_principals(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<PrincipalList>> {
    Ok(Json(PrincipalList {
        value: st
            .kh
            .list_principals(&who)?
            .into_iter()
            .map(principal_out)
            .collect(),
    }))
}

/// `GET /_keyhaven/principals/{id}` (client id or object id).
pub(crate) async fn get_principal(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<PrincipalDto>> {
    Ok(Json(principal_out(st.kh.get_principal(&who, &id)?)))
}

/// `DELETE /_keyhaven/principals/{id}`: deletes it with its role assignments; its tokens stop working.
pub(crate) async fn delete_principal(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<PrincipalDto>> {
    Ok(Json(principal_out(
        st.kh.delete_principal(&who, &id).await?,
    )))
}

/// `POST /_keyhaven/principals/{id}/secrets`: adds a client secret, shown this once.
pub(crate) async fn add_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response> {
    let req: SecretAdd = if body.iter().all(u8::is_ascii_whitespace) {
        SecretAdd::default()
    } else {
        super::request::json(&body)?
    };
    let new = st
        .kh
        .add_principal_secret(&who, &id, days(req.expires_days))
        .await?;
    let body = SecretCreated {
        secret_id: new.secret_id.clone(),
        client_secret: new.client_secret.to_string(),
        expires: new.expires,
    };
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// `DELETE /_keyhaven/principals/{id}/secrets/{secretId}`: removes a client secret; tokens obtained with it stop
/// working.
pub(crate) async fn remove_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, secret_id)): Path<(String, String)>,
) -> Result<Json<PrincipalDto>> {
    Ok(Json(principal_out(
        st.kh.remove_principal_secret(&who, &id, &secret_id).await?,
    )))
}

/// `GET /_keyhaven/roleDefinitions`.
pub(crate) async fn list_definitions(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let f = filter(q.get("$filter").map(String::as_str))?;
    let defs = st.kh.list_role_definitions(&who, &Resource::Deployment)?;
    Ok(Json(ListResult {
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
    .into_response())
}

/// `PUT /_keyhaven/roleDefinitions/{name}`: a custom role, assignable anywhere.
pub(crate) async fn put_definition(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(p): Json<RoleDefinitionCreateParameters>,
) -> Result<Response> {
    let d = st
        .kh
        .set_role_definition(&who, &Resource::Deployment, &name, definition_in(p)?)
        .await?;
    Ok((StatusCode::CREATED, Json(definition_out(&d))).into_response())
}

/// `GET /_keyhaven/roleDefinitions/{name}`: a built-in or custom role.
pub(crate) async fn get_definition(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response> {
    let d = st
        .kh
        .get_role_definition(&who, &Resource::Deployment, &name)?;
    Ok(Json(definition_out(&d)).into_response())
}

/// `DELETE /_keyhaven/roleDefinitions/{name}`.
pub(crate) async fn delete_definition(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response> {
    let d = st
        .kh
        .delete_role_definition(&who, &Resource::Deployment, &name)
        .await?;
    Ok(Json(definition_out(&d)).into_response())
}

/// `GET /_keyhaven/roleAssignments`: every assignment of the deployment (all scopes), or only those at deployment
/// scope with `$filter=atScope()`.
pub(crate) async fn list_assignments(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let f = filter(q.get("$filter").map(String::as_str))?;
    let list = st
        .kh
        .list_role_assignments(&who, &Resource::Deployment, &f.assignments)?;
    Ok(Json(ListResult {
        value: list
            .iter()
            .map(|a| assignment_out(a, a.scope.to_string()))
            .collect::<Vec<_>>(),
        next_link: None,
    })
    .into_response())
}

/// `PUT /_keyhaven/roleAssignments/{name}`: an assignment at deployment scope (every vault).
pub(crate) async fn put_assignment(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Json(p): Json<RoleAssignmentCreateParameters>,
) -> Result<Response> {
    let a = st
        .kh
        .create_role_assignment(
            &who,
            &Resource::Deployment,
            &name,
            &p.properties.role_definition_id,
            &p.properties.principal_id,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(assignment_out(&a, a.scope.to_string())),
    )
        .into_response())
}

/// `GET /_keyhaven/roleAssignments/{name}`.
pub(crate) async fn get_assignment(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response> {
    let a = st
        .kh
        .get_role_assignment(&who, &Resource::Deployment, &name)?;
    Ok(Json(assignment_out(&a, a.scope.to_string())).into_response())
}

/// `DELETE /_keyhaven/roleAssignments/{name}`.
pub(crate) async fn delete_assignment(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response> {
    let a = st
        .kh
        .delete_role_assignment(&who, &Resource::Deployment, &name)
        .await?;
    Ok(Json(assignment_out(&a, a.scope.to_string())).into_response())
}
