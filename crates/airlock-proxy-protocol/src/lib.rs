//! Pure PROXY protocol (v1 text and v2 binary) header parser and encoder for Airlock.
//!
//! This crate owns the wire format of the header a load balancer (HAProxy, an AWS Network Load
//! Balancer) puts in front of a proxied TCP connection, as specified in HAProxy's
//! `doc/proxy-protocol.txt`: [`parse`] turns the first bytes of a connection into a
//! [`ProxyHeader`] (client and destination address, v2 TLVs including AWS's `0xEA`/`0x01` VPC
//! endpoint id) or says it needs more bytes, and [`encode_v1`]/[`encode_v2`] write headers for
//! tests and tools. Parsing never panics on untrusted bytes, caps how much an attacker can make
//! the caller buffer ([`parse_with_limit`]), and verifies a v2 CRC32C TLV when one is present.
//!
//! It does no I/O and must not know about sockets, tokio, timeouts, trusted source ranges,
//! policies or endpoints: deciding *whether* a connection may carry a PROXY header, how long to
//! wait for it, and what to do with the addresses (`aws:SourceIp`, `aws:SourceVpce`, logs) is the
//! server's job. A caller reads bytes, calls [`parse`] until it gets
//! [`Parsed::Complete`], drops `consumed` bytes and hands the rest to TLS.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod crc32c;
mod error;
mod tlv;
mod v1;
mod v2;

use std::net::SocketAddr;

pub use crc32c::crc32c;
pub use error::{EncodeError, ProxyError};
pub use tlv::{Ssl, Tlv, tlv_type};
pub use v1::encode_v1;
pub use v2::encode_v2;

/// The 12-byte signature every PROXY protocol v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest v1 line the spec allows, CRLF included
/// (`PROXY UNKNOWN <ipv6> <ipv6> 65535 65535\r\n`).
pub const V1_MAX_LEN: usize = 107;

/// The length of the fixed part of a v2 header (signature, version/command, family, length).
pub const V2_FIXED_LEN: usize = 16;

/// The header size [`parse`] accepts. v2 allows up to 16 + 65,535 bytes; real senders
/// (HAProxy, AWS NLB) send well under 512, so 4 KiB leaves room for TLVs without letting a
/// peer make each pending connection hold 64 KiB.
pub const DEFAULT_MAX_HEADER_LEN: usize = 4096;

/// What [`parse`] made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes are a valid beginning of a PROXY header; read more and call again with the
    /// whole buffer.
    Incomplete {
        /// At least this many more bytes are needed before parsing can finish (exact once a v2
        /// header's length field has been read).
        needed_at_least: usize,
    },
    /// A whole, valid header.
    Complete {
        /// The header.
        header: ProxyHeader,
        /// How many bytes of the buffer the header took; what follows is the proxied stream
        /// (for Airlock, the TLS ClientHello).
        consumed: usize,
    },
}

/// Which version of the protocol a header used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The human-readable `PROXY TCP4 …\r\n` line.
    V1,
    /// The binary format with the 12-byte signature.
    V2,
}

/// The v2 command (v1 headers are always [`Command::Proxy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// The proxy opened the connection itself (a health check): there are no client addresses
    /// and the caller keeps the socket's own.
    Local,
    /// The connection is relayed on behalf of a client whose addresses the header carries.
    Proxy,
}

/// The address family of the proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// Unknown or unsupported (v1 `UNKNOWN`, v2 `AF_UNSPEC`): no addresses.
    Unspec,
    /// IPv4 (v1 `TCP4`, v2 `AF_INET`).
    Inet,
    /// IPv6 (v1 `TCP6`, v2 `AF_INET6`).
    Inet6,
    /// A Unix socket (v2 `AF_UNIX`): addresses are in [`ProxyHeader::unix`].
    Unix,
}

/// The transport protocol of the proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unknown or unsupported.
    Unspec,
    /// `SOCK_STREAM`: TCP or a Unix stream socket.
    Stream,
    /// `SOCK_DGRAM`: UDP or a Unix datagram socket.
    Datagram,
}

/// The two 108-byte `sun_path` fields of a v2 `AF_UNIX` header, as sent (NUL padding kept,
/// because an abstract socket name starts with NUL and may contain more).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnixAddresses {
    /// The client's socket path.
    pub source: [u8; 108],
    /// The proxy-side socket path.
    pub destination: [u8; 108],
}

/// A parsed PROXY protocol header.
///
/// `source` is the address to use for the client (`aws:SourceIp`, logs, lifecycle events) when
/// it is `Some`; when it is `None` (LOCAL health checks, `UNKNOWN`/`AF_UNSPEC`, Unix sockets) the
/// caller keeps the socket's own peer address, as the spec requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    /// The protocol version the header used.
    pub version: Version,
    /// LOCAL (health check) or PROXY (relayed client).
    pub command: Command,
    /// The address family announced by the header.
    pub family: AddressFamily,
    /// The transport announced by the header.
    pub transport: Transport,
    /// The original client's address and port; `None` unless the command is PROXY and the family
    /// is IPv4 or IPv6.
    pub source: Option<SocketAddr>,
    /// The address and port the client connected to (the load balancer's listener); same rule
    /// as `source`.
    pub destination: Option<SocketAddr>,
    /// The Unix socket paths of a PROXY command over `AF_UNIX`.
    pub unix: Option<Box<UnixAddresses>>,
    /// Every v2 TLV in header order (empty for v1). Use the typed accessors for the registered
    /// types.
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// A PROXY-command header for a TCP connection from `source` to `destination`, with no TLVs.
    /// Both addresses should be of the same family; [`encode_v1`]/[`encode_v2`] refuse a mix.
    pub fn tcp(version: Version, source: SocketAddr, destination: SocketAddr) -> Self {
        let family = if source.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        ProxyHeader {
            version,
            command: Command::Proxy,
            family,
            transport: Transport::Stream,
            source: Some(source),
            destination: Some(destination),
            unix: None,
            tlvs: Vec::new(),
        }
    }

    /// A v2 LOCAL header (what a proxy sends on its own health checks), with no TLVs.
    pub fn local() -> Self {
        ProxyHeader {
            version: Version::V2,
            command: Command::Local,
            family: AddressFamily::Unspec,
            transport: Transport::Unspec,
            source: None,
            destination: None,
            unix: None,
            tlvs: Vec::new(),
        }
    }
}

/// Parses a PROXY protocol header (v1 or v2) at the start of `buf`, accepting headers up to
/// [`DEFAULT_MAX_HEADER_LEN`] bytes.
///
/// See [`parse_with_limit`].
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    parse_with_limit(buf, DEFAULT_MAX_HEADER_LEN)
}

/// Parses a PROXY protocol header (v1 or v2) at the start of `buf`, refusing headers longer than
/// `max_header_len` bytes (a v1 line is further capped at [`V1_MAX_LEN`] by the spec).
///
/// Returns [`Parsed::Incomplete`] while `buf` is a valid prefix of a header, so a caller can
/// read and retry; it never asks for more than `max_header_len` bytes in total. Bytes after the
/// header are not looked at. The first bytes must be a v1 `PROXY ` or the v2 signature: the spec
/// forbids guessing whether a header is present, so anything else is
/// [`ProxyError::NotProxyHeader`].
pub fn parse_with_limit(buf: &[u8], max_header_len: usize) -> Result<Parsed, ProxyError> {
    if buf.starts_with(v1::PREFIX) {
        return v1::parse(buf, max_header_len);
    }
    if buf.starts_with(&V2_SIGNATURE) {
        return v2::parse(buf, max_header_len);
    }
    // A strict prefix of either signature may still become a header.
    let short_prefix_of = |sig: &[u8]| buf.len() < sig.len() && sig.starts_with(buf);
    if short_prefix_of(v1::PREFIX) {
        return Ok(Parsed::Incomplete {
            needed_at_least: v1::MIN_LEN - buf.len(),
        });
    }
    if short_prefix_of(&V2_SIGNATURE) {
        return Ok(Parsed::Incomplete {
            needed_at_least: V2_FIXED_LEN - buf.len(),
        });
    }
    Err(ProxyError::NotProxyHeader {
        looks_like: error::guess_protocol(buf),
    })
}
