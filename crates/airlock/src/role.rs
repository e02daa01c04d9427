//! `airlock role ...`: the IAM-style roles role aliases point at, and their permissions
//! policies (what credentials from the credential provider may do at the artifact store).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{Ctx, field, read_text, table};

/// `airlock role`.
#[derive(Args, Debug)]
pub struct RoleArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: RoleCommand,
}

#[derive(Subcommand, Debug)]
enum RoleCommand {
    /// Create a role (IAM CreateRole): arn:aws:iam::ACCOUNT:role/NAME.
    Create {
        /// Role name: 1-64 characters of a-z A-Z 0-9 _ + = , . @ -.
        name: String,
        /// Longest credential lifetime a role alias may ask for, 3600-43200 s (default 3600).
        #[arg(long)]
        max_session_duration: Option<u32>,
    },
    /// Add or replace an inline permissions policy (IAM PutRolePolicy).
    PutPolicy {
        /// Role name.
        name: String,
        /// Name of the inline policy.
        #[arg(long)]
        policy_name: String,
        /// File with the IAM policy document (JSON; s3:* actions on arn:aws:s3:::bucket/key).
        #[arg(long)]
        document: PathBuf,
    },
    /// Show one inline policy's document (IAM GetRolePolicy).
    GetPolicy {
        /// Role name.
        name: String,
        /// Name of the inline policy.
        #[arg(long)]
        policy_name: String,
    },
    /// Delete an inline policy (IAM DeleteRolePolicy).
    DeletePolicy {
        /// Role name.
        name: String,
        /// Name of the inline policy.
        #[arg(long)]
        policy_name: String,
    },
    /// List roles (IAM ListRoles).
    List,
    /// Show a role and its inline policy names (IAM GetRole, ListRolePolicies).
    Describe {
        /// Role name.
        name: String,
    },
    /// Delete a role (IAM DeleteRole); delete its inline policies first.
    Delete {
        /// Role name.
        name: String,
    },
}

fn role_path(name: &str) -> String {
    format!("/iam/roles/{}", encode(name))
}

fn policy_path(name: &str, policy: &str) -> String {
    format!("{}/policies/{}", role_path(name), encode(policy))
}

pub fn run(args: RoleArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        RoleCommand::Create {
            name,
            max_session_duration,
        } => {
            let mut body = json!({});
            if let Some(s) = max_session_duration {
                body["maxSessionDuration"] = json!(s);
            }
            let r = ctx
                .call(Call::new(Method::Post, role_path(&name)).body(body))
                .with_context(|| format!("creating role {name}"))?;
            ctx.say(format!(
                "Created role {name} ({})",
                field(&r.body, &["role", "roleArn"])
            ));
            ctx.say(format!(
                "Give it permissions with:\n  airlock role put-policy{d} {name} --policy-name POLICY --document FILE.json\nand let devices use it with:\n  airlock role-alias create{d} ALIAS --role {name}"
            ));
        }
        RoleCommand::PutPolicy {
            name,
            policy_name,
            document,
        } => {
            let text = read_text(&document, "the policy document")?;
            ctx.call(
                Call::new(Method::Put, policy_path(&name, &policy_name))
                    .body(json!({ "policyDocument": text })),
            )
            .with_context(|| format!("putting policy {policy_name} on role {name}"))?;
            ctx.say(format!("Put inline policy {policy_name} on role {name}."));
        }
        RoleCommand::GetPolicy { name, policy_name } => {
            let r = ctx
                .call(Call::get(policy_path(&name, &policy_name)))
                .with_context(|| format!("getting policy {policy_name} of role {name}"))?;
            ctx.say(field(&r.body, &["policyDocument"]));
        }
        RoleCommand::DeletePolicy { name, policy_name } => {
            ctx.call(Call::new(Method::Delete, policy_path(&name, &policy_name)))
                .with_context(|| format!("deleting policy {policy_name} of role {name}"))?;
            ctx.say(format!(
                "Deleted inline policy {policy_name} of role {name}."
            ));
        }
        RoleCommand::List => {
            let roles = ctx.list_all(Call::get("/iam/roles"), "roles")?;
            if roles.is_empty() {
                ctx.say(format!(
                    "No roles yet. Create one with: airlock role create{d} NAME"
                ));
            } else {
                let rows: Vec<Vec<String>> = roles
                    .iter()
                    .map(|r| {
                        vec![
                            field(r, &["roleName"]),
                            field(r, &["maxSessionDuration"]),
                            field(r, &["roleArn"]),
                        ]
                    })
                    .collect();
                ctx.say(table(&["NAME", "MAX SESSION (s)", "ARN"], &rows));
            }
        }
        RoleCommand::Describe { name } => {
            let r = ctx
                .call(Call::get(role_path(&name)))
                .with_context(|| format!("describing role {name}"))?;
            let p = ctx
                .call(Call::get(format!("{}/policies", role_path(&name))))
                .with_context(|| format!("listing the policies of role {name}"))?;
            let role: &Value = r.body.get("role").unwrap_or(&r.body);
            let policies: Vec<String> = p
                .body
                .get("policyNames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            ctx.say(format!("Role {}", field(role, &["roleName"])));
            ctx.say(format!("  arn          {}", field(role, &["roleArn"])));
            ctx.say(format!(
                "  max session  {} s",
                field(role, &["maxSessionDuration"])
            ));
            ctx.say(format!("  created      {}", field(role, &["createDate"])));
            ctx.say(format!(
                "  policies     {}",
                if policies.is_empty() {
                    "-".to_string()
                } else {
                    policies.join(", ")
                }
            ));
        }
        RoleCommand::Delete { name } => {
            ctx.call(Call::new(Method::Delete, role_path(&name)))
                .with_context(|| format!("deleting role {name}"))?;
            ctx.say(format!("Deleted role {name}."));
        }
    }
    Ok(())
}
