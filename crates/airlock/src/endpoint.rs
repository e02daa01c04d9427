//! `airlock endpoint ...`: where devices connect (AWS's `describe-endpoint`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::Common;
use crate::admin::{Call, encode};
use crate::out::{Ctx, field, table};

/// `airlock endpoint`.
#[derive(Args, Debug)]
pub struct EndpointArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: EndpointCommand,
}

#[derive(Subcommand, Debug)]
enum EndpointCommand {
    /// The address devices use for an endpoint type (DescribeEndpoint), as the AWS CLI's
    /// `aws iot describe-endpoint --endpoint-type ...` prints it.
    Describe {
        /// `iot:Data-ATS` (MQTT), `iot:Data`, or `iot:CredentialProvider`.
        #[arg(long = "type", default_value = "iot:Data-ATS")]
        endpoint_type: String,
    },
    /// Every listener with its address and port.
    List,
}

pub fn run(args: EndpointArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    match args.command {
        EndpointCommand::Describe { endpoint_type } => {
            let r = ctx
                .call(Call::get(format!(
                    "/endpoint?endpointType={}",
                    encode(&endpoint_type)
                )))
                .with_context(|| format!("describing the {endpoint_type} endpoint"))?;
            ctx.say(format!(
                "{}:{}",
                field(&r.body, &["endpointAddress"]),
                field(&r.body, &["port"])
            ));
        }
        EndpointCommand::List => {
            let r = ctx
                .call(Call::get("/airlock/info"))
                .context("reading the endpoint list")?;
            let rows: Vec<Vec<String>> = r
                .body
                .get("endpoints")
                .and_then(|e| e.as_array())
                .map(|list| {
                    list.iter()
                        .map(|e| {
                            vec![
                                field(e, &["id"]),
                                field(e, &["protocol"]),
                                format!("{}:{}", field(e, &["address"]), field(e, &["port"])),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            ctx.say(table(&["ID", "PROTOCOL", "ADDRESS"], &rows));
        }
    }
    Ok(())
}
