//! Start and stop the real binary; certificates and client configurations for tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use airlock_mqtt::reason as rc;
use airlock_mqtt::{
    ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubAck, Publish, QoS,
    Subscribe, SubscriptionOptions, decode, encode,
};
use bytes::{Bytes, BytesMut};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Path of the binary under test.
pub fn airlock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// A device's credentials as written by `airlock cert create`.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// The policy every [`Airlock::device`] gets: broker tests are not about authorization.
pub const ALLOW_ALL: &str = "test-allow-all";
const ALLOW_ALL_DOCUMENT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

/// A running `airlock up` with its own data directory.
pub struct Airlock {
    pub data: tempfile::TempDir,
    pub config: PathBuf,
    pub child: Option<Child>,
    /// Port of the mutual-TLS MQTT endpoint `default`.
    pub port: u16,
    /// Port of the metrics endpoint.
    pub metrics_port: u16,
    /// Port of the plain-TCP anonymous endpoint `lab`, when configured with `with_lab`.
    pub lab_port: Option<u16>,
    pub stderr_log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Airlock {
    /// Start with default settings plus `extra` TOML appended (e.g. an `[mqtt]` table).
    pub fn start(extra: &str) -> Airlock {
        Self::start_inner("", extra, false)
    }

    /// [`Airlock::start`] with top-level settings `top` (e.g. `server_names = [...]`), which
    /// TOML needs before the first table.
    pub fn start_with_top(top: &str, extra: &str) -> Airlock {
        Self::start_inner(top, extra, false)
    }

    /// Also open a plain-TCP endpoint `lab` with `authentication = "none"`.
    pub fn start_with_lab(extra: &str) -> Airlock {
        Self::start_inner("", extra, true)
    }

    fn start_inner(top: &str, extra: &str, lab: bool) -> Airlock {
        let data = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let metrics_port = free_port();
        let lab_port = lab.then(free_port);
        let admin_port = free_port();
        let mut cfg = format!(
            "{top}\n[[endpoint]]\nid = \"default\"\nbind = \"127.0.0.1:{port}\"\n\n[metrics]\nbind = \"127.0.0.1:{metrics_port}\"\n\n[admin]\nbind = \"127.0.0.1:{admin_port}\"\n\n"
        );
        if let Some(lp) = lab_port {
            cfg.push_str(&format!(
                "[[endpoint]]\nid = \"lab\"\nbind = \"127.0.0.1:{lp}\"\ntls = false\nauthentication = \"none\"\nanonymous_policy = \"{ALLOW_ALL}\"\n\n"
            ));
        }
        cfg.push_str(extra);
        let config = data.path().join("airlock.toml");
        std::fs::write(&config, cfg).expect("write config");
        let stderr_log = data.path().join("airlock.log");
        let mut a = Airlock {
            data,
            config,
            child: None,
            port,
            metrics_port,
            lab_port,
            stderr_log,
        };
        a.spawn();
        let doc = a.data.path().join("allow-all.json");
        std::fs::write(&doc, ALLOW_ALL_DOCUMENT).expect("write policy");
        a.cli_ok(&[
            "policy",
            "create",
            ALLOW_ALL,
            "--document",
            &doc.to_string_lossy(),
        ]);
        a
    }

    /// Run `airlock ARGS --data DATA` (the CLI, over the admin API) and return its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(airlock_bin())
            .args(args)
            .arg("--data")
            .arg(self.data_dir())
            .output()
            .expect("run the airlock CLI")
    }

    /// [`Airlock::cli`], insisting on success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "airlock {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// [`Airlock::cli_ok`] with `--json`, parsed.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.cli_ok(&args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("airlock {}: not JSON ({e}): {out}", args.join(" ")))
    }

    /// The certificate id (SHA-256 of the DER) of `device`'s certificate.
    pub fn certificate_id(device: &Device) -> String {
        let der = CertificateDer::from_pem_file(&device.cert).expect("device certificate");
        airlock_pki::certificate_id(der.as_ref())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    /// (Re)start the process on the same data directory and ports; waits until it listens.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_log)
            .expect("log file");
        let mut child = Command::new(airlock_bin())
            .arg("up")
            .arg("--data")
            .arg(self.data_dir())
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn airlock");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("Airlock is up") {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!("airlock did not come up within 30 s; log:\n{}", self.log());
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// SIGKILL the process (no shutdown, no flush).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited with status 0.
    pub fn sigterm(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Issue a device certificate for thing `name` with `airlock cert create`, with the
    /// allow-everything test policy attached (tests of the broker, not of policies).
    pub fn device(&self, name: &str) -> Device {
        self.device_with_policy(name, Some(ALLOW_ALL))
    }

    /// Issue a device certificate for thing `name` (created if missing) with `policy`
    /// attached, or none.
    pub fn device_with_policy(&self, name: &str, policy: Option<&str>) -> Device {
        let out = self.data.path().join("devices").join(name);
        let out_s = out.to_string_lossy().into_owned();
        let mut args = vec!["cert", "create", "--thing", name, "--out", &out_s];
        if let Some(p) = policy {
            args.extend(["--policy", p]);
        }
        self.cli_ok(&args);
        Device {
            name: name.to_string(),
            cert: out.join(format!("{name}.cert.pem")),
            key: out.join(format!("{name}.private.key")),
            ca: out.join("root-ca.pem"),
        }
    }

    /// Text of the Prometheus metrics endpoint.
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port))
            .expect("metrics connect");
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }
}

impl Drop for Airlock {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("read CA") {
        roots.add(c.expect("CA pem")).expect("add CA");
    }
    roots
}

/// A rustls client config presenting `device`'s certificate (or none) and trusting Airlock's CA.
pub fn client_tls(device: Option<&Device>, ca: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots(ca));
    let mut cfg = match device {
        Some(d) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&d.cert)
                .expect("cert")
                .collect::<Result<_, _>>()
                .expect("cert pem");
            let key = PrivateKeyDer::from_pem_file(&d.key).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// Open a raw TLS connection to the broker offering the ALPN protocols `alpn` (may be empty).
pub async fn raw_tls(
    port: u16,
    device: Option<&Device>,
    ca: &Path,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let connector = tokio_rustls::TlsConnector::from(client_tls(device, ca, alpn));
    connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// rumqttc's transport: mutual TLS as `device`.
fn rumqttc_tls(device: &Device) -> rumqttc::Transport {
    rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(client_tls(
        Some(device),
        &device.ca,
        &[],
    )))
}

/// rumqttc (MQTT 3.1.1) options for `device` with client id `client_id`.
pub fn v4_options(a: &Airlock, device: &Device, client_id: &str) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(client_id, "localhost", a.port);
    o.set_transport(rumqttc_tls(device));
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// rumqttc (MQTT 5) options for `device` with client id `client_id`.
pub fn v5_options(a: &Airlock, device: &Device, client_id: &str) -> rumqttc::v5::MqttOptions {
    let mut o = rumqttc::v5::MqttOptions::new(client_id, "localhost", a.port);
    o.set_transport(rumqttc_tls(device));
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// mosquitto client arguments for mutual TLS with `device`.
pub fn mosquitto_tls_args(a: &Airlock, device: &Device) -> Vec<String> {
    vec![
        "-h".into(),
        "localhost".into(),
        "-p".into(),
        a.port.to_string(),
        "--cafile".into(),
        device.ca.display().to_string(),
        "--cert".into(),
        device.cert.display().to_string(),
        "--key".into(),
        device.key.display().to_string(),
    ]
}

/// Whether the mosquitto clients are installed (`.ci/run` installs them).
pub fn have_mosquitto_clients() -> bool {
    Command::new("mosquitto_pub")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

// ---------------------------------------------------------------------------------------
// A raw MQTT client: byte-level, over TLS or plain TCP, built on the `airlock_mqtt` codec.
// ---------------------------------------------------------------------------------------

/// Upper bound for any single expected reaction (never a speed assertion: only a hang fails).
pub const WAIT: Duration = Duration::from_secs(10);

/// A byte stream a [`RawMqtt`] can run over (TLS or plain TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What one read attempt of a [`RawMqtt`] produced.
// Packet is large (CONNECT); one value at a time, never stored: not worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Rx {
    /// One decoded packet.
    Packet(Packet),
    /// EOF, TLS close, reset or broken pipe.
    Closed,
    /// Nothing arrived within the wait.
    Timeout,
    /// Bytes that do not decode, or another read error (e.g. a TLS alert).
    Error(String),
}

/// A byte-level MQTT client: encodes and decodes with `airlock_mqtt`, or writes any bytes at all.
pub struct RawMqtt {
    pub io: Box<dyn Io>,
    pub buf: BytesMut,
    pub version: ProtocolVersion,
}

/// A CONNECT for `client_id`: keep alive 60 s, no will, no credentials, no properties.
pub fn connect_packet(version: ProtocolVersion, client_id: &str, clean_start: bool) -> Connect {
    Connect {
        protocol: version,
        clean_start,
        keep_alive: 60,
        client_id: client_id.to_string(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }
}

/// A v5 CONNECT like [`connect_packet`] with Session Expiry Interval `expiry` seconds.
pub fn expiring_connect(client_id: &str, clean_start: bool, expiry: u32) -> Connect {
    let mut c = connect_packet(ProtocolVersion::V5, client_id, clean_start);
    c.properties.session_expiry_interval = Some(expiry);
    c
}

/// A PUBLISH without properties; it has a packet id (`pid`) exactly when `qos` > 0.
pub fn publish(topic: &str, payload: &[u8], qos: QoS, pid: u16, retain: bool) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic.to_string(),
        packet_id: (qos != QoS::AtMostOnce).then_some(pid),
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload),
    }
}

/// [`publish`] as a packet.
pub fn publish_packet(topic: &str, payload: &[u8], qos: QoS, pid: u16, retain: bool) -> Packet {
    Packet::Publish(publish(topic, payload, qos, pid, retain))
}

fn success_ack(pid: u16) -> PubAck {
    PubAck {
        packet_id: pid,
        reason: rc::SUCCESS,
        properties: Properties::default(),
    }
}

/// PUBACK `pid` with reason Success.
pub fn puback(pid: u16) -> Packet {
    Packet::PubAck(success_ack(pid))
}

/// PUBREL `pid` with reason Success.
pub fn pubrel(pid: u16) -> Packet {
    Packet::PubRel(success_ack(pid))
}

/// Subscription options with `qos` and everything else at its default.
pub fn sub_options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
    }
}

/// A SUBSCRIBE to one filter at `qos`, without properties.
pub fn subscribe_packet(pid: u16, filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: pid,
        filters: vec![(filter.to_string(), sub_options(qos))],
        properties: Properties::default(),
    })
}

/// The bytes of `p` as `version` encodes it.
pub fn encode_packet(p: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(p, version, &mut out).expect("encode");
    out.to_vec()
}

impl RawMqtt {
    /// Wrap an established stream.
    pub fn new(io: impl Io + 'static, version: ProtocolVersion) -> RawMqtt {
        RawMqtt {
            io: Box::new(io),
            buf: BytesMut::with_capacity(16 * 1024),
            version,
        }
    }

    /// A mutual-TLS connection to `a`'s default endpoint as `device`; nothing sent yet.
    pub async fn tls(a: &Airlock, device: &Device, version: ProtocolVersion) -> RawMqtt {
        let s = tokio::time::timeout(WAIT, raw_tls(a.port, Some(device), &device.ca, &[]))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake");
        RawMqtt::new(s, version)
    }

    /// A plain TCP connection; nothing sent yet.
    pub async fn tcp(port: u16, version: ProtocolVersion) -> RawMqtt {
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("TCP connect");
        s.set_nodelay(true).expect("nodelay");
        RawMqtt::new(s, version)
    }

    /// TLS connect as `device`, send `connect`, read the CONNACK (any code).
    pub async fn connect(a: &Airlock, device: &Device, connect: Connect) -> (RawMqtt, ConnAck) {
        let mut c = RawMqtt::tls(a, device, connect.protocol).await;
        c.send(&Packet::Connect(connect)).await;
        let ack = c.expect_connack().await;
        (c, ack)
    }

    /// [`RawMqtt::connect`], insisting on CONNACK success.
    pub async fn connect_ok(a: &Airlock, device: &Device, connect: Connect) -> (RawMqtt, ConnAck) {
        let (c, ack) = RawMqtt::connect(a, device, connect).await;
        assert_eq!(ack.code, rc::SUCCESS, "CONNACK refused: {ack:?}");
        (c, ack)
    }

    /// A connected clean-start client `client_id` (CONNACK success).
    pub async fn client(
        a: &Airlock,
        device: &Device,
        version: ProtocolVersion,
        client_id: &str,
    ) -> RawMqtt {
        let connect = connect_packet(version, client_id, true);
        RawMqtt::connect_ok(a, device, connect).await.0
    }

    /// The next packet must be a CONNACK.
    pub async fn expect_connack(&mut self) -> ConnAck {
        match self.recv(WAIT).await {
            Rx::Packet(Packet::ConnAck(ack)) => ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Write `bytes` as they are; the error, if any, is the caller's.
    pub async fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Write `bytes` as they are; panics on failure or hang.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.try_write(bytes))
            .await
            .expect("write timed out")
            .expect("write");
    }

    /// Encode and write one packet; the error, if any, is the caller's.
    pub async fn try_send(&mut self, p: &Packet) -> std::io::Result<()> {
        let bytes = encode_packet(p, self.version);
        self.try_write(&bytes).await
    }

    /// Encode and write one packet; panics on failure or hang.
    pub async fn send(&mut self, p: &Packet) {
        let bytes = encode_packet(p, self.version);
        self.write_raw(&bytes).await;
    }

    /// Half-close: TLS close_notify / TCP FIN.
    pub async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(WAIT, self.io.shutdown()).await;
    }

    /// The next packet, or what happened instead within `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Rx {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match decode(&mut self.buf, self.version, usize::MAX) {
                Ok(Some(p)) => return Rx::Packet(p),
                Ok(None) => {}
                Err(e) => return Rx::Error(format!("undecodable bytes from the broker: {e}")),
            }
            self.buf.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
                Err(_) => return Rx::Timeout,
                Ok(Ok(0)) => return Rx::Closed,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    use std::io::ErrorKind::*;
                    return match e.kind() {
                        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
                            Rx::Closed
                        }
                        _ => Rx::Error(format!("read error: {e}")),
                    };
                }
            }
        }
    }

    /// The next packet; panics on anything else within [`WAIT`].
    pub async fn expect(&mut self) -> Packet {
        match self.recv(WAIT).await {
            Rx::Packet(p) => p,
            other => panic!("expected a packet within {WAIT:?}, got {other:?}"),
        }
    }

    /// The next packet must be a PUBLISH.
    pub async fn expect_publish(&mut self) -> Publish {
        match self.expect().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// The next packet must be a PUBLISH with a packet id (QoS > 0); it is PUBACKed at once.
    pub async fn expect_publish_acked(&mut self) -> Publish {
        let p = self.expect_publish().await;
        let pid = p
            .packet_id
            .unwrap_or_else(|| panic!("PUBLISH without packet id: {p:?}"));
        self.puback(pid).await;
        p
    }

    /// The next packet must be `kind` (`Packet::PubAck`, `Packet::PubRec` or
    /// `Packet::PubComp`) for `pid` with reason Success.
    pub async fn expect_ack(&mut self, kind: fn(PubAck) -> Packet, pid: u16) {
        let want = kind(success_ack(pid));
        let got = self.expect().await;
        let ok = match (&want, &got) {
            (Packet::PubAck(_), Packet::PubAck(a))
            | (Packet::PubRec(_), Packet::PubRec(a))
            | (Packet::PubComp(_), Packet::PubComp(a)) => {
                a.packet_id == pid && a.reason == rc::SUCCESS
            }
            _ => false,
        };
        assert!(ok, "expected {want:?}, got {got:?}");
    }

    /// Panics if anything (a packet, a close) arrives within `within`.
    pub async fn expect_nothing(&mut self, within: Duration) {
        match self.recv(within).await {
            Rx::Timeout => {}
            other => panic!("expected nothing within {within:?}, got {other:?}"),
        }
    }

    /// `Some(code)` (v5): exactly a DISCONNECT with `code`, then the close.
    /// `None`: the connection is closed without any packet.
    pub async fn expect_close(&mut self, reason: Option<u8>) {
        if let Some(code) = reason {
            match self.recv(WAIT).await {
                Rx::Packet(Packet::Disconnect(d)) => assert_eq!(
                    d.reason, code,
                    "DISCONNECT reason 0x{:02X}, expected 0x{code:02X} ({:?})",
                    d.reason, d.properties.reason_string
                ),
                other => panic!("expected DISCONNECT 0x{code:02X}, got {other:?}"),
            }
        }
        match self.recv(WAIT).await {
            Rx::Closed => {}
            other => panic!("expected the broker to close the connection, got {other:?}"),
        }
    }

    /// SUBSCRIBE to `filters` with packet id `pid` and `properties`; returns the SUBACK reason codes.
    pub async fn subscribe_with(
        &mut self,
        pid: u16,
        filters: Vec<(String, SubscriptionOptions)>,
        properties: Properties,
    ) -> Vec<u8> {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: pid,
            filters,
            properties,
        }))
        .await;
        match self.expect().await {
            Packet::SubAck(s) => {
                assert_eq!(s.packet_id, pid, "SUBACK packet id");
                s.reasons
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// SUBSCRIBE to one filter at `qos` and insist it is granted at `qos`.
    pub async fn subscribe(&mut self, pid: u16, filter: &str, qos: QoS) {
        let opts = vec![(filter.to_string(), sub_options(qos))];
        let reasons = self.subscribe_with(pid, opts, Properties::default()).await;
        assert_eq!(reasons, vec![qos as u8], "SUBACK for {filter}");
    }

    /// PUBLISH without properties; see [`RawMqtt::publish_with`].
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        pid: u16,
    ) -> Vec<Packet> {
        self.publish_with(topic, payload, qos, pid, Properties::default())
            .await
    }

    /// PUBLISH and, for QoS 1, wait for a successful PUBACK `pid`; packets arriving meanwhile
    /// are returned.
    pub async fn publish_with(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        pid: u16,
        properties: Properties,
    ) -> Vec<Packet> {
        let mut p = publish(topic, payload, qos, pid, false);
        p.properties = properties;
        self.send(&Packet::Publish(p)).await;
        let mut other = Vec::new();
        if qos == QoS::AtLeastOnce {
            loop {
                match self.expect().await {
                    Packet::PubAck(ack) if ack.packet_id == pid => {
                        assert_eq!(
                            ack.reason,
                            rc::SUCCESS,
                            "PUBACK reason for {topic}: {ack:?}"
                        );
                        break;
                    }
                    p => other.push(p),
                }
            }
        }
        other
    }

    /// QoS 1 PUBLISH (retained or not); the very next packet must be its successful PUBACK.
    pub async fn publish_qos1(&mut self, topic: &str, payload: &[u8], pid: u16, retain: bool) {
        let p = publish_packet(topic, payload, QoS::AtLeastOnce, pid, retain);
        self.send(&p).await;
        self.expect_ack(Packet::PubAck, pid).await;
    }

    /// QoS 2 PUBLISH, then PUBREC / PUBREL / PUBCOMP to the end, all successful.
    pub async fn publish_qos2(&mut self, topic: &str, payload: &[u8], pid: u16) {
        let p = publish_packet(topic, payload, QoS::ExactlyOnce, pid, false);
        self.send(&p).await;
        self.expect_ack(Packet::PubRec, pid).await;
        self.send(&pubrel(pid)).await;
        self.expect_ack(Packet::PubComp, pid).await;
    }

    /// PUBACK a received QoS 1 publish.
    pub async fn puback(&mut self, pid: u16) {
        self.send(&puback(pid)).await;
    }

    /// Send a normal DISCONNECT (reason Success), then half-close.
    pub async fn disconnect(&mut self) {
        self.send(&Packet::Disconnect(Disconnect {
            reason: rc::SUCCESS,
            properties: Properties::default(),
        }))
        .await;
        self.shutdown().await;
    }
}

/// The TLS handshake on `port` fails, or (TLS 1.3: the client finishes first) the first read
/// fails; a CONNECT never gets a CONNACK. Returns what the client saw (the alert), if anything.
pub async fn refused_at_tls_on(port: u16, dev: Option<&Device>, ca: &Path) -> String {
    let s = match tokio::time::timeout(WAIT, raw_tls(port, dev, ca, &[]))
        .await
        .expect("handshake hang")
    {
        Err(e) => return format!("handshake refused: {e}"),
        Ok(s) => s,
    };
    let mut c = RawMqtt::new(s, ProtocolVersion::V5);
    let connect = Packet::Connect(connect_packet(ProtocolVersion::V5, "no-connack", true));
    // The write may already fail; that is a refusal as well.
    if let Err(e) = c.try_send(&connect).await {
        return format!("refused at the first write: {e}");
    }
    match c.recv(WAIT).await {
        Rx::Packet(p) => panic!("a client the TLS layer should refuse got {p:?}"),
        Rx::Timeout => panic!("connection neither refused nor answered"),
        Rx::Closed => "closed".to_string(),
        Rx::Error(e) => format!("refused after the handshake: {e}"),
    }
}

/// [`refused_at_tls_on`] the default endpoint of `a`.
pub async fn refused_at_tls(a: &Airlock, dev: Option<&Device>, ca: &Path) -> String {
    refused_at_tls_on(a.port, dev, ca).await
}

// ---------------------------------------------------------------------------------------
// Broker health and metrics.
// ---------------------------------------------------------------------------------------

/// The sum of every sample of `series` (metric name with its exact label set, e.g.
/// `airlock_messages_dropped_total{reason="queue_full"}`); 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter(|rest| rest.starts_with(' '))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// Poll `a.metrics()` until `series` is at least `min`, for at most `wait`; returns the last value.
pub async fn wait_metric(a: &Airlock, series: &str, min: f64, wait: Duration) -> f64 {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let v = metric(&a.metrics(), series);
        if v >= min || tokio::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

static PROBE: AtomicU32 = AtomicU32::new(0);

/// The broker process is up, and a fresh, valid v5 client gets CONNACK 0 and can ping.
pub async fn assert_serving(a: &mut Airlock, device: &Device) {
    assert!(a.alive(), "broker process died; log:\n{}", a.log());
    let id = format!("probe-{}", PROBE.fetch_add(1, Ordering::Relaxed));
    let connect = connect_packet(ProtocolVersion::V5, &id, true);
    let (mut c, ack) = RawMqtt::connect(a, device, connect).await;
    assert_eq!(ack.code, rc::SUCCESS, "probe client refused: {ack:?}");
    c.send(&Packet::PingReq).await;
    match c.recv(WAIT).await {
        Rx::Packet(Packet::PingResp) => {}
        other => panic!("probe client expected PINGRESP, got {other:?}"),
    }
    c.disconnect().await;
    assert!(a.alive(), "broker process died; log:\n{}", a.log());
}

// ---------------------------------------------------------------------------------------
// rumqttc event pumps.
// ---------------------------------------------------------------------------------------

/// rumqttc's two event loops (3.1.1 and 5) behind one interface.
pub trait EventLoop: Send + 'static {
    type Event: ClientEvent;
    /// The next event, or the event loop's error as text.
    fn next(&mut self) -> impl Future<Output = Result<Self::Event, String>> + Send;
}

impl EventLoop for rumqttc::EventLoop {
    type Event = rumqttc::Event;
    async fn next(&mut self) -> Result<rumqttc::Event, String> {
        self.poll().await.map_err(|e| e.to_string())
    }
}

impl EventLoop for rumqttc::v5::EventLoop {
    type Event = rumqttc::v5::Event;
    async fn next(&mut self) -> Result<rumqttc::v5::Event, String> {
        self.poll().await.map_err(|e| format!("{e:?}"))
    }
}

/// The incoming packets tests wait for, in either protocol version's event type.
pub trait ClientEvent: std::fmt::Debug + Send + 'static {
    type ConnAck;
    type SubAckCode;
    type Publish;
    fn connack(&self) -> Option<Self::ConnAck>;
    fn suback(&self) -> Option<Vec<Self::SubAckCode>>;
    fn publish(&self) -> Option<Self::Publish>;
}

impl ClientEvent for rumqttc::Event {
    type ConnAck = rumqttc::ConnAck;
    type SubAckCode = rumqttc::SubscribeReasonCode;
    type Publish = rumqttc::Publish;
    fn connack(&self) -> Option<rumqttc::ConnAck> {
        match self {
            rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(c)) => Some(c.clone()),
            _ => None,
        }
    }
    fn suback(&self) -> Option<Vec<rumqttc::SubscribeReasonCode>> {
        match self {
            rumqttc::Event::Incoming(rumqttc::Packet::SubAck(s)) => Some(s.return_codes.clone()),
            _ => None,
        }
    }
    fn publish(&self) -> Option<rumqttc::Publish> {
        match self {
            rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => Some(p.clone()),
            _ => None,
        }
    }
}

impl ClientEvent for rumqttc::v5::Event {
    type ConnAck = rumqttc::v5::mqttbytes::v5::ConnAck;
    type SubAckCode = rumqttc::v5::mqttbytes::v5::SubscribeReasonCode;
    type Publish = rumqttc::v5::mqttbytes::v5::Publish;
    fn connack(&self) -> Option<Self::ConnAck> {
        match self {
            rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(c)) => {
                Some(c.clone())
            }
            _ => None,
        }
    }
    fn suback(&self) -> Option<Vec<Self::SubAckCode>> {
        match self {
            rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::SubAck(s)) => {
                Some(s.return_codes.clone())
            }
            _ => None,
        }
    }
    fn publish(&self) -> Option<Self::Publish> {
        match self {
            rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(p)) => {
                Some(p.clone())
            }
            _ => None,
        }
    }
}

/// Events of a rumqttc event loop polled in a background task; the task stops at the first
/// error (no reconnect). Abort `task` to drop the connection without DISCONNECT.
pub struct Events<E> {
    pub rx: tokio::sync::mpsc::UnboundedReceiver<Result<E, String>>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Poll `el` in a background task until it fails or nobody listens.
fn pump<L: EventLoop>(mut el: L) -> Events<L::Event> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let ev = el.next().await;
            let failed = ev.is_err();
            if tx.send(ev).is_err() || failed {
                return;
            }
        }
    });
    Events { rx, task }
}

/// Start a rumqttc 3.1.1 client and pump its events.
pub fn spawn_v4(opts: rumqttc::MqttOptions) -> (rumqttc::AsyncClient, Events<rumqttc::Event>) {
    let (client, el) = rumqttc::AsyncClient::new(opts, 64);
    (client, pump(el))
}

/// Start a rumqttc MQTT 5 client and pump its events.
pub fn spawn_v5(
    opts: rumqttc::v5::MqttOptions,
) -> (rumqttc::v5::AsyncClient, Events<rumqttc::v5::Event>) {
    let (client, el) = rumqttc::v5::AsyncClient::new(opts, 64);
    (client, pump(el))
}

impl<E: std::fmt::Debug> Events<E> {
    /// Wait for the first event `f` maps to `Some`; panics on timeout or on an event-loop error.
    pub async fn wait_for<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut f: impl FnMut(&E) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => panic!("timed out after {within:?} waiting for {what}; saw {seen:?}"),
                Ok(None) => panic!("event loop ended while waiting for {what}; saw {seen:?}"),
                Ok(Some(Err(e))) => {
                    panic!("event loop error while waiting for {what}: {e}; saw {seen:?}")
                }
                Ok(Some(Ok(ev))) => {
                    if let Some(t) = f(&ev) {
                        return t;
                    }
                    seen.push(format!("{ev:?}"));
                }
            }
        }
    }

    /// Every event `f` maps to `Some` during `within` (stops early if the loop ends).
    pub async fn collect_for<T>(
        &mut self,
        within: Duration,
        mut f: impl FnMut(&E) -> Option<T>,
    ) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        while let Ok(Some(Ok(ev))) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Some(t) = f(&ev) {
                out.push(t);
            }
        }
        out
    }

    /// Abort the event loop task and wait until it (and its socket) is gone.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl<E: ClientEvent> Events<E> {
    /// The CONNACK (any code).
    pub async fn connack(&mut self) -> E::ConnAck {
        self.wait_for(WAIT, "CONNACK", E::connack).await
    }

    /// The reason codes of the next SUBACK.
    pub async fn suback(&mut self) -> Vec<E::SubAckCode> {
        self.wait_for(WAIT, "SUBACK", E::suback).await
    }

    /// The next incoming PUBLISH.
    pub async fn next_publish(&mut self) -> E::Publish {
        self.wait_for(WAIT, "PUBLISH", E::publish).await
    }
}
