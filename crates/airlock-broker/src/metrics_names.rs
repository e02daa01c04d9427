//! Metric names, in one place so the docs and dashboards match the code.

pub const CONNECTIONS: &str = "airlock_connections";
pub const CONNECTIONS_TOTAL: &str = "airlock_connections_total";
pub const PACKETS_IN: &str = "airlock_packets_received_total";
pub const PACKETS_OUT: &str = "airlock_packets_sent_total";
pub const BYTES_IN: &str = "airlock_bytes_received_total";
pub const BYTES_OUT: &str = "airlock_bytes_sent_total";
pub const MESSAGES_IN: &str = "airlock_messages_received_total";
pub const MESSAGES_OUT: &str = "airlock_messages_sent_total";
pub const DROPPED: &str = "airlock_messages_dropped_total";
pub const QUEUED: &str = "airlock_messages_queued";
pub const SESSIONS: &str = "airlock_sessions";
pub const RETAINED: &str = "airlock_retained_messages";
pub const DISCONNECTS: &str = "airlock_disconnects_total";
pub const CONNECT_REFUSED: &str = "airlock_connect_refused_total";
