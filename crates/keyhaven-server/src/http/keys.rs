//! Keys handlers: create, import, get, update, rotate, rotation policy, cryptographic operations, random bytes.

use super::context::Ctx;
use super::error::ApiError;
use super::objects::{
    attributes_out, attributes_patch, deleted_fields, name, object_id, ok, version, Id, Shape,
};
use axum::response::Response;
use keyhaven_azure_api::b64url;
use keyhaven_azure_api::keys::{
    GetRandomBytesRequest, JsonWebKey, KeyAttributesIn, KeyBundle, KeyCreateParameters,
    KeyImportParameters, KeyItem, KeyOperationResult, KeyOperationsParameters,
    KeyReleaseParameters, KeyReleasePolicy, KeyReleaseResult, KeyRotationPolicy, KeySignParameters,
    KeyUpdateParameters, KeyVerifyParameters, KeyVerifyResult, LifetimeAction as LifetimeActionDto,
    LifetimeActionTrigger, LifetimeActionType as ActionTypeDto, RandomBytes,
    RotationPolicyAttributes,
};
use keyhaven_core::{
    Detail, KeyOperation, KeyProperties, KeySpec, LifetimeAction, LifetimeActionType, ObjectUpdate,
    ObjectView, OperationInput, ReleasePolicyInput, ReleaseRequest, ReleaseUpdate, RotationPolicy,
};
use keyhaven_crypto::release::ReleaseWrapping;
use keyhaven_model::{KeyOp, ObjectKind, Tags};
use serde_json::json;

pub(crate) struct Keys;

impl Shape for Keys {
    const KIND: ObjectKind = ObjectKind::Key;
    const COLLECTION: &'static str = "keys";
    const DELETED: &'static str = "deletedkeys";
    type Bundle = KeyBundle;
    type Item = KeyItem;

    fn bundle(cx: &Ctx, v: &ObjectView) -> KeyBundle {
        KeyBundle {
            key: json_web_key(object_id(cx, Self::COLLECTION, v, Id::Versioned), v),
            attributes: attributes_out(v),
            tags: v.tags.as_map().clone(),
            managed: v.managed.then_some(true),
            release_policy: release_policy_out(v),
            deleted: deleted_fields(cx, Self::DELETED, v),
        }
    }

    fn item(cx: &Ctx, v: &ObjectView, id: Id) -> KeyItem {
        KeyItem {
            kid: object_id(cx, Self::COLLECTION, v, id),
            attributes: attributes_out(v),
            tags: v.tags.as_map().clone(),
            managed: v.managed.then_some(true),
            deleted: deleted_fields(cx, Self::DELETED, v),
        }
    }
}

/// The public JWK of a key version, as a key bundle carries it.
fn json_web_key(kid: String, v: &ObjectView) -> JsonWebKey {
    let Detail::Key(k) = &v.detail else {
        return JsonWebKey {
            kid: Some(kid),
            ..Default::default()
        };
    };
    let b64 = |f: &Option<Vec<u8>>| f.as_deref().map(b64url::encode);
    JsonWebKey {
        kid: Some(kid),
        kty: k.kind.as_str().to_string(),
        key_ops: Some(k.key_ops.iter().map(|o| o.as_str().to_string()).collect()),
        n: b64(&k.jwk.n),
        e: b64(&k.jwk.e),
        crv: k.jwk.crv.clone(),
        x: b64(&k.jwk.x),
        y: b64(&k.jwk.y),
    }
}

fn internal(what: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        format!("Internal error {what}."),
    )
}

/// A key version's release policy as a bundle carries it (data base64url).
fn release_policy_out(v: &ObjectView) -> Option<KeyReleasePolicy> {
    let Detail::Key(k) = &v.detail else {
        return None;
    };
    k.release_policy.as_ref().map(|p| KeyReleasePolicy {
        content_type: Some(p.content_type.clone()),
        immutable: Some(p.immutable),
        data: Some(b64url::encode(&p.data)),
    })
}

/// A release policy as a request gives it: `data` must be base64url.
fn release_policy_in(p: Option<KeyReleasePolicy>) -> Result<Option<ReleasePolicyInput>, ApiError> {
    p.map(|p| {
        let data = p.data.ok_or_else(|| {
            ApiError::bad("'release_policy.data' (the policy, base64url) is required.")
        })?;
        Ok(ReleasePolicyInput {
            content_type: p.content_type,
            data: bytes("release_policy.data", &data)?,
            immutable: p.immutable,
        })
    })
    .transpose()
}

fn key_attributes(a: Option<KeyAttributesIn>) -> keyhaven_model::AttributesPatch {
    attributes_patch(a.map(|a| a.common))
}

fn bytes(field: &str, v: &str) -> Result<Vec<u8>, ApiError> {
    b64url::decode(v).ok_or_else(|| ApiError::bad(format!("'{field}' is not valid base64url.")))
}

fn opt_bytes(field: &str, v: &Option<String>) -> Result<Option<Vec<u8>>, ApiError> {
    v.as_deref().map(|s| bytes(field, s)).transpose()
}

pub(crate) async fn create(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: KeyCreateParameters = cx.json()?;
    let exportable = p.attributes.as_ref().and_then(|a| a.exportable);
    let release_policy = release_policy_in(p.release_policy)?;
    let spec = KeySpec {
        kty: p.kty.parse()?,
        key_size: p.key_size,
        public_exponent: p.public_exponent,
        curve: p.crv,
    };
    let props = KeyProperties {
        key_ops: p.key_ops.as_deref().map(KeyOp::parse_list).transpose()?,
        attributes: key_attributes(p.attributes),
        tags: Tags::new(p.tags.unwrap_or_default())?,
        exportable,
        release_policy,
    };
    // Generation runs on the domain's bounded pool for expensive work, not on the request threads.
    let v = cx
        .st
        .kh
        .create_key(&cx.who, &cx.vault, &n, spec, props)
        .await?;
    ok(Keys::bundle(cx, &v))
}

pub(crate) async fn import(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let n = name(n)?;
    let p: KeyImportParameters = cx.json()?;
    let exportable = p.attributes.as_ref().and_then(|a| a.exportable);
    let release_policy = release_policy_in(p.release_policy)?;
    // The JWK's own key_ops say what the key may be used for.
    let key_ops = match p.key.get("key_ops") {
        None | Some(serde_json::Value::Null) => None,
        Some(ops) => {
            let ops: Vec<String> = serde_json::from_value(ops.clone())
                .map_err(|_| ApiError::bad("'key.key_ops' must be a list of operation names."))?;
            Some(KeyOp::parse_list(&ops)?)
        }
    };
    let jwk: keyhaven_crypto::keys::Jwk = serde_json::from_value(p.key).map_err(|_| {
        ApiError::bad("'key' is not a valid JSON Web Key (kty and base64url fields are required).")
    })?;
    let props = KeyProperties {
        key_ops,
        attributes: key_attributes(p.attributes),
        tags: Tags::new(p.tags.unwrap_or_default())?,
        exportable,
        release_policy,
    };
    let v = cx
        .st
        .kh
        .import_key(&cx.who, &cx.vault, &n, jwk, p.hsm.unwrap_or(false), props)
        .await?;
    ok(Keys::bundle(cx, &v))
}

/// `GET /keys/{name}/{version}/attestation` (api-version 7.6): an attestation is the statement of a hardware
/// security module about a key it holds. Keyhaven holds every key in software (`-HSM` types included), so there is
/// nothing to attest: after the same checks as a get (permission, existence), the request is refused (400).
pub(crate) fn attestation(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    cx.st.kh.get_properties(
        &cx.who,
        &cx.vault,
        Keys::KIND,
        &name(n)?,
        version(ver)?.as_ref(),
    )?;
    Err(ApiError::bad(
        "Key attestation is not available: this server keeps keys in software, not in a hardware security \
         module, so there is no attestation to return.",
    ))
}

/// `POST /keys/{name}[/{version}]/release`: secure key release. The answer is a JWS signed with the server's
/// token signing key (published at the token authority's JWKS, named by the header's `jku`), whose payload holds
/// the request (`enc`, `kid`, `nonce`) and the released key: its public JWK with `key_hsm`, the key wrapped for
/// the token's runtime key (`{"schema_version", "header": {"kid", "alg": "dir", "enc"}, "ciphertext"}`,
/// base64url), its attributes and release policy.
pub(crate) async fn release(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let n = name(n)?;
    let ver = version(ver)?;
    let p: KeyReleaseParameters = cx.json()?;
    if p.target.trim().is_empty() {
        return Err(ApiError::bad(
            "'target' (the attestation token of the environment the key is released to) is required.",
        ));
    }
    let enc = p
        .enc
        .as_deref()
        .map(|e| {
            ReleaseWrapping::parse(e).ok_or_else(|| {
                ApiError::bad(format!(
                    "Unknown 'enc' '{}': use CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384.",
                    e.chars().take(64).collect::<String>()
                ))
            })
        })
        .transpose()?;
    cx.st.attestation.prepare(&p.target).await;
    let request = ReleaseRequest {
        target: p.target,
        nonce: p.nonce,
        enc,
    };
    let released = cx.st.kh.release_key(
        &cx.who,
        &cx.vault,
        &n,
        ver.as_ref(),
        &cx.st.attestation,
        &request,
    )?;
    let kid = object_id(cx, Keys::COLLECTION, &released.view, Id::Versioned);
    let key_hsm = json!({
        "schema_version": "1.0",
        "header": { "kid": released.runtime_kid, "alg": "dir", "enc": released.enc.as_str() },
        "ciphertext": b64url::encode(&released.wrapped),
        "generator": "keyhaven",
    });
    let mut jwk = serde_json::to_value(json_web_key(kid.clone(), &released.view))
        .map_err(|_| internal("encoding the released key"))?;
    jwk["key_hsm"] = json!(b64url::encode(key_hsm.to_string().as_bytes()));
    let mut request_echo = json!({ "enc": released.enc.as_str(), "kid": kid });
    if let Some(nonce) = &released.nonce {
        request_echo["nonce"] = json!(nonce);
    }
    let payload = json!({
        "request": request_echo,
        "response": { "key": {
            "key": jwk,
            "attributes": attributes_out(&released.view),
            "release_policy": release_policy_out(&released.view),
        }},
        "iat": cx.st.kh.now(),
    });
    let jku = format!(
        "{}/{}/discovery/v2.0/keys",
        cx.st.authority,
        cx.st.tokens.tenant()
    );
    let value = cx
        .st
        .tokens
        .sign_jws(&json!({ "typ": "JWT", "jku": jku }), &payload)
        .map_err(|_| internal("signing the release answer"))?;
    ok(KeyReleaseResult { value })
}

pub(crate) async fn update(cx: &Ctx, n: &str, ver: Option<&&str>) -> Result<Response, ApiError> {
    let n = name(n)?;
    let ver = version(ver)?;
    let p: KeyUpdateParameters = cx.json()?;
    let release = ReleaseUpdate {
        exportable: p.attributes.as_ref().and_then(|a| a.exportable),
        policy: release_policy_in(p.release_policy)?,
    };
    let change = ObjectUpdate {
        attributes: key_attributes(p.attributes),
        tags: p.tags.map(Tags::new).transpose()?,
        content_type: None,
        from_user: true,
    };
    let v = cx
        .st
        .kh
        .update_key(
            &cx.who,
            &cx.vault,
            &n,
            ver.as_ref(),
            change,
            p.key_ops.as_deref().map(KeyOp::parse_list).transpose()?,
            release,
        )
        .await?;
    ok(Keys::bundle(cx, &v))
}

pub(crate) async fn rotate(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let v = cx.st.kh.rotate_key(&cx.who, &cx.vault, &name(n)?).await?;
    ok(Keys::bundle(cx, &v))
}

/// The operation named by the last path segment (Azure spells `wrapkey`/`unwrapkey`; SDKs vary in case).
pub(crate) fn operation(segment: &str) -> Option<KeyOperation> {
    [
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
    ]
    .into_iter()
    .find(|op| op.as_str().eq_ignore_ascii_case(segment))
}

pub(crate) async fn crypto(
    cx: &Ctx,
    n: &str,
    ver: Option<&&str>,
    op: KeyOperation,
) -> Result<Response, ApiError> {
    let n = name(n)?;
    let ver = version(ver)?;
    let input = match op {
        KeyOperation::Sign => {
            let p: KeySignParameters = cx.json()?;
            OperationInput {
                value: bytes("value", &p.value)?,
                alg: p.alg,
                ..Default::default()
            }
        }
        KeyOperation::Verify => {
            let p: KeyVerifyParameters = cx.json()?;
            OperationInput {
                value: bytes("digest", &p.digest)?,
                signature: Some(bytes("value", &p.value)?),
                alg: p.alg,
                ..Default::default()
            }
        }
        _ => {
            let p: KeyOperationsParameters = cx.json()?;
            OperationInput {
                value: bytes("value", &p.value)?,
                iv: opt_bytes("iv", &p.iv)?,
                aad: opt_bytes("aad", &p.aad)?,
                tag: opt_bytes("tag", &p.tag)?,
                alg: p.alg,
                signature: None,
            }
        }
    };
    // Run inline: a key operation costs microseconds to a few hundred (RSA-2048), less than a hop to the
    // blocking pool and back, which measurably cut throughput on two cores.
    let out = cx
        .st
        .kh
        .key_operation(&cx.who, &cx.vault, &n, ver.as_ref(), op, &input)?;
    let kid = format!("{}/keys/{n}/{}", cx.base, out.version);
    if let Some(valid) = out.valid {
        return ok(KeyVerifyResult { value: valid });
    }
    ok(KeyOperationResult {
        kid,
        value: out
            .value
            .as_deref()
            .map(|v| b64url::encode(v))
            .unwrap_or_default(),
        iv: out.iv.as_deref().map(b64url::encode),
        tag: out.tag.as_deref().map(b64url::encode),
        aad: out.aad.as_deref().map(b64url::encode),
    })
}

pub(crate) fn random(cx: &Ctx) -> Result<Response, ApiError> {
    let p: GetRandomBytesRequest = cx.json()?;
    let count =
        usize::try_from(p.count).map_err(|_| ApiError::bad("count must be between 1 and 128."))?;
    let b = cx.st.kh.random_bytes(&cx.who, &cx.vault, count)?;
    ok(RandomBytes {
        value: b64url::encode(&b),
    })
}

fn policy_dto(cx: &Ctx, n: &str, p: RotationPolicy) -> KeyRotationPolicy {
    KeyRotationPolicy {
        id: Some(format!("{}/keys/{n}/rotationpolicy", cx.base)),
        lifetime_actions: p
            .lifetime_actions
            .into_iter()
            .map(|a| LifetimeActionDto {
                trigger: LifetimeActionTrigger {
                    time_after_create: a.time_after_create,
                    time_before_expiry: a.time_before_expiry,
                },
                action: ActionTypeDto {
                    kind: format!("{:?}", a.action),
                },
            })
            .collect(),
        attributes: Some(RotationPolicyAttributes {
            expiry_time: p.expiry_time,
            created: p.created,
            updated: p.updated,
        }),
    }
}

pub(crate) fn get_policy(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let p = cx
        .st
        .kh
        .get_rotation_policy(&cx.who, &cx.vault, &name(n)?)?;
    ok(policy_dto(cx, n, p))
}

pub(crate) async fn set_policy(cx: &Ctx, n: &str) -> Result<Response, ApiError> {
    let name = name(n)?;
    let p: KeyRotationPolicy = cx.json()?;
    let mut actions = Vec::new();
    for a in p.lifetime_actions {
        let action = match a.action.kind.to_ascii_lowercase().as_str() {
            "rotate" => LifetimeActionType::Rotate,
            "notify" => LifetimeActionType::Notify,
            other => {
                return Err(ApiError::bad(format!(
                    "Unknown lifetime action '{other}'; use Rotate or Notify."
                )))
            }
        };
        actions.push(LifetimeAction {
            action,
            time_after_create: a.trigger.time_after_create,
            time_before_expiry: a.trigger.time_before_expiry,
        });
    }
    let policy = RotationPolicy {
        lifetime_actions: actions,
        expiry_time: p.attributes.and_then(|a| a.expiry_time),
        created: None,
        updated: None,
        notified_version: None,
    };
    let saved = cx
        .st
        .kh
        .set_rotation_policy(&cx.who, &cx.vault, &name, policy)
        .await?;
    ok(policy_dto(cx, n, saved))
}
