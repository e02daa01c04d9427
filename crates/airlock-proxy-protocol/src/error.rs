//! Why bytes were not a PROXY header, and why a header could not be encoded.

/// Why the first bytes of a connection were not a valid PROXY protocol header.
///
/// Every variant means the connection must be dropped: the spec forbids falling back to treating
/// the bytes as the proxied stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The bytes start with neither `PROXY` nor the v2 signature.
    #[error(
        "the connection did not start with a PROXY protocol header (it looks like {looks_like}); \
         this endpoint expects every connection to come through a proxy or load balancer that \
         sends one: connect through it, or turn PROXY protocol off for this endpoint"
    )]
    NotProxyHeader {
        /// A guess at what the bytes are instead, e.g. "a TLS ClientHello", to make the
        /// usual misconfiguration (a client connecting directly) obvious in logs.
        looks_like: &'static str,
    },
    /// The v2 signature was followed by a version other than 2.
    #[error(
        "PROXY protocol v2 signature followed by version {version}; only version 2 exists: \
         check the proxy's PROXY protocol setting"
    )]
    UnsupportedVersion {
        /// The high nibble of the 13th byte.
        version: u8,
    },
    /// A field of the header broke the spec.
    #[error("malformed PROXY protocol v{version} header: {field} {problem}")]
    Malformed {
        /// 1 or 2.
        version: u8,
        /// The field at fault, e.g. "source port".
        field: &'static str,
        /// What was wrong with it.
        problem: &'static str,
    },
    /// The header is longer than the spec or the caller allows.
    #[error("PROXY protocol v{version} header is longer than the {limit}-byte limit; {hint}")]
    TooLong {
        /// 1 or 2.
        version: u8,
        /// The limit that was hit.
        limit: usize,
        /// What to check.
        hint: &'static str,
    },
    /// A v2 CRC32C TLV did not match the header.
    #[error(
        "PROXY protocol v2 header checksum mismatch: the CRC32C TLV says {carried:#010x} but the \
         header sums to {computed:#010x}; the header was corrupted or altered between the proxy \
         and Airlock"
    )]
    BadChecksum {
        /// The value carried in the TLV.
        carried: u32,
        /// The CRC32C of the header with the TLV's value zeroed.
        computed: u32,
    },
}

/// Why a [`crate::ProxyHeader`] could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The addresses do not fit the header's family, command or version.
    #[error("cannot encode this PROXY header: {0}")]
    Addresses(&'static str),
    /// v1 has no way to say this (UDP, Unix sockets, TLVs).
    #[error("PROXY protocol v1 cannot express {0}; use encode_v2")]
    NotInV1(&'static str),
    /// A TLV of a registered type holds a value the parser would refuse.
    #[error("cannot encode PROXY v2 {field}: it {problem}")]
    InvalidTlv {
        /// The TLV at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A TLV value is over 65,535 bytes, or the whole header over 16 + 65,535.
    #[error("PROXY v2 {0} is longer than its 16-bit length field allows")]
    TooLong(&'static str),
}

/// Names what a non-PROXY connection probably is, from its first bytes.
pub(crate) fn guess_protocol(buf: &[u8]) -> &'static str {
    match buf {
        // TLS record type 22 (handshake), major version 3.
        [0x16, 0x03, ..] | [0x16] => "a TLS ClientHello, i.e. a client connecting directly",
        // MQTT CONNECT fixed header (packet type 1, flags 0).
        [0x10, ..] => "a plain MQTT CONNECT, i.e. a client connecting directly without TLS",
        _ if starts_with_http_method(buf) => "an HTTP request, i.e. a client connecting directly",
        _ => "unrecognised bytes",
    }
}

fn starts_with_http_method(buf: &[u8]) -> bool {
    [
        &b"GET "[..],
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"CONNECT ",
    ]
    .iter()
    .any(|m| buf.starts_with(m))
}
