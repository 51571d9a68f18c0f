//! Keyhaven's management API (`/_keyhaven/...`: deployment, vaults, geographies) and the small part of Azure
//! Resource Manager that Azure tooling asks for (`/subscriptions`).

use super::error::ApiError;
use super::request;
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyhaven_azure_api::management::{
    CloudAuthentication, CloudMetadata, CloudSuffixes, DeploymentInfo, GeographyExportRequest,
    GeographyImportRequest, GeographyImportResult, Vault, VaultCreate, VaultDataKey, VaultList,
    VaultMode,
};
use keyhaven_azure_api::{b64url, BackupBlob};
use keyhaven_core::{NewVault, Principal, VaultInfo, VaultKeyInfo, VerifyTarget};
use keyhaven_model::VaultName;
use keyhaven_store::EngineMode;
use serde_json::json;

/// Middleware: management calls need a valid token (any audience this server issued).
pub(crate) async fn require_token(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match super::auth::authenticate_management(&st, req.headers()) {
        Ok(p) => {
            super::audit::note_caller(req.extensions().get::<super::audit::Slot>(), &p, None);
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

type Result<T> = std::result::Result<T, ApiError>;

fn vault_dto(st: &AppState, v: VaultInfo) -> Vault {
    Vault {
        vault_uri: format!("https://{}.{}/", v.name, st.vault_host_suffix()),
        name: v.name,
        location: v.location,
        geography: v.geography,
        retention_days: v.retention_days,
        purge_protection: v.purge_protection,
        created: v.created,
        mode: vault_mode(st),
    }
}

/// Whether the vaults take writes now: read-only while the store is (a PostgreSQL hot standby, during a read-only
/// failover).
fn vault_mode(st: &AppState) -> VaultMode {
    match st.kh.store().engine_mode() {
        EngineMode::ReadOnly => VaultMode::ReadOnly,
        _ => VaultMode::ReadWrite,
    }
}

fn vault_name(n: &str) -> Result<VaultName> {
    Ok(VaultName::parse(n)?)
}

/// `GET /_keyhaven/deployment`: what any authenticated client needs to reach vaults (subscription, tenant, DNS
/// suffix, locations) — nothing secret, so a valid token is enough.
pub(crate) async fn deployment(State(st): State<AppState>) -> Result<Json<DeploymentInfo>> {
    let d = st.kh.deployment()?;
    Ok(Json(DeploymentInfo {
        subscription_id: d.subscription_id,
        tenant_id: d.tenant_id,
        dns_suffix: st.dns_suffix.clone(),
        locations: st.kh.settings().locations.clone(),
    }))
}

pub(crate) async fn list_vaults(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<VaultList>> {
    let vaults = st.kh.list_vaults(&who)?;
    Ok(Json(VaultList {
        value: vaults.into_iter().map(|v| vault_dto(&st, v)).collect(),
    }))
}

pub(crate) async fn create_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    body: bytes::Bytes,
) -> Result<Response> {
    let req: VaultCreate = if body.iter().all(u8::is_ascii_whitespace) {
        VaultCreate::default()
    } else {
        request::json(&body)?
    };
    let v = st
        .kh
        .create_vault(
            &who,
            NewVault {
                name: vault_name(&name)?,
                location: req.location,
                retention_days: req.retention_days,
                purge_protection: req.purge_protection,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(vault_dto(&st, v))).into_response())
}

pub(crate) async fn get_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<Vault>> {
    Ok(Json(vault_dto(
        &st,
        st.kh.get_vault(&who, &vault_name(&name)?)?,
    )))
}

fn data_key_dto(k: VaultKeyInfo) -> VaultDataKey {
    VaultDataKey {
        generation: k.generation,
        created: k.created,
        seals: k.seals,
    }
}

/// `GET /_keyhaven/vaults/{name}/data-key`: the vault's active data key.
pub(crate) async fn vault_data_key(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<VaultDataKey>> {
    Ok(Json(data_key_dto(
        st.kh.vault_key_info(&who, &vault_name(&name)?)?,
    )))
}

/// `POST /_keyhaven/vaults/{name}/data-key/rotate`: a fresh data key seals from now on; older ones keep opening
/// what they sealed.
pub(crate) async fn rotate_vault_data_key(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<VaultDataKey>> {
    Ok(Json(data_key_dto(
        st.kh.rotate_vault_key(&who, &vault_name(&name)?).await?,
    )))
}

pub(crate) async fn delete_vault(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    st.kh.delete_vault(&who, &vault_name(&name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn export_geography(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(geo): Path<String>,
    body: bytes::Bytes,
) -> Result<Json<BackupBlob>> {
    let req: GeographyExportRequest = request::json(&body)?;
    let kh = st.kh.clone();
    let data =
        tokio::task::spawn_blocking(move || kh.export_geography(&who, &geo, &req.passphrase))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "export failed",
                )
            })??;
    Ok(Json(BackupBlob {
        value: b64url::encode(&data),
    }))
}

pub(crate) async fn import_geography(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    body: bytes::Bytes,
) -> Result<Json<GeographyImportResult>> {
    let req: GeographyImportRequest = request::json(&body)?;
    let data = b64url::decode(&req.value)
        .ok_or_else(|| ApiError::bad("The export ('value') is not valid base64url."))?;
    let r = st.kh.import_geography(&who, &data, &req.passphrase).await?;
    Ok(Json(GeographyImportResult {
        subscription_id: r.subscription_id,
        geography: r.geography,
        active_key_id: r.active_key_id,
        key_ids: r.key_ids,
    }))
}

pub(crate) async fn rotate_geography(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(geo): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let id = st.kh.rotate_geography_key(&who, &geo).await?;
    Ok(Json(json!({ "geography": geo, "activeKeyId": id })))
}

fn subscription_json(st: &AppState) -> Result<serde_json::Value> {
    let d = st.kh.deployment()?;
    Ok(json!({
        "id": format!("/subscriptions/{}", d.subscription_id),
        "subscriptionId": d.subscription_id,
        "tenantId": d.tenant_id,
        "displayName": "Keyhaven",
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "Keyhaven", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
    }))
}

/// `GET /subscriptions` (Azure Resource Manager): the deployment's one subscription.
pub(crate) async fn list_subscriptions(
    State(st): State<AppState>,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(json!({ "value": [subscription_json(&st)?] })))
}

/// `GET /metadata/endpoints` (anonymous, as in Azure): this deployment as a cloud — the resource manager and the
/// token authority (both this server) and the vault DNS suffix — so that `az cloud register
/// --endpoint-resource-manager https://HOST:PORT` needs no other endpoint flag.
pub(crate) async fn cloud_metadata(State(st): State<AppState>) -> Result<Json<CloudMetadata>> {
    let d = st.kh.deployment()?;
    Ok(Json(CloudMetadata {
        name: "Keyhaven".into(),
        resource_manager: format!("{}/", st.authority),
        authentication: CloudAuthentication {
            login_endpoint: st.authority.clone(),
            audiences: vec![format!("{}/", st.authority)],
            tenant: d.tenant_id,
            identity_provider: "AAD".into(),
        },
        suffixes: CloudSuffixes {
            key_vault_dns: st.vault_host_suffix(),
        },
    }))
}

/// `GET /healthz`: `{"status":"healthy"}` (200) when the store can be read and the audit log written, otherwise
/// `{"status":"unhealthy"}` (503) — all that anyone is told. A caller with a valid management token also learns
/// which store serves and in which mode, the version, the backup schedules and the token endpoint's counters.
pub(crate) async fn health(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let kh = st.kh.clone();
    let store_readable = tokio::task::spawn_blocking(move || kh.store().snapshot().is_ok())
        .await
        .unwrap_or(false);
    let audit_writable = !st.audit.enabled() || st.audit.healthy();
    let (code, status) = if store_readable && audit_writable {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    };
    let body = if super::auth::authenticate_management(&st, &headers).is_ok() {
        let schedules = st.schedules.lock().map(|s| s.clone()).unwrap_or_default();
        json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "store": st.kh_store_name(),
            "storeMode": vault_mode(&st),
            "storeReadable": store_readable,
            "auditWritable": audit_writable,
            "backupSchedules": schedules,
            "tokenEndpoint": st.tokens.limits().stats(),
        })
    } else {
        json!({ "status": status })
    };
    (code, Json(body)).into_response()
}

/// `POST /_keyhaven/backups/verify[?vault=V|?geography=G]`: checks a whole-vault backup (sent as the body) end to
/// end against the keys of a vault's geography or of a geography (default: the default location's), and returns its
/// manifest, restoring nothing. Authorized before the body is read.
pub(crate) async fn verify_backup(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<keyhaven_core::Manifest>> {
    let limit = st.jobs.limits().max_upload_bytes;
    super::vault_backup::refuse_declared_oversize(super::request::content_length(&headers), limit)?;
    let settings = st.kh.settings();
    let target = match (q.get("vault"), q.get("geography")) {
        (Some(v), _) => VerifyTarget::Vault(vault_name(v)?),
        (None, Some(g)) => VerifyTarget::Geography(g.to_ascii_lowercase()),
        (None, None) => VerifyTarget::Geography(
            settings
                .locations
                .get(&settings.default_location)
                .cloned()
                .unwrap_or_default(),
        ),
    };
    st.kh.authorize_verify(&who, &target)?;
    let path = st.jobs.dir().join(format!(
        "verify-{}.khvs.tmp",
        keyhaven_crypto::random_uuid().map_err(keyhaven_core::Error::from)?
    ));
    let stored = super::vault_backup::body_to_file(body, &path, limit).await;
    let kh = st.kh.clone();
    let p = path.clone();
    let result = match stored {
        Ok(_) => tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&p)
                .map_err(|e| keyhaven_core::Error::Internal(e.to_string()))?;
            kh.verify_vault_backup(&who, std::io::BufReader::new(f), &target)
        })
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "verification failed",
            )
        })
        .and_then(|r| r.map_err(ApiError::from)),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&path);
    Ok(Json(result?))
}

/// `GET /subscriptions/{id}`.
pub(crate) async fn get_subscription(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let s = subscription_json(&st)?;
    if s["subscriptionId"] != id.as_str() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!(
                "The subscription '{}' could not be found.",
                id.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(Json(s))
}

fn key_vault_provider(st: &AppState) -> Result<serde_json::Value> {
    let d = st.kh.deployment()?;
    Ok(json!({
        "id": format!("/subscriptions/{}/providers/Microsoft.KeyVault", d.subscription_id),
        "namespace": "Microsoft.KeyVault",
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [{"resourceType": "vaults", "locations": st.kh.settings().locations.keys().collect::<Vec<_>>(), "apiVersions": ["2023-07-01"]}],
    }))
}

/// `GET /subscriptions/{id}/providers/Microsoft.KeyVault` and `POST …/register` (always registered).
pub(crate) async fn key_vault_provider_status(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let _ = get_subscription(State(st.clone()), Path(id)).await?;
    Ok(Json(key_vault_provider(&st)?))
}
