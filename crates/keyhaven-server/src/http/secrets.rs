//! Secrets handlers: parse, call the domain once, shape the Azure response.

use super::context::Ctx;
use super::error::ApiError;
use super::objects::{
    attributes_out, attributes_patch, deleted_fields, name, object_id, ok, version, Id, Shape,
};
use axum::response::Response;
use keyhaven_azure_api::secrets::{SecretBundle, SecretSetParameters, SecretUpdateParameters};
use keyhaven_core::{Detail, ObjectUpdate, ObjectView, SecretFormat, SetSecret};
use keyhaven_model::{ObjectKind, SecretValue, Tags};

pub(crate) struct Secrets;

fn secret_bundle(cx: &Ctx, v: &ObjectView, id: Id) -> SecretBundle {
    SecretBundle {
        value: v.value.as_ref().map(|s| s.expose().to_string()),
        id: object_id(cx, Secrets::COLLECTION, v, id),
        content_type: v.content_type.clone(),
        attributes: attributes_out(v),
        tags: v.tags.as_map().clone(),
        kid: match &v.detail {
            Detail::Secret { key_id: Some(k) } => Some(format!("{}/keys/{k}", cx.base)),
            _ => None,
        },
        managed: v.managed.then_some(true),
        previous_version: v.previous_version.as_ref().map(|p| p.as_str().to_string()),
        deleted: deleted_fields(cx, Secrets::DELETED, v),
    }
}

impl Shape for Secrets {
    const KIND: ObjectKind = ObjectKind::Secret;
    const COLLECTION: &'static str = "secrets";
    const DELETED: &'static str = "deletedsecrets";
    type Bundle = SecretBundle;
    type Item = SecretBundle;

    fn bundle(cx: &Ctx, v: &ObjectView) -> SecretBundle {
        secret_bundle(cx, v, Id::Versioned)
    }

    fn item(cx: &Ctx, v: &ObjectView, id: Id) -> SecretBundle {
        secret_bundle(cx, v, id)
    }
}

pub(crate) async fn set(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: SecretSetParameters = cx.json()?;
    let req = SetSecret {
        value: SecretValue::new(p.value)?,
        content_type: p.content_type,
        attributes: attributes_patch(p.attributes),
        tags: Tags::new(p.tags.unwrap_or_default())?,
    };
    let v = cx.st.kh.set_secret(&cx.who, &cx.vault, &n, req).await?;
    ok(Secrets::bundle(cx, &v))
}

/// `GET /secrets/{name}[/{version}]`; with `outContentType` (api-version 2025-07-01), in that form.
pub(crate) fn get(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let (n, ver) = (name(n)?, version(ver)?);
    let v = match cx.query.get("outContentType").filter(|f| !f.is_empty()) {
        None => cx.st.kh.get_secret(&cx.who, &cx.vault, &n, ver.as_ref())?,
        Some(f) => cx.st.kh.get_secret_as(
            &cx.who,
            &cx.vault,
            &n,
            ver.as_ref(),
            SecretFormat::parse(f)?,
        )?,
    };
    ok(Secrets::bundle(cx, &v))
}

pub(crate) async fn update(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let n = name(n)?;
    let ver = version(ver)?;
    let p: SecretUpdateParameters = cx.json()?;
    let change = ObjectUpdate {
        attributes: attributes_patch(p.attributes),
        tags: p.tags.map(Tags::new).transpose()?,
        content_type: p.content_type,
        from_user: true,
    };
    let v = cx
        .st
        .kh
        .update_object(
            &cx.who,
            &cx.vault,
            ObjectKind::Secret,
            &n,
            ver.as_ref(),
            change,
        )
        .await?;
    ok(Secrets::bundle(cx, &v))
}
