//! Certificates handlers: create (and its operation), import, merge, get, update, policy, contacts, issuers.
//! Lifecycle (list, versions, delete, deleted, recover, purge, backup, restore) is the shared `objects` one.

use super::certificate_policy;
use super::context::Ctx;
use super::error::ApiError;
use super::objects::{attributes_out, deleted_fields, name, object_id, ok, version, Id, Shape};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keyhaven_azure_api::certificate_policy::CertificatePolicy as PolicyDto;
use keyhaven_azure_api::certificates::{
    CertificateBundle, CertificateCreateParameters, CertificateImportParameters, CertificateItem,
    CertificateMergeParameters, CertificateOperationDto, CertificateOperationUpdateParameter,
    ContactsDto, IssuerAttributes, IssuerBundle, IssuerCredentials, IssuerItem, OperationErrorDto,
    OrganizationDetails,
};
use keyhaven_azure_api::ListResult;
use keyhaven_core::{
    AdministratorDetails, CertificateChange, CertificateOperation, CertificatePolicy,
    CertificateView, Contact, CreateCertificate, Detail, ImportCertificate, Issuer, IssuerChange,
    ObjectView, OperationStatus,
};
use keyhaven_model::{ObjectKind, SecretValue, Tags};

pub(crate) struct Certificates;

/// A certificate version's DER certificate (base64) and thumbprint (base64url), where it has them.
fn cer_and_x5t(v: &ObjectView) -> (Option<String>, Option<String>) {
    match &v.detail {
        Detail::Certificate(c) => (
            c.cer.as_deref().map(|c| STANDARD.encode(c)),
            c.x5t.as_deref().map(keyhaven_azure_api::b64url::encode),
        ),
        _ => (None, None),
    }
}

fn bundle(cx: &Ctx, v: &ObjectView, policy: Option<&CertificatePolicy>) -> CertificateBundle {
    CertificateBundle {
        id: object_id(cx, Certificates::COLLECTION, v, Id::Versioned),
        kid: object_id(cx, "keys", v, Id::Versioned),
        sid: object_id(cx, "secrets", v, Id::Versioned),
        x5t: cer_and_x5t(v).1,
        cer: cer_and_x5t(v).0,
        content_type: v.content_type.clone(),
        attributes: attributes_out(v),
        tags: v.tags.as_map().clone(),
        policy: policy.map(|p| policy_out(cx, &v.name, p)),
        deleted: deleted_fields(cx, Certificates::DELETED, v),
    }
}

fn policy_out(cx: &Ctx, name: &str, p: &CertificatePolicy) -> PolicyDto {
    certificate_policy::policy_out(format!("{}/certificates/{name}/policy", cx.base), p)
}

fn policy_in(p: Option<PolicyDto>) -> Result<Option<CertificatePolicy>, ApiError> {
    p.map(certificate_policy::policy_in).transpose()
}

impl Shape for Certificates {
    const KIND: ObjectKind = ObjectKind::Certificate;
    const COLLECTION: &'static str = "certificates";
    const DELETED: &'static str = "deletedcertificates";
    type Bundle = CertificateBundle;
    type Item = CertificateItem;

    fn bundle(cx: &Ctx, v: &ObjectView) -> CertificateBundle {
        bundle(cx, v, None)
    }

    fn item(cx: &Ctx, v: &ObjectView, id: Id) -> CertificateItem {
        CertificateItem {
            id: object_id(cx, Self::COLLECTION, v, id),
            x5t: cer_and_x5t(v).1,
            attributes: attributes_out(v),
            tags: v.tags.as_map().clone(),
            deleted: deleted_fields(cx, Self::DELETED, v),
        }
    }
}

/// `GET /certificates`: as Azure, certificates still waiting for their certificate (pending) only with
/// `includePending=true`.
pub(crate) fn list(cx: &Ctx) -> Result<Response, ApiError> {
    let include_pending = cx
        .query
        .get("includePending")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_objects(&cx.who, &cx.vault, ObjectKind::Certificate, false, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .filter(|v| include_pending || !v.is_pending_certificate())
            .map(|v| Certificates::item(cx, v, Id::Unversioned))
            .collect(),
        next_link: cx
            .next_link(Certificates::COLLECTION, p.next, page.max)
            .map(|l| match include_pending {
                true => format!("{l}&includePending=true"),
                false => l,
            }),
    })
}

fn view_out(cx: &Ctx, v: &CertificateView) -> CertificateBundle {
    bundle(cx, &v.object, v.policy.as_ref())
}

fn operation_out(cx: &Ctx, op: &CertificateOperation) -> CertificateOperationDto {
    CertificateOperationDto {
        id: format!("{}/certificates/{}/pending", cx.base, op.name),
        issuer: serde_json::to_value(&op.issuer).ok(),
        csr: op.csr.as_ref().map(|c| STANDARD.encode(c)),
        cancellation_requested: op.cancellation_requested,
        status: op.status.as_str().to_string(),
        status_details: op.status_details.clone(),
        error: op.error.as_ref().map(|e| OperationErrorDto {
            code: e.code.clone(),
            message: e.message.clone(),
        }),
        target: op
            .completed
            .then(|| format!("{}/certificates/{}", cx.base, op.name)),
        request_id: op.request_id.clone(),
    }
}

fn tags(t: Option<std::collections::BTreeMap<String, String>>) -> Result<Tags, ApiError> {
    Ok(Tags::new(t.unwrap_or_default())?)
}

pub(crate) async fn create(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: CertificateCreateParameters = cx.json()?;
    let policy = policy_in(p.policy)?.ok_or_else(|| {
        ApiError::bad("A certificate policy ('policy') is required to create a certificate.")
    })?;
    let req = CreateCertificate {
        policy,
        enabled: p.attributes.and_then(|a| a.enabled),
        tags: tags(p.tags)?,
    };
    // Key generation runs on the domain's bounded pool for expensive work, not on the request threads.
    let op = cx
        .st
        .kh
        .create_certificate(&cx.who, &cx.vault, &n, req)
        .await?;
    // Azure always answers a create with the operation in progress, and some SDKs rely on it: Python's poller,
    // given a finished operation in the first response, returns no certificate. So the first response shows the
    // operation as it began; `GET …/pending` (which every poller asks next) shows it completed at once.
    let mut first = operation_out(cx, &op);
    let finished = op.status != OperationStatus::InProgress;
    first.status = OperationStatus::InProgress.as_str().to_string();
    first.target = None;
    first.error = None;
    let mut resp = (StatusCode::ACCEPTED, Json(first)).into_response();
    let location = format!(
        "{}/certificates/{n}/pending?api-version={}",
        cx.base,
        cx.query
            .get("api-version")
            .unwrap_or(keyhaven_azure_api::API_VERSION)
    );
    if let Ok(l) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    // Poll again at once when the operation already finished; a merge from elsewhere takes longer.
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(if finished { "1" } else { "10" }),
    );
    Ok(resp)
}

pub(crate) fn get_operation(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let op = cx
        .st
        .kh
        .get_certificate_operation(&cx.who, &cx.vault, &name(n)?)?;
    ok(operation_out(cx, &op))
}

pub(crate) async fn update_operation(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let p: CertificateOperationUpdateParameter = cx.json()?;
    let op = cx
        .st
        .kh
        .cancel_certificate_operation(&cx.who, &cx.vault, &name(n)?, p.cancellation_requested)
        .await?;
    ok(operation_out(cx, &op))
}

pub(crate) async fn delete_operation(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let op = cx
        .st
        .kh
        .delete_certificate_operation(&cx.who, &cx.vault, &name(n)?)
        .await?;
    ok(operation_out(cx, &op))
}

pub(crate) async fn merge(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: CertificateMergeParameters = cx.json()?;
    let mut x5c = Vec::with_capacity(p.x5c.len());
    for c in &p.x5c {
        x5c.push(STANDARD.decode(c.trim()).map_err(|_| {
            ApiError::bad("Each x5c entry must be a base64-encoded DER certificate.")
        })?);
    }
    let v = cx
        .st
        .kh
        .merge_certificate(
            &cx.who,
            &cx.vault,
            &n,
            x5c,
            p.attributes.and_then(|a| a.enabled),
            p.tags.map(Tags::new).transpose()?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view_out(cx, &v))).into_response())
}

pub(crate) async fn import(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: CertificateImportParameters = cx.json()?;
    let req = ImportCertificate {
        value: SecretValue::new(p.value)?,
        password: p.pwd.map(SecretValue::new).transpose()?,
        policy: policy_in(p.policy)?,
        enabled: p.attributes.and_then(|a| a.enabled),
        tags: tags(p.tags)?,
    };
    let v = cx
        .st
        .kh
        .import_certificate(&cx.who, &cx.vault, &n, req)
        .await?;
    ok(view_out(cx, &v))
}

pub(crate) fn get(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .get_certificate(&cx.who, &cx.vault, &name(n)?, version(ver)?.as_ref())?;
    ok(view_out(cx, &v))
}

pub(crate) async fn update(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let n = name(n)?;
    let ver = version(ver)?;
    let p: CertificateCreateParameters = cx.json()?;
    let change = CertificateChange {
        enabled: p.attributes.and_then(|a| a.enabled),
        tags: p.tags.map(Tags::new).transpose()?,
        policy: policy_in(p.policy)?,
    };
    let v = cx
        .st
        .kh
        .update_certificate(&cx.who, &cx.vault, &n, ver.as_ref(), change)
        .await?;
    ok(view_out(cx, &v))
}

pub(crate) fn get_policy(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let p = cx
        .st
        .kh
        .get_certificate_policy(&cx.who, &cx.vault, &name(n)?)?;
    ok(policy_out(cx, n, &p))
}

pub(crate) async fn update_policy(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let body: PolicyDto = cx.json()?;
    let patch = certificate_policy::policy_in(body)?;
    let p = cx
        .st
        .kh
        .update_certificate_policy(&cx.who, &cx.vault, &n, patch)
        .await?;
    ok(policy_out(cx, n.as_str(), &p))
}

fn contacts_out(cx: &Ctx, contacts: &[Contact]) -> ContactsDto {
    ContactsDto {
        id: Some(format!("{}/certificates/contacts", cx.base)),
        contacts: contacts
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect(),
    }
}

pub(crate) fn get_contacts(cx: &Ctx) -> Result<Response, ApiError> {
    let c = cx.st.kh.get_certificate_contacts(&cx.who, &cx.vault)?;
    ok(contacts_out(cx, &c))
}

pub(crate) async fn set_contacts(cx: &Ctx) -> Result<Response, ApiError> {
    let p: ContactsDto = cx.json()?;
    let mut contacts = Vec::with_capacity(p.contacts.len());
    for c in p.contacts {
        contacts.push(
            serde_json::from_value::<Contact>(c)
                .map_err(|e| ApiError::bad(format!("A contact is not valid: {e}")))?,
        );
    }
    let c = cx
        .st
        .kh
        .set_certificate_contacts(&cx.who, &cx.vault, contacts)
        .await?;
    ok(contacts_out(cx, &c))
}

pub(crate) async fn delete_contacts(cx: &Ctx) -> Result<Response, ApiError> {
    let c = cx
        .st
        .kh
        .delete_certificate_contacts(&cx.who, &cx.vault)
        .await?;
    ok(contacts_out(cx, &c))
}

fn issuer_out(cx: &Ctx, i: &Issuer) -> IssuerBundle {
    IssuerBundle {
        id: Some(format!("{}/certificates/issuers/{}", cx.base, i.name)),
        provider: Some(i.provider.clone()),
        credentials: i.account_id.as_ref().map(|a| IssuerCredentials {
            account_id: Some(a.clone()),
            pwd: None,
        }),
        org_details: (i.organization_id.is_some() || !i.admins.is_empty()).then(|| {
            OrganizationDetails {
                id: i.organization_id.clone(),
                admin_details: Some(
                    i.admins
                        .iter()
                        .filter_map(|a| serde_json::to_value(a).ok())
                        .collect(),
                ),
            }
        }),
        attributes: Some(IssuerAttributes {
            enabled: Some(i.enabled),
            created: Some(i.created),
            updated: Some(i.updated),
        }),
    }
}

pub(crate) fn get_issuer(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let i = cx.st.kh.get_issuer(&cx.who, &cx.vault, &name(n)?)?;
    ok(issuer_out(cx, &i))
}

pub(crate) fn list_issuers(cx: &Ctx) -> Result<Response, ApiError> {
    let page = cx.query.page()?;
    let p = cx.st.kh.list_issuers(&cx.who, &cx.vault, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|i| IssuerItem {
                id: format!("{}/certificates/issuers/{}", cx.base, i.name),
                provider: i.provider.clone(),
            })
            .collect(),
        next_link: cx.next_link("certificates/issuers", p.next, page.max),
    })
}

pub(crate) async fn set_issuer(cx: &Ctx, n: &str, replace: bool) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: IssuerBundle = cx.json()?;
    let creds = p.credentials.unwrap_or_default();
    let org = p.org_details;
    let admins = match org.as_ref().and_then(|o| o.admin_details.clone()) {
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for a in list {
                out.push(
                    serde_json::from_value::<AdministratorDetails>(a).map_err(|e| {
                        ApiError::bad(format!("An administrator's details are not valid: {e}"))
                    })?,
                );
            }
            Some(out)
        }
        None => None,
    };
    let change = IssuerChange {
        provider: p.provider,
        account_id: creds.account_id,
        password: creds.pwd.map(SecretValue::new).transpose()?,
        organization_id: org.and_then(|o| o.id),
        admins,
        enabled: p.attributes.and_then(|a| a.enabled),
    };
    let i = cx
        .st
        .kh
        .set_issuer(&cx.who, &cx.vault, &n, change, replace)
        .await?;
    ok(issuer_out(cx, &i))
}

pub(crate) async fn delete_issuer(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let i = cx
        .st
        .kh
        .delete_issuer(&cx.who, &cx.vault, &name(n)?)
        .await?;
    ok(issuer_out(cx, &i))
}
