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
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
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
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics connect");
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
            builder.with_client_auth_cert(chain, key).expect("client auth")
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
    Command::new("mosquitto_pub").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}
