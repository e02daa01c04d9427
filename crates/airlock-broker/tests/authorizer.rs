//! The broker applies an [`Authorizer`]'s answers with the protocol-correct reactions,
//! in-process over an in-memory duplex stream (no TLS: the seam under test is the broker's).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airlock_broker::{
    Authorization, Authorizer, Broker, BrokerConfig, ConnectRequest, ConnectionContext, Principal,
};
use airlock_mqtt::reason as rc;
use airlock_mqtt::{
    Connect, Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe, SubscriptionOptions,
    decode, encode,
};
use airlock_store::MemoryStore;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Denies client ids starting with "evil", publishes and subscriptions under "secret/",
/// and deliveries on "hidden/".
struct TestPolicy;

fn deny(why: &str) -> Authorization {
    Authorization::Deny { reason: why.into() }
}

impl Authorizer for TestPolicy {
    fn connect(&self, _: &ConnectionContext, r: &ConnectRequest<'_>) -> Authorization {
        if r.client_id.starts_with("evil") {
            deny("client id")
        } else {
            Authorization::Allow
        }
    }
    fn publish(&self, _: &ConnectionContext, _: &str, topic: &str, _: bool) -> Authorization {
        if topic.starts_with("secret/") {
            deny("topic")
        } else {
            Authorization::Allow
        }
    }
    fn subscribe(&self, _: &ConnectionContext, _: &str, filter: &str) -> Authorization {
        if filter.starts_with("secret/") {
            deny("filter")
        } else {
            Authorization::Allow
        }
    }
    fn receive(&self, _: &ConnectionContext, _: &str, topic: &str) -> Authorization {
        if topic.starts_with("hidden/") {
            deny("receive")
        } else {
            Authorization::Allow
        }
    }
}

struct Client {
    io: DuplexStream,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl Client {
    async fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        encode(&p, self.version, &mut out).expect("encode");
        self.io.write_all(&out).await.expect("write");
    }

    /// Next packet, or `None` when the broker closed the stream or nothing came in 500 ms.
    async fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = decode(&mut self.buf, self.version, 1 << 20).expect("decode") {
                return Some(p);
            }
            match tokio::time::timeout(Duration::from_millis(500), self.io.read_buf(&mut self.buf))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }
}

fn broker() -> Broker {
    let store = Arc::new(MemoryStore::new());
    Broker::with_authorizer(BrokerConfig::default(), store, Arc::new(TestPolicy))
        .expect("broker")
        .0
}

async fn connect(b: &Broker, version: ProtocolVersion, client_id: &str) -> (Client, u8) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let ctx = ConnectionContext {
        endpoint_id: Arc::from("test"),
        peer: SocketAddr::from(([127, 0, 0, 1], 1)),
        principal: Principal::Anonymous,
        source_vpce: None,
        server_name: None,
    };
    let b = b.clone();
    tokio::spawn(async move { b.serve(theirs, ctx).await });
    let mut c = Client {
        io: ours,
        buf: BytesMut::new(),
        version,
    };
    c.send(Packet::Connect(Connect {
        protocol: version,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }))
    .await;
    match c.recv().await {
        Some(Packet::ConnAck(a)) => (c, a.code),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

fn publish(topic: &str, qos: QoS, pid: Option<u16>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: pid,
        properties: Properties::default(),
        payload: Bytes::from_static(b"x"),
    })
}

fn subscribe(filters: &[&str]) -> Packet {
    let opts = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
    };
    Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: filters.iter().map(|f| (f.to_string(), opts)).collect(),
        properties: Properties::default(),
    })
}

#[tokio::test]
async fn denied_connect_gets_0x87_in_v5_and_5_in_v311() {
    let b = broker();
    assert_eq!(
        connect(&b, ProtocolVersion::V5, "evil-1").await.1,
        rc::NOT_AUTHORIZED
    );
    assert_eq!(
        connect(&b, ProtocolVersion::V311, "evil-2").await.1,
        rc::v311::NOT_AUTHORIZED
    );
    assert_eq!(
        connect(&b, ProtocolVersion::V5, "good").await.1,
        rc::SUCCESS
    );
}

#[tokio::test]
async fn denied_filter_gets_0x87_in_its_slot_and_the_others_succeed() {
    let b = broker();
    let (mut c, _) = connect(&b, ProtocolVersion::V5, "sub").await;
    c.send(subscribe(&["open/#", "secret/#", "also/+"])).await;
    match c.recv().await {
        Some(Packet::SubAck(s)) => assert_eq!(s.reasons, vec![1, rc::NOT_AUTHORIZED, 1]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    let (mut old, _) = connect(&b, ProtocolVersion::V311, "sub-311").await;
    old.send(subscribe(&["secret/x"])).await;
    match old.recv().await {
        Some(Packet::SubAck(s)) => assert_eq!(s.reasons, vec![rc::UNSPECIFIED_ERROR]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn denied_publish_gets_puback_0x87_in_v5_and_a_close_in_v311() {
    let b = broker();
    let (mut watcher, _) = connect(&b, ProtocolVersion::V5, "watcher").await;
    watcher.send(subscribe(&["#"])).await;
    assert!(matches!(watcher.recv().await, Some(Packet::SubAck(_))));

    let (mut v5, _) = connect(&b, ProtocolVersion::V5, "pub-5").await;
    v5.send(publish("secret/a", QoS::AtLeastOnce, Some(3)))
        .await;
    match v5.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!((a.packet_id, a.reason), (3, rc::NOT_AUTHORIZED)),
        other => panic!("expected PUBACK 0x87, got {other:?}"),
    }
    let (mut v3, _) = connect(&b, ProtocolVersion::V311, "pub-3").await;
    v3.send(publish("secret/a", QoS::AtLeastOnce, Some(4)))
        .await;
    assert_eq!(v3.recv().await, None, "3.1.1 connection must be closed");
    // Neither denied message was routed: the watcher's next message is the allowed one.
    v5.send(publish("open/a", QoS::AtMostOnce, None)).await;
    loop {
        match watcher.recv().await {
            Some(Packet::Publish(p)) if p.topic.starts_with("$aws/") => {}
            Some(Packet::Publish(p)) => {
                assert_eq!(p.topic, "open/a");
                break;
            }
            other => panic!("expected the allowed publish, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn denied_receive_drops_the_delivery_but_keeps_the_subscription() {
    let b = broker();
    let (mut sub, _) = connect(&b, ProtocolVersion::V5, "reader").await;
    sub.send(subscribe(&["hidden/#", "shown/#"])).await;
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    let (mut p, _) = connect(&b, ProtocolVersion::V5, "writer").await;
    p.send(publish("hidden/1", QoS::AtMostOnce, None)).await;
    p.send(publish("shown/1", QoS::AtMostOnce, None)).await;
    match sub.recv().await {
        Some(Packet::Publish(m)) => assert_eq!(m.topic, "shown/1"),
        other => panic!("expected only shown/1, got {other:?}"),
    }
}

#[tokio::test]
async fn disconnect_certificate_closes_only_that_certificates_connections() {
    let b = broker();
    let ctx = |id: &str| ConnectionContext {
        endpoint_id: Arc::from("test"),
        peer: SocketAddr::from(([127, 0, 0, 1], 1)),
        principal: Principal::Certificate {
            certificate_id: id.into(),
            chain: Arc::new(Vec::new()),
        },
        source_vpce: None,
        server_name: None,
    };
    let mut clients = Vec::new();
    for (cid, cert) in [("revoked-dev", "aa"), ("other-dev", "bb")] {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (b2, c) = (b.clone(), ctx(cert));
        tokio::spawn(async move { b2.serve(theirs, c).await });
        let mut c = Client {
            io: ours,
            buf: BytesMut::new(),
            version: ProtocolVersion::V5,
        };
        c.send(Packet::Connect(Connect {
            protocol: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 60,
            client_id: cid.into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        }))
        .await;
        assert!(matches!(c.recv().await, Some(Packet::ConnAck(a)) if a.code == rc::SUCCESS));
        clients.push(c);
    }
    assert_eq!(b.disconnect_certificate("aa", rc::ADMINISTRATIVE_ACTION), 1);
    match clients[0].recv().await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, rc::ADMINISTRATIVE_ACTION),
        other => panic!("expected DISCONNECT 0x98, got {other:?}"),
    }
    assert_eq!(clients[0].recv().await, None);
    clients[1].send(Packet::PingReq).await;
    assert_eq!(clients[1].recv().await, Some(Packet::PingResp));
}
