//! First start and every start: the data directory's files, the store, the domain, the admin credential.

use crate::config::{Config, StoreLocation};
use crate::ServerError;
use keyhaven_core::{Keyhaven, NewVault};
use keyhaven_crypto::{SealingKey, TokenSigner};
use keyhaven_model::{Clock, VaultName};
use keyhaven_store::{Engine, Store, StoreError};
use keyhaven_store_embedded::EmbeddedEngine;
use keyhaven_store_postgres::{PostgresEngine, PostgresOptions};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// `admin-credential.json`: everything a client needs to connect as the administrator.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminCredential {
    pub tenant_id: String,
    pub client_id: String,
    /// The principal's object id (role assignments name it); absent in credentials of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    pub client_secret: String,
    pub authority_host: String,
    pub vault_url: String,
}

impl std::fmt::Debug for AdminCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AdminCredential(client {}, secret redacted)",
            self.client_id
        )
    }
}

impl Drop for AdminCredential {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.client_secret);
    }
}

pub(crate) struct Prepared {
    pub kh: Arc<Keyhaven>,
    pub store: Arc<Store>,
    pub signer: TokenSigner,
    pub fresh: bool,
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(ServerError::io(format!("creating {}", dir.display())))
}

/// Writes a file readable only by its owner, atomically (temp file, fsync, rename).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    write_atomic(path, bytes, 0o600)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ServerError> {
    let tmp = path.with_extension("tmp");
    let err = || ServerError::io(format!("writing {}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err())?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err())?;
    f.write_all(bytes).map_err(err())?;
    f.sync_all().map_err(err())?;
    std::fs::rename(&tmp, path).map_err(err())?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn load_or_create(
    path: &Path,
    create: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, ServerError>,
) -> Result<Zeroizing<Vec<u8>>, ServerError> {
    if path.exists() {
        return Ok(Zeroizing::new(std::fs::read(path).map_err(
            ServerError::io(format!("reading {}", path.display())),
        )?));
    }
    let bytes = create()?;
    write_private(path, &bytes)?;
    Ok(bytes)
}

/// The configured storage engine.
fn open_engine(config: &Config) -> Result<Arc<dyn Engine>, ServerError> {
    Ok(match &config.store {
        StoreLocation::Embedded => Arc::new(EmbeddedEngine::open(
            &config.data_dir.join("keyhaven.redb"),
        )?),
        StoreLocation::Postgres(url) => Arc::new(
            PostgresEngine::open_with((**url).clone(), PostgresOptions::default())
                .map_err(|e| ServerError::Store(StoreError::from(e)))?,
        ),
    })
}

/// Opens (or initialises) everything under the data directory.
pub(crate) fn prepare(config: &Config, clock: Arc<dyn Clock>) -> Result<Prepared, ServerError> {
    let dir = &config.data_dir;
    create_private_dir(dir)?;
    let root_bytes = load_or_create(&dir.join("root.key"), || {
        Ok(Zeroizing::new(SealingKey::generate()?.expose().to_vec()))
    })?;
    let root = SealingKey::from_bytes(&root_bytes).map_err(|_| {
        ServerError::Config(format!(
            "{} is not a 32-byte root key",
            dir.join("root.key").display()
        ))
    })?;
    let signer_pem = load_or_create(&dir.join("token-signing-key.pem"), || {
        Ok(TokenSigner::generate()?.to_pem()?)
    })?;
    let signer = TokenSigner::from_pem(&signer_pem)?;
    let store = Arc::new(Store::new(open_engine(config)?)?);
    let (kh, fresh) = Keyhaven::open(store.clone(), root, clock, config.domain.clone())?;
    if fresh {
        kh.ensure_vault(NewVault {
            name: VaultName::parse("default").map_err(|e| ServerError::Config(e.0))?,
            location: None,
            retention_days: None,
            purge_protection: false,
        })?;
    }
    Ok(Prepared {
        kh: Arc::new(kh),
        store,
        signer,
        fresh,
    })
}

/// Creates the admin client on first start, and keeps the URLs in `admin-credential.json` current.
pub(crate) fn admin_credential(
    config: &Config,
    kh: &Keyhaven,
    fresh: bool,
    authority: &str,
    vault_url: &str,
) -> Result<Option<AdminCredential>, ServerError> {
    let path = config.data_dir.join("admin-credential.json");
    let tenant_id = kh.deployment()?.tenant_id;
    let existing: Option<AdminCredential> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let cred = match existing {
        Some(mut c) => {
            c.tenant_id = tenant_id;
            c.authority_host = authority.to_string();
            c.vault_url = vault_url.to_string();
            c
        }
        None if fresh => {
            let new = kh.bootstrap_principal("admin")?;
            AdminCredential {
                tenant_id,
                client_id: new.client_id.clone(),
                object_id: Some(new.object_id.clone()),
                client_secret: new.secret.client_secret.to_string(),
                authority_host: authority.to_string(),
                vault_url: vault_url.to_string(),
            }
        }
        None => return Ok(None),
    };
    let json = Zeroizing::new(
        serde_json::to_vec_pretty(&cred).map_err(|e| ServerError::Config(e.to_string()))?,
    );
    write_private(&path, &json)?;
    Ok(Some(cred))
}
