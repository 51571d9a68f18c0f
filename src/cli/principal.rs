//! `keyhaven principal …`: service principals (an application's identity: a client id to get tokens with, an
//! object id that role assignments name) and their client secrets, through the management API. A client secret is
//! printed once, when it is made, and never read from the command line.

use super::files::write_new_private;
use super::output::{self, Format};
use super::{print_json, ClientArgs};
use anyhow::Result;
use clap::Subcommand;
use keyhaven_azure_api::principals::{Principal, PrincipalCreate, SecretAdd};
use serde::Serialize;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

#[derive(Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal with its first client secret. The secret is printed this once: with -o json the output
    /// is a credential file (tenantId, clientId, clientSecret, authorityHost) for --credential-file and the Azure
    /// SDKs. The principal may do nothing until a role is assigned to it (keyhaven role assignment create).
    ///
    /// Example: keyhaven principal create --display-name payments-api --secret-expires-days 365 --save-credential payments-api.json
    Create {
        /// The principal's display name (1-120 characters).
        #[arg(long)]
        display_name: String,
        /// Days until the client secret expires (default: never).
        #[arg(long)]
        secret_expires_days: Option<u32>,
        /// Write the credential to this new file (readable by its owner only) instead of printing the secret.
        #[arg(long)]
        save_credential: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List principals (with their secrets' ids and expiry, never the secrets).
    ///
    /// Example: keyhaven principal list -o table
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one principal.
    ///
    /// Example: keyhaven principal show --id 3f2c9a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f
    Show {
        /// Client id or object id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a principal and its role assignments; its tokens stop working at once.
    ///
    /// Example: keyhaven principal delete --id 3f2c9a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f
    Delete {
        /// Client id or object id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A principal's client secrets.
    #[command(subcommand)]
    Secret(PrincipalSecretCommand),
}

#[derive(Subcommand)]
pub enum PrincipalSecretCommand {
    /// Add a client secret (to rotate: add one, move the application to it, remove the old one). The secret is
    /// printed this once; with -o json the output is a credential file.
    ///
    /// Example: keyhaven principal secret add --id 3f2c9a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f --expires-days 90 -o json
    Add {
        /// Client id or object id.
        #[arg(long)]
        id: String,
        /// Days until the secret expires (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
        /// Write the credential to this new file (readable by its owner only) instead of printing the secret.
        #[arg(long)]
        save_credential: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove a client secret: tokens obtained with it stop working at once.
    ///
    /// Example: keyhaven principal secret remove --id 3f2c9a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f --secret-id 9a8b7c6d
    Remove {
        /// Client id or object id.
        #[arg(long)]
        id: String,
        /// The secret's id (`principal show` lists them).
        #[arg(long)]
        secret_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// A new client secret with what an application needs to use it: printed as a credential file
/// (`admin-credential.json`'s fields), or saved as one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewCredential {
    tenant_id: String,
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authority_host: Option<String>,
    object_id: String,
    display_name: String,
    secret_id: String,
    /// When the secret expires (Unix seconds); never when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_expires: Option<i64>,
    /// Where the credential was saved (the secret is not printed then).
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_file: Option<String>,
}

impl Drop for NewCredential {
    fn drop(&mut self) {
        if let Some(s) = &mut self.client_secret {
            s.zeroize();
        }
    }
}

impl NewCredential {
    /// Saves the credential to `file` (a new file, 0600) when asked, leaving the secret out of what is printed;
    /// then prints it.
    fn emit(mut self, save: Option<&Path>, what: &str) -> Result<()> {
        if let Some(file) = save {
            let json = Zeroizing::new(serde_json::to_vec_pretty(&self)?);
            write_new_private(file, &json)?;
            if let Some(mut s) = self.client_secret.take() {
                s.zeroize();
            }
            self.credential_file = Some(file.display().to_string());
            eprintln!(
                "{what}; its credential (with the client secret) is in {} (readable by you only).",
                file.display()
            );
            return print_json(&self);
        }
        match output::format() {
            Format::Table => {
                eprintln!("{what}.");
                let expires = self
                    .secret_expires
                    .map_or_else(|| "never".to_string(), |e| e.to_string());
                let rows = [
                    ("displayName", self.display_name.as_str()),
                    ("clientId", self.client_id.as_str()),
                    ("objectId", self.object_id.as_str()),
                    ("tenantId", self.tenant_id.as_str()),
                    (
                        "authorityHost",
                        self.authority_host.as_deref().unwrap_or("(the server)"),
                    ),
                    ("secretId", self.secret_id.as_str()),
                    ("secretExpires", expires.as_str()),
                ];
                for (k, v) in rows {
                    println!("{k:<15}{v}");
                }
                if let Some(s) = &self.client_secret {
                    println!(
                        "{:<15}{}    <- the client secret: shown only this once, store it now",
                        "clientSecret",
                        s.as_str()
                    );
                }
                Ok(())
            }
            Format::Json | Format::Tsv => print_json(&self),
        }
    }
}

pub async fn run(cmd: PrincipalCommand) -> Result<()> {
    match cmd {
        PrincipalCommand::Create {
            display_name,
            secret_expires_days,
            save_credential,
            client,
        } => {
            let p = client
                .connect()?
                .create_principal(&PrincipalCreate {
                    display_name,
                    secret_expires_days,
                })
                .await?;
            let what = format!(
                "Principal '{}' created: clientId {}, objectId {}",
                p.display_name, p.client_id, p.object_id
            );
            NewCredential {
                tenant_id: p.tenant_id.clone(),
                client_id: p.client_id.clone(),
                client_secret: Some(p.client_secret.clone()),
                authority_host: Some(p.authority_host.clone()),
                object_id: p.object_id.clone(),
                display_name: p.display_name.clone(),
                secret_id: p.secret_id.clone(),
                secret_expires: p.secret_expires,
                credential_file: None,
            }
            .emit(save_credential.as_deref(), &what)
        }
        PrincipalCommand::List { client } => {
            print_json(&client.connect()?.list_principals().await?)
        }
        PrincipalCommand::Show { id, client } => show(&client.connect()?.get_principal(&id).await?),
        PrincipalCommand::Delete { id, client } => {
            let p = client.connect()?.delete_principal(&id).await?;
            eprintln!(
                "Principal '{}' ({}) deleted with its role assignments; its tokens no longer work.",
                p.display_name, p.client_id
            );
            print_json(&p)
        }
        PrincipalCommand::Secret(PrincipalSecretCommand::Add {
            id,
            expires_days,
            save_credential,
            client,
        }) => {
            let client = client.connect()?;
            let p = client.get_principal(&id).await?;
            let s = client
                .add_principal_secret(&p.object_id, &SecretAdd { expires_days })
                .await?;
            let tenant_id = client.deployment().await?.tenant_id;
            let what = format!(
                "Client secret {} added to principal '{}' ({})",
                s.secret_id, p.display_name, p.client_id
            );
            NewCredential {
                tenant_id,
                client_id: p.client_id.clone(),
                client_secret: Some(s.client_secret.clone()),
                authority_host: None,
                object_id: p.object_id.clone(),
                display_name: p.display_name.clone(),
                secret_id: s.secret_id.clone(),
                secret_expires: s.expires,
                credential_file: None,
            }
            .emit(save_credential.as_deref(), &what)
        }
        PrincipalCommand::Secret(PrincipalSecretCommand::Remove {
            id,
            secret_id,
            client,
        }) => {
            let p = client
                .connect()?
                .remove_principal_secret(&id, &secret_id)
                .await?;
            eprintln!(
                "Client secret {secret_id} removed from principal '{}'; tokens obtained with it no longer work.",
                p.display_name
            );
            show(&p)
        }
    }
}

/// A principal: as JSON, the whole of it; as a table, the principal and then its secrets.
fn show(p: &Principal) -> Result<()> {
    if output::format() == Format::Json {
        return print_json(p);
    }
    print_json(p)?;
    if !p.secrets.is_empty() {
        println!();
        output::print_columns(&p.secrets, &["secretId", "created", "expires"])?;
    }
    Ok(())
}
