//! Command-line parsing and the verbs. Client verbs talk to a server only through its HTTP API.

mod audit;
mod certificates;
mod files;
mod geography;
mod objects;
mod output;
mod portable;
mod principal;
mod profile;
mod role;
mod root_key;
mod vault;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use keyhaven_client::{Client, Connection, Credential};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "keyhaven",
    version,
    about = "A self-hosted key vault that speaks the Azure Key Vault API"
)]
pub struct Cli {
    /// Output format of client verbs (default: table on a terminal, json otherwise).
    #[arg(long, short = 'o', global = true, value_enum)]
    output: Option<output::Format>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    ///
    /// Example: keyhaven serve --data-dir ./keyhaven-data --listen 127.0.0.1:8443
    Serve(keyhaven_server::ServeArgs),
    /// Manage vaults.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Manage geographies and their backup keys.
    #[command(subcommand)]
    Geography(geography::GeographyCommand),
    /// Secrets (as `az keyvault secret`).
    #[command(subcommand)]
    Secret(objects::SecretCommand),
    /// Keys (as `az keyvault key`).
    #[command(subcommand)]
    Key(objects::KeyCommand),
    /// Certificates (as `az keyvault certificate`).
    #[command(subcommand)]
    Certificate(certificates::CertificateCommand),
    /// Protect the root key with a passphrase, or take the protection off (local files).
    #[command(subcommand)]
    RootKey(root_key::RootKeyCommand),
    /// Check and read the audit log (local files).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Principals (service principals: applications' identities) and their client secrets.
    #[command(subcommand)]
    Principal(principal::PrincipalCommand),
    /// Role definitions and role assignments (as `az keyvault role`).
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Store a server and client credential as a profile (the secret is read from standard input).
    ///
    /// Example: echo "$SECRET" | keyhaven login --server https://kv.example.com:8443 --tenant T --client-id C --client-secret-stdin
    Login(profile::LoginArgs),
    /// Print shell completions.
    ///
    /// Example: keyhaven completions bash > /etc/bash_completion.d/keyhaven
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How a client verb reaches the server.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// Server URL (default: the profile's, else https://localhost:8443).
    #[arg(long, env = "KEYHAVEN_SERVER", global = true)]
    server: Option<String>,
    /// CA certificate to trust (default: the profile's, else ./keyhaven-data/tls/ca.pem when it exists).
    #[arg(long, env = "KEYHAVEN_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// Credential file (admin-credential.json format). Default: AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET,
    /// else the login profile, else ./keyhaven-data/admin-credential.json.
    #[arg(long, env = "KEYHAVEN_CREDENTIAL_FILE", global = true)]
    credential_file: Option<PathBuf>,
    /// Login profile (see `keyhaven login`).
    #[arg(
        long,
        env = "KEYHAVEN_PROFILE",
        default_value = "default",
        global = true
    )]
    profile: String,
}

impl ClientArgs {
    pub fn connect(&self) -> Result<Client> {
        let local = PathBuf::from("keyhaven-data");
        let stored = profile::load(&self.profile)?;
        let credential = match (&self.credential_file, Credential::from_env(), &stored) {
            (Some(f), _, _) => Credential::from_file(f)?,
            (None, Some(c), _) => c,
            (None, None, Some(p)) => Credential {
                tenant_id: p.tenant_id.clone(),
                client_id: p.client_id.clone(),
                client_secret: zeroize::Zeroizing::new(p.client_secret.clone()),
                authority_host: p.authority_host.clone(),
            },
            (None, None, None) if local.join("admin-credential.json").exists() => {
                Credential::from_file(&local.join("admin-credential.json"))?
            }
            (None, None, None) => anyhow::bail!(
                "no credential: pass --credential-file, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, \
                 or run keyhaven login"
            ),
        };
        let server = self
            .server
            .clone()
            .or_else(|| stored.as_ref().map(|p| p.server.clone()))
            .unwrap_or_else(|| "https://localhost:8443".to_string());
        let ca_file = self
            .ca_file
            .clone()
            .or_else(|| stored.as_ref().and_then(|p| p.ca_file.clone()))
            .or_else(|| Some(local.join("tls/ca.pem")).filter(|p| p.exists()));
        Ok(Client::new(Connection {
            server,
            ca_file,
            credential,
        })?)
    }
}

pub async fn run(cli: Cli) -> Result<()> {
    output::set(cli.output);
    match cli.command {
        Command::Serve(args) => {
            let config = keyhaven_server::Config::load(args)?;
            keyhaven_server::init_logging(&config.log);
            keyhaven_server::serve(config)
                .await
                .context("the server stopped with an error")
        }
        Command::Vault(cmd) => vault::run(cmd).await,
        Command::Audit(cmd) => audit::run(cmd),
        Command::RootKey(cmd) => root_key::run(cmd),
        Command::Geography(cmd) => geography::run(cmd).await,
        Command::Secret(cmd) => objects::run_secret(cmd).await,
        Command::Key(cmd) => objects::run_key(cmd).await,
        Command::Certificate(cmd) => certificates::run(cmd).await,
        Command::Principal(cmd) => principal::run(cmd).await,
        Command::Role(cmd) => role::run(cmd).await,
        Command::Login(args) => profile::login(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "keyhaven", &mut script);
            use std::io::Write;
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

/// Prints a value as indented JSON.
/// Prints a result in the chosen output format.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    output::print(v)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every verb's `--help` shows at least one example.
    #[test]
    fn every_verb_has_an_example() {
        fn leaves(cmd: &clap::Command, path: String, out: &mut Vec<String>) {
            let subs: Vec<_> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .collect();
            if subs.is_empty() {
                let text = cmd
                    .get_long_about()
                    .or(cmd.get_about())
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                if !text.contains("Example:") {
                    out.push(path);
                }
                return;
            }
            for s in subs {
                leaves(s, format!("{path} {}", s.get_name()), out);
            }
        }
        let mut missing = Vec::new();
        leaves(&Cli::command(), "keyhaven".into(), &mut missing);
        assert!(
            missing.is_empty(),
            "verbs without an example in --help: {missing:#?}"
        );
    }
}
