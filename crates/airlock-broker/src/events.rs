//! AWS IoT lifecycle events on `$aws/events/presence/{connected|disconnected}/{clientId}`.

use serde_json::json;

use crate::context::ConnectionContext;

/// Topic of a presence event, or `None` for client ids AWS sends no events for (`+` or `#`).
pub fn presence_topic(kind: &str, client_id: &str) -> Option<String> {
    if client_id.contains(['+', '#']) {
        return None;
    }
    Some(format!("$aws/events/presence/{kind}/{client_id}"))
}

/// The `connected` event body, with AWS IoT's field names.
pub fn connected(
    client_id: &str,
    ctx: &ConnectionContext,
    session_id: &str,
    version: u64,
    now_ms: u64,
) -> String {
    json!({
        "clientId": client_id,
        "timestamp": now_ms,
        "eventType": "connected",
        "sessionIdentifier": session_id,
        "principalIdentifier": ctx.principal.identifier(),
        "ipAddress": ctx.peer.ip().to_string(),
        "versionNumber": version,
    })
    .to_string()
}

/// The `disconnected` event body; `reason` is one of AWS's `disconnectReason` values.
pub fn disconnected(
    client_id: &str,
    ctx: &ConnectionContext,
    session_id: &str,
    version: u64,
    now_ms: u64,
    client_initiated: bool,
    reason: &str,
) -> String {
    json!({
        "clientId": client_id,
        "timestamp": now_ms,
        "eventType": "disconnected",
        "sessionIdentifier": session_id,
        "principalIdentifier": ctx.principal.identifier(),
        "ipAddress": ctx.peer.ip().to_string(),
        "clientInitiatedDisconnect": client_initiated,
        "disconnectReason": reason,
        "versionNumber": version,
    })
    .to_string()
}
