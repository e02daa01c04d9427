//! Version 2 (binary) parsing: addresses, LOCAL/UNSPEC, TLVs, AWS's VPC endpoint id, CRC32C,
//! a header captured from a real HAProxy, truncation and limits.

use std::net::SocketAddr;

use airlock_proxy_protocol::{
    AddressFamily, Command, EncodeError, Parsed, ProxyError, ProxyHeader, Tlv, Transport, Version,
    crc32c, encode_v2, parse, parse_with_limit, tlv_type,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn complete(buf: &[u8]) -> (ProxyHeader, usize) {
    match parse(buf) {
        Ok(Parsed::Complete { header, consumed }) => (header, consumed),
        other => panic!("expected a complete header, got {other:?}"),
    }
}

const SIG: &str = "0d0a0d0a000d0a515549540a";

/// Every strict prefix of `header` must ask for more bytes, never fail or panic.
fn assert_prefixes_incomplete(header: &[u8]) {
    for n in 0..header.len() {
        match parse(&header[..n]) {
            Ok(Parsed::Incomplete { needed_at_least }) => assert!(
                needed_at_least >= 1 && n + needed_at_least <= header.len(),
                "prefix {n}: needed {needed_at_least} of {}",
                header.len()
            ),
            other => panic!("prefix of {n} bytes: {other:?}"),
        }
    }
}

#[test]
fn crc32c_check_value() {
    // The standard check value for CRC-32C (RFC 3720 / the "catalogue of CRC algorithms").
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    // RFC 3720 B.4: 32 bytes of zeros.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
}

#[test]
fn tcp_over_ipv4() {
    let bytes = hex(&format!("{SIG} 21 11 000c c0000201 c6336402 d431 22b3"));
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, 28);
    assert_eq!(
        h,
        ProxyHeader::tcp(
            Version::V2,
            addr("192.0.2.1:54321"),
            addr("198.51.100.2:8883")
        )
    );
    assert_prefixes_incomplete(&bytes);
}

#[test]
fn udp_over_ipv6() {
    let bytes = hex(&format!(
        "{SIG} 21 22 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 c350 115b"
    ));
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, 52);
    assert_eq!(h.family, AddressFamily::Inet6);
    assert_eq!(h.transport, Transport::Datagram);
    assert_eq!(h.source, Some(addr("[2001:db8::1]:50000")));
    assert_eq!(h.destination, Some(addr("[2001:db8::2]:4443")));
    assert_prefixes_incomplete(&bytes);
}

#[test]
fn local_health_check_has_no_addresses() {
    // What HAProxy and an NLB send on health checks: LOCAL, AF_UNSPEC, no body.
    let bytes = hex(&format!("{SIG} 20 00 0000"));
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, 16);
    assert_eq!(h, ProxyHeader::local());
    // LOCAL must be accepted whatever the family says, even with no address block, and any
    // address bytes that are there are ignored.
    let (h, _) = complete(&hex(&format!("{SIG} 20 11 0000")));
    assert_eq!(
        (h.command, h.source, h.destination),
        (Command::Local, None, None)
    );
    let (h, consumed) = complete(&hex(&format!(
        "{SIG} 20 11 000c 7f000001 7f000001 0001 0002"
    )));
    assert_eq!((h.command, h.source, consumed), (Command::Local, None, 28));
    let (h, _) = complete(&hex(&format!("{SIG} 20 ff 0003 aabbcc")));
    assert_eq!((h.family, h.tlvs.len()), (AddressFamily::Unspec, 0));
}

#[test]
fn proxy_unspec_has_no_addresses_but_keeps_tlvs() {
    let bytes = hex(&format!("{SIG} 21 00 0007 02 0004 686f7374"));
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, 23);
    assert_eq!(
        (h.command, h.family, h.source),
        (Command::Proxy, AddressFamily::Unspec, None)
    );
    assert_eq!(h.authority(), Some("host"));
}

#[test]
fn unix_stream_addresses() {
    let mut src = [0u8; 108];
    src[..9].copy_from_slice(b"/run/a.so");
    let mut bytes = hex(&format!("{SIG} 21 31 00d8"));
    bytes.extend_from_slice(&src);
    bytes.extend_from_slice(&[0u8; 108]);
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, 16 + 216);
    assert_eq!((h.family, h.source), (AddressFamily::Unix, None));
    assert_eq!(h.unix.as_ref().map(|u| u.source), Some(src));
}

/// An AWS Network Load Balancer header for PrivateLink traffic, built by hand from the AWS ELB
/// documentation ("Proxy protocol" → "VPC endpoint services": type PP2_TYPE_AWS 0xEA, a value
/// whose first byte is PP2_SUBTYPE_AWS_VPCE_ID 0x01 followed by the endpoint id in ASCII).
#[test]
fn aws_nlb_vpce_id() {
    let bytes = hex(&format!(
        "{SIG} 21 11 0026 0a000119 0a00000a c822 22b3 \
         ea 0017 01 {}",
        "767063652d3038643262663135666163353030316339" // "vpce-08d2bf15fac5001c9"
    ));
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, bytes.len());
    assert_eq!(h.source, Some(addr("10.0.1.25:51234")));
    assert_eq!(h.destination, Some(addr("10.0.0.10:8883")));
    assert_eq!(h.aws_vpce_id(), Some("vpce-08d2bf15fac5001c9"));
    assert_eq!(
        h.tlvs,
        vec![Tlv {
            kind: 0xEA,
            value: b"\x01vpce-08d2bf15fac5001c9".to_vec()
        }]
    );
    assert_prefixes_incomplete(&bytes);

    // Another AWS subtype is kept but is not a VPC endpoint id.
    let other = hex(&format!("{SIG} 21 00 0005 ea 0002 02ff"));
    assert_eq!(complete(&other).0.aws_vpce_id(), None);
}

#[test]
fn aws_tlv_must_be_well_formed() {
    for (body, what) in [
        ("ea 0000", "AWS (0xEA) TLV"),
        ("ea 0001 01", "AWS VPC endpoint id TLV"),
        ("ea 0004 01 76 20 63", "AWS VPC endpoint id TLV"), // "v c": a space
        ("ea 0003 01 c3a9", "AWS VPC endpoint id TLV"),     // non-ASCII
    ] {
        let len = hex(body).len();
        let bytes = hex(&format!("{SIG} 21 00 {len:04x} {body}"));
        match parse(&bytes) {
            Err(ProxyError::Malformed { field, .. }) => assert_eq!(field, what, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

/// The first bytes HAProxy 2.6.12 (Debian 12 package `haproxy` 2.6.12-1+deb12u4) sent to a
/// backend. Captured on loopback with this configuration:
///
/// ```text
/// frontend fe
///     bind 127.0.0.1:18443
///     unique-id-format %{+X}o\ %ci:%cp_%fi:%fp_%Ts_%rt
///     default_backend be
/// backend be
///     server airlock 127.0.0.1:18444 send-proxy-v2 proxy-v2-options crc32c,unique-id
/// ```
///
/// (mode tcp), a Python socket listening on 127.0.0.1:18444 saving what it received, and a
/// client connecting to 18443 from port 42730 and sending "HELLO". The CRC32C was computed by
/// HAProxy, so this also checks our checksum against an independent implementation.
const HAPROXY_SEND_PROXY_V2: &str = "0d0a0d0a000d0a515549540a2111003f7f0000017f000001a6ea480b\
    030004f199ab1405002937463030303030313a413645415f37463030303030313a343830425f364230324631\
    39415f3030303048454c4c4f";

#[test]
fn real_haproxy_header() {
    let bytes = hex(HAPROXY_SEND_PROXY_V2);
    let (h, consumed) = complete(&bytes);
    assert_eq!(consumed, 16 + 0x3f);
    assert_eq!(&bytes[consumed..], b"HELLO");
    assert_eq!(h.source, Some(addr("127.0.0.1:42730")));
    assert_eq!(h.destination, Some(addr("127.0.0.1:18443")));
    assert_eq!(h.crc32c(), Some(0xF199_AB14));
    assert_eq!(
        h.unique_id(),
        Some(&b"7F000001:A6EA_7F000001:480B_6B02F19A_0000"[..])
    );
    assert_prefixes_incomplete(&bytes[..consumed]);
    // Our encoder computes the same checksum HAProxy did.
    assert_eq!(encode_v2(&h).unwrap(), &bytes[..consumed]);

    // One flipped bit anywhere in the header is caught by the checksum.
    for i in 16..consumed {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        if (28..31).contains(&i) {
            continue; // the TLV type/length bytes: corruption there is a malformed TLV instead
        }
        assert!(parse(&bad).is_err(), "flip at {i} accepted");
    }
    let mut bad = bytes.clone();
    bad[17] ^= 0x01; // source address 127.0.0.1 → 127.0.1.1
    assert!(matches!(
        parse(&bad),
        Err(ProxyError::BadChecksum {
            carried: 0xF199_AB14,
            ..
        })
    ));
}

#[test]
fn crc32c_tlv_written_and_verified() {
    let mut h = ProxyHeader::tcp(
        Version::V2,
        addr("203.0.113.9:40001"),
        addr("10.0.0.10:443"),
    );
    h.tlvs = vec![
        Tlv {
            kind: tlv_type::ALPN,
            value: b"x-amzn-mqtt-ca".to_vec(),
        },
        Tlv {
            kind: tlv_type::CRC32C,
            value: vec![0; 4],
        },
        Tlv {
            kind: tlv_type::AWS,
            value: b"\x01vpce-0123456789abcdef0".to_vec(),
        },
    ];
    let bytes = encode_v2(&h).unwrap();
    // Recompute independently of the parser: zero the value and sum the whole header.
    let at = 16 + 12 + 3 + 14 + 3;
    let mut zeroed = bytes.clone();
    zeroed[at..at + 4].fill(0);
    let want = crc32c(&zeroed);
    assert_eq!(&bytes[at..at + 4], &want.to_be_bytes());
    let (parsed, _) = complete(&bytes);
    assert_eq!(parsed.crc32c(), Some(want));
    assert_eq!(parsed.alpn(), Some(&b"x-amzn-mqtt-ca"[..]));
    assert_eq!(parsed.aws_vpce_id(), Some("vpce-0123456789abcdef0"));

    let mut bad = bytes.clone();
    bad[at] ^= 0xff;
    assert!(
        matches!(parse(&bad), Err(ProxyError::BadChecksum { computed, .. }) if computed == want)
    );
}

#[test]
fn registered_tlvs_have_typed_accessors() {
    // SSL: client = SSL|CERT_CONN, verify = 0, sub-TLVs version "TLSv1.3" and CN "dev-1".
    let ssl = "20 0017 03 00000000 21 0007 544c5376312e33 22 0005 6465762d31";
    let body = format!(
        "01 0002 6832  02 000b 696f742e6578616d706c65  05 0003 616263  30 0004 6e733031  \
         04 0002 0000  e3 0001 ff  {ssl}"
    );
    let len = hex(&body).len();
    let bytes = hex(&format!("{SIG} 21 00 {len:04x} {body}"));
    let (h, _) = complete(&bytes);
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.authority(), Some("iot.example"));
    assert_eq!(h.unique_id(), Some(&b"abc"[..]));
    assert_eq!(h.netns(), Some("ns01"));
    assert_eq!(h.tlv(0xE3), Some(&[0xff][..]));
    assert_eq!(h.tlvs.len(), 7);
    let ssl = h.ssl().unwrap();
    assert!(
        ssl.client_ssl() && ssl.client_cert_conn() && !ssl.client_cert_sess() && ssl.verified()
    );
    assert_eq!(
        (ssl.version(), ssl.cn(), ssl.cipher()),
        (Some("TLSv1.3"), Some("dev-1"), None)
    );
    assert_eq!(h.crc32c(), None);
    assert_eq!(h.aws_vpce_id(), None);
    assert_prefixes_incomplete(&bytes);
}

#[test]
fn malformed_v2_headers() {
    let cases: &[(String, &str)] = &[
        (
            format!("{SIG} 22 11 000c 00000000 00000000 0000 0000"),
            "command",
        ),
        (
            format!("{SIG} 21 13 000c 00000000 00000000 0000 0000"),
            "address family/transport byte",
        ),
        (
            format!("{SIG} 21 41 000c 00000000 00000000 0000 0000"),
            "address family/transport byte",
        ),
        (
            format!("{SIG} 21 10 000c 00000000 00000000 0000 0000"),
            "address family/transport byte",
        ),
        (format!("{SIG} 21 01 0000"), "address family/transport byte"),
        (
            format!("{SIG} 21 11 000b 00000000 00000000 0000 00"),
            "length",
        ),
        (
            format!("{SIG} 21 21 000c 00000000 00000000 0000 0000"),
            "length",
        ),
        (
            format!("{SIG} 21 11 000e 00000000 00000000 0000 0000 01 00"),
            "TLV",
        ),
        (format!("{SIG} 21 00 0004 01 0002 aa"), "TLV"),
        (format!("{SIG} 21 00 0006 03 0003 000000"), "CRC32C TLV"),
        (format!("{SIG} 21 00 0005 02 0002 c328"), "AUTHORITY TLV"),
        (format!("{SIG} 21 00 0004 20 0001 01"), "SSL TLV"),
        (
            format!("{SIG} 21 00 000a 20 0007 01 00000000 21 00"),
            "SSL TLV",
        ),
        (format!("{SIG} 21 00 0004 30 0001 80"), "NETNS TLV"),
    ];
    for (bytes, field) in cases {
        match parse(&hex(bytes)) {
            Err(ProxyError::Malformed {
                version: 2,
                field: f,
                ..
            }) => assert_eq!(&f, field, "{bytes}"),
            other => panic!("{bytes}: expected Malformed({field}), got {other:?}"),
        }
    }
    let mut long_id = format!("{SIG} 21 00 0084 05 0081 ");
    long_id.push_str(&"61".repeat(129));
    assert!(matches!(
        parse(&hex(&long_id)),
        Err(ProxyError::Malformed {
            field: "UNIQUE_ID TLV",
            ..
        })
    ));
    let two_crcs = hex(&format!(
        "{SIG} 21 00 000e 03 0004 00000000 03 0004 00000000"
    ));
    assert!(matches!(
        parse(&two_crcs),
        Err(ProxyError::Malformed {
            field: "CRC32C TLV",
            ..
        })
    ));
}

#[test]
fn wrong_version_is_refused_as_soon_as_seen() {
    for v in [0x01u8, 0x11, 0x31, 0xf1] {
        let bytes = hex(&format!("{SIG} {v:02x}"));
        assert_eq!(
            parse(&bytes),
            Err(ProxyError::UnsupportedVersion { version: v >> 4 })
        );
    }
}

#[test]
fn length_over_the_limit_is_refused_before_buffering() {
    // Only the 16-byte fixed part has arrived; the declared 65,535 bytes are refused at once.
    let bytes = hex(&format!("{SIG} 21 00 ffff"));
    assert!(matches!(
        parse(&bytes),
        Err(ProxyError::TooLong {
            version: 2,
            limit: 4096,
            ..
        })
    ));
    // The caller's limit can allow the largest legal header.
    assert_eq!(
        parse_with_limit(&bytes, 16 + 65535),
        Ok(Parsed::Incomplete {
            needed_at_least: 65535
        })
    );
    let ok = hex(&format!("{SIG} 21 11 000c 00000000 00000000 0000 0000"));
    assert!(matches!(
        parse_with_limit(&ok, 27),
        Err(ProxyError::TooLong { limit: 27, .. })
    ));
    assert!(matches!(
        parse_with_limit(&ok, 28),
        Ok(Parsed::Complete { consumed: 28, .. })
    ));
}

#[test]
fn direct_clients_are_named_in_the_error() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "TLS ClientHello",
        ),
        (b"\x10\x1a\x00\x04MQTT\x04\x02\x00\x3c", "MQTT CONNECT"),
        (b"GET / HTTP/1.1\r\n", "HTTP request"),
        (b"\x00\x00", "unrecognised bytes"),
        (b"\r\n\r\n\x00\r\nQUIX", "unrecognised bytes"),
        (b"PROXZ", "unrecognised bytes"),
    ];
    for (bytes, hint) in cases {
        let err = parse(bytes).unwrap_err();
        assert!(
            matches!(err, ProxyError::NotProxyHeader { looks_like } if looks_like.contains(hint)),
            "{err}"
        );
        assert!(err.to_string().contains("turn PROXY protocol off"), "{err}");
    }
}

#[test]
fn empty_buffer_is_incomplete() {
    assert!(
        matches!(parse(b""), Ok(Parsed::Incomplete { needed_at_least }) if needed_at_least >= 1)
    );
}

#[test]
fn encoder_refuses_headers_the_parser_would_not_return() {
    let v4 = addr("192.0.2.1:1");
    let v6 = addr("[::1]:2");
    let mut mixed = ProxyHeader::tcp(Version::V2, v4, v6);
    assert!(matches!(encode_v2(&mixed), Err(EncodeError::Addresses(_))));
    mixed.destination = None;
    assert!(matches!(encode_v2(&mixed), Err(EncodeError::Addresses(_))));
    let mut local = ProxyHeader::local();
    local.source = Some(v4);
    assert!(matches!(encode_v2(&local), Err(EncodeError::Addresses(_))));
    let mut bad_tlv = ProxyHeader::local();
    bad_tlv.tlvs.push(Tlv {
        kind: tlv_type::CRC32C,
        value: vec![0; 3],
    });
    assert!(matches!(
        encode_v2(&bad_tlv),
        Err(EncodeError::InvalidTlv { .. })
    ));
    let mut huge = ProxyHeader::local();
    huge.tlvs.push(Tlv {
        kind: 0xE0,
        value: vec![0; 65536],
    });
    assert!(matches!(encode_v2(&huge), Err(EncodeError::TooLong(_))));
    huge.tlvs = vec![
        Tlv {
            kind: 0xE0,
            value: vec![0; 40000]
        };
        2
    ];
    assert!(matches!(encode_v2(&huge), Err(EncodeError::TooLong(_))));
}
