//! The `[dns]` section of the server configuration, as written by people and extended by the
//! server with one record per endpoint and domain name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

use crate::error::ConfigError;
use crate::name::{self, OwnerName};
use crate::zone::Zones;

/// Default listening address: loopback only, on the unprivileged mDNS-free port 5353, so that
/// turning the responder on never exposes it to a network by accident. Plant devices need an
/// explicit `bind` on the plant-facing address (and port 53 if they cannot be told a port).
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5353);

/// Default TTL in seconds of every answer and of negative answers (the SOA `minimum`).
pub const DEFAULT_TTL: u32 = 60;

/// Largest TTL allowed: RFC 2181 §8 caps TTLs at 2^31 - 1.
pub const MAX_TTL: u32 = i32::MAX as u32;

/// Configuration of the private DNS responder (`[dns]`).
///
/// ```toml
/// [dns]
/// enabled = true
/// bind = "10.0.0.2:53"
/// ttl = 60
///
/// [[dns.zone]]
/// name = "iot.plant.example"
/// records = [
///   { name = "broker", a = ["10.0.0.5"] },
///   { name = "*.devices", a = ["10.0.0.6"], aaaa = ["fd00::6"] },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Whether the server starts the responder at all. Default `false`: most set-ups already
    /// have a DNS server and only need records in it. [`crate::DnsServer::start`] does not look
    /// at this flag; the caller decides.
    #[serde(default)]
    pub enabled: bool,
    /// Address the responder listens on, for both UDP and TCP. Default `127.0.0.1:5353`
    /// ([`DEFAULT_BIND`]); never a wildcard address unless configured.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// TTL in seconds of every A/AAAA/NS/SOA record served, and the negative-caching TTL
    /// unless a zone's SOA says otherwise. Default 60 ([`DEFAULT_TTL`]), at most 2^31 - 1.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// The zones served, one `[[dns.zone]]` each. The responder is authoritative for exactly
    /// these and refuses every other name.
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            bind: DEFAULT_BIND,
            ttl: DEFAULT_TTL,
            zones: Vec::new(),
        }
    }
}

fn default_bind() -> SocketAddr {
    DEFAULT_BIND
}

fn default_ttl() -> u32 {
    DEFAULT_TTL
}

/// One authoritative zone (`[[dns.zone]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone's apex, e.g. `iot.plant.example` (a trailing dot is optional).
    pub name: String,
    /// Start-of-authority details; every field has a default (see [`SoaConfig`]).
    #[serde(default)]
    pub soa: SoaConfig,
    /// Name servers announced in the apex NS record set. Default: the SOA `mname`
    /// (`ns.<zone>`). Names follow the same rules as record names (relative to the zone unless
    /// they end with a dot). A name server inside the zone should have an A record of its own.
    #[serde(default)]
    pub ns: Vec<String>,
    /// Address records of the zone.
    #[serde(default)]
    pub records: Vec<RecordConfig>,
}

impl ZoneConfig {
    /// A zone named `name` with default SOA and NS and no records yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            soa: SoaConfig::default(),
            ns: Vec::new(),
            records: Vec::new(),
        }
    }
}

/// SOA fields of a zone (`[dns.zone.soa]`). Names are relative to the zone unless they end
/// with a dot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaConfig {
    /// Primary name server. Default `ns` (that is, `ns.<zone>`).
    #[serde(default = "default_mname")]
    pub mname: String,
    /// Mailbox of the person responsible, in DNS form (`hostmaster` is
    /// `hostmaster@<zone>`). Default `hostmaster`.
    #[serde(default = "default_rname")]
    pub rname: String,
    /// Zone serial. Default 1; nothing transfers the zone, so it only matters to humans.
    #[serde(default = "default_serial")]
    pub serial: u32,
    /// Secondary refresh interval in seconds. Default 3600.
    #[serde(default = "default_refresh")]
    pub refresh: u32,
    /// Secondary retry interval in seconds. Default 600.
    #[serde(default = "default_retry")]
    pub retry: u32,
    /// Secondary expiry in seconds. Default 86400.
    #[serde(default = "default_expire")]
    pub expire: u32,
    /// Negative-caching TTL in seconds (RFC 2308). Default: the `[dns]` `ttl`.
    #[serde(default)]
    pub minimum: Option<u32>,
}

impl Default for SoaConfig {
    fn default() -> Self {
        Self {
            mname: default_mname(),
            rname: default_rname(),
            serial: default_serial(),
            refresh: default_refresh(),
            retry: default_retry(),
            expire: default_expire(),
            minimum: None,
        }
    }
}

fn default_mname() -> String {
    "ns".to_owned()
}
fn default_rname() -> String {
    "hostmaster".to_owned()
}
fn default_serial() -> u32 {
    1
}
fn default_refresh() -> u32 {
    3600
}
fn default_retry() -> u32 {
    600
}
fn default_expire() -> u32 {
    86400
}

/// The address records of one name (`{ name = "broker", a = ["10.0.0.5"] }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Owner name: `@` for the apex, a name relative to the zone (`broker`, `*.devices`), or
    /// an absolute name ending with a dot (`broker.iot.plant.example.`) that must lie inside
    /// the zone. `*` is allowed only as the whole leftmost label, and makes a wildcard
    /// (RFC 4592) that answers for names that do not otherwise exist.
    pub name: String,
    /// IPv4 addresses (A records).
    #[serde(default)]
    pub a: Vec<Ipv4Addr>,
    /// IPv6 addresses (AAAA records).
    #[serde(default)]
    pub aaaa: Vec<Ipv6Addr>,
}

impl DnsConfig {
    /// Checks the whole configuration (names, zones, records, TTLs) without binding anything,
    /// so the server can refuse a bad `[dns]` section at load time. An empty zone list is an
    /// error only when `enabled` is true.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Zones::build(self, self.enabled).map(|_| ())
    }

    /// Adds an A record for the fully qualified `name` (with or without a trailing dot, e.g.
    /// an endpoint's `broker.iot.plant.example`) to the configured zone that contains it,
    /// merging with a record of the same name if there is one.
    ///
    /// Fails when `name` is not a valid host name or lies in no configured zone; the caller
    /// (the server) decides whether that matters.
    pub fn add_a(&mut self, name: &str, ip: Ipv4Addr) -> Result<(), ConfigError> {
        self.add_ip(name, IpAddr::V4(ip))
    }

    /// Adds an AAAA record, as [`DnsConfig::add_a`] does an A record.
    pub fn add_aaaa(&mut self, name: &str, ip: Ipv6Addr) -> Result<(), ConfigError> {
        self.add_ip(name, IpAddr::V6(ip))
    }

    /// Adds an A or AAAA record according to the address family of `ip`, as
    /// [`DnsConfig::add_a`] does.
    pub fn add_ip(&mut self, name: &str, ip: IpAddr) -> Result<(), ConfigError> {
        let owner = name::parse_absolute(name)?;
        // The most specific zone wins; overlapping zones are refused later by validation, but
        // picking the longest keeps this call meaningful whatever order the zones come in.
        let mut best: Option<(usize, u8)> = None;
        for (i, zone) in self.zones.iter().enumerate() {
            let Ok(origin) = name::parse_zone(&zone.name) else {
                continue;
            };
            if origin.zone_of(&owner) && best.is_none_or(|(_, labels)| origin.num_labels() > labels)
            {
                best = Some((i, origin.num_labels()));
            }
        }
        let Some((index, _)) = best else {
            return Err(ConfigError::NotInAnyZone {
                name: name.to_owned(),
            });
        };
        let zone = &mut self.zones[index];
        let record = match zone.records.iter().position(|r| {
            name::parse_zone(&zone.name)
                .ok()
                .and_then(|origin| name::parse_owner(&origin, &zone.name, &r.name).ok())
                .is_some_and(|existing: OwnerName| existing == owner)
        }) {
            Some(i) => &mut zone.records[i],
            None => {
                zone.records.push(RecordConfig {
                    name: format!("{owner}"),
                    a: Vec::new(),
                    aaaa: Vec::new(),
                });
                let last = zone.records.len() - 1;
                &mut zone.records[last]
            }
        };
        match ip {
            IpAddr::V4(v4) if !record.a.contains(&v4) => record.a.push(v4),
            IpAddr::V6(v6) if !record.aaaa.contains(&v6) => record.aaaa.push(v6),
            _ => {}
        }
        Ok(())
    }
}
