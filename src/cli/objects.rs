//! `keyhaven secret …` and `keyhaven key …` (and what `certificate` shares with them): the `az keyvault` verbs, through the Azure data plane.

use super::{print_json, ClientArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use keyhaven_client::VaultClient;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Which vault (as `az`: `--vault-name`, or a URL).
#[derive(Args, Clone, Debug)]
pub struct VaultArgs {
    /// Vault name: https://{name}.{dns-suffix}:{port}, reached through --server even where the name does not resolve.
    #[arg(long)]
    vault_name: Option<String>,
    /// Vault URL (overrides --vault-name).
    #[arg(long)]
    vault_url: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// An object in a vault: `--name` with the vault, or `--id` (an object URL, as `az` accepts).
#[derive(Args, Clone, Debug)]
pub struct ObjectArgs {
    /// Object name.
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// Object id: https://{vault host}/{secrets|keys|certificates}/{name}[/{version}].
    #[arg(long)]
    id: Option<String>,
    /// Version (default: latest).
    #[arg(long)]
    version: Option<String>,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Set a secret (a new version each time).
    ///
    /// Example: keyhaven secret set --vault-name default --name db-password --value hunter2
    Set {
        #[command(flatten)]
        object: ObjectArgs,
        /// The value.
        #[arg(long, conflicts_with = "file")]
        value: Option<String>,
        /// Read the value from a file.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
        #[arg(long)]
        content_type: Option<String>,
        /// Tags as key=value.
        #[arg(long, num_args = 0..)]
        tags: Vec<String>,
    },
    /// Show a secret with its value.
    ///
    /// Example: keyhaven secret show --vault-name default --name db-password [--version VERSION]
    Show(ObjectArgs),
    /// List secrets.
    ///
    /// Example: keyhaven secret list --vault-name default -o table
    List(VaultArgs),
    /// List a secret's versions.
    ///
    /// Example: keyhaven secret list-versions --vault-name default --name db-password
    ListVersions(ObjectArgs),
    /// List deleted secrets.
    ///
    /// Example: keyhaven secret list-deleted --vault-name default
    ListDeleted(VaultArgs),
    /// Delete a secret (soft delete).
    ///
    /// Example: keyhaven secret delete --vault-name default --name db-password
    Delete(ObjectArgs),
    /// Recover a deleted secret.
    ///
    /// Example: keyhaven secret recover --vault-name default --name db-password
    Recover(ObjectArgs),
    /// Purge a deleted secret.
    ///
    /// Example: keyhaven secret purge --vault-name default --name db-password
    Purge(ObjectArgs),
    /// Back up a secret (all versions) into a file, as raw blob bytes (the same file `az` writes).
    ///
    /// Example: keyhaven secret backup --vault-name default --name db-password --file db-password.blob
    Backup {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Restore a secret from a backup file.
    ///
    /// Example: keyhaven secret restore --vault-name second --file db-password.blob
    Restore {
        #[command(flatten)]
        vault: VaultArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a key.
    ///
    /// Example: keyhaven key create --vault-name default --name signing --kty EC --curve P-256
    Create {
        #[command(flatten)]
        object: ObjectArgs,
        /// RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM.
        #[arg(long, default_value = "RSA")]
        kty: String,
        /// RSA: 2048, 3072, 4096; oct: 128, 192, 256.
        #[arg(long)]
        size: Option<u32>,
        /// EC: P-256, P-256K, P-384, P-521.
        #[arg(long)]
        curve: Option<String>,
        /// Permitted operations (encrypt decrypt sign verify wrapKey unwrapKey).
        #[arg(long, num_args = 1..)]
        ops: Vec<String>,
    },
    /// Import a key from a JWK file (with its private parts).
    ///
    /// Example: keyhaven key import --vault-name default --name imported --jwk-file key.jwk.json
    Import {
        #[command(flatten)]
        object: ObjectArgs,
        /// A JSON Web Key file.
        #[arg(long)]
        jwk_file: PathBuf,
    },
    /// Show a key (public parts).
    ///
    /// Example: keyhaven key show --vault-name default --name signing
    Show(ObjectArgs),
    /// List keys.
    ///
    /// Example: keyhaven key list --vault-name default -o table
    List(VaultArgs),
    /// List a key's versions.
    ///
    /// Example: keyhaven key list-versions --vault-name default --name signing
    ListVersions(ObjectArgs),
    /// List deleted keys.
    ///
    /// Example: keyhaven key list-deleted --vault-name default
    ListDeleted(VaultArgs),
    /// Make a new version of a key.
    ///
    /// Example: keyhaven key rotate --vault-name default --name signing
    Rotate(ObjectArgs),
    /// Delete a key (soft delete).
    ///
    /// Example: keyhaven key delete --vault-name default --name signing
    Delete(ObjectArgs),
    /// Recover a deleted key.
    ///
    /// Example: keyhaven key recover --vault-name default --name signing
    Recover(ObjectArgs),
    /// Purge a deleted key.
    ///
    /// Example: keyhaven key purge --vault-name default --name signing
    Purge(ObjectArgs),
    /// Back up a key (all versions) into a file, as raw blob bytes.
    ///
    /// Example: keyhaven key backup --vault-name default --name signing --file signing.blob
    Backup {
        #[command(flatten)]
        object: ObjectArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Restore a key from a backup file.
    ///
    /// Example: keyhaven key restore --vault-name second --file signing.blob
    Restore {
        #[command(flatten)]
        vault: VaultArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
}

impl VaultArgs {
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: for<'a> AsyncFnOnce(&'a VaultClient<'a>) -> Result<T>,
    {
        let client = self.client.connect()?;
        let vault = client
            .vault(self.vault_name.as_deref(), self.vault_url.as_deref())
            .await?;
        f(&vault).await
    }
}

impl ObjectArgs {
    /// (vault args with the URL filled from --id, name, version).
    pub(super) fn resolve(&self, collection: &str) -> Result<(VaultArgs, String, Option<String>)> {
        let mut vault = self.vault.clone();
        if let Some(id) = &self.id {
            let url = reqwest::Url::parse(id).with_context(|| format!("--id {id} is not a URL"))?;
            let segs: Vec<&str> = url
                .path_segments()
                .map(|s| s.filter(|p| !p.is_empty()).collect())
                .unwrap_or_default();
            let (Some(kind), Some(name)) = (segs.first(), segs.get(1)) else {
                bail!("--id must look like https://HOST/{collection}/NAME[/VERSION]")
            };
            if *kind != collection {
                bail!("--id names a {kind} object, not one of {collection}");
            }
            vault.vault_url = Some(format!("{}://{}", url.scheme(), url.authority()));
            return Ok((
                vault,
                name.to_string(),
                segs.get(2).map(|v| v.to_string()).or(self.version.clone()),
            ));
        }
        let Some(name) = &self.name else {
            bail!("name the object with --name (or --id)")
        };
        Ok((vault, name.clone(), self.version.clone()))
    }
}

pub(super) fn tags(list: &[String]) -> Result<Value> {
    let mut m = serde_json::Map::new();
    for t in list {
        let (k, v) = t
            .split_once('=')
            .with_context(|| format!("tag '{t}' is not key=value"))?;
        m.insert(k.to_string(), Value::from(v));
    }
    Ok(Value::Object(m))
}

/// The verbs both kinds share.
pub(super) async fn common(
    collection: &str,
    deleted: &str,
    verb: &str,
    o: &ObjectArgs,
) -> Result<()> {
    let (vault, name, version) = o.resolve(collection)?;
    let path = match verb {
        "show" => format!("/{collection}/{name}/{}", version.unwrap_or_default()),
        "list-versions" => format!("/{collection}/{name}/versions"),
        "delete" => format!("/{collection}/{name}"),
        "recover" => format!("/{deleted}/{name}/recover"),
        "purge" => format!("/{deleted}/{name}"),
        "rotate" => format!("/{collection}/{name}/rotate"),
        other => bail!("unknown verb {other}"),
    };
    let method = match verb {
        "show" | "list-versions" => Method::GET,
        "delete" | "purge" => Method::DELETE,
        _ => Method::POST,
    };
    vault
        .run(async |v: &VaultClient<'_>| {
            if verb == "list-versions" {
                return print_json(&v.list_all(&path).await?);
            }
            match v.call(method, &path, None).await? {
                Some(body) => print_json(&body),
                None => {
                    eprintln!("{} '{name}' purged.", &collection[..collection.len() - 1]);
                    Ok(())
                }
            }
        })
        .await
}

pub(super) async fn backup(
    collection: &str,
    object: &ObjectArgs,
    file: &std::path::Path,
) -> Result<()> {
    let (vault, name, _) = object.resolve(collection)?;
    let blob = vault
        .run(async |v: &VaultClient<'_>| Ok(v.backup(collection, &name).await?))
        .await?;
    write_new(file, &blob)?;
    eprintln!(
        "Backed up '{name}' ({} bytes) to {}.",
        blob.len(),
        file.display()
    );
    Ok(())
}

pub(super) async fn restore(
    collection: &str,
    vault: &VaultArgs,
    file: &std::path::Path,
) -> Result<()> {
    let blob = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if blob.is_empty() {
        bail!("{} is empty", file.display());
    }
    let restored = vault
        .run(async |v: &VaultClient<'_>| Ok(v.restore(collection, &blob).await?))
        .await?;
    print_json(&restored)
}

/// Writes a file that must not exist yet (as `az`, which refuses to overwrite), durably.
pub(super) fn write_new(file: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .with_context(|| format!("creating {} (it must not exist)", file.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

pub async fn run_secret(cmd: SecretCommand) -> Result<()> {
    match cmd {
        SecretCommand::Set {
            object,
            value,
            file,
            content_type,
            tags: t,
        } => {
            let value = match (value, file) {
                (Some(v), _) => v,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, None) => bail!("give the value with --value or --file"),
            };
            let (vault, name, _) = object.resolve("secrets")?;
            let mut body = json!({ "value": value, "tags": tags(&t)? });
            if let Some(ct) = content_type {
                body["contentType"] = Value::from(ct);
            }
            vault
                .run(async |v: &VaultClient<'_>| {
                    print_json(
                        &v.call(Method::PUT, &format!("/secrets/{name}"), Some(&body))
                            .await?,
                    )
                })
                .await
        }
        SecretCommand::Show(o) => common("secrets", "deletedsecrets", "show", &o).await,
        SecretCommand::List(v) => {
            v.run(async |v: &VaultClient<'_>| print_json(&v.list_all("/secrets").await?))
                .await
        }
        SecretCommand::ListVersions(o) => {
            common("secrets", "deletedsecrets", "list-versions", &o).await
        }
        SecretCommand::ListDeleted(v) => {
            v.run(async |v: &VaultClient<'_>| print_json(&v.list_all("/deletedsecrets").await?))
                .await
        }
        SecretCommand::Delete(o) => common("secrets", "deletedsecrets", "delete", &o).await,
        SecretCommand::Recover(o) => common("secrets", "deletedsecrets", "recover", &o).await,
        SecretCommand::Purge(o) => common("secrets", "deletedsecrets", "purge", &o).await,
        SecretCommand::Backup { object, file } => backup("secrets", &object, &file).await,
        SecretCommand::Restore { vault, file } => restore("secrets", &vault, &file).await,
    }
}

pub async fn run_key(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Create {
            object,
            kty,
            size,
            curve,
            ops,
        } => {
            let (vault, name, _) = object.resolve("keys")?;
            let mut body = json!({ "kty": kty });
            if let Some(s) = size {
                body["key_size"] = Value::from(s);
            }
            if let Some(c) = curve {
                body["crv"] = Value::from(c);
            }
            if !ops.is_empty() {
                body["key_ops"] = Value::from(ops);
            }
            vault
                .run(async |v: &VaultClient<'_>| {
                    print_json(
                        &v.call(Method::POST, &format!("/keys/{name}/create"), Some(&body))
                            .await?,
                    )
                })
                .await
        }
        KeyCommand::Import { object, jwk_file } => {
            let (vault, name, _) = object.resolve("keys")?;
            let jwk: Value = serde_json::from_slice(
                &std::fs::read(&jwk_file)
                    .with_context(|| format!("reading {}", jwk_file.display()))?,
            )
            .with_context(|| format!("{} is not JSON", jwk_file.display()))?;
            let body = json!({ "key": jwk });
            vault
                .run(async |v: &VaultClient<'_>| {
                    print_json(
                        &v.call(Method::PUT, &format!("/keys/{name}"), Some(&body))
                            .await?,
                    )
                })
                .await
        }
        KeyCommand::Show(o) => common("keys", "deletedkeys", "show", &o).await,
        KeyCommand::List(v) => {
            v.run(async |v: &VaultClient<'_>| print_json(&v.list_all("/keys").await?))
                .await
        }
        KeyCommand::ListVersions(o) => common("keys", "deletedkeys", "list-versions", &o).await,
        KeyCommand::ListDeleted(v) => {
            v.run(async |v: &VaultClient<'_>| print_json(&v.list_all("/deletedkeys").await?))
                .await
        }
        KeyCommand::Rotate(o) => common("keys", "deletedkeys", "rotate", &o).await,
        KeyCommand::Delete(o) => common("keys", "deletedkeys", "delete", &o).await,
        KeyCommand::Recover(o) => common("keys", "deletedkeys", "recover", &o).await,
        KeyCommand::Purge(o) => common("keys", "deletedkeys", "purge", &o).await,
        KeyCommand::Backup { object, file } => backup("keys", &object, &file).await,
        KeyCommand::Restore { vault, file } => restore("keys", &vault, &file).await,
    }
}
