//! MQTT over WebSocket (`protocol = "mqtt-ws"`, issue #5): Eclipse Paho Python as a real
//! third-party client, raw upgrades and frame boundaries with tokio-tungstenite, and a
//! WebSocket publisher reaching a plain MQTT/TLS subscriber.

use std::process::Command;
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{Packet, ProtocolVersion, QoS, decode};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::harness::{
    Airlock, Device, RawMqtt, WAIT, client_tls, connect_packet, encode_packet, publish_packet,
    subscribe_packet, wait_metric,
};

const V5: ProtocolVersion = ProtocolVersion::V5;

type Wss = WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Airlock with its default MQTT/TLS endpoint plus an `mqtt-ws` endpoint `ws`; the ws port.
fn start_with_ws() -> (Airlock, u16) {
    let ws = free_port();
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"ws\"\nbind = \"127.0.0.1:{ws}\"\nprotocol = \"mqtt-ws\"\n"
    ));
    (a, ws)
}

/// Connect to `port`, then [`ws_over`].
async fn ws_connect(
    port: u16,
    dev: &Device,
    path: &str,
    subprotocols: Option<&str>,
) -> Result<Wss, WsError> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("TCP connect");
    ws_over(tcp, port, dev, path, subprotocols).await
}

/// mTLS as `dev` over `tcp` (ALPN `http/1.1`), then a WebSocket upgrade on `path` offering
/// `subprotocols`.
async fn ws_over(
    tcp: tokio::net::TcpStream,
    port: u16,
    dev: &Device,
    path: &str,
    subprotocols: Option<&str>,
) -> Result<Wss, WsError> {
    tcp.set_nodelay(true).expect("nodelay");
    let connector =
        tokio_rustls::TlsConnector::from(client_tls(Some(dev), &dev.ca, &[b"http/1.1"]));
    let tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(WsError::Io)?;
    let mut req = format!("wss://localhost:{port}{path}")
        .into_client_request()
        .expect("request");
    if let Some(p) = subprotocols {
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(p).expect("header"),
        );
    }
    let upgrade = tokio_tungstenite::client_async(req, tls);
    let (ws, resp) = tokio::time::timeout(WAIT, upgrade)
        .await
        .expect("upgrade hang")?;
    if subprotocols.is_some() {
        assert!(
            resp.headers().get("Sec-WebSocket-Protocol").is_some(),
            "the server must name the chosen subprotocol"
        );
    }
    Ok(ws)
}

/// The HTTP status of a refused upgrade.
async fn refused_status(port: u16, dev: &Device, path: &str, sub: Option<&str>) -> u16 {
    match ws_connect(port, dev, path, sub).await {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP refusal of {path} {sub:?}, got {e}"),
        Ok(_) => panic!("upgrade of {path} {sub:?} was accepted"),
    }
}

/// MQTT over a client WebSocket, frame by frame.
struct WsMqtt {
    ws: Wss,
    buf: BytesMut,
}

impl WsMqtt {
    /// Upgrade on `/mqtt` with subprotocol `mqtt` and CONNECT as `client_id`: CONNACK success.
    async fn connect(port: u16, dev: &Device, client_id: &str) -> WsMqtt {
        let ws = ws_connect(port, dev, "/mqtt", Some("mqtt"))
            .await
            .expect("WebSocket upgrade");
        WsMqtt::connect_over(ws, client_id).await
    }

    /// CONNECT as `client_id` over an upgraded WebSocket: CONNACK success.
    async fn connect_over(ws: Wss, client_id: &str) -> WsMqtt {
        let mut c = WsMqtt {
            ws,
            buf: BytesMut::new(),
        };
        c.frames(vec![encode_packet(
            &Packet::Connect(connect_packet(V5, client_id, true)),
            V5,
        )])
        .await;
        match c.expect().await {
            Packet::ConnAck(ack) => assert_eq!(ack.code, rc::SUCCESS, "{ack:?}"),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        c
    }

    /// Send each element as one binary frame.
    async fn frames(&mut self, frames: Vec<Vec<u8>>) {
        for f in frames {
            self.ws
                .send(Message::Binary(f.into()))
                .await
                .expect("send frame");
        }
    }

    /// The next MQTT packet, whatever the frame boundaries.
    async fn expect(&mut self) -> Packet {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(p) = decode(&mut self.buf, V5, usize::MAX).expect("decodable") {
                return p;
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("no packet within {WAIT:?}"),
                Ok(Some(Ok(Message::Binary(b)))) => self.buf.extend_from_slice(&b),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => panic!("expected a binary frame, got {other:?}"),
            }
        }
    }

    /// The connection ends (close frame, EOF or reset) within [`WAIT`].
    async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("connection not closed"),
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(Some(Ok(m))) => panic!("expected the close, got {m:?}"),
            }
        }
    }
}

const PAHO_SCRIPT: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt

port, ca, cert, key, client_id, version = sys.argv[1:7]
protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
topic = "ws/paho/" + client_id
got = threading.Event()
state = {}

def on_connect(client, userdata, flags, reason_code, properties):
    state["connack"] = str(reason_code)
    if reason_code.is_failure:
        got.set()
        return
    client.subscribe(topic, qos=1)

def on_subscribe(client, userdata, mid, reason_codes, properties):
    state["suback"] = [str(r) for r in reason_codes]
    client.publish(topic, b"hello over websocket", qos=1)

def on_message(client, userdata, message):
    state["payload"] = message.payload.decode()
    got.set()

c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                transport="websockets", protocol=protocol)
c.ws_set_options(path="/mqtt")
c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.on_message = on_message
c.connect("localhost", int(port), keepalive=30)
c.loop_start()
ok = got.wait(15)
c.disconnect()
c.loop_stop()
print(state)
sys.exit(0 if ok and state.get("payload") == "hello over websocket" else 1)
"#;

/// A real third-party client: Eclipse Paho Python (`transport="websockets"`, path `/mqtt`,
/// mutual TLS with the device's files) connects as the device with MQTT 3.1.1 and with
/// MQTT 5, subscribes, publishes and receives its own message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_python_publishes_and_subscribes_over_websocket() {
    let probe = Command::new("python3")
        .args(["-c", "import paho.mqtt.client as m; m.CallbackAPIVersion"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "python3 with Eclipse Paho 2.x is required: python3 -m pip install --quiet 'paho-mqtt>=2,<3' (scripts/test installs it)"
        ),
    }
    let (a, ws) = start_with_ws();
    let dev = a.device("paho-ws");
    let script = a.data.path().join("paho_ws.py");
    std::fs::write(&script, PAHO_SCRIPT).expect("script");
    for version in ["3.1.1", "5"] {
        let client_id = format!("paho-ws-v{}", version.replace('.', ""));
        let out = tokio::task::spawn_blocking({
            let (script, dev) = (script.clone(), dev.clone());
            move || {
                Command::new("python3")
                    .arg(&script)
                    .arg(ws.to_string())
                    .arg(&dev.ca)
                    .arg(&dev.cert)
                    .arg(&dev.key)
                    .arg(&client_id)
                    .arg(version)
                    .output()
                    .expect("run python3")
            }
        })
        .await
        .expect("join");
        assert!(
            out.status.success(),
            "Paho over WebSocket (MQTT {version}) failed\nstdout: {}\nstderr: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            a.log()
        );
    }
}

/// The upgrade: another path is 404, no or an unknown subprotocol is 400 (each counted), an
/// unregistered device certificate never gets to the upgrade, `mqttv3.1` is accepted; then the
/// frames are a byte stream: a CONNECT split over two frames and SUBSCRIBE + PUBLISH in one
/// frame both work, and a text frame closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_rules_and_frame_boundaries() {
    let (a, ws) = start_with_ws();
    let dev = a.device("ws-raw");

    assert_eq!(refused_status(ws, &dev, "/", Some("mqtt")).await, 404);
    assert_eq!(refused_status(ws, &dev, "/mqtt/x", Some("mqtt")).await, 404);
    assert_eq!(refused_status(ws, &dev, "/mqtt", None).await, 400);
    assert_eq!(refused_status(ws, &dev, "/mqtt", Some("chat")).await, 400);
    for reason in ["ws_path", "ws_no_subprotocol", "ws_subprotocol"] {
        let series = format!("airlock_connections_refused_total{{reason=\"{reason}\"}}");
        let v = wait_metric(&a, &series, 1.0, WAIT).await;
        assert!(v >= 1.0, "{series} = {v}; log:\n{}", a.log());
    }
    let log = a.log();
    assert!(log.contains("WebSocket upgrade refused"), "log:\n{log}");

    // A certificate from a CA Airlock does not know: refused by TLS, before any HTTP.
    let stranger_ca = airlock_pki::CertificateAuthority::generate(
        "Stranger CA",
        airlock_pki::KeyAlgorithm::EcdsaP256,
    )
    .expect("CA");
    let issued = stranger_ca
        .issue_client("stranger", airlock_pki::KeyAlgorithm::EcdsaP256, 30)
        .expect("issue");
    let dir = a.data.path().join("stranger");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("cert.pem"), &issued.cert_pem).expect("cert");
    std::fs::write(dir.join("key.pem"), &issued.key_pem).expect("key");
    let stranger = Device {
        name: "stranger".into(),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        ca: dev.ca.clone(),
    };
    match ws_connect(ws, &stranger, "/mqtt", Some("mqtt")).await {
        Ok(_) => panic!("an unregistered certificate was upgraded"),
        Err(WsError::Http(resp)) => panic!("refused by HTTP ({}), not TLS", resp.status()),
        Err(_) => {}
    }
    let series = r#"airlock_tls_handshake_failures_total{reason="unknown_issuer"}"#;
    assert!(
        wait_metric(&a, series, 1.0, WAIT).await >= 1.0,
        "{}",
        a.log()
    );

    // Old clients' subprotocol.
    drop(
        ws_connect(ws, &dev, "/mqtt", Some("mqttv3.1"))
            .await
            .expect("mqttv3.1 accepted"),
    );

    // A CONNECT split across two frames.
    let ws_stream = ws_connect(ws, &dev, "/mqtt", Some("mqtt"))
        .await
        .expect("upgrade");
    let mut c = WsMqtt {
        ws: ws_stream,
        buf: BytesMut::new(),
    };
    let connect = encode_packet(&Packet::Connect(connect_packet(V5, "ws-split", true)), V5);
    let (head, tail) = connect.split_at(5);
    c.frames(vec![head.to_vec(), tail.to_vec()]).await;
    match c.expect().await {
        Packet::ConnAck(ack) => assert_eq!(ack.code, rc::SUCCESS, "{ack:?}"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    // SUBSCRIBE and PUBLISH (QoS 1) in one frame: SUBACK, PUBACK and our own message.
    let mut both = encode_packet(&subscribe_packet(1, "ws/split", QoS::AtLeastOnce), V5);
    both.extend(encode_packet(
        &publish_packet("ws/split", b"two in one", QoS::AtLeastOnce, 2, false),
        V5,
    ));
    c.frames(vec![both]).await;
    let (mut suback, mut puback, mut message) = (false, false, None);
    while !(suback && puback && message.is_some()) {
        match c.expect().await {
            Packet::SubAck(s) => suback = s.packet_id == 1,
            Packet::PubAck(p) => puback = p.packet_id == 2,
            Packet::Publish(p) => message = Some(p.payload),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(message.as_deref(), Some(&b"two in one"[..]));

    // A frame larger than mqtt.max_packet_size (default 129 KiB) closes the connection.
    let mut big = WsMqtt::connect(ws, &dev, "ws-big").await;
    // The server may close while the frame is still being written: either way it ends.
    let _ = big
        .ws
        .send(Message::Binary(vec![0u8; 200 * 1024].into()))
        .await;
    big.expect_closed().await;

    // MQTT §6: a text frame closes the connection.
    c.ws.send(Message::Text("not mqtt".into()))
        .await
        .expect("send text");
    c.expect_closed().await;
}

/// Cross-transport: a WebSocket publisher reaches a plain MQTT/TLS subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_publisher_reaches_tls_subscriber() {
    let (a, ws) = start_with_ws();
    let sub_dev = a.device("tls-sub");
    let pub_dev = a.device("ws-pub");
    let mut sub = RawMqtt::client(&a, &sub_dev, V5, "tls-sub").await;
    sub.subscribe(1, "plant/+/temp", QoS::AtLeastOnce).await;
    let mut p = WsMqtt::connect(ws, &pub_dev, "ws-pub").await;
    p.frames(vec![encode_packet(
        &publish_packet("plant/ws/temp", b"21.5", QoS::AtLeastOnce, 7, false),
        V5,
    )])
    .await;
    match p.expect().await {
        Packet::PubAck(ack) => assert_eq!(ack.packet_id, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let got = sub.expect_publish_acked().await;
    assert_eq!(&got.topic[..], "plant/ws/temp");
    assert_eq!(&got.payload[..], b"21.5");
    sub.expect_nothing(Duration::from_millis(200)).await;
}

/// What happens before TLS works on WebSocket endpoints too: behind a trusted load balancer the
/// PROXY v2 header's address is the client's (the lifecycle event's `ipAddress`), and a peer
/// outside `allow_sources` is closed before TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_endpoint_keeps_proxy_protocol_and_allow_sources() {
    use airlock_proxy_protocol::{ProxyHeader, Version, encode_v2};
    use tokio::io::AsyncWriteExt;

    let (behind, only) = (free_port(), free_port());
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"wss-nlb\"\nbind = \"127.0.0.1:{behind}\"\nprotocol = \"mqtt-ws\"\nproxy_protocol = true\nproxy_trusted = [\"127.0.0.1/32\"]\n\n\
         [[endpoint]]\nid = \"wss-sg\"\nbind = \"127.0.0.1:{only}\"\nprotocol = \"mqtt-ws\"\nallow_sources = [\"127.0.0.2/32\"]\n"
    ));
    let dev = a.device("ws-nlb");
    let watcher = a.device("ws-watcher");
    let mut events = RawMqtt::client(&a, &watcher, V5, "ws-watcher").await;
    events
        .subscribe(1, "$aws/events/presence/connected/ws-nlb", QoS::AtLeastOnce)
        .await;

    let header = encode_v2(&ProxyHeader::tcp(
        Version::V2,
        "10.1.2.3:40000".parse().expect("src"),
        "10.0.0.10:443".parse().expect("dst"),
    ))
    .expect("encode");
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", behind))
        .await
        .expect("connect");
    tcp.write_all(&header).await.expect("PROXY header");
    let ws = ws_over(tcp, behind, &dev, "/mqtt", Some("mqtt"))
        .await
        .expect("upgrade behind the balancer");
    let _c = WsMqtt::connect_over(ws, "ws-nlb").await;
    let event = events.expect_publish_acked().await;
    let body: serde_json::Value = serde_json::from_slice(&event.payload).expect("JSON");
    assert_eq!(body["ipAddress"], "10.1.2.3", "{body}");

    // allow_sources: from 127.0.0.1 closed before TLS; from 127.0.0.2 served.
    let from = |local: [u8; 4]| async move {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind(std::net::SocketAddr::from((local, 0)))
            .expect("bind client address");
        sock.connect(std::net::SocketAddr::from(([127, 0, 0, 1], only)))
            .await
            .expect("TCP connect")
    };
    assert!(
        ws_over(
            from([127, 0, 0, 1]).await,
            only,
            &dev,
            "/mqtt",
            Some("mqtt")
        )
        .await
        .is_err()
    );
    let ws = ws_over(
        from([127, 0, 0, 2]).await,
        only,
        &dev,
        "/mqtt",
        Some("mqtt"),
    )
    .await
    .expect("upgrade from an allowed source");
    drop(WsMqtt::connect_over(ws, "ws-sg").await);
    let series = r#"airlock_connections_refused_total{reason="source_not_allowed"}"#;
    assert!(
        wait_metric(&a, series, 1.0, WAIT).await >= 1.0,
        "{}",
        a.log()
    );
}

/// An MQTT endpoint serves WebSocket too when TLS negotiated ALPN `http/1.1` (AWS IoT's WSS on
/// 443 beside MQTT); a client offering both `x-amzn-mqtt-ca` and `http/1.1` gets MQTT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_endpoint_upgrades_on_alpn_http11() {
    let a = Airlock::start("");
    let dev = a.device("alpn-ws");
    let mut p = WsMqtt::connect(a.port, &dev, "alpn-ws").await;
    p.frames(vec![encode_packet(
        &subscribe_packet(1, "alpn/ws", QoS::AtMostOnce),
        V5,
    )])
    .await;
    assert!(matches!(p.expect().await, Packet::SubAck(_)));

    let both: &[&[u8]] = &[b"x-amzn-mqtt-ca", b"http/1.1"];
    let s = crate::harness::raw_tls(a.port, Some(&dev), &dev.ca, both)
        .await
        .expect("TLS");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"x-amzn-mqtt-ca"[..]));
    let mut m = RawMqtt::new(s, V5);
    m.send(&Packet::Connect(connect_packet(V5, "alpn-mqtt", true)))
        .await;
    assert_eq!(m.expect_connack().await.code, rc::SUCCESS);
    m.publish("alpn/ws", b"from MQTT", QoS::AtMostOnce, 0).await;
    match p.expect().await {
        Packet::Publish(got) => assert_eq!(&got.payload[..], b"from MQTT"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}
