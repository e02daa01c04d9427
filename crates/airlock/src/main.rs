//! The `airlock` command: runs the core (`airlock up`) and manages it through the admin API
//! (things, groups, certificates, CAs, policies, roles, role aliases, device onboarding).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

mod admin;
mod artifact;
mod ca;
mod cert;
mod device;
mod doctor;
mod domain;
mod endpoint;
mod group;
mod out;
mod policy;
mod role;
mod role_alias;
mod thing;
mod up;

#[cfg(test)]
mod tests;

/// Airlock: a self-hosted IoT core for networks that never touch the public internet.
///
/// Every command but `up` talks to a running Airlock through its admin API (mutual TLS with
/// the admin certificate in DATA/pki; address from DATA/endpoints.json).
#[derive(Parser, Debug)]
#[command(name = "airlock", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every admin command takes (before or after the subcommand).
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Data directory of the Airlock to manage (its endpoints.json and pki/admin.* are used).
    #[arg(
        long,
        env = "AIRLOCK_DATA",
        default_value = "./airlock-data",
        global = true
    )]
    pub data: PathBuf,
    /// Print the raw JSON answer(s) of the admin API, one per line, instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
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
    /// Things (devices) in the registry.
    Thing(thing::ThingArgs),
    /// Thing groups.
    Group(group::GroupArgs),
    /// Device certificates.
    Cert(cert::CertArgs),
    /// Your own CA certificates (devices with certificates signed by them can connect).
    Ca(ca::CaArgs),
    /// Policies: documents, versions, attachments, and testing a request against them.
    Policy(policy::PolicyArgs),
    /// IAM-style roles and their permissions policies (what credentials may do).
    Role(role::RoleArgs),
    /// Role aliases (for the credentials provider).
    RoleAlias(role_alias::RoleAliasArgs),
    /// Onboard a device in one step: thing, starter policy, certificate, files to copy.
    Device(device::DeviceArgs),
    /// Where devices connect (describe-endpoint) and every listener.
    Endpoint(endpoint::EndpointArgs),
    /// Check a set-up from this machine: names resolve to private addresses of a live
    /// endpoint with the right certificate, and (with --package) a device's pubsub check.
    /// Exit code 0 when every check passes, 1 otherwise.
    Doctor(doctor::DoctorArgs),
    /// Domain configurations: server certificates chosen by the client's SNI.
    Domain(domain::DomainArgs),
    /// Upload component artifacts to the artifact store (S3 API, SigV4 with a role).
    Artifact(artifact::ArtifactArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `policy test` uses exit code 1 for "denied", so its failures use 2.
    let failure = if matches!(cli.command, Command::Policy(ref p) if p.is_test()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    };
    let result = match cli.command {
        Command::Up { data, config } => {
            up::run(&data, config.as_deref()).map(|()| ExitCode::SUCCESS)
        }
        Command::Thing(a) => thing::run(a).map(|()| ExitCode::SUCCESS),
        Command::Endpoint(a) => endpoint::run(a).map(|()| ExitCode::SUCCESS),
        Command::Artifact(a) => artifact::run(a).map(|()| ExitCode::SUCCESS),
        Command::Doctor(a) => doctor::run(a).map(|healthy| {
            if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Command::Group(a) => group::run(a).map(|()| ExitCode::SUCCESS),
        Command::Cert(a) => cert::run(a).map(|()| ExitCode::SUCCESS),
        Command::Ca(a) => ca::run(a).map(|()| ExitCode::SUCCESS),
        Command::Policy(a) => policy::run(a),
        Command::Role(a) => role::run(a).map(|()| ExitCode::SUCCESS),
        Command::RoleAlias(a) => role_alias::run(a).map(|()| ExitCode::SUCCESS),
        Command::Device(a) => device::run(a).map(|()| ExitCode::SUCCESS),
        Command::Domain(a) => domain::run(a).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", report(&e));
            failure
        }
    }
}

/// What a person sees for an error. An admin API error comes first as
/// `error: <message> (<ErrorType>)`, followed by what the CLI was doing; anything else is
/// printed as its context chain.
pub fn report(err: &anyhow::Error) -> String {
    let chain: Vec<&(dyn std::error::Error + 'static)> = err.chain().collect();
    let Some(pos) = chain
        .iter()
        .position(|e| e.downcast_ref::<admin::AdminError>().is_some())
    else {
        return format!("error: {err:#}");
    };
    let mut s = format!("error: {}", chain[pos]);
    for ctx in chain[..pos].iter().rev() {
        s.push_str(&format!("\n  while {ctx}"));
    }
    s
}

/// Load the config file, or the defaults.
fn load_config(path: Option<&Path>) -> Result<airlock_server::Config> {
    match path {
        Some(p) => airlock_server::Config::load(p).context("loading the configuration"),
        None => Ok(airlock_server::Config::default()),
    }
}
