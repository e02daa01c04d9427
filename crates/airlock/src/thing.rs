//! `airlock thing ...`: CreateThing, ListThings, DescribeThing, DeleteThing and the
//! certificate attachments of a thing.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{Ctx, field, table};

/// `airlock thing`.
#[derive(Args, Debug)]
pub struct ThingArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: ThingCommand,
}

#[derive(Subcommand, Debug)]
enum ThingCommand {
    /// Create a thing (CreateThing).
    Create {
        /// Thing name: 1-128 of a-z A-Z 0-9 : _ - (the device's MQTT client id by convention).
        name: String,
        /// Thing type (create it first; AWS semantics).
        #[arg(long = "type")]
        thing_type: Option<String>,
        /// Attribute KEY=VALUE (repeatable).
        #[arg(long = "attr", value_parser = parse_attr)]
        attrs: Vec<(String, String)>,
    },
    /// List things (ListThings).
    List,
    /// Show a thing and the certificates attached to it (DescribeThing).
    Describe {
        /// Thing name.
        name: String,
    },
    /// Delete a thing (DeleteThing).
    Delete {
        /// Thing name.
        name: String,
    },
    /// Attach a certificate to a thing (AttachThingPrincipal).
    AttachCert {
        /// Thing name.
        name: String,
        /// Certificate id or ARN.
        #[arg(long)]
        cert: String,
    },
    /// Detach a certificate from a thing (DetachThingPrincipal).
    DetachCert {
        /// Thing name.
        name: String,
        /// Certificate id or ARN.
        #[arg(long)]
        cert: String,
    },
}

/// Parse `KEY=VALUE`.
pub fn parse_attr(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// The body of CreateThing.
pub fn create_body(thing_type: Option<&str>, attrs: &[(String, String)]) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(t) = thing_type {
        body.insert("thingTypeName".into(), json!(t));
    }
    if !attrs.is_empty() {
        let map: BTreeMap<&str, &str> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        body.insert("attributePayload".into(), json!({ "attributes": map }));
    }
    Value::Object(body)
}

pub fn run(args: ThingArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        ThingCommand::Create {
            name,
            thing_type,
            attrs,
        } => {
            let r = ctx
                .call(
                    Call::new(Method::Post, format!("/things/{}", encode(&name)))
                        .body(create_body(thing_type.as_deref(), &attrs)),
                )
                .with_context(|| format!("creating thing {name}"))?;
            ctx.say(format!(
                "Created thing {name} ({})",
                field(&r.body, &["thingArn"])
            ));
            ctx.say(format!(
                "Next: give it a certificate:\n  airlock cert create{d} --thing {name} --out ./{name}\nor onboard it with a starter policy in one step:\n  airlock device onboard{d} {name} --out ./{name}"
            ));
        }
        ThingCommand::List => {
            let things = ctx.list_all(Call::get("/things"), "things")?;
            if things.is_empty() {
                ctx.say(format!(
                    "No things yet. Create one with: airlock thing create{d} NAME"
                ));
            } else {
                let rows: Vec<Vec<String>> = things
                    .iter()
                    .map(|t| {
                        vec![
                            field(t, &["thingName"]),
                            field(t, &["thingTypeName"]),
                            attributes_text(t.get("attributes")),
                        ]
                    })
                    .collect();
                ctx.say(table(&["NAME", "TYPE", "ATTRIBUTES"], &rows));
            }
        }
        ThingCommand::Describe { name } => {
            let path = format!("/things/{}", encode(&name));
            let r = ctx
                .call(Call::get(&path))
                .with_context(|| format!("describing thing {name}"))?;
            if ctx.json {
                return Ok(());
            }
            let b = &r.body;
            println!("Thing {}", field(b, &["thingName"]));
            println!("  arn         {}", field(b, &["thingArn"]));
            println!("  id          {}", field(b, &["thingId"]));
            println!("  type        {}", field(b, &["thingTypeName"]));
            println!("  attributes  {}", attributes_text(b.get("attributes")));
            println!("  version     {}", field(b, &["version"]));
            let principals = ctx
                .lookup(Call::get(format!("{path}/principals")))
                .with_context(|| format!("listing the certificates of thing {name}"))?;
            let arns: Vec<&str> = principals
                .body
                .get("principals")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if arns.is_empty() {
                println!(
                    "  certificates  none; issue one with: airlock cert create{d} --thing {name} --out ./{name}"
                );
            } else {
                println!("  certificates");
                for arn in arns {
                    println!("    {}", cert_id_of(arn));
                }
                println!("(details: airlock cert describe{d} ID)");
            }
        }
        ThingCommand::Delete { name } => {
            ctx.call(Call::new(
                Method::Delete,
                format!("/things/{}", encode(&name)),
            ))
            .with_context(|| format!("deleting thing {name}"))?;
            ctx.say(format!("Deleted thing {name}."));
        }
        ThingCommand::AttachCert { name, cert } => {
            ctx.call(
                Call::new(Method::Put, format!("/things/{}/principals", encode(&name)))
                    .principal(&cert),
            )
            .with_context(|| format!("attaching certificate {cert} to thing {name}"))?;
            ctx.say(format!(
                "Attached certificate {} to thing {name}.",
                cert_id_of(&cert)
            ));
        }
        ThingCommand::DetachCert { name, cert } => {
            ctx.call(
                Call::new(
                    Method::Delete,
                    format!("/things/{}/principals", encode(&name)),
                )
                .principal(&cert),
            )
            .with_context(|| format!("detaching certificate {cert} from thing {name}"))?;
            ctx.say(format!(
                "Detached certificate {} from thing {name}.",
                cert_id_of(&cert)
            ));
        }
    }
    Ok(())
}

/// `k=v, k=v` or `-`.
pub fn attributes_text(attrs: Option<&Value>) -> String {
    let Some(obj) = attrs.and_then(Value::as_object) else {
        return "-".to_string();
    };
    if obj.is_empty() {
        return "-".to_string();
    }
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The certificate id of a certificate ARN (`...:cert/ID`), or the input if it is one.
pub fn cert_id_of(arn_or_id: &str) -> &str {
    arn_or_id
        .rsplit_once(":cert/")
        .map_or(arn_or_id, |(_, id)| id)
}
