//! Version 1 (text line) parsing: valid and malformed lines, truncation, the 107-byte cap.

use std::net::SocketAddr;

use airlock_proxy_protocol::{
    AddressFamily, Command, Parsed, ProxyError, ProxyHeader, Transport, Version, encode_v1, parse,
    parse_with_limit,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn complete(buf: &[u8]) -> (ProxyHeader, usize) {
    match parse(buf) {
        Ok(Parsed::Complete { header, consumed }) => (header, consumed),
        other => panic!(
            "{:?}: expected a complete header, got {other:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

#[test]
fn valid_lines() {
    // (line, source, destination)
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        (
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
            Some(("192.168.0.1:56324", "192.168.0.11:443")),
        ),
        (
            "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
            Some(("255.255.255.255:65535", "255.255.255.255:65535")),
        ),
        (
            "PROXY TCP4 0.0.0.0 10.0.0.1 0 8883\r\n",
            Some(("0.0.0.0:0", "10.0.0.1:8883")),
        ),
        (
            "PROXY TCP6 2001:db8::1 2001:db8::2 40000 8883\r\n",
            Some(("[2001:db8::1]:40000", "[2001:db8::2]:8883")),
        ),
        (
            "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n",
            Some((
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
            )),
        ),
        // inet_ntop (so HAProxy) writes IPv4-mapped addresses with a dotted tail.
        (
            "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n",
            Some(("[::ffff:192.0.2.1]:1", "[::1]:2")),
        ),
        ("PROXY UNKNOWN\r\n", None),
        // "the receiver must ignore anything presented before the CRLF"
        ("PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n", None),
        ("PROXY UNKNOWN whatever \x01 the sender wrote\r\n", None),
    ];
    for (line, addrs) in cases {
        let mut buf = line.as_bytes().to_vec();
        buf.extend_from_slice(b"\x16\x03\x01 rest of the stream");
        let (h, consumed) = complete(&buf);
        assert_eq!(consumed, line.len(), "{line:?}");
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.command, Command::Proxy);
        assert!(h.tlvs.is_empty());
        match addrs {
            Some((s, d)) => {
                assert_eq!(h.source, Some(addr(s)), "{line:?}");
                assert_eq!(h.destination, Some(addr(d)), "{line:?}");
                assert_eq!(h.transport, Transport::Stream);
                let family = if line.contains("TCP4") {
                    AddressFamily::Inet
                } else {
                    AddressFamily::Inet6
                };
                assert_eq!(h.family, family);
            }
            None => {
                assert_eq!((h.source, h.destination), (None, None));
                assert_eq!(
                    (h.family, h.transport),
                    (AddressFamily::Unspec, Transport::Unspec)
                );
            }
        }
    }
}

#[test]
fn malformed_lines() {
    // (line, field named in the error)
    let cases: &[(&[u8], &str)] = &[
        (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "source address"),
        (
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            "destination address",
        ),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", "destination port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "line"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "destination port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "line"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol"),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "protocol"),
        (b"PROXY UNKNOWNX\r\n", "protocol"),
        (b"PROXY\r\n", "\"PROXY\""),
        (b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "\"PROXY\""),
        // Leading zeros are forbidden "to avoid any possible confusion with octal numbers".
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "source address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", "destination port"),
        (b"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", "source address"),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "source address"),
        (b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "source address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n", "destination port"),
        // The address must match the announced family.
        (b"PROXY TCP4 ::1 ::1 1 2\r\n", "source address"),
        (b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "source address"),
        (
            b"PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n",
            "destination address",
        ),
        (b"PROXY TCP6 [::1] ::1 1 2\r\n", "source address"),
        (b"PROXY TCP6 1::2::3 ::1 1 2\r\n", "source address"),
        // A lone CR or LF must not end the line.
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "line end"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "line end"),
        (b"PROXY UNKNOWN\n", "line end"),
    ];
    for (line, field) in cases {
        match parse(line) {
            Err(ProxyError::Malformed {
                version: 1,
                field: f,
                ..
            }) => {
                assert_eq!(&f, field, "{:?}", String::from_utf8_lossy(line))
            }
            other => panic!(
                "{:?}: expected Malformed({field}), got {other:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }
}

#[test]
fn every_prefix_of_a_valid_line_is_incomplete() {
    for line in [
        &b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"[..],
        b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 8883\r\n",
        b"PROXY UNKNOWN\r\n",
    ] {
        for n in 0..line.len() {
            match parse(&line[..n]) {
                Ok(Parsed::Incomplete { needed_at_least }) => {
                    assert!(
                        needed_at_least >= 1 && n + needed_at_least <= line.len(),
                        "prefix {n}: {needed_at_least}"
                    )
                }
                other => panic!("prefix of {n} bytes: {other:?}"),
            }
        }
    }
}

#[test]
fn no_crlf_within_107_bytes_is_too_long() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(106, b'a');
    assert!(matches!(parse(&line), Ok(Parsed::Incomplete { .. })));
    line.push(b'a');
    assert!(matches!(
        parse(&line),
        Err(ProxyError::TooLong {
            version: 1,
            limit: 107,
            ..
        })
    ));
    // Exactly 107 bytes with the CRLF is the spec's worst case and is fine.
    let mut ok = line[..105].to_vec();
    ok.extend_from_slice(b"\r\n");
    assert_eq!(complete(&ok).1, 107);
    // A CR in the last allowed byte leaves no room for the LF.
    let mut cr_last = line[..106].to_vec();
    cr_last.extend_from_slice(b"\r\n");
    assert!(matches!(parse(&cr_last), Err(ProxyError::TooLong { .. })));
}

#[test]
fn caller_limit_tightens_the_v1_cap() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    assert!(matches!(
        parse_with_limit(line, 20),
        Err(ProxyError::TooLong { limit: 20, .. })
    ));
    assert!(matches!(
        parse_with_limit(line, line.len()),
        Ok(Parsed::Complete { .. })
    ));
}

#[test]
fn encode_v1_writes_the_spec_examples() {
    let h = ProxyHeader::tcp(
        Version::V1,
        addr("192.168.0.1:56324"),
        addr("192.168.0.11:443"),
    );
    assert_eq!(
        encode_v1(&h).unwrap(),
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    assert_eq!(
        encode_v1(&ProxyHeader::local()).unwrap(),
        b"PROXY UNKNOWN\r\n"
    );
    let mixed = ProxyHeader::tcp(Version::V1, addr("1.2.3.4:1"), addr("[::1]:2"));
    assert!(encode_v1(&mixed).is_err());
}
