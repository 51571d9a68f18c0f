//! `keyhaven root-key protect|unprotect`: wrapping the data directory's root key under a passphrase, or taking
//! the wrapping off (local files; run it with the server stopped or restart the server afterwards).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use keyhaven_server::root_key;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RootKeyCommand {
    /// Protect root.key with a passphrase (at least 12 characters; argon2id, 64 MiB). The server then needs the
    /// passphrase to start: --root-key-passphrase-file, KEYHAVEN_ROOT_KEY_PASSPHRASE or the systemd credential
    /// keyhaven-root-key-passphrase. Also changes the passphrase of a protected key (give the current one).
    ///
    /// Example: keyhaven root-key protect --data-dir keyhaven-data --passphrase-file /run/secrets/kh-pass
    Protect {
        #[command(flatten)]
        dir: DataDir,
        /// The new passphrase (a file, or - for standard input); default KEYHAVEN_ROOT_KEY_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// The current passphrase of an already protected key (a file, or -).
        #[arg(long, value_name = "FILE")]
        current_passphrase_file: Option<PathBuf>,
    },
    /// Remove the passphrase protection of root.key (it is then stored in the clear, readable by its owner only).
    ///
    /// Example: keyhaven root-key unprotect --data-dir keyhaven-data --passphrase-file /run/secrets/kh-pass
    Unprotect {
        #[command(flatten)]
        dir: DataDir,
        /// The current passphrase (a file, or - for standard input); default KEYHAVEN_ROOT_KEY_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

/// The server's data directory.
#[derive(Args)]
pub struct DataDir {
    /// The server's data directory (where root.key is).
    #[arg(
        long,
        env = "KEYHAVEN_DATA_DIR",
        value_name = "DIR",
        default_value = "keyhaven-data"
    )]
    data_dir: PathBuf,
}

fn passphrase(file: Option<PathBuf>) -> Result<zeroize::Zeroizing<String>> {
    root_key::configured_passphrase(file.as_deref())?.context(
        "give the passphrase with --passphrase-file FILE (- for standard input) or KEYHAVEN_ROOT_KEY_PASSPHRASE",
    )
}

pub fn run(cmd: RootKeyCommand) -> Result<()> {
    match cmd {
        RootKeyCommand::Protect {
            dir,
            passphrase_file,
            current_passphrase_file,
        } => {
            let path = dir.data_dir.join("root.key");
            let new = passphrase(passphrase_file)?;
            let current = current_passphrase_file
                .map(|f| root_key::read_passphrase_file(&f))
                .transpose()?;
            root_key::protect(&path, &new, current.as_ref().map(|c| c.as_str()))?;
            eprintln!(
                "{} is protected by the passphrase; the server needs it to start.",
                path.display()
            );
        }
        RootKeyCommand::Unprotect {
            dir,
            passphrase_file,
        } => {
            let path = dir.data_dir.join("root.key");
            root_key::unprotect(&path, &passphrase(passphrase_file)?)?;
            eprintln!("{} is no longer protected by a passphrase.", path.display());
        }
    }
    Ok(())
}
