//! `keyhaven certificate …`: the `az keyvault certificate` verbs, through the Azure data plane.

use super::files::{read_first_line, write_new};
use super::objects::{purged, read_backup, save_backup, tags, ObjectArgs, VaultArgs};
use super::print_json;
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Subcommand, ValueEnum};
use keyhaven_azure_api::certificate_policy::{CertificatePolicy, SecretProperties};
use keyhaven_azure_api::certificates::{
    CertificateCreateParameters, CertificateImportParameters, CertificateMergeParameters,
};
use keyhaven_azure_api::AttributesIn;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

#[derive(Subcommand)]
pub enum CertificateCommand {
    /// Create a certificate under a policy (issuer Self: issued at once; Unknown: a signing request to merge).
    ///
    /// Example: keyhaven certificate create --vault-name default --name web --policy "$(keyhaven certificate get-default-policy)"
    Create {
        #[command(flatten)]
        object: ObjectArgs,
        /// The policy: JSON text, or @FILE (Azure's wire spelling or `az`'s camelCase spelling).
        #[arg(long, short = 'p')]
        policy: String,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        /// Tags as key=value.
        #[arg(long, num_args = 0..)]
        tags: Vec<String>,
    },
    /// Print the default policy (a self-signed RSA 2048 certificate, valid 12 months), to edit and pass to create.
    ///
    /// Example: keyhaven certificate get-default-policy > policy.json
    GetDefaultPolicy,
    /// Import a certificate with its private key from a PKCS#12/PFX or PEM file.
    ///
    /// Example: keyhaven certificate import --vault-name default --name web --file web.pfx --password-file pfx-password.txt
    Import {
        #[command(flatten)]
        object: ObjectArgs,
        /// A .pfx/.p12 file, or a PEM file with the private key and the certificate chain.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// The PFX password (prefer --password-file: a command line is visible to other local users).
        #[arg(long, conflicts_with = "password_file")]
        password: Option<String>,
        /// Read the PFX password from this file (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Policy (JSON or @FILE) to import under.
        #[arg(long, short = 'p')]
        policy: Option<String>,
        /// Tags as key=value.
        #[arg(long, num_args = 0..)]
        tags: Vec<String>,
    },
    /// Show a certificate (with its policy).
    ///
    /// Example: keyhaven certificate show --vault-name default --name web
    Show(ObjectArgs),
    /// List certificates.
    ///
    /// Example: keyhaven certificate list --vault-name default -o table
    List(VaultArgs),
    /// List a certificate's versions.
    ///
    /// Example: keyhaven certificate list-versions --vault-name default --name web
    ListVersions(ObjectArgs),
    /// List deleted certificates.
    ///
    /// Example: keyhaven certificate list-deleted --vault-name default
    ListDeleted(VaultArgs),
    /// Delete a certificate with its key and secret (soft delete).
    ///
    /// Example: keyhaven certificate delete --vault-name default --name web
    Delete(ObjectArgs),
    /// Recover a deleted certificate with its key and secret.
    ///
    /// Example: keyhaven certificate recover --vault-name default --name web
    Recover(ObjectArgs),
    /// Purge a deleted certificate with its key and secret.
    ///
    /// Example: keyhaven certificate purge --vault-name default --name web
    Purge(ObjectArgs),
    /// Download the public certificate (no private key) to a file.
    ///
    /// Example: keyhaven certificate download --vault-name default --name web --file web.pem
    Download {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// PEM or DER.
        #[arg(long, short = 'e', value_enum, default_value = "pem")]
        encoding: Encoding,
    },
    /// Back up a certificate (all versions, with its key and secret) into a file, as raw blob bytes.
    ///
    /// Example: keyhaven certificate backup --vault-name default --name web --file web.blob
    Backup {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Restore a certificate from a backup file.
    ///
    /// Example: keyhaven certificate restore --vault-name second --file web.blob
    Restore {
        #[command(flatten)]
        vault: VaultArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// The pending create operation: show, merge the signed certificate, delete.
    #[command(subcommand)]
    Pending(PendingCommand),
}

#[derive(Subcommand)]
pub enum PendingCommand {
    /// Show the operation (with the signing request, `csr`).
    ///
    /// Example: keyhaven certificate pending show --vault-name default --name ext
    Show(ObjectArgs),
    /// Merge the certificate your authority signed (a PEM or DER file; a PEM file may hold the chain).
    ///
    /// Example: keyhaven certificate pending merge --vault-name default --name ext --file signed.pem
    Merge {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Delete the operation.
    ///
    /// Example: keyhaven certificate pending delete --vault-name default --name ext
    Delete(ObjectArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Encoding {
    Pem,
    Der,
}

/// The default policy, in Azure's wire spelling.
fn default_policy() -> Value {
    json!({
        "issuer": { "name": "Self" },
        "key_props": { "exportable": true, "kty": "RSA", "key_size": 2048, "reuse_key": true },
        "lifetime_actions": [
            { "action": { "action_type": "AutoRenew" }, "trigger": { "days_before_expiry": 90 } }
        ],
        "secret_props": { "contentType": "application/x-pkcs12" },
        "x509_props": {
            "key_usage": ["cRLSign", "dataEncipherment", "digitalSignature", "keyEncipherment", "keyAgreement",
                          "keyCertSign"],
            "subject": "CN=CLIGetDefaultPolicy",
            "validity_months": 12
        }
    })
}

/// The policy a PEM import needs when none is given: its secret is a PEM file.
fn pem_import_policy() -> Result<CertificatePolicy> {
    Ok(CertificatePolicy {
        secret_props: Some(SecretProperties {
            content_type: Some("application/x-pem-file".into()),
        }),
        ..Default::default()
    })
}

/// `az` prints and accepts policies in its SDK's camelCase; the wire spells them Azure's way.
fn wire_name(key: &str) -> &str {
    match key {
        "issuerParameters" => "issuer",
        "certificateTransparency" => "cert_transparency",
        "certificateType" => "cty",
        "keyProperties" => "key_props",
        "keyType" => "kty",
        "keySize" => "key_size",
        "reuseKey" => "reuse_key",
        "curve" => "crv",
        "lifetimeActions" => "lifetime_actions",
        "actionType" => "action_type",
        "daysBeforeExpiry" => "days_before_expiry",
        "lifetimePercentage" => "lifetime_percentage",
        "secretProperties" => "secret_props",
        "x509CertificateProperties" => "x509_props",
        "keyUsage" => "key_usage",
        "validityInMonths" => "validity_months",
        "subjectAlternativeNames" => "sans",
        "dnsNames" => "dns_names",
        other => other,
    }
}

fn to_wire(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (wire_name(&k).to_string(), to_wire(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(to_wire).collect()),
        other => other,
    }
}

fn read_policy(arg: &str) -> Result<CertificatePolicy> {
    let text = match arg.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("reading policy file {file}"))?
        }
        None => arg.to_string(),
    };
    let v: Value = serde_json::from_str(&text).context("--policy is not JSON")?;
    serde_json::from_value(to_wire(v)).context("--policy is not a certificate policy")
}

/// The certificates in a PEM or DER file, as base64 DER (leaf first, as written).
fn certificates_in(file: &Path) -> Result<Vec<String>> {
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let text = String::from_utf8_lossy(&data);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        if data.is_empty() {
            bail!("{} is empty", file.display());
        }
        return Ok(vec![STANDARD.encode(&data)]);
    }
    let mut out = Vec::new();
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let Some((body, _)) = block.split_once("-----END CERTIFICATE-----") else {
            bail!("{}: a certificate block has no END line", file.display());
        };
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD
            .decode(&b64)
            .with_context(|| format!("{}: a certificate block is not base64", file.display()))?;
        out.push(b64);
    }
    Ok(out)
}

pub async fn run(cmd: CertificateCommand) -> Result<()> {
    const C: &str = "certificates";
    match cmd {
        CertificateCommand::Create {
            object,
            policy,
            disabled,
            tags: t,
        } => {
            let params = CertificateCreateParameters {
                policy: Some(read_policy(&policy)?),
                attributes: disabled.then(|| AttributesIn {
                    enabled: Some(false),
                    ..Default::default()
                }),
                tags: tags(&t)?,
                preserve_cert_order: None,
            };
            let (v, name, _) = object.open(C).await?;
            v.create_certificate(&name, &params).await?;
            // The create answer shows the operation as it began; the operation says how it went.
            let op = v.get_certificate_operation(&name).await?;
            match op.status.as_str() {
                "completed" => print_json(&v.get_certificate(&name, None).await?),
                "failed" => bail!(
                    "creating certificate '{name}' failed: {}",
                    op.error
                        .as_ref()
                        .map_or("no reason given", |e| e.message.as_str())
                ),
                _ => {
                    eprintln!(
                        "Certificate '{name}' is pending: have its signing request (csr) signed, then run \
                         `keyhaven certificate pending merge`."
                    );
                    print_json(&op)
                }
            }
        }
        CertificateCommand::GetDefaultPolicy => print_json(&default_policy()),
        CertificateCommand::Import {
            object,
            file,
            password,
            password_file,
            policy,
            tags: t,
        } => {
            let password = match (password, password_file) {
                (Some(p), _) => Some(Zeroizing::new(p)),
                (None, Some(f)) => Some(read_first_line(&f)?),
                (None, None) => None,
            };
            let data = Zeroizing::new(
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            );
            if data.is_empty() {
                bail!("{} is empty", file.display());
            }
            let text = Zeroizing::new(String::from_utf8_lossy(&data).into_owned());
            let pem = text.contains("-----BEGIN");
            let value = if pem {
                text.to_string()
            } else {
                STANDARD.encode(&*data)
            };
            let policy = match policy {
                Some(p) => Some(read_policy(&p)?),
                None if pem => Some(pem_import_policy()?),
                None => None,
            };
            let mut params = CertificateImportParameters {
                value,
                pwd: password.as_ref().map(|p| p.to_string()),
                policy,
                attributes: None,
                tags: tags(&t)?,
                preserve_cert_order: None,
            };
            let imported = match object.open(C).await {
                Ok((v, name, _)) => v
                    .import_certificate(&name, &params)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            };
            params.value.zeroize();
            if let Some(p) = params.pwd.as_mut() {
                p.zeroize();
            }
            print_json(&imported?)
        }
        CertificateCommand::Show(o) => {
            let (v, name, version) = o.open(C).await?;
            print_json(&v.get_certificate(&name, version.as_deref()).await?)
        }
        CertificateCommand::List(v) => print_json(
            &v.connect()
                .await?
                .list_certificates(false)
                .collect_all()
                .await?,
        ),
        CertificateCommand::ListVersions(o) => {
            let (v, name, _) = o.open(C).await?;
            print_json(&v.list_certificate_versions(&name)?.collect_all().await?)
        }
        CertificateCommand::ListDeleted(v) => print_json(
            &v.connect()
                .await?
                .list_deleted_certificates()
                .collect_all()
                .await?,
        ),
        CertificateCommand::Delete(o) => {
            let (v, name, _) = o.open(C).await?;
            print_json(&v.delete_certificate(&name).await?)
        }
        CertificateCommand::Recover(o) => {
            let (v, name, _) = o.open(C).await?;
            print_json(&v.recover_deleted_certificate(&name).await?)
        }
        CertificateCommand::Purge(o) => {
            let (v, name, _) = o.open(C).await?;
            v.purge_deleted_certificate(&name).await?;
            purged("certificate", &name)
        }
        CertificateCommand::Download {
            object,
            file,
            encoding,
        } => {
            let (v, name, version) = object.open(C).await?;
            let cert = v.get_certificate(&name, version.as_deref()).await?;
            let b64 = cert
                .cer
                .as_deref()
                .context("the certificate has no 'cer'")?;
            let der = STANDARD.decode(b64).context("'cer' is not base64")?;
            let out = match encoding {
                Encoding::Der => der,
                Encoding::Pem => {
                    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
                    for line in b64.as_bytes().chunks(64) {
                        pem.push_str(&String::from_utf8_lossy(line));
                        pem.push('\n');
                    }
                    pem.push_str("-----END CERTIFICATE-----\n");
                    pem.into_bytes()
                }
            };
            write_new(&file, &out)?;
            eprintln!("Downloaded certificate '{name}' to {}.", file.display());
            Ok(())
        }
        CertificateCommand::Backup { object, file } => {
            let (v, name, _) = object.open(C).await?;
            save_backup(&name, &v.backup_certificate(&name).await?, &file)
        }
        CertificateCommand::Restore { vault, file } => {
            let blob = read_backup(&file)?;
            print_json(&vault.connect().await?.restore_certificate(&blob).await?)
        }
        CertificateCommand::Pending(p) => match p {
            PendingCommand::Show(o) => {
                let (v, name, _) = o.open(C).await?;
                print_json(&v.get_certificate_operation(&name).await?)
            }
            PendingCommand::Merge { object, file } => {
                let params = CertificateMergeParameters {
                    x5c: certificates_in(&file)?,
                    attributes: None,
                    tags: None,
                };
                let (v, name, _) = object.open(C).await?;
                print_json(&v.merge_certificate(&name, &params).await?)
            }
            PendingCommand::Delete(o) => {
                let (v, name, _) = o.open(C).await?;
                print_json(&v.delete_certificate_operation(&name).await?)
            }
        },
    }
}
