use super::files::{read_first_line, replace_private};
use super::{print_json, ClientArgs};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use zeroize::Zeroizing;

use keyhaven_client::MIN_GEOGRAPHY_PASSPHRASE_CHARS as MIN_PASSPHRASE_CHARS;

#[derive(Subcommand)]
pub enum GeographyCommand {
    /// Export a geography's backup keys, sealed under a passphrase of at least 12 characters (for a second
    /// deployment, e.g. a DR site). The file is readable by its owner only.
    ///
    /// Example: keyhaven geography export --geography local --file local.geokey --passphrase-file pass.txt
    Export {
        #[arg(long, default_value = "local")]
        geography: String,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        pass: Passphrase,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Import an export: this deployment joins that subscription and geography.
    ///
    /// Example: keyhaven geography import --file local.geokey --passphrase-file pass.txt
    Import {
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        pass: Passphrase,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Start sealing new backups under a fresh key (old backups still restore).
    ///
    /// Example: keyhaven geography rotate --geography local
    Rotate {
        #[arg(long, default_value = "local")]
        geography: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Args)]
pub struct Passphrase {
    /// Read the passphrase from this file (first line). Default: KEYHAVEN_PASSPHRASE, else standard input.
    #[arg(long, visible_alias = "password-file")]
    passphrase_file: Option<PathBuf>,
}

impl Passphrase {
    fn read(&self) -> Result<Zeroizing<String>> {
        let p = match &self.passphrase_file {
            Some(f) => read_first_line(f)?,
            None => {
                let line = match std::env::var("KEYHAVEN_PASSPHRASE") {
                    Ok(p) => Zeroizing::new(p),
                    Err(_) => {
                        eprint!("Passphrase: ");
                        let mut s = Zeroizing::new(String::new());
                        std::io::stdin().lock().read_line(&mut s)?;
                        s
                    }
                };
                Zeroizing::new(line.lines().next().unwrap_or("").to_string())
            }
        };
        anyhow::ensure!(!p.is_empty(), "the passphrase is empty");
        Ok(p)
    }

    /// A passphrase to seal an export under: long enough to guard it.
    fn read_new(&self) -> Result<Zeroizing<String>> {
        let p = self.read()?;
        anyhow::ensure!(
            p.chars().count() >= MIN_PASSPHRASE_CHARS,
            "the passphrase is too short: an export is sealed under a passphrase of at least \
             {MIN_PASSPHRASE_CHARS} characters (it guards every backup of the geography)"
        );
        Ok(p)
    }
}

pub async fn run(cmd: GeographyCommand) -> Result<()> {
    match cmd {
        GeographyCommand::Export {
            geography,
            file,
            pass,
            client,
        } => {
            let passphrase = pass.read_new()?;
            let data = client
                .connect()?
                .export_geography(&geography, &passphrase)
                .await?;
            replace_private(&file, &data)?;
            eprintln!(
                "Geography '{geography}' keys exported to {}.",
                file.display()
            );
            Ok(())
        }
        GeographyCommand::Import { file, pass, client } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            print_json(
                &client
                    .connect()?
                    .import_geography(&data, &pass.read()?)
                    .await?,
            )
        }
        GeographyCommand::Rotate { geography, client } => {
            print_json(&client.connect()?.rotate_geography(&geography).await?)
        }
    }
}
