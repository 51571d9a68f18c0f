//! The Azure Key Vault data plane: every request is authenticated first (401 before any other check), then
//! its api-version and vault are resolved, its body read, and it is dispatched by method and path segments.
//! Empty segments are ignored, so `//` collapses and a trailing `/` (an empty version) means "latest".

use super::audit;
use super::certificates::{self, Certificates};
use super::context::Ctx;
use super::error::ApiError;
use super::keys::{self, Keys};
use super::objects;
use super::rbac;
use super::request::{self, Query};
use super::secrets::{self, Secrets};
use super::storage_backup;
use super::vault_backup;
use crate::state::AppState;
use crate::throttle::cost_class;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use keyhaven_model::{ObjectKind, ObjectName};

pub(crate) async fn handle(State(st): State<AppState>, req: Request) -> Response {
    match dispatch(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(st: AppState, req: Request<Body>) -> Result<Response, ApiError> {
    let slot = req.extensions().get::<audit::Slot>().cloned();
    let who = super::auth::authenticate_vault(&st, req.headers())?;
    let (parts, body) = req.into_parts();
    let host = request::host(&parts);
    let vault = request::vault_for_host(&host, &st.dns_suffix)?;
    audit::note_caller(slot.as_ref(), &who, Some(vault.as_str()));
    let query = Query::parse(parts.uri.query());
    query.api_version()?;
    let path = parts.uri.path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let admit = |body: &[u8]| {
        st.throttle
            .admit(vault.as_str(), cost_class(&parts.method, &segs, body))
            .map_err(ApiError::throttled)
    };
    if let (Some(slot), [collection, _, v, ..]) = (&slot, segs.as_slice()) {
        if matches!(*collection, "secrets" | "keys" | "certificates")
            && keyhaven_model::Version::parse(v).is_ok()
        {
            slot.update(|f| f.version = Some(v.to_string()));
        }
    }
    let m = &parts.method;
    // The RBAC API: /{scope}/providers/Microsoft.Authorization/{roleDefinitions|roleAssignments}[/{name}].
    if let Some(at) = segs.windows(2).position(|w| {
        w[0].eq_ignore_ascii_case("providers")
            && w[1].eq_ignore_ascii_case("Microsoft.Authorization")
    }) {
        let scope = segs[..at].join("/");
        let body = request::read_body(&parts, body, request::MAX_BODY).await?;
        admit(&body)?;
        let cx = Ctx {
            st,
            who,
            vault,
            base: format!("https://{host}"),
            query,
            body,
        };
        return rbac_route(&cx, m, &scope, &segs[at + 2..], &path).await;
    }
    // Azure's full and selective restore name a backup in Blob Storage (a JSON body).
    if storage_backup::is_storage_restore(m, &segs, &parts.headers, &query) {
        let body = request::read_body(&parts, body, request::MAX_BODY).await?;
        admit(&body)?;
        let cx = Ctx {
            st,
            who,
            vault,
            base: format!("https://{host}"),
            query,
            body,
        };
        return storage_backup::start_restore(&cx, &segs).await;
    }
    // A vault restore takes its backup as a streamed body of any size.
    if let Some(only) = vault_restore_target(m, &segs)? {
        admit(&[])?;
        let declared = request::content_length(&parts.headers);
        let cx = Ctx {
            st,
            who,
            vault,
            base: format!("https://{host}"),
            query,
            body: bytes::Bytes::new(),
        };
        return vault_backup::start_restore(&cx, body, declared, only).await;
    }
    let limit = if is_object_restore(m, &segs) {
        request::MAX_RESTORE_BODY
    } else {
        request::MAX_BODY
    };
    let body = request::read_body(&parts, body, limit).await?;
    // The class of a key or certificate creation depends on the key type its body asks for.
    admit(&body)?;
    let cx = Ctx {
        st,
        who,
        vault,
        base: format!("https://{host}"),
        query,
        body,
    };
    match (m, segs.as_slice()) {
        // whole-vault backup and restore
        (&Method::POST, ["backup"]) if storage_backup::names_container(&cx.body) => {
            storage_backup::start_backup(&cx).await
        }
        (&Method::POST, ["backup"]) => vault_backup::start_backup(&cx).await,
        (&Method::POST, ["prebackup"]) => storage_backup::pre_backup(&cx).await,
        (&Method::PUT, ["prerestore"]) => storage_backup::pre_restore(&cx).await,
        (&Method::GET, ["backup", id, "pending"]) => storage_backup::backup_status(&cx, id),
        (&Method::GET, ["backup", id, "content"]) => vault_backup::backup_content(&cx, id).await,
        (&Method::GET, ["restore", id, "pending"]) => storage_backup::restore_status(&cx, id),
        // secrets
        (&Method::GET, ["secrets"]) => objects::list::<Secrets>(&cx),
        (&Method::PUT, ["secrets", n]) => secrets::set(&cx, n).await,
        (&Method::GET, ["secrets", n]) => secrets::get(&cx, n, None),
        (&Method::GET, ["secrets", n, "versions"]) => objects::versions::<Secrets>(&cx, n),
        (&Method::GET, ["secrets", n, v]) => secrets::get(&cx, n, Some(v)),
        (&Method::PATCH, ["secrets", n]) => secrets::update(&cx, n, None).await,
        (&Method::PATCH, ["secrets", n, v]) => secrets::update(&cx, n, Some(v)).await,
        (&Method::DELETE, ["secrets", n]) => objects::delete::<Secrets>(&cx, n).await,
        (&Method::POST, ["secrets", n, "backup"]) => objects::backup::<Secrets>(&cx, n).await,
        (&Method::POST, ["secrets", "restore"]) => objects::restore::<Secrets>(&cx).await,
        (&Method::GET, ["deletedsecrets"]) => objects::list_deleted::<Secrets>(&cx),
        (&Method::GET, ["deletedsecrets", n]) => objects::get_deleted::<Secrets>(&cx, n),
        (&Method::DELETE, ["deletedsecrets", n]) => objects::purge::<Secrets>(&cx, n).await,
        (&Method::POST, ["deletedsecrets", n, "recover"]) => {
            objects::recover::<Secrets>(&cx, n).await
        }
        // keys
        (&Method::GET, ["keys"]) => objects::list::<Keys>(&cx),
        (&Method::POST, ["keys", "restore"]) => objects::restore::<Keys>(&cx).await,
        (&Method::POST, ["keys", n, "create"]) => keys::create(&cx, n).await,
        (&Method::PUT, ["keys", n]) => keys::import(&cx, n).await,
        (&Method::GET, ["keys", n]) => objects::properties::<Keys>(&cx, n, None),
        (&Method::GET, ["keys", n, "versions"]) => objects::versions::<Keys>(&cx, n),
        (&Method::GET, ["keys", n, "rotationpolicy"]) => keys::get_policy(&cx, n),
        (&Method::GET, ["keys", n, "attestation"]) => keys::attestation(&cx, n, None),
        (&Method::POST, ["keys", n, "release"]) => keys::release(&cx, n, None).await,
        (&Method::POST, ["keys", n, v, "release"]) => keys::release(&cx, n, Some(v)).await,
        (&Method::GET, ["keys", n, v, "attestation"]) => keys::attestation(&cx, n, Some(v)),
        (&Method::PUT, ["keys", n, "rotationpolicy"]) => keys::set_policy(&cx, n).await,
        (&Method::POST, ["keys", n, "rotate"]) => keys::rotate(&cx, n).await,
        (&Method::POST, ["keys", n, "backup"]) => objects::backup::<Keys>(&cx, n).await,
        (&Method::GET, ["keys", n, v]) => objects::properties::<Keys>(&cx, n, Some(v)),
        (&Method::PATCH, ["keys", n]) => keys::update(&cx, n, None).await,
        (&Method::PATCH, ["keys", n, v]) => keys::update(&cx, n, Some(v)).await,
        (&Method::DELETE, ["keys", n]) => objects::delete::<Keys>(&cx, n).await,
        (&Method::POST, ["keys", n, op]) if keys::operation(op).is_some() => {
            match keys::operation(op) {
                Some(o) => keys::crypto(&cx, n, None, o).await,
                None => Err(ApiError::no_route(m.as_str(), &path)),
            }
        }
        (&Method::POST, ["keys", n, v, op]) => match keys::operation(op) {
            Some(o) => keys::crypto(&cx, n, Some(v), o).await,
            None => Err(ApiError::no_route(m.as_str(), &path)),
        },
        (&Method::GET, ["deletedkeys"]) => objects::list_deleted::<Keys>(&cx),
        (&Method::GET, ["deletedkeys", n]) => objects::get_deleted::<Keys>(&cx, n),
        (&Method::DELETE, ["deletedkeys", n]) => objects::purge::<Keys>(&cx, n).await,
        (&Method::POST, ["deletedkeys", n, "recover"]) => objects::recover::<Keys>(&cx, n).await,
        (&Method::POST, ["rng"]) => keys::random(&cx),
        // certificates: vault-wide settings first, then objects
        (&Method::GET, ["certificates", "contacts"]) => certificates::get_contacts(&cx),
        (&Method::PUT, ["certificates", "contacts"]) => certificates::set_contacts(&cx).await,
        (&Method::DELETE, ["certificates", "contacts"]) => certificates::delete_contacts(&cx).await,
        (&Method::GET, ["certificates", "issuers"]) => certificates::list_issuers(&cx),
        (&Method::GET, ["certificates", "issuers", n]) => certificates::get_issuer(&cx, n),
        (&Method::PUT, ["certificates", "issuers", n]) => {
            certificates::set_issuer(&cx, n, true).await
        }
        (&Method::PATCH, ["certificates", "issuers", n]) => {
            certificates::set_issuer(&cx, n, false).await
        }
        (&Method::DELETE, ["certificates", "issuers", n]) => {
            certificates::delete_issuer(&cx, n).await
        }
        (&Method::GET, ["certificates"]) => certificates::list(&cx, false),
        (&Method::POST, ["certificates", "restore"]) => objects::restore::<Certificates>(&cx).await,
        (&Method::POST, ["certificates", n, "create"]) => certificates::create(&cx, n).await,
        (&Method::POST, ["certificates", n, "import"]) => certificates::import(&cx, n).await,
        (&Method::GET, ["certificates", n, "pending"]) => certificates::get_operation(&cx, n),
        (&Method::PATCH, ["certificates", n, "pending"]) => {
            certificates::update_operation(&cx, n).await
        }
        (&Method::DELETE, ["certificates", n, "pending"]) => {
            certificates::delete_operation(&cx, n).await
        }
        (&Method::POST, ["certificates", n, "pending", "merge"]) => {
            certificates::merge(&cx, n).await
        }
        (&Method::GET, ["certificates", n, "policy"]) => certificates::get_policy(&cx, n),
        (&Method::PATCH, ["certificates", n, "policy"]) => {
            certificates::update_policy(&cx, n).await
        }
        (&Method::GET, ["certificates", n, "versions"]) => {
            objects::versions::<Certificates>(&cx, n)
        }
        (&Method::POST, ["certificates", n, "backup"]) => {
            objects::backup::<Certificates>(&cx, n).await
        }
        (&Method::GET, ["certificates", n]) => certificates::get(&cx, n, None),
        (&Method::GET, ["certificates", n, v]) => certificates::get(&cx, n, Some(v)),
        (&Method::PATCH, ["certificates", n]) => certificates::update(&cx, n, None).await,
        (&Method::PATCH, ["certificates", n, v]) => certificates::update(&cx, n, Some(v)).await,
        (&Method::DELETE, ["certificates", n]) => objects::delete::<Certificates>(&cx, n).await,
        (&Method::GET, ["deletedcertificates"]) => certificates::list(&cx, true),
        (&Method::GET, ["deletedcertificates", n]) => objects::get_deleted::<Certificates>(&cx, n),
        (&Method::DELETE, ["deletedcertificates", n]) => {
            objects::purge::<Certificates>(&cx, n).await
        }
        (&Method::POST, ["deletedcertificates", n, "recover"]) => {
            objects::recover::<Certificates>(&cx, n).await
        }
        _ => Err(ApiError::no_route(m.as_str(), &path)),
    }
}

/// What a streamed whole-vault restore restores, recognised by its exact shape: `PUT /restore` (everything) or
/// `PUT /{secrets|keys|certificates}/{name}/restore` (one object). Any other path ending in `restore` is an
/// ordinary request: `PUT /secrets/restore` sets the secret named `restore`, `PUT /keys/restore` imports the key
/// named `restore`.
#[allow(clippy::type_complexity)]
fn vault_restore_target(
    m: &Method,
    segs: &[&str],
) -> Result<Option<Option<(ObjectKind, ObjectName)>>, ApiError> {
    if m != Method::PUT {
        return Ok(None);
    }
    Ok(match segs {
        ["restore"] => Some(None),
        [collection, n, "restore"] => match collection_kind(collection) {
            Some(kind) => Some(Some((kind, objects::name(n)?))),
            None => None,
        },
        _ => None,
    })
}

/// `POST /{secrets|keys|certificates}/restore`: a per-object restore, whose body (a backup blob) may be large.
fn is_object_restore(m: &Method, segs: &[&str]) -> bool {
    m == Method::POST && matches!(segs, [c, "restore"] if collection_kind(c).is_some())
}

fn collection_kind(collection: &str) -> Option<ObjectKind> {
    match collection {
        "secrets" => Some(ObjectKind::Secret),
        "keys" => Some(ObjectKind::Key),
        "certificates" => Some(ObjectKind::Certificate),
        _ => None,
    }
}

/// The RBAC API's routes, after the scope.
async fn rbac_route(
    cx: &Ctx,
    m: &Method,
    scope: &str,
    rest: &[&str],
    path: &str,
) -> Result<Response, ApiError> {
    let is = |s: &str, name: &str| s.eq_ignore_ascii_case(name);
    match (m, rest) {
        (&Method::GET, [c]) if is(c, "roleDefinitions") => rbac::list_definitions(cx, scope),
        (&Method::GET, [c, n]) if is(c, "roleDefinitions") => rbac::get_definition(cx, scope, n),
        (&Method::PUT, [c, n]) if is(c, "roleDefinitions") => {
            rbac::put_definition(cx, scope, n).await
        }
        (&Method::DELETE, [c, n]) if is(c, "roleDefinitions") => {
            rbac::delete_definition(cx, scope, n).await
        }
        (&Method::GET, [c]) if is(c, "roleAssignments") => rbac::list_assignments(cx, scope),
        (&Method::GET, [c, n]) if is(c, "roleAssignments") => rbac::get_assignment(cx, scope, n),
        (&Method::PUT, [c, n]) if is(c, "roleAssignments") => {
            rbac::put_assignment(cx, scope, n).await
        }
        (&Method::DELETE, [c, n]) if is(c, "roleAssignments") => {
            rbac::delete_assignment(cx, scope, n).await
        }
        _ => Err(ApiError::no_route(m.as_str(), path)),
    }
}
