//! Start and stop the real binary; certificates and client configurations for tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

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
        Self::start_inner(extra, false)
    }

    /// Also open a plain-TCP endpoint `lab` with `authentication = "none"`.
    pub fn start_with_lab(extra: &str) -> Airlock {
        Self::start_inner(extra, true)
    }

    fn start_inner(extra: &str, lab: bool) -> Airlock {
        let data = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let metrics_port = free_port();
        let lab_port = lab.then(free_port);
        let mut cfg = format!(
            "[[endpoint]]\nid = \"default\"\nbind = \"127.0.0.1:{port}\"\n\n[metrics]\nbind = \"127.0.0.1:{metrics_port}\"\n\n"
        );
        if let Some(lp) = lab_port {
            cfg.push_str(&format!(
                "[[endpoint]]\nid = \"lab\"\nbind = \"127.0.0.1:{lp}\"\ntls = false\nauthentication = \"none\"\n\n"
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
        a
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

    /// Issue a device certificate with `airlock cert create`.
    pub fn device(&self, name: &str) -> Device {
        let out = self.data.path().join("devices").join(name);
        let status = Command::new(airlock_bin())
            .args(["cert", "create", "--thing", name, "--out"])
            .arg(&out)
            .arg("--data")
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .status()
            .expect("run airlock cert create");
        assert!(status.success(), "airlock cert create failed");
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

/// Open a raw TLS connection to the broker (for byte-level tests).
pub async fn raw_tls(
    port: u16,
    device: Option<&Device>,
    ca: &Path,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let connector = tokio_rustls::TlsConnector::from(client_tls(device, ca, &[]));
    connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// rumqttc (MQTT 3.1.1) options for `device` with client id `client_id`.
pub fn v4_options(a: &Airlock, device: &Device, client_id: &str) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(client_id, "localhost", a.port);
    o.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(client_tls(Some(device), &device.ca, &[])),
    ));
    o.set_keep_alive(Duration::from_secs(30));
    o
}

/// rumqttc (MQTT 5) options for `device` with client id `client_id`.
pub fn v5_options(a: &Airlock, device: &Device, client_id: &str) -> rumqttc::v5::MqttOptions {
    let mut o = rumqttc::v5::MqttOptions::new(client_id, "localhost", a.port);
    o.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(client_tls(Some(device), &device.ca, &[])),
    ));
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
// Raw MQTT over TLS and rumqttc event pumps (used by clients.rs and semantics.rs).
// ---------------------------------------------------------------------------------------

/// Open a raw TLS connection offering the ALPN protocols `alpn`.
pub async fn raw_tls_alpn(
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

/// What a [`RawMqtt`] read from the broker.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // like `Packet` itself: one value at a time, never stored
pub enum RawRecv {
    /// One decoded packet.
    Packet(airlock_mqtt::Packet),
    /// Nothing arrived within the wait.
    Timeout,
    /// The broker closed the connection.
    Closed,
}

/// A byte-level MQTT client over mutual TLS, encoding and decoding with `airlock_mqtt`.
pub struct RawMqtt {
    pub stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    pub buf: bytes::BytesMut,
    pub version: airlock_mqtt::ProtocolVersion,
}

/// A CONNECT for `client_id` with keep alive 30 s and no properties.
pub fn raw_connect_packet(
    version: airlock_mqtt::ProtocolVersion,
    client_id: &str,
    clean_start: bool,
) -> airlock_mqtt::Connect {
    airlock_mqtt::Connect {
        protocol: version,
        clean_start,
        keep_alive: 30,
        client_id: client_id.to_string(),
        will: None,
        username: None,
        password: None,
        properties: airlock_mqtt::Properties::default(),
    }
}

/// Subscription options with `qos` and everything else at its default.
pub fn raw_sub_options(qos: airlock_mqtt::QoS) -> airlock_mqtt::SubscriptionOptions {
    airlock_mqtt::SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
    }
}

impl RawMqtt {
    /// Wrap an established TLS stream.
    pub fn new(
        stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        version: airlock_mqtt::ProtocolVersion,
    ) -> RawMqtt {
        RawMqtt {
            stream,
            buf: bytes::BytesMut::new(),
            version,
        }
    }

    /// Open a TLS connection as `device` (no MQTT yet).
    pub async fn open(
        a: &Airlock,
        device: &Device,
        version: airlock_mqtt::ProtocolVersion,
    ) -> RawMqtt {
        let s = raw_tls(a.port, Some(device), &device.ca)
            .await
            .expect("TLS connect");
        RawMqtt::new(s, version)
    }

    /// Open, send `connect` and read the CONNACK.
    pub async fn connect(
        a: &Airlock,
        device: &Device,
        connect: airlock_mqtt::Connect,
    ) -> (RawMqtt, airlock_mqtt::ConnAck) {
        let mut c = RawMqtt::open(a, device, connect.protocol).await;
        c.send(&airlock_mqtt::Packet::Connect(connect)).await;
        match c.expect(Duration::from_secs(10)).await {
            airlock_mqtt::Packet::ConnAck(ack) => (c, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connect and insist on CONNACK success.
    pub async fn connect_ok(
        a: &Airlock,
        device: &Device,
        connect: airlock_mqtt::Connect,
    ) -> (RawMqtt, airlock_mqtt::ConnAck) {
        let (c, ack) = RawMqtt::connect(a, device, connect).await;
        assert_eq!(ack.code, 0, "CONNACK refused: {ack:?}");
        (c, ack)
    }

    /// Encode and write one packet.
    pub async fn send(&mut self, p: &airlock_mqtt::Packet) {
        use tokio::io::AsyncWriteExt;
        let mut out = bytes::BytesMut::new();
        airlock_mqtt::encode(p, self.version, &mut out).expect("encode");
        self.stream.write_all(&out).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// Read the next packet, waiting at most `within`.
    pub async fn recv(&mut self, within: Duration) -> RawRecv {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match airlock_mqtt::decode(&mut self.buf, self.version, 16 * 1024 * 1024) {
                Ok(Some(p)) => return RawRecv::Packet(p),
                Ok(None) => {}
                Err(e) => panic!("broker sent bytes we cannot decode: {e}"),
            }
            self.buf.reserve(8192);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return RawRecv::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return RawRecv::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next packet; panics on timeout or close.
    pub async fn expect(&mut self, within: Duration) -> airlock_mqtt::Packet {
        match self.recv(within).await {
            RawRecv::Packet(p) => p,
            other => panic!("expected a packet within {within:?}, got {other:?}"),
        }
    }

    /// The next PUBLISH; panics on anything else.
    pub async fn expect_publish(&mut self, within: Duration) -> airlock_mqtt::Publish {
        match self.expect(within).await {
            airlock_mqtt::Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Panics if any packet arrives within `within` (the connection may stay open).
    pub async fn expect_nothing(&mut self, within: Duration) {
        match self.recv(within).await {
            RawRecv::Timeout => {}
            RawRecv::Closed => panic!("connection closed while expecting silence"),
            RawRecv::Packet(p) => panic!("expected nothing within {within:?}, got {p:?}"),
        }
    }

    /// Panics unless the broker closes the connection within `within` (no packet first).
    pub async fn expect_closed(&mut self, within: Duration) {
        match self.recv(within).await {
            RawRecv::Closed => {}
            other => panic!("expected the broker to close the connection, got {other:?}"),
        }
    }

    /// SUBSCRIBE to `filters` with packet id `pid` and `properties`; returns the SUBACK reason codes.
    pub async fn subscribe_with(
        &mut self,
        pid: u16,
        filters: Vec<(String, airlock_mqtt::SubscriptionOptions)>,
        properties: airlock_mqtt::Properties,
    ) -> Vec<u8> {
        self.send(&airlock_mqtt::Packet::Subscribe(airlock_mqtt::Subscribe {
            packet_id: pid,
            filters,
            properties,
        }))
        .await;
        match self.expect(Duration::from_secs(10)).await {
            airlock_mqtt::Packet::SubAck(s) => {
                assert_eq!(s.packet_id, pid, "SUBACK packet id");
                s.reasons
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// SUBSCRIBE to one filter at `qos` and insist it is granted at `qos`.
    pub async fn subscribe(&mut self, pid: u16, filter: &str, qos: airlock_mqtt::QoS) {
        let reasons = self
            .subscribe_with(
                pid,
                vec![(filter.to_string(), raw_sub_options(qos))],
                airlock_mqtt::Properties::default(),
            )
            .await;
        assert_eq!(reasons, vec![qos as u8], "SUBACK for {filter}");
    }

    /// PUBLISH and, for QoS 1, wait for a successful PUBACK (other packets arriving meanwhile are returned).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: airlock_mqtt::QoS,
        pid: u16,
        properties: airlock_mqtt::Properties,
    ) -> Vec<airlock_mqtt::Packet> {
        let packet_id = (qos != airlock_mqtt::QoS::AtMostOnce).then_some(pid);
        self.send(&airlock_mqtt::Packet::Publish(airlock_mqtt::Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.to_string(),
            packet_id,
            properties,
            payload: bytes::Bytes::copy_from_slice(payload),
        }))
        .await;
        let mut other = Vec::new();
        if qos == airlock_mqtt::QoS::AtLeastOnce {
            loop {
                match self.expect(Duration::from_secs(10)).await {
                    airlock_mqtt::Packet::PubAck(ack) if ack.packet_id == pid => {
                        assert_eq!(ack.reason, 0, "PUBACK reason for {topic}: {ack:?}");
                        break;
                    }
                    p => other.push(p),
                }
            }
        }
        other
    }

    /// PUBACK a received QoS 1 publish.
    pub async fn puback(&mut self, pid: u16) {
        self.send(&airlock_mqtt::Packet::PubAck(airlock_mqtt::PubAck {
            packet_id: pid,
            reason: 0,
            properties: airlock_mqtt::Properties::default(),
        }))
        .await;
    }

    /// Send a normal DISCONNECT (reason 0).
    pub async fn disconnect(&mut self) {
        self.send(&airlock_mqtt::Packet::Disconnect(
            airlock_mqtt::Disconnect {
                reason: 0,
                properties: airlock_mqtt::Properties::default(),
            },
        ))
        .await;
    }
}

/// Events of a rumqttc event loop polled in a background task; the task stops at the first
/// error (no reconnect). Abort `task` to drop the connection without DISCONNECT.
pub struct Events<E> {
    pub rx: tokio::sync::mpsc::UnboundedReceiver<Result<E, String>>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Start a rumqttc 3.1.1 client and pump its events.
pub fn spawn_v4(opts: rumqttc::MqttOptions) -> (rumqttc::AsyncClient, Events<rumqttc::Event>) {
    let (client, mut el) = rumqttc::AsyncClient::new(opts, 64);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(ev) => {
                    if tx.send(Ok(ev)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        }
    });
    (client, Events { rx, task })
}

/// Start a rumqttc MQTT 5 client and pump its events.
pub fn spawn_v5(
    opts: rumqttc::v5::MqttOptions,
) -> (rumqttc::v5::AsyncClient, Events<rumqttc::v5::Event>) {
    let (client, mut el) = rumqttc::v5::AsyncClient::new(opts, 64);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(ev) => {
                    if tx.send(Ok(ev)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("{e:?}")));
                    return;
                }
            }
        }
    });
    (client, Events { rx, task })
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
