//! Login profiles: `keyhaven login` stores a server, CA file and client credential (0600) under the user's
//! configuration directory; client verbs use them when no credential is given otherwise.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_host: Option<String>,
}

impl Drop for Profile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.client_secret);
    }
}

/// `$XDG_CONFIG_HOME/keyhaven/profiles.json` (default `~/.config/keyhaven/profiles.json`).
pub fn path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config"),
    };
    Ok(base.join("keyhaven").join("profiles.json"))
}

fn load_all() -> Result<BTreeMap<String, Profile>> {
    let p = path()?;
    match std::fs::read(&p) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a profiles file", p.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// The named profile, if stored.
pub fn load(name: &str) -> Result<Option<Profile>> {
    Ok(load_all()?.remove(name))
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Server URL.
    #[arg(long)]
    server: String,
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    client_id: String,
    /// Read the client secret from standard input (first line).
    #[arg(long, required = true)]
    client_secret_stdin: bool,
    /// CA certificate to trust for this server.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Token authority, when it is not the server itself.
    #[arg(long)]
    authority_host: Option<String>,
    /// Profile name.
    #[arg(long, default_value = "default")]
    profile: String,
}

/// `keyhaven login`: checks the credential against the server, then stores it.
pub async fn login(a: LoginArgs) -> Result<()> {
    let mut secret = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut secret)?;
    let secret = Zeroizing::new(secret.trim().to_string());
    if secret.is_empty() {
        bail!("no client secret on standard input");
    }
    let ca_file = match a.ca_file {
        Some(f) => {
            Some(std::fs::canonicalize(&f).with_context(|| format!("CA file {}", f.display()))?)
        }
        None => None,
    };
    let credential = keyhaven_client::Credential {
        tenant_id: a.tenant.clone(),
        client_id: a.client_id.clone(),
        client_secret: secret.clone(),
        authority_host: a.authority_host.clone(),
    };
    let client = keyhaven_client::Client::new(keyhaven_client::Connection {
        server: a.server.clone(),
        ca_file: ca_file.clone(),
        credential,
    })?;
    let d = client
        .deployment()
        .await
        .context("the server refused the credential")?;
    let mut all = load_all()?;
    all.insert(
        a.profile.clone(),
        Profile {
            server: a.server,
            ca_file,
            tenant_id: a.tenant,
            client_id: a.client_id,
            client_secret: secret.to_string(),
            authority_host: a.authority_host,
        },
    );
    let p = path()?;
    if let Some(dir) = p.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = Zeroizing::new(serde_json::to_vec_pretty(&all)?);
    super::files::replace_private(&p, &json)?;
    eprintln!(
        "Logged in to subscription {} as profile '{}' ({}).",
        d.subscription_id,
        a.profile,
        p.display()
    );
    Ok(())
}
