//! An application message as the broker routes it, independent of any one PUBLISH packet.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_mqtt::{Properties, QoS};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The MQTT 5 properties that travel with a message from publisher to subscriber.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProperties {
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<u8>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic.
    pub response_topic: Option<String>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties, in order.
    pub user_properties: Vec<(String, String)>,
}

impl MessageProperties {
    /// Take the forwarded properties of a PUBLISH or will.
    pub fn from_properties(p: &Properties) -> MessageProperties {
        MessageProperties {
            payload_format_indicator: p.payload_format_indicator,
            content_type: p.content_type.clone(),
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.clone(),
            user_properties: p.user_properties.clone(),
        }
    }
}

/// One application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Topic name (never an alias, never a wildcard).
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: u8,
    /// RETAIN flag as published.
    pub retain: bool,
    /// Forwarded v5 properties.
    pub properties: MessageProperties,
    /// Absolute expiry, milliseconds since the Unix epoch (from Message Expiry Interval).
    pub expires_at_ms: Option<u64>,
    /// Client id of the publisher, for No Local; `None` for broker-originated messages.
    pub publisher: Option<String>,
}

impl Message {
    /// A broker-originated JSON event (`$aws/events/...`): QoS 1, not retained, UTF-8 payload
    /// format, content type `application/json`.
    pub fn event(topic: String, json: String) -> Message {
        Message {
            topic,
            payload: json.into_bytes().into(),
            qos: 1,
            retain: false,
            properties: MessageProperties {
                payload_format_indicator: Some(1),
                content_type: Some("application/json".into()),
                ..Default::default()
            },
            expires_at_ms: None,
            publisher: None,
        }
    }

    /// QoS as the enum.
    pub fn qos(&self) -> QoS {
        QoS::from_u8(self.qos).unwrap_or(QoS::AtMostOnce)
    }

    /// Whether the message has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|t| t <= now_ms)
    }

    /// Remaining Message Expiry Interval in whole seconds to forward, `None` without expiry.
    pub fn remaining_expiry_secs(&self, now_ms: u64) -> Option<u32> {
        self.expires_at_ms
            .map(|t| (t.saturating_sub(now_ms) / 1000).min(u64::from(u32::MAX)) as u32)
    }

    /// Shared handle.
    pub fn shared(self) -> Arc<Message> {
        Arc::new(self)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
