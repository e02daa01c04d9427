//! `airlock domain ...`: domain configurations, the server certificates chosen by SNI
//! (AWS's CreateDomainConfiguration family).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{Ctx, field, read_text, table};

/// `airlock domain`.
#[derive(Args, Debug)]
pub struct DomainArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: DomainCommand,
}

#[derive(Subcommand, Debug)]
enum DomainCommand {
    /// Serve a certificate for a domain name to clients that send it as SNI
    /// (CreateDomainConfiguration). Without --cert/--key, Airlock's CA issues one.
    Create {
        /// Configuration name (letters, digits, '_', '.', '-').
        name: String,
        /// The domain name: exact (iot.plant.example.com) or a one-label wildcard
        /// (*.plant.example.com).
        #[arg(long)]
        domain: String,
        /// PEM certificate chain to import, leaf first (needs --key).
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// PEM private key of --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
    },
    /// Every domain configuration (ListDomainConfigurations).
    List,
    /// One domain configuration (DescribeDomainConfiguration).
    Describe {
        /// Configuration name.
        name: String,
    },
    /// Serve its certificate again (UpdateDomainConfiguration ENABLED).
    Enable {
        /// Configuration name.
        name: String,
    },
    /// Stop serving its certificate; its clients get the default (UpdateDomainConfiguration
    /// DISABLED). Connections already up stay up.
    Disable {
        /// Configuration name.
        name: String,
    },
    /// Delete it and its certificate files (DeleteDomainConfiguration).
    Delete {
        /// Configuration name.
        name: String,
    },
}

fn path(name: &str) -> String {
    format!("/domainConfigurations/{}", encode(name))
}

pub fn run(args: DomainArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        DomainCommand::Create {
            name,
            domain,
            cert,
            key,
        } => {
            let mut body = json!({ "domainName": domain });
            if let (Some(cert), Some(key)) = (cert, key) {
                body["serverCertificatePem"] = read_text(&cert, "the certificate")?.into();
                body["privateKeyPem"] = read_text(&key, "the private key")?.into();
            }
            let r = ctx
                .call(Call::new(Method::Post, path(&name)).body(body))
                .with_context(|| format!("creating domain configuration {name}"))?;
            ctx.say(format!(
                "Created domain configuration {name} for {domain} ({}); clients sending SNI {domain} get its certificate now.",
                field(&r.body, &["domainConfigurationArn"])
            ));
        }
        DomainCommand::List => {
            let all = ctx.list_all(Call::get("/domainConfigurations"), "domainConfigurations")?;
            if all.is_empty() {
                ctx.say(format!(
                    "No domain configurations yet; every client gets the default certificate. Create one with: airlock domain create{d} NAME --domain DOMAIN"
                ));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|c| {
                        vec![
                            field(c, &["domainConfigurationName"]),
                            field(c, &["domainName"]),
                            field(c, &["domainConfigurationStatus"]),
                        ]
                    })
                    .collect();
                ctx.say(table(&["NAME", "DOMAIN", "STATUS"], &rows));
            }
        }
        DomainCommand::Describe { name } => {
            let r = ctx
                .call(Call::get(path(&name)))
                .with_context(|| format!("describing domain configuration {name}"))?;
            let b = &r.body;
            ctx.say(format!("Domain configuration {name}"));
            ctx.say(format!(
                "  arn          {}",
                field(b, &["domainConfigurationArn"])
            ));
            ctx.say(format!("  domain       {}", field(b, &["domainName"])));
            ctx.say(format!(
                "  status       {}",
                field(b, &["domainConfigurationStatus"])
            ));
            ctx.say(format!(
                "  certificate  {} ({})",
                field(b, &["serverCertificateId"]),
                field(b, &["certificateSource"])
            ));
            ctx.say(format!(
                "  not after    {}",
                field(b, &["serverCertificateNotAfter"])
            ));
            ctx.say(format!("  created      {}", field(b, &["creationDate"])));
        }
        DomainCommand::Enable { name } => set_status(&ctx, &name, "ENABLED")?,
        DomainCommand::Disable { name } => set_status(&ctx, &name, "DISABLED")?,
        DomainCommand::Delete { name } => {
            ctx.call(Call::new(Method::Delete, path(&name)))
                .with_context(|| format!("deleting domain configuration {name}"))?;
            ctx.say(format!("Deleted domain configuration {name}."));
        }
    }
    Ok(())
}

fn set_status(ctx: &Ctx, name: &str, status: &str) -> Result<()> {
    ctx.call(
        Call::new(Method::Put, path(name)).body(json!({ "domainConfigurationStatus": status })),
    )
    .with_context(|| format!("setting domain configuration {name} to {status}"))?;
    ctx.say(format!("Domain configuration {name} is {status}."));
    Ok(())
}
