use super::files::create_private;
use super::objects::VaultArgs;
use super::{print_json, ClientArgs};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use keyhaven_azure_api::management::VaultCreate;
use keyhaven_azure_api::vault_backup::VaultJobStatus;
use keyhaven_client::{ConflictPolicy, RestoreTarget, VaultClient, VaultRestoreOptions};
use std::path::PathBuf;
use std::time::Duration;

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
    ///
    /// Example: keyhaven vault list -o table
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one vault.
    ///
    /// Example: keyhaven vault show payments
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Rotate a vault's data key: a fresh key seals what the vault stores from now on; older keys keep opening
    /// what they sealed (keys also rotate by themselves after `vault-key-rotate-after-seals` seals).
    ///
    /// Example: keyhaven vault rotate-key payments
    RotateKey {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a vault's active data key: its generation, creation time and seals counted so far.
    ///
    /// Example: keyhaven vault show-key payments
    ShowKey {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a vault and everything in it.
    ///
    /// Example: keyhaven vault delete scratch
    Delete {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Back up a whole vault (every object and version, at one instant) into a file.
    ///
    /// Example: keyhaven vault backup --vault-name payments --file payments.khvs
    Backup {
        #[command(flatten)]
        vault: VaultArgs,
        /// The backup file to create (it must not exist).
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Include soft-deleted objects (restored as deleted, keeping their purge dates).
        #[arg(long)]
        include_deleted: bool,
    },
    /// Restore a whole-vault backup into a vault: all or nothing.
    ///
    /// Example: keyhaven vault restore --vault-name payments-dr --file payments.khvs --conflict skip
    Restore {
        #[command(flatten)]
        vault: VaultArgs,
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// What to do with objects that already exist: fail (nothing is restored), skip, new-version.
        #[arg(long, default_value = "fail", value_parser = ["fail", "skip", "new-version"])]
        conflict: String,
        /// Check the whole backup and report what would happen, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Restore soft-deleted objects too.
        #[arg(long)]
        include_deleted: bool,
    },
    /// Copy every object of a vault into a directory using only the per-object Azure API (works against Azure Key
    /// Vault too): one raw backup file per object (readable by its owner only), a manifest with checksums;
    /// throttling is retried; an interrupted export resumes. Another service's vault (--vault-url) is reached with
    /// that service's own credential, which names its token authority (authorityHost in --credential-file, or
    /// AZURE_AUTHORITY_HOST); a token from the Keyhaven server is never sent to it.
    ///
    /// Example: AZURE_AUTHORITY_HOST=https://login.microsoftonline.com keyhaven vault export --vault-url https://myvault.vault.azure.net --dir ./myvault-export
    Export {
        #[command(flatten)]
        vault: VaultArgs,
        #[arg(long)]
        dir: PathBuf,
        /// Objects backed up at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Restore every object of an export directory into a vault (per-object results; exit 1 if any failed). Every
    /// file the manifest names must lie inside the directory and match its checksum, or nothing is imported.
    ///
    /// Example: keyhaven vault import --vault-name restored --dir ./myvault-export
    Import {
        #[command(flatten)]
        vault: VaultArgs,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Check a whole-vault backup file end to end (through the server, which holds the keys) and print its manifest.
    ///
    /// Example: keyhaven vault verify --file payments.khvs
    Verify {
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// The geography the backup was made in (default: the server's default location's).
        #[arg(long)]
        geography: Option<String>,
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
        VaultCommand::RotateKey { name, client } => {
            print_json(&client.connect()?.rotate_vault_data_key(&name).await?)
        }
        VaultCommand::ShowKey { name, client } => {
            print_json(&client.connect()?.vault_data_key(&name).await?)
        }
        VaultCommand::Delete { name, client } => {
            client.connect()?.delete_vault(&name).await?;
            eprintln!("Vault '{name}' deleted.");
            Ok(())
        }
        VaultCommand::Backup {
            vault,
            file,
            include_deleted,
        } => backup(&vault.connect().await?, &file, include_deleted).await,
        VaultCommand::Restore {
            vault,
            file,
            conflict,
            dry_run,
            include_deleted,
        } => {
            let options = VaultRestoreOptions {
                conflict: match conflict.as_str() {
                    "skip" => ConflictPolicy::Skip,
                    "new-version" => ConflictPolicy::NewVersion,
                    _ => ConflictPolicy::Fail,
                },
                dry_run,
                include_deleted,
            };
            restore(&vault.connect().await?, &file, &options).await
        }
        VaultCommand::Export {
            vault,
            dir,
            concurrency,
        } => super::portable::export(&vault, &dir, concurrency).await,
        VaultCommand::Import {
            vault,
            dir,
            concurrency,
        } => super::portable::import(&vault, &dir, concurrency).await,
        VaultCommand::Verify {
            file,
            geography,
            client,
        } => {
            let manifest = client
                .connect()?
                .verify_vault_backup(&file, geography.as_deref())
                .await?;
            eprintln!(
                "{}: every chunk, record and digest checks out.",
                file.display()
            );
            print_json(&manifest)
        }
    }
}

fn spinner(message: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}] {prefix}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Which kind of job `wait` polls.
#[derive(Clone, Copy)]
enum Job {
    Backup,
    Restore,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Backup => "backup",
            Job::Restore => "restore",
        }
    }
}

/// Polls a job until it ends, showing its counts; returns the final status (an error if it failed).
async fn wait(
    v: &VaultClient,
    job: Job,
    mut status: VaultJobStatus,
    pb: &ProgressBar,
) -> Result<VaultJobStatus> {
    if status.job_id.is_empty() {
        bail!("the server did not return a job id");
    }
    while status.in_progress() {
        pb.set_prefix(format!(
            "{} objects, {} versions, {} bytes",
            status.objects, status.versions, status.bytes
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = match job {
            Job::Backup => v.vault_backup_job(&status.job_id).await?,
            Job::Restore => v.vault_restore_job(&status.job_id).await?,
        };
    }
    if !status.succeeded() {
        pb.abandon();
        let (code, message) = status
            .error
            .as_ref()
            .map_or(("Error", "unknown error"), |e| {
                (e.code.as_str(), e.message.as_str())
            });
        bail!("{} failed: {code}: {message}", job.name());
    }
    Ok(status)
}

async fn backup(v: &VaultClient, file: &std::path::Path, include_deleted: bool) -> Result<()> {
    if file.exists() {
        bail!("{} exists; choose a new file name", file.display());
    }
    let pb = spinner("backing up");
    let status = wait(
        v,
        Job::Backup,
        v.start_vault_backup(include_deleted).await?,
        &pb,
    )
    .await?;
    let total = status.bytes;
    pb.finish_and_clear();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "downloading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let tmp = file.with_extension("partial");
    // A leftover of an interrupted download is replaced by a fresh file (created 0600).
    match tokio::fs::remove_file(&tmp).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", tmp.display()))
        }
        _ => {}
    }
    let mut out = tokio::fs::File::from_std(
        create_private(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    let got = v
        .download_vault_backup(&status.job_id, &mut out, &mut |n| bar.set_position(n))
        .await;
    let got = match got {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
    };
    out.sync_all().await?;
    drop(out);
    if got != total {
        let _ = tokio::fs::remove_file(&tmp).await;
        bail!("the download ended after {got} of {total} bytes");
    }
    tokio::fs::rename(&tmp, file).await?;
    bar.finish_and_clear();
    let m = status.manifest.as_ref();
    let count =
        |f: fn(&keyhaven_azure_api::vault_backup::VaultBackupManifest) -> u64| m.map_or(0, f);
    eprintln!(
        "Backed up vault '{}': {} secrets, {} keys, {} certificates ({} deleted), {} versions, {} certificate settings, {} bytes -> {}",
        m.map_or("", |m| m.vault.as_str()),
        count(|m| m.secrets),
        count(|m| m.keys),
        count(|m| m.certificates),
        count(|m| m.deleted_objects),
        count(|m| m.versions),
        count(|m| m.settings),
        got,
        file.display()
    );
    print_json(&status)
}

async fn restore(
    v: &VaultClient,
    file: &std::path::Path,
    options: &VaultRestoreOptions,
) -> Result<()> {
    let pb = spinner(if options.dry_run {
        "checking"
    } else {
        "restoring"
    });
    let started = v
        .start_vault_restore(file, options, RestoreTarget::Vault)
        .await?;
    let status = wait(v, Job::Restore, started, &pb).await?;
    pb.finish_and_clear();
    let r = status.report.as_ref();
    let count =
        |f: fn(&keyhaven_azure_api::vault_backup::VaultRestoreReport) -> u64| r.map_or(0, f);
    eprintln!(
        "{}: {} restored, {} skipped, {} conflicts, {} versions written, {} certificate settings (issuers, contacts).",
        if options.dry_run {
            "Dry run (nothing written)"
        } else {
            "Restore complete"
        },
        count(|r| r.restored),
        count(|r| r.skipped),
        count(|r| r.conflicts),
        if options.dry_run {
            0
        } else {
            count(|r| r.versions_written)
        },
        r.map_or(0, |r| r.settings.len())
    );
    print_json(&status)
}
