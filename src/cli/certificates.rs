//! `keyhaven certificate …`: the `az keyvault certificate` verbs, through the Azure data plane.

use super::objects::{backup, common, restore, tags, write_new, ObjectArgs, VaultArgs};
use super::print_json;
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Subcommand, ValueEnum};
use keyhaven_client::VaultClient;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

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
    /// Example: keyhaven certificate import --vault-name default --name web --file web.pfx --password "$PFX_PASSWORD"
    Import {
        #[command(flatten)]
        object: ObjectArgs,
        /// A .pfx/.p12 file, or a PEM file with the private key and the certificate chain.
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// The PFX password.
        #[arg(long)]
        password: Option<String>,
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

fn read_policy(arg: &str) -> Result<Value> {
    let text = match arg.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("reading policy file {file}"))?
        }
        None => arg.to_string(),
    };
    let v: Value = serde_json::from_str(&text).context("--policy is not JSON")?;
    Ok(to_wire(v))
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
    const D: &str = "deletedcertificates";
    match cmd {
        CertificateCommand::Create {
            object,
            policy,
            disabled,
            tags: t,
        } => {
            let (vault, name, _) = object.resolve(C)?;
            let mut body = json!({ "policy": read_policy(&policy)?, "tags": tags(&t)? });
            if disabled {
                body["attributes"] = json!({ "enabled": false });
            }
            vault
                .run(async |v: &VaultClient<'_>| {
                    v.call(Method::POST, &format!("/{C}/{name}/create"), Some(&body))
                        .await?;
                    // The create answer shows the operation as it began; the operation says how it went.
                    let op = v
                        .call(Method::GET, &format!("/{C}/{name}/pending"), None)
                        .await?
                        .unwrap_or_default();
                    match op["status"].as_str() {
                        Some("completed") => {
                            print_json(&v.call(Method::GET, &format!("/{C}/{name}/"), None).await?)
                        }
                        Some("failed") => bail!(
                            "creating certificate '{name}' failed: {}",
                            op["error"]["message"].as_str().unwrap_or("no reason given")
                        ),
                        _ => {
                            eprintln!(
                                "Certificate '{name}' is pending: have its signing request (csr) signed, then run \
                                 `keyhaven certificate pending merge`."
                            );
                            print_json(&op)
                        }
                    }
                })
                .await
        }
        CertificateCommand::GetDefaultPolicy => print_json(&default_policy()),
        CertificateCommand::Import {
            object,
            file,
            password,
            policy,
            tags: t,
        } => {
            let (vault, name, _) = object.resolve(C)?;
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            if data.is_empty() {
                bail!("{} is empty", file.display());
            }
            let text = String::from_utf8_lossy(&data);
            let pem = text.contains("-----BEGIN");
            let value = if pem {
                text.into_owned()
            } else {
                STANDARD.encode(&data)
            };
            let mut body = json!({ "value": value, "tags": tags(&t)? });
            if let Some(p) = password {
                body["pwd"] = Value::from(p);
            }
            match policy {
                Some(p) => body["policy"] = read_policy(&p)?,
                None if pem => {
                    body["policy"] =
                        json!({ "secret_props": { "contentType": "application/x-pem-file" } })
                }
                None => {}
            }
            vault
                .run(async |v: &VaultClient<'_>| {
                    print_json(
                        &v.call(Method::POST, &format!("/{C}/{name}/import"), Some(&body))
                            .await?,
                    )
                })
                .await
        }
        CertificateCommand::Show(o) => common(C, D, "show", &o).await,
        CertificateCommand::List(v) => {
            v.run(async |v: &VaultClient<'_>| print_json(&v.list_all("/certificates").await?))
                .await
        }
        CertificateCommand::ListVersions(o) => common(C, D, "list-versions", &o).await,
        CertificateCommand::ListDeleted(v) => {
            v.run(async |v: &VaultClient<'_>| {
                print_json(&v.list_all("/deletedcertificates").await?)
            })
            .await
        }
        CertificateCommand::Delete(o) => common(C, D, "delete", &o).await,
        CertificateCommand::Recover(o) => common(C, D, "recover", &o).await,
        CertificateCommand::Purge(o) => common(C, D, "purge", &o).await,
        CertificateCommand::Download {
            object,
            file,
            encoding,
        } => {
            let (vault, name, version) = object.resolve(C)?;
            let cert = vault
                .run(async |v: &VaultClient<'_>| {
                    Ok(v.call(
                        Method::GET,
                        &format!("/{C}/{name}/{}", version.unwrap_or_default()),
                        None,
                    )
                    .await?
                    .unwrap_or_default())
                })
                .await?;
            let b64 = cert["cer"]
                .as_str()
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
        CertificateCommand::Backup { object, file } => backup(C, &object, &file).await,
        CertificateCommand::Restore { vault, file } => restore(C, &vault, &file).await,
        CertificateCommand::Pending(p) => match p {
            PendingCommand::Show(o) => {
                let (vault, name, _) = o.resolve(C)?;
                vault
                    .run(async |v: &VaultClient<'_>| {
                        print_json(
                            &v.call(Method::GET, &format!("/{C}/{name}/pending"), None)
                                .await?,
                        )
                    })
                    .await
            }
            PendingCommand::Merge { object, file } => {
                let (vault, name, _) = object.resolve(C)?;
                let body = json!({ "x5c": certificates_in(&file)? });
                vault
                    .run(async |v: &VaultClient<'_>| {
                        print_json(
                            &v.call(
                                Method::POST,
                                &format!("/{C}/{name}/pending/merge"),
                                Some(&body),
                            )
                            .await?,
                        )
                    })
                    .await
            }
            PendingCommand::Delete(o) => {
                let (vault, name, _) = o.resolve(C)?;
                vault
                    .run(async |v: &VaultClient<'_>| {
                        print_json(
                            &v.call(Method::DELETE, &format!("/{C}/{name}/pending"), None)
                                .await?,
                        )
                    })
                    .await
            }
        },
    }
}
