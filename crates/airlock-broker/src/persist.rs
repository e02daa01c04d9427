//! Records the broker writes through the [`airlock_store::Store`] trait, and their encoding.
//!
//! postcard keeps records compact (a payload is stored as its bytes, not base64), and the
//! encoding is versioned by a leading tag so a later release can read older data.

use serde::{Deserialize, Serialize};

use crate::message::Message;

const VERSION: u8 = 1;

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub identifier: Option<u32>,
}

/// A persistent session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub expiry_interval: u32,
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Protocol level the session was created with.
    pub protocol: u8,
}

/// Where an outbound message stands for its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Not yet sent.
    Queued,
    /// PUBLISH sent with this packet id, awaiting PUBACK / PUBREC.
    Sent(u16),
    /// PUBREC received and PUBREL sent for this packet id, awaiting PUBCOMP.
    Released(u16),
}

/// A queued or in-flight message of a persistent session, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub message: Message,
    pub qos: u8,
    pub retain: bool,
    pub subscription_ids: Vec<u32>,
    pub state: DeliveryState,
}

/// A retained message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedRecord {
    pub message: Message,
}

/// Encode a record with the version tag.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![VERSION];
    // postcard cannot fail on these types except by allocation failure; an empty tail would
    // then fail to decode and be reported at load, never silently accepted.
    if let Ok(body) = postcard::to_allocvec(value) {
        out.extend_from_slice(&body);
    }
    out
}

/// Decode a record written by [`encode`].
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&VERSION, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown record version {v}")),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageProperties;

    #[test]
    fn records_round_trip_and_unknown_versions_are_refused() {
        let record = DeliveryRecord {
            message: Message {
                topic: "a/b".into(),
                payload: bytes::Bytes::from_static(b"\x00\xffpayload"),
                qos: 2,
                retain: true,
                properties: MessageProperties {
                    content_type: Some("application/json".into()),
                    user_properties: vec![("k".into(), "v".into())],
                    ..Default::default()
                },
                expires_at_ms: Some(42),
                publisher: Some("dev-1".into()),
            },
            qos: 1,
            retain: false,
            subscription_ids: vec![7, 9],
            state: DeliveryState::Released(12),
        };
        let bytes = encode(&record);
        assert_eq!(decode::<DeliveryRecord>(&bytes), Ok(record));
        let mut future = bytes.clone();
        future[0] = 99;
        assert!(decode::<DeliveryRecord>(&future).is_err());
        assert!(decode::<DeliveryRecord>(&[]).is_err());
        assert!(decode::<DeliveryRecord>(&bytes[..bytes.len() / 2]).is_err());
    }
}
