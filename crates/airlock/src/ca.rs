//! `airlock ca ...`: bring-your-own CA certificates (RegisterCACertificate and friends).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{self, Ctx, field, table};

/// `airlock ca`.
#[derive(Args, Debug)]
pub struct CaArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Subcommand, Debug)]
enum CaCommand {
    /// Get the code to put in a verification certificate's common name (GetRegistrationCode).
    RegistrationCode,
    /// Register a CA certificate (RegisterCACertificate).
    Register {
        /// PEM of the CA certificate.
        #[arg(long)]
        ca_cert: PathBuf,
        /// Certificate signed by that CA whose common name is the registration code; proves
        /// you hold the CA key (see `airlock ca registration-code`).
        #[arg(
            long,
            required_unless_present = "no_verify",
            conflicts_with = "no_verify"
        )]
        verification_cert: Option<PathBuf>,
        /// Register without proof of possession (certificate mode SNI_ONLY).
        #[arg(long)]
        no_verify: bool,
        /// Register device certificates signed by this CA on their first connection.
        #[arg(long)]
        auto_register: bool,
        /// Register it INACTIVE instead of ACTIVE.
        #[arg(long)]
        inactive: bool,
    },
    /// List registered CA certificates (ListCACertificates).
    List,
    /// Show a CA certificate (DescribeCACertificate).
    Describe {
        /// CA certificate id.
        id: String,
    },
    /// Change a CA certificate's status or auto-registration (UpdateCACertificate).
    #[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
    Update {
        /// CA certificate id.
        id: String,
        /// New status.
        #[arg(long, group = "change")]
        status: Option<CaStatus>,
        /// Auto-registration of device certificates.
        #[arg(long, group = "change")]
        auto_register: Option<Toggle>,
    },
    /// Delete an INACTIVE CA certificate (DeleteCACertificate).
    Delete {
        /// CA certificate id.
        id: String,
    },
}

/// Status a CA certificate can be set to.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "UPPER")]
pub enum CaStatus {
    /// Devices signed by it may connect.
    Active,
    /// Devices signed by it are refused.
    Inactive,
}

/// On or off.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toggle {
    /// ENABLE.
    Enable,
    /// DISABLE.
    Disable,
}

pub fn run(args: CaArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        CaCommand::RegistrationCode => {
            let r = ctx
                .call(Call::get("/registrationcode"))
                .context("getting the registration code")?;
            let code = r.str("registrationCode")?;
            ctx.say(format!("Registration code: {code}"));
            ctx.say(format!(
                "\nProve you hold your CA's key with a verification certificate whose common name is the code:\n  openssl genrsa -out verification.key 2048\n  openssl req -new -key verification.key -subj \"/CN={code}\" -out verification.csr\n  openssl x509 -req -in verification.csr -CA my-ca.pem -CAkey my-ca.key -CAcreateserial -days 7 -sha256 -out verification.pem\n  airlock ca register{d} --ca-cert my-ca.pem --verification-cert verification.pem"
            ));
        }
        CaCommand::Register {
            ca_cert,
            verification_cert,
            no_verify,
            auto_register,
            inactive,
        } => {
            let mut body = json!({
                "caCertificate": out::read_text(&ca_cert, "CA certificate")?,
                "certificateMode": if no_verify { "SNI_ONLY" } else { "DEFAULT" },
            });
            if let Some(v) = &verification_cert {
                body["verificationCertificate"] =
                    json!(out::read_text(v, "verification certificate")?);
            }
            let r = ctx
                .call(
                    Call::new(Method::Post, "/cacertificate")
                        .query("setAsActive", (!inactive).to_string())
                        .query("allowAutoRegistration", auto_register.to_string())
                        .body(body),
                )
                .with_context(|| format!("registering CA certificate {}", ca_cert.display()))?;
            let id = r.str("certificateId")?;
            ctx.say(format!(
                "Registered CA certificate {id} ({})",
                if inactive { "INACTIVE" } else { "ACTIVE" }
            ));
            if auto_register {
                ctx.say("Device certificates it signed are registered on their first connection; attach policies to them (or to their things' groups) so they can do something.");
            } else {
                ctx.say(format!(
                    "Next: register device certificates it signed:\n  airlock cert register{d} --cert DEVICE.pem --ca-cert {}",
                    out::shell_quote(&ca_cert.display().to_string())
                ));
            }
        }
        CaCommand::List => {
            let cas = ctx.list_all(Call::get("/cacertificates"), "certificates")?;
            if cas.is_empty() {
                ctx.say(format!(
                    "No CA certificates registered. Start with: airlock ca registration-code{d}"
                ));
            } else {
                let rows: Vec<Vec<String>> = cas
                    .iter()
                    .map(|c| {
                        vec![
                            field(c, &["certificateId"]),
                            field(c, &["status"]),
                            field(c, &["creationDate"]),
                        ]
                    })
                    .collect();
                ctx.say(table(&["ID", "STATUS", "CREATED"], &rows));
            }
        }
        CaCommand::Describe { id } => {
            let r = ctx
                .call(Call::get(format!("/cacertificate/{}", encode(&id))))
                .with_context(|| format!("describing CA certificate {id}"))?;
            let c = r.body.get("certificateDescription").unwrap_or(&r.body);
            ctx.say(format!("CA certificate {}", field(c, &["certificateId"])));
            ctx.say(format!(
                "  arn                {}",
                field(c, &["certificateArn"])
            ));
            ctx.say(format!("  status             {}", field(c, &["status"])));
            ctx.say(format!(
                "  mode               {}",
                field(c, &["certificateMode"])
            ));
            ctx.say(format!(
                "  auto-registration  {}",
                field(c, &["autoRegistrationStatus"])
            ));
            ctx.say(format!(
                "  created            {}",
                field(c, &["creationDate"])
            ));
            ctx.say(format!(
                "  valid              {} .. {}",
                field(c, &["validity", "notBefore"]),
                field(c, &["validity", "notAfter"])
            ));
        }
        CaCommand::Update {
            id,
            status,
            auto_register,
        } => {
            let status = status.map(|s| match s {
                CaStatus::Active => "ACTIVE",
                CaStatus::Inactive => "INACTIVE",
            });
            let auto = auto_register.map(|t| match t {
                Toggle::Enable => "ENABLE",
                Toggle::Disable => "DISABLE",
            });
            ctx.call(
                Call::new(Method::Put, format!("/cacertificate/{}", encode(&id)))
                    .query_opt("newStatus", status)
                    .query_opt("newAutoRegistrationStatus", auto),
            )
            .with_context(|| format!("updating CA certificate {id}"))?;
            ctx.say(format!(
                "Updated CA certificate {id}; see it with: airlock ca describe{d} {id}"
            ));
        }
        CaCommand::Delete { id } => {
            ctx.call(Call::new(
                Method::Delete,
                format!("/cacertificate/{}", encode(&id)),
            ))
            .with_context(|| format!("deleting CA certificate {id}"))?;
            ctx.say(format!("Deleted CA certificate {id}."));
        }
    }
    Ok(())
}
