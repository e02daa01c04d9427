//! `airlock policy ...`: policy documents, versions, attachments, and TestAuthorization.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{self, Ctx, field, table};

/// `airlock policy`.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: PolicyCommand,
}

impl PolicyArgs {
    /// Whether this is `policy test`, whose exit code 1 means "denied".
    pub fn is_test(&self) -> bool {
        matches!(self.command, PolicyCommand::Test { .. })
    }
}

/// A certificate or a thing group: what a policy is attached to.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// Certificate id or ARN.
    #[arg(long)]
    cert: Option<String>,
    /// Thing group name.
    #[arg(long)]
    group: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Create a policy from a JSON document (CreatePolicy).
    Create {
        /// Policy name.
        name: String,
        /// File holding the policy document (JSON).
        #[arg(long)]
        document: PathBuf,
    },
    /// Add a version of a policy (CreatePolicyVersion; at most 5 are kept).
    Version {
        /// Policy name.
        name: String,
        /// File holding the new document (JSON).
        #[arg(long)]
        document: PathBuf,
        /// Make it the version in force.
        #[arg(long)]
        set_default: bool,
    },
    /// List the versions of a policy (ListPolicyVersions).
    Versions {
        /// Policy name.
        name: String,
    },
    /// Make a version the one in force (SetDefaultPolicyVersion).
    SetDefault {
        /// Policy name.
        name: String,
        /// Version id.
        version: String,
    },
    /// Delete a version that is not the default (DeletePolicyVersion).
    DeleteVersion {
        /// Policy name.
        name: String,
        /// Version id.
        version: String,
    },
    /// Print a policy's document (GetPolicy, or GetPolicyVersion with --version).
    Get {
        /// Policy name.
        name: String,
        /// A version other than the default.
        #[arg(long)]
        version: Option<String>,
    },
    /// List policies (ListPolicies).
    List,
    /// Delete a policy (DeletePolicy; detach it and delete its other versions first).
    Delete {
        /// Policy name.
        name: String,
    },
    /// Attach a policy to a certificate or thing group (AttachPolicy).
    Attach {
        /// Policy name.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Detach a policy from a certificate or thing group (DetachPolicy).
    Detach {
        /// Policy name.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the policies attached to a certificate or thing group (ListAttachedPolicies).
    Attached {
        #[command(flatten)]
        target: Target,
        /// For a group, include the policies of its parent groups.
        #[arg(long)]
        recursive: bool,
    },
    /// List what a policy is attached to (ListTargetsForPolicy).
    Targets {
        /// Policy name.
        name: String,
    },
    /// Ask the broker's policy engine whether a request would be allowed (TestAuthorization).
    ///
    /// Exit code: 0 when allowed, 1 when denied, 2 when the question could not be asked
    /// (bad arguments, server not running, unknown certificate...), so scripts can use it.
    Test {
        #[command(flatten)]
        who: TestPrincipal,
        /// MQTT client id of the request (used for iot:Connect and ${iot:ClientId}).
        #[arg(long)]
        client_id: String,
        /// Action, e.g. iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:RetainPublish.
        #[arg(long)]
        action: String,
        /// Resource: topic/a/b, topicfilter/a/#, client/ID, or a full ARN.
        #[arg(long)]
        resource: String,
        /// Source IP of the request (for aws:SourceIp conditions).
        #[arg(long)]
        source_ip: Option<std::net::IpAddr>,
        /// Endpoint id the request arrives on (for endpoint conditions).
        #[arg(long)]
        endpoint: Option<String>,
    },
}

/// Whose policies are tested.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct TestPrincipal {
    /// Certificate id or ARN.
    #[arg(long)]
    cert: Option<String>,
    /// Thing name (its certificates' policies and its groups' policies).
    #[arg(long)]
    thing: Option<String>,
}

/// The body of TestAuthorization with Airlock's extensions.
pub fn test_body(
    cert: Option<&str>,
    thing: Option<&str>,
    action: &str,
    resource: &str,
    source_ip: Option<std::net::IpAddr>,
    endpoint: Option<&str>,
) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(c) = cert {
        body.insert("principal".into(), json!(c));
    }
    if let Some(t) = thing {
        body.insert("thingName".into(), json!(t));
    }
    if let Some(ip) = source_ip {
        body.insert("sourceIp".into(), json!(ip.to_string()));
    }
    if let Some(e) = endpoint {
        body.insert("endpointId".into(), json!(e));
    }
    body.insert(
        "authInfos".into(),
        json!([{ "action": action, "resources": [resource] }]),
    );
    Value::Object(body)
}

/// The verdict of a TestAuthorization answer as text, and whether it allows.
pub fn render_test(body: &Value) -> Result<(bool, String)> {
    let result = body
        .get("authResults")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .context("the admin API's TestAuthorization answer has no authResults")?;
    let decision = result
        .get("authDecision")
        .and_then(Value::as_str)
        .context("the admin API's TestAuthorization answer has no authDecision")?;
    let allowed = match decision {
        "ALLOWED" => true,
        "EXPLICIT_DENY" | "IMPLICIT_DENY" => false,
        other => anyhow::bail!("the admin API answered an unknown authDecision {other:?}"),
    };
    let mut s = if allowed {
        "ALLOWED".to_string()
    } else {
        format!("DENIED ({decision})")
    };
    if let Some(reason) = result.get("reason").and_then(Value::as_str) {
        s.push_str(&format!("\n  reason: {reason}"));
    }
    let statements: &[Value] = result
        .get("statements")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    if statements.is_empty() {
        s.push_str("\n  no statement matched");
    } else {
        s.push_str("\n  matched statements:");
        for st in statements {
            let sid = match st.get("sid").and_then(Value::as_str) {
                Some(sid) => format!("Sid {sid:?}"),
                None => "no Sid".to_string(),
            };
            s.push_str(&format!(
                "\n    policy {}  statement {}  {sid}  {}",
                field(st, &["policyName"]),
                field(st, &["statementIndex"]),
                field(st, &["effect"])
            ));
        }
    }
    let missing: Vec<&str> = result
        .get("missingContextValues")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !missing.is_empty() {
        s.push_str(&format!(
            "\n  missing context values: {} (the real request would supply them)",
            missing.join(", ")
        ));
    }
    Ok((allowed, s))
}

/// The AttachPolicy / ListAttachedPolicies target: a certificate id/ARN as given, or the
/// group's ARN (which AWS wants; looked up so a typo is reported as an unknown group).
fn target_arn(ctx: &Ctx, target: &Target) -> Result<(String, String)> {
    if let Some(cert) = &target.cert {
        return Ok((cert.clone(), format!("certificate {cert}")));
    }
    let group = target.group.as_deref().unwrap_or_default();
    let r = ctx
        .lookup(Call::get(format!("/thing-groups/{}", encode(group))))
        .with_context(|| format!("looking up thing group {group}"))?;
    Ok((
        r.str("thingGroupArn")?.to_string(),
        format!("group {group}"),
    ))
}

pub fn run(args: PolicyArgs) -> Result<ExitCode> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        PolicyCommand::Create { name, document } => {
            let doc = out::read_text(&document, "policy document")?;
            let r = ctx
                .call(
                    Call::new(Method::Post, format!("/policies/{}", encode(&name)))
                        .body(json!({ "policyDocument": doc })),
                )
                .with_context(|| format!("creating policy {name}"))?;
            ctx.say(format!(
                "Created policy {name} (version {}, {})",
                field(&r.body, &["policyVersionId"]),
                field(&r.body, &["policyArn"])
            ));
            ctx.say(format!(
                "Next: attach it to a certificate or a thing group:\n  airlock policy attach{d} {name} --cert CERT_ID\n  airlock policy attach{d} {name} --group GROUP"
            ));
        }
        PolicyCommand::Version {
            name,
            document,
            set_default,
        } => {
            let doc = out::read_text(&document, "policy document")?;
            let r = ctx
                .call(
                    Call::new(Method::Post, format!("/policies/{}/version", encode(&name)))
                        .query("setAsDefault", set_default.to_string())
                        .body(json!({ "policyDocument": doc })),
                )
                .with_context(|| format!("adding a version to policy {name}"))?;
            let v = field(&r.body, &["policyVersionId"]);
            if set_default {
                ctx.say(format!("Policy {name} version {v} is now in force."));
            } else {
                ctx.say(format!(
                    "Added version {v} of policy {name} (not in force). Put it in force with: airlock policy set-default{d} {name} {v}"
                ));
            }
        }
        PolicyCommand::Versions { name } => {
            let r = ctx
                .call(Call::get(format!("/policies/{}/version", encode(&name))))
                .with_context(|| format!("listing the versions of policy {name}"))?;
            let rows: Vec<Vec<String>> = r
                .body
                .get("policyVersions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| {
                            let default = v.get("isDefaultVersion").and_then(Value::as_bool);
                            vec![
                                field(v, &["versionId"]),
                                if default == Some(true) { "yes" } else { "" }.to_string(),
                                field(v, &["createDate"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            ctx.say(table(&["VERSION", "DEFAULT", "CREATED"], &rows));
        }
        PolicyCommand::SetDefault { name, version } => {
            ctx.call(Call::new(
                Method::Patch,
                format!("/policies/{}/version/{}", encode(&name), encode(&version)),
            ))
            .with_context(|| format!("setting version {version} of policy {name} as default"))?;
            ctx.say(format!("Policy {name} version {version} is now in force."));
        }
        PolicyCommand::DeleteVersion { name, version } => {
            ctx.call(Call::new(
                Method::Delete,
                format!("/policies/{}/version/{}", encode(&name), encode(&version)),
            ))
            .with_context(|| format!("deleting version {version} of policy {name}"))?;
            ctx.say(format!("Deleted version {version} of policy {name}."));
        }
        PolicyCommand::Get { name, version } => {
            let path = match &version {
                Some(v) => format!("/policies/{}/version/{}", encode(&name), encode(v)),
                None => format!("/policies/{}", encode(&name)),
            };
            let r = ctx
                .call(Call::get(path))
                .with_context(|| format!("getting policy {name}"))?;
            if !ctx.json {
                let version = ["defaultVersionId", "policyVersionId", "versionId"]
                    .iter()
                    .find_map(|k| r.body.get(*k).and_then(Value::as_str))
                    .unwrap_or("-");
                println!(
                    "Policy {name} version {version} ({})",
                    field(&r.body, &["policyArn"])
                );
                let doc = r.str("policyDocument")?;
                // Stored as text; print it indented when it is JSON, as stored otherwise.
                match serde_json::from_str::<Value>(doc) {
                    Ok(v) => println!(
                        "{}",
                        serde_json::to_string_pretty(&v).unwrap_or_else(|_| doc.to_string())
                    ),
                    Err(_) => println!("{doc}"),
                }
            }
        }
        PolicyCommand::List => {
            let policies = ctx.list_all(Call::get("/policies"), "policies")?;
            if policies.is_empty() {
                ctx.say(format!(
                    "No policies yet. Create one with: airlock policy create{d} NAME --document FILE"
                ));
            } else {
                let rows: Vec<Vec<String>> = policies
                    .iter()
                    .map(|p| vec![field(p, &["policyName"]), field(p, &["policyArn"])])
                    .collect();
                ctx.say(table(&["NAME", "ARN"], &rows));
            }
        }
        PolicyCommand::Delete { name } => {
            ctx.call(Call::new(
                Method::Delete,
                format!("/policies/{}", encode(&name)),
            ))
            .with_context(|| format!("deleting policy {name}"))?;
            ctx.say(format!("Deleted policy {name}."));
        }
        PolicyCommand::Attach { name, target } => {
            let (arn, what) = target_arn(&ctx, &target)?;
            ctx.call(
                Call::new(Method::Put, format!("/target-policies/{}", encode(&name)))
                    .body(json!({ "target": arn })),
            )
            .with_context(|| format!("attaching policy {name} to {what}"))?;
            ctx.say(format!(
                "Attached policy {name} to {what}; it applies to new requests at once."
            ));
            if let Some(cert) = &target.cert {
                ctx.say(format!(
                    "Check a request with: airlock policy test{d} --cert {cert} --client-id CLIENT --action iot:Connect --resource client/CLIENT"
                ));
            }
        }
        PolicyCommand::Detach { name, target } => {
            let (arn, what) = target_arn(&ctx, &target)?;
            ctx.call(
                Call::new(Method::Post, format!("/target-policies/{}", encode(&name)))
                    .body(json!({ "target": arn })),
            )
            .with_context(|| format!("detaching policy {name} from {what}"))?;
            ctx.say(format!("Detached policy {name} from {what}."));
        }
        PolicyCommand::Attached { target, recursive } => {
            let (arn, what) = target_arn(&ctx, &target)?;
            let r = ctx
                .call(
                    Call::new(Method::Post, format!("/attached-policies/{}", encode(&arn)))
                        .query_opt("recursive", recursive.then_some("true")),
                )
                .with_context(|| format!("listing the policies attached to {what}"))?;
            let names: Vec<String> = r
                .body
                .get("policies")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|p| field(p, &["policyName"])).collect())
                .unwrap_or_default();
            if names.is_empty() {
                ctx.say(format!("No policy is attached to {what}."));
            } else {
                ctx.say(names.join("\n"));
            }
        }
        PolicyCommand::Targets { name } => {
            let r = ctx
                .call(Call::new(
                    Method::Post,
                    format!("/policy-targets/{}", encode(&name)),
                ))
                .with_context(|| format!("listing the targets of policy {name}"))?;
            let targets = crate::cert::string_list(&r.body, "targets");
            ctx.say(if targets == "none" {
                format!("Policy {name} is attached to nothing.")
            } else {
                targets.replace(", ", "\n")
            });
        }
        PolicyCommand::Test {
            who,
            client_id,
            action,
            resource,
            source_ip,
            endpoint,
        } => {
            let body = test_body(
                who.cert.as_deref(),
                who.thing.as_deref(),
                &action,
                &resource,
                source_ip,
                endpoint.as_deref(),
            );
            let r = ctx
                .call(
                    Call::new(Method::Post, "/test-authorization")
                        .query("clientId", &client_id)
                        .body(body),
                )
                .context("testing the authorization")?;
            let (allowed, text) = render_test(&r.body)?;
            ctx.say(text);
            return Ok(if allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
