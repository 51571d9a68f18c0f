use super::{print_json, ClientArgs};
use anyhow::Result;
use clap::Subcommand;
use keyhaven_azure_api::management::VaultCreate;

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Create a vault.
    ///
    /// Example: keyhaven vault create payments --location local --retention-days 30 --purge-protection
    Create {
        name: String,
        #[arg(long)]
        location: Option<String>,
        /// Soft-delete retention, 7-90 days.
        #[arg(long)]
        retention_days: Option<u32>,
        #[arg(long)]
        purge_protection: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List vaults.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one vault.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a vault and everything in it.
    Delete {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(cmd: VaultCommand) -> Result<()> {
    match cmd {
        VaultCommand::Create {
            name,
            location,
            retention_days,
            purge_protection,
            client,
        } => {
            let v = client
                .connect()?
                .create_vault(
                    &name,
                    &VaultCreate {
                        location,
                        retention_days,
                        purge_protection,
                    },
                )
                .await?;
            print_json(&v)
        }
        VaultCommand::List { client } => print_json(&client.connect()?.list_vaults().await?),
        VaultCommand::Show { name, client } => {
            print_json(&client.connect()?.get_vault(&name).await?)
        }
        VaultCommand::Delete { name, client } => {
            client.connect()?.delete_vault(&name).await?;
            eprintln!("Vault '{name}' deleted.");
            Ok(())
        }
    }
}
