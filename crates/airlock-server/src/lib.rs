//! Airlock's I/O edge and wiring.
//!
//! This crate owns everything between the operating system and the broker library: the TOML
//! configuration, the data directory (root CA, server and admin certificates, store file,
//! `endpoints.json`), the named endpoints (TCP listeners with rustls mutual TLS, connection
//! limits, handshake timeouts, ALPN `x-amzn-mqtt-ca`), the Prometheus metrics endpoint and
//! graceful shutdown. It turns a verified TLS session into an
//! [`airlock_broker::ConnectionContext`] and hands the stream to the broker. It must not
//! contain MQTT semantics (those live in `airlock-broker`) or protocol parsing (`airlock-mqtt`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin_http;
mod artifacts;
pub use artifacts::OPERATOR_SESSION;
pub mod bootstrap;
pub mod client_auth;
pub mod config;
mod credentials;
pub mod domains;
pub mod https_publish;
mod listener;
mod metrics_http;
mod mqtt_ws;
mod proxied;
mod server;
pub mod sni;
mod tls;

pub use config::Config;
pub use server::{RunningServer, ServerError, start};
