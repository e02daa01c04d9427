//! The authorization seam: the broker asks, an [`Authorizer`] answers.
//!
//! The broker knows nothing of policies or the registry; it calls the authorizer on CONNECT,
//! on every PUBLISH it receives, on each filter of a SUBSCRIBE and on every delivery (so a
//! policy change cuts a live subscription), and applies the protocol-correct reaction to a
//! denial. Identity's policy engine implements this trait; [`AllowAll`] is the default until
//! it does, and is what an embedding without policies uses.

use crate::context::ConnectionContext;

/// An authorization answer. A denial carries why, for the log and `airlock policy test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Go ahead.
    Allow,
    /// Refused.
    Deny {
        /// Why, in words for the log (e.g. the policy statement that denied it).
        reason: String,
    },
}

/// What a CONNECT asks for, as the authorizer sees it.
#[derive(Debug, Clone)]
pub struct ConnectRequest<'a> {
    /// Client identifier (after assignment for an empty one).
    pub client_id: &'a str,
    /// Whether the client asked for a session that outlives the connection.
    pub persistent: bool,
    /// Will topic, when the CONNECT carries a will.
    pub will_topic: Option<&'a str>,
}

/// Decides whether a connection may connect, publish, subscribe and receive.
pub trait Authorizer: Send + Sync + 'static {
    /// May this connection use `request.client_id` (AWS `iot:Connect`)?
    fn connect(&self, ctx: &ConnectionContext, request: &ConnectRequest<'_>) -> Authorization;
    /// May it publish to `topic` (`iot:Publish`, and `iot:RetainPublish` when `retain`)?
    fn publish(
        &self,
        ctx: &ConnectionContext,
        client_id: &str,
        topic: &str,
        retain: bool,
    ) -> Authorization;
    /// May it subscribe to `filter` (`iot:Subscribe`; `$share/{group}/` included as sent)?
    fn subscribe(&self, ctx: &ConnectionContext, client_id: &str, filter: &str) -> Authorization;
    /// May a message on `topic` be delivered to it (`iot:Receive`)?
    fn receive(&self, ctx: &ConnectionContext, client_id: &str, topic: &str) -> Authorization;
}

/// Allows everything the transport let in. The transport has already verified the client
/// certificate against Airlock's CA, so this is "any device of ours may do anything".
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn connect(&self, _: &ConnectionContext, _: &ConnectRequest<'_>) -> Authorization {
        Authorization::Allow
    }
    fn publish(&self, _: &ConnectionContext, _: &str, _: &str, _: bool) -> Authorization {
        Authorization::Allow
    }
    fn subscribe(&self, _: &ConnectionContext, _: &str, _: &str) -> Authorization {
        Authorization::Allow
    }
    fn receive(&self, _: &ConnectionContext, _: &str, _: &str) -> Authorization {
        Authorization::Allow
    }
}
