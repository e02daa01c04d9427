//! `airlock doctor`: validate a set-up from where it runs, the way the seeds validate theirs
//! by hand (nslookup, a TLS connection, the pubsub sample): resolve each name, check it is a
//! private address, connect, check the server certificate for that name, and optionally run
//! the pubsub check with a device package. One line per check; a failure says what to fix.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use airlock_mqtt::{Connect, Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe};
use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use clap::Args;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long each network step may take.
const STEP: Duration = Duration::from_secs(5);

/// `airlock doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// A device package from `airlock device onboard` (its endpoints, root CA, certificate
    /// and key): checks its endpoints and runs the pubsub check with it.
    #[arg(long)]
    package: Option<PathBuf>,
    /// A name to check (repeatable); default: the package's endpoint hosts, or the server
    /// names of the Airlock in `--data`.
    #[arg(long = "name")]
    names: Vec<String>,
    /// Port to check; default: the package's or the Airlock's MQTT port.
    #[arg(long)]
    port: Option<u16>,
    /// Ask this DNS server (`IP:PORT`, e.g. Airlock's own responder) instead of the system's.
    #[arg(long)]
    dns: Option<SocketAddr>,
    /// Root CA to verify the server against; default: the package's, or `DATA/pki/root-ca.pem`.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Data directory of a local Airlock, used when no package is given.
    #[arg(long, env = "AIRLOCK_DATA", default_value = "./airlock-data")]
    data: PathBuf,
}

/// A device package's credentials and identity.
struct Package {
    cert: PathBuf,
    key: PathBuf,
    client_id: String,
    topic_prefix: String,
}

struct Report {
    color: bool,
    failed: usize,
}

impl Report {
    fn pass(&self, check: &str, what: impl AsRef<str>) {
        let tag = if self.color {
            "\x1b[32mPASS\x1b[0m"
        } else {
            "PASS"
        };
        println!("{tag}  {check:<8} {}", what.as_ref());
    }

    fn fail(&mut self, check: &str, what: impl AsRef<str>, fix: impl AsRef<str>) {
        self.failed += 1;
        let tag = if self.color {
            "\x1b[31mFAIL\x1b[0m"
        } else {
            "FAIL"
        };
        println!("{tag}  {check:<8} {}", what.as_ref());
        println!("      fix: {}", fix.as_ref());
    }
}

/// Run the checks; `Ok(true)` when every one passed.
pub fn run(args: DoctorArgs) -> Result<bool> {
    let (names, port, ca, package) = plan(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut report = Report {
        color: std::io::stdout().is_terminal(),
        failed: 0,
    };
    let roots = Arc::new(read_roots(&ca)?);
    for name in &names {
        runtime.block_on(check_name(
            &mut report,
            name,
            port,
            args.dns,
            &roots,
            package.as_ref(),
        ));
    }
    if report.failed == 0 {
        println!(
            "All {} name(s) checked: the set-up is healthy.",
            names.len()
        );
    } else {
        println!(
            "{} check(s) failed; fix them from the top down.",
            report.failed
        );
    }
    Ok(report.failed == 0)
}

/// Which names, port, root CA and package to use.
fn plan(args: &DoctorArgs) -> Result<(Vec<String>, u16, PathBuf, Option<Package>)> {
    if let Some(dir) = &args.package {
        let text = std::fs::read_to_string(dir.join("endpoints.json")).with_context(|| {
            format!(
                "reading {}/endpoints.json (is it a device package from 'airlock device onboard'?)",
                dir.display()
            )
        })?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}/endpoints.json is not JSON", dir.display()))?;
        let client_id = v["clientId"].as_str().unwrap_or_default().to_string();
        let endpoints = v["endpoints"].as_array().cloned().unwrap_or_default();
        let first = endpoints.first();
        let names = if args.names.is_empty() {
            endpoints
                .iter()
                .filter_map(|e| e["host"].as_str().map(str::to_string))
                .collect()
        } else {
            args.names.clone()
        };
        let port = args
            .port
            .or_else(|| {
                first
                    .and_then(|e| e["port"].as_u64())
                    .and_then(|p| u16::try_from(p).ok())
            })
            .unwrap_or(8883);
        let package = Package {
            cert: dir.join(format!("{client_id}.cert.pem")),
            key: dir.join(format!("{client_id}.private.key")),
            topic_prefix: v["topicPrefix"]
                .as_str()
                .map_or_else(|| format!("things/{client_id}"), str::to_string),
            client_id,
        };
        let ca = args.ca.clone().unwrap_or_else(|| dir.join("root-ca.pem"));
        return Ok((names, port, ca, Some(package)));
    }
    let ca = args
        .ca
        .clone()
        .unwrap_or_else(|| args.data.join("pki").join("root-ca.pem"));
    let (names, port) = if args.names.is_empty() || args.port.is_none() {
        let admin = crate::admin::Admin::connect(&args.data)?;
        let info = admin
            .call(&crate::admin::Call::get("/airlock/info"))
            .context("asking the Airlock in --data for its names and endpoints")?
            .body;
        let names = if args.names.is_empty() {
            let mut n: Vec<String> = info["domainNames"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if n.is_empty() {
                n.push("localhost".into());
            }
            n
        } else {
            args.names.clone()
        };
        let port = args.port.or_else(|| {
            info["endpoints"].as_array()?.iter().find_map(|e| {
                (e["protocol"] == "mqtt")
                    .then(|| e["port"].as_u64().and_then(|p| u16::try_from(p).ok()))?
            })
        });
        (names, port.unwrap_or(8883))
    } else {
        (args.names.clone(), args.port.unwrap_or(8883))
    };
    if names.is_empty() {
        bail!("no names to check: give --name NAME, --package DIR, or --data of a running Airlock");
    }
    Ok((names, port, ca, None))
}

fn read_roots(ca: &Path) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("reading root CA {}", ca.display()))?
    {
        roots
            .add(c.with_context(|| format!("{} is not a PEM certificate", ca.display()))?)
            .with_context(|| format!("{} is not a usable CA certificate", ca.display()))?;
    }
    Ok(roots)
}

async fn check_name(
    r: &mut Report,
    name: &str,
    port: u16,
    dns: Option<SocketAddr>,
    roots: &Arc<rustls::RootCertStore>,
    package: Option<&Package>,
) {
    let addresses = match resolve(name, port, dns).await {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => {
            return r.fail(
                "resolve",
                format!("{name}: no address"),
                "add an A record for it (Airlock's [dns] zone or your DNS server)",
            );
        }
        Err(e) => {
            return r.fail(
                "resolve",
                format!("{name}: {e:#}"),
                "check the name and the DNS server this machine (or --dns) uses",
            );
        }
    };
    let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    let public: Vec<&IpAddr> = addresses.iter().filter(|ip| !is_private(**ip)).collect();
    if public.is_empty() {
        r.pass(
            "resolve",
            format!("{name} -> {} (private)", list.join(", ")),
        );
    } else {
        r.fail(
            "resolve",
            format!(
                "{name} -> {} includes public address(es) {}",
                list.join(", "),
                public.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            "point the name at Airlock's private address (the record in [dns] or your private zone); devices must not leave the private network",
        );
    }
    for ip in addresses {
        let addr = SocketAddr::new(ip, port);
        let tcp = match tokio::time::timeout(STEP, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(t)) => {
                r.pass("connect", format!("{addr} is open"));
                t
            }
            Ok(Err(e)) => {
                r.fail(
                    "connect",
                    format!("{addr}: {e}"),
                    format!("is 'airlock up' running with an [[endpoint]] bound to {ip}:{port}? (closed port, or a firewall in between)"),
                );
                continue;
            }
            Err(_) => {
                r.fail(
                    "connect",
                    format!("{addr}: no answer in {} s", STEP.as_secs()),
                    "a firewall drops the traffic, or the address is wrong",
                );
                continue;
            }
        };
        match tls(tcp, name, roots, package).await {
            Ok(stream) => {
                r.pass(
                    "tls",
                    format!("{addr} presents a certificate valid for {name}"),
                );
                if let Some(p) = package {
                    match pubsub(stream, p).await {
                        Ok(topic) => r.pass(
                            "pubsub",
                            format!("{addr}: {} subscribed, published and received its own message on {topic}", p.client_id),
                        ),
                        Err(e) => r.fail(
                            "pubsub",
                            format!("{addr}: {e:#}"),
                            format!("check the device's certificate and policy: airlock policy test --thing {} --client-id {} --action iot:Publish --resource topic/{}/doctor", p.client_id, p.client_id, p.topic_prefix),
                        ),
                    }
                }
            }
            Err(e) => r.fail("tls", format!("{addr} for {name}: {e}"), tls_fix(&e, name)),
        }
    }
}

fn tls_fix(e: &std::io::Error, name: &str) -> String {
    let text = e.to_string();
    if text.contains("NotValidForName") || text.contains("not valid for name") {
        format!(
            "the server certificate does not name {name}: add it to server_names in the configuration and restart Airlock (or give this domain its own certificate)"
        )
    } else if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        "the server certificate is not from this root CA: use the root-ca.pem of the Airlock you mean to reach (a different Airlock, or a proxy terminating TLS?)".to_string()
    } else if text.contains("Expired") || text.contains("expired") {
        "the server certificate has expired: restart Airlock to reissue it, or replace it"
            .to_string()
    } else {
        "make sure the port is Airlock's TLS endpoint (not a PROXY-protocol endpoint or another service)".to_string()
    }
}

/// True for addresses that stay inside a private network.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                // 100.64.0.0/10, carrier-grade NAT, used inside many plant networks.
                || (o[0] == 100 && (o[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments()[0];
            v6.is_loopback()
                || (seg & 0xFE00) == 0xFC00
                || (seg & 0xFFC0) == 0xFE80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

async fn resolve(name: &str, port: u16, dns: Option<SocketAddr>) -> Result<Vec<IpAddr>> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let Some(server) = dns else {
        let found = tokio::time::timeout(STEP, tokio::net::lookup_host((name, port)))
            .await
            .context("the system resolver did not answer in time")?
            .context("the system resolver found no address")?;
        let mut out: Vec<IpAddr> = Vec::new();
        for a in found {
            if !out.contains(&a.ip()) {
                out.push(a.ip());
            }
        }
        return Ok(out);
    };
    let mut query = Message::query();
    query.add_query(Query::query(
        Name::from_str(name).with_context(|| format!("{name} is not a DNS name"))?,
        RecordType::A,
    ));
    query.metadata.recursion_desired = true;
    let bytes = query.to_vec().context("encoding the DNS query")?;
    let sock = tokio::net::UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await
    .context("opening a UDP socket")?;
    sock.send_to(&bytes, server)
        .await
        .with_context(|| format!("sending to {server}"))?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(STEP, sock.recv(&mut buf))
        .await
        .with_context(|| format!("no answer from DNS server {server}"))?
        .context("receiving the DNS answer")?;
    let answer = Message::from_vec(&buf[..n]).context("the DNS answer does not parse")?;
    let code = answer.metadata.response_code;
    if code != hickory_proto::op::ResponseCode::NoError {
        bail!("DNS server {server} answered {code}");
    }
    Ok(answer
        .answers
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect())
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn tls(
    tcp: tokio::net::TcpStream,
    name: &str,
    roots: &Arc<rustls::RootCertStore>,
    package: Option<&Package>,
) -> std::io::Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots.clone());
    let config = match package {
        Some(p) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&p.cert)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| std::io::Error::other(format!("{}: {e}", p.cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(&p.key)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", p.key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(std::io::Error::other)?
        }
        None => builder.with_no_client_auth(),
    };
    let server_name = ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(STEP, connector.connect(server_name, tcp))
        .await
        .map_err(|_| std::io::Error::other("the TLS handshake did not finish in time"))?
}

/// One connection as the device: subscribe, publish, receive the message back (pubsub.py).
async fn pubsub(mut s: Tls, p: &Package) -> Result<String> {
    let topic = format!("{}/doctor-check", p.topic_prefix);
    let v5 = ProtocolVersion::V5;
    let payload = Bytes::from(format!("airlock doctor {}", std::process::id()));
    send(
        &mut s,
        &Packet::Connect(Connect {
            protocol: v5,
            clean_start: true,
            keep_alive: 30,
            client_id: p.client_id.clone(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        }),
    )
    .await?;
    let mut buf = BytesMut::new();
    match next(&mut s, &mut buf).await? {
        Packet::ConnAck(a) if a.code == 0 => {}
        Packet::ConnAck(a) => bail!(
            "CONNACK 0x{:02X} as client id {}{}",
            a.code,
            p.client_id,
            a.properties
                .reason_string
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        other => bail!("expected CONNACK, got {other:?}"),
    }
    send(
        &mut s,
        &Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(
                topic.clone(),
                airlock_mqtt::SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 2,
                },
            )],
            properties: Properties::default(),
        }),
    )
    .await?;
    match next(&mut s, &mut buf).await? {
        Packet::SubAck(a) if a.reasons.first().is_some_and(|c| *c < 0x80) => {}
        Packet::SubAck(a) => bail!(
            "SUBACK refused {topic} (0x{:02X})",
            a.reasons.first().copied().unwrap_or(0)
        ),
        other => bail!("expected SUBACK, got {other:?}"),
    }
    send(
        &mut s,
        &Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: topic.clone(),
            packet_id: Some(2),
            properties: Properties::default(),
            payload: payload.clone(),
        }),
    )
    .await?;
    let mut acked = false;
    let mut received = false;
    while !(acked && received) {
        match next(&mut s, &mut buf).await? {
            Packet::PubAck(a) if a.packet_id == 2 => {
                if a.reason >= 0x80 {
                    bail!("PUBACK refused {topic} (0x{:02X})", a.reason);
                }
                acked = true;
            }
            Packet::Publish(m) if m.topic == topic && m.payload == payload => {
                if let Some(id) = m.packet_id {
                    send(
                        &mut s,
                        &Packet::PubAck(airlock_mqtt::PubAck {
                            packet_id: id,
                            reason: 0,
                            properties: Properties::default(),
                        }),
                    )
                    .await?;
                }
                received = true;
            }
            Packet::Disconnect(d) => bail!("disconnected by the broker (0x{:02X})", d.reason),
            _ => {}
        }
    }
    let _ = send(
        &mut s,
        &Packet::Disconnect(airlock_mqtt::Disconnect {
            reason: 0,
            properties: Properties::default(),
        }),
    )
    .await;
    Ok(topic)
}

async fn send(s: &mut Tls, p: &Packet) -> Result<()> {
    let mut out = BytesMut::new();
    airlock_mqtt::encode(p, ProtocolVersion::V5, &mut out).context("encoding a packet")?;
    s.write_all(&out).await.context("writing to the broker")?;
    s.flush().await.context("writing to the broker")
}

async fn next(s: &mut Tls, buf: &mut BytesMut) -> Result<Packet> {
    loop {
        if let Some(p) = airlock_mqtt::decode(buf, ProtocolVersion::V5, 1 << 20)
            .context("the broker sent bytes that are not MQTT")?
        {
            return Ok(p);
        }
        let n = tokio::time::timeout(STEP, s.read_buf(buf))
            .await
            .context("the broker did not answer in time")?
            .context("the connection failed (refused at TLS? check the certificate's status)")?;
        if n == 0 {
            bail!("the broker closed the connection (certificate not registered or not ACTIVE?)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_private;

    #[test]
    fn private_and_public_addresses() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:db8::1",
            "1.1.1.1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
