//! One client connection: CONNECT negotiation, then the packet loop.
//!
//! Each connection is one task that owns its socket. It reads and decodes packets, applies
//! them to its session and the broker, drains its session's queue within the client's
//! Receive Maximum and Maximum Packet Size, and answers a QoS 1/2 PUBLISH or a SUBSCRIBE only
//! once the store says the resulting state is durable (in the order the packets arrived).

use std::collections::{HashMap, VecDeque};
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{
    ConnAck, Connect, DecodeError, Disconnect, Packet, Properties, ProtocolVersion, PubAck,
    Publish, QoS, SubAck, Subscribe, UnsubAck, Unsubscribe, Will, decode, encode, encoded_len,
};
use airlock_store::{Commit, Op};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::auth::{Authorization, ConnectRequest};
use crate::broker::{Broker, SessionRef, lock, split};
use crate::context::{ConnectionContext, Principal};
use crate::events;
use crate::message::{Message, MessageProperties, now_ms};
use crate::metrics_names as m;
use crate::persist::{self, DeliveryState};
use crate::session::{ConnLink, Delivery, InflightState, Kick};
use crate::subscriptions::SubEntry;

/// Read buffer growth step once a connection is busy.
const READ_CHUNK: usize = 8 * 1024;
/// Read buffer a connection starts with. Most devices are idle most of the time and send small
/// packets; starting small keeps an idle connection's memory low, and a busy one grows to
/// READ_CHUNK steps on its first full read.
const READ_START: usize = 512;
/// Stop draining the session into the write buffer past this many bytes per loop turn.
const WRITE_BATCH: usize = 64 * 1024;

/// Broker-originated event topics; a client publishing there could forge lifecycle events.
const RESERVED_PREFIX: &str = "$aws/events/";

/// Why a connection ended, for the will, the lifecycle event and the log.
#[derive(Debug, Clone, Copy)]
struct Ending {
    lifecycle: &'static str,
    client_initiated: bool,
    publish_will: bool,
}

impl Ending {
    fn server(lifecycle: &'static str) -> Ending {
        Ending {
            lifecycle,
            client_initiated: false,
            publish_will: true,
        }
    }
}

/// A response that is sent once its commit is durable.
struct PendingResponse {
    packet: Packet,
    commit: Commit,
    /// Inbound QoS 1/2 PUBLISH this response acknowledges (for Receive Maximum accounting).
    inbound: bool,
    /// Retained messages to queue after a SUBACK is sent.
    retained: Vec<(Arc<Message>, SubEntry)>,
}

pub(crate) async fn run<S>(broker: Broker, stream: S, ctx: ConnectionContext)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inbuf = BytesMut::with_capacity(READ_START);
    let cfg = broker.config().clone();
    let mut shutdown = broker.shutdown_signal();
    if *shutdown.borrow() {
        return;
    }
    let connect_deadline = Instant::now() + Duration::from_secs(cfg.connect_timeout_secs);
    let first = tokio::select! {
        r = tokio::time::timeout_at(connect_deadline, read_packet(&mut reader, &mut inbuf, ProtocolVersion::V5, cfg.max_packet_size)) => r,
        _ = shutdown.changed() => return,
    };
    let connect = match first {
        Err(_) => {
            tracing::info!(peer = %ctx.peer, endpoint = %ctx.endpoint_id, "no CONNECT within {}s (mqtt.connect_timeout_secs); closing", cfg.connect_timeout_secs);
            return;
        }
        Ok(Err(ReadError::Decode(DecodeError::UnsupportedProtocolVersion(level)))) => {
            tracing::info!(peer = %ctx.peer, level, "CONNECT with unsupported protocol level; answering CONNACK 'unacceptable protocol version'");
            metrics::counter!(m::CONNECT_REFUSED, "reason" => "protocol_version").increment(1);
            let mut out = BytesMut::new();
            let ack = Packet::ConnAck(ConnAck {
                session_present: false,
                code: rc::v311::UNACCEPTABLE_PROTOCOL_VERSION,
                properties: Properties::default(),
            });
            if encode(&ack, ProtocolVersion::V311, &mut out).is_ok() {
                let _ = writer.write_all(&out).await;
                let _ = writer.flush().await;
            }
            return;
        }
        Ok(Err(e)) => {
            tracing::info!(peer = %ctx.peer, endpoint = %ctx.endpoint_id, error = %e, "connection closed before a valid CONNECT");
            metrics::counter!(m::CONNECT_REFUSED, "reason" => "malformed").increment(1);
            return;
        }
        Ok(Ok(Packet::Connect(c))) => c,
        Ok(Ok(other)) => {
            tracing::info!(peer = %ctx.peer, packet = kind(&other), "first packet was not CONNECT; closing (MQTT 3.1.0-1)");
            metrics::counter!(m::CONNECT_REFUSED, "reason" => "no_connect").increment(1);
            return;
        }
    };
    metrics::counter!(m::PACKETS_IN, "type" => "connect").increment(1);
    let Some(mut conn) = Conn::accept(broker, connect, ctx, &mut writer).await else {
        return;
    };
    conn.run(reader, writer, inbuf, shutdown).await;
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("connection closed by peer")]
    Closed,
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max: usize,
) -> Result<Packet, ReadError> {
    loop {
        if let Some(p) = decode(buf, version, max)? {
            return Ok(p);
        }
        if buf.capacity() - buf.len() < READ_START / 2 {
            buf.reserve(READ_CHUNK);
        }
        if reader.read_buf(buf).await? == 0 {
            return Err(ReadError::Closed);
        }
    }
}

fn kind(p: &Packet) -> &'static str {
    match p {
        Packet::Connect(_) => "connect",
        Packet::ConnAck(_) => "connack",
        Packet::Publish(_) => "publish",
        Packet::PubAck(_) => "puback",
        Packet::PubRec(_) => "pubrec",
        Packet::PubRel(_) => "pubrel",
        Packet::PubComp(_) => "pubcomp",
        Packet::Subscribe(_) => "subscribe",
        Packet::SubAck(_) => "suback",
        Packet::Unsubscribe(_) => "unsubscribe",
        Packet::UnsubAck(_) => "unsuback",
        Packet::PingReq => "pingreq",
        Packet::PingResp => "pingresp",
        Packet::Disconnect(_) => "disconnect",
        Packet::Auth(_) => "auth",
    }
}

async fn front_commit(pending_responses: &mut VecDeque<PendingResponse>) -> Result<(), String> {
    match pending_responses.front_mut() {
        Some(p) => (&mut p.commit).await.map_err(|e| e.to_string()),
        None => pending().await,
    }
}

struct Conn {
    broker: Broker,
    ctx: ConnectionContext,
    version: ProtocolVersion,
    client_id: Arc<str>,
    session: SessionRef,
    conn_id: u64,
    session_id: String,
    kick_rx: mpsc::Receiver<Kick>,
    notify: Arc<Notify>,
    out: BytesMut,
    keep_alive: Option<Duration>,
    will: Option<Will>,
    session_expiry: u32,
    client_receive_max: u16,
    client_max_packet: usize,
    client_alias_max: u16,
    out_aliases: HashMap<String, u16>,
    in_aliases: HashMap<u16, String>,
    pending: VecDeque<PendingResponse>,
    inbound_unacked: usize,
    problem_info: bool,
}

impl Conn {
    /// Validate CONNECT, attach the session and send CONNACK. `None` when refused.
    async fn accept<W: AsyncWrite + Unpin>(
        broker: Broker,
        c: Connect,
        ctx: ConnectionContext,
        writer: &mut W,
    ) -> Option<Conn> {
        let cfg = broker.config().clone();
        let version = c.protocol;
        let mut props = Properties::default();
        let refuse = |code: u8, why: String| (code, why);
        let mut client_id = c.client_id.clone();
        let mut assigned = false;
        let check = (|| {
            if client_id.len() > cfg.max_client_id_len {
                return Err(refuse(
                    rc::CLIENT_IDENTIFIER_NOT_VALID,
                    format!(
                        "client id is {} bytes; the limit is {} (mqtt.max_client_id_len)",
                        client_id.len(),
                        cfg.max_client_id_len
                    ),
                ));
            }
            if client_id.is_empty() {
                if version == ProtocolVersion::V311 && !c.clean_start {
                    return Err(refuse(
                        rc::CLIENT_IDENTIFIER_NOT_VALID,
                        "empty client id with clean session = 0 (MQTT 3.1.3-8)".into(),
                    ));
                }
                client_id = format!("airlock-{:016x}", rand::random::<u64>());
                assigned = true;
            }
            if c.properties.authentication_method.is_some() {
                return Err(refuse(
                    rc::BAD_AUTHENTICATION_METHOD,
                    "enhanced authentication (AUTH) is not supported; authenticate with a client certificate".into(),
                ));
            }
            if let Some(w) = &c.will {
                if w.topic.len() > cfg.max_topic_len {
                    return Err(refuse(
                        rc::TOPIC_NAME_INVALID,
                        format!(
                            "will topic is {} bytes; the limit is {} (mqtt.max_topic_len)",
                            w.topic.len(),
                            cfg.max_topic_len
                        ),
                    ));
                }
                if w.retain && !cfg.retain_available {
                    return Err(refuse(
                        rc::RETAIN_NOT_SUPPORTED,
                        "retained wills are disabled (mqtt.retain_available)".into(),
                    ));
                }
                if w.payload.len() > cfg.max_payload_size {
                    return Err(refuse(
                        rc::PACKET_TOO_LARGE,
                        format!(
                            "will payload is {} bytes; the limit is {} (mqtt.max_payload_size)",
                            w.payload.len(),
                            cfg.max_payload_size
                        ),
                    ));
                }
            }
            let request = ConnectRequest {
                client_id: &client_id,
                persistent: match version {
                    ProtocolVersion::V5 => c.properties.session_expiry_interval.unwrap_or(0) > 0,
                    ProtocolVersion::V311 => !c.clean_start,
                },
                will_topic: c.will.as_ref().map(|w| w.topic.as_str()),
            };
            if let Authorization::Deny { reason } = broker.authorizer().connect(&ctx, &request) {
                // 3.1.1 gets CONNACK 5 (not authorized), as AWS IoT answers today.
                return Err(refuse(
                    rc::NOT_AUTHORIZED,
                    format!("not authorized: {reason}"),
                ));
            }
            Ok(())
        })();
        if let Err((code, why)) = check {
            tracing::info!(peer = %ctx.peer, endpoint = %ctx.endpoint_id, client_id = %c.client_id, code = format!("0x{code:02X}"), "CONNECT refused: {why}");
            let label = if code == rc::NOT_AUTHORIZED {
                "not_authorized"
            } else {
                "invalid"
            };
            metrics::counter!(m::CONNECT_REFUSED, "reason" => label).increment(1);
            let wire = match version {
                ProtocolVersion::V5 => code,
                ProtocolVersion::V311 => rc::connack_code_v311(code),
            };
            if version == ProtocolVersion::V5 {
                props.reason_string = Some(why);
            }
            let mut out = BytesMut::new();
            let ack = Packet::ConnAck(ConnAck {
                session_present: false,
                code: wire,
                properties: props,
            });
            if encode(&ack, version, &mut out).is_ok() {
                let _ = writer.write_all(&out).await;
                let _ = writer.flush().await;
            }
            return None;
        }

        let session_expiry = match version {
            ProtocolVersion::V5 => c
                .properties
                .session_expiry_interval
                .unwrap_or(0)
                .min(cfg.max_session_expiry),
            ProtocolVersion::V311 if c.clean_start => 0,
            ProtocolVersion::V311 => cfg.max_session_expiry,
        };
        if version == ProtocolVersion::V5
            && c.properties.session_expiry_interval.unwrap_or(0) != session_expiry
        {
            props.session_expiry_interval = Some(session_expiry);
        }
        let keep_alive = if c.keep_alive > cfg.max_keep_alive {
            if version == ProtocolVersion::V5 {
                props.server_keep_alive = Some(cfg.max_keep_alive);
            }
            cfg.max_keep_alive
        } else {
            c.keep_alive
        };
        let (kick_tx, kick_rx) = mpsc::channel(4);
        let notify = Arc::new(Notify::new());
        let conn_id = broker.next_conn_id();
        let link = ConnLink {
            id: conn_id,
            notify: notify.clone(),
            kick: kick_tx,
            certificate_id: match &ctx.principal {
                Principal::Certificate { certificate_id, .. } => {
                    Some(Arc::from(certificate_id.as_str()))
                }
                Principal::Anonymous => None,
            },
        };
        let (session, present, ops) =
            broker.attach(&client_id, version, c.clean_start, session_expiry, link);
        broker.submit_detached(ops);

        if version == ProtocolVersion::V5 {
            props.receive_maximum = Some(cfg.receive_maximum.max(1));
            props.maximum_packet_size = u32::try_from(cfg.max_packet_size).ok();
            props.topic_alias_maximum = Some(cfg.topic_alias_maximum);
            props.retain_available = Some(u8::from(cfg.retain_available));
            props.wildcard_subscription_available = Some(1);
            props.subscription_identifier_available = Some(1);
            props.shared_subscription_available = Some(1);
            if assigned {
                props.assigned_client_identifier = Some(client_id.clone());
            }
        }
        let mut out = BytesMut::new();
        let ack = Packet::ConnAck(ConnAck {
            session_present: present,
            code: rc::SUCCESS,
            properties: props,
        });
        let _ = encode(&ack, version, &mut out);
        let session_id = format!("{:016x}{:016x}", conn_id, rand::random::<u64>());
        let client_id: Arc<str> = Arc::from(client_id);
        let mut conn = Conn {
            broker,
            ctx,
            version,
            client_id,
            session,
            conn_id,
            session_id,
            kick_rx,
            notify,
            out,
            keep_alive: (keep_alive > 0)
                // Enforced at 1.5 x keep alive (MQTT 3.1.2.10, AWS IoT does the same).
                .then(|| Duration::from_millis(u64::from(keep_alive) * 1500)),
            will: c.will,
            session_expiry,
            client_receive_max: c
                .properties
                .receive_maximum
                .unwrap_or(u16::MAX)
                .min(cfg.max_inflight.max(1)),
            client_max_packet: c
                .properties
                .maximum_packet_size
                .map(|v| v as usize)
                .unwrap_or(usize::MAX),
            client_alias_max: c.properties.topic_alias_maximum.unwrap_or(0),
            out_aliases: HashMap::new(),
            in_aliases: HashMap::new(),
            pending: VecDeque::new(),
            inbound_unacked: 0,
            problem_info: c.properties.request_problem_information != Some(0),
        };
        metrics::counter!(m::PACKETS_OUT, "type" => "connack").increment(1);
        metrics::counter!(m::CONNECTIONS_TOTAL).increment(1);
        metrics::gauge!(m::CONNECTIONS).increment(1.0);
        conn.broker
            .inner
            .connections
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            client_id = %conn.client_id,
            peer = %conn.ctx.peer,
            endpoint = %conn.ctx.endpoint_id,
            principal = conn.ctx.principal.identifier(),
            version = ?version,
            session_present = present,
            keep_alive,
            session_expiry,
            "client connected"
        );
        conn.broker.lifecycle(
            events::presence_topic("connected", &conn.client_id),
            events::connected(
                &conn.client_id,
                &conn.ctx,
                &conn.session_id,
                conn.conn_id,
                now_ms(),
            ),
        );
        if present {
            conn.resend_inflight();
        }
        Some(conn)
    }

    async fn run<S: AsyncRead + AsyncWrite>(
        &mut self,
        mut reader: ReadHalf<S>,
        mut writer: WriteHalf<S>,
        mut inbuf: BytesMut,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let cfg = self.broker.config().clone();
        let write_timeout = Duration::from_secs(cfg.write_timeout_secs.max(1));
        let far = Duration::from_secs(365 * 24 * 3600);
        let ka = tokio::time::sleep(self.keep_alive.unwrap_or(far));
        tokio::pin!(ka);
        // Packets already buffered behind CONNECT.
        let mut ending = self.process_input(&mut inbuf, cfg.max_packet_size);
        let ending = loop {
            if ending.is_none() {
                self.drain_session();
            }
            if !self.out.is_empty() {
                // A connection that is ending gets one short chance to take its DISCONNECT.
                let limit = if ending.is_some() {
                    Duration::from_secs(1)
                } else {
                    write_timeout
                };
                let n = self.out.len();
                let written = tokio::time::timeout(limit, async {
                    writer.write_all(&self.out).await?;
                    writer.flush().await
                })
                .await;
                self.out.clear();
                match (written, ending.take()) {
                    (_, Some(e)) => break e,
                    (Ok(Ok(())), None) => metrics::counter!(m::BYTES_OUT).increment(n as u64),
                    (Ok(Err(e)), None) => {
                        tracing::debug!(client_id = %self.client_id, error = %e, "write failed");
                        break Ending::server("CONNECTION_LOST");
                    }
                    (Err(_), None) => {
                        tracing::warn!(client_id = %self.client_id, "client stopped reading: write blocked for {}s (mqtt.write_timeout_secs); disconnecting", write_timeout.as_secs());
                        metrics::counter!(m::DISCONNECTS, "reason" => "write_stalled").increment(1);
                        break Ending::server("CONNECTION_LOST");
                    }
                }
            }
            if let Some(e) = ending.take() {
                break e;
            }
            let spare_before = inbuf.capacity() - inbuf.len();
            tokio::select! {
                biased;
                kick = self.kick_rx.recv() => {
                    let kick = kick.unwrap_or(Kick { reason: rc::SESSION_TAKEN_OVER, lifecycle: "DUPLICATE_CLIENTID" });
                    self.send_disconnect(kick.reason, None);
                    ending = Some(Ending::server(kick.lifecycle));
                }
                _ = shutdown.changed() => {
                    self.send_disconnect(rc::SERVER_SHUTTING_DOWN, Some("server shutting down".into()));
                    // A restart is not the device failing: wills are kept for persistent
                    // sessions' devices to reconnect, not fired at every client on shutdown.
                    ending = Some(Ending { lifecycle: "SERVER_INITIATED_DISCONNECT", client_initiated: false, publish_will: false });
                }
                res = front_commit(&mut self.pending) => {
                    self.complete_front(res);
                }
                r = reader.read_buf(&mut inbuf) => {
                    match r {
                        Ok(0) => break Ending::server("CONNECTION_LOST"),
                        Ok(n) => {
                            metrics::counter!(m::BYTES_IN).increment(n as u64);
                            if let Some(k) = self.keep_alive {
                                ka.as_mut().reset(Instant::now() + k);
                            }
                            ending = self.process_input(&mut inbuf, cfg.max_packet_size);
                            // A read that filled the buffer means a busy client: grow in
                            // READ_CHUNK steps; a quiet one keeps a small buffer.
                            let spare = inbuf.capacity() - inbuf.len();
                            if n >= spare_before {
                                inbuf.reserve(READ_CHUNK);
                            } else if spare < READ_START / 2 {
                                inbuf.reserve(READ_START);
                            }
                        }
                        Err(e) => {
                            tracing::debug!(client_id = %self.client_id, error = %e, "read failed");
                            break Ending::server("CONNECTION_LOST");
                        }
                    }
                }
                _ = self.notify.notified() => {}
                _ = &mut ka => {
                    tracing::info!(client_id = %self.client_id, "keep alive expired (no packet for 1.5 x keep alive); disconnecting");
                    metrics::counter!(m::DISCONNECTS, "reason" => "keep_alive").increment(1);
                    self.send_disconnect(rc::KEEP_ALIVE_TIMEOUT, None);
                    ending = Some(Ending::server("MQTT_KEEP_ALIVE_TIMEOUT"));
                }
            }
        };
        let _ = writer.shutdown().await;
        self.finish(ending);
    }

    /// Decode and handle every complete packet in `inbuf`.
    fn process_input(&mut self, inbuf: &mut BytesMut, max: usize) -> Option<Ending> {
        loop {
            match decode(inbuf, self.version, max) {
                Ok(None) => return None,
                Ok(Some(p)) => {
                    metrics::counter!(m::PACKETS_IN, "type" => kind(&p)).increment(1);
                    if let Some(e) = self.handle(p) {
                        return Some(e);
                    }
                }
                Err(e) => {
                    let code = match e {
                        DecodeError::PacketTooLarge { .. } => rc::PACKET_TOO_LARGE,
                        DecodeError::ProtocolError(_) => rc::PROTOCOL_ERROR,
                        _ => rc::MALFORMED_PACKET,
                    };
                    tracing::info!(client_id = %self.client_id, peer = %self.ctx.peer, error = %e, "bad packet from client; disconnecting");
                    metrics::counter!(m::DISCONNECTS, "reason" => "bad_packet").increment(1);
                    self.send_disconnect(code, Some(e.to_string()));
                    return Some(Ending::server("CLIENT_ERROR"));
                }
            }
        }
    }

    fn handle(&mut self, p: Packet) -> Option<Ending> {
        match p {
            Packet::Publish(p) => return self.on_publish(p),
            Packet::PubAck(a) => self.on_puback(a.packet_id),
            Packet::PubRec(a) => self.on_pubrec(a),
            Packet::PubRel(a) => self.on_pubrel(a.packet_id),
            Packet::PubComp(a) => self.on_pubcomp(a.packet_id),
            Packet::Subscribe(s) => self.on_subscribe(s),
            Packet::Unsubscribe(u) => self.on_unsubscribe(u),
            Packet::PingReq => self.send(Packet::PingResp),
            Packet::Disconnect(d) => return self.on_disconnect(d),
            Packet::Connect(_) => {
                return self.protocol_error("second CONNECT on one connection (MQTT 3.1.0-2)");
            }
            Packet::Auth(_) => {
                return self.protocol_error("AUTH without enhanced authentication in CONNECT");
            }
            other => {
                tracing::info!(client_id = %self.client_id, packet = kind(&other), "client sent a server-only packet");
                return self.protocol_error("client sent a packet only a server may send");
            }
        }
        None
    }

    fn protocol_error(&mut self, why: &str) -> Option<Ending> {
        tracing::info!(client_id = %self.client_id, peer = %self.ctx.peer, "protocol error: {why}; disconnecting");
        metrics::counter!(m::DISCONNECTS, "reason" => "protocol_error").increment(1);
        self.send_disconnect(rc::PROTOCOL_ERROR, Some(why.to_string()));
        Some(Ending::server("CLIENT_ERROR"))
    }

    /// Refuse a PUBLISH: v5 QoS 1/2 get a negative ack and the connection stays; otherwise
    /// (QoS 0, or 3.1.1 which has no negative ack) the connection is closed.
    fn refuse_publish(&mut self, p: &Publish, code: u8, why: String) -> Option<Ending> {
        tracing::info!(client_id = %self.client_id, topic = %p.topic, code = format!("0x{code:02X}"), "PUBLISH refused: {why}");
        metrics::counter!(m::DROPPED, "reason" => "refused").increment(1);
        match (self.version, p.packet_id) {
            (ProtocolVersion::V5, Some(pid)) => {
                let ack = self.ack(pid, code, Some(why));
                let packet = if p.qos == QoS::ExactlyOnce {
                    Packet::PubRec(ack)
                } else {
                    Packet::PubAck(ack)
                };
                self.respond(packet, Commit::ready(), false, Vec::new());
                None
            }
            _ => {
                self.send_disconnect(code, Some(why));
                Some(Ending::server("CLIENT_ERROR"))
            }
        }
    }

    fn on_publish(&mut self, mut p: Publish) -> Option<Ending> {
        let cfg = self.broker.config().clone();
        // A QoS 2 PUBLISH resent for a packet id still awaiting PUBREL (e.g. after a resumed
        // session) already holds its slot in the window: counting it again would refuse it.
        let resent_qos2 = p.qos == QoS::ExactlyOnce
            && p.packet_id
                .is_some_and(|pid| lock(&self.session).awaiting_rel.contains(&pid));
        if p.qos != QoS::AtMostOnce
            && !resent_qos2
            && self.inbound_unacked + lock(&self.session).awaiting_rel.len()
                >= usize::from(cfg.receive_maximum.max(1))
        {
            tracing::info!(client_id = %self.client_id, "client exceeded our Receive Maximum of {}", cfg.receive_maximum);
            metrics::counter!(m::DISCONNECTS, "reason" => "receive_maximum").increment(1);
            self.send_disconnect(
                rc::RECEIVE_MAXIMUM_EXCEEDED,
                Some(format!(
                    "more than {} unacknowledged QoS 1/2 publishes",
                    cfg.receive_maximum
                )),
            );
            return Some(Ending::server("CLIENT_ERROR"));
        }
        if let Some(alias) = p.properties.topic_alias.take() {
            if alias == 0 || alias > cfg.topic_alias_maximum {
                tracing::info!(client_id = %self.client_id, alias, "topic alias out of range");
                self.send_disconnect(
                    rc::TOPIC_ALIAS_INVALID,
                    Some(format!(
                        "topic alias {alias} is outside 1..={}",
                        cfg.topic_alias_maximum
                    )),
                );
                return Some(Ending::server("CLIENT_ERROR"));
            }
            if p.topic.is_empty() {
                match self.in_aliases.get(&alias) {
                    Some(t) => p.topic = t.clone(),
                    None => {
                        return self.protocol_error(
                            "PUBLISH with an empty topic and an unknown topic alias",
                        );
                    }
                }
            } else {
                self.in_aliases.insert(alias, p.topic.clone());
            }
        } else if p.topic.is_empty() {
            return self.protocol_error("PUBLISH with an empty topic and no topic alias");
        }
        if let Authorization::Deny { reason } =
            self.broker
                .authorizer()
                .publish(&self.ctx, &self.client_id, &p.topic, p.retain)
        {
            // AWS IoT answers an unauthorized 3.1.1 PUBLISH by closing the connection (3.1.1 has
            // no negative PUBACK); refuse_publish does exactly that for 3.1.1 and QoS 0.
            return self.refuse_publish(
                &p,
                rc::NOT_AUTHORIZED,
                format!("not authorized: {reason}"),
            );
        }
        if p.topic.starts_with(RESERVED_PREFIX) {
            let why = format!("topics under {RESERVED_PREFIX} are published by the broker only");
            return self.refuse_publish(&p, rc::NOT_AUTHORIZED, why);
        }
        if p.topic.len() > cfg.max_topic_len {
            let why = format!(
                "topic is {} bytes; the limit is {} (mqtt.max_topic_len)",
                p.topic.len(),
                cfg.max_topic_len
            );
            return self.refuse_publish(&p, rc::TOPIC_NAME_INVALID, why);
        }
        if p.payload.len() > cfg.max_payload_size {
            let why = format!(
                "payload is {} bytes; the limit is {} (mqtt.max_payload_size)",
                p.payload.len(),
                cfg.max_payload_size
            );
            tracing::info!(client_id = %self.client_id, topic = %p.topic, "{why}; disconnecting");
            metrics::counter!(m::DISCONNECTS, "reason" => "payload_too_large").increment(1);
            self.send_disconnect(rc::PACKET_TOO_LARGE, Some(why));
            return Some(Ending::server("CLIENT_ERROR"));
        }
        if p.retain && !cfg.retain_available {
            self.send_disconnect(
                rc::RETAIN_NOT_SUPPORTED,
                Some("retain is disabled (mqtt.retain_available)".into()),
            );
            return Some(Ending::server("CLIENT_ERROR"));
        }
        if p.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&p.payload).is_err()
        {
            return self.refuse_publish(
                &p,
                rc::PAYLOAD_FORMAT_INVALID,
                "payload format indicator says UTF-8 but the payload is not valid UTF-8".into(),
            );
        }
        if p.qos == QoS::ExactlyOnce
            && let Some(pid) = p.packet_id
            && lock(&self.session).awaiting_rel.contains(&pid)
        {
            // Retransmission of a QoS 2 PUBLISH we already routed: acknowledge, do not route again.
            let ack = self.ack(pid, rc::SUCCESS, None);
            self.respond(Packet::PubRec(ack), Commit::ready(), false, Vec::new());
            return None;
        }
        metrics::counter!(m::MESSAGES_IN, "qos" => qos_label(p.qos)).increment(1);
        let expires_at_ms = p
            .properties
            .message_expiry_interval
            .map(|s| now_ms() + u64::from(s) * 1000);
        let msg = Arc::new(Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos as u8,
            retain: p.retain,
            properties: MessageProperties::from_properties(&p.properties),
            expires_at_ms,
            publisher: Some(self.client_id.to_string()),
        });
        let commit = self.broker.route(msg);
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(pid)) => {
                let ack = self.ack(pid, rc::SUCCESS, None);
                self.inbound_unacked += 1;
                self.respond(Packet::PubAck(ack), commit, true, Vec::new());
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                lock(&self.session).awaiting_rel.insert(pid);
                let ack = self.ack(pid, rc::SUCCESS, None);
                self.respond(Packet::PubRec(ack), commit, false, Vec::new());
            }
            _ => {}
        }
        None
    }

    fn on_puback(&mut self, pid: u16) {
        let mut s = lock(&self.session);
        match s.inflight.get(&pid) {
            Some(f)
                if f.state == InflightState::Published && f.delivery.qos == QoS::AtLeastOnce =>
            {
                let seq = s.inflight.remove(&pid).and_then(|f| f.delivery.seq);
                let client_id = s.client_id.to_string();
                drop(s);
                if let Some(seq) = seq {
                    self.broker
                        .submit_detached(vec![Op::DeleteMessage { client_id, seq }]);
                }
            }
            _ => {
                tracing::debug!(client_id = %self.client_id, pid, "PUBACK for unknown packet id ignored")
            }
        }
    }

    fn on_pubrec(&mut self, a: PubAck) {
        let pid = a.packet_id;
        let mut s = lock(&self.session);
        let known = matches!(s.inflight.get(&pid), Some(f) if f.delivery.qos == QoS::ExactlyOnce);
        if !known {
            drop(s);
            let ack = self.ack(pid, rc::PACKET_IDENTIFIER_NOT_FOUND, None);
            self.send(Packet::PubRel(ack));
            return;
        }
        if a.reason >= 0x80 {
            // The receiver refused the message: it is finished (MQTT 4.3.3).
            let seq = s.inflight.remove(&pid).and_then(|f| f.delivery.seq);
            let client_id = s.client_id.to_string();
            drop(s);
            if let Some(seq) = seq {
                self.broker
                    .submit_detached(vec![Op::DeleteMessage { client_id, seq }]);
            }
            return;
        }
        let mut op = None;
        let client_id = s.client_id.to_string();
        if let Some(f) = s.inflight.get_mut(&pid) {
            f.state = InflightState::Released;
            if let Some(seq) = f.delivery.seq {
                op = Some(Op::PutMessage {
                    client_id,
                    seq,
                    value: persist::encode(&f.delivery.record(DeliveryState::Released(pid))),
                });
            }
        }
        drop(s);
        if let Some(op) = op {
            self.broker.submit_detached(vec![op]);
        }
        let ack = self.ack(pid, rc::SUCCESS, None);
        self.send(Packet::PubRel(ack));
    }

    fn on_pubrel(&mut self, pid: u16) {
        let known = lock(&self.session).awaiting_rel.remove(&pid);
        let code = if known {
            rc::SUCCESS
        } else {
            rc::PACKET_IDENTIFIER_NOT_FOUND
        };
        let ack = self.ack(pid, code, None);
        // PUBCOMP must follow the PUBREC it completes, which may still wait for its commit.
        self.respond(Packet::PubComp(ack), Commit::ready(), false, Vec::new());
    }

    fn on_pubcomp(&mut self, pid: u16) {
        let mut s = lock(&self.session);
        if matches!(s.inflight.get(&pid), Some(f) if f.state == InflightState::Released) {
            let seq = s.inflight.remove(&pid).and_then(|f| f.delivery.seq);
            let client_id = s.client_id.to_string();
            drop(s);
            if let Some(seq) = seq {
                self.broker
                    .submit_detached(vec![Op::DeleteMessage { client_id, seq }]);
            }
        }
    }

    fn on_subscribe(&mut self, sub: Subscribe) {
        let cfg = self.broker.config().clone();
        let identifier = sub.properties.subscription_identifiers.first().copied();
        let mut reasons = Vec::with_capacity(sub.filters.len());
        let mut retained = Vec::new();
        let mut problems = Vec::new();
        let mut changed = false;
        let too_many = sub.filters.len() > cfg.max_filters_per_subscribe;
        let mut s = lock(&self.session);
        for (filter, options) in &sub.filters {
            let (group, bare) = split(filter);
            let refuse = if too_many {
                Some((
                    rc::QUOTA_EXCEEDED,
                    format!(
                        "{} filters in one SUBSCRIBE; the limit is {} (mqtt.max_filters_per_subscribe)",
                        sub.filters.len(),
                        cfg.max_filters_per_subscribe
                    ),
                ))
            } else if bare.len() > cfg.max_topic_len {
                Some((
                    rc::TOPIC_FILTER_INVALID,
                    format!(
                        "filter {filter:?} is {} bytes; the limit is {} (mqtt.max_topic_len)",
                        bare.len(),
                        cfg.max_topic_len
                    ),
                ))
            } else if let Authorization::Deny { reason } =
                self.broker
                    .authorizer()
                    .subscribe(&self.ctx, &self.client_id, filter)
            {
                Some((
                    rc::NOT_AUTHORIZED,
                    format!("not authorized to subscribe to {filter:?}: {reason}"),
                ))
            } else if group.is_some() && options.no_local {
                Some((
                    rc::TOPIC_FILTER_INVALID,
                    format!("No Local is not allowed on shared subscription {filter:?}"),
                ))
            } else if !s.subscriptions.contains_key(filter.as_str())
                && s.subscriptions.len() >= cfg.max_subscriptions_per_session
            {
                Some((
                    rc::QUOTA_EXCEEDED,
                    format!(
                        "session already holds {} subscriptions (mqtt.max_subscriptions_per_session)",
                        s.subscriptions.len()
                    ),
                ))
            } else {
                None
            };
            if let Some((code, why)) = refuse {
                tracing::info!(client_id = %self.client_id, filter = %filter, code = format!("0x{code:02X}"), "subscription refused: {why}");
                problems.push(why);
                reasons.push(match self.version {
                    ProtocolVersion::V5 => code,
                    ProtocolVersion::V311 => rc::UNSPECIFIED_ERROR,
                });
                continue;
            }
            let existed = self
                .broker
                .add_subscription(&mut s, filter, *options, identifier);
            changed = true;
            tracing::debug!(client_id = %self.client_id, filter = %filter, qos = options.qos as u8, "subscribed");
            let send_retained = group.is_none()
                && match options.retain_handling {
                    0 => true,
                    1 => !existed,
                    _ => false,
                };
            if send_retained {
                let entry = SubEntry {
                    options: *options,
                    identifier,
                };
                for msg in self.broker.retained_for(bare) {
                    retained.push((msg, entry));
                }
            }
            reasons.push(options.qos as u8);
        }
        let mut ops = Vec::new();
        if changed && s.persistent() {
            ops.push(s.save_op());
        }
        drop(s);
        let mut properties = Properties::default();
        if self.version == ProtocolVersion::V5 && self.problem_info && !problems.is_empty() {
            properties.reason_string = Some(problems.join("; "));
        }
        let commit = self.broker.submit(ops);
        self.respond(
            Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                reasons,
                properties,
            }),
            commit,
            false,
            retained,
        );
    }

    fn on_unsubscribe(&mut self, u: Unsubscribe) {
        let mut s = lock(&self.session);
        let mut reasons = Vec::new();
        let mut changed = false;
        for filter in &u.filters {
            let existed = self.broker.remove_subscription(&mut s, filter);
            changed |= existed;
            reasons.push(if existed {
                rc::SUCCESS
            } else {
                rc::NO_SUBSCRIPTION_EXISTED
            });
        }
        let mut ops = Vec::new();
        if changed && s.persistent() {
            ops.push(s.save_op());
        }
        drop(s);
        if self.version == ProtocolVersion::V311 {
            reasons.clear();
        }
        let commit = self.broker.submit(ops);
        self.respond(
            Packet::UnsubAck(UnsubAck {
                packet_id: u.packet_id,
                reasons,
                properties: Properties::default(),
            }),
            commit,
            false,
            Vec::new(),
        );
    }

    fn on_disconnect(&mut self, d: Disconnect) -> Option<Ending> {
        if let Some(new) = d.properties.session_expiry_interval {
            if self.session_expiry == 0 && new != 0 {
                return self.protocol_error(
                    "DISCONNECT may not raise a session expiry of 0 (MQTT 3.14.2-2)",
                );
            }
            let new = new.min(self.broker.config().max_session_expiry);
            self.session_expiry = new;
            let mut s = lock(&self.session);
            s.expiry_interval = new;
            let op = if new > 0 {
                s.save_op()
            } else {
                Op::DeleteSession {
                    client_id: s.client_id.to_string(),
                }
            };
            drop(s);
            self.broker.submit_detached(vec![op]);
        }
        tracing::debug!(client_id = %self.client_id, reason = d.reason, "client sent DISCONNECT");
        Some(Ending {
            lifecycle: "CLIENT_INITIATED_DISCONNECT",
            client_initiated: true,
            publish_will: d.reason == rc::DISCONNECT_WITH_WILL,
        })
    }

    /// Queue a response to be sent when `commit` is durable, after every earlier response.
    fn respond(
        &mut self,
        packet: Packet,
        commit: Commit,
        inbound: bool,
        retained: Vec<(Arc<Message>, SubEntry)>,
    ) {
        self.pending.push_back(PendingResponse {
            packet,
            commit,
            inbound,
            retained,
        });
        // Responses already durable go out now, in order. Polling with a no-op waker is
        // safe: the select loop polls the front again with its real waker.
        let mut cx = Context::from_waker(Waker::noop());
        while let Some(front) = self.pending.front_mut() {
            match Pin::new(&mut front.commit).poll(&mut cx) {
                Poll::Ready(res) => self.complete_front(res.map_err(|e| e.to_string())),
                Poll::Pending => break,
            }
        }
    }

    fn complete_front(&mut self, res: Result<(), String>) {
        let Some(front) = self.pending.pop_front() else {
            return;
        };
        if front.inbound {
            self.inbound_unacked = self.inbound_unacked.saturating_sub(1);
        }
        let mut packet = front.packet;
        if let Err(e) = res {
            tracing::error!(client_id = %self.client_id, error = %e, "store write failed; refusing the operation so the client retries");
            match &mut packet {
                Packet::PubAck(a) | Packet::PubRec(a) if self.version == ProtocolVersion::V5 => {
                    a.reason = rc::UNSPECIFIED_ERROR;
                    if self.problem_info {
                        a.properties.reason_string =
                            Some("broker could not persist the message; retry later".into());
                    }
                }
                Packet::SubAck(s) => s
                    .reasons
                    .iter_mut()
                    .for_each(|r| *r = rc::UNSPECIFIED_ERROR),
                _ => {
                    // 3.1.1 has no negative PUBACK: withholding the ack makes the client resend
                    // after reconnecting, so close the connection rather than lie.
                    self.send_disconnect(rc::UNSPECIFIED_ERROR, None);
                    self.kick_self();
                    return;
                }
            }
        }
        self.send(packet);
        if !front.retained.is_empty() {
            let mut ops = Vec::new();
            let now = now_ms();
            for (msg, entry) in front.retained {
                let delivery = Delivery {
                    qos: msg.qos().min(entry.options.qos),
                    msg,
                    retain: true,
                    subscription_ids: entry.identifier.into_iter().collect(),
                    seq: None,
                };
                self.broker.deliver(&self.session, delivery, now, &mut ops);
            }
            self.broker.submit_detached(ops);
        }
    }

    fn kick_self(&self) {
        let s = lock(&self.session);
        if let Some(link) = &s.link
            && link.id == self.conn_id
        {
            let _ = link.kick.try_send(Kick {
                reason: rc::UNSPECIFIED_ERROR,
                lifecycle: "SERVER_ERROR",
            });
        }
    }

    fn ack(&self, packet_id: u16, reason: u8, why: Option<String>) -> PubAck {
        let mut properties = Properties::default();
        if self.version == ProtocolVersion::V5 && self.problem_info {
            properties.reason_string = why;
        }
        PubAck {
            packet_id,
            reason: if self.version == ProtocolVersion::V5 {
                reason
            } else {
                rc::SUCCESS
            },
            properties,
        }
    }

    fn send(&mut self, p: Packet) {
        metrics::counter!(m::PACKETS_OUT, "type" => kind(&p)).increment(1);
        if let Err(e) = encode(&p, self.version, &mut self.out) {
            tracing::error!(client_id = %self.client_id, error = %e, packet = kind(&p), "could not encode a packet for the client");
        }
    }

    /// v5: queue a DISCONNECT with `reason`; 3.1.1 has no server DISCONNECT, the close says it.
    fn send_disconnect(&mut self, reason: u8, why: Option<String>) {
        if self.version != ProtocolVersion::V5 {
            return;
        }
        let properties = Properties {
            reason_string: why,
            ..Properties::default()
        };
        self.send(Packet::Disconnect(Disconnect { reason, properties }));
    }

    /// After a resumed session: PUBLISH again (DUP) or PUBREL again what was in flight.
    fn resend_inflight(&mut self) {
        let items: Vec<(u16, Delivery, InflightState)> = lock(&self.session)
            .inflight
            .iter()
            .map(|(pid, f)| (*pid, f.delivery.clone(), f.state))
            .collect();
        for (pid, d, state) in items {
            match state {
                InflightState::Published => {
                    if let Some(p) = self.outbound_publish(&d, Some(pid), true) {
                        self.send(Packet::Publish(p));
                    }
                }
                InflightState::Released => {
                    let ack = self.ack(pid, rc::SUCCESS, None);
                    self.send(Packet::PubRel(ack));
                }
            }
        }
    }

    /// Move deliveries from the session queue into the write buffer, within the client's
    /// Receive Maximum (QoS 1/2 in flight) and a per-turn byte budget.
    fn drain_session(&mut self) {
        let now = now_ms();
        let mut ops = Vec::new();
        let mut sends = Vec::new();
        let mut budget = WRITE_BATCH.saturating_sub(self.out.len());
        {
            let session = self.session.clone();
            let mut s = lock(&session);
            // An Arc clone: the String is only built for the rare store op.
            let client_id = s.client_id.clone();
            while budget > 0 {
                let inflight = s.inflight.len();
                let Some(front) = s.queue.front() else { break };
                if front.qos != QoS::AtMostOnce && inflight >= usize::from(self.client_receive_max)
                {
                    break;
                }
                // Take a packet id before taking the message, so a full id space leaves the
                // message queued instead of losing it.
                let pid = if front.qos == QoS::AtMostOnce {
                    None
                } else {
                    match s.allocate_packet_id() {
                        Some(pid) => Some(pid),
                        None => break,
                    }
                };
                let Some(d) = s.dequeue() else { break };
                metrics::gauge!(m::QUEUED).decrement(1.0);
                if d.msg.expired(now) {
                    metrics::counter!(m::DROPPED, "reason" => "expired").increment(1);
                    if let Some(seq) = d.seq {
                        ops.push(Op::DeleteMessage {
                            client_id: client_id.to_string(),
                            seq,
                        });
                    }
                    continue;
                }
                if let Authorization::Deny { reason } =
                    self.broker
                        .authorizer()
                        .receive(&self.ctx, &client_id, &d.msg.topic)
                {
                    tracing::info!(client_id = %client_id, topic = %d.msg.topic, "delivery not authorized: {reason}");
                    metrics::counter!(m::DROPPED, "reason" => "not_authorized").increment(1);
                    if let Some(seq) = d.seq {
                        ops.push(Op::DeleteMessage {
                            client_id: client_id.to_string(),
                            seq,
                        });
                    }
                    continue;
                }
                let Some(publish) = self.outbound_publish(&d, pid, false) else {
                    if let Some(seq) = d.seq {
                        ops.push(Op::DeleteMessage {
                            client_id: client_id.to_string(),
                            seq,
                        });
                    }
                    continue;
                };
                if let Some(pid) = pid {
                    s.inflight.insert(
                        pid,
                        crate::session::Inflight {
                            delivery: d.clone(),
                            state: InflightState::Published,
                        },
                    );
                }
                let qos = d.qos;
                budget = budget.saturating_sub(publish.payload.len() + publish.topic.len() + 16);
                sends.push(Packet::Publish(publish));
                metrics::counter!(m::MESSAGES_OUT, "qos" => qos_label(qos)).increment(1);
            }
            // The byte budget ran out with messages still queued: wake this task again after
            // the write, or they would wait for the next publish to this session (and, at the
            // end of a burst, for ever).
            if budget == 0 && !s.queue.is_empty() {
                self.notify.notify_one();
            }
        }
        for p in sends {
            self.send(p);
        }
        self.broker.submit_detached(ops);
    }

    /// Build the PUBLISH for a delivery, or `None` when it cannot be sent to this client
    /// (larger than its Maximum Packet Size: dropped and counted, MQTT 3.1.2-25).
    fn outbound_publish(
        &mut self,
        d: &Delivery,
        packet_id: Option<u16>,
        dup: bool,
    ) -> Option<Publish> {
        let now = now_ms();
        let mut properties = Properties::default();
        let mut topic = d.msg.topic.clone();
        // A new outbound alias is only remembered once the PUBLISH that defines it is sent.
        let mut new_alias = None;
        if self.version == ProtocolVersion::V5 {
            let mp = &d.msg.properties;
            properties.payload_format_indicator = mp.payload_format_indicator;
            properties.content_type = mp.content_type.clone();
            properties.response_topic = mp.response_topic.clone();
            properties.correlation_data = mp.correlation_data.clone();
            properties.user_properties = mp.user_properties.clone();
            properties.message_expiry_interval = d.msg.remaining_expiry_secs(now);
            properties.subscription_identifiers = d.subscription_ids.clone();
            if self.client_alias_max > 0 && !dup {
                if let Some(alias) = self.out_aliases.get(&topic) {
                    properties.topic_alias = Some(*alias);
                    topic = String::new();
                } else if self.out_aliases.len() < usize::from(self.client_alias_max) {
                    let alias = self.out_aliases.len() as u16 + 1;
                    new_alias = Some(alias);
                    properties.topic_alias = Some(alias);
                }
            }
        }
        let publish = Publish {
            dup,
            qos: d.qos,
            retain: d.retain,
            topic,
            packet_id,
            properties,
            payload: d.msg.payload.clone(),
        };
        let packet = Packet::Publish(publish);
        match encoded_len(&packet, self.version) {
            Ok(n) if n <= self.client_max_packet => match packet {
                Packet::Publish(p) => {
                    if let Some(alias) = new_alias {
                        self.out_aliases.insert(d.msg.topic.clone(), alias);
                    }
                    Some(p)
                }
                _ => None,
            },
            _ => {
                tracing::info!(client_id = %self.client_id, topic = %d.msg.topic, "message larger than the client's Maximum Packet Size; dropped for this client");
                metrics::counter!(m::DROPPED, "reason" => "client_max_packet_size").increment(1);
                None
            }
        }
    }

    fn finish(&mut self, ending: Ending) {
        let broker = self.broker.clone();
        broker.inner.connections.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(m::CONNECTIONS).decrement(1.0);
        tracing::info!(client_id = %self.client_id, peer = %self.ctx.peer, reason = ending.lifecycle, "client disconnected");
        if ending.publish_will
            && let Some(will) = self.will.take()
        {
            self.publish_will(will);
        }
        broker.detach(&self.session, self.conn_id);
        broker.lifecycle(
            events::presence_topic("disconnected", &self.client_id),
            events::disconnected(
                &self.client_id,
                &self.ctx,
                &self.session_id,
                self.conn_id,
                now_ms(),
                ending.client_initiated,
                ending.lifecycle,
            ),
        );
    }

    fn publish_will(&self, will: Will) {
        let expires_at_ms = will
            .properties
            .message_expiry_interval
            .map(|s| now_ms() + u64::from(s) * 1000);
        let msg = Message {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos as u8,
            retain: will.retain,
            properties: MessageProperties::from_properties(&will.properties),
            expires_at_ms,
            publisher: Some(self.client_id.to_string()),
        };
        // The will waits for the will delay, but never past the end of the session (MQTT 3.1.3.2.2).
        let delay = will
            .properties
            .will_delay_interval
            .unwrap_or(0)
            .min(self.session_expiry);
        if delay == 0 {
            tracing::info!(client_id = %self.client_id, topic = %msg.topic, "publishing will");
            drop(self.broker.publish(msg));
            return;
        }
        let broker = self.broker.clone();
        let session = self.session.clone();
        let generation = lock(&session).generation;
        let client_id = self.client_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(delay))).await;
            let reconnected = {
                let s = lock(&session);
                s.generation != generation || s.link.is_some()
            };
            if reconnected {
                tracing::debug!(client_id = %client_id, "will cancelled: client reconnected within its will delay");
            } else {
                tracing::info!(client_id = %client_id, topic = %msg.topic, "publishing delayed will");
                drop(broker.publish(msg));
            }
        });
    }
}

fn qos_label(q: QoS) -> &'static str {
    match q {
        QoS::AtMostOnce => "0",
        QoS::AtLeastOnce => "1",
        QoS::ExactlyOnce => "2",
    }
}
