//! A minimal MQTT client over plain TCP or mutual TLS, built on the `airlock_mqtt` codec.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use airlock_mqtt::{
    Connect, Disconnect, Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe,
    SubscriptionOptions, decode, encode,
};
use anyhow::{Context, Result, anyhow, bail};
use bytes::{Bytes, BytesMut};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Upper bound for one setup step (connect, handshake, CONNACK, SUBACK).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Read buffer size of every connection.
pub const READ_BUF: usize = 256 * 1024;

/// Nanoseconds since the process-wide reference instant; payload timestamps use this clock,
/// so publisher and subscriber (both in this process) agree on it.
pub fn now_ns() -> u64 {
    static T0: OnceLock<Instant> = OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A byte stream: TLS or plain TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed byte stream.
pub type Stream = Box<dyn Io>;

/// TLS material given on the command line.
pub struct TlsFiles<'a> {
    pub ca: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
    pub resume: bool,
}

/// A rustls client configuration (ring provider) presenting a client certificate.
pub fn client_tls(f: &TlsFiles<'_>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(f.ca)
        .with_context(|| format!("reading {}", f.ca.display()))?
    {
        roots.add(c.context("CA PEM")?).context("adding CA")?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f.cert)
        .with_context(|| format!("reading {}", f.cert.display()))?
        .collect::<Result<_, _>>()
        .context("certificate PEM")?;
    let key = PrivateKeyDer::from_pem_file(f.key)
        .with_context(|| format!("reading {}", f.key.display()))?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .context("client certificate and key")?;
    if !f.resume {
        // Every connect is a full handshake that proves the client key (Airlock sends no
        // tickets; Mosquitto does — resuming would compare different work).
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(cfg))
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub version: ProtocolVersion,
}

/// The `k`-th extra loopback source address: 127.0.1.1, 127.0.1.2, ... (never outside 127/8).
pub fn source_ip(k: usize) -> IpAddr {
    let k = k % (250 * 250);
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        (1 + k / 250) as u8,
        (1 + k % 250) as u8,
    ))
}

impl Target {
    /// TCP connect (optionally from `source`), TCP_NODELAY, then the TLS handshake if any.
    pub async fn open(&self, source: Option<IpAddr>) -> Result<Stream> {
        let sock = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            sock.set_reuseaddr(true)?;
            sock.bind(SocketAddr::new(ip, 0))
                .with_context(|| format!("binding source address {ip}"))?;
        }
        let tcp: TcpStream = sock.connect(self.addr).await.context("TCP connect")?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let s = connector
                    .connect(name.clone(), tcp)
                    .await
                    .context("TLS handshake")?;
                Ok(Box::new(s))
            }
        }
    }

    /// Open a connection and complete CONNECT / CONNACK (clean session, keep alive 0).
    pub async fn connect(&self, client_id: &str, source: Option<IpAddr>) -> Result<Conn> {
        let fut = async {
            let io = self.open(source).await?;
            let mut c = Conn::new(io, self.version);
            c.send(&Packet::Connect(Connect {
                protocol: self.version,
                clean_start: true,
                keep_alive: 0,
                client_id: client_id.to_string(),
                will: None,
                username: None,
                password: None,
                properties: Properties::default(),
            }))
            .await?;
            match c.recv().await? {
                Packet::ConnAck(a) if a.code == 0 => Ok(c),
                Packet::ConnAck(a) => bail!("CONNACK refused with code 0x{:02X}", a.code),
                other => bail!("expected CONNACK, got {other:?}"),
            }
        };
        tokio::time::timeout(STEP_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow!("connect timed out after {STEP_TIMEOUT:?}"))?
    }
}

/// An MQTT connection after CONNACK.
pub struct Conn {
    pub io: Stream,
    pub buf: BytesMut,
    pub version: ProtocolVersion,
}

impl Conn {
    fn new(io: Stream, version: ProtocolVersion) -> Conn {
        Conn {
            io,
            buf: BytesMut::with_capacity(16 * 1024),
            version,
        }
    }

    /// Encode, write and flush one packet.
    pub async fn send(&mut self, p: &Packet) -> Result<()> {
        let mut out = BytesMut::new();
        encode(p, self.version, &mut out).map_err(|e| anyhow!("encode: {e:?}"))?;
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// The next packet (bounded by [`STEP_TIMEOUT`]).
    pub async fn recv(&mut self) -> Result<Packet> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(p) = decode(&mut self.buf, self.version, usize::MAX)
                .map_err(|e| anyhow!("undecodable bytes from the broker: {e:?}"))?
            {
                return Ok(p);
            }
            self.buf.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
                Err(_) => bail!("no packet within {STEP_TIMEOUT:?}"),
                Ok(Ok(0)) => bail!("connection closed by the broker"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e).context("read"),
            }
        }
    }

    /// SUBSCRIBE to one filter and insist on a granted SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<()> {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(
                filter.to_string(),
                SubscriptionOptions {
                    qos,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 0,
                },
            )],
            properties: Properties::default(),
        }))
        .await?;
        match self.recv().await? {
            Packet::SubAck(s) if s.reasons.first().is_some_and(|r| *r < 0x80) => Ok(()),
            other => bail!("subscription to {filter} refused: {other:?}"),
        }
    }

    /// DISCONNECT (normal) and close; errors are ignored.
    pub async fn disconnect(mut self) {
        let d = Packet::Disconnect(Disconnect {
            reason: 0,
            properties: Properties::default(),
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.send(&d).await;
            let _ = self.io.shutdown().await;
        })
        .await;
    }
}

/// A PUBLISH encoded once; each message is a copy with its packet id and the payload's
/// timestamp and sequence number patched in.
#[derive(Clone)]
pub struct Template {
    bytes: Vec<u8>,
    payload_at: usize,
    pid_at: Option<usize>,
}

impl Template {
    /// Encode a PUBLISH of `payload_len` bytes (at least 16) to `topic`.
    pub fn new(
        topic: &str,
        qos: QoS,
        payload_len: usize,
        version: ProtocolVersion,
    ) -> Result<Template> {
        let payload_len = payload_len.max(16);
        let p = Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.to_string(),
            packet_id: (qos != QoS::AtMostOnce).then_some(0x0102),
            properties: Properties::default(),
            payload: Bytes::from(vec![b'x'; payload_len]),
        };
        let mut out = BytesMut::new();
        encode(&Packet::Publish(p.clone()), version, &mut out)
            .map_err(|e| anyhow!("encode: {e:?}"))?;
        let bytes = out.to_vec();
        let payload_at = bytes.len() - payload_len;
        // v5 puts a property length (0) between packet id and payload.
        let pid_at = p
            .packet_id
            .map(|_| payload_at - 2 - usize::from(version == ProtocolVersion::V5));
        let t = Template {
            bytes,
            payload_at,
            pid_at,
        };
        // Check the patching against the decoder once.
        let mut check = BytesMut::new();
        t.write(&mut check, 7, 42, 9);
        match decode(&mut check, version, usize::MAX) {
            Ok(Some(Packet::Publish(d)))
                if d.topic == topic
                    && d.packet_id == p.packet_id.map(|_| 7)
                    && parse_stamp(&d.payload) == Some((42, 9)) => {}
            other => bail!("PUBLISH template does not round-trip: {other:?}"),
        }
        Ok(t)
    }

    /// Encoded size of one message.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Append one message with packet id `pid` (ignored for QoS 0), timestamp and sequence.
    pub fn write(&self, out: &mut BytesMut, pid: u16, ts_ns: u64, seq: u64) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let msg = &mut out[start..];
        if let Some(at) = self.pid_at {
            msg[at..at + 2].copy_from_slice(&pid.to_be_bytes());
        }
        msg[self.payload_at..self.payload_at + 8].copy_from_slice(&ts_ns.to_le_bytes());
        msg[self.payload_at + 8..self.payload_at + 16].copy_from_slice(&seq.to_le_bytes());
    }
}

/// Timestamp (ns, [`now_ns`] clock) and sequence number from a benchmark payload.
pub fn parse_stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let ts = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((ts, seq))
}
