//! The onboarding package: credentials, endpoints, README and the pubsub check script.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::out::{self, shell_quote};

/// The script, with `@NAME@` placeholders (shell-quoted values) and `@NAME_TEXT@` ones (the
/// same values for comments).
const PUBSUB_CHECK: &str = include_str!("pubsub-check.sh");

/// An MQTT endpoint as the device sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEndpoint {
    /// Endpoint id.
    pub id: String,
    /// Host to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Everything the package is made of.
pub struct Package<'a> {
    /// Thing name = client id.
    pub thing: &'a str,
    /// Topic prefix the policy allows.
    pub topic_prefix: &'a str,
    /// Certificate id.
    pub certificate_id: &'a str,
    /// Starter policy name.
    pub policy_name: &'a str,
    /// Device certificate PEM.
    pub cert_pem: &'a str,
    /// Device private key PEM.
    pub key_pem: &'a str,
    /// Root CA PEM.
    pub root_ca_pem: &'a str,
    /// MQTT endpoints (the first is the script's default).
    pub endpoints: &'a [DeviceEndpoint],
}

impl Package<'_> {
    /// The topic the pubsub check uses.
    pub fn check_topic(&self) -> String {
        format!("{}/pubsub-check", self.topic_prefix)
    }
}

/// Write the package into `dir`; returns the paths written, in a stable order.
pub fn write_package(dir: &Path, p: &Package<'_>) -> Result<Vec<PathBuf>> {
    let cert = dir.join(format!("{}.cert.pem", p.thing));
    let key = dir.join(format!("{}.private.key", p.thing));
    let root = dir.join("root-ca.pem");
    let endpoints = dir.join("endpoints.json");
    let readme = dir.join("README.txt");
    let script = dir.join("pubsub-check.sh");
    // The key first: it exists nowhere else.
    out::write_secret(&key, p.key_pem)?;
    out::write_public(&cert, p.cert_pem)?;
    out::write_public(&root, p.root_ca_pem)?;
    out::write_public(&endpoints, &endpoints_json(p))?;
    out::write_public(&readme, &readme_text(p))?;
    write_executable(&script, &pubsub_script(p))?;
    Ok(vec![cert, key, root, endpoints, readme, script])
}

fn write_executable(path: &Path, contents: &str) -> Result<()> {
    out::write_public(path, contents)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// `endpoints.json` of the package.
pub fn endpoints_json(p: &Package<'_>) -> String {
    let list: Vec<_> = p
        .endpoints
        .iter()
        .map(|e| json!({"id": e.id, "protocol": "mqtt", "tls": true, "host": e.host, "port": e.port}))
        .collect();
    let doc = json!({
        "thingName": p.thing,
        "clientId": p.thing,
        "topicPrefix": p.topic_prefix,
        "endpoints": list,
    });
    // Serialising a `Value` built from strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string());
    s.push('\n');
    s
}

/// `pubsub-check.sh` with this package's values filled in.
pub fn pubsub_script(p: &Package<'_>) -> String {
    let (host, port) = p
        .endpoints
        .first()
        .map(|e| (e.host.clone(), e.port.to_string()))
        .unwrap_or_default();
    let host_text = if host.is_empty() { "none" } else { &host };
    let port_text = if port.is_empty() { "none" } else { &port };
    PUBSUB_CHECK
        .replace("@THING_TEXT@", p.thing)
        .replace("@HOST_TEXT@", host_text)
        .replace("@PORT_TEXT@", port_text)
        .replace("@THING@", &shell_quote(p.thing))
        .replace("@TOPIC@", &shell_quote(&p.check_topic()))
        .replace("@HOST@", &quote_or_empty(&host))
        .replace("@PORT@", &quote_or_empty(&port))
}

/// A value for `${1:-VALUE}`: quoted, or nothing.
fn quote_or_empty(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        shell_quote(s)
    }
}

/// `README.txt` of the package.
pub fn readme_text(p: &Package<'_>) -> String {
    let t = p.thing;
    let prefix = p.topic_prefix;
    let (host, port) = p
        .endpoints
        .first()
        .map(|e| (e.host.clone(), e.port.to_string()))
        .unwrap_or_else(|| ("HOST".to_string(), "PORT".to_string()));
    let mut endpoints = String::new();
    for e in p.endpoints {
        endpoints.push_str(&format!("  {:<14} {}:{}\n", e.id, e.host, e.port));
    }
    if endpoints.is_empty() {
        endpoints
            .push_str("  (none configured with client certificates when this package was made)\n");
    }
    format!(
        "Airlock device package for thing {t}
{underline}

Files
  {t}.cert.pem      device certificate {id} (ACTIVE, attached to thing {t})
  {t}.private.key   its private key (mode 0600): copy it to the device only, never share it
  root-ca.pem       the CA of the broker's certificate; the device verifies the broker with it
  endpoints.json    the broker's MQTT endpoints (host, port) for programs
  pubsub-check.sh   connects, subscribes, publishes and receives, as the AWS SDK sample does

What the device may do (policy {policy})
  connect with MQTT client id {t}, and no other
  publish, receive and publish retained messages on topics under {prefix}/
  subscribe to topic filters under {prefix}/
Anything else is refused. Widen it with 'airlock policy version {policy} --document FILE --set-default'.

MQTT endpoints (mutual TLS)
{endpoints}
Check it (needs mosquitto-clients; works from any directory)
  ./pubsub-check.sh               uses {host} {port}
  ./pubsub-check.sh HOST PORT     another address of the same broker

With mosquitto, one client at a time (the policy allows client id {t} only, and a second
connection with the same client id takes the first one's place)
  mosquitto_sub -h {host} -p {port} --cafile root-ca.pem --cert {t}.cert.pem --key {t}.private.key -i {t} -t '{prefix}/#' -v
  mosquitto_pub -h {host} -p {port} --cafile root-ca.pem --cert {t}.cert.pem --key {t}.private.key -i {t} -t '{prefix}/hello' -m hi -q 1

With the AWS IoT Device SDK for Python v2 (samples/pubsub.py)
  python3 pubsub.py --endpoint {host} --port {port} --ca_file root-ca.pem --cert {t}.cert.pem --key {t}.private.key --client_id {t} --topic {prefix}/test

Host names
  The broker's server certificate names localhost, 127.0.0.1 and the names in [pki]
  server_names of its configuration. A device on another machine must connect with one of
  those names (not a bare IP address unless it is listed), or TLS verification fails.
",
        underline = "=".repeat(33 + t.len()),
        id = p.certificate_id,
        policy = p.policy_name,
    )
}
