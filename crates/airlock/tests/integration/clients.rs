//! Real clients (rumqttc 3.1.1 and 5, mosquitto_pub/sub, a raw TLS socket with ALPN) connect
//! with client certificates, subscribe, publish and receive their own messages; lifecycle
//! events describe them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_mqtt::{Packet, ProtocolVersion, QoS};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::harness::{
    Airlock, Device, RawMqtt, WAIT, connect_packet, have_mosquitto_clients, mosquitto_tls_args,
    raw_tls, spawn_v4, spawn_v5, v4_options, v5_options,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v4_publishes_and_receives_its_own_message_at_qos1() {
    use rumqttc::{ConnectReturnCode, Event, Packet as P, QoS as Q, SubscribeReasonCode};
    let a = Airlock::start("");
    let d = a.device("sensor-4");
    let (client, mut ev) = spawn_v4(v4_options(&a, &d, "sensor-4"));
    assert_eq!(ev.connack().await.code, ConnectReturnCode::Success);

    client
        .subscribe("dev/sensor-4/#", Q::AtLeastOnce)
        .await
        .unwrap();
    let codes = ev.suback().await;
    assert_eq!(codes, vec![SubscribeReasonCode::Success(Q::AtLeastOnce)]);

    client
        .publish(
            "dev/sensor-4/temperature",
            Q::AtLeastOnce,
            false,
            b"21.5 C".to_vec(),
        )
        .await
        .unwrap();
    let mut received = None;
    let mut acked = false;
    while received.is_none() || !acked {
        let e = ev
            .wait_for(WAIT, "own PUBLISH and PUBACK", |e| match e {
                Event::Incoming(P::Publish(p)) => Some(Ok(p.clone())),
                Event::Incoming(P::PubAck(a)) => Some(Err(a.pkid)),
                _ => None,
            })
            .await;
        match e {
            Ok(p) => {
                assert!(received.is_none(), "message delivered twice: {p:?}");
                received = Some(p);
            }
            Err(_) => acked = true,
        }
    }
    let p = received.unwrap();
    assert_eq!(p.topic, "dev/sensor-4/temperature");
    assert_eq!(&p.payload[..], b"21.5 C");
    assert_eq!(p.qos, Q::AtLeastOnce);
    assert!(!p.retain);
    assert!(!p.dup);
    ev.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_round_trip_keeps_user_property_and_content_type() {
    use rumqttc::v5::mqttbytes::QoS as Q;
    use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, PublishProperties, SubscribeReasonCode};
    let a = Airlock::start("");
    let d = a.device("sensor-5");
    let (client, mut ev) = spawn_v5(v5_options(&a, &d, "sensor-5"));
    assert_eq!(ev.connack().await.code, ConnectReturnCode::Success);

    client
        .subscribe("dev/sensor-5/#", Q::AtLeastOnce)
        .await
        .unwrap();
    let codes = ev.suback().await;
    assert_eq!(codes, vec![SubscribeReasonCode::Success(Q::AtLeastOnce)]);

    let props = PublishProperties {
        content_type: Some("application/json".into()),
        user_properties: vec![
            ("site".into(), "plant-a".into()),
            ("line".into(), "3".into()),
        ],
        ..Default::default()
    };
    client
        .publish_with_properties(
            "dev/sensor-5/status",
            Q::AtLeastOnce,
            false,
            br#"{"ok":true}"#.to_vec(),
            props,
        )
        .await
        .unwrap();
    let p = ev.next_publish().await;
    assert_eq!(&p.topic[..], b"dev/sensor-5/status");
    assert_eq!(&p.payload[..], br#"{"ok":true}"#);
    assert_eq!(p.qos, Q::AtLeastOnce);
    let props = p.properties.expect("PUBLISH properties");
    assert_eq!(props.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        props.user_properties,
        vec![
            ("site".to_string(), "plant-a".to_string()),
            ("line".to_string(), "3".to_string())
        ]
    );
    ev.kill().await;
}

/// mosquitto_sub subscribes, mosquitto_pub publishes, mosquitto_sub prints the message in our
/// format (topic, QoS, retain flag, payload) and exits after one message.
fn mosquitto_round_trip(version: &str) {
    if !have_mosquitto_clients() {
        eprintln!("SKIPPED: mosquitto_pub/mosquitto_sub are not installed");
        return;
    }
    let a = Airlock::start("");
    let d = a.device("mosq-dev");
    let filter = format!("dev/{}/#", d.name);
    let topic = format!("dev/{}/reading", d.name);
    let payload = format!("hello over {version}");
    let mut sub = Command::new("mosquitto_sub")
        .args(mosquitto_tls_args(&a, &d))
        .args([
            "-V", version, "-i", "mosq-sub", "-q", "1", "-C", "1", "-W", "10",
        ])
        .args(["-F", "MSG|%t|%q|%r|%p", "-t", &filter])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mosquitto_sub");
    let stdout = sub.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // mosquitto_sub's subscription time is not observable from outside (its debug output is
    // block-buffered into a pipe), so publish until it prints the message; -C 1 makes it exit
    // after the first one, and every publish carries the same topic and payload.
    let mut lines: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    let msg = 'outer: loop {
        assert!(
            std::time::Instant::now() < deadline,
            "mosquitto_sub printed no message; output {lines:?}; broker log:\n{}",
            a.log()
        );
        let out = Command::new("mosquitto_pub")
            .args(mosquitto_tls_args(&a, &d))
            .args([
                "-V", version, "-i", "mosq-pub", "-q", "1", "-t", &topic, "-m", &payload,
            ])
            .output()
            .expect("run mosquitto_pub");
        assert!(
            out.status.success(),
            "mosquitto_pub failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
            lines.push(l.clone());
            if let Some(rest) = l.strip_prefix("MSG|") {
                break 'outer rest.to_string();
            }
        }
    };
    assert_eq!(msg, format!("{topic}|1|0|{payload}"));
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = sub.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mosquitto_sub -C 1 did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "mosquitto_sub exit status {status:?}; output {lines:?}"
    );
}

#[test]
fn mosquitto_clients_round_trip_mqtt311() {
    mosquitto_round_trip("mqttv311");
}

#[test]
fn mosquitto_clients_round_trip_mqtt5() {
    mosquitto_round_trip("mqttv5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_x_amzn_mqtt_ca_is_negotiated_and_connect_is_accepted() {
    let a = Airlock::start("");
    let d = a.device("alpn-dev");
    let stream = raw_tls(a.port, Some(&d), &d.ca, &[b"x-amzn-mqtt-ca"])
        .await
        .expect("TLS with ALPN");
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"x-amzn-mqtt-ca"[..]),
        "negotiated ALPN"
    );
    let mut c = RawMqtt::new(stream, ProtocolVersion::V311);
    let connect = connect_packet(ProtocolVersion::V311, "alpn-dev", true);
    c.send(&Packet::Connect(connect)).await;
    let ack = c.expect_connack().await;
    assert_eq!(ack.code, 0, "CONNACK return code");
    assert!(!ack.session_present);
    // The connection is usable: a round trip on it.
    c.subscribe(1, "dev/alpn-dev/x", QoS::AtMostOnce).await;
    c.publish("dev/alpn-dev/x", b"via 443", QoS::AtMostOnce, 0)
        .await;
    let p = c.expect_publish().await;
    assert_eq!(p.topic, "dev/alpn-dev/x");
    assert_eq!(&p.payload[..], b"via 443");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_with_keep_alive_zero_is_accepted() {
    let a = Airlock::start("");
    let d = a.device("ka0");
    let mut connect = connect_packet(ProtocolVersion::V5, "ka0", true);
    connect.keep_alive = 0;
    let (mut c, ack) = RawMqtt::connect(&a, &d, connect).await;
    assert_eq!(ack.code, 0, "CONNACK reason: {ack:?}");
    assert_eq!(
        ack.properties.server_keep_alive, None,
        "keep alive 0 must not be overridden"
    );
    // The connection works: a PINGREQ is answered and a round trip goes through.
    c.send(&Packet::PingReq).await;
    assert_eq!(c.expect().await, Packet::PingResp);
    c.subscribe(1, "dev/ka0/t", QoS::AtLeastOnce).await;
    let other = c
        .publish("dev/ka0/t", b"still here", QoS::AtLeastOnce, 5)
        .await;
    let p = match other.into_iter().next() {
        Some(Packet::Publish(p)) => p,
        Some(p) => panic!("unexpected {p:?}"),
        None => c.expect_publish().await,
    };
    assert_eq!(p.topic, "dev/ka0/t");
    assert_eq!(&p.payload[..], b"still here");
}

fn sha256_hex(data: &[u8]) -> String {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let hash = suite.tls13().expect("TLS 1.3 suite").common.hash_provider;
    assert_eq!(
        hash.algorithm(),
        rustls::crypto::hash::HashAlgorithm::SHA256
    );
    hash.hash(data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn certificate_id(d: &Device) -> String {
    let leaf = CertificateDer::pem_file_iter(&d.cert)
        .unwrap()
        .next()
        .expect("a certificate")
        .unwrap();
    sha256_hex(leaf.as_ref())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Next lifecycle event on `watcher`, parsed; checks the MQTT 5 properties it carries.
async fn next_event(watcher: &mut RawMqtt, topic: &str) -> serde_json::Value {
    let p = watcher.expect_publish().await;
    assert_eq!(p.topic, topic);
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert_eq!(
        p.properties.content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(p.properties.payload_format_indicator, Some(1));
    if let Some(pid) = p.packet_id {
        watcher.puback(pid).await;
    }
    serde_json::from_slice(&p.payload).expect("event is JSON")
}

fn assert_common_fields(
    ev: &serde_json::Value,
    kind: &str,
    client_id: &str,
    cert_id: &str,
    before: u64,
) {
    assert_eq!(ev["clientId"], client_id, "{ev}");
    assert_eq!(ev["eventType"], kind, "{ev}");
    let ts = ev["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("timestamp: {ev}"));
    assert!(
        ts >= before && ts <= now_ms() + 1,
        "timestamp {ts} outside the test's window: {ev}"
    );
    let session = ev["sessionIdentifier"]
        .as_str()
        .unwrap_or_else(|| panic!("sessionIdentifier: {ev}"));
    assert!(!session.is_empty(), "{ev}");
    let principal = ev["principalIdentifier"]
        .as_str()
        .unwrap_or_else(|| panic!("principalIdentifier: {ev}"));
    assert_eq!(principal.len(), 64, "{ev}");
    assert!(
        principal
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{ev}"
    );
    assert_eq!(
        principal, cert_id,
        "principalIdentifier must be the SHA-256 of the client certificate"
    );
    assert_eq!(ev["ipAddress"], "127.0.0.1", "{ev}");
    assert!(ev["versionNumber"].is_u64(), "versionNumber: {ev}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_describe_connect_and_disconnect() {
    let a = Airlock::start("");
    let watcher_dev = a.device("watcher");
    let thing = a.device("thing-7");
    let cert_id = certificate_id(&thing);
    let id = "thing-7-client";
    let connected = format!("$aws/events/presence/connected/{id}");
    let disconnected = format!("$aws/events/presence/disconnected/{id}");

    let mut w = RawMqtt::client(&a, &watcher_dev, ProtocolVersion::V5, "watcher").await;
    w.subscribe(1, &connected, QoS::AtLeastOnce).await;
    w.subscribe(2, &disconnected, QoS::AtLeastOnce).await;

    // 1. Connect, then a clean DISCONNECT.
    let before = now_ms();
    let (client, mut ev) = spawn_v4(v4_options(&a, &thing, id));
    ev.connack().await;
    let c = next_event(&mut w, &connected).await;
    assert_common_fields(&c, "connected", id, &cert_id, before);
    assert!(c.get("clientInitiatedDisconnect").is_none(), "{c}");

    client.disconnect().await.unwrap();
    let dis = next_event(&mut w, &disconnected).await;
    assert_common_fields(&dis, "disconnected", id, &cert_id, before);
    assert_eq!(dis["clientInitiatedDisconnect"], true, "{dis}");
    assert_eq!(
        dis["disconnectReason"], "CLIENT_INITIATED_DISCONNECT",
        "{dis}"
    );
    assert_eq!(
        dis["sessionIdentifier"], c["sessionIdentifier"],
        "one session id per connection"
    );
    ev.kill().await;

    // 2. Connect again, then drop the connection without DISCONNECT.
    let before = now_ms();
    let (_client, mut ev) = spawn_v4(v4_options(&a, &thing, id));
    ev.connack().await;
    let c2 = next_event(&mut w, &connected).await;
    assert_common_fields(&c2, "connected", id, &cert_id, before);
    assert_ne!(
        c2["sessionIdentifier"], c["sessionIdentifier"],
        "a new connection gets a new session id"
    );
    ev.kill().await;
    let dis2 = next_event(&mut w, &disconnected).await;
    assert_common_fields(&dis2, "disconnected", id, &cert_id, before);
    assert_eq!(dis2["clientInitiatedDisconnect"], false, "{dis2}");
    assert_eq!(dis2["disconnectReason"], "CONNECTION_LOST", "{dis2}");
    assert_eq!(dis2["sessionIdentifier"], c2["sessionIdentifier"]);
}
