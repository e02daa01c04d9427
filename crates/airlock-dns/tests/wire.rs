//! Over-the-wire tests: a real responder on 127.0.0.1:0, asked with hickory-proto messages
//! over raw UDP and TCP sockets, and with `dig` (Debian package `dnsutils`) when installed.

use std::net::SocketAddr;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use airlock_dns::{DnsConfig, DnsError, DnsServer, RunningDns};
use hickory_server::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const CONFIG: &str = r#"
[dns]
enabled = true
bind = "127.0.0.1:0"
ttl = 30

[[dns.zone]]
name = "iot.plant.example"
records = [
  { name = "broker", a = ["10.0.0.5"], aaaa = ["fd00::5"] },
  { name = "*.devices", a = ["10.0.0.6"] },
  { name = "special.devices", aaaa = ["fd00::7"] },
]
"#;

const WAIT: Duration = Duration::from_secs(5);

#[derive(serde::Deserialize)]
struct ServerConfig {
    dns: DnsConfig,
}

async fn start() -> RunningDns {
    let mut config = toml::from_str::<ServerConfig>(CONFIG).unwrap().dns;
    // What the server does for each endpoint name.
    config
        .add_a("creds.iot.plant.example", "10.0.0.9".parse().unwrap())
        .unwrap();
    DnsServer::start(&config).await.unwrap()
}

fn question(name: &str, qtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.add_query(Query::query(Name::from_str(name).unwrap(), qtype));
    msg.metadata.recursion_desired = true;
    msg
}

async fn udp_exchange(addr: SocketAddr, bytes: &[u8]) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("no UDP answer within 5 s")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

async fn udp(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let q = question(name, qtype);
    let resp = udp_exchange(addr, &q.to_vec().unwrap()).await;
    assert_eq!(resp.metadata.id, q.metadata.id);
    assert_eq!(resp.metadata.message_type, MessageType::Response);
    assert!(!resp.metadata.recursion_available, "we do not recurse");
    resp
}

async fn tcp(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let q = question(name, qtype).to_vec().unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let len = u16::try_from(q.len()).unwrap().to_be_bytes();
    stream.write_all(&len).await.unwrap();
    stream.write_all(&q).await.unwrap();
    let mut len = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut len))
        .await
        .expect("no TCP answer within 5 s")
        .unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn data(msg: &Message) -> Vec<String> {
    msg.answers.iter().map(|r| r.data.to_string()).collect()
}

fn assert_negative(msg: &Message, code: ResponseCode) {
    assert_eq!(msg.metadata.response_code, code);
    assert!(msg.metadata.authoritative);
    assert!(msg.answers.is_empty(), "{:?}", msg.answers);
    assert_eq!(msg.authorities.len(), 1);
    let soa = &msg.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name, Name::from_str("iot.plant.example.").unwrap());
}

#[tokio::test]
async fn exact_a_is_authoritative() {
    let dns = start().await;
    let resp = udp(dns.local_addr(), "broker.iot.plant.example.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.metadata.authoritative);
    assert_eq!(data(&resp), ["10.0.0.5"]);
    assert_eq!(resp.answers[0].ttl, 30);
    // Added programmatically, as the server does for endpoints.
    let resp = udp(dns.local_addr(), "creds.iot.plant.example.", RecordType::A).await;
    assert_eq!(data(&resp), ["10.0.0.9"]);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn aaaa() {
    let dns = start().await;
    let resp = udp(
        dns.local_addr(),
        "broker.iot.plant.example.",
        RecordType::AAAA,
    )
    .await;
    assert!(resp.metadata.authoritative);
    assert_eq!(data(&resp), ["fd00::5"]);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn wildcard_a() {
    let dns = start().await;
    let resp = udp(
        dns.local_addr(),
        "x.devices.iot.plant.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.metadata.authoritative);
    assert_eq!(data(&resp), ["10.0.0.6"]);
    assert_eq!(
        resp.answers[0].name,
        Name::from_str("x.devices.iot.plant.example.").unwrap()
    );
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn wildcard_does_not_cover_an_existing_name() {
    let dns = start().await;
    // `special.devices` exists (AAAA only): its A query is NODATA, not the wildcard's address.
    let resp = udp(
        dns.local_addr(),
        "special.devices.iot.plant.example.",
        RecordType::A,
    )
    .await;
    assert_negative(&resp, ResponseCode::NoError);
    let resp = udp(
        dns.local_addr(),
        "special.devices.iot.plant.example.",
        RecordType::AAAA,
    )
    .await;
    assert_eq!(data(&resp), ["fd00::7"]);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn nxdomain_with_soa() {
    let dns = start().await;
    let resp = udp(
        dns.local_addr(),
        "nothing.iot.plant.example.",
        RecordType::A,
    )
    .await;
    assert_negative(&resp, ResponseCode::NXDomain);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn nodata_with_soa() {
    let dns = start().await;
    let resp = udp(
        dns.local_addr(),
        "broker.iot.plant.example.",
        RecordType::TXT,
    )
    .await;
    assert_negative(&resp, ResponseCode::NoError);
    let resp = udp(
        dns.local_addr(),
        "x.devices.iot.plant.example.",
        RecordType::AAAA,
    )
    .await;
    assert_negative(&resp, ResponseCode::NoError);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_outside_every_zone() {
    let dns = start().await;
    for name in ["example.com.", "plant.example.", "iot.plant.example.com."] {
        let resp = udp(dns.local_addr(), name, RecordType::A).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!resp.metadata.authoritative);
        assert!(resp.answers.is_empty());
    }
    // No zone transfers either.
    let resp = tcp(dns.local_addr(), "iot.plant.example.", RecordType::AXFR).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn soa_and_ns_at_the_apex() {
    let dns = start().await;
    let resp = udp(dns.local_addr(), "iot.plant.example.", RecordType::SOA).await;
    assert!(resp.metadata.authoritative);
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(resp.answers[0].record_type(), RecordType::SOA);
    let resp = udp(dns.local_addr(), "iot.plant.example.", RecordType::NS).await;
    assert_eq!(data(&resp), ["ns.iot.plant.example."]);
    // The apex exists but has no A record here.
    let resp = udp(dns.local_addr(), "iot.plant.example.", RecordType::A).await;
    assert_negative(&resp, ResponseCode::NoError);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn tcp_query() {
    let dns = start().await;
    let resp = tcp(dns.local_addr(), "broker.iot.plant.example.", RecordType::A).await;
    assert!(resp.metadata.authoritative);
    assert_eq!(data(&resp), ["10.0.0.5"]);
    let resp = tcp(
        dns.local_addr(),
        "y.devices.iot.plant.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(data(&resp), ["10.0.0.6"]);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn edns_query_gets_edns_back() {
    let dns = start().await;
    let mut q = question("broker.iot.plant.example.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    q.set_edns(edns);
    let resp = udp_exchange(dns.local_addr(), &q.to_vec().unwrap()).await;
    assert_eq!(data(&resp), ["10.0.0.5"]);
    assert!(resp.edns.is_some(), "RFC 6891: OPT in, OPT out");
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_datagrams_do_not_kill_the_server() {
    let dns = start().await;
    let addr = dns.local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let valid = question("broker.iot.plant.example.", RecordType::A)
        .to_vec()
        .unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![
            0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        ],
        // A header claiming 65535 questions with nothing after it.
        vec![0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0],
        // A valid query cut in the middle of its name.
        valid[..valid.len() - 6].to_vec(),
        // A compression pointer pointing at itself.
        vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1],
        (0..=255u8).cycle().take(1500).collect(),
    ];
    for bytes in &garbage {
        sock.send_to(bytes, addr).await.unwrap();
    }
    // Garbage over TCP too: a length prefix promising more than is sent, then hang up.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    drop(stream);

    let resp = udp(addr, "broker.iot.plant.example.", RecordType::A).await;
    assert_eq!(data(&resp), ["10.0.0.5"]);
    let resp = tcp(addr, "broker.iot.plant.example.", RecordType::A).await;
    assert_eq!(data(&resp), ["10.0.0.5"]);
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_frees_the_port() {
    let dns = start().await;
    let addr = dns.local_addr();
    dns.shutdown().await.unwrap();
    // Both sockets are closed, so the same address can be bound again.
    let _udp = UdpSocket::bind(addr).await.unwrap();
    let _tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = toml::from_str::<ServerConfig>(CONFIG).unwrap().dns;
    config.bind = taken.local_addr().unwrap();
    match DnsServer::start(&config).await.unwrap_err() {
        DnsError::Bind { protocol, addr, .. } => {
            assert_eq!(protocol, "UDP");
            assert_eq!(addr, config.bind);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn invalid_config_is_refused_before_binding() {
    let mut config = toml::from_str::<ServerConfig>(CONFIG).unwrap().dns;
    config.zones[0].records[1].name = "devices.*".to_owned();
    let err = DnsServer::start(&config).await.unwrap_err();
    assert!(matches!(err, DnsError::Config(_)), "{err}");
    assert!(err.to_string().contains("'*.devices'"), "{err}");
}

// ---- dig (Debian package `dnsutils`) ----

/// Runs `dig @127.0.0.1 -p PORT ARGS...`, or returns None (after saying so) when dig is absent.
fn dig(addr: SocketAddr, args: &[&str]) -> Option<String> {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+time=3", "+tries=1"])
        .args(args)
        .output();
    match out {
        Ok(out) => {
            assert!(out.status.success(), "dig {args:?} failed: {out:?}");
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("SKIPPED: `dig` not found; install Debian package dnsutils to run this test");
            None
        }
        Err(e) => panic!("cannot run dig: {e}"),
    }
}

// dig is a blocking process, so these run on the multi-threaded runtime to keep the responder
// serving while the test thread waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_answers_a_and_wildcard() {
    let dns = start().await;
    let addr = dns.local_addr();
    let Some(out) = dig(addr, &["broker.iot.plant.example", "A", "+short"]) else {
        return;
    };
    assert_eq!(out.trim(), "10.0.0.5");
    let out = dig(addr, &["x.devices.iot.plant.example", "A", "+short"]).unwrap();
    assert_eq!(out.trim(), "10.0.0.6");
    let out = dig(addr, &["broker.iot.plant.example", "AAAA", "+short"]).unwrap();
    assert_eq!(out.trim(), "fd00::5");
    let out = dig(addr, &["broker.iot.plant.example", "A", "+short", "+tcp"]).unwrap();
    assert_eq!(out.trim(), "10.0.0.5");
    // The full answer carries the aa flag.
    let out = dig(addr, &["broker.iot.plant.example", "A"]).unwrap();
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains(" aa"), "{out}");
    dns.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_negative_answers() {
    let dns = start().await;
    let addr = dns.local_addr();
    let Some(out) = dig(addr, &["nothing.iot.plant.example", "A"]) else {
        return;
    };
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("AUTHORITY: 1"), "{out}");
    assert!(out.contains("SOA"), "{out}");
    let out = dig(addr, &["special.devices.iot.plant.example", "A"]).unwrap();
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
    assert!(out.contains("AUTHORITY: 1"), "{out}");
    let out = dig(addr, &["example.com", "A"]).unwrap();
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = dig(addr, &["iot.plant.example", "NS", "+short"]).unwrap();
    assert_eq!(out.trim(), "ns.iot.plant.example.");
    dns.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_udp_answer_is_truncated_and_tcp_has_it_all() {
    let mut config = toml::from_str::<ServerConfig>(CONFIG).unwrap().dns;
    for i in 0..200u8 {
        config
            .add_a("many.iot.plant.example", [10, 1, 0, i].into())
            .unwrap();
    }
    let dns = DnsServer::start(&config).await.unwrap();
    // No EDNS, so 512 bytes at most (RFC 1035 §4.2.1): the client must see TC and retry on TCP.
    let resp = udp(dns.local_addr(), "many.iot.plant.example.", RecordType::A).await;
    assert!(resp.metadata.truncation, "TC must be set");
    let resp = tcp(dns.local_addr(), "many.iot.plant.example.", RecordType::A).await;
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 200);
    dns.shutdown().await.unwrap();
}
