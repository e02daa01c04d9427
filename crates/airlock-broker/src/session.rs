//! Session state: what survives a connection (subscriptions, queued and in-flight messages).
//!
//! A session is shared between its connection task (which drains it) and publishers (which
//! append to it) behind one mutex that is never held across an await. Its queue is bounded in
//! messages and bytes; what does not fit is dropped and counted, never silently.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use airlock_mqtt::{ProtocolVersion, QoS};
use tokio::sync::{Notify, mpsc};

use crate::config::BrokerConfig;
use crate::message::Message;
use crate::persist::{DeliveryRecord, DeliveryState, SessionRecord, SubscriptionRecord};
use crate::subscriptions::SubEntry;

/// A message on its way to one session.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub msg: Arc<Message>,
    pub qos: QoS,
    pub retain: bool,
    pub subscription_ids: Vec<u32>,
    /// Key in the store when the session is persistent and qos > 0.
    pub seq: Option<u64>,
}

impl Delivery {
    pub fn record(&self, state: DeliveryState) -> DeliveryRecord {
        DeliveryRecord {
            message: (*self.msg).clone(),
            qos: self.qos as u8,
            retain: self.retain,
            subscription_ids: self.subscription_ids.clone(),
            state,
        }
    }
}

/// Outbound QoS 1/2 progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflightState {
    /// PUBLISH sent, waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// PUBREL sent, waiting for PUBCOMP.
    Released,
}

#[derive(Debug, Clone)]
pub struct Inflight {
    pub delivery: Delivery,
    pub state: InflightState,
}

/// Why the broker ends a connection from outside its task.
#[derive(Debug, Clone, Copy)]
pub struct Kick {
    /// v5 DISCONNECT reason code.
    pub reason: u8,
    /// AWS lifecycle `disconnectReason`.
    pub lifecycle: &'static str,
}

/// The live connection attached to a session.
#[derive(Debug, Clone)]
pub struct ConnLink {
    pub id: u64,
    pub notify: Arc<Notify>,
    pub kick: mpsc::Sender<Kick>,
    /// Certificate id of the connection's principal, to find it when that certificate is revoked.
    pub certificate_id: Option<Arc<str>>,
}

/// Result of offering a delivery to a full session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    QueueFull,
}

#[derive(Debug)]
pub struct Session {
    pub client_id: Arc<str>,
    pub protocol: ProtocolVersion,
    pub expiry_interval: u32,
    pub subscriptions: HashMap<String, SubEntry>,
    pub queue: VecDeque<Delivery>,
    pub queued_bytes: usize,
    pub inflight: BTreeMap<u16, Inflight>,
    pub next_packet_id: u16,
    pub next_seq: u64,
    pub link: Option<ConnLink>,
    pub offline_since: Option<Instant>,
    /// Inbound QoS 2 packet ids received but not yet released (PUBREL).
    pub awaiting_rel: HashSet<u16>,
    /// Bumped on every connect, so a delayed will of an older connection can tell it is stale.
    pub generation: u64,
    /// Messages dropped for this session because its queue was full.
    pub dropped: u64,
}

impl Session {
    pub fn new(client_id: Arc<str>, protocol: ProtocolVersion, expiry_interval: u32) -> Session {
        Session {
            client_id,
            protocol,
            expiry_interval,
            subscriptions: HashMap::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            inflight: BTreeMap::new(),
            next_packet_id: 1,
            next_seq: 1,
            link: None,
            offline_since: Some(Instant::now()),
            awaiting_rel: HashSet::new(),
            generation: 0,
            dropped: 0,
        }
    }

    pub fn persistent(&self) -> bool {
        self.expiry_interval > 0
    }

    /// Append a delivery, honouring the queue bounds.
    pub fn enqueue(&mut self, d: Delivery, cfg: &BrokerConfig) -> Result<(), Overflow> {
        let len = d.msg.payload.len();
        if self.queue.len() >= cfg.max_queued_messages
            || self.queued_bytes + len > cfg.max_queued_bytes
        {
            return Err(Overflow::QueueFull);
        }
        self.queued_bytes += len;
        self.queue.push_back(d);
        Ok(())
    }

    /// Take the next delivery to send.
    pub fn dequeue(&mut self) -> Option<Delivery> {
        let d = self.queue.pop_front()?;
        self.queued_bytes = self.queued_bytes.saturating_sub(d.msg.payload.len());
        Some(d)
    }

    /// A free packet identifier for an outbound QoS 1/2 PUBLISH.
    pub fn allocate_packet_id(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if id != 0 && !self.inflight.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    pub fn take_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// The store write that saves this session's record.
    pub fn save_op(&self) -> airlock_store::Op {
        airlock_store::Op::PutSession {
            client_id: self.client_id.to_string(),
            value: crate::persist::encode(&self.record()),
        }
    }

    pub fn record(&self) -> SessionRecord {
        let mut subscriptions: Vec<SubscriptionRecord> = self
            .subscriptions
            .iter()
            .map(|(filter, e)| SubscriptionRecord {
                filter: filter.clone(),
                qos: e.options.qos as u8,
                no_local: e.options.no_local,
                retain_as_published: e.options.retain_as_published,
                retain_handling: e.options.retain_handling,
                identifier: e.identifier,
            })
            .collect();
        subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
        SessionRecord {
            expiry_interval: self.expiry_interval,
            subscriptions,
            protocol: self.protocol.level(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageProperties;

    fn delivery(len: usize) -> Delivery {
        Delivery {
            msg: Arc::new(Message {
                topic: "t".into(),
                payload: vec![0u8; len].into(),
                qos: 1,
                retain: false,
                properties: MessageProperties::default(),
                expires_at_ms: None,
                publisher: None,
            }),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: Vec::new(),
            seq: None,
        }
    }

    #[test]
    fn queue_is_bounded_in_messages_and_bytes() {
        let cfg = BrokerConfig {
            max_queued_messages: 3,
            max_queued_bytes: 250,
            ..BrokerConfig::default()
        };
        let mut s = Session::new(Arc::from("c"), ProtocolVersion::V5, 0);
        assert!(s.enqueue(delivery(100), &cfg).is_ok());
        assert!(s.enqueue(delivery(100), &cfg).is_ok());
        assert_eq!(s.enqueue(delivery(100), &cfg), Err(Overflow::QueueFull));
        assert!(s.enqueue(delivery(10), &cfg).is_ok());
        assert_eq!(s.enqueue(delivery(1), &cfg), Err(Overflow::QueueFull));
        assert_eq!(s.queued_bytes, 210);
        assert!(s.dequeue().is_some());
        assert_eq!(s.queued_bytes, 110);
    }

    #[test]
    fn packet_ids_skip_zero_and_ids_in_flight() {
        let mut s = Session::new(Arc::from("c"), ProtocolVersion::V5, 0);
        s.next_packet_id = u16::MAX;
        assert_eq!(s.allocate_packet_id(), Some(u16::MAX));
        s.inflight.insert(
            1,
            Inflight {
                delivery: delivery(1),
                state: InflightState::Published,
            },
        );
        assert_eq!(s.allocate_packet_id(), Some(2));
    }
}
