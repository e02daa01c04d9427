//! Private-endpoint plumbing (issue #5) end to end: PROXY protocol from load balancers.

use std::net::SocketAddr;
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{Packet, ProtocolVersion, QoS};
use airlock_proxy_protocol::{ProxyHeader, Tlv, Version, encode_v2, tlv_type};
use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;

use crate::harness::{Airlock, Device, RawMqtt, Rx, WAIT, client_tls, connect_packet, wait_metric};

const V5: ProtocolVersion = ProtocolVersion::V5;
const ARN: &str = "arn:aws:iot:airlock:000000000000:";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An AWS NLB's PROXY v2 header: client `source`, optionally the VPC endpoint id TLV.
fn nlb_header(source: &str, vpce: Option<&str>) -> Vec<u8> {
    let source: SocketAddr = source.parse().expect("source");
    let mut h = ProxyHeader::tcp(Version::V2, source, "10.0.0.10:8883".parse().expect("dst"));
    if let Some(id) = vpce {
        let mut value = vec![tlv_type::AWS_SUBTYPE_VPCE_ID];
        value.extend_from_slice(id.as_bytes());
        h.tlvs.push(Tlv {
            kind: tlv_type::AWS,
            value,
        });
    }
    encode_v2(&h).expect("encode")
}

/// mTLS as `dev` over `tcp` (server name `localhost`), then CONNECT as `client_id`: the client
/// and the CONNACK code, or `None` if the connection is dropped first.
async fn mqtt_over(
    tcp: tokio::net::TcpStream,
    dev: &Device,
    client_id: &str,
) -> Option<(RawMqtt, u8)> {
    let connector = tokio_rustls::TlsConnector::from(client_tls(Some(dev), &dev.ca, &[]));
    let tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .ok()?;
    let mut c = RawMqtt::new(tls, V5);
    c.try_send(&Packet::Connect(connect_packet(V5, client_id, true)))
        .await
        .ok()?;
    match c.recv(WAIT).await {
        Rx::Packet(Packet::ConnAck(ack)) => Some((c, ack.code)),
        _ => None,
    }
}

/// Connect to `port`, write `preface` (a PROXY header), then [`mqtt_over`]; the CONNACK code.
async fn connect_behind(port: u16, preface: &[u8], dev: &Device, client_id: &str) -> Option<u8> {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    tcp.write_all(preface).await.ok()?;
    Some(mqtt_over(tcp, dev, client_id).await?.1)
}

/// From local address `local`, connect to `port`, then [`mqtt_over`].
async fn connect_from(
    local: [u8; 4],
    port: u16,
    dev: &Device,
    client_id: &str,
) -> Option<(RawMqtt, u8)> {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::from((local, 0)))
        .expect("bind client address");
    let tcp = sock
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .ok()?;
    mqtt_over(tcp, dev, client_id).await
}

/// Behind a load balancer: the PROXY v2 header's client address is `aws:SourceIp` and its
/// VPC endpoint TLV (0xEA/0x01) is `aws:SourceVpce`; a policy on both allows one path and
/// refuses the others; the lifecycle event carries the client's address; a connection
/// without a header, or from a peer not in `proxy_trusted`, never reaches TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_v2_header_feeds_source_ip_and_source_vpce() {
    let nlb = free_port();
    let strict = free_port();
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"nlb\"\nbind = \"127.0.0.1:{nlb}\"\nproxy_protocol = true\nproxy_trusted = [\"127.0.0.1/32\"]\n\n\
         [[endpoint]]\nid = \"nlb-elsewhere\"\nbind = \"127.0.0.1:{strict}\"\nproxy_protocol = true\nproxy_trusted = [\"10.0.0.0/8\"]\n"
    ));
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}client/*",
            "Condition":{{"StringEquals":{{"aws:SourceVpce":"vpce-0aaa1111"}},"IpAddress":{{"aws:SourceIp":"10.1.0.0/16"}}}}}}]}}"#
    );
    let path = a.data.path().join("vpce.json");
    std::fs::write(&path, doc).expect("policy");
    a.cli_ok(&[
        "policy",
        "create",
        "plant-vpce",
        "--document",
        &path.to_string_lossy(),
    ]);
    let dev = a.device_with_policy("nlb-dev", Some("plant-vpce"));
    let watcher = a.device("watcher");
    let mut events = RawMqtt::client(&a, &watcher, V5, "watcher").await;
    events
        .subscribe(
            1,
            "$aws/events/presence/connected/nlb-dev",
            QoS::AtLeastOnce,
        )
        .await;

    let good = nlb_header("10.1.2.3:40000", Some("vpce-0aaa1111"));
    assert_eq!(
        connect_behind(nlb, &good, &dev, "nlb-dev").await,
        Some(rc::SUCCESS)
    );
    let event = events.expect_publish_acked().await;
    let body: serde_json::Value = serde_json::from_slice(&event.payload).expect("JSON");
    assert_eq!(body["ipAddress"], "10.1.2.3", "{body}");

    let other_vpce = nlb_header("10.1.2.3:40000", Some("vpce-0bbb2222"));
    assert_eq!(
        connect_behind(nlb, &other_vpce, &dev, "nlb-dev").await,
        Some(rc::NOT_AUTHORIZED)
    );
    let other_ip = nlb_header("10.9.9.9:40000", Some("vpce-0aaa1111"));
    assert_eq!(
        connect_behind(nlb, &other_ip, &dev, "nlb-dev").await,
        Some(rc::NOT_AUTHORIZED)
    );
    // Without the TLV, aws:SourceVpce is the endpoint id ("nlb"): refused too.
    let no_tlv = nlb_header("10.1.2.3:40000", None);
    assert_eq!(
        connect_behind(nlb, &no_tlv, &dev, "nlb-dev").await,
        Some(rc::NOT_AUTHORIZED)
    );

    // No header at all (a device connecting around the balancer): dropped before TLS.
    assert_eq!(connect_behind(nlb, &[], &dev, "nlb-dev").await, None);
    // A peer outside proxy_trusted cannot assert an address.
    assert_eq!(connect_behind(strict, &good, &dev, "nlb-dev").await, None);
    for reason in ["proxy_header", "proxy_untrusted"] {
        let series = format!("airlock_connections_refused_total{{reason=\"{reason}\"}}");
        let v = wait_metric(&a, &series, 1.0, WAIT).await;
        assert!(v >= 1.0, "{series} = {v}; log:\n{}", a.log());
    }
    events.expect_nothing(Duration::from_millis(200)).await;
}

/// HAProxy from Debian in front of Airlock (`send-proxy-v2`, TLS passed through): a device
/// connecting from 127.0.0.3 through HAProxy (which reaches Airlock from 127.0.0.2, the only
/// trusted proxy) is seen as 127.0.0.3, so a policy allowing only `aws:SourceIp` 127.0.0.3
/// lets it in; the same device connecting around HAProxy is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_send_proxy_v2_carries_the_client_address() {
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_err()
    {
        panic!("haproxy is required (scripts/test installs Debian's haproxy)");
    }
    let backend = free_port();
    let front = free_port();
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"behind-haproxy\"\nbind = \"127.0.0.1:{backend}\"\nproxy_protocol = true\nproxy_trusted = [\"127.0.0.2/32\"]\n"
    ));
    let cfg = a.data.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    log stdout format raw local0\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend plant\n    bind 127.0.0.1:{front}\n    default_backend airlock\n\
             backend airlock\n    source 127.0.0.2\n    server a1 127.0.0.1:{backend} send-proxy-v2\n"
        ),
    )
    .expect("haproxy.cfg");
    let mut haproxy = std::process::Command::new("haproxy")
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start haproxy");
    let deadline = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "haproxy did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish","iot:Subscribe","iot:Receive"],"Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.3/32"}}}]}"#;
    let path = a.data.path().join("from-3.json");
    std::fs::write(&path, doc).expect("policy");
    a.cli_ok(&[
        "policy",
        "create",
        "from-127-0-0-3",
        "--document",
        &path.to_string_lossy(),
    ]);
    let dev = a.device_with_policy("hap-dev", Some("from-127-0-0-3"));

    let from = |local: [u8; 4], port: u16| {
        let dev = dev.clone();
        async move {
            let (mut c, code) = connect_from(local, port, &dev, "hap-dev").await?;
            if code == rc::SUCCESS {
                // A real session: our own message comes back through HAProxy.
                c.subscribe(1, "hap/#", QoS::AtLeastOnce).await;
                c.publish("hap/t", b"via haproxy", QoS::AtLeastOnce, 2)
                    .await;
                assert_eq!(&c.expect_publish_acked().await.payload[..], b"via haproxy");
            }
            Some(code)
        }
    };
    let through = from([127, 0, 0, 3], front).await;
    let other_client = from([127, 0, 0, 4], front).await;
    let around = from([127, 0, 0, 3], backend).await;
    let _ = haproxy.kill();
    let _ = haproxy.wait();
    assert_eq!(through, Some(rc::SUCCESS), "log:\n{}", a.log());
    assert_eq!(other_client, Some(rc::NOT_AUTHORIZED), "log:\n{}", a.log());
    assert_eq!(around, None, "a direct connection must not reach TLS");
}

/// The port of endpoint `id` from `DATA/endpoints.json`.
fn endpoint_port(a: &Airlock, id: &str) -> u16 {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.data_dir().join("endpoints.json")).expect("endpoints.json"),
    )
    .expect("JSON");
    v["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["id"] == id))
        .and_then(|e| e["port"].as_u64())
        .unwrap_or_else(|| panic!("no endpoint {id} in {v}")) as u16
}

fn dig(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig (Debian package dnsutils; scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The private DNS responder: a server name inside a configured zone resolves to the address
/// the MQTT endpoint listens on (added by Airlock itself), a wildcard record answers any
/// device name under it, and a device resolving the name then connects over mTLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_dns_answers_endpoint_names_and_wildcards() {
    let a = Airlock::start_with_top(
        "server_names = [\"broker.iot.plant.test\"]\n",
        "[dns]\nenabled = true\nbind = \"127.0.0.1:0\"\n\n\
         [[dns.zone]]\nname = \"iot.plant.test\"\nrecords = [ { name = \"*.devices\", a = [\"10.20.0.7\"] } ]\n",
    );
    let port = endpoint_port(&a, "dns");
    let broker = dig(port, &["broker.iot.plant.test", "A", "+short"]);
    assert_eq!(broker.trim(), "127.0.0.1", "broker A record");
    let wild = dig(port, &["press-4.devices.iot.plant.test", "A", "+short"]);
    assert_eq!(wild.trim(), "10.20.0.7", "wildcard A record");
    let missing = dig(port, &["nothing.iot.plant.test", "A"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    let outside = dig(port, &["example.com", "A"]);
    assert!(outside.contains("status: REFUSED"), "{outside}");

    // The name the responder gave is the one in the server certificate: connect by it.
    let dev = a.device("dns-dev");
    let resolved: std::net::IpAddr = broker.trim().parse().expect("an address");
    let tcp = tokio::net::TcpStream::connect((resolved, a.port))
        .await
        .expect("connect");
    let connector = tokio_rustls::TlsConnector::from(client_tls(Some(&dev), &dev.ca, &[]));
    let tls = connector
        .connect(
            ServerName::try_from("broker.iot.plant.test").expect("name"),
            tcp,
        )
        .await
        .expect("TLS with the DNS name");
    let mut c = RawMqtt::new(tls, V5);
    c.send(&Packet::Connect(connect_packet(V5, "dns-dev", true)))
        .await;
    assert_eq!(c.expect_connack().await.code, rc::SUCCESS);
}

/// `allow_sources` (the security-group role): a client from outside the listed blocks is
/// closed at accept, before TLS, and counted; one from inside connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_sources_refuses_other_addresses_before_tls() {
    let port = free_port();
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"plant-only\"\nbind = \"127.0.0.1:{port}\"\nallow_sources = [\"127.0.0.2/32\"]\n"
    ));
    let dev = a.device("sg-dev");
    let attempt = |local: [u8; 4]| {
        let dev = dev.clone();
        async move { Some(connect_from(local, port, &dev, "sg-dev").await?.1) }
    };
    assert_eq!(attempt([127, 0, 0, 2]).await, Some(rc::SUCCESS));
    assert_eq!(attempt([127, 0, 0, 1]).await, None);
    let series = r#"airlock_connections_refused_total{reason="source_not_allowed"}"#;
    assert!(
        wait_metric(&a, series, 1.0, WAIT).await >= 1.0,
        "{}",
        a.log()
    );
}

/// `airlock endpoint describe` answers like `aws iot describe-endpoint`: the DNS name from the
/// server certificate and the MQTT port; an endpoint type Airlock does not serve is an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_describe_names_the_data_endpoint() {
    let a = Airlock::start_with_top("server_names = [\"iot.plant.test\"]\n", "");
    let out = a.cli_ok(&["endpoint", "describe", "--type", "iot:Data-ATS"]);
    assert_eq!(out.trim(), format!("iot.plant.test:{}", a.port));
    let json = a.cli_json(&["endpoint", "describe", "--type", "iot:Data-ATS"]);
    assert_eq!(json["endpointAddress"], "iot.plant.test", "{json}");
    let bad = a.cli(&["endpoint", "describe", "--type", "iot:Jobs"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidRequestException"));
}

/// `airlock doctor`: green on a good set-up (name from Airlock's DNS responder, private
/// address, certificate valid for the name, the device package's pubsub check), and the exact
/// failure with its fix on broken ones: a name resolving to a public address, a closed port,
/// a name the server certificate does not carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_is_green_on_a_good_setup_and_names_each_failure() {
    let a = Airlock::start_with_top(
        "server_names = [\"broker.iot.plant.test\"]\n",
        "[dns]\nenabled = true\nbind = \"127.0.0.1:0\"\n\n\
         [[dns.zone]]\nname = \"iot.plant.test\"\nrecords = [\n  { name = \"public\", a = [\"8.8.8.8\"] },\n  { name = \"other\", a = [\"127.0.0.1\"] },\n]\n",
    );
    let dns = format!("127.0.0.1:{}", endpoint_port(&a, "dns"));
    let pkg = a.data.path().join("pkg");
    a.cli_ok(&[
        "device",
        "onboard",
        "doc-dev",
        "--out",
        &pkg.to_string_lossy(),
    ]);
    let good = a.cli(&["doctor", "--package", &pkg.to_string_lossy(), "--dns", &dns]);
    let out = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "doctor failed on a good set-up:\n{out}\n{}",
        String::from_utf8_lossy(&good.stderr)
    );
    for check in ["resolve", "connect", "tls", "pubsub"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("PASS") && l.contains(check)),
            "no passing {check} line:\n{out}"
        );
    }
    assert!(
        out.contains("broker.iot.plant.test -> 127.0.0.1 (private)"),
        "{out}"
    );

    let run = |extra: &[&str]| {
        let mut args = vec!["doctor", "--dns", dns.as_str()];
        args.extend_from_slice(extra);
        let o = a.cli(&args);
        assert!(
            !o.status.success(),
            "doctor passed a broken set-up ({extra:?})"
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let public = run(&["--name", "public.iot.plant.test"]);
    assert!(
        public.contains("FAIL") && public.contains("public address(es) 8.8.8.8"),
        "{public}"
    );
    let closed = free_port();
    let port = closed.to_string();
    let closed_out = run(&["--name", "broker.iot.plant.test", "--port", &port]);
    assert!(
        closed_out
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("connect")),
        "{closed_out}"
    );
    assert!(
        closed_out.contains("is 'airlock up' running"),
        "{closed_out}"
    );
    let wrong = run(&["--name", "other.iot.plant.test"]);
    assert!(
        wrong
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("tls")),
        "{wrong}"
    );
    assert!(
        wrong.contains("does not name other.iot.plant.test"),
        "{wrong}"
    );
}

/// HTTPS publish (AWS's iot-data Publish, `POST /topics/{topic}`) with curl over mTLS on an
/// `https` endpoint reaches an MQTT subscriber with its MQTT 5 properties; a topic outside the
/// certificate's policy is refused with 403 and AWS's error shape, and nothing is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_publish_reaches_an_mqtt_subscriber() {
    let https = free_port();
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"data-https\"\nprotocol = \"https\"\nbind = \"127.0.0.1:{https}\"\n"
    ));
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["iot:Publish","iot:RetainPublish"],"Resource":"{ARN}topic/plant/line1/*"}}]}}"#
    );
    let path = a.data.path().join("http-pub.json");
    std::fs::write(&path, doc).expect("policy");
    a.cli_ok(&[
        "policy",
        "create",
        "http-pub",
        "--document",
        &path.to_string_lossy(),
    ]);
    let publisher = a.device_with_policy("http-sensor", Some("http-pub"));
    let watcher = a.device("http-watcher");
    let mut sub = RawMqtt::client(&a, &watcher, V5, "http-watcher").await;
    sub.subscribe(1, "plant/#", QoS::AtLeastOnce).await;

    // user properties: base64 of [{"line":"1"}], as AWS documents the header.
    let curl = |topic: &str, extra: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-i", "--cert"])
            .arg(&publisher.cert)
            .arg("--key")
            .arg(&publisher.key)
            .arg("--cacert")
            .arg(&publisher.ca)
            .args(extra)
            .arg(format!("https://localhost:{https}/topics/{topic}?qos=1"))
            .output()
            .expect("curl (Debian package curl)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ok = curl(
        "plant/line1/temp",
        &[
            "-d",
            "{\"t\":21.5}",
            "-H",
            "x-amz-mqtt5-user-properties: W3sibGluZSI6IjEifV0=",
            "-H",
            "x-amz-mqtt5-payload-format-indicator: UTF8_DATA",
        ],
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("\"message\":\"OK\""), "{ok}");
    let msg = sub.expect_publish_acked().await;
    assert_eq!(msg.topic, "plant/line1/temp");
    assert_eq!(&msg.payload[..], b"{\"t\":21.5}");
    assert_eq!(
        msg.properties.user_properties,
        vec![("line".to_string(), "1".to_string())]
    );
    assert_eq!(msg.properties.payload_format_indicator, Some(1));

    let denied = curl("plant/line2/temp", &["-d", "x"]);
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    assert!(
        denied
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: forbiddenexception"),
        "{denied}"
    );
    sub.expect_nothing(Duration::from_millis(300)).await;
}

/// AWS's HTTPS on the MQTT port: a client that negotiates ALPN `x-amzn-http-ca` on the MQTT
/// endpoint is served the HTTPS data plane, so an HTTPS publish reaches MQTT subscribers
/// through the same port MQTT devices use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_publish_via_alpn_on_the_mqtt_port() {
    use tokio::io::AsyncReadExt;
    let a = Airlock::start("");
    let dev = a.device("alpn-http");
    let mut sub = RawMqtt::client(&a, &dev, V5, "alpn-sub").await;
    sub.subscribe(1, "alpn/#", QoS::AtLeastOnce).await;
    let mut s = crate::harness::raw_tls(a.port, Some(&dev), &dev.ca, &[b"x-amzn-http-ca"])
        .await
        .expect("TLS with ALPN x-amzn-http-ca");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"x-amzn-http-ca"[..]));
    s.write_all(
        b"POST /topics/alpn/t?qos=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let msg = sub.expect_publish_acked().await;
    assert_eq!(
        (msg.topic.as_str(), &msg.payload[..]),
        ("alpn/t", &b"hello"[..])
    );
}
