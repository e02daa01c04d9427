//! An in-process broker with a [`PolicyAuthorizer`] over a real registry file, and a raw
//! MQTT client over tokio duplex streams (no TLS: the transport's job is done by handing the
//! broker a `ConnectionContext` with the certificate chain, as the server does).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airlock_broker::{Broker, BrokerConfig, ConnectionContext, Principal};
use airlock_identity::{IdentityConfig, PolicyAuthorizer, policy_validator};
use airlock_mqtt::{
    Connect, Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe, SubscriptionOptions,
    Will, decode, encode,
};
use airlock_pki::{CertificateAuthority, KeyAlgorithm};
use airlock_policy::{Engine, PolicyLimits};
use airlock_registry::{CertificateStatus, PolicyTarget, RegistryStore, ThingPrincipalType};
use airlock_store::MemoryStore;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// ARN prefix of the default engine (region `airlock`, account `000000000000`).
pub const ARN: &str = "arn:aws:iot:airlock:000000000000";

/// A policy that lets a certificate do anything (the test's publisher).
pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

pub struct Env {
    _dir: tempfile::TempDir,
    pub registry: Arc<RegistryStore>,
    pub ca: CertificateAuthority,
    pub broker: Broker,
    pub authorizer: Arc<PolicyAuthorizer>,
}

/// A device certificate, registered in the registry.
#[derive(Clone)]
pub struct Device {
    pub id: String,
    pub der: Vec<u8>,
}

impl Env {
    pub fn new(config: IdentityConfig) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry =
            Arc::new(RegistryStore::open(dir.path().join("registry.redb")).expect("registry"));
        registry.set_policy_validator(policy_validator(PolicyLimits::default()));
        let ca = CertificateAuthority::generate("Identity Test CA", KeyAlgorithm::EcdsaP256)
            .expect("ca");
        let authorizer = Arc::new(PolicyAuthorizer::new(
            registry.clone(),
            Engine::default(),
            config,
        ));
        let broker = Broker::with_authorizer(
            BrokerConfig::default(),
            Arc::new(MemoryStore::new()),
            authorizer.clone(),
        )
        .expect("broker")
        .0;
        Env {
            _dir: dir,
            registry,
            ca,
            broker,
            authorizer,
        }
    }

    /// Issue a certificate with common name `cn` and register it with `status`.
    pub fn device(&self, cn: &str, status: CertificateStatus) -> Device {
        let issued = self
            .ca
            .issue_client(cn, KeyAlgorithm::EcdsaP256, 30)
            .expect("issue");
        self.registry
            .register_certificate(&issued.certificate_id, &issued.cert_pem, status, None)
            .expect("register");
        Device {
            id: issued.certificate_id,
            der: issued.cert_der,
        }
    }

    /// A certificate the registry has never seen.
    pub fn unregistered_device(&self, cn: &str) -> Device {
        let issued = self
            .ca
            .issue_client(cn, KeyAlgorithm::EcdsaP256, 30)
            .expect("issue");
        Device {
            id: issued.certificate_id,
            der: issued.cert_der,
        }
    }

    /// Create policy `name` from `doc` and attach it to `device`.
    pub fn policy_for(&self, name: &str, doc: &str, device: &Device) {
        self.registry
            .create_policy(name, doc)
            .expect("create policy");
        self.registry
            .attach_policy(name, &PolicyTarget::Certificate(device.id.clone()))
            .expect("attach policy");
    }

    /// Create thing `name` and attach `device` to it (non-exclusively).
    pub fn thing_for(&self, name: &str, device: &Device) {
        self.registry
            .create_thing(name, None, Default::default())
            .expect("create thing");
        self.registry
            .attach_thing_principal(name, &device.id, ThingPrincipalType::NonExclusiveThing)
            .expect("attach thing");
    }

    /// A device that may do anything, connected as v5 client `publisher`.
    pub async fn publisher(&self) -> Client {
        let d = self.device("publisher", CertificateStatus::Active);
        self.policy_for("allow-all", ALLOW_ALL, &d);
        let (c, code) = self
            .connect(Some(&d), "vpce-test", ProtocolVersion::V5, "publisher")
            .await;
        assert_eq!(code, 0, "publisher must connect");
        c
    }

    pub async fn connect(
        &self,
        device: Option<&Device>,
        endpoint: &str,
        version: ProtocolVersion,
        client_id: &str,
    ) -> (Client, u8) {
        self.connect_with(device, endpoint, version, client_id, None, false)
            .await
    }

    /// Connect through `endpoint` with `device`'s certificate (or anonymously), optionally
    /// with a will and a persistent session; returns the client and the CONNACK code.
    pub async fn connect_with(
        &self,
        device: Option<&Device>,
        endpoint: &str,
        version: ProtocolVersion,
        client_id: &str,
        will_topic: Option<&str>,
        persistent: bool,
    ) -> (Client, u8) {
        let principal = match device {
            Some(d) => Principal::Certificate {
                certificate_id: d.id.clone(),
                chain: Arc::new(vec![d.der.clone()]),
            },
            None => Principal::Anonymous,
        };
        let ctx = ConnectionContext {
            endpoint_id: Arc::from(endpoint),
            peer: SocketAddr::from(([192, 0, 2, 10], 40000)),
            principal,
            source_vpce: None,
            server_name: None,
        };
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let b = self.broker.clone();
        tokio::spawn(async move { b.serve(theirs, ctx).await });
        let mut c = Client {
            io: ours,
            buf: BytesMut::new(),
            version,
        };
        let mut properties = Properties::default();
        if persistent && version == ProtocolVersion::V5 {
            properties.session_expiry_interval = Some(3600);
        }
        c.send(Packet::Connect(Connect {
            protocol: version,
            clean_start: !persistent,
            keep_alive: 60,
            client_id: client_id.into(),
            will: will_topic.map(|t| Will {
                topic: t.into(),
                payload: Bytes::from_static(b"gone"),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: Properties::default(),
            }),
            username: None,
            password: None,
            properties,
        }))
        .await;
        match c.recv().await {
            Some(Packet::ConnAck(a)) => (c, a.code),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

pub struct Client {
    io: DuplexStream,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl Client {
    pub async fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        encode(&p, self.version, &mut out).expect("encode");
        self.io.write_all(&out).await.expect("write");
    }

    /// Next packet, or `None` when the broker closed the stream or nothing came in 500 ms.
    pub async fn recv(&mut self) -> Option<Packet> {
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

    /// Next application message (skipping `$aws/` lifecycle events), acknowledging QoS 1.
    pub async fn next_message(&mut self) -> Option<Publish> {
        loop {
            if let Packet::Publish(p) = self.recv().await? {
                if let Some(id) = p.packet_id {
                    self.send(Packet::PubAck(airlock_mqtt::PubAck {
                        packet_id: id,
                        reason: 0,
                        properties: Properties::default(),
                    }))
                    .await;
                }
                if !p.topic.starts_with("$aws/") {
                    return Some(p);
                }
            }
        }
    }

    /// Subscribe to `filters` at QoS 1; returns the SUBACK reason codes.
    pub async fn subscribe(&mut self, filters: &[&str]) -> Vec<u8> {
        self.send(subscribe(filters)).await;
        match self.recv().await {
            Some(Packet::SubAck(s)) => s.reasons,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publish at QoS 1 and return the PUBACK reason code, or `None` if the connection was
    /// closed instead.
    pub async fn publish_qos1(&mut self, topic: &str, retain: bool, pid: u16) -> Option<u8> {
        self.send(publish(topic, QoS::AtLeastOnce, Some(pid), retain))
            .await;
        loop {
            match self.recv().await? {
                Packet::PubAck(a) => {
                    assert_eq!(a.packet_id, pid);
                    return Some(a.reason);
                }
                Packet::Publish(_) => {}
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
    }

    /// Publish at QoS 0.
    pub async fn publish_qos0(&mut self, topic: &str) {
        self.send(publish(topic, QoS::AtMostOnce, None, false))
            .await;
    }
}

pub fn publish(topic: &str, qos: QoS, pid: Option<u16>, retain: bool) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id: pid,
        properties: Properties::default(),
        payload: Bytes::from_static(b"x"),
    })
}

pub fn subscribe(filters: &[&str]) -> Packet {
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

/// A policy document from statements written as JSON objects.
pub fn doc(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// One Allow statement.
pub fn allow(actions: &str, resources: &[&str]) -> String {
    statement("Allow", actions, resources, "")
}

/// One statement; `condition` is a JSON object or empty.
pub fn statement(effect: &str, actions: &str, resources: &[&str], condition: &str) -> String {
    let resources: Vec<String> = resources
        .iter()
        .map(|r| {
            if *r == "*" {
                "\"*\"".to_string()
            } else {
                format!("\"{ARN}:{r}\"")
            }
        })
        .collect();
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(r#","Condition":{condition}"#)
    };
    format!(
        r#"{{"Effect":"{effect}","Action":{actions},"Resource":[{}]{condition}}}"#,
        resources.join(",")
    )
}
