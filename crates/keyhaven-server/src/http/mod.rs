//! The HTTP edge: routes, authentication, request reading and the error envelope.

mod access;
mod api_version;
mod arm_vaults;
mod audit;
mod auth;
mod certificate_policy;
mod certificates;
mod context;
mod dataplane;
mod error;
mod keys;
mod management;
mod objects;
mod portal;
mod rbac;
mod request;
mod secrets;
mod storage_backup;
mod vault_backup;

use crate::state::AppState;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::time::Instant;

pub(crate) use audit::Peer;

pub(crate) fn router(st: AppState) -> Router {
    let management = Router::new()
        .route("/_keyhaven/deployment", get(management::deployment))
        .route("/_keyhaven/vaults", get(management::list_vaults))
        .route(
            "/_keyhaven/vaults/{name}",
            put(management::create_vault)
                .get(management::get_vault)
                .delete(management::delete_vault),
        )
        .route(
            "/_keyhaven/vaults/{name}/data-key",
            get(management::vault_data_key),
        )
        .route(
            "/_keyhaven/vaults/{name}/data-key/rotate",
            post(management::rotate_vault_data_key),
        )
        .route(
            "/_keyhaven/geographies/{geo}/export",
            post(management::export_geography),
        )
        .route(
            "/_keyhaven/geographies/{geo}/rotate",
            post(management::rotate_geography),
        )
        .route(
            "/_keyhaven/geographies/import",
            post(management::import_geography),
        )
        .route("/_keyhaven/backups/verify", post(management::verify_backup))
        .route(
            "/_keyhaven/principals",
            get(access::list_principals).post(access::create_principal),
        )
        .route(
            "/_keyhaven/principals/{id}",
            get(access::get_principal).delete(access::delete_principal),
        )
        .route(
            "/_keyhaven/principals/{id}/secrets",
            post(access::add_secret),
        )
        .route(
            "/_keyhaven/principals/{id}/secrets/{secret}",
            delete(access::remove_secret),
        )
        .route("/_keyhaven/roleDefinitions", get(access::list_definitions))
        .route(
            "/_keyhaven/roleDefinitions/{name}",
            put(access::put_definition)
                .get(access::get_definition)
                .delete(access::delete_definition),
        )
        .route("/_keyhaven/roleAssignments", get(access::list_assignments))
        .route(
            "/_keyhaven/roleAssignments/{name}",
            put(access::put_assignment)
                .get(access::get_assignment)
                .delete(access::delete_assignment),
        )
        .route("/subscriptions", get(management::list_subscriptions))
        .route("/subscriptions/{id}", get(management::get_subscription))
        .route(
            "/subscriptions/{id}/providers/Microsoft.KeyVault",
            get(management::key_vault_provider_status),
        )
        .route(
            "/subscriptions/{id}/providers/Microsoft.KeyVault/register",
            post(management::key_vault_provider_status),
        )
        // Azure Resource Manager's Microsoft.KeyVault/vaults (arm_vaults.rs).
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}",
            get(arm_vaults::get_resource_group),
        )
        .route(
            "/subscriptions/{sub}/resourcegroups/{rg}",
            get(arm_vaults::get_resource_group),
        )
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults",
            get(arm_vaults::list_group_vaults),
        )
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}",
            get(arm_vaults::get_vault)
                .put(arm_vaults::put_vault)
                .delete(arm_vaults::delete_vault),
        )
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/managedHSMs",
            get(arm_vaults::no_managed_hsms),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/vaults",
            get(arm_vaults::list_vaults),
        )
        .route("/subscriptions/{sub}/resources", get(arm_vaults::list_resources))
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/deletedVaults",
            get(arm_vaults::list_deleted_vaults),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}",
            get(arm_vaults::get_deleted_vault),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}/purge",
            post(arm_vaults::purge_deleted_vault),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/operationResults/{op}",
            get(arm_vaults::operation_result),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/managedHSMs",
            get(arm_vaults::no_managed_hsms),
        )
        .route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/deletedManagedHSMs",
            get(arm_vaults::no_managed_hsms),
        )
        .route_layer(middleware::from_fn_with_state(
            st.clone(),
            management::require_token,
        ));
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(auth::jwks))
        .route("/healthz", get(management::health))
        // `az cloud register` appends the path to the resource manager URL as given, trailing slash or not.
        .route("/metadata/endpoints", get(management::cloud_metadata))
        .route("//metadata/endpoints", get(management::cloud_metadata))
        .merge(management)
        .merge(portal::router(st.clone()))
        .fallback(dataplane::handle)
        .layer(axum::extract::DefaultBodyLimit::max(request::MAX_BODY))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(st.clone(), audit::audit))
        .with_state(st)
}

/// One log line per request: method, path, status, duration. Never bodies, queries or headers.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, ms, "request");
    } else {
        tracing::debug!(%method, %path, status, ms, "request");
    }
    resp
}
