//! Version 1: the human-readable line `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`
//! (spec section 2.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::{
    AddressFamily, Command, EncodeError, Parsed, ProxyError, ProxyHeader, Transport, V1_MAX_LEN,
    Version,
};

/// The five characters that identify v1 (the spec's detection rule).
pub(crate) const PREFIX: &[u8] = b"PROXY";

/// The shortest valid line, `PROXY UNKNOWN\r\n`.
pub(crate) const MIN_LEN: usize = 15;

fn malformed(field: &'static str, problem: &'static str) -> ProxyError {
    ProxyError::Malformed {
        version: 1,
        field,
        problem,
    }
}

/// Parses a v1 line; `buf` starts with [`PREFIX`].
pub(crate) fn parse(buf: &[u8], max_header_len: usize) -> Result<Parsed, ProxyError> {
    // The spec caps the line at 107 bytes; the caller's limit may be tighter.
    let limit = V1_MAX_LEN.min(max_header_len);
    let window = &buf[..buf.len().min(limit)];
    // The spec forbids a lone CR or LF as the line end, so find the first of either.
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        if buf.len() >= limit {
            return Err(ProxyError::TooLong {
                version: 1,
                limit,
                hint: "no CRLF within it; the sender is not speaking PROXY protocol v1",
            });
        }
        return Ok(Parsed::Incomplete {
            needed_at_least: MIN_LEN.saturating_sub(buf.len()).max(1),
        });
    };
    if window[end] == b'\n' {
        return Err(malformed(
            "line end",
            "is a bare LF; the spec requires CRLF",
        ));
    }
    if end + 2 > limit {
        return Err(ProxyError::TooLong {
            version: 1,
            limit,
            hint: "the CRLF does not fit in it; the sender is not speaking PROXY protocol v1",
        });
    }
    match buf.get(end + 1) {
        None => return Ok(Parsed::Incomplete { needed_at_least: 1 }),
        Some(b'\n') => {}
        Some(_) => return Err(malformed("line end", "is a CR not followed by LF")),
    }
    let header = parse_line(&buf[..end])?;
    Ok(Parsed::Complete {
        header,
        consumed: end + 2,
    })
}

/// Parses the line without its CRLF.
fn parse_line(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let rest = line
        .strip_prefix(b"PROXY ")
        .ok_or_else(|| malformed("\"PROXY\"", "is not followed by exactly one space"))?;
    // "For UNKNOWN, the rest of the line before the CRLF may be omitted by the sender, and the
    // receiver must ignore anything presented before the CRLF is found."
    if rest == b"UNKNOWN" || rest.starts_with(b"UNKNOWN ") {
        return Ok(ProxyHeader {
            version: Version::V1,
            command: Command::Proxy,
            family: AddressFamily::Unspec,
            transport: Transport::Unspec,
            source: None,
            destination: None,
            unix: None,
            tlvs: Vec::new(),
        });
    }
    // Splitting on single spaces turns a doubled space into an empty field, which every field
    // parser below refuses: the spec says "exactly one space".
    let mut fields = rest.split(|&b| b == b' ');
    let mut next = |name: &'static str| fields.next().ok_or_else(|| malformed(name, "is missing"));
    let protocol = next("protocol")?;
    let family = match protocol {
        b"TCP4" => AddressFamily::Inet,
        b"TCP6" => AddressFamily::Inet6,
        _ => return Err(malformed("protocol", "is not TCP4, TCP6 or UNKNOWN")),
    };
    let src = parse_ip(next("source address")?, family, "source address")?;
    let dst = parse_ip(next("destination address")?, family, "destination address")?;
    let sport = parse_port(next("source port")?, "source port")?;
    let dport = parse_port(next("destination port")?, "destination port")?;
    if fields.next().is_some() {
        return Err(malformed(
            "line",
            "has more than six space-separated fields",
        ));
    }
    Ok(ProxyHeader {
        version: Version::V1,
        command: Command::Proxy,
        family,
        transport: Transport::Stream,
        source: Some(SocketAddr::new(src, sport)),
        destination: Some(SocketAddr::new(dst, dport)),
        unix: None,
        tlvs: Vec::new(),
    })
}

fn parse_ip(text: &[u8], family: AddressFamily, field: &'static str) -> Result<IpAddr, ProxyError> {
    match family {
        AddressFamily::Inet => parse_ipv4(text)
            .map(IpAddr::V4)
            .ok_or_else(|| malformed(field, "is not a dotted IPv4 address without leading zeros")),
        _ => parse_ipv6(text)
            .map(IpAddr::V6)
            .ok_or_else(|| malformed(field, "is not an IPv6 address")),
    }
}

/// Exactly four decimal numbers 0–255 separated by single dots, no leading zeros ("to avoid
/// any possible confusion with octal numbers").
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        *octet = u8::try_from(parse_decimal(parts.next()?, 3)?).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Hex groups separated by colons with at most one `::`. The standard library's parser is
/// exactly that (plus an embedded dotted IPv4 tail, which is how `inet_ntop`, and so HAProxy,
/// writes IPv4-mapped addresses); it refuses zone ids and brackets.
fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn parse_port(text: &[u8], field: &'static str) -> Result<u16, ProxyError> {
    parse_decimal(text, 5)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| {
            malformed(
                field,
                "is not a decimal number 0-65535 without leading zeros",
            )
        })
}

/// A decimal number of 1 to `max_digits` ASCII digits with no leading zero (but "0" itself).
/// `str::parse` is not used because it accepts a leading '+'.
fn parse_decimal(text: &[u8], max_digits: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if text.len() > 1 && text[0] == b'0' {
        return None;
    }
    Some(text.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')))
}

/// Writes `header` as a v1 line.
///
/// A PROXY command over TCP/IPv4 or TCP/IPv6 becomes `TCP4`/`TCP6`; a LOCAL command or an
/// `Unspec` family becomes `PROXY UNKNOWN\r\n` (v1 has no LOCAL). `version` is ignored. v1
/// cannot carry TLVs, UDP or Unix sockets; asking for them is an error rather than a header that
/// silently drops them.
pub fn encode_v1(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    if !header.tlvs.is_empty() {
        return Err(EncodeError::NotInV1("TLVs"));
    }
    if header.command == Command::Local || header.family == AddressFamily::Unspec {
        return Ok(b"PROXY UNKNOWN\r\n".to_vec());
    }
    if header.transport != Transport::Stream {
        return Err(EncodeError::NotInV1("a non-TCP transport"));
    }
    let (Some(src), Some(dst)) = (header.source, header.destination) else {
        return Err(EncodeError::Addresses(
            "a PROXY command over IPv4/IPv6 needs a source and a destination",
        ));
    };
    let protocol = match (header.family, src.ip(), dst.ip()) {
        (AddressFamily::Inet, IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
        (AddressFamily::Inet6, IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
        (AddressFamily::Unix, ..) => return Err(EncodeError::NotInV1("Unix socket addresses")),
        _ => {
            return Err(EncodeError::Addresses(
                "source and destination must both be of the header's address family",
            ));
        }
    };
    let line = format!(
        "PROXY {protocol} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    );
    Ok(line.into_bytes())
}
