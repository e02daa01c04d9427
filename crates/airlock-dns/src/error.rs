//! Errors: what was wrong with the configuration, or why the responder could not start.

use std::net::SocketAddr;

/// Why a `[dns]` configuration was refused. Each message names the offending zone or record
/// and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A name is not a valid host name.
    #[error(
        "{context}: '{name}' is not a valid DNS name ({reason}); use dot-separated labels of \
         1 to 63 letters, digits, '-' or '_'"
    )]
    InvalidName {
        /// Where the name was found, e.g. "record name in zone 'iot.plant.example'".
        context: String,
        /// The name as written.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `*` appears other than as the whole leftmost label of a record name.
    #[error(
        "{context}: '{name}' uses '*' other than as the whole leftmost label; write a wildcard \
         as '*.devices' (RFC 4592), and zone names take no wildcard"
    )]
    MisplacedWildcard {
        /// Where the name was found.
        context: String,
        /// The name as written.
        name: String,
    },
    /// A relative record name ends with the zone's own name, which would double it.
    #[error(
        "zone '{zone}': record name '{name}' is relative, so it would mean '{name}.{zone}'; \
         write '{suggestion}', or the absolute '{name}.' with a trailing dot"
    )]
    RelativeRepeatsZone {
        /// The zone.
        zone: String,
        /// The record name as written.
        name: String,
        /// The relative form that was probably meant.
        suggestion: String,
    },
    /// An absolute record name does not lie inside its zone.
    #[error(
        "zone '{zone}': record '{name}' lies outside the zone; put it in the [[dns.zone]] that \
         contains it, or add such a zone"
    )]
    OutsideZone {
        /// The zone.
        zone: String,
        /// The record name as written.
        name: String,
    },
    /// A name handed to [`crate::DnsConfig::add_a`] lies in no configured zone.
    #[error(
        "'{name}' lies in no configured DNS zone; add a [[dns.zone]] that contains it, or \
         leave the name to another DNS server"
    )]
    NotInAnyZone {
        /// The name as given.
        name: String,
    },
    /// A zone has no address records at all.
    #[error(
        "zone '{zone}' has no records; add records = [{{ name = \"broker\", a = [\"10.0.0.5\"] }}] \
         or remove the zone"
    )]
    EmptyZone {
        /// The zone.
        zone: String,
    },
    /// A record has neither `a` nor `aaaa` addresses.
    #[error("zone '{zone}': record '{name}' has no addresses; give it a = [...] or aaaa = [...]")]
    EmptyRecord {
        /// The zone.
        zone: String,
        /// The record name as written.
        name: String,
    },
    /// Two records of a zone have the same name.
    #[error(
        "zone '{zone}': '{name}' is listed more than once; merge the addresses into one record"
    )]
    DuplicateName {
        /// The zone.
        zone: String,
        /// The owner name, fully qualified.
        name: String,
    },
    /// Two `[[dns.zone]]` entries have the same name.
    #[error("zone '{zone}' is configured more than once; merge the two [[dns.zone]] entries")]
    DuplicateZone {
        /// The zone, fully qualified.
        zone: String,
    },
    /// One zone lies inside another.
    #[error(
        "zone '{inner}' lies inside zone '{outer}'; this responder does not delegate, so put \
         its records in '{outer}' and remove '{inner}'"
    )]
    NestedZone {
        /// The inner zone.
        inner: String,
        /// The zone that contains it.
        outer: String,
    },
    /// The responder was started with no zones.
    #[error(
        "the DNS responder has no zones to serve; add a [[dns.zone]] or set dns.enabled = false"
    )]
    NoZones,
    /// A TTL above the RFC 2181 limit.
    #[error("{what} {ttl} is larger than 2147483647 (RFC 2181); use a smaller value")]
    TtlTooLarge {
        /// Which TTL, e.g. "dns.ttl".
        what: String,
        /// The configured value.
        ttl: u32,
    },
}

/// Why [`crate::DnsServer::start`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The configuration is invalid.
    #[error("invalid [dns] configuration: {0}")]
    Config(#[from] ConfigError),
    /// A socket could not be bound.
    #[error(
        "cannot listen for DNS over {protocol} on {addr}: {source}; choose a free address in \
         dns.bind (port 53 needs CAP_NET_BIND_SERVICE)"
    )]
    Bind {
        /// "UDP" or "TCP".
        protocol: &'static str,
        /// The address that was tried.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The server's tasks ended with an error while shutting down.
    #[error("the DNS responder stopped with an error: {0}")]
    Stopped(String),
}
