//! Azure Resource Manager's `Microsoft.KeyVault/vaults`, as far as `az keyvault create/show/list/delete/purge/
//! recover` and `azure-mgmt-keyvault` use it, mapped onto Keyhaven's vaults:
//!
//! - a resource group is a name recorded with the vault it was created in (a vault made otherwise is in
//!   [`DEFAULT_RESOURCE_GROUP`]); any group "exists", at the deployment's default location;
//! - the location is one of Keyhaven's locations (which decides the vault's geography);
//! - properties: `vaultUri`, `tenantId` (the deployment's), `sku` (recorded), `enableSoftDelete` (always),
//!   `softDeleteRetentionInDays`, `enablePurgeProtection`, `enableRbacAuthorization` (always: access policies are
//!   refused); settings that would change what a vault does and that Keyhaven cannot honour are refused (400);
//! - `DELETE` soft-deletes the vault (it serves nothing, and is purged after its retention); `PUT` with
//!   `createMode: recover` brings it back; `POST …/deletedVaults/{name}/purge` erases it (202 with `Location`, which
//!   answers 200 once the deleted vault is gone).
//!
//! Every change is done before the answer, so `PUT` answers with `provisioningState: Succeeded` and needs no
//! polling.

use super::error::ApiError;
use super::request;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyhaven_azure_api::arm::{
    DeletedVaultProperties, DeletedVaultResource, ResourceGroupResource, ResourceList, Sku,
    VaultCreateOrUpdate, VaultPropertiesOut, VaultResource,
};
use keyhaven_core::{Deployment, NewVault, Principal, VaultInfo, VaultPlacement};
use keyhaven_model::VaultName;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The resource group of vaults not created through Resource Manager.
pub(crate) const DEFAULT_RESOURCE_GROUP: &str = "keyhaven";

type Result<T> = std::result::Result<T, ApiError>;

fn not_found(code: &'static str, what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, code, what)
}

fn shown(s: &str) -> String {
    s.chars().take(90).collect()
}

/// The deployment, when `sub` is its subscription.
fn subscription(st: &AppState, sub: &str) -> Result<Deployment> {
    let d = st.kh.deployment()?;
    if !d.subscription_id.eq_ignore_ascii_case(sub) {
        return Err(not_found(
            "SubscriptionNotFound",
            format!("The subscription '{}' could not be found.", shown(sub)),
        ));
    }
    Ok(d)
}

fn vault_name(name: &str) -> Result<VaultName> {
    Ok(VaultName::parse(name)?)
}

fn no_vault(rg: &str, name: &str) -> ApiError {
    not_found(
        "ResourceNotFound",
        format!(
            "The Resource 'Microsoft.KeyVault/vaults/{}' under resource group '{}' was not found.",
            shown(name),
            shown(rg)
        ),
    )
}

/// A core error, with "no such vault" in Resource Manager's words.
fn arm_error(e: keyhaven_core::Error, rg: &str, name: &str) -> ApiError {
    match e {
        keyhaven_core::Error::VaultNotFound(_) => no_vault(rg, name),
        other => other.into(),
    }
}

fn resource_group_of(v: &VaultInfo) -> &str {
    v.resource_group
        .as_deref()
        .unwrap_or(DEFAULT_RESOURCE_GROUP)
}

fn in_group(v: &VaultInfo, rg: &str) -> bool {
    resource_group_of(v).eq_ignore_ascii_case(rg)
}

fn vault_id(d: &Deployment, v: &VaultInfo) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
        d.subscription_id,
        resource_group_of(v),
        v.name
    )
}

fn vault_resource(st: &AppState, d: &Deployment, v: &VaultInfo) -> VaultResource {
    VaultResource {
        id: vault_id(d, v),
        name: v.name.clone(),
        kind: "Microsoft.KeyVault/vaults",
        location: v.location.clone(),
        tags: Map::new(),
        properties: VaultPropertiesOut {
            tenant_id: d.tenant_id.clone(),
            sku: Sku {
                family: Some("A".into()),
                name: v.sku.clone().unwrap_or_else(|| "standard".into()),
            },
            access_policies: Vec::new(),
            vault_uri: format!("https://{}.{}/", v.name, st.vault_host_suffix()),
            enabled_for_deployment: false,
            enabled_for_disk_encryption: false,
            enabled_for_template_deployment: false,
            enable_soft_delete: true,
            soft_delete_retention_in_days: v.retention_days,
            enable_rbac_authorization: true,
            enable_purge_protection: v.purge_protection.then_some(true),
            provisioning_state: "Succeeded",
            public_network_access: "Enabled",
        },
    }
}

fn deleted_resource(d: &Deployment, v: &VaultInfo) -> DeletedVaultResource {
    let at = |secs: Option<i64>| {
        keyhaven_model::time::rfc3339_millis(secs.unwrap_or_default().saturating_mul(1000))
    };
    DeletedVaultResource {
        id: format!(
            "/subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}",
            d.subscription_id, v.location, v.name
        ),
        name: v.name.clone(),
        kind: "Microsoft.KeyVault/deletedVaults",
        properties: DeletedVaultProperties {
            vault_id: vault_id(d, v),
            location: v.location.clone(),
            deletion_date: at(v.deleted),
            scheduled_purge_date: at(v.scheduled_purge()),
            tags: Map::new(),
            purge_protection_enabled: v.purge_protection,
        },
    }
}

/// `GET /subscriptions/{s}/resourceGroups/{rg}`: any name is a group (vaults record theirs), at the default
/// location.
pub(crate) async fn get_resource_group(
    State(st): State<AppState>,
    Path((sub, rg)): Path<(String, String)>,
) -> Result<Json<ResourceGroupResource>> {
    let d = subscription(&st, &sub)?;
    if rg.is_empty() || rg.len() > 90 || rg.ends_with('.') {
        return Err(ApiError::bad(format!(
            "'{}' is not a resource group name.",
            shown(&rg)
        )));
    }
    Ok(Json(ResourceGroupResource {
        id: format!("/subscriptions/{}/resourceGroups/{rg}", d.subscription_id),
        name: rg,
        kind: "Microsoft.Resources/resourceGroups",
        location: st.kh.settings().default_location.clone(),
        properties: json!({ "provisioningState": "Succeeded" }),
    }))
}

/// `GET …/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`.
pub(crate) async fn get_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, rg, name)): Path<(String, String, String)>,
) -> Result<Json<VaultResource>> {
    let d = subscription(&st, &sub)?;
    let v = st
        .kh
        .get_vault(&who, &vault_name(&name)?)
        .map_err(|e| arm_error(e, &rg, &name))?;
    if !in_group(&v, &rg) {
        return Err(no_vault(&rg, &name));
    }
    Ok(Json(vault_resource(&st, &d, &v)))
}

/// Refuses what Keyhaven cannot honour, naming it.
fn refuse_unsupported(req: &VaultCreateOrUpdate, d: &Deployment) -> Result<()> {
    let p = &req.properties;
    let refuse = |m: &str| Err(ApiError::bad(m.to_string()));
    if req.tags.as_ref().is_some_and(|t| !t.is_empty()) {
        return refuse("Keyhaven keeps no resource tags on vaults; leave tags out.");
    }
    if let Some(t) = &p.tenant_id {
        if !t.eq_ignore_ascii_case(&d.tenant_id) {
            return refuse("properties.tenantId must be the deployment's tenant.");
        }
    }
    if p.enable_rbac_authorization == Some(false)
        || p.access_policies.as_ref().is_some_and(|a| !a.is_empty())
    {
        return refuse(
            "Keyhaven authorizes data actions with roles only: set enableRbacAuthorization (or leave it out) and \
             give no access policies.",
        );
    }
    if p.enable_soft_delete == Some(false) {
        return refuse("Soft delete cannot be turned off.");
    }
    if p.public_network_access
        .as_deref()
        .is_some_and(|a| !a.eq_ignore_ascii_case("enabled"))
    {
        return refuse("Keyhaven has no network isolation: publicNetworkAccess must be Enabled.");
    }
    if p.network_acls
        .as_ref()
        .and_then(|n| n.default_action.as_deref())
        .is_some_and(|a| !a.eq_ignore_ascii_case("allow"))
    {
        return refuse("Keyhaven has no network rules: networkAcls.defaultAction must be Allow.");
    }
    if let Some(s) = &p.sku {
        if !matches!(s.name.to_ascii_lowercase().as_str(), "standard" | "premium") {
            return refuse("sku.name must be standard or premium.");
        }
    }
    Ok(())
}

/// `PUT …/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`: create (201), recover
/// (`createMode: recover`, 200) or confirm an existing vault's settings (200; changing them is refused).
pub(crate) async fn put_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, rg, name)): Path<(String, String, String)>,
    body: bytes::Bytes,
) -> Result<Response> {
    let d = subscription(&st, &sub)?;
    let req: VaultCreateOrUpdate = request::json(&body)?;
    let n = vault_name(&name)?;
    refuse_unsupported(&req, &d)?;
    let p = &req.properties;
    let recover = p
        .create_mode
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case("recover"));
    if recover {
        let deleted = st
            .kh
            .get_deleted_vault(&who, &n)
            .map_err(|e| arm_error(e, &rg, &name))?;
        if !in_group(&deleted, &rg) {
            return Err(ApiError::bad(format!(
                "The deleted vault is in resource group '{}'; recover it there.",
                resource_group_of(&deleted)
            )));
        }
        let v = st.kh.recover_vault(&who, &n).await?;
        return Ok(Json(vault_resource(&st, &d, &v)).into_response());
    }
    if let Ok(v) = st.kh.get_vault(&who, &n) {
        let same = in_group(&v, &rg)
            && req
                .location
                .as_deref()
                .is_none_or(|l| l.eq_ignore_ascii_case(&v.location))
            && p.soft_delete_retention_in_days
                .is_none_or(|r| r == v.retention_days)
            && p.enable_purge_protection
                .is_none_or(|pp| pp == v.purge_protection);
        if !same {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Vault '{}' exists (resource group '{}', location '{}', retention {} days, purge protection \
                     {}); Keyhaven does not move a vault or change these settings.",
                    v.name,
                    resource_group_of(&v),
                    v.location,
                    v.retention_days,
                    v.purge_protection
                ),
            ));
        }
        return Ok(Json(vault_resource(&st, &d, &v)).into_response());
    }
    let location = req
        .location
        .clone()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::bad("location is required."))?;
    let v = st
        .kh
        .create_vault_placed(
            &who,
            NewVault {
                name: n,
                location: Some(location),
                retention_days: p.soft_delete_retention_in_days,
                purge_protection: p.enable_purge_protection.unwrap_or(false),
            },
            VaultPlacement {
                resource_group: Some(rg),
                sku: p.sku.as_ref().map(|s| s.name.to_ascii_lowercase()),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(vault_resource(&st, &d, &v))).into_response())
}

/// `DELETE …/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`: a soft delete (200; 204 when there
/// is no such vault, as Resource Manager answers).
pub(crate) async fn delete_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, rg, name)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    subscription(&st, &sub)?;
    let n = vault_name(&name)?;
    match st.kh.get_vault(&who, &n) {
        Ok(v) if in_group(&v, &rg) => {}
        Ok(_) | Err(keyhaven_core::Error::VaultNotFound(_)) => return Ok(StatusCode::NO_CONTENT),
        Err(e) => return Err(e.into()),
    }
    st.kh
        .soft_delete_vault(&who, &n)
        .await
        .map_err(|e| arm_error(e, &rg, &name))?;
    Ok(StatusCode::OK)
}

/// `GET …/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults`.
pub(crate) async fn list_group_vaults(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, rg)): Path<(String, String)>,
) -> Result<Json<ResourceList<VaultResource>>> {
    let d = subscription(&st, &sub)?;
    let value = st
        .kh
        .list_vaults(&who)?
        .iter()
        .filter(|v| in_group(v, &rg))
        .map(|v| vault_resource(&st, &d, v))
        .collect();
    Ok(Json(ResourceList { value }))
}

/// `GET /subscriptions/{s}/providers/Microsoft.KeyVault/vaults`.
pub(crate) async fn list_vaults(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(sub): Path<String>,
) -> Result<Json<ResourceList<VaultResource>>> {
    let d = subscription(&st, &sub)?;
    let value = st
        .kh
        .list_vaults(&who)?
        .iter()
        .map(|v| vault_resource(&st, &d, v))
        .collect();
    Ok(Json(ResourceList { value }))
}

/// `GET /subscriptions/{s}/resources?$filter=resourceType eq 'Microsoft.KeyVault/vaults'` (what `az keyvault
/// list` asks): the vaults as tracked resources. Other resource types: none here.
pub(crate) async fn list_resources(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(sub): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ResourceList<Value>>> {
    let d = subscription(&st, &sub)?;
    let wanted = q.get("$filter").is_none_or(|f| {
        f.to_ascii_lowercase()
            .contains("'microsoft.keyvault/vaults'")
    });
    let mut value = Vec::new();
    if wanted {
        for v in st.kh.list_vaults(&who)? {
            value.push(json!({
                "id": vault_id(&d, &v),
                "name": v.name,
                "type": "Microsoft.KeyVault/vaults",
                "location": v.location,
                "tags": {},
            }));
        }
    }
    Ok(Json(ResourceList { value }))
}

/// `GET /subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults`.
pub(crate) async fn list_deleted_vaults(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(sub): Path<String>,
) -> Result<Json<ResourceList<DeletedVaultResource>>> {
    let d = subscription(&st, &sub)?;
    let value = st
        .kh
        .list_deleted_vaults(&who)?
        .iter()
        .map(|v| deleted_resource(&d, v))
        .collect();
    Ok(Json(ResourceList { value }))
}

/// The deleted vault `name` at `location`.
fn deleted_at(st: &AppState, who: &Principal, location: &str, name: &str) -> Result<VaultInfo> {
    let missing = || {
        not_found(
            "ResourceNotFound",
            format!(
                "No deleted vault '{}' in location '{}'.",
                shown(name),
                shown(location)
            ),
        )
    };
    match st.kh.get_deleted_vault(who, &vault_name(name)?) {
        Ok(v) if v.location.eq_ignore_ascii_case(location) => Ok(v),
        Ok(_) | Err(keyhaven_core::Error::VaultNotFound(_)) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /subscriptions/{s}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}`.
pub(crate) async fn get_deleted_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, location, name)): Path<(String, String, String)>,
) -> Result<Json<DeletedVaultResource>> {
    let d = subscription(&st, &sub)?;
    Ok(Json(deleted_resource(
        &d,
        &deleted_at(&st, &who, &location, &name)?,
    )))
}

fn purge_operation(d: &Deployment, location: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.KeyVault/locations/{location}/operationResults/purge-{name}",
        d.subscription_id
    )
}

/// `POST …/locations/{loc}/deletedVaults/{name}/purge`: erased before the answer; 202 with `Location` (the
/// operation, which answers 200) as Resource Manager answers.
pub(crate) async fn purge_deleted_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, location, name)): Path<(String, String, String)>,
) -> Result<Response> {
    let d = subscription(&st, &sub)?;
    let v = deleted_at(&st, &who, &location, &name)?;
    st.kh
        .purge_deleted_vault(&who, &vault_name(&v.name)?)
        .await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    let url = format!(
        "{}{}?api-version=2023-07-01",
        st.authority,
        purge_operation(&d, &v.location, &v.name)
    );
    if let Ok(h) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, h);
    }
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
    Ok(resp)
}

/// `GET …/locations/{loc}/operationResults/purge-{name}`: 200 once no deleted vault of that name is left, 202
/// before.
pub(crate) async fn operation_result(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((sub, _location, op)): Path<(String, String, String)>,
) -> Result<Response> {
    subscription(&st, &sub)?;
    let Some(name) = op.strip_prefix("purge-") else {
        return Err(not_found(
            "OperationNotFound",
            format!("No operation '{}'.", shown(&op)),
        ));
    };
    match st.kh.get_deleted_vault(&who, &vault_name(name)?) {
        Err(keyhaven_core::Error::VaultNotFound(_)) => Ok(StatusCode::OK.into_response()),
        Err(e) => Err(e.into()),
        Ok(_) => {
            let mut resp = StatusCode::ACCEPTED.into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(resp)
        }
    }
}

/// Managed HSM lists (`az keyvault list` asks for both kinds): Keyhaven has none.
pub(crate) async fn no_managed_hsms(
    State(st): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<ResourceList<Value>>> {
    subscription(&st, params.get("sub").map_or("", String::as_str))?;
    Ok(Json(ResourceList { value: Vec::new() }))
}
