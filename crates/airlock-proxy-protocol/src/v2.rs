//! Version 2: the binary header (spec section 2.2).
//!
//! ```text
//! signature (12) | ver_cmd (1) | fam (1) | len (2, big-endian) | addresses | TLVs
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::tlv::{check_value, crc_with_zeroed, parse_tlvs, tlv_type};
use crate::{
    AddressFamily, Command, EncodeError, Parsed, ProxyError, ProxyHeader, Transport, UnixAddresses,
    V2_FIXED_LEN, V2_SIGNATURE, Version,
};

fn malformed(field: &'static str, problem: &'static str) -> ProxyError {
    ProxyError::Malformed {
        version: 2,
        field,
        problem,
    }
}

/// Decodes the 14th byte into a combination the spec lists (0x00, 0x11, 0x12, 0x21, 0x22,
/// 0x31, 0x32), or `None`.
fn decode_fam(fam: u8) -> Option<(AddressFamily, Transport)> {
    let family = match fam >> 4 {
        0 => AddressFamily::Unspec,
        1 => AddressFamily::Inet,
        2 => AddressFamily::Inet6,
        3 => AddressFamily::Unix,
        _ => return None,
    };
    let transport = match fam & 0x0f {
        0 => Transport::Unspec,
        1 => Transport::Stream,
        2 => Transport::Datagram,
        _ => return None,
    };
    let listed = matches!(
        (family, transport),
        (AddressFamily::Unspec, Transport::Unspec)
            | (
                AddressFamily::Inet | AddressFamily::Inet6 | AddressFamily::Unix,
                Transport::Stream | Transport::Datagram
            )
    );
    listed.then_some((family, transport))
}

fn encode_fam(family: AddressFamily, transport: Transport) -> Option<u8> {
    let f = match family {
        AddressFamily::Unspec => 0,
        AddressFamily::Inet => 1,
        AddressFamily::Inet6 => 2,
        AddressFamily::Unix => 3,
    };
    let t = match transport {
        Transport::Unspec => 0,
        Transport::Stream => 1,
        Transport::Datagram => 2,
    };
    let fam = f << 4 | t;
    decode_fam(fam).map(|_| fam)
}

/// The size of the address block for `family`: two addresses, then two ports for IP.
fn address_block_len(family: AddressFamily) -> usize {
    match family {
        AddressFamily::Unspec => 0,
        AddressFamily::Inet => 2 * 4 + 2 * 2,
        AddressFamily::Inet6 => 2 * 16 + 2 * 2,
        AddressFamily::Unix => 2 * 108,
    }
}

/// Parses a v2 header; `buf` starts with [`V2_SIGNATURE`].
pub(crate) fn parse(buf: &[u8], max_header_len: usize) -> Result<Parsed, ProxyError> {
    let (Some(&ver_cmd), Some(&fam), Some(&len_hi), Some(&len_lo)) =
        (buf.get(12), buf.get(13), buf.get(14), buf.get(15))
    else {
        // Reject a wrong version as soon as its byte arrives rather than after the length.
        if let Some(&ver_cmd) = buf.get(12) {
            check_ver_cmd(ver_cmd)?;
        }
        return Ok(Parsed::Incomplete {
            needed_at_least: V2_FIXED_LEN - buf.len(),
        });
    };
    let command = check_ver_cmd(ver_cmd)?;
    let total = V2_FIXED_LEN + usize::from(u16::from_be_bytes([len_hi, len_lo]));
    // Checked before waiting for the body, so a peer cannot make the caller buffer 64 KiB.
    if total > max_header_len {
        return Err(ProxyError::TooLong {
            version: 2,
            limit: max_header_len,
            hint: "if a trusted proxy really sends TLVs this large, raise the endpoint's \
                   PROXY header limit",
        });
    }
    let Some(header) = buf.get(..total) else {
        return Ok(Parsed::Incomplete {
            needed_at_least: total - buf.len(),
        });
    };
    let parsed = match command {
        Command::Local => parse_local(header, fam)?,
        Command::Proxy => parse_proxy(header, fam)?,
    };
    Ok(Parsed::Complete {
        header: parsed,
        consumed: total,
    })
}

fn check_ver_cmd(ver_cmd: u8) -> Result<Command, ProxyError> {
    match (ver_cmd >> 4, ver_cmd & 0x0f) {
        (2, 0) => Ok(Command::Local),
        (2, 1) => Ok(Command::Proxy),
        (2, _) => Err(malformed("command", "is neither LOCAL (0) nor PROXY (1)")),
        (version, _) => Err(ProxyError::UnsupportedVersion { version }),
    }
}

/// A LOCAL header: "the receiver must use the real connection endpoints and discard the
/// protocol block including the family". TLVs are still read when the family says where they
/// start, because a checksum or unique id on a health check is still worth honouring.
fn parse_local(header: &[u8], fam: u8) -> Result<ProxyHeader, ProxyError> {
    let mut out = ProxyHeader::local();
    let payload = &header[V2_FIXED_LEN..];
    let Some((family, transport)) = decode_fam(fam) else {
        return Ok(out);
    };
    out.family = family;
    out.transport = transport;
    let block = address_block_len(family);
    // A sender may announce a family on LOCAL yet send no addresses; the spec says to ignore
    // the family, so that is no error, and nothing after it can be located.
    if let Some(area) = payload.get(block..) {
        out.tlvs = parse_tlvs(header, V2_FIXED_LEN + block, area)?;
    }
    Ok(out)
}

fn parse_proxy(header: &[u8], fam: u8) -> Result<ProxyHeader, ProxyError> {
    let payload = &header[V2_FIXED_LEN..];
    let (family, transport) = decode_fam(fam).ok_or_else(|| {
        malformed(
            "address family/transport byte",
            "is not one of 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32",
        )
    })?;
    let block_len = address_block_len(family);
    let Some(block) = payload.get(..block_len) else {
        return Err(malformed(
            "length",
            "is shorter than the address block of the announced family",
        ));
    };
    let mut out = ProxyHeader {
        version: Version::V2,
        command: Command::Proxy,
        family,
        transport,
        source: None,
        destination: None,
        unix: None,
        tlvs: Vec::new(),
    };
    match family {
        AddressFamily::Unspec => {}
        AddressFamily::Inet => {
            let (src, dst, ports) = (&block[0..4], &block[4..8], &block[8..12]);
            let ip = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            out.source = Some(SocketAddr::new(ip(src), be16(&ports[0..2])));
            out.destination = Some(SocketAddr::new(ip(dst), be16(&ports[2..4])));
        }
        AddressFamily::Inet6 => {
            let ip = |b: &[u8]| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let (src, dst, ports) = (&block[0..16], &block[16..32], &block[32..36]);
            out.source = Some(SocketAddr::new(ip(src), be16(&ports[0..2])));
            out.destination = Some(SocketAddr::new(ip(dst), be16(&ports[2..4])));
        }
        AddressFamily::Unix => {
            let mut source = [0u8; 108];
            let mut destination = [0u8; 108];
            source.copy_from_slice(&block[..108]);
            destination.copy_from_slice(&block[108..]);
            out.unix = Some(Box::new(UnixAddresses {
                source,
                destination,
            }));
        }
    }
    out.tlvs = parse_tlvs(header, V2_FIXED_LEN + block_len, &payload[block_len..])?;
    Ok(out)
}

/// A big-endian u16 from exactly two bytes (callers slice fixed offsets of a checked block).
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Writes `header` as a v2 binary header, always as version 2 whatever `header.version` says.
///
/// The result parses back to the same header. For that, the header must be one the parser can
/// produce: a PROXY command carries addresses that match its family (both IPv4 for `Inet`, both
/// IPv6 for `Inet6`, [`ProxyHeader::unix`] for `Unix`, none for `Unspec`); a LOCAL command
/// carries none (an all-zero address block of its family is written); registered TLV types hold
/// values the parser accepts. A `PP2_TYPE_CRC32C` TLV must be 4 bytes; its value is replaced by
/// the checksum of the encoded header, so put zeros there.
pub fn encode_v2(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    let fam = encode_fam(header.family, header.transport).ok_or(EncodeError::Addresses(
        "family and transport are not a combination the spec lists",
    ))?;
    let mut out = Vec::with_capacity(V2_FIXED_LEN + 36);
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(match header.command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    });
    out.push(fam);
    // The length is filled in once the body is written.
    out.extend_from_slice(&[0, 0]);
    write_addresses(header, &mut out)?;
    let mut crc_at = None;
    for tlv in &header.tlvs {
        let len = u16::try_from(tlv.value.len()).map_err(|_| EncodeError::TooLong("TLV value"))?;
        check_value(tlv.kind, &tlv.value).map_err(|e| match e {
            ProxyError::Malformed { field, problem, .. } => {
                EncodeError::InvalidTlv { field, problem }
            }
            _ => EncodeError::InvalidTlv {
                field: "TLV",
                problem: "is invalid",
            },
        })?;
        out.push(tlv.kind);
        out.extend_from_slice(&len.to_be_bytes());
        if tlv.kind == tlv_type::CRC32C {
            if crc_at.is_some() {
                return Err(EncodeError::InvalidTlv {
                    field: "CRC32C TLV",
                    problem: "appears more than once",
                });
            }
            crc_at = Some(out.len());
        }
        out.extend_from_slice(&tlv.value);
    }
    let len = u16::try_from(out.len() - V2_FIXED_LEN)
        .map_err(|_| EncodeError::TooLong("header (addresses and TLVs)"))?;
    out[14..16].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc_at {
        let crc = crc_with_zeroed(&out, at);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(out)
}

fn write_addresses(header: &ProxyHeader, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let has_ip = header.source.is_some() || header.destination.is_some();
    if header.command == Command::Local {
        if has_ip || header.unix.is_some() {
            return Err(EncodeError::Addresses(
                "a LOCAL header carries no addresses (the receiver must ignore them)",
            ));
        }
        out.resize(out.len() + address_block_len(header.family), 0);
        return Ok(());
    }
    match header.family {
        AddressFamily::Unspec | AddressFamily::Unix if has_ip => Err(EncodeError::Addresses(
            "an AF_UNSPEC or AF_UNIX header carries no IP addresses",
        )),
        AddressFamily::Unspec if header.unix.is_some() => Err(EncodeError::Addresses(
            "an AF_UNSPEC header carries no Unix addresses",
        )),
        AddressFamily::Unspec => Ok(()),
        AddressFamily::Unix => {
            let unix = header.unix.as_ref().ok_or(EncodeError::Addresses(
                "an AF_UNIX PROXY header needs Unix addresses",
            ))?;
            out.extend_from_slice(&unix.source);
            out.extend_from_slice(&unix.destination);
            Ok(())
        }
        AddressFamily::Inet | AddressFamily::Inet6 => {
            if header.unix.is_some() {
                return Err(EncodeError::Addresses(
                    "an IPv4/IPv6 header carries no Unix addresses",
                ));
            }
            let (Some(src), Some(dst)) = (header.source, header.destination) else {
                return Err(EncodeError::Addresses(
                    "a PROXY command over IPv4/IPv6 needs a source and a destination",
                ));
            };
            match (header.family, src.ip(), dst.ip()) {
                (AddressFamily::Inet, IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (AddressFamily::Inet6, IpAddr::V6(s), IpAddr::V6(d)) => {
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                _ => {
                    return Err(EncodeError::Addresses(
                        "source and destination must both be of the header's address family",
                    ));
                }
            }
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&dst.port().to_be_bytes());
            Ok(())
        }
    }
}
