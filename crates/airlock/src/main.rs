//! The `airlock` command: runs the core (`airlock up`) and manages certificates.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod cert;
mod up;

/// Airlock: a self-hosted IoT core for networks that never touch the public internet.
#[derive(Parser)]
#[command(name = "airlock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the core on this machine (creates the data directory on first start).
    Up {
        /// Data directory.
        #[arg(long, env = "AIRLOCK_DATA", default_value = "./airlock-data")]
        data: PathBuf,
        /// TOML configuration file (every setting: docs/configuration.md).
        #[arg(long, env = "AIRLOCK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Device certificates.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Issue a device certificate and key signed by Airlock's CA.
    Create {
        /// Thing (device) name; becomes the certificate's common name.
        #[arg(long)]
        thing: String,
        /// Directory to write NAME.cert.pem, NAME.private.key and root-ca.pem into.
        #[arg(long)]
        out: PathBuf,
        /// Data directory of the Airlock whose CA signs.
        #[arg(long, env = "AIRLOCK_DATA", default_value = "./airlock-data")]
        data: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Configuration file (for `[pki] ca_key` when the CA key lives outside the data directory).
        #[arg(long, env = "AIRLOCK_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Up { data, config } => up::run(&data, config.as_deref()),
        Command::Cert {
            command:
                CertCommand::Create {
                    thing,
                    out,
                    data,
                    days,
                    json,
                    config,
                },
        } => {
            let cfg = load_config(config.as_deref())?;
            cert::create(&data, cfg.pki.ca_key.as_deref(), &thing, &out, days, json)
        }
    }
}

/// Load the config file, or the defaults.
fn load_config(path: Option<&Path>) -> Result<airlock_server::Config> {
    match path {
        Some(p) => airlock_server::Config::load(p).context("loading the configuration"),
        None => Ok(airlock_server::Config::default()),
    }
}
