//! Malformed, hostile and misbehaving clients over the wire. Each case checks the
//! protocol-correct reaction (the exact v5 DISCONNECT reason code, or a silent close), and
//! that the broker is still alive and still accepts a fresh, valid client afterwards.

use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{Packet, Properties, ProtocolVersion, QoS};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::harness::{
    Airlock, Device, RawMqtt, Rx, WAIT, assert_serving, connect_packet, encode_packet, metric,
    publish_packet, refused_at_tls, subscribe_packet, wait_metric,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

/// A fresh client `id` writes `bytes`; the broker must close the connection as
/// [`RawMqtt::expect_close`] checks: with exactly DISCONNECT `reason`, or (`None`) silently.
async fn closes_after(
    a: &Airlock,
    dev: &Device,
    version: ProtocolVersion,
    id: &str,
    bytes: &[u8],
    reason: Option<u8>,
) {
    let mut c = RawMqtt::client(a, dev, version, id).await;
    c.write_raw(bytes).await;
    c.expect_close(reason).await;
}

/// A TLS connection that has sent no CONNECT writes `bytes` (then half-closes if
/// `half_close`); the broker must close it without sending any packet.
async fn closed_before_connect(a: &Airlock, dev: &Device, bytes: &[u8], half_close: bool) {
    let mut c = RawMqtt::tls(a, dev, V5).await;
    c.write_raw(bytes).await;
    if half_close {
        c.shutdown().await;
    }
    c.expect_close(None).await;
}

/// The encoded CONNECT of a clean-start client `id`.
fn connect_bytes(version: ProtocolVersion, id: &str) -> Vec<u8> {
    encode_packet(&Packet::Connect(connect_packet(version, id, true)), version)
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
    let mut full = connect_bytes(V5, "trunc-1");
    assert!(full[1] < 100, "short CONNECT expected");
    full[1] += 20; // promise 20 bytes that never come

    // Silent client: only the connect timeout can end this.
    closed_before_connect(&a, &dev, &full, false).await;
    assert!(
        a.log().contains("no CONNECT within 1s"),
        "expected the connect timeout to close the connection; log:\n{}",
        a.log()
    );
    assert_serving(&mut a, &dev).await;

    // Half-closing client: the broker sees EOF in the middle of the packet.
    closed_before_connect(&a, &dev, &full, true).await;
    assert_serving(&mut a, &dev).await;
}

/// 2. A remaining length of five bytes after a valid session start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_byte_remaining_length_is_malformed() {
    let mut a = Airlock::start("");
    let dev = a.device("len");
    let bad = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];

    closes_after(&a, &dev, V5, "len-v5", &bad, Some(rc::MALFORMED_PACKET)).await;
    assert_serving(&mut a, &dev).await;

    closes_after(&a, &dev, V311, "len-v311", &bad, None).await;
    assert_serving(&mut a, &dev).await;
}

/// 3. Invalid UTF-8 in a PUBLISH topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_topic_is_malformed() {
    let mut a = Airlock::start("");
    let dev = a.device("utf8");
    let mut sub = RawMqtt::client(&a, &dev, V5, "utf8-sub").await;
    sub.subscribe(1, "#", QoS::AtMostOnce).await;

    for topic in [&b"bad/\xC3\x28"[..], &b"bad/\xFF"[..], &b"bad/\x00nul"[..]] {
        let publish = raw_v5_publish(topic, b"x");
        closes_after(
            &a,
            &dev,
            V5,
            "utf8-pub",
            &publish,
            Some(rc::MALFORMED_PACKET),
        )
        .await;
        assert_serving(&mut a, &dev).await;
    }
    // Nothing of an invalid PUBLISH reaches the subscriber on #.
    sub.expect_nothing(Duration::from_millis(500)).await;
}

/// 4. Wildcards in a PUBLISH topic name: the codec calls it malformed, the broker sends 0x81;
/// nothing is routed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_publish_topic_is_refused() {
    let mut a = Airlock::start("");
    let dev = a.device("wild");
    let mut sub = RawMqtt::client(&a, &dev, V5, "wild-sub").await;
    sub.subscribe(1, "#", QoS::AtMostOnce).await;

    for topic in ["a/+/b", "a/#", "+", "#"] {
        let publish = raw_v5_publish(topic.as_bytes(), b"should not route");
        closes_after(
            &a,
            &dev,
            V5,
            "wild-pub",
            &publish,
            Some(rc::MALFORMED_PACKET),
        )
        .await;

        let mut p = encode_packet(
            &publish_packet("a/b", b"x", QoS::AtMostOnce, 0, false),
            V311,
        );
        // Same length, wildcard topic: "a/b" -> "a/#".
        let at = p.iter().rposition(|&b| b == b'b').expect("topic byte");
        p[at] = b'#';
        closes_after(&a, &dev, V311, "wild-pub-311", &p, None).await;
        assert_serving(&mut a, &dev).await;
    }
    // Positive control: the subscriber does receive a valid publish, and only that one.
    let mut c = RawMqtt::client(&a, &dev, V5, "wild-ok").await;
    c.publish("a/x/b", b"valid", QoS::AtMostOnce, 0).await;
    let p = sub.expect_publish().await;
    assert_eq!(
        p.topic, "a/x/b",
        "subscriber on # received a message from a wildcard PUBLISH: {p:?}"
    );
    assert_eq!(&p.payload[..], b"valid");
    sub.expect_nothing(Duration::from_millis(300)).await;
}

/// 5. A PUBLISH announcing more than max_packet_size is refused from its fixed header alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packet_refused_before_body() {
    let mut a = Airlock::start("[mqtt]\nmax_packet_size = 2048\n");
    let dev = a.device("big");
    let (mut c, ack) = RawMqtt::connect_ok(&a, &dev, connect_packet(V5, "big-v5", true)).await;
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
    closes_after(&a, &dev, V311, "big-v311", &header, None).await;

    // Just over the limit with the body actually sent: refused too.
    let publish = raw_v5_publish(b"big", &[b'x'; 2048]);
    closes_after(
        &a,
        &dev,
        V5,
        "big-v5b",
        &publish,
        Some(rc::PACKET_TOO_LARGE),
    )
    .await;
    assert_serving(&mut a, &dev).await;
}

/// 6. A second CONNECT on an established connection is a protocol error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connect_is_protocol_error() {
    let mut a = Airlock::start("");
    let dev = a.device("twice");
    let again = connect_bytes(V5, "twice");
    closes_after(&a, &dev, V5, "twice", &again, Some(rc::PROTOCOL_ERROR)).await;

    let again = connect_bytes(V311, "twice-311");
    closes_after(&a, &dev, V311, "twice-311", &again, None).await;
    assert_serving(&mut a, &dev).await;
}

/// 7. Any packet other than CONNECT first: closed without a reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_before_connect_is_closed_silently() {
    let mut a = Airlock::start("");
    let dev = a.device("early");
    let subscribe = subscribe_packet(7, "x/#", QoS::AtLeastOnce);
    let firsts = [
        vec![0xC0, 0x00], // PINGREQ
        encode_packet(&subscribe, V5),
        encode_packet(&subscribe, V311),
        encode_packet(&publish_packet("x/y", b"z", QoS::AtLeastOnce, 1, false), V5),
    ];
    for first in firsts {
        closed_before_connect(&a, &dev, &first, false).await;
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

/// 9. A certificate issued by another CA (another Airlock's) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_another_ca_is_refused() {
    let mut a = Airlock::start("");
    let dev = a.device("home");
    let mut b = Airlock::start("");
    let stranger = b.device("stranger");
    // Control: the stranger's certificate is valid where it was issued.
    let mut c = RawMqtt::client(&b, &stranger, V5, "stranger").await;
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

    let mut stalled = RawMqtt::client(&a, &dev, V5, "stalled").await;
    stalled.subscribe(1, "flood/#", QoS::AtMostOnce).await; // granted QoS 0
    // From here on `stalled` is never read until the flood is over.

    let mut publisher = RawMqtt::client(&a, &dev, V5, "flooder").await;
    let flood = tokio::spawn(async move {
        let payload = vec![0xA5u8; 8 * 1024];
        let mut batch = Vec::new();
        for i in 0..3000u32 {
            let topic = format!("flood/{}", i % 10);
            let p = publish_packet(&topic, &payload, QoS::AtMostOnce, 0, false);
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
    let mut sub0 = encode_packet(&subscribe_packet(3, "f/#", QoS::AtMostOnce), V5);
    assert_eq!(sub0[0], 0x82);
    sub0[0] = 0x80; // SUBSCRIBE with flags 0000
    let qos1 = publish_packet("f/q", b"x", QoS::AtLeastOnce, 5, false);
    let mut qos3 = encode_packet(&qos1, V5);
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
        closes_after(&a, &dev, V5, "flags-v5", bad, Some(rc::MALFORMED_PACKET)).await;
        assert_serving(&mut a, &dev).await;
    }
    // 3.1.1 has no server DISCONNECT: just closed.
    let mut qos3 = encode_packet(&qos1, V311);
    qos3[0] = 0x36;
    closes_after(&a, &dev, V311, "flags-311", &qos3, None).await;
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
    c.write_raw(&connect_bytes(V311, "anon-311")).await;
    let ack = c.expect_connack().await;
    assert_eq!(ack.code, rc::v311::ACCEPTED);
    // It really is an MQTT session: subscribe (granted QoS 1) and get our own message back.
    c.subscribe(1, "lab/#", QoS::AtLeastOnce).await;
    c.publish("lab/t", b"hello", QoS::AtMostOnce, 0).await;
    assert_eq!(&c.expect_publish().await.payload[..], b"hello");
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
