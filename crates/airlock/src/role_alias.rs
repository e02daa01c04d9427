//! `airlock role-alias ...`: role aliases for the credentials provider.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{Ctx, field};

/// `airlock role-alias`.
#[derive(Args, Debug)]
pub struct RoleAliasArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: RoleAliasCommand,
}

#[derive(Subcommand, Debug)]
enum RoleAliasCommand {
    /// Create a role alias (CreateRoleAlias).
    Create {
        /// Alias name.
        alias: String,
        /// The role the alias stands for: a role name (`airlock role create`) or a role ARN.
        #[arg(
            long,
            required_unless_present = "role_arn",
            conflicts_with = "role_arn"
        )]
        role: Option<String>,
        /// The role's ARN (same as --role ARN).
        #[arg(long)]
        role_arn: Option<String>,
        /// Lifetime of issued credentials in seconds (AWS: 900-43200, default 3600).
        #[arg(long)]
        duration: Option<u32>,
    },
    /// List role aliases (ListRoleAliases).
    List,
    /// Show a role alias (DescribeRoleAlias).
    Describe {
        /// Alias name.
        alias: String,
    },
    /// Delete a role alias (DeleteRoleAlias).
    Delete {
        /// Alias name.
        alias: String,
    },
}

pub fn run(args: RoleAliasArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        RoleAliasCommand::Create {
            alias,
            role,
            role_arn,
            duration,
        } => {
            let role_arn = match (role, role_arn) {
                (_, Some(arn)) => arn,
                (Some(r), None) if r.starts_with("arn:") => r,
                (Some(name), None) => {
                    let r = ctx
                        .lookup(Call::get(format!("/iam/roles/{}", encode(&name))))
                        .with_context(|| {
                            format!("looking up role {name} (create it with: airlock role create{d} {name})")
                        })?;
                    let max = r.body["role"]["maxSessionDuration"].as_u64();
                    if let (Some(max), Some(want)) = (max, duration.or(Some(3600)))
                        && u64::from(want) > max
                    {
                        ctx.say(format!(
                            "warning: role {name} allows sessions of at most {max} s; the credential provider will refuse this alias's {want} s until the role allows it"
                        ));
                    }
                    r.body["role"]["roleArn"]
                        .as_str()
                        .map(str::to_string)
                        .with_context(|| format!("the admin API gave no roleArn for role {name}"))?
                }
                (None, None) => anyhow::bail!("give --role NAME_OR_ARN"),
            };
            let mut body = json!({ "roleArn": role_arn });
            if let Some(s) = duration {
                body["credentialDurationSeconds"] = json!(s);
            }
            let r = ctx
                .call(
                    Call::new(Method::Post, format!("/role-aliases/{}", encode(&alias))).body(body),
                )
                .with_context(|| format!("creating role alias {alias}"))?;
            ctx.say(format!(
                "Created role alias {alias} ({})",
                field(&r.body, &["roleAliasArn"])
            ));
            ctx.say(format!(
                "Devices need iot:AssumeRoleWithCertificate on rolealias/{alias} in their policy; check with:\n  airlock policy test{d} --cert CERT_ID --client-id CLIENT --action iot:AssumeRoleWithCertificate --resource rolealias/{alias}"
            ));
        }
        RoleAliasCommand::List => {
            let aliases = ctx.list_all(Call::get("/role-aliases"), "roleAliases")?;
            if aliases.is_empty() {
                ctx.say(format!(
                    "No role aliases yet. Create one with: airlock role-alias create{d} ALIAS --role ROLE"
                ));
            } else {
                let names: Vec<String> = aliases
                    .iter()
                    .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                    .collect();
                ctx.say(names.join("\n"));
            }
        }
        RoleAliasCommand::Describe { alias } => {
            let r = ctx
                .call(Call::get(format!("/role-aliases/{}", encode(&alias))))
                .with_context(|| format!("describing role alias {alias}"))?;
            let a: &Value = r.body.get("roleAliasDescription").unwrap_or(&r.body);
            ctx.say(format!("Role alias {}", field(a, &["roleAlias"])));
            ctx.say(format!("  arn        {}", field(a, &["roleAliasArn"])));
            ctx.say(format!("  role       {}", field(a, &["roleArn"])));
            ctx.say(format!(
                "  duration   {} s",
                field(a, &["credentialDurationSeconds"])
            ));
            ctx.say(format!("  created    {}", field(a, &["creationDate"])));
        }
        RoleAliasCommand::Delete { alias } => {
            ctx.call(Call::new(
                Method::Delete,
                format!("/role-aliases/{}", encode(&alias)),
            ))
            .with_context(|| format!("deleting role alias {alias}"))?;
            ctx.say(format!("Deleted role alias {alias}."));
        }
    }
    Ok(())
}
