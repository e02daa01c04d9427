//! Malformed, hostile and misbehaving clients over the wire. Each case checks the
//! protocol-correct reaction (the exact v5 DISCONNECT reason code, or a silent close), and
//! that the broker is still alive and still accepts a fresh, valid client afterwards.
//!
//! Also home of `RawMqtt`, a byte-level MQTT client over TLS or TCP built on the
//! `airlock_mqtt` codec, used by `durability.rs` too.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{
    ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubAck, Publish, QoS,
    SubAck, Subscribe, SubscriptionOptions, decode, encode,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::harness::{Airlock, Device, raw_tls};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;
/// Upper bound for any single expected reaction (never a speed assertion: only a hang fails).
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// A raw MQTT client.
// ---------------------------------------------------------------------------------------

pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What one read attempt produced.
// Packet is large (CONNECT); not worth boxing in a test helper.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Rx {
    Packet(Packet),
    /// EOF, TLS close, reset or broken pipe.
    Closed,
    Timeout,
    /// Bytes that do not decode, or another read error (e.g. a TLS alert).
    Error(String),
}

/// A byte-level MQTT client: encode/decode with `airlock_mqtt`, or write any bytes at all.
pub(crate) struct RawMqtt {
    io: Box<dyn Io>,
    buf: BytesMut,
    pub version: ProtocolVersion,
}

static PROBE: AtomicU32 = AtomicU32::new(0);

pub(crate) fn connect_packet(
    client_id: &str,
    version: ProtocolVersion,
    clean: bool,
    expiry: Option<u32>,
) -> Packet {
    let properties = Properties {
        session_expiry_interval: expiry,
        ..Properties::default()
    };
    Packet::Connect(Connect {
        protocol: version,
        clean_start: clean,
        keep_alive: 60,
        client_id: client_id.to_string(),
        will: None,
        username: None,
        password: None,
        properties,
    })
}

pub(crate) fn publish_packet(
    topic: &str,
    payload: impl Into<Bytes>,
    qos: QoS,
    packet_id: Option<u16>,
    retain: bool,
) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: topic.to_string(),
        packet_id,
        properties: Properties::default(),
        payload: payload.into(),
    })
}

pub(crate) fn puback(packet_id: u16) -> Packet {
    Packet::PubAck(PubAck {
        packet_id,
        reason: rc::SUCCESS,
        properties: Properties::default(),
    })
}

pub(crate) fn encode_packet(p: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(p, version, &mut out).expect("encode");
    out.to_vec()
}

impl RawMqtt {
    pub fn new(io: Box<dyn Io>, version: ProtocolVersion) -> RawMqtt {
        RawMqtt {
            io,
            buf: BytesMut::with_capacity(16 * 1024),
            version,
        }
    }

    /// A mutual-TLS connection to `a`'s default endpoint; nothing sent yet.
    pub async fn tls(a: &Airlock, dev: &Device, version: ProtocolVersion) -> RawMqtt {
        let s = tokio::time::timeout(WAIT, raw_tls(a.port, Some(dev), &dev.ca))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake");
        RawMqtt::new(Box::new(s), version)
    }

    /// A plain TCP connection; nothing sent yet.
    pub async fn tcp(port: u16, version: ProtocolVersion) -> RawMqtt {
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("TCP connect");
        s.set_nodelay(true).expect("nodelay");
        RawMqtt::new(Box::new(s), version)
    }

    /// TLS connect, send CONNECT, read CONNACK (any code).
    pub async fn connect(
        a: &Airlock,
        dev: &Device,
        client_id: &str,
        version: ProtocolVersion,
        clean: bool,
        expiry: Option<u32>,
    ) -> (RawMqtt, ConnAck) {
        let mut c = RawMqtt::tls(a, dev, version).await;
        c.send(&connect_packet(client_id, version, clean, expiry))
            .await;
        let ack = c.expect_connack().await;
        (c, ack)
    }

    pub async fn expect_connack(&mut self) -> ConnAck {
        match self.recv(WAIT).await {
            Rx::Packet(Packet::ConnAck(ack)) => ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.try_write(bytes))
            .await
            .expect("write timed out")
            .expect("write");
    }

    pub async fn try_send(&mut self, p: &Packet) -> std::io::Result<()> {
        let bytes = encode_packet(p, self.version);
        self.try_write(&bytes).await
    }

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
        let deadline = Instant::now() + wait;
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

    /// v5 with `Some(code)`: exactly a DISCONNECT with `code`, then the close.
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

    pub async fn subscribe(&mut self, filter: &str, qos: QoS, packet_id: u16) -> SubAck {
        let opts = SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
        };
        self.send(&Packet::Subscribe(Subscribe {
            packet_id,
            filters: vec![(filter.to_string(), opts)],
            properties: Properties::default(),
        }))
        .await;
        match self.recv(WAIT).await {
            Rx::Packet(Packet::SubAck(s)) => {
                assert_eq!(s.packet_id, packet_id);
                s
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub async fn disconnect(&mut self) {
        let _ = self
            .try_send(&Packet::Disconnect(Disconnect {
                reason: rc::SUCCESS,
                properties: Properties::default(),
            }))
            .await;
        self.shutdown().await;
    }
}

/// The sum of every sample of `series` (metric name with its exact label set, e.g.
/// `airlock_messages_dropped_total{reason="queue_full"}`); 0 when absent.
pub(crate) fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter(|rest| rest.starts_with(' '))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// Poll `a.metrics()` until `series` is at least `min`, for at most `wait`; returns the last value.
pub(crate) async fn wait_metric(a: &Airlock, series: &str, min: f64, wait: Duration) -> f64 {
    let deadline = Instant::now() + wait;
    loop {
        let v = metric(&a.metrics(), series);
        if v >= min || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The broker process is up, and a fresh, valid v5 client gets CONNACK 0 and can ping.
pub(crate) async fn assert_serving(a: &mut Airlock, dev: &Device) {
    assert!(a.alive(), "broker process died; log:\n{}", a.log());
    let id = format!("probe-{}", PROBE.fetch_add(1, Ordering::Relaxed));
    let (mut c, ack) = RawMqtt::connect(a, dev, &id, V5, true, None).await;
    assert_eq!(ack.code, rc::SUCCESS, "probe client refused: {ack:?}");
    c.send(&Packet::PingReq).await;
    match c.recv(WAIT).await {
        Rx::Packet(Packet::PingResp) => {}
        other => panic!("probe client expected PINGRESP, got {other:?}"),
    }
    c.disconnect().await;
    assert!(a.alive(), "broker process died; log:\n{}", a.log());
}

/// A connected v5 client.
async fn v5_client(a: &Airlock, dev: &Device, id: &str) -> RawMqtt {
    let (c, ack) = RawMqtt::connect(a, dev, id, V5, true, None).await;
    assert_eq!(ack.code, rc::SUCCESS, "{ack:?}");
    c
}

async fn v311_client(a: &Airlock, dev: &Device, id: &str) -> RawMqtt {
    let (c, ack) = RawMqtt::connect(a, dev, id, V311, true, None).await;
    assert_eq!(ack.code, rc::SUCCESS, "{ack:?}");
    c
}

/// A remaining length as an MQTT variable byte integer.
fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A v5 QoS 0 PUBLISH with raw topic bytes (no validation at all).
fn raw_v5_publish(topic: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic);
    body.push(0); // property length
    body.extend_from_slice(payload);
    let mut p = vec![0x30];
    p.extend(varint(body.len()));
    p.extend(body);
    p
}

fn rss_kib(a: &Airlock) -> u64 {
    let pid = a.child.as_ref().expect("running broker").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc status")
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// 1. A CONNECT whose remaining length promises more than is sent: closed by the connect
/// timeout without CONNACK (client silent), or at once when the client half-closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_connect_is_closed_without_connack() {
    let mut a = Airlock::start("[mqtt]\nconnect_timeout_secs = 1\n");
    let dev = a.device("trunc");
    let mut full = encode_packet(&connect_packet("trunc-1", V5, true, None), V5);
    assert!(full[1] < 100, "short CONNECT expected");
    full[1] += 20; // promise 20 bytes that never come

    // Silent client: only the connect timeout can end this.
    let mut c = RawMqtt::tls(&a, &dev, V5).await;
    c.write_raw(&full).await;
    c.expect_close(None).await;
    assert!(
        a.log().contains("no CONNECT within 1s"),
        "expected the connect timeout to close the connection; log:\n{}",
        a.log()
    );
    assert_serving(&mut a, &dev).await;

    // Half-closing client: the broker sees EOF in the middle of the packet.
    let mut c = RawMqtt::tls(&a, &dev, V5).await;
    c.write_raw(&full).await;
    c.shutdown().await;
    c.expect_close(None).await;
    assert_serving(&mut a, &dev).await;
}

/// 2. A remaining length of five bytes after a valid session start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_byte_remaining_length_is_malformed() {
    let mut a = Airlock::start("");
    let dev = a.device("len");
    let bad = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];

    let mut c = v5_client(&a, &dev, "len-v5").await;
    c.write_raw(&bad).await;
    c.expect_close(Some(rc::MALFORMED_PACKET)).await;
    assert_serving(&mut a, &dev).await;

    let mut c = v311_client(&a, &dev, "len-v311").await;
    c.write_raw(&bad).await;
    c.expect_close(None).await;
    assert_serving(&mut a, &dev).await;
}

/// 3. Invalid UTF-8 in a PUBLISH topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_topic_is_malformed() {
    let mut a = Airlock::start("");
    let dev = a.device("utf8");
    let mut sub = v5_client(&a, &dev, "utf8-sub").await;
    sub.subscribe("#", QoS::AtMostOnce, 1).await;

    for topic in [&b"bad/\xC3\x28"[..], &b"bad/\xFF"[..], &b"bad/\x00nul"[..]] {
        let mut c = v5_client(&a, &dev, "utf8-pub").await;
        c.write_raw(&raw_v5_publish(topic, b"x")).await;
        c.expect_close(Some(rc::MALFORMED_PACKET)).await;
        assert_serving(&mut a, &dev).await;
    }
    match sub.recv(Duration::from_millis(500)).await {
        Rx::Timeout => {}
        other => panic!("subscriber on # got {other:?} from an invalid PUBLISH"),
    }
}

/// 4. Wildcards in a PUBLISH topic name: the codec calls it malformed, the broker sends 0x81;
/// nothing is routed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_publish_topic_is_refused() {
    let mut a = Airlock::start("");
    let dev = a.device("wild");
    let mut sub = v5_client(&a, &dev, "wild-sub").await;
    sub.subscribe("#", QoS::AtMostOnce, 1).await;

    for topic in ["a/+/b", "a/#", "+", "#"] {
        let mut c = v5_client(&a, &dev, "wild-pub").await;
        c.write_raw(&raw_v5_publish(topic.as_bytes(), b"should not route"))
            .await;
        c.expect_close(Some(rc::MALFORMED_PACKET)).await;

        let mut c = v311_client(&a, &dev, "wild-pub-311").await;
        let mut p = encode_packet(
            &publish_packet("a/b", &b"x"[..], QoS::AtMostOnce, None, false),
            V311,
        );
        // Same length, wildcard topic: "a/b" -> "a/#".
        let at = p.iter().rposition(|&b| b == b'b').expect("topic byte");
        p[at] = b'#';
        c.write_raw(&p).await;
        c.expect_close(None).await;
        assert_serving(&mut a, &dev).await;
    }
    // Positive control: the subscriber does receive a valid publish, and only that one.
    let mut c = v5_client(&a, &dev, "wild-ok").await;
    c.send(&publish_packet(
        "a/x/b",
        &b"valid"[..],
        QoS::AtMostOnce,
        None,
        false,
    ))
    .await;
    match sub.recv(WAIT).await {
        Rx::Packet(Packet::Publish(p)) => {
            assert_eq!(
                p.topic, "a/x/b",
                "subscriber on # received a message from a wildcard PUBLISH: {p:?}"
            );
            assert_eq!(&p.payload[..], b"valid");
        }
        other => panic!("subscriber expected the control message, got {other:?}"),
    }
    match sub.recv(Duration::from_millis(300)).await {
        Rx::Timeout => {}
        other => panic!("unexpected {other:?}"),
    }
}

/// 5. A PUBLISH announcing more than max_packet_size is refused from its fixed header alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packet_refused_before_body() {
    let mut a = Airlock::start("[mqtt]\nmax_packet_size = 2048\n");
    let dev = a.device("big");
    let (mut c, ack) = RawMqtt::connect(&a, &dev, "big-v5", V5, true, None).await;
    assert_eq!(ack.code, rc::SUCCESS);
    assert_eq!(
        ack.properties.maximum_packet_size,
        Some(2048),
        "CONNACK must advertise Maximum Packet Size"
    );
    let mut header = vec![0x30];
    header.extend(varint(100_000));
    c.write_raw(&header).await; // the body is never sent
    c.expect_close(Some(rc::PACKET_TOO_LARGE)).await;
    assert_serving(&mut a, &dev).await;

    // 3.1.1: the same, closed without a packet.
    let mut c = v311_client(&a, &dev, "big-v311").await;
    c.write_raw(&header).await;
    c.expect_close(None).await;

    // Just over the limit with the body actually sent: refused too.
    let mut c = v5_client(&a, &dev, "big-v5b").await;
    c.write_raw(&raw_v5_publish(b"big", &vec![b'x'; 2048]))
        .await;
    c.expect_close(Some(rc::PACKET_TOO_LARGE)).await;
    assert_serving(&mut a, &dev).await;
}

/// 6. A second CONNECT on an established connection is a protocol error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connect_is_protocol_error() {
    let mut a = Airlock::start("");
    let dev = a.device("twice");
    let mut c = v5_client(&a, &dev, "twice").await;
    c.send(&connect_packet("twice", V5, true, None)).await;
    c.expect_close(Some(rc::PROTOCOL_ERROR)).await;

    let mut c = v311_client(&a, &dev, "twice-311").await;
    c.send(&connect_packet("twice-311", V311, true, None)).await;
    c.expect_close(None).await;
    assert_serving(&mut a, &dev).await;
}

/// 7. Any packet other than CONNECT first: closed without a reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_before_connect_is_closed_silently() {
    let mut a = Airlock::start("");
    let dev = a.device("early");
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 7,
        filters: vec![(
            "x/#".to_string(),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: false,
                retain_handling: 0,
            },
        )],
        properties: Properties::default(),
    });
    let firsts = [
        vec![0xC0, 0x00], // PINGREQ
        encode_packet(&subscribe, V5),
        encode_packet(&subscribe, V311),
        encode_packet(
            &publish_packet("x/y", &b"z"[..], QoS::AtLeastOnce, Some(1), false),
            V5,
        ),
    ];
    for first in firsts {
        let mut c = RawMqtt::tls(&a, &dev, V5).await;
        c.write_raw(&first).await;
        c.expect_close(None).await;
        assert_serving(&mut a, &dev).await;
    }
}

/// 8. No client certificate on the certificate-required endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_client_certificate_is_refused() {
    let mut a = Airlock::start("");
    let dev = a.device("nocert");
    refused_at_tls(&a, None, &dev.ca).await;
    let series = r#"airlock_tls_handshake_failures_total{reason="no_client_certificate"}"#;
    let v = wait_metric(&a, series, 1.0, WAIT).await;
    assert!(v >= 1.0, "{series} = {v}; metrics:\n{}", a.metrics());
    assert_serving(&mut a, &dev).await;
}

/// The TLS handshake fails, or (TLS 1.3: the client finishes first) the first read fails;
/// a CONNECT never gets a CONNACK.
async fn refused_at_tls(a: &Airlock, dev: Option<&Device>, ca: &std::path::Path) {
    let s = match tokio::time::timeout(WAIT, raw_tls(a.port, dev, ca))
        .await
        .expect("handshake hang")
    {
        Err(e) => {
            eprintln!("handshake refused: {e}");
            return;
        }
        Ok(s) => s,
    };
    let mut c = RawMqtt::new(Box::new(s), V5);
    // The write may already fail; that is a refusal as well.
    let _ = c
        .try_send(&connect_packet("no-connack", V5, true, None))
        .await;
    match c.recv(WAIT).await {
        Rx::Packet(p) => panic!("a client the TLS layer should refuse got {p:?}"),
        Rx::Timeout => panic!("connection neither refused nor answered"),
        Rx::Closed => {}
        Rx::Error(e) => eprintln!("refused after the handshake: {e}"),
    }
}

/// 9. A certificate issued by another CA (another Airlock's) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_another_ca_is_refused() {
    let mut a = Airlock::start("");
    let dev = a.device("home");
    let mut b = Airlock::start("");
    let stranger = b.device("stranger");
    // Control: the stranger's certificate is valid where it was issued.
    let (mut c, ack) = RawMqtt::connect(&b, &stranger, "stranger", V5, true, None).await;
    assert_eq!(ack.code, rc::SUCCESS);
    c.disconnect().await;
    assert!(b.alive());

    // Against `a`, trusting `a`'s server certificate but presenting `b`'s client certificate.
    let foreign = Device {
        ca: dev.ca.clone(),
        ..stranger
    };
    refused_at_tls(&a, Some(&foreign), &dev.ca).await;
    let series = r#"airlock_tls_handshake_failures_total{reason="unknown_issuer"}"#;
    let v = wait_metric(&a, series, 1.0, WAIT).await;
    assert!(
        v >= 1.0,
        "{series} = {v}; metrics:\n{}\nlog:\n{}",
        a.metrics(),
        a.log()
    );
    assert_serving(&mut a, &dev).await;
}

/// 10. A subscriber that stops reading while a flood is routed to it: the broker stays
/// responsive, sheds the stalled client (write timeout) or drops for it (queue full), and its
/// memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_does_not_hurt_the_broker() {
    let mut a = Airlock::start("[mqtt]\nwrite_timeout_secs = 2\nmax_queued_messages = 100\n");
    let dev = a.device("flood");
    let rss_before = rss_kib(&a);

    let mut stalled = v5_client(&a, &dev, "stalled").await;
    let ack = stalled.subscribe("flood/#", QoS::AtMostOnce, 1).await;
    assert_eq!(ack.reasons, vec![0]);
    // From here on `stalled` is never read until the flood is over.

    let mut publisher = v5_client(&a, &dev, "flooder").await;
    let flood = tokio::spawn(async move {
        let payload = Bytes::from(vec![0xA5u8; 8 * 1024]);
        let mut batch = Vec::new();
        for i in 0..3000u32 {
            let p = publish_packet(
                &format!("flood/{}", i % 10),
                payload.clone(),
                QoS::AtMostOnce,
                None,
                false,
            );
            batch.extend(encode_packet(&p, V5));
            if batch.len() >= 256 * 1024 {
                publisher.write_raw(&batch).await;
                batch.clear();
                // Paced so the broker forwards rather than drops: the stalled socket fills.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        publisher.write_raw(&batch).await;
        // A round trip proves the broker read the whole flood.
        publisher.send(&Packet::PingReq).await;
        match publisher.recv(Duration::from_secs(30)).await {
            Rx::Packet(Packet::PingResp) => {}
            other => panic!("publisher expected PINGRESP after the flood, got {other:?}"),
        }
        publisher
    });
    // Serving during the flood.
    assert_serving(&mut a, &dev).await;
    let mut publisher = tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .expect("flood did not finish")
        .expect("flood task");
    publisher.disconnect().await;
    assert_serving(&mut a, &dev).await;

    let stalled_series = r#"airlock_disconnects_total{reason="write_stalled"}"#;
    let full_series = r#"airlock_messages_dropped_total{reason="queue_full"}"#;
    let write_stalled = wait_metric(&a, stalled_series, 1.0, Duration::from_secs(15)).await;
    let queue_full = metric(&a.metrics(), full_series);
    eprintln!("stalled reader: {stalled_series} = {write_stalled}, {full_series} = {queue_full}");

    // Now read the stalled connection: buffered data, then the close if it was shed.
    let mut closed = false;
    let mut bytes = 0usize;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut sink = vec![0u8; 256 * 1024];
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(3), stalled.io.read(&mut sink)).await {
            Err(_) => break, // silent: still connected
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => bytes += n,
        }
    }
    eprintln!("stalled reader: read {bytes} buffered bytes, then closed = {closed}");
    if write_stalled >= 1.0 {
        assert!(
            closed,
            "broker counted a write-stalled disconnect but the connection stayed open"
        );
        assert!(
            a.log().contains("client stopped reading"),
            "log:\n{}",
            a.log()
        );
    }
    assert!(
        closed || queue_full > 0.0,
        "a reader that never reads was neither disconnected nor had messages dropped (read {bytes} bytes)"
    );
    assert!(
        bytes < 3000 * 8 * 1024,
        "the whole flood reached a reader that was not reading"
    );

    let rss_after = rss_kib(&a);
    eprintln!("broker RSS: {rss_before} KiB before, {rss_after} KiB after");
    assert!(
        rss_after.saturating_sub(rss_before) < 200 * 1024,
        "broker RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_serving(&mut a, &dev).await;
}

/// 11. Invalid fixed-header flags and QoS 3 are malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fixed_header_flags_are_malformed() {
    let mut a = Airlock::start("");
    let dev = a.device("flags");
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 3,
        filters: vec![(
            "f/#".to_string(),
            SubscriptionOptions {
                qos: QoS::AtMostOnce,
                no_local: false,
                retain_as_published: false,
                retain_handling: 0,
            },
        )],
        properties: Properties::default(),
    });
    let mut sub0 = encode_packet(&subscribe, V5);
    assert_eq!(sub0[0], 0x82);
    sub0[0] = 0x80; // SUBSCRIBE with flags 0000
    let mut qos3 = encode_packet(
        &publish_packet("f/q", &b"x"[..], QoS::AtLeastOnce, Some(5), false),
        V5,
    );
    assert_eq!(qos3[0], 0x32);
    qos3[0] = 0x36; // QoS bits 11
    let mut pingreq_flags = vec![0xC0, 0x00];
    pingreq_flags[0] |= 0x01; // PINGREQ with flags 0001
    let mut unsub0 = encode_packet(
        &Packet::Unsubscribe(airlock_mqtt::Unsubscribe {
            packet_id: 4,
            filters: vec!["f/#".into()],
            properties: Properties::default(),
        }),
        V5,
    );
    assert_eq!(unsub0[0], 0xA2);
    unsub0[0] = 0xA0;

    for bad in [&sub0, &qos3, &pingreq_flags, &unsub0] {
        let mut c = v5_client(&a, &dev, "flags-v5").await;
        c.write_raw(bad).await;
        c.expect_close(Some(rc::MALFORMED_PACKET)).await;
        assert_serving(&mut a, &dev).await;
    }
    // 3.1.1 has no server DISCONNECT: just closed.
    let mut c = v311_client(&a, &dev, "flags-311").await;
    let mut qos3 = encode_packet(
        &publish_packet("f/q", &b"x"[..], QoS::AtLeastOnce, Some(5), false),
        V311,
    );
    qos3[0] = 0x36;
    c.write_raw(&qos3).await;
    c.expect_close(None).await;
    assert_serving(&mut a, &dev).await;
}

/// 12. The plain-TCP `authentication = "none"` endpoint serves anonymous clients and says so
/// loudly in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_endpoint_accepts_anonymous_and_warns() {
    let mut a = Airlock::start_with_lab("");
    let dev = a.device("lab");
    let lab = a.lab_port.expect("lab port");
    let mut c = RawMqtt::tcp(lab, V311).await;
    c.send(&connect_packet("anon-311", V311, true, None)).await;
    let ack = c.expect_connack().await;
    assert_eq!(ack.code, rc::v311::ACCEPTED);
    // It really is an MQTT session: subscribe and get our own message back.
    let s = c.subscribe("lab/#", QoS::AtLeastOnce, 1).await;
    assert_eq!(s.reasons, vec![1]);
    c.send(&publish_packet(
        "lab/t",
        &b"hello"[..],
        QoS::AtMostOnce,
        None,
        false,
    ))
    .await;
    match c.recv(WAIT).await {
        Rx::Packet(Packet::Publish(p)) => assert_eq!(&p.payload[..], b"hello"),
        other => panic!("expected our PUBLISH back, got {other:?}"),
    }
    c.disconnect().await;
    assert!(
        a.log().contains("ENDPOINT WITHOUT AUTHENTICATION"),
        "log lacks the warning:\n{}",
        a.log()
    );
    // The TLS endpoint still requires a certificate.
    refused_at_tls(&a, None, &dev.ca).await;
    assert_serving(&mut a, &dev).await;
}
