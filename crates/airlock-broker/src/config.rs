//! Broker limits and behaviour knobs. Defaults follow AWS IoT Core's limits where it has one.

use serde::Deserialize;

/// What to do when a connected client's outbound queue is full (it is not reading fast enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowPolicy {
    /// Drop the new message for this client and count it (`airlock_messages_dropped_total{reason="queue_full"}`).
    #[default]
    DropNew,
    /// Disconnect the client (v5: DISCONNECT 0x97 quota exceeded); its persistent session keeps what is queued.
    Disconnect,
}

/// Limits and behaviour of the MQTT broker (`[mqtt]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Largest PUBLISH payload accepted, bytes (AWS IoT: 128 KiB).
    pub max_payload_size: usize,
    /// Largest packet accepted, bytes, fixed header included; advertised as Maximum Packet Size in v5 CONNACK.
    pub max_packet_size: usize,
    /// Longest client identifier, bytes (AWS IoT: 128).
    pub max_client_id_len: usize,
    /// Longest topic name or filter, bytes (AWS IoT: 256; `$share/{group}/` not counted).
    pub max_topic_len: usize,
    /// Most topic filters in one SUBSCRIBE (AWS IoT: 8).
    pub max_filters_per_subscribe: usize,
    /// Most subscriptions one session may hold (AWS IoT: 50).
    pub max_subscriptions_per_session: usize,
    /// Largest keep alive accepted, seconds; larger values are lowered (v5 clients are told via Server Keep Alive). AWS IoT: 1200.
    pub max_keep_alive: u16,
    /// Inbound QoS 1/2 publishes a client may have unacknowledged (our v5 Receive Maximum; AWS IoT: 100).
    pub receive_maximum: u16,
    /// Outbound QoS 1/2 publishes in flight to one client, further capped by the client's own Receive Maximum (AWS IoT: 100).
    pub max_inflight: u16,
    /// Messages queued per session (online or offline) before overflow.
    pub max_queued_messages: usize,
    /// Payload bytes queued per session before overflow.
    pub max_queued_bytes: usize,
    /// What to do with a connected client whose queue is full.
    pub overflow: OverflowPolicy,
    /// Longest session expiry granted, seconds (AWS IoT default: 3600). 3.1.1 persistent sessions get this.
    pub max_session_expiry: u32,
    /// Topic aliases a client may use towards us (AWS IoT: 8); 0 disables inbound aliases.
    pub topic_alias_maximum: u16,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout_secs: u64,
    /// Seconds a write to a client may block before it is considered stalled and disconnected.
    pub write_timeout_secs: u64,
    /// Publish lifecycle events on `$aws/events/presence/...`.
    pub lifecycle_events: bool,
    /// Seconds between sweeps that expire offline sessions.
    pub expiry_sweep_secs: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_payload_size: 128 * 1024,
            max_packet_size: 128 * 1024 + 1024,
            max_client_id_len: 128,
            max_topic_len: 256,
            max_filters_per_subscribe: 8,
            max_subscriptions_per_session: 50,
            max_keep_alive: 1200,
            receive_maximum: 100,
            max_inflight: 100,
            max_queued_messages: 1000,
            max_queued_bytes: 16 * 1024 * 1024,
            overflow: OverflowPolicy::DropNew,
            max_session_expiry: 3600,
            topic_alias_maximum: 8,
            retain_available: true,
            connect_timeout_secs: 10,
            write_timeout_secs: 30,
            lifecycle_events: true,
            expiry_sweep_secs: 5,
        }
    }
}
