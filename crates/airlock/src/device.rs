//! `airlock device onboard`: thing, starter policy, certificate and a package of files to copy
//! to the device, in one step.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode, is_api_error};
use crate::cert::{attach, check_thing_name, mqtt_host};
use crate::out::{Ctx, shell_quote};

mod package;
#[cfg(test)]
mod tests;

pub use package::{DeviceEndpoint, Package, write_package};

/// `airlock device`.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Create thing NAME, a starter policy NAME-starter (connect as NAME, publish, receive and
    /// subscribe under the topic prefix), a certificate with both attached, and a directory
    /// with everything the device needs plus pubsub-check.sh to prove it works.
    Onboard {
        /// Thing name; also the only MQTT client id the starter policy allows.
        name: String,
        /// Directory to write the package into.
        #[arg(long)]
        out: PathBuf,
        /// Topic prefix the device may use [default: things/NAME].
        #[arg(long)]
        topic_prefix: Option<String>,
    },
}

/// Refuse a topic prefix that would not mean what it says in a policy resource: wildcards
/// (`*`, `?` are policy wildcards, `+`, `#` MQTT ones), policy variables, empty levels.
pub fn check_topic_prefix(prefix: &str) -> Result<()> {
    let bad = if prefix.is_empty() {
        Some("it is empty")
    } else if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        Some("it has an empty topic level (a leading, trailing or double '/')")
    } else if prefix.contains(['*', '?', '+', '#']) {
        Some("it contains a wildcard (* ? + #)")
    } else if prefix.contains("${") {
        Some("it contains a policy variable (${...})")
    } else if prefix.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if prefix.starts_with('$') {
        Some("topics starting with '$' are reserved")
    } else {
        None
    };
    match bad {
        Some(why) => anyhow::bail!("topic prefix {prefix:?} cannot be used: {why}"),
        None => Ok(()),
    }
}

/// The starter policy of a device: connect as `thing` only; publish, receive and retain on
/// `prefix/*`; subscribe to filters under `prefix/*`.
pub fn starter_policy(region: &str, account: &str, thing: &str, prefix: &str) -> String {
    // Region and account are written out rather than `*`: in policy resources `*` matches
    // any characters including ':' and '/', so `arn:aws:iot:*:*:topic/things/d1/*` also
    // matches the topic `x:y:topic/things/d1/z` (the second `*` stretches over "ACCOUNT:topic/x:y")
    // and `arn:aws:iot:*:*:client/d1` the client id `a:client/d1`. With literal names the
    // only freedom is the `*` after the prefix.
    let arn = |rest: String| format!("arn:aws:iot:{region}:{account}:{rest}");
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsThingName",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn(format!("client/{thing}")),
            },
            {
                "Sid": "PublishReceiveUnderPrefix",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish"],
                "Resource": arn(format!("topic/{prefix}/*")),
            },
            {
                "Sid": "SubscribeUnderPrefix",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": arn(format!("topicfilter/{prefix}/*")),
            },
        ],
    });
    doc.to_string()
}

/// The MQTT endpoints devices connect to: the `mqtt` entries of `/airlock/info`, less those
/// `endpoints.json` says run without TLS or client certificates.
pub fn device_endpoints(
    info: &Value,
    local: &[crate::admin::EndpointEntry],
) -> Vec<DeviceEndpoint> {
    let Some(list) = info.get("endpoints").and_then(Value::as_array) else {
        return Vec::new();
    };
    // A DNS name in the server certificate is what devices should use (AWS's endpoint host
    // names, the seeds' custom domains); the bound address only when there is none.
    let domain = info
        .get("domainNames")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(Value::as_str);
    list.iter()
        .filter(|e| e.get("protocol").and_then(Value::as_str) == Some("mqtt"))
        .filter_map(|e| {
            let id = e.get("id").and_then(Value::as_str)?;
            let address = e.get("address").and_then(Value::as_str)?;
            let port = u16::try_from(e.get("port").and_then(Value::as_u64)?).ok()?;
            if let Some(l) = local.iter().find(|l| l.id == id)
                && !l.is_device_mqtt()
            {
                return None;
            }
            Some(DeviceEndpoint {
                id: id.to_string(),
                host: domain.map_or_else(|| mqtt_host(address), str::to_string),
                port,
            })
        })
        .collect()
}

pub fn run(args: DeviceArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    match args.command {
        DeviceCommand::Onboard {
            name,
            out,
            topic_prefix,
        } => onboard(&ctx, &name, &out, topic_prefix),
    }
}

fn onboard(ctx: &Ctx, name: &str, out: &std::path::Path, prefix: Option<String>) -> Result<()> {
    check_thing_name(name)?;
    if name.contains(':') {
        anyhow::bail!(
            "thing name {name:?} contains ':', which a policy name ({name}-starter) cannot; onboard it under a name of a-z A-Z 0-9 _ -"
        );
    }
    let prefix = prefix.unwrap_or_else(|| format!("things/{name}"));
    check_topic_prefix(&prefix)?;
    let d = ctx.data_arg();

    let info = ctx
        .call(Call::get("/airlock/info"))
        .context("asking the server for its region, account and endpoints")?;
    let region = info.str("region")?;
    let account = info.str("accountId")?;
    let root_ca = info
        .body
        .get("rootCaPem")
        .and_then(Value::as_str)
        .unwrap_or(ctx.admin.root_ca_pem());

    // CreateThing; a thing that exists already (a second device certificate, or a rerun
    // after a failure) is used as it is.
    let created_thing = match ctx
        .call(Call::new(Method::Post, format!("/things/{}", encode(name))).body(json!({})))
    {
        Ok(_) => true,
        Err(e) if is_api_error(&e, "ResourceAlreadyExistsException") => false,
        Err(e) => return Err(e.context(format!("creating thing {name}"))),
    };

    let policy_name = format!("{name}-starter");
    let document = starter_policy(region, account, name, &prefix);
    let created_policy = match ctx.call(
        Call::new(Method::Post, format!("/policies/{}", encode(&policy_name)))
            .body(json!({ "policyDocument": document })),
    ) {
        Ok(_) => true,
        Err(e) if is_api_error(&e, "ResourceAlreadyExistsException") => {
            // Reuse it only if it says exactly what this onboarding would write.
            let existing = ctx
                .lookup(Call::get(format!("/policies/{}", encode(&policy_name))))
                .with_context(|| format!("reading the existing policy {policy_name}"))?;
            let same = existing
                .str("policyDocument")
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                == serde_json::from_str::<Value>(&document).ok();
            if !same {
                anyhow::bail!(
                    "policy {policy_name} exists with a different document (another topic prefix?); look at it with 'airlock policy get{d} {policy_name}', or delete it with 'airlock policy delete{d} {policy_name}' and onboard again"
                );
            }
            false
        }
        Err(e) => return Err(e.context(format!("creating policy {policy_name}"))),
    };

    let cert = ctx
        .call(Call::new(Method::Post, "/keys-and-certificate").query("setAsActive", "true"))
        .context("issuing a key and certificate")?;
    let cert_arn = cert.str("certificateArn")?;
    let cert_id = cert.str("certificateId")?;
    let key = cert
        .body
        .get("keyPair")
        .and_then(|k| k.get("PrivateKey"))
        .and_then(Value::as_str)
        .context("the admin API's answer lacks keyPair.PrivateKey")?;

    let endpoints = device_endpoints(&info.body, ctx.admin.endpoints());
    // The private key exists only in the answer above: write the package before anything
    // else can fail.
    let package = Package {
        thing: name,
        topic_prefix: &prefix,
        certificate_id: cert_id,
        policy_name: &policy_name,
        cert_pem: cert.str("certificatePem")?,
        key_pem: key,
        root_ca_pem: root_ca,
        endpoints: &endpoints,
    };
    let paths = write_package(out, &package)?;
    attach(ctx, name, cert_arn, Some(&policy_name))?;

    if ctx.json {
        return Ok(());
    }
    println!(
        "Onboarded {name}: thing {}, policy {policy_name} {}, certificate {cert_id} (ACTIVE)",
        if created_thing { "created" } else { "existed" },
        if created_policy {
            "created"
        } else {
            "existed (same document)"
        },
    );
    println!("  may connect as client id {name} only");
    println!("  may publish, receive, retain and subscribe under {prefix}/");
    println!("Package {}:", out.display());
    for p in &paths {
        println!("  {}", p.display());
    }
    println!();
    match endpoints.first() {
        Some(_) => println!(
            "Check it end to end (needs mosquitto-clients):\n  {}",
            shell_quote(&out.join("pubsub-check.sh").display().to_string())
        ),
        None => println!(
            "No MQTT endpoint with client certificates is configured; pass the broker's address to the check:\n  {} HOST PORT",
            shell_quote(&out.join("pubsub-check.sh").display().to_string())
        ),
    }
    if let Some(e) = endpoints.first() {
        println!(
            "Copy the directory to the device; it connects to {}:{} (from another machine use a name in the server certificate, see README.txt).",
            e.host, e.port
        );
    }
    Ok(())
}
