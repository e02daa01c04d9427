//! Pure MQTT 3.1.1 and 5.0 codec for Airlock.
//!
//! This crate owns the wire format: every control packet and every v5 property as a type
//! ([`Packet`], [`Properties`]), a decoder that never panics on untrusted bytes and returns a
//! typed [`DecodeError`], an encoder, and topic name / topic filter rules ([`topic`]). It does
//! no I/O and knows nothing of tokio, sockets, TLS, sessions or storage: the broker feeds it
//! bytes and gets packets back. It is hand-written rather than borrowed because the brokers
//! that reuse a client codec (rumqttd) end up choosing the protocol version per listener; here
//! the version is read from each CONNECT, and the decoder enforces the server's maximum
//! packet size before buffering a body.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod packet;
pub mod reason;
pub mod topic;

pub use codec::{DecodeError, EncodeError, decode, encode, encoded_len};
pub use packet::*;
