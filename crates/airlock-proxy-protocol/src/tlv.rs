//! v2 Type-Length-Value vectors: parsing, validation of the registered types, typed accessors.

use crate::{ProxyError, ProxyHeader};

/// TLV type numbers: the spec's registered types and AWS's custom one.
pub mod tlv_type {
    /// `PP2_TYPE_ALPN`: the negotiated application protocol (a copy of TLS ALPN).
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: CRC-32C of the whole header, 4 bytes big-endian.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: client TLS details, with sub-TLVs.
    pub const SSL: u8 = 0x20;
    /// `PP2_SUBTYPE_SSL_VERSION`: TLS version string, e.g. "TLSv1.3".
    pub const SSL_VERSION: u8 = 0x21;
    /// `PP2_SUBTYPE_SSL_CN`: common name of the client certificate's subject.
    pub const SSL_CN: u8 = 0x22;
    /// `PP2_SUBTYPE_SSL_CIPHER`: cipher name, e.g. "ECDHE-RSA-AES128-GCM-SHA256".
    pub const SSL_CIPHER: u8 = 0x23;
    /// `PP2_SUBTYPE_SSL_SIG_ALG`: signature algorithm of the frontend certificate.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// `PP2_SUBTYPE_SSL_KEY_ALG`: key algorithm of the frontend certificate.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// `PP2_TYPE_NETNS`: network namespace name, US-ASCII.
    pub const NETNS: u8 = 0x30;
    /// `PP2_TYPE_AWS`: AWS's custom type (in the spec's 0xE0–0xEF application range); the first
    /// value byte is a subtype.
    pub const AWS: u8 = 0xEA;
    /// `PP2_SUBTYPE_AWS_VPCE_ID`: the rest of the value is the id of the VPC endpoint the client
    /// came through, e.g. "vpce-08d2bf15fac5001c9" (AWS ELB docs, "Proxy protocol").
    pub const AWS_SUBTYPE_VPCE_ID: u8 = 0x01;
}

/// One v2 TLV as sent: a type byte and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type byte (see [`tlv_type`]).
    pub kind: u8,
    /// The value (at most 65,535 bytes).
    pub value: Vec<u8>,
}

/// The value of a `PP2_TYPE_SSL` TLV: how the client reached the proxy over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssl<'a> {
    /// The `client` bit field (`PP2_CLIENT_SSL` 0x01, `PP2_CLIENT_CERT_CONN` 0x02,
    /// `PP2_CLIENT_CERT_SESS` 0x04).
    pub client: u8,
    /// Zero when the client presented a certificate the proxy verified; non-zero otherwise.
    pub verify: u32,
    /// The sub-TLVs (version, CN, cipher, algorithms) as `(type, value)`.
    pub sub_tlvs: Vec<(u8, &'a [u8])>,
}

impl Ssl<'_> {
    /// The client connected to the proxy over TLS.
    pub fn client_ssl(&self) -> bool {
        self.client & 0x01 != 0
    }

    /// The client presented a certificate on this connection.
    pub fn client_cert_conn(&self) -> bool {
        self.client & 0x02 != 0
    }

    /// The client presented a certificate at least once in this TLS session.
    pub fn client_cert_sess(&self) -> bool {
        self.client & 0x04 != 0
    }

    /// The client's certificate was presented and verified by the proxy.
    pub fn verified(&self) -> bool {
        self.verify == 0
    }

    /// The first sub-TLV of type `kind` as text, if present and UTF-8.
    pub fn sub_str(&self, kind: u8) -> Option<&str> {
        let (_, v) = self.sub_tlvs.iter().find(|(k, _)| *k == kind)?;
        std::str::from_utf8(v).ok()
    }

    /// `PP2_SUBTYPE_SSL_VERSION`, e.g. "TLSv1.3".
    pub fn version(&self) -> Option<&str> {
        self.sub_str(tlv_type::SSL_VERSION)
    }

    /// `PP2_SUBTYPE_SSL_CN`: the client certificate subject's common name.
    pub fn cn(&self) -> Option<&str> {
        self.sub_str(tlv_type::SSL_CN)
    }

    /// `PP2_SUBTYPE_SSL_CIPHER`.
    pub fn cipher(&self) -> Option<&str> {
        self.sub_str(tlv_type::SSL_CIPHER)
    }

    /// `PP2_SUBTYPE_SSL_SIG_ALG`.
    pub fn sig_alg(&self) -> Option<&str> {
        self.sub_str(tlv_type::SSL_SIG_ALG)
    }

    /// `PP2_SUBTYPE_SSL_KEY_ALG`.
    pub fn key_alg(&self) -> Option<&str> {
        self.sub_str(tlv_type::SSL_KEY_ALG)
    }
}

/// Typed accessors. Each returns the first TLV of its type; the parser has already checked the
/// registered types' formats, so `None` means absent.
impl ProxyHeader {
    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }

    /// `PP2_TYPE_ALPN`: the application protocol the client negotiated with the proxy.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(tlv_type::ALPN)
    }

    /// `PP2_TYPE_AUTHORITY`: the host name (SNI) the client asked the proxy for.
    pub fn authority(&self) -> Option<&str> {
        std::str::from_utf8(self.tlv(tlv_type::AUTHORITY)?).ok()
    }

    /// `PP2_TYPE_CRC32C`: the checksum the header carried (already verified by the parser).
    pub fn crc32c(&self) -> Option<u32> {
        let v: [u8; 4] = self.tlv(tlv_type::CRC32C)?.try_into().ok()?;
        Some(u32::from_be_bytes(v))
    }

    /// `PP2_TYPE_UNIQUE_ID`: the proxy's id for this connection, to correlate logs across hops.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(tlv_type::UNIQUE_ID)
    }

    /// `PP2_TYPE_SSL`: TLS details of the client's connection to the proxy.
    pub fn ssl(&self) -> Option<Ssl<'_>> {
        parse_ssl(self.tlv(tlv_type::SSL)?)
    }

    /// `PP2_TYPE_NETNS`: the network namespace the proxy accepted the connection in.
    pub fn netns(&self) -> Option<&str> {
        std::str::from_utf8(self.tlv(tlv_type::NETNS)?).ok()
    }

    /// The VPC endpoint id an AWS Network Load Balancer adds for PrivateLink traffic
    /// (`PP2_TYPE_AWS` 0xEA, subtype `PP2_SUBTYPE_AWS_VPCE_ID` 0x01), e.g.
    /// "vpce-08d2bf15fac5001c9": the value of `aws:SourceVpce`.
    pub fn aws_vpce_id(&self) -> Option<&str> {
        self.tlvs
            .iter()
            .filter(|t| t.kind == tlv_type::AWS)
            .find_map(|t| match t.value.split_first() {
                Some((&tlv_type::AWS_SUBTYPE_VPCE_ID, id)) => std::str::from_utf8(id).ok(),
                _ => None,
            })
    }
}

fn malformed(field: &'static str, problem: &'static str) -> ProxyError {
    ProxyError::Malformed {
        version: 2,
        field,
        problem,
    }
}

/// Splits a TLV area into `(type, value)` pairs, or says where it is cut short.
fn split_tlvs(mut buf: &[u8]) -> Result<Vec<(u8, &[u8])>, ()> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let [kind, hi, lo, rest @ ..] = buf else {
            return Err(());
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if rest.len() < len {
            return Err(());
        }
        let (value, after) = rest.split_at(len);
        out.push((*kind, value));
        buf = after;
    }
    Ok(out)
}

fn parse_ssl(value: &[u8]) -> Option<Ssl<'_>> {
    let [client, v0, v1, v2, v3, rest @ ..] = value else {
        return None;
    };
    Some(Ssl {
        client: *client,
        verify: u32::from_be_bytes([*v0, *v1, *v2, *v3]),
        sub_tlvs: split_tlvs(rest).ok()?,
    })
}

/// Parses the TLV area of a v2 header and checks the registered types it understands.
///
/// `tlv_offset` is where `area` starts within `header` (the whole header, fixed part included),
/// so a CRC32C TLV can be checked against the header with its value zeroed.
pub(crate) fn parse_tlvs(
    header: &[u8],
    tlv_offset: usize,
    area: &[u8],
) -> Result<Vec<Tlv>, ProxyError> {
    let pairs = split_tlvs(area)
        .map_err(|()| malformed("TLV", "runs past the end of the header's declared length"))?;
    // Checked before any checksum so two CRC32C TLVs are reported as such, not as a mismatch.
    if pairs.iter().filter(|(k, _)| *k == tlv_type::CRC32C).count() > 1 {
        return Err(malformed("CRC32C TLV", "appears more than once"));
    }
    let mut tlvs = Vec::with_capacity(pairs.len());
    // Offset of the current TLV's value within `header`.
    let mut value_at = tlv_offset;
    for (kind, value) in pairs {
        value_at += 3;
        check_value(kind, value)?;
        if kind == tlv_type::CRC32C {
            verify_crc(header, value_at, value)?;
        }
        tlvs.push(Tlv {
            kind,
            value: value.to_vec(),
        });
        value_at += value.len();
    }
    Ok(tlvs)
}

/// Checks the value of a registered TLV type against the spec (and AWS's docs for 0xEA), so the
/// typed accessors can trust it. Unregistered types are opaque and always accepted.
pub(crate) fn check_value(kind: u8, value: &[u8]) -> Result<(), ProxyError> {
    match kind {
        tlv_type::AUTHORITY if std::str::from_utf8(value).is_err() => {
            Err(malformed("AUTHORITY TLV", "is not UTF-8"))
        }
        tlv_type::CRC32C if value.len() != 4 => {
            Err(malformed("CRC32C TLV", "is not exactly 4 bytes"))
        }
        tlv_type::UNIQUE_ID if value.len() > 128 => {
            Err(malformed("UNIQUE_ID TLV", "is longer than 128 bytes"))
        }
        tlv_type::SSL if parse_ssl(value).is_none() => Err(malformed(
            "SSL TLV",
            "is shorter than 5 bytes or its sub-TLVs run past its end",
        )),
        tlv_type::NETNS if !value.is_ascii() => Err(malformed("NETNS TLV", "is not US-ASCII")),
        tlv_type::AWS => match value.split_first() {
            None => Err(malformed("AWS (0xEA) TLV", "is empty (no subtype byte)")),
            // The id feeds aws:SourceVpce policy conditions; AWS documents it as ASCII and it is
            // always "vpce-" plus hex, so anything else is corruption, not an id to compare.
            Some((&tlv_type::AWS_SUBTYPE_VPCE_ID, id))
                if id.is_empty() || !id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') =>
            {
                Err(malformed(
                    "AWS VPC endpoint id TLV",
                    "is empty or not ASCII letters, digits and '-'",
                ))
            }
            Some(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

fn verify_crc(header: &[u8], value_at: usize, carried: &[u8]) -> Result<(), ProxyError> {
    let carried = match <[u8; 4]>::try_from(carried) {
        Ok(v) => u32::from_be_bytes(v),
        // check_value ran first and refused any other length.
        Err(_) => return Err(malformed("CRC32C TLV", "is not exactly 4 bytes")),
    };
    let computed = crc_with_zeroed(header, value_at);
    if computed == carried {
        Ok(())
    } else {
        Err(ProxyError::BadChecksum { carried, computed })
    }
}

/// CRC-32C of `header` with the 4 bytes at `value_at` taken as zero (the spec's procedure),
/// without copying the header.
pub(crate) fn crc_with_zeroed(header: &[u8], value_at: usize) -> u32 {
    let start = value_at.min(header.len());
    let end = value_at.saturating_add(4).min(header.len());
    let (before, rest) = header.split_at(start);
    let after = rest.get(end - start..).unwrap_or_default();
    let register = crate::crc32c::update(!0, before);
    let register = crate::crc32c::update(register, &[0u8; 4][..end - start]);
    !crate::crc32c::update(register, after)
}
