//! `airlock group ...`: thing groups and their members.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode};
use crate::out::{Ctx, field, table};

/// `airlock group`.
#[derive(Args, Debug)]
pub struct GroupArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Create a thing group (CreateThingGroup).
    Create {
        /// Group name.
        name: String,
        /// Parent group (policies attached to it apply to this group's things too).
        #[arg(long)]
        parent: Option<String>,
    },
    /// List thing groups (ListThingGroups).
    List,
    /// Show a group and its things (DescribeThingGroup).
    Describe {
        /// Group name.
        name: String,
    },
    /// Delete a thing group (DeleteThingGroup).
    Delete {
        /// Group name.
        name: String,
    },
    /// Add a thing to a group (AddThingToThingGroup).
    AddThing {
        /// Group name.
        group: String,
        /// Thing name.
        thing: String,
    },
    /// Remove a thing from a group (RemoveThingFromThingGroup).
    RemoveThing {
        /// Group name.
        group: String,
        /// Thing name.
        thing: String,
    },
}

pub fn run(args: GroupArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        GroupCommand::Create { name, parent } => {
            let mut body = serde_json::Map::new();
            if let Some(p) = &parent {
                body.insert("parentGroupName".into(), json!(p));
            }
            let r = ctx
                .call(
                    Call::new(Method::Post, format!("/thing-groups/{}", encode(&name)))
                        .body(Value::Object(body)),
                )
                .with_context(|| format!("creating thing group {name}"))?;
            ctx.say(format!(
                "Created thing group {name} ({})",
                field(&r.body, &["thingGroupArn"])
            ));
            ctx.say(format!(
                "Next: add things and attach a policy to the group:\n  airlock group add-thing{d} {name} THING\n  airlock policy attach{d} POLICY --group {name}"
            ));
        }
        GroupCommand::List => {
            let groups = ctx.list_all(Call::get("/thing-groups"), "thingGroups")?;
            if groups.is_empty() {
                ctx.say(format!(
                    "No thing groups yet. Create one with: airlock group create{d} NAME"
                ));
            } else {
                let rows: Vec<Vec<String>> = groups
                    .iter()
                    .map(|g| vec![field(g, &["groupName"]), field(g, &["groupArn"])])
                    .collect();
                ctx.say(table(&["NAME", "ARN"], &rows));
            }
        }
        GroupCommand::Describe { name } => {
            let path = format!("/thing-groups/{}", encode(&name));
            let r = ctx
                .call(Call::get(&path))
                .with_context(|| format!("describing thing group {name}"))?;
            if ctx.json {
                return Ok(());
            }
            let b = &r.body;
            println!("Thing group {}", field(b, &["thingGroupName"]));
            println!("  arn     {}", field(b, &["thingGroupArn"]));
            println!("  id      {}", field(b, &["thingGroupId"]));
            println!(
                "  parent  {}",
                field(b, &["thingGroupMetadata", "parentGroupName"])
            );
            let things = ctx
                .lookup(Call::get(format!("{path}/things")))
                .with_context(|| format!("listing the things in group {name}"))?;
            let names: Vec<&str> = things
                .body
                .get("things")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if names.is_empty() {
                println!("  things  none; add one with: airlock group add-thing{d} {name} THING");
            } else {
                println!("  things  {}", names.join(", "));
            }
            println!("(policies of the group: airlock policy attached{d} --group {name})");
        }
        GroupCommand::Delete { name } => {
            ctx.call(Call::new(
                Method::Delete,
                format!("/thing-groups/{}", encode(&name)),
            ))
            .with_context(|| format!("deleting thing group {name}"))?;
            ctx.say(format!("Deleted thing group {name}."));
        }
        GroupCommand::AddThing { group, thing } => {
            ctx.call(
                Call::new(Method::Put, "/thing-groups/addThingToThingGroup")
                    .body(json!({"thingGroupName": group, "thingName": thing})),
            )
            .with_context(|| format!("adding thing {thing} to group {group}"))?;
            ctx.say(format!(
                "Added {thing} to {group}; the group's policies now apply to its certificates."
            ));
        }
        GroupCommand::RemoveThing { group, thing } => {
            ctx.call(
                Call::new(Method::Put, "/thing-groups/removeThingFromThingGroup")
                    .body(json!({"thingGroupName": group, "thingName": thing})),
            )
            .with_context(|| format!("removing thing {thing} from group {group}"))?;
            ctx.say(format!("Removed {thing} from {group}."));
        }
    }
    Ok(())
}
