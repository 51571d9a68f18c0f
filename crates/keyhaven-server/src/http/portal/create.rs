//! New secret (a name and a value; the same name again adds a version), New key (type and size or curve) and New
//! certificate (self-signed: subject and validity).

use super::context::{Fields, PageResult, PortalError, Posted, Signed};
use super::html::{self, esc};
use super::nav;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use keyhaven_core::{
    CertificatePolicy, CreateCertificate, IssuerRef, KeyProperties, KeyProps, KeySpec, SetSecret,
    X509Props, ISSUER_SELF,
};
use keyhaven_model::{
    AttributesPatch, KeyKind, ObjectKind, ObjectName, SecretValue, Tags, VaultName,
};

fn options(choices: &[&str], selected: &str) -> String {
    choices
        .iter()
        .map(|c| {
            let sel = if *c == selected { " selected" } else { "" };
            format!(r#"<option value="{c}"{sel}>{c}</option>"#, c = esc(c))
        })
        .collect()
}

fn kind_fields(kind: ObjectKind, f: &Fields) -> String {
    let val = |n: &str| esc(f.get(n).unwrap_or_default());
    match kind {
        ObjectKind::Secret => format!(
            r#"<label for="value">Value</label>
<textarea id="value" name="value" rows="4" required spellcheck="false" autocomplete="off"></textarea>
<label for="content-type">Content type <span class="muted">(optional)</span></label>
<input id="content-type" name="content_type" value="{}" spellcheck="false">"#,
            val("content_type")
        ),
        ObjectKind::Key => format!(
            r#"<label for="kty">Key type</label>
<select id="kty" name="kty" data-toggles="key-size-row:RSA,RSA-HSM;curve-row:EC,EC-HSM">{}</select>
<div id="key-size-row" class="stack"><label for="key-size">RSA key size</label>
<select id="key-size" name="key_size">{}</select></div>
<div id="curve-row" class="stack"><label for="curve">Elliptic curve</label>
<select id="curve" name="curve">{}</select></div>"#,
            options(
                &["RSA", "RSA-HSM", "EC", "EC-HSM"],
                f.get("kty").unwrap_or("RSA")
            ),
            options(
                &["2048", "3072", "4096"],
                f.get("key_size").unwrap_or("2048")
            ),
            options(
                &["P-256", "P-384", "P-521", "P-256K"],
                f.get("curve").unwrap_or("P-256")
            ),
        ),
        ObjectKind::Certificate => format!(
            r#"<p class="muted">Self-signed, issued at once, with an RSA key (exportable).</p>
<label for="subject">Subject</label>
<input id="subject" name="subject" required value="{}" placeholder="CN=www.example.com" spellcheck="false">
<label for="validity">Validity (months)</label>
<input id="validity" name="validity_months" type="number" min="1" max="1200" required value="{}">
<label for="cert-key-size">RSA key size</label>
<select id="cert-key-size" name="key_size">{}</select>"#,
            val("subject"),
            esc(f.get("validity_months").unwrap_or("12")),
            options(
                &["2048", "3072", "4096"],
                f.get("key_size").unwrap_or("2048")
            ),
        ),
    }
}

fn form_page(
    cx: &super::context::Signed,
    v: &VaultName,
    kind: ObjectKind,
    f: &Fields,
    error: Option<&str>,
) -> axum::response::Response {
    let title = format!("New {}", kind.as_str());
    let hint = if kind == ObjectKind::Secret {
        r#"<p class="muted">A name that exists already gets a new version with this value.</p>"#
    } else {
        r#"<p class="muted">A name that exists already gets a new version.</p>"#
    };
    let body = format!(
        r#"{}{hint}<form method="post" action="{}/new" class="card stack">{}
<label for="name">Name</label>
<input id="name" name="name" required pattern="[0-9A-Za-z-]{{1,127}}" value="{}" spellcheck="false" autocomplete="off">
{}
<button type="submit" class="primary">Create</button>
</form>"#,
        error.map(|e| html::notice(true, e)).unwrap_or_default(),
        esc(&nav::kind_url(v, kind)),
        html::csrf_field(cx.csrf()),
        esc(f.get("name").unwrap_or_default()),
        kind_fields(kind, f),
    );
    cx.page(&title, &nav::kind_crumbs(v, kind, &[(&title, None)]), &body)
}

/// `GET /portal/vaults/{vault}/{kind}/new`.
pub(crate) async fn show(cx: Signed, Path((vault, col)): Path<(String, String)>) -> PageResult {
    let v = nav::vault_name(&vault)?;
    let kind = nav::kind_of(&col)?;
    cx.in_vault(&v);
    Ok(form_page(&cx, &v, kind, &Fields::parse(b""), None))
}

fn number(f: &Fields, name: &str, what: &str) -> Result<u32, PortalError> {
    f.text(name)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| PortalError::bad(format!("{what} must be a whole number.")))
}

async fn create(
    cx: &Signed,
    v: &VaultName,
    kind: ObjectKind,
    f: &mut Fields,
) -> Result<ObjectName, PortalError> {
    let name = ObjectName::parse(f.text("name").unwrap_or_default())?;
    let kh = cx.st.kh.clone();
    match kind {
        ObjectKind::Secret => {
            let value = f
                .take("value")
                .ok_or_else(|| PortalError::bad("Enter the secret's value."))?;
            let req = SetSecret {
                value: SecretValue::new(value.to_string())?,
                content_type: f.text("content_type").map(str::to_string),
                attributes: AttributesPatch::default(),
                tags: Tags::default(),
            };
            kh.set_secret(&cx.who, v, &name, req).await?;
        }
        ObjectKind::Key => {
            let kty: KeyKind = f.text("kty").unwrap_or("RSA").parse()?;
            let rsa = matches!(kty, KeyKind::Rsa | KeyKind::RsaHsm);
            let spec = KeySpec {
                kty,
                key_size: if rsa {
                    Some(number(f, "key_size", "The key size")?)
                } else {
                    None
                },
                public_exponent: None,
                curve: if rsa {
                    None
                } else {
                    f.text("curve").map(str::to_string)
                },
            };
            let (who, v, n) = (cx.who.clone(), v.clone(), name.clone());
            // Key generation takes long enough to keep it off the request threads.
            tokio::task::spawn(async move {
                kh.create_key(&who, &v, &n, spec, KeyProperties::default())
                    .await
            })
            .await
            .map_err(|_| {
                PortalError::new(StatusCode::INTERNAL_SERVER_ERROR, "Key creation failed.")
            })??;
        }
        ObjectKind::Certificate => {
            let subject = f
                .text("subject")
                .ok_or_else(|| {
                    PortalError::bad("Enter the certificate's subject, such as CN=www.example.com.")
                })?
                .to_string();
            let policy = CertificatePolicy {
                key_props: Some(KeyProps {
                    exportable: Some(true),
                    kty: Some("RSA".into()),
                    key_size: Some(number(f, "key_size", "The key size")?),
                    ..Default::default()
                }),
                x509_props: Some(X509Props {
                    subject: Some(subject),
                    validity_months: Some(number(f, "validity_months", "The validity")?),
                    ..Default::default()
                }),
                issuer: Some(IssuerRef {
                    name: Some(ISSUER_SELF.into()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let req = CreateCertificate {
                policy,
                enabled: None,
                tags: Tags::default(),
            };
            let (who, v, n) = (cx.who.clone(), v.clone(), name.clone());
            let op =
                tokio::task::spawn(async move { kh.create_certificate(&who, &v, &n, req).await })
                    .await
                    .map_err(|_| {
                        PortalError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Certificate creation failed.",
                        )
                    })??;
            if let Some(e) = op.error {
                return Err(PortalError::bad(format!(
                    "The certificate could not be issued: {}",
                    e.message
                )));
            }
        }
    }
    Ok(name)
}

/// `POST /portal/vaults/{vault}/{kind}/new`.
pub(crate) async fn submit(
    Path((vault, col)): Path<(String, String)>,
    mut p: Posted,
) -> PageResult {
    let v = nav::vault_name(&vault)?;
    let kind = nav::kind_of(&col)?;
    p.cx.in_vault(&v);
    match create(&p.cx, &v, kind, &mut p.form).await {
        Ok(name) => Ok(Redirect::to(&nav::object_url(&v, kind, name.as_str())).into_response()),
        // Refusals of the caller's rights are answered as such; anything else shows the form again.
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(e),
        Err(e) => {
            let mut resp = form_page(&p.cx, &v, kind, &p.form, Some(&e.message));
            *resp.status_mut() = e.status;
            Ok(resp)
        }
    }
}
