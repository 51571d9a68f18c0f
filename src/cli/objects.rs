//! `keyhaven secret …` and `keyhaven key …` (and what `certificate` shares with them): the `az keyvault` verbs, through the Azure data plane.

use super::files::{read_secret_file, read_stdin, utf8, write_new_private};
use super::{print_json, ClientArgs};
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use keyhaven_azure_api::keys::{KeyCreateParameters, KeyImportParameters};
use keyhaven_azure_api::secrets::SecretSetParameters;
use keyhaven_client::VaultClient;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

/// Which vault (as `az`: `--vault-name`, or a URL).
#[derive(Args, Clone, Debug)]
pub struct VaultArgs {
    /// Vault name: https://{name}.{dns-suffix}:{port}, reached through --server even where the name does not resolve.
    #[arg(long)]
    vault_name: Option<String>,
    /// Vault URL (overrides --vault-name): the server's own host or https://{vault}.{dns-suffix}; the server's
    /// token is sent nowhere else.
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

/// How a secret's value is written in a file (as `az keyvault secret set|download --encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileEncoding {
    /// The file is UTF-8 text; the value is that text.
    #[value(name = "utf-8")]
    Utf8,
    /// The file is binary; the value is its base64.
    Base64,
    /// The file is binary; the value is its hex.
    Hex,
}

impl FileEncoding {
    fn as_str(self) -> &'static str {
        match self {
            FileEncoding::Utf8 => "utf-8",
            FileEncoding::Base64 => "base64",
            FileEncoding::Hex => "hex",
        }
    }
}

/// The tag `az` records a file's encoding in, and reads back on download.
const FILE_ENCODING_TAG: &str = "file-encoding";

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Set a secret (a new version each time). Give the value with --value (literal, @FILE, or - for standard
    /// input, exactly as read) or --file (with --encoding for binary files), so it stays off the command line.
    ///
    /// Example: printf '%s' "$DB_PASSWORD" | keyhaven secret set --vault-name default --name db-password --value -
    Set {
        #[command(flatten)]
        object: ObjectArgs,
        /// The value: literal text, @FILE to read it from FILE, or - to read standard input.
        #[arg(long, conflicts_with = "file")]
        value: Option<String>,
        /// Read the value from a file.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
        /// How --file is encoded: utf-8 (text), base64 or hex (binary; stored encoded, tagged file-encoding).
        #[arg(
            long,
            short = 'e',
            value_enum,
            requires = "file",
            conflicts_with = "value"
        )]
        encoding: Option<FileEncoding>,
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
    /// Write a secret's value to a new file (readable by its owner only), decoded as it was set.
    ///
    /// Example: keyhaven secret download --vault-name default --name tls-bundle --file bundle.p12 --encoding base64
    Download {
        #[command(flatten)]
        object: ObjectArgs,
        /// The file to create (it must not exist).
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// How to decode the value (default: the secret's file-encoding tag, else utf-8).
        #[arg(long, short = 'e', value_enum)]
        encoding: Option<FileEncoding>,
    },
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
    /// The vault's client: by name, or by URL (one of this server's: its own host or `{vault}.{dns suffix}`).
    pub async fn connect(&self) -> Result<VaultClient> {
        let client = self.client.connect()?;
        Ok(match (&self.vault_url, &self.vault_name) {
            (Some(url), _) => client.vault_at(url).await?,
            (None, Some(name)) => client.vault(name).await?,
            (None, None) => bail!("name a vault with --vault-name or --vault-url"),
        })
    }

    /// As `connect`, except that --vault-url may name another service's vault (Azure Key Vault) when the
    /// credential is that service's own (it names its token authority): for copying whole vaults.
    pub async fn connect_allowing_external(&self) -> Result<VaultClient> {
        let client = self.client.connect()?;
        Ok(match (&self.vault_url, &self.vault_name) {
            (Some(url), _) => client.vault_at_or_external(url).await?,
            (None, Some(name)) => client.vault(name).await?,
            (None, None) => bail!("name a vault with --vault-name or --vault-url"),
        })
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

    /// The vault's client, the object's name and version.
    pub(super) async fn open(
        &self,
        collection: &str,
    ) -> Result<(VaultClient, String, Option<String>)> {
        let (vault, name, version) = self.resolve(collection)?;
        Ok((vault.connect().await?, name, version))
    }
}

/// Tags given as `key=value`.
pub(super) fn tags(list: &[String]) -> Result<Option<BTreeMap<String, String>>> {
    let mut m = BTreeMap::new();
    for t in list {
        let (k, v) = t
            .split_once('=')
            .with_context(|| format!("tag '{t}' is not key=value"))?;
        m.insert(k.to_string(), v.to_string());
    }
    Ok((!m.is_empty()).then_some(m))
}

pub(super) fn purged(kind: &str, name: &str) -> Result<()> {
    eprintln!("{kind} '{name}' purged.");
    Ok(())
}

/// Writes a backup blob to a new file (0600) and says so.
pub(super) fn save_backup(name: &str, blob: &[u8], file: &Path) -> Result<()> {
    write_new_private(file, blob)?;
    eprintln!(
        "Backed up '{name}' ({} bytes) to {}.",
        blob.len(),
        file.display()
    );
    Ok(())
}

/// A backup file's bytes (refused when empty).
pub(super) fn read_backup(file: &Path) -> Result<Vec<u8>> {
    let blob = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if blob.is_empty() {
        bail!("{} is empty", file.display());
    }
    Ok(blob)
}

/// The value `--value` gives: literal text, `@FILE`, or `-` for standard input (read exactly, no line ending
/// removed).
fn value_argument(value: &str) -> Result<Zeroizing<String>> {
    if value == "-" {
        return utf8(read_stdin()?, "standard input");
    }
    match value.strip_prefix('@') {
        Some(file) => utf8(read_secret_file(Path::new(file))?, file),
        None => Ok(Zeroizing::new(value.to_string())),
    }
}

/// The value `--file` gives, in its encoding.
fn value_from_file(file: &Path, encoding: FileEncoding) -> Result<Zeroizing<String>> {
    let data = read_secret_file(file)?;
    Ok(match encoding {
        FileEncoding::Utf8 => utf8(data, &file.display().to_string()).map_err(|e| {
            e.context(format!(
                "{} is not text: use --encoding base64 or hex",
                file.display()
            ))
        })?,
        FileEncoding::Base64 => Zeroizing::new(STANDARD.encode(&*data)),
        FileEncoding::Hex => {
            let mut s = Zeroizing::new(String::with_capacity(data.len() * 2));
            for b in data.iter() {
                s.push(char::from(HEX[usize::from(b >> 4)]));
                s.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            s
        }
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A downloaded value's bytes, decoded as `encoding` says.
fn decode_value(value: &str, encoding: FileEncoding) -> Result<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(match encoding {
        FileEncoding::Utf8 => value.as_bytes().to_vec(),
        FileEncoding::Base64 => {
            let compact: Zeroizing<String> =
                Zeroizing::new(value.chars().filter(|c| !c.is_whitespace()).collect());
            STANDARD
                .decode(compact.as_bytes())
                .context("the value is not base64 (try --encoding utf-8)")?
        }
        FileEncoding::Hex => {
            let digits: Zeroizing<Vec<u8>> =
                Zeroizing::new(value.bytes().filter(|c| !c.is_ascii_whitespace()).collect());
            if !digits.len().is_multiple_of(2) {
                bail!("the value is not hex (try --encoding utf-8)");
            }
            let nibble = |c: u8| char::from(c).to_digit(16);
            let mut out = Vec::with_capacity(digits.len() / 2);
            for pair in digits.chunks(2) {
                match (nibble(pair[0]), nibble(pair[1])) {
                    (Some(h), Some(l)) => out.push(((h << 4) | l) as u8),
                    _ => {
                        out.zeroize();
                        bail!("the value is not hex (try --encoding utf-8)")
                    }
                }
            }
            out
        }
    }))
}

async fn set_secret(
    object: ObjectArgs,
    value: Option<String>,
    file: Option<PathBuf>,
    encoding: Option<FileEncoding>,
    content_type: Option<String>,
    tag_list: Vec<String>,
) -> Result<()> {
    let value = match (value, &file) {
        (Some(v), _) => value_argument(&v)?,
        (None, Some(f)) => value_from_file(f, encoding.unwrap_or(FileEncoding::Utf8))?,
        (None, None) => bail!("give the value with --value or --file"),
    };
    let mut tags = tags(&tag_list)?;
    if let Some(e) = encoding {
        tags.get_or_insert_with(BTreeMap::new)
            .entry(FILE_ENCODING_TAG.to_string())
            .or_insert_with(|| e.as_str().to_string());
    }
    let (v, name, _) = object.open("secrets").await?;
    let mut params = SecretSetParameters {
        value: value.to_string(),
        tags,
        content_type,
        attributes: None,
    };
    let set = v.set_secret(&name, &params).await;
    params.value.zeroize();
    print_json(&set?)
}

async fn download_secret(
    object: ObjectArgs,
    file: PathBuf,
    encoding: Option<FileEncoding>,
) -> Result<()> {
    let (v, name, version) = object.open("secrets").await?;
    let mut secret = v.get_secret(&name, version.as_deref()).await?;
    let value = Zeroizing::new(secret.value.take().unwrap_or_default());
    let encoding = match encoding {
        Some(e) => e,
        None => match secret.tags.get(FILE_ENCODING_TAG).map(String::as_str) {
            Some("base64") => FileEncoding::Base64,
            Some("hex") => FileEncoding::Hex,
            _ => FileEncoding::Utf8,
        },
    };
    let data = decode_value(&value, encoding)?;
    write_new_private(&file, &data)?;
    eprintln!(
        "Downloaded secret '{name}' ({} bytes, {}) to {}.",
        data.len(),
        encoding.as_str(),
        file.display()
    );
    Ok(())
}

pub async fn run_secret(cmd: SecretCommand) -> Result<()> {
    const S: &str = "secrets";
    match cmd {
        SecretCommand::Set {
            object,
            value,
            file,
            encoding,
            content_type,
            tags,
        } => set_secret(object, value, file, encoding, content_type, tags).await,
        SecretCommand::Show(o) => {
            let (v, name, version) = o.open(S).await?;
            let mut secret = v.get_secret(&name, version.as_deref()).await?;
            let printed = print_json(&secret);
            if let Some(value) = secret.value.as_mut() {
                value.zeroize();
            }
            printed
        }
        SecretCommand::Download {
            object,
            file,
            encoding,
        } => download_secret(object, file, encoding).await,
        SecretCommand::List(v) => {
            print_json(&v.connect().await?.list_secrets().collect_all().await?)
        }
        SecretCommand::ListVersions(o) => {
            let (v, name, _) = o.open(S).await?;
            print_json(&v.list_secret_versions(&name)?.collect_all().await?)
        }
        SecretCommand::ListDeleted(v) => print_json(
            &v.connect()
                .await?
                .list_deleted_secrets()
                .collect_all()
                .await?,
        ),
        SecretCommand::Delete(o) => {
            let (v, name, _) = o.open(S).await?;
            print_json(&v.delete_secret(&name).await?)
        }
        SecretCommand::Recover(o) => {
            let (v, name, _) = o.open(S).await?;
            print_json(&v.recover_deleted_secret(&name).await?)
        }
        SecretCommand::Purge(o) => {
            let (v, name, _) = o.open(S).await?;
            v.purge_deleted_secret(&name).await?;
            purged("secret", &name)
        }
        SecretCommand::Backup { object, file } => {
            let (v, name, _) = object.open(S).await?;
            save_backup(&name, &v.backup_secret(&name).await?, &file)
        }
        SecretCommand::Restore { vault, file } => {
            let blob = read_backup(&file)?;
            print_json(&vault.connect().await?.restore_secret(&blob).await?)
        }
    }
}

pub async fn run_key(cmd: KeyCommand) -> Result<()> {
    const K: &str = "keys";
    match cmd {
        KeyCommand::Create {
            object,
            kty,
            size,
            curve,
            ops,
        } => {
            let params = KeyCreateParameters {
                kty,
                key_size: size,
                crv: curve,
                key_ops: (!ops.is_empty()).then_some(ops),
                ..Default::default()
            };
            let (v, name, _) = object.open(K).await?;
            print_json(&v.create_key(&name, &params).await?)
        }
        KeyCommand::Import { object, jwk_file } => {
            let data = read_secret_file(&jwk_file)?;
            let jwk = serde_json::from_slice(&data)
                .with_context(|| format!("{} is not JSON", jwk_file.display()))?;
            let params = KeyImportParameters {
                hsm: None,
                key: jwk,
                attributes: None,
                tags: None,
                release_policy: None,
            };
            let (v, name, _) = object.open(K).await?;
            print_json(&v.import_key(&name, &params).await?)
        }
        KeyCommand::Show(o) => {
            let (v, name, version) = o.open(K).await?;
            print_json(&v.get_key(&name, version.as_deref()).await?)
        }
        KeyCommand::List(v) => print_json(&v.connect().await?.list_keys().collect_all().await?),
        KeyCommand::ListVersions(o) => {
            let (v, name, _) = o.open(K).await?;
            print_json(&v.list_key_versions(&name)?.collect_all().await?)
        }
        KeyCommand::ListDeleted(v) => {
            print_json(&v.connect().await?.list_deleted_keys().collect_all().await?)
        }
        KeyCommand::Rotate(o) => {
            let (v, name, _) = o.open(K).await?;
            print_json(&v.rotate_key(&name).await?)
        }
        KeyCommand::Delete(o) => {
            let (v, name, _) = o.open(K).await?;
            print_json(&v.delete_key(&name).await?)
        }
        KeyCommand::Recover(o) => {
            let (v, name, _) = o.open(K).await?;
            print_json(&v.recover_deleted_key(&name).await?)
        }
        KeyCommand::Purge(o) => {
            let (v, name, _) = o.open(K).await?;
            v.purge_deleted_key(&name).await?;
            purged("key", &name)
        }
        KeyCommand::Backup { object, file } => {
            let (v, name, _) = object.open(K).await?;
            save_backup(&name, &v.backup_key(&name).await?, &file)
        }
        KeyCommand::Restore { vault, file } => {
            let blob = read_backup(&file)?;
            print_json(&vault.connect().await?.restore_key(&blob).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_encodings_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bin");
        let data: Vec<u8> = (0u8..=255).collect();
        std::fs::write(&f, &data).unwrap();
        for e in [FileEncoding::Base64, FileEncoding::Hex] {
            let v = value_from_file(&f, e).unwrap();
            assert_eq!(&*decode_value(&v, e).unwrap(), &data);
        }
        assert!(value_from_file(&f, FileEncoding::Utf8).is_err());
        assert_eq!(
            &*decode_value("aGVs\nbG8=\n", FileEncoding::Base64).unwrap(),
            b"hello",
            "base64 split over lines, as az writes it"
        );
        assert!(decode_value("abc", FileEncoding::Hex).is_err());
        assert!(decode_value("zz", FileEncoding::Hex).is_err());
    }
}
