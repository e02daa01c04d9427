//! Over-the-wire tests: each starts the real `airlock` binary on loopback with a fresh data
//! directory and talks to it with real clients (rumqttc, mosquitto_pub/sub, curl, raw TLS sockets).

mod harness;

mod artifacts;
mod bad_input;
mod clients;
mod credentials;
mod domains;
mod durability;
mod endpoints;
mod identity;
mod semantics;
mod topology;
mod websocket;
