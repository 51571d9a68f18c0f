//! Spec conformance: every example of the 7.5 and 2025-07-01 example folders is replayed against a started server
//! and the answer is checked against the operation's schema in the spec of the same api-version (status code,
//! required properties, types, enums). What an example names is mapped onto this server: object names get a
//! per-example suffix, the objects an operation needs are made first (a secret to get, a deleted key to recover,
//! a pending certificate to merge), versions, backups, ciphertexts, signatures, certificates and key material are
//! replaced by real ones. Examples that cannot apply are on [`SKIPPED`] with the reason, and those refused by
//! design on [`REFUSED`] (replayed, and the refusal checked); any other failure fails the test. The figure
//! printed at the end is the one README's compatibility table quotes.

use crate::bad_input::Raw;
use crate::key_release::{claims, policy, release_policy, Authority};
use crate::spec_conformance_jobs::{is_storage_job, StorageJobs, ALIASES};
use crate::spec_schema::{specs_dir, Operation, SpecSet};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhaven_testkit::TestServer;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509Name, X509Req, X509};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Examples that are not replayed, with the reason. They count in the total, not among the passes.
const SKIPPED: &[(&str, &str)] = &[(
    "GetSetting-example.json",
    "account settings belong to Managed HSM (settings.json), not to a key vault",
)];

/// Examples of what Keyhaven refuses by design, with the reason. They are replayed all the same, and the answer
/// must be a 400 in Azure's error envelope, valid against the operation's error schema; they count among the
/// skipped, not the passes.
const REFUSED: &[(&str, &str)] = &[(
    "GetKeyAttestation-example.json",
    "keys are held in software, not in an HSM: nothing to attest (replayed: answered 400)",
)];

/// One replay: which example, what happened.
struct Outcome {
    example: String,
    operation: String,
    result: Result<(), String>,
}

#[tokio::test]
async fn every_spec_example_replays_and_matches_its_schema() {
    // Key release needs an attestation authority the server trusts: one made here.
    let authority = Authority::new();
    let cfg = authority.config();
    let ts = TestServer::start_with(move |c| c.key_release_authorities = vec![cfg], None).await;
    let raw = Raw::new(&ts).await;
    let ca = TestCa::new();
    let jobs = StorageJobs::start(&ts).await;
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut skipped: Vec<(String, &str)> = Vec::new();
    let mut n = 0usize;
    for version in ["7.5", "2025-07-01"] {
        let dir = specs_dir().join(version);
        let specs = SpecSet::load(&dir);
        let ops = specs.operations_by_example();
        let mut names: Vec<String> = std::fs::read_dir(dir.join("examples"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for file in names {
            n += 1;
            let label = format!("{version}/{file}");
            if let Some((_, why)) = SKIPPED.iter().find(|(f, _)| *f == file) {
                skipped.push((label, why));
                continue;
            }
            let refused = REFUSED.iter().find(|(f, _)| *f == file);
            let example: Value =
                serde_json::from_slice(&std::fs::read(dir.join("examples").join(&file)).unwrap())
                    .unwrap();
            let example_op = example["operationId"].as_str().unwrap_or_default();
            let aliased = ALIASES
                .iter()
                .find(|(id, _)| *id == example_op)
                .and_then(|(_, f)| ops.get(*f));
            let Some(op) = ops.get(&file).or(aliased) else {
                outcomes.push(Outcome {
                    example: label,
                    operation: "?".into(),
                    result: Err("no operation of the spec refers to this example".into()),
                });
                continue;
            };
            let ctx = Replay {
                raw: &raw,
                ca: &ca,
                authority: &authority,
                jobs: &jobs,
                specs: &specs,
            };
            let result = replay(&ctx, op, &example, n, refused.is_some()).await;
            if let (Some((_, why)), Ok(())) = (refused, &result) {
                skipped.push((label, why));
                continue;
            }
            outcomes.push(Outcome {
                example: label,
                operation: format!("{version} {}", op.operation_id),
                result,
            });
        }
    }

    let passed = outcomes.iter().filter(|o| o.result.is_ok()).count();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    let ops_total: BTreeSet<&str> = outcomes.iter().map(|o| o.operation.as_str()).collect();
    let ops_failing: BTreeSet<&str> = failed.iter().map(|o| o.operation.as_str()).collect();
    for o in &outcomes {
        match &o.result {
            Ok(()) => println!("pass  {} ({})", o.example, o.operation),
            Err(e) => println!("FAIL  {} ({}): {e}", o.example, o.operation),
        }
    }
    for (label, why) in &skipped {
        println!("skip  {label}: {why}");
    }
    println!(
        "spec conformance: {passed}/{n} examples pass ({} skipped with a reason, {} failing); {}/{} replayed \
         operations pass",
        skipped.len(),
        failed.len(),
        ops_total.len() - ops_failing.len(),
        ops_total.len()
    );
    assert!(
        failed.is_empty(),
        "{} examples failed:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|o| format!(
                "{} ({}): {}",
                o.example,
                o.operation,
                o.result.as_ref().unwrap_err()
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(passed + skipped.len(), n);
}

/// What every replay uses.
struct Replay<'a> {
    raw: &'a Raw,
    ca: &'a TestCa,
    authority: &'a Authority,
    jobs: &'a StorageJobs<'a>,
    specs: &'a SpecSet,
}

/// Replays one example: prepares what it needs, sends it, checks status and body.
async fn replay(
    ctx: &Replay<'_>,
    op: &Operation,
    example: &Value,
    n: usize,
    refusal: bool,
) -> Result<(), String> {
    let (ca, specs) = (ctx.ca, ctx.specs);
    let params = example["parameters"].clone();
    let api_version = params["api-version"].as_str().unwrap_or("7.5").to_string();
    let q = format!("api-version={api_version}");
    // The object the example is about, under a name of its own.
    let name_param = ["secret-name", "key-name", "certificate-name", "issuer-name"]
        .into_iter()
        .find(|p| params[*p].is_string());
    let name = match name_param {
        Some(p) => mapped_name(params[p].as_str().unwrap_or("x"), n),
        None => format!("obj-{n}"),
    };
    let body_param = op
        .parameters
        .iter()
        .find(|p| p["in"] == "body")
        .and_then(|p| p["name"].as_str());
    let mut body: Option<Value> = body_param.and_then(|b| params.get(b)).cloned();

    // Blob Storage jobs run on vaults of their own (see `spec_conformance_jobs`), the rest on the default vault.
    let example_op = example["operationId"]
        .as_str()
        .unwrap_or(&op.operation_id)
        .to_string();
    let job = match is_storage_job(&op.file) {
        true => Some(
            ctx.jobs
                .prepare(&example_op, n, &name, body.as_mut())
                .await?,
        ),
        false => None,
    };
    let raw = job.as_ref().map_or(ctx.raw, |j| &j.raw);
    let prepared = match job {
        Some(_) => Prepared::default(),
        None => {
            prepare(
                raw,
                (ca, ctx.authority),
                &op.operation_id,
                &name,
                &q,
                body.as_mut(),
            )
            .await?
        }
    };

    // The request: path parameters mapped, query parameters as the example gives them.
    let mut path = op.path.clone();
    for p in &op.parameters {
        let (Some(pname), Some(place)) = (p["name"].as_str(), p["in"].as_str()) else {
            continue;
        };
        if place != "path" {
            continue;
        }
        let value = match pname {
            "secret-name" | "key-name" | "certificate-name" | "issuer-name" => name.clone(),
            "secret-version" | "key-version" | "certificate-version" => {
                prepared.version.clone().unwrap_or_default()
            }
            "roleDefinitionName" | "roleAssignmentName" => uuid(n),
            "keyName" => name.clone(),
            "jobId" => job
                .as_ref()
                .and_then(|j| j.job_id.clone())
                .ok_or("no job for the path's jobId")?,
            "scope" => params["scope"].as_str().unwrap_or("/").to_string(),
            other => params[other]
                .as_str()
                .map(String::from)
                .ok_or_else(|| format!("no value for the path parameter {other}"))?,
        };
        path = path.replace(&format!("{{{pname}}}"), value.trim_matches('/'));
    }
    let mut query = q.clone();
    for p in &op.parameters {
        if p["in"] == "query" {
            if let Some(pname) = p["name"].as_str().filter(|n| *n != "api-version") {
                if let Some(v) = params.get(pname) {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    query.push_str(&format!("&{pname}={v}"));
                }
            }
        }
    }
    let path = path.replace("//", "/");
    let method = Method::from_bytes(op.method.as_bytes()).unwrap();
    let (status, answer) = raw
        .call(
            method,
            &format!("{path}?{query}"),
            body.map(|b| serde_json::to_vec(&b).unwrap()),
        )
        .await;

    if refusal {
        if status != StatusCode::BAD_REQUEST || !answer["error"]["message"].is_string() {
            return Err(format!(
                "{} {path}: expected a 400 refusal, got {status}: {answer}",
                op.method
            ));
        }
        let mut errors = Vec::new();
        if let Some(schema) = op.responses["default"].get("schema") {
            specs.check(&op.file, schema, &answer, "$", &mut errors);
        }
        return match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.join("; ")),
        };
    }
    // The status the example shows for success.
    let expected: Vec<u16> = example["responses"]
        .as_object()
        .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default();
    if !expected.contains(&status.as_u16()) {
        return Err(format!(
            "{} {path}: status {status}, the example shows {expected:?}: {answer}",
            op.method
        ));
    }
    let Some(response) = op.responses.get(status.as_str()) else {
        return Err(format!("the spec declares no {status} response"));
    };
    let mut errors = Vec::new();
    match response.get("schema") {
        Some(schema) => specs.check(&op.file, schema, &answer, "$", &mut errors),
        None if answer.is_null() => {}
        None => errors.push(format!("a body where the spec declares none: {answer}")),
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    match (&job, status) {
        (Some(j), StatusCode::ACCEPTED) => ctx.jobs.finish(&example_op, j, &answer, &name).await,
        _ => Ok(()),
    }
}

/// A name of the example's own (`1–127` of `0-9a-zA-Z-`), unique to the example.
fn mapped_name(given: &str, n: usize) -> String {
    let clean: String = given
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(100)
        .collect();
    format!("{clean}-e{n}")
}

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// What preparing an example produced.
#[derive(Default)]
struct Prepared {
    /// The version to put in the path.
    version: Option<String>,
}

/// Makes what the operation needs and maps the body's values onto this server.
async fn prepare(
    raw: &Raw,
    (ca, authority): (&TestCa, &Authority),
    op: &str,
    name: &str,
    q: &str,
    body: Option<&mut Value>,
) -> Result<Prepared, String> {
    let h = Helper { raw, q };
    let mut p = Prepared::default();
    match op {
        // secrets
        "GetSecret" | "UpdateSecret" | "GetSecretVersions" | "DeleteSecret" | "BackupSecret"
        | "GetSecrets" => p.version = Some(h.secret(name).await?),
        "GetDeletedSecret"
        | "PurgeDeletedSecret"
        | "RecoverDeletedSecret"
        | "GetDeletedSecrets" => {
            h.secret(name).await?;
            h.ok(Method::DELETE, &format!("/secrets/{name}"), None)
                .await?;
        }
        "RestoreSecret" => {
            h.secret(name).await?;
            let blob = h
                .backup_and_purge("secrets", "deletedsecrets", name)
                .await?;
            set(body, "value", json!(blob))?;
        }
        // keys
        "GetKey"
        | "UpdateKey"
        | "GetKeyVersions"
        | "DeleteKey"
        | "BackupKey"
        | "GetKeys"
        | "RotateKey"
        | "GetKeyRotationPolicy"
        | "UpdateKeyRotationPolicy"
        | "encrypt"
        | "wrapKey"
        | "GetKeyAttestation" => p.version = Some(h.key(name, "RS256").await?),
        "release" => {
            // An exportable key whose policy the test authority's token meets, and such a token as the target.
            let v = h
                .ok(
                    Method::POST,
                    &format!("/keys/{name}/create"),
                    Some(json!({
                        "kty": "RSA",
                        "attributes": { "exportable": true },
                        "release_policy": release_policy(&policy("x-ms-attestation-type", "sevsnpvm"), false),
                    })),
                )
                .await?;
            p.version = Some(last_segment(&v["key"]["kid"]));
            let runtime = openssl::rsa::Rsa::generate(2048).map_err(|e| e.to_string())?;
            set(
                body,
                "target",
                json!(authority.mint(&claims(&runtime, "sevsnpvm"))),
            )?;
        }
        "GetDeletedKey" | "PurgeDeletedKey" | "RecoverDeletedKey" | "GetDeletedKeys" => {
            h.key(name, "RS256").await?;
            h.ok(Method::DELETE, &format!("/keys/{name}"), None).await?;
        }
        "RestoreKey" => {
            h.key(name, "RS256").await?;
            let blob = h.backup_and_purge("keys", "deletedkeys", name).await?;
            set(body, "value", json!(blob))?;
        }
        "decrypt" | "unwrapKey" => {
            let body = body.ok_or("no body")?;
            let version = h.key(name, "RS256").await?;
            let alg = body["alg"].clone();
            let forward = if op == "decrypt" {
                "encrypt"
            } else {
                "wrapkey"
            };
            let out = h
                .ok(
                    Method::POST,
                    &format!("/keys/{name}/{version}/{forward}"),
                    Some(json!({ "alg": alg, "value": URL_SAFE_NO_PAD.encode([42u8; 32]) })),
                )
                .await?;
            body["value"] = out["value"].clone();
            p.version = Some(version);
        }
        "sign" | "verify" => {
            let body = body.ok_or("no body")?;
            let alg = body["alg"].as_str().unwrap_or("RS256").to_string();
            let version = h.key(name, &alg).await?;
            let digest = URL_SAFE_NO_PAD.encode(digest_for(&alg));
            if op == "sign" {
                body["value"] = json!(digest);
            } else {
                let sig = h
                    .ok(
                        Method::POST,
                        &format!("/keys/{name}/{version}/sign"),
                        Some(json!({ "alg": alg, "value": digest })),
                    )
                    .await?;
                body["digest"] = json!(digest);
                body["value"] = sig["value"].clone();
            }
            p.version = Some(version);
        }
        "ImportKey" => {
            let body = body.ok_or("no body")?;
            // The example's key material is replaced by a key made here, of the same type.
            let rsa = openssl::rsa::Rsa::generate(2048).map_err(|e| e.to_string())?;
            let b = |n: &openssl::bn::BigNumRef| URL_SAFE_NO_PAD.encode(n.to_vec());
            let mut jwk = json!({
                "kty": body["key"]["kty"].clone(),
                "n": b(rsa.n()), "e": b(rsa.e()), "d": b(rsa.d()),
            });
            for (field, part) in [
                ("p", rsa.p()),
                ("q", rsa.q()),
                ("dp", rsa.dmp1()),
                ("dq", rsa.dmq1()),
                ("qi", rsa.iqmp()),
            ] {
                if let Some(part) = part {
                    jwk[field] = json!(b(part));
                }
            }
            if let Some(ops) = body["key"].get("key_ops") {
                jwk["key_ops"] = ops.clone();
            }
            body["key"] = jwk;
        }
        // certificates
        "GetCertificate"
        | "UpdateCertificate"
        | "GetCertificateVersions"
        | "GetCertificates"
        | "GetCertificatePolicy"
        | "UpdateCertificatePolicy"
        | "DeleteCertificate"
        | "BackupCertificate" => p.version = Some(h.certificate(name, "Self").await?),
        "GetDeletedCertificate"
        | "PurgeDeletedCertificate"
        | "RecoverDeletedCertificate"
        | "GetDeletedCertificates" => {
            h.certificate(name, "Self").await?;
            h.ok(Method::DELETE, &format!("/certificates/{name}"), None)
                .await?;
        }
        "RestoreCertificate" => {
            h.certificate(name, "Self").await?;
            let blob = h
                .backup_and_purge("certificates", "deletedcertificates", name)
                .await?;
            set(body, "value", json!(blob))?;
        }
        "GetCertificateOperation" | "UpdateCertificateOperation" | "DeleteCertificateOperation" => {
            h.certificate(name, "Unknown").await?;
        }
        "MergeCertificate" => {
            h.certificate(name, "Unknown").await?;
            let op = h
                .ok(Method::GET, &format!("/certificates/{name}/pending"), None)
                .await?;
            let csr = STANDARD
                .decode(
                    op["csr"]
                        .as_str()
                        .ok_or("the pending operation has no csr")?,
                )
                .map_err(|e| e.to_string())?;
            let signed = ca.sign(&csr);
            set(body, "x5c", json!([STANDARD.encode(signed)]))?;
        }
        "ImportCertificate" => {
            let body = body.ok_or("no body")?;
            let pwd = body["pwd"].as_str().unwrap_or("").to_string();
            body["value"] = json!(STANDARD.encode(ca.pkcs12("CN=imported.example", &pwd)));
        }
        "GetCertificateContacts" | "DeleteCertificateContacts" => {
            h.ok(
                Method::PUT,
                "/certificates/contacts",
                Some(json!({ "contacts": [{ "email": "ops@contoso.test" }] })),
            )
            .await?;
        }
        "GetCertificateIssuer"
        | "UpdateCertificateIssuer"
        | "DeleteCertificateIssuer"
        | "GetCertificateIssuers" => {
            h.ok(
                Method::PUT,
                &format!("/certificates/issuers/{name}"),
                Some(json!({ "provider": "Test" })),
            )
            .await?;
        }
        _ => {}
    }
    Ok(p)
}

fn set(body: Option<&mut Value>, field: &str, v: Value) -> Result<(), String> {
    let body = body.ok_or("the example has no body")?;
    body[field] = v;
    Ok(())
}

/// A digest of the length the signature algorithm takes.
fn digest_for(alg: &str) -> Vec<u8> {
    let data = b"spec conformance";
    if alg.ends_with("384") {
        openssl::sha::sha384(data).to_vec()
    } else if alg.ends_with("512") {
        openssl::sha::sha512(data).to_vec()
    } else {
        openssl::sha::sha256(data).to_vec()
    }
}

/// Requests that make what an example needs, each expected to succeed.
struct Helper<'a> {
    raw: &'a Raw,
    q: &'a str,
}

impl Helper<'_> {
    async fn ok(&self, m: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (s, v) = self
            .raw
            .call(
                m.clone(),
                &format!("{path}?{}", self.q),
                body.map(|b| serde_json::to_vec(&b).unwrap()),
            )
            .await;
        match s.is_success() {
            true => Ok(v),
            false => Err(format!("preparing: {m} {path}: {s} {v}")),
        }
    }

    async fn secret(&self, name: &str) -> Result<String, String> {
        let v = self
            .ok(
                Method::PUT,
                &format!("/secrets/{name}"),
                Some(json!({ "value": "conformance" })),
            )
            .await?;
        Ok(last_segment(&v["id"]))
    }

    /// A key fit for `alg`: EC on the algorithm's curve for ES*, else RSA.
    async fn key(&self, name: &str, alg: &str) -> Result<String, String> {
        let spec = match alg {
            "ES256" => json!({ "kty": "EC", "crv": "P-256" }),
            "ES256K" => json!({ "kty": "EC", "crv": "P-256K" }),
            "ES384" => json!({ "kty": "EC", "crv": "P-384" }),
            "ES512" => json!({ "kty": "EC", "crv": "P-521" }),
            _ => json!({ "kty": "RSA", "key_size": 2048 }),
        };
        let v = self
            .ok(Method::POST, &format!("/keys/{name}/create"), Some(spec))
            .await?;
        Ok(last_segment(&v["key"]["kid"]))
    }

    /// A certificate issued by `issuer`: `Self` (complete at once) or `Unknown` (pending, waiting for a merge).
    async fn certificate(&self, name: &str, issuer: &str) -> Result<String, String> {
        self.ok(
            Method::POST,
            &format!("/certificates/{name}/create"),
            Some(json!({ "policy": {
                "x509_props": { "subject": format!("CN={name}") },
                "issuer": { "name": issuer }
            }})),
        )
        .await?;
        if issuer != "Self" {
            return Ok(String::new());
        }
        for _ in 0..100 {
            let (s, v) = self
                .raw
                .call(
                    Method::GET,
                    &format!("/certificates/{name}?{}", self.q),
                    None,
                )
                .await;
            if s == StatusCode::OK && v["cer"].is_string() {
                return Ok(last_segment(&v["id"]));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(format!("the certificate {name} was not issued"))
    }

    /// Backs an object up, deletes and purges it (so a restore has a free name); returns the backup blob.
    async fn backup_and_purge(
        &self,
        collection: &str,
        deleted: &str,
        name: &str,
    ) -> Result<String, String> {
        let b = self
            .ok(Method::POST, &format!("/{collection}/{name}/backup"), None)
            .await?;
        self.ok(Method::DELETE, &format!("/{collection}/{name}"), None)
            .await?;
        self.ok(Method::DELETE, &format!("/{deleted}/{name}"), None)
            .await?;
        b["value"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| "the backup has no value".into())
    }
}

fn last_segment(id: &Value) -> String {
    id.as_str()
        .and_then(|s| s.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// A certificate authority made for the test: signs the signing requests of merges and the certificates of
/// imports.
struct TestCa {
    key: PKey<Private>,
    cert: X509,
}

impl TestCa {
    fn new() -> TestCa {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let name = Self::name("CN=Conformance Test CA");
        let cert = Self::build(&name, &name, &key, &key, true);
        TestCa { key, cert }
    }

    fn name(subject: &str) -> X509Name {
        let mut b = X509Name::builder().unwrap();
        b.append_entry_by_text("CN", subject.trim_start_matches("CN="))
            .unwrap();
        b.build()
    }

    fn build(
        subject: &openssl::x509::X509NameRef,
        issuer: &openssl::x509::X509NameRef,
        public: &openssl::pkey::PKeyRef<impl openssl::pkey::HasPublic>,
        signer: &PKey<Private>,
        ca: bool,
    ) -> X509 {
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32(rand_serial())
            .unwrap()
            .to_asn1_integer()
            .unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(subject).unwrap();
        b.set_issuer_name(issuer).unwrap();
        b.set_pubkey(public).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(90).unwrap())
            .unwrap();
        if ca {
            b.append_extension(
                openssl::x509::extension::BasicConstraints::new()
                    .critical()
                    .ca()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        b.sign(signer, MessageDigest::sha256()).unwrap();
        b.build()
    }

    /// The certificate for a DER signing request.
    fn sign(&self, csr_der: &[u8]) -> Vec<u8> {
        let req = X509Req::from_der(csr_der).unwrap();
        let public = req.public_key().unwrap();
        Self::build(
            req.subject_name(),
            self.cert.subject_name(),
            &public,
            &self.key,
            false,
        )
        .to_der()
        .unwrap()
    }

    /// A PKCS#12 with a new key, its certificate (issued here) and this CA, under `password`.
    fn pkcs12(&self, subject: &str, password: &str) -> Vec<u8> {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let cert = Self::build(
            &Self::name(subject),
            self.cert.subject_name(),
            &key,
            &self.key,
            false,
        );
        let mut chain = openssl::stack::Stack::new().unwrap();
        chain.push(self.cert.clone()).unwrap();
        openssl::pkcs12::Pkcs12::builder()
            .name("imported")
            .pkey(&key)
            .cert(&cert)
            .ca(chain)
            .build2(password)
            .unwrap()
            .to_der()
            .unwrap()
    }
}

fn rand_serial() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_be_bytes(b) >> 1
}
