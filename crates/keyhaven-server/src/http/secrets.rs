//! Secrets handlers: parse, call the domain once, shape the Azure response.

use super::dataplane::Ctx;
use super::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_azure_api::secrets::{SecretBundle, SecretSetParameters, SecretUpdateParameters};
use keyhaven_azure_api::{b64url, AttributesIn, AttributesOut, BackupBlob, ListResult};
use keyhaven_core::{ObjectUpdate, ObjectView, SetSecret};
use keyhaven_model::{AttributesPatch, ObjectKind, ObjectName, SecretValue, Tags, Version};

const KIND: ObjectKind = ObjectKind::Secret;

pub(crate) fn attributes_out(v: &ObjectView) -> AttributesOut {
    AttributesOut {
        enabled: v.attributes.enabled,
        nbf: v.attributes.nbf,
        exp: v.attributes.exp,
        created: v.attributes.created,
        updated: v.attributes.updated,
        recoverable_days: v.policy.recoverable_days,
        recovery_level: v.policy.recovery_level.to_string(),
    }
}

pub(crate) fn attributes_patch(a: Option<AttributesIn>) -> AttributesPatch {
    let a = a.unwrap_or_default();
    AttributesPatch {
        enabled: a.enabled,
        nbf: a.nbf.map(Some),
        exp: a.exp.map(Some),
    }
}

/// Which id a bundle carries: with the version (a version's own view) or without (a listing of objects).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Id {
    Versioned,
    Unversioned,
}

fn bundle(cx: &Ctx, v: &ObjectView, id: Id) -> SecretBundle {
    let id = match id {
        Id::Versioned => format!("{}/secrets/{}/{}", cx.base, v.name, v.version),
        Id::Unversioned => format!("{}/secrets/{}", cx.base, v.name),
    };
    SecretBundle {
        value: v.value.as_ref().map(|s| s.expose().to_string()),
        id,
        content_type: v.content_type.clone(),
        attributes: attributes_out(v),
        tags: v.tags.as_map().clone(),
        kid: None,
        managed: v.managed.then_some(true),
        recovery_id: v
            .deleted
            .map(|_| format!("{}/deletedsecrets/{}", cx.base, v.name)),
        deleted_date: v.deleted.map(|d| d.deleted_date),
        scheduled_purge_date: v.deleted.map(|d| d.scheduled_purge_date),
    }
}

fn ok<T: serde::Serialize>(body: T) -> Result<Response, ApiError> {
    Ok((StatusCode::OK, Json(body)).into_response())
}

fn name(n: &str) -> Result<ObjectName, ApiError> {
    Ok(ObjectName::parse(n)?)
}

fn version(v: Option<&&str>) -> Result<Option<Version>, ApiError> {
    Ok(v.map(|v| Version::parse(v)).transpose()?)
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
    ok(bundle(cx, &v, Id::Versioned))
}

pub(crate) fn get(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .get_secret(&cx.who, &cx.vault, &name(n)?, version(ver)?.as_ref())?;
    ok(bundle(cx, &v, Id::Versioned))
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
        .update_object(&cx.who, &cx.vault, KIND, &n, ver.as_ref(), change)
        .await?;
    ok(bundle(cx, &v, Id::Versioned))
}

pub(crate) fn list(cx: &Ctx) -> Result<Response, ApiError> {
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_objects(&cx.who, &cx.vault, KIND, false, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|v| bundle(cx, v, Id::Unversioned))
            .collect(),
        next_link: cx.next_link("secrets", p.next, page.max),
    })
}

pub(crate) fn versions(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_versions(&cx.who, &cx.vault, KIND, &n, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|v| bundle(cx, v, Id::Versioned))
            .collect(),
        next_link: cx.next_link(&format!("secrets/{n}/versions"), p.next, page.max),
    })
}

pub(crate) async fn delete(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .delete_object(&cx.who, &cx.vault, KIND, &name(n)?)
        .await?;
    ok(bundle(cx, &v, Id::Versioned))
}

pub(crate) fn list_deleted(cx: &Ctx) -> Result<Response, ApiError> {
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_objects(&cx.who, &cx.vault, KIND, true, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|v| bundle(cx, v, Id::Unversioned))
            .collect(),
        next_link: cx.next_link("deletedsecrets", p.next, page.max),
    })
}

pub(crate) fn get_deleted(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx.st.kh.get_deleted(&cx.who, &cx.vault, KIND, &name(n)?)?;
    ok(bundle(cx, &v, Id::Versioned))
}

pub(crate) async fn recover(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .recover_deleted(&cx.who, &cx.vault, KIND, &name(n)?)
        .await?;
    ok(bundle(cx, &v, Id::Versioned))
}

pub(crate) async fn purge(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    cx.st
        .kh
        .purge_deleted(&cx.who, &cx.vault, KIND, &name(n)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn backup(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let (kh, who, vault) = (cx.st.kh.clone(), cx.who.clone(), cx.vault.clone());
    let blob = tokio::task::spawn_blocking(move || kh.backup_object(&who, &vault, KIND, &n))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "The backup task failed.",
            )
        })??;
    ok(BackupBlob {
        value: b64url::encode(&blob),
    })
}

pub(crate) async fn restore(cx: &Ctx) -> Result<Response, ApiError> {
    let p: BackupBlob = cx.json()?;
    let blob = b64url::decode(&p.value)
        .ok_or_else(|| ApiError::bad("The backup blob ('value') is not valid base64url."))?;
    let v = cx
        .st
        .kh
        .restore_object(&cx.who, &cx.vault, KIND, &blob)
        .await?;
    ok(bundle(cx, &v, Id::Versioned))
}
