//! Airlock's optional private DNS responder: an authoritative server for the zones in `[dns]`,
//! so plant devices resolve Airlock's endpoint and domain names to private addresses with no
//! other DNS server (the role a Route 53 private hosted zone plays in front of AWS IoT).
//!
//! This crate owns the `[dns]` configuration ([`DnsConfig`]) and its validation, the zone data
//! (A/AAAA records per name, `*` wildcards, a synthesized SOA and NS at each apex), the answer
//! rules (AA answers; RFC 4592 wildcards that never cover an existing name, empty
//! non-terminals included; NXDOMAIN and NODATA with the SOA for negative caching per
//! RFC 2308; REFUSED for names in no zone and for zone transfers), and the UDP and TCP
//! listeners ([`DnsServer::start`]). It is **not a resolver**: it neither recurses nor forwards,
//! so devices that also need public names need another server for those. It must not know
//! what an endpoint, a domain configuration or a certificate is: the server turns those into
//! names and addresses with [`DnsConfig::add_a`] before starting it.
//!
//! hickory-server provides the sockets, framing and message encoding; the lookup itself is
//! this crate's (a `RequestHandler` over [`zone`] data rather than hickory's
//! `InMemoryZoneHandler`) because hickory 0.26's in-memory wildcard lookup falls back to a
//! wildcard whenever the exact name lacks the asked type, and walks past the closest
//! encloser, both contrary to RFC 4592 and exactly the cases private zones hit (an
//! AAAA-only name under `*.devices`).
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use airlock_dns::{DnsConfig, DnsServer};
//!
//! let mut config: DnsConfig = toml::from_str(r#"
//!     enabled = true
//!     bind = "127.0.0.1:0"
//!     [[zone]]
//!     name = "iot.plant.example"
//!     records = [{ name = "*.devices", a = ["10.0.0.6"] }]
//! "#)?;
//! config.add_a("broker.iot.plant.example", "10.0.0.5".parse()?)?;
//! let dns = DnsServer::start(&config).await?;
//! println!("serving on {}", dns.local_addr());
//! dns.shutdown().await?;
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod name;
mod server;
mod zone;

pub use config::{
    DEFAULT_BIND, DEFAULT_TTL, DnsConfig, MAX_TTL, RecordConfig, SoaConfig, ZoneConfig,
};
pub use error::{ConfigError, DnsError};
pub use server::{DnsServer, RunningDns};
