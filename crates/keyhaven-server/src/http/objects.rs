//! Handlers every object kind shares (list, versions, delete, deleted, recover, purge, backup, restore), generic
//! over how a kind shapes its Azure response.

use super::context::Ctx;
use super::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_azure_api::{
    b64url, AttributesIn, AttributesOut, BackupBlob, DeletedFields, ListResult,
};
use keyhaven_core::ObjectView;
use keyhaven_model::{AttributesPatch, ObjectKind, ObjectName, Version};
use serde::Serialize;

/// Which id a response carries: with the version (a version's own view) or without (a listing of objects).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Id {
    Versioned,
    Unversioned,
}

/// How one kind of object appears on the wire.
pub(crate) trait Shape {
    const KIND: ObjectKind;
    /// `secrets`, `keys`, `certificates`.
    const COLLECTION: &'static str;
    /// `deletedsecrets`, `deletedkeys`, `deletedcertificates`.
    const DELETED: &'static str;
    type Bundle: Serialize;
    type Item: Serialize;
    fn bundle(cx: &Ctx, v: &ObjectView) -> Self::Bundle;
    /// The answer about one version in the lifecycle operations (get, delete, get deleted, recover, restore): its
    /// bundle, with whatever else the kind's answers carry (a certificate's policy).
    fn answer(cx: &Ctx, v: &ObjectView) -> Result<Self::Bundle, ApiError> {
        Ok(Self::bundle(cx, v))
    }
    fn item(cx: &Ctx, v: &ObjectView, id: Id) -> Self::Item;
}

pub(crate) fn object_id(cx: &Ctx, collection: &str, v: &ObjectView, id: Id) -> String {
    match id {
        Id::Versioned => format!("{}/{collection}/{}/{}", cx.base, v.name, v.version),
        Id::Unversioned => format!("{}/{collection}/{}", cx.base, v.name),
    }
}

/// `recoveryId` and the dates of a deleted object (all absent for a live one).
pub(crate) fn deleted_fields(cx: &Ctx, deleted_collection: &str, v: &ObjectView) -> DeletedFields {
    DeletedFields {
        recovery_id: v
            .deleted
            .map(|_| format!("{}/{deleted_collection}/{}", cx.base, v.name)),
        deleted_date: v.deleted.map(|d| d.deleted_date),
        scheduled_purge_date: v.deleted.map(|d| d.scheduled_purge_date),
    }
}

pub(crate) fn attributes_out(v: &ObjectView) -> AttributesOut {
    AttributesOut {
        enabled: v.attributes.enabled,
        nbf: v.attributes.nbf,
        exp: v.attributes.exp,
        created: v.attributes.created,
        updated: v.attributes.updated,
        recoverable_days: v.policy.recoverable_days,
        recovery_level: v.policy.recovery_level.as_str().to_string(),
        exportable: match &v.detail {
            keyhaven_core::Detail::Key(k) => Some(k.exportable),
            _ => None,
        },
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

pub(crate) fn ok<T: Serialize>(body: T) -> Result<Response, ApiError> {
    Ok((StatusCode::OK, Json(body)).into_response())
}

pub(crate) fn name(n: &str) -> Result<ObjectName, ApiError> {
    Ok(ObjectName::parse(n)?)
}

pub(crate) fn version(v: Option<&&str>) -> Result<Option<Version>, ApiError> {
    Ok(v.map(|v| Version::parse(v)).transpose()?)
}

pub(crate) fn list<S: Shape>(cx: &Ctx) -> Result<Response, ApiError> {
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_objects(&cx.who, &cx.vault, S::KIND, false, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|v| S::item(cx, v, Id::Unversioned))
            .collect(),
        next_link: cx.next_link(S::COLLECTION, p.next, page.max),
    })
}

pub(crate) fn versions<S: Shape>(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_versions(&cx.who, &cx.vault, S::KIND, &n, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|v| S::item(cx, v, Id::Versioned))
            .collect(),
        next_link: cx.next_link(&format!("{}/{n}/versions", S::COLLECTION), p.next, page.max),
    })
}

pub(crate) fn properties<S: Shape>(
    cx: &Ctx,
    n: &str,
    ver: Option<&&str>,
) -> Result<Response, ApiError> {
    let v = cx.st.kh.get_properties(
        &cx.who,
        &cx.vault,
        S::KIND,
        &name(n)?,
        version(ver)?.as_ref(),
    )?;
    ok(S::answer(cx, &v)?)
}

pub(crate) async fn delete<S: Shape>(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .delete_object(&cx.who, &cx.vault, S::KIND, &name(n)?)
        .await?;
    ok(S::answer(cx, &v)?)
}

pub(crate) fn list_deleted<S: Shape>(cx: &Ctx) -> Result<Response, ApiError> {
    let page = cx.query.page()?;
    let p = cx
        .st
        .kh
        .list_objects(&cx.who, &cx.vault, S::KIND, true, &page)?;
    ok(ListResult {
        value: p
            .items
            .iter()
            .map(|v| S::item(cx, v, Id::Unversioned))
            .collect(),
        next_link: cx.next_link(S::DELETED, p.next, page.max),
    })
}

pub(crate) fn get_deleted<S: Shape>(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .get_deleted(&cx.who, &cx.vault, S::KIND, &name(n)?)?;
    ok(S::answer(cx, &v)?)
}

pub(crate) async fn recover<S: Shape>(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx
        .st
        .kh
        .recover_deleted(&cx.who, &cx.vault, S::KIND, &name(n)?)
        .await?;
    ok(S::answer(cx, &v)?)
}

pub(crate) async fn purge<S: Shape>(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    cx.st
        .kh
        .purge_deleted(&cx.who, &cx.vault, S::KIND, &name(n)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn backup<S: Shape>(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let (kh, who, vault) = (cx.st.kh.clone(), cx.who.clone(), cx.vault.clone());
    let blob = tokio::task::spawn_blocking(move || kh.backup_object(&who, &vault, S::KIND, &n))
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

pub(crate) async fn restore<S: Shape>(cx: &Ctx) -> Result<Response, ApiError> {
    let p: BackupBlob = cx.json()?;
    let blob = b64url::decode(&p.value)
        .ok_or_else(|| ApiError::bad("The backup blob ('value') is not valid base64url."))?;
    let v = cx
        .st
        .kh
        .restore_object(&cx.who, &cx.vault, S::KIND, blob)
        .await?;
    ok(S::answer(cx, &v)?)
}
