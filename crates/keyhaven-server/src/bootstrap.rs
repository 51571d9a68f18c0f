//! First start and every start: the data directory's files, the store, the domain, the admin credential.

use crate::config::{Config, StoreLocation};
pub(crate) use crate::private_files::{create_private_dir, write_private};
use crate::ServerError;
use keyhaven_core::{Keyhaven, NewVault, StoredRecords};
use keyhaven_crypto::TokenSigner;
use keyhaven_model::{Clock, VaultName};
use keyhaven_store::{Engine, Store, StoreError};
use keyhaven_store_embedded::EmbeddedEngine;
use keyhaven_store_postgres::{PostgresEngine, PostgresOptions};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// `admin-credential.json`: everything a client needs to connect as the administrator.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminCredential {
    /// The deployment's tenant, which tokens are requested in.
    pub tenant_id: String,
    /// The administrator's application (client) id.
    pub client_id: String,
    /// The principal's object id (role assignments name it); absent in credentials of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// The administrator's client secret, as issued at first start.
    pub client_secret: String,
    /// The server's own URL (`https://host[:port]`), which the Azure SDKs take as their authority host; kept
    /// current at every start.
    pub authority_host: String,
    /// The URL of the `default` vault, kept current at every start.
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
    /// The token signing key, with the token endpoint's protections.
    pub signer: crate::tokens::TokenSetup,
    pub fresh: bool,
}

fn load_or_create(
    path: &Path,
    create: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, ServerError>,
) -> Result<Zeroizing<Vec<u8>>, ServerError> {
    if path.exists() {
        crate::root_key::refuse_loose_permissions(path)?;
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
    let root_path = dir.join("root.key");
    let passphrase =
        crate::root_key::configured_passphrase(config.root_key_passphrase_file.as_deref())?;
    let root =
        crate::root_key::load_or_create(&root_path, passphrase.as_ref().map(|p| p.as_str()))?;
    let signer_pem = load_or_create(&dir.join("token-signing-key.pem"), || {
        Ok(TokenSigner::generate()?.to_pem()?)
    })?;
    let signer = crate::tokens::TokenSetup {
        signer: TokenSigner::from_pem(&signer_pem)?,
        limits: crate::token_limits::TokenLimits::new(&config.token_limits())?,
    };
    let earlier = root.records == StoredRecords::Earlier;
    let (kh, fresh) = Keyhaven::open(
        open_engine(config)?,
        root.key.clone(),
        clock,
        config.domain.clone(),
        root.records,
    )?;
    if earlier {
        crate::root_key::mark_store_authenticated(&root_path, &root.key)?;
        tracing::info!(
            "the store's records are authenticated; root.key was rewritten in the current format"
        );
    }
    let store = kh.store().clone();
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
