//! Airlock's MQTT broker, as a library.
//!
//! This crate owns MQTT semantics once bytes have become packets: sessions (clean and
//! persistent, with expiry), the subscription tree with `+`/`#` wildcards and `$share` groups,
//! routing of PUBLISH to subscribers with QoS 0/1/2 flows, retained messages, wills (with v5
//! will delay), topic aliases, message expiry, receive-maximum flow control both ways,
//! bounded per-session queues with counted overflow, client-id takeover and AWS IoT-style
//! lifecycle events. It serves any `AsyncRead + AsyncWrite` stream handed to it together with
//! a [`ConnectionContext`] (endpoint id, peer address, verified certificate chain as DER).
//! It must not know about TLS libraries, listeners, the certificate registry, the admin API or
//! a particular storage engine: durability goes through the [`airlock_store::Store`] trait, so
//! the edge gateway can embed the same broker as its local plant broker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod broker;
mod config;
mod connection;
mod context;
mod events;
mod message;
mod metrics_names;
mod persist;
mod retained;
mod session;
mod subscriptions;

pub use auth::{AllowAll, Authorization, Authorizer, ConnectRequest};
pub use broker::{Broker, BrokerStats, RestoreSummary};
pub use config::{BrokerConfig, OverflowPolicy};
pub use context::{ConnectionContext, Principal};
pub use message::{Message, MessageProperties};
