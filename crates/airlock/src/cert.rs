//! `airlock cert ...`: device certificates through the admin API.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::Common;
use crate::admin::{Call, Method, encode, is_api_error};
use crate::out::{self, Ctx, field, shell_quote, table};
use crate::thing::cert_id_of;

/// `airlock cert`.
#[derive(Args, Debug)]
pub struct CertArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Subcommand, Debug)]
enum CertCommand {
    /// Issue a key and certificate for a thing (CreateKeysAndCertificate), creating the thing
    /// if needed, attaching the certificate to it and, with --policy, the policy to it.
    Create {
        /// Thing (device) name; created if it does not exist.
        #[arg(long)]
        thing: String,
        /// Policy to attach to the new certificate.
        #[arg(long)]
        policy: Option<String>,
        /// Directory to write NAME.cert.pem, NAME.private.key (0600) and root-ca.pem into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a CSR whose key never leaves the device (CreateCertificateFromCsr), then attach
    /// as `create` does.
    Sign {
        /// PEM certificate signing request.
        #[arg(long)]
        csr: PathBuf,
        /// Thing (device) name; created if it does not exist.
        #[arg(long)]
        thing: String,
        /// Policy to attach to the new certificate.
        #[arg(long)]
        policy: Option<String>,
        /// Directory to write NAME.cert.pem and root-ca.pem into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Revoke a certificate for good; clients using it are disconnected at once.
    Revoke {
        /// Certificate id.
        id: String,
    },
    /// Deactivate a certificate (reversible); clients using it are disconnected at once.
    Deactivate {
        /// Certificate id.
        id: String,
    },
    /// Activate an INACTIVE certificate.
    Activate {
        /// Certificate id.
        id: String,
    },
    /// List certificates (ListCertificates).
    List,
    /// Show a certificate, its things and policies (DescribeCertificate).
    Describe {
        /// Certificate id.
        id: String,
    },
    /// Register a certificate issued elsewhere (RegisterCertificate).
    Register {
        /// PEM certificate.
        #[arg(long)]
        cert: PathBuf,
        /// PEM of the registered CA that signed it.
        #[arg(long, conflicts_with = "no_ca")]
        ca_cert: Option<PathBuf>,
        /// Register it without a CA (RegisterCertificateWithoutCA; for SNI_ONLY use).
        #[arg(long)]
        no_ca: bool,
        /// Register it INACTIVE instead of ACTIVE.
        #[arg(long)]
        inactive: bool,
    },
    /// Delete an INACTIVE or REVOKED certificate (DeleteCertificate).
    Delete {
        /// Certificate id.
        id: String,
        /// Also when things or policies are still attached.
        #[arg(long)]
        force: bool,
    },
}

/// Refuse a thing name AWS IoT would refuse, before anything is sent.
pub fn check_thing_name(thing: &str) -> Result<()> {
    if thing.is_empty()
        || thing.len() > 128
        || !thing
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
    {
        anyhow::bail!(
            "thing name {thing:?} is invalid: use 1-128 characters from a-z A-Z 0-9 : _ - (AWS IoT's rule)"
        );
    }
    Ok(())
}

/// DescribeThing, and CreateThing when it does not exist. Returns whether it was created.
pub fn ensure_thing(ctx: &Ctx, thing: &str) -> Result<bool> {
    let path = format!("/things/{}", encode(thing));
    match ctx.lookup(Call::get(&path)) {
        Ok(_) => Ok(false),
        Err(e) if is_api_error(&e, "ResourceNotFoundException") => {
            ctx.call(Call::new(Method::Post, &path).body(json!({})))
                .with_context(|| format!("creating thing {thing}"))?;
            Ok(true)
        }
        Err(e) => Err(e.context(format!("looking up thing {thing}"))),
    }
}

/// AttachThingPrincipal, and AttachPolicy when `policy` is given.
pub fn attach(ctx: &Ctx, thing: &str, cert_arn: &str, policy: Option<&str>) -> Result<()> {
    let id = cert_id_of(cert_arn);
    let d = ctx.data_arg();
    ctx.call(
        Call::new(Method::Put, format!("/things/{}/principals", encode(thing))).principal(cert_arn),
    )
    .with_context(|| {
        format!(
            "attaching certificate {id} to thing {thing} (retry with: airlock thing attach-cert{d} {thing} --cert {id})"
        )
    })?;
    if let Some(p) = policy {
        ctx.call(
            Call::new(Method::Put, format!("/target-policies/{}", encode(p)))
                .body(json!({ "target": cert_arn })),
        )
        .with_context(|| {
            format!(
                "attaching policy {p} to certificate {id} (retry with: airlock policy attach{d} {p} --cert {id})"
            )
        })?;
    }
    Ok(())
}

/// Host and port of the first MQTT endpoint devices connect to with a certificate.
pub fn device_endpoint(ctx: &Ctx) -> Option<(String, u16)> {
    ctx.admin
        .endpoints()
        .iter()
        .find(|e| e.is_device_mqtt())
        .map(|e| (mqtt_host(&e.dial_host()), e.port))
}

/// The host a device on this machine uses: `localhost` for loopback, which the server
/// certificate always names, and the address itself otherwise.
pub fn mqtt_host(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".to_string(),
        _ => address.to_string(),
    }
}

fn credential_paths(out: &Path, thing: &str) -> (PathBuf, PathBuf, PathBuf) {
    (
        out.join(format!("{thing}.cert.pem")),
        out.join(format!("{thing}.private.key")),
        out.join("root-ca.pem"),
    )
}

pub fn run(args: CertArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    let d = ctx.data_arg();
    match args.command {
        CertCommand::Create { thing, policy, out } => create(&ctx, &thing, policy.as_deref(), &out),
        CertCommand::Sign {
            csr,
            thing,
            policy,
            out,
        } => sign(&ctx, &csr, &thing, policy.as_deref(), &out),
        CertCommand::Revoke { id } => set_status(&ctx, &id, "REVOKED"),
        CertCommand::Deactivate { id } => set_status(&ctx, &id, "INACTIVE"),
        CertCommand::Activate { id } => set_status(&ctx, &id, "ACTIVE"),
        CertCommand::List => {
            let certs = ctx.list_all(Call::get("/certificates"), "certificates")?;
            if certs.is_empty() {
                ctx.say(format!(
                    "No certificates yet. Issue one with: airlock cert create{d} --thing NAME --out DIR"
                ));
            } else {
                let rows: Vec<Vec<String>> = certs
                    .iter()
                    .map(|c| {
                        vec![
                            field(c, &["certificateId"]),
                            field(c, &["status"]),
                            field(c, &["certificateMode"]),
                            field(c, &["creationDate"]),
                        ]
                    })
                    .collect();
                ctx.say(table(&["ID", "STATUS", "MODE", "CREATED"], &rows));
            }
            Ok(())
        }
        CertCommand::Describe { id } => describe(&ctx, &id),
        CertCommand::Register {
            cert,
            ca_cert,
            no_ca,
            inactive,
        } => {
            let pem = out::read_text(&cert, "certificate")?;
            let status = if inactive { "INACTIVE" } else { "ACTIVE" };
            let call = if no_ca {
                Call::new(Method::Post, "/certificate/register-no-ca")
                    .body(json!({"certificatePem": pem, "status": status}))
            } else {
                let mut body = json!({"certificatePem": pem, "status": status});
                if let Some(ca) = &ca_cert {
                    body["caCertificatePem"] = json!(out::read_text(ca, "CA certificate")?);
                }
                Call::new(Method::Post, "/certificate/register").body(body)
            };
            let r = ctx
                .call(call)
                .with_context(|| format!("registering {}", cert.display()))?;
            let id = r.str("certificateId")?;
            ctx.say(format!("Registered certificate {id} ({status})"));
            ctx.say(format!(
                "Next: attach it to a thing and give it a policy:\n  airlock thing attach-cert{d} THING --cert {id}\n  airlock policy attach{d} POLICY --cert {id}"
            ));
            Ok(())
        }
        CertCommand::Delete { id, force } => {
            ctx.call(
                Call::new(Method::Delete, format!("/certificates/{}", encode(&id)))
                    .query_opt("forceDelete", force.then_some("true")),
            )
            .with_context(|| format!("deleting certificate {id}"))?;
            ctx.say(format!("Deleted certificate {id}."));
            Ok(())
        }
    }
}

fn create(ctx: &Ctx, thing: &str, policy: Option<&str>, out: &Path) -> Result<()> {
    check_thing_name(thing)?;
    let created = ensure_thing(ctx, thing)?;
    let r = ctx
        .call(Call::new(Method::Post, "/keys-and-certificate").query("setAsActive", "true"))
        .context("issuing a key and certificate")?;
    let arn = r.str("certificateArn")?;
    let id = r.str("certificateId")?;
    let pem = r.str("certificatePem")?;
    let key = r
        .body
        .get("keyPair")
        .and_then(|k| k.get("PrivateKey"))
        .and_then(Value::as_str)
        .context("the admin API's answer lacks keyPair.PrivateKey")?;
    // The private key exists only in this answer: write it before anything else can fail.
    let (cert_path, key_path, root_path) = credential_paths(out, thing);
    out::write_public(&cert_path, pem)?;
    out::write_secret(&key_path, key)?;
    out::write_public(&root_path, ctx.admin.root_ca_pem())?;
    attach(ctx, thing, arn, policy)?;
    if ctx.json {
        return Ok(());
    }
    let d = ctx.data_arg();
    if created {
        println!("Created thing {thing}");
    }
    println!("Issued certificate {id} for {thing} (ACTIVE, attached to {thing})");
    println!("  certificate  {}", cert_path.display());
    println!("  private key  {} (mode 0600)", key_path.display());
    println!("  root CA      {}", root_path.display());
    match policy {
        Some(p) => println!("  policy       {p}"),
        None => {
            println!();
            println!(
                "No policy is attached, so the broker refuses everything this certificate asks for. Attach one:"
            );
            println!("  airlock policy attach{d} POLICY --cert {id}");
            println!("(or let 'airlock device onboard' create a starter policy)");
        }
    }
    if let Some((host, port)) = device_endpoint(ctx) {
        println!();
        println!("Try it (client id = thing name; the policy decides which topics):");
        println!(
            "  mosquitto_sub -h {host} -p {port} --cafile {} --cert {} --key {} -i {thing} -t {} -v",
            shell_quote(&root_path.display().to_string()),
            shell_quote(&cert_path.display().to_string()),
            shell_quote(&key_path.display().to_string()),
            shell_quote(&format!("{thing}/#")),
        );
    }
    Ok(())
}

fn sign(ctx: &Ctx, csr: &Path, thing: &str, policy: Option<&str>, out: &Path) -> Result<()> {
    check_thing_name(thing)?;
    let csr_pem = out::read_text(csr, "certificate signing request")?;
    let created = ensure_thing(ctx, thing)?;
    let r = ctx
        .call(
            Call::new(Method::Post, "/certificates")
                .query("setAsActive", "true")
                .body(json!({ "certificateSigningRequest": csr_pem })),
        )
        .with_context(|| format!("signing {}", csr.display()))?;
    let arn = r.str("certificateArn")?;
    let id = r.str("certificateId")?;
    let pem = r.str("certificatePem")?;
    let (cert_path, _, root_path) = credential_paths(out, thing);
    out::write_public(&cert_path, pem)?;
    out::write_public(&root_path, ctx.admin.root_ca_pem())?;
    attach(ctx, thing, arn, policy)?;
    if ctx.json {
        return Ok(());
    }
    if created {
        println!("Created thing {thing}");
    }
    println!("Signed certificate {id} for {thing} (ACTIVE, attached to {thing})");
    println!("  certificate  {}", cert_path.display());
    println!("  root CA      {}", root_path.display());
    println!("  private key  stays where the CSR was made");
    if policy.is_none() {
        println!(
            "No policy is attached yet: airlock policy attach{} POLICY --cert {id}",
            ctx.data_arg()
        );
    }
    Ok(())
}

fn set_status(ctx: &Ctx, id: &str, status: &str) -> Result<()> {
    ctx.call(
        Call::new(Method::Put, format!("/certificates/{}", encode(id))).query("newStatus", status),
    )
    .with_context(|| format!("setting certificate {id} to {status}"))?;
    let d = ctx.data_arg();
    match status {
        "REVOKED" => ctx.say(format!(
            "Certificate {id} is REVOKED (final); clients using it were disconnected. Issue a new one with: airlock cert create{d} --thing NAME --out DIR"
        )),
        "INACTIVE" => ctx.say(format!(
            "Certificate {id} is INACTIVE; clients using it were disconnected. Undo with: airlock cert activate{d} {id}"
        )),
        _ => ctx.say(format!("Certificate {id} is ACTIVE.")),
    }
    Ok(())
}

fn describe(ctx: &Ctx, id: &str) -> Result<()> {
    let r = ctx
        .call(Call::get(format!("/certificates/{}", encode(id))))
        .with_context(|| format!("describing certificate {id}"))?;
    if ctx.json {
        return Ok(());
    }
    let c = r
        .body
        .get("certificateDescription")
        .context("the admin API's answer lacks certificateDescription")?;
    println!("Certificate {}", field(c, &["certificateId"]));
    println!("  arn        {}", field(c, &["certificateArn"]));
    println!("  status     {}", field(c, &["status"]));
    println!("  mode       {}", field(c, &["certificateMode"]));
    println!("  CA         {}", field(c, &["caCertificateId"]));
    println!("  created    {}", field(c, &["creationDate"]));
    println!(
        "  valid      {} .. {}",
        field(c, &["validity", "notBefore"]),
        field(c, &["validity", "notAfter"])
    );
    let arn = c
        .get("certificateArn")
        .and_then(Value::as_str)
        .unwrap_or(id);
    let things = ctx
        .lookup(Call::get("/principals/things").principal(arn))
        .context("listing the things of the certificate")?;
    println!("  things     {}", string_list(&things.body, "things"));
    let policies = ctx
        .lookup(Call::new(
            Method::Post,
            format!("/attached-policies/{}", encode(arn)),
        ))
        .context("listing the policies of the certificate")?;
    let names: Vec<String> = policies
        .body
        .get("policies")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|p| field(p, &["policyName"])).collect())
        .unwrap_or_default();
    if names.is_empty() {
        println!(
            "  policies   none (everything is refused); attach one with: airlock policy attach{} POLICY --cert {id}",
            ctx.data_arg()
        );
    } else {
        println!("  policies   {}", names.join(", "));
    }
    Ok(())
}

/// The strings of the array `key`, comma-separated, or `none`.
pub fn string_list(v: &Value, key: &str) -> String {
    let items: Vec<&str> = v
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
