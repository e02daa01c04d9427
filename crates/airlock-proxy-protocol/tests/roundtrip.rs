//! Property tests: every header the encoders accept parses back to itself, every strict prefix of
//! an encoded header is `Incomplete`, and arbitrary bytes never panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use airlock_proxy_protocol::{
    AddressFamily, Command, Parsed, ProxyHeader, Tlv, Transport, UnixAddresses, Version, encode_v1,
    encode_v2, parse, parse_with_limit, tlv_type,
};
use proptest::prelude::*;

fn ip_pair(v6: bool) -> BoxedStrategy<(IpAddr, IpAddr)> {
    if v6 {
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into()))
            .boxed()
    } else {
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into()))
            .boxed()
    }
}

/// TLVs the parser accepts: opaque types with any bytes, plus valid values of the checked ones.
fn tlv() -> impl Strategy<Value = Tlv> {
    prop_oneof![
        (
            prop::sample::select(vec![0x01u8, 0x04, 0xE0, 0xE9, 0xEB, 0xF0, 0xFF]),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(kind, value)| Tlv { kind, value }),
        "[a-z0-9.é-]{0,30}".prop_map(|s| Tlv {
            kind: tlv_type::AUTHORITY,
            value: s.into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..=128).prop_map(|value| Tlv {
            kind: tlv_type::UNIQUE_ID,
            value
        }),
        "[a-z0-9]{0,16}".prop_map(|s| Tlv {
            kind: tlv_type::NETNS,
            value: s.into_bytes()
        }),
        "vpce-[0-9a-f]{17}".prop_map(|s| {
            let mut value = vec![tlv_type::AWS_SUBTYPE_VPCE_ID];
            value.extend_from_slice(s.as_bytes());
            Tlv {
                kind: tlv_type::AWS,
                value,
            }
        }),
        ("[A-Za-z0-9.]{0,12}", any::<u32>()).prop_map(|(version, verify)| {
            let mut value = vec![0x01];
            value.extend_from_slice(&verify.to_be_bytes());
            value.extend_from_slice(&[tlv_type::SSL_VERSION, 0, version.len() as u8]);
            value.extend_from_slice(version.as_bytes());
            Tlv {
                kind: tlv_type::SSL,
                value,
            }
        }),
    ]
}

fn v2_header() -> impl Strategy<Value = ProxyHeader> {
    let proxy_ip =
        (any::<bool>(), any::<bool>(), any::<(u16, u16)>()).prop_flat_map(|(v6, dgram, ports)| {
            ip_pair(v6).prop_map(move |(s, d)| {
                let mut h = ProxyHeader::tcp(
                    Version::V2,
                    SocketAddr::new(s, ports.0),
                    SocketAddr::new(d, ports.1),
                );
                if dgram {
                    h.transport = Transport::Datagram;
                }
                h
            })
        });
    let proxy_unspec = Just(ProxyHeader {
        command: Command::Proxy,
        ..ProxyHeader::local()
    });
    let proxy_unix = (
        prop::collection::vec(any::<u8>(), 108),
        prop::collection::vec(any::<u8>(), 108),
    )
        .prop_map(|(s, d)| {
            let mut unix = UnixAddresses {
                source: [0; 108],
                destination: [0; 108],
            };
            unix.source.copy_from_slice(&s);
            unix.destination.copy_from_slice(&d);
            ProxyHeader {
                command: Command::Proxy,
                family: AddressFamily::Unix,
                transport: Transport::Stream,
                unix: Some(Box::new(unix)),
                ..ProxyHeader::local()
            }
        });
    let local = prop::sample::select(vec![
        (AddressFamily::Unspec, Transport::Unspec),
        (AddressFamily::Inet, Transport::Stream),
        (AddressFamily::Inet6, Transport::Datagram),
        (AddressFamily::Unix, Transport::Stream),
    ])
    .prop_map(|(family, transport)| ProxyHeader {
        family,
        transport,
        ..ProxyHeader::local()
    });
    (
        prop_oneof![4 => proxy_ip, 1 => proxy_unspec, 1 => proxy_unix, 1 => local],
        prop::collection::vec(tlv(), 0..6),
    )
        .prop_map(|(mut h, tlvs)| {
            h.tlvs = tlvs;
            h
        })
}

fn v1_header() -> impl Strategy<Value = ProxyHeader> {
    prop_oneof![
        (any::<bool>(), any::<(u16, u16)>()).prop_flat_map(|(v6, ports)| {
            ip_pair(v6).prop_map(move |(s, d)| {
                ProxyHeader::tcp(
                    Version::V1,
                    SocketAddr::new(s, ports.0),
                    SocketAddr::new(d, ports.1),
                )
            })
        }),
        Just(ProxyHeader {
            version: Version::V1,
            command: Command::Proxy,
            ..ProxyHeader::local()
        }),
    ]
}

fn assert_prefixes_incomplete(bytes: &[u8]) -> Result<(), TestCaseError> {
    for n in 0..bytes.len() {
        let got = parse_with_limit(&bytes[..n], usize::MAX);
        prop_assert!(
            matches!(got, Ok(Parsed::Incomplete { .. })),
            "prefix {}: {:?}",
            n,
            got
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn v2_round_trips(h in v2_header(), trailing in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut bytes = encode_v2(&h).unwrap();
        let len = bytes.len();
        assert_prefixes_incomplete(&bytes)?;
        bytes.extend_from_slice(&trailing);
        let got = parse_with_limit(&bytes, usize::MAX).unwrap();
        prop_assert_eq!(got, Parsed::Complete { header: h, consumed: len });
    }

    #[test]
    fn v2_with_crc32c_round_trips(mut h in v2_header(), at in any::<prop::sample::Index>()) {
        let i = at.index(h.tlvs.len() + 1);
        h.tlvs.insert(i, Tlv { kind: tlv_type::CRC32C, value: vec![0; 4] });
        let bytes = encode_v2(&h).unwrap();
        let Ok(Parsed::Complete { header, consumed }) = parse_with_limit(&bytes, usize::MAX) else {
            return Err(TestCaseError::fail("CRC32C header did not parse"));
        };
        prop_assert_eq!(consumed, bytes.len());
        prop_assert_eq!(encode_v2(&header).unwrap(), bytes);
    }

    #[test]
    fn v1_round_trips(h in v1_header()) {
        let bytes = encode_v1(&h).unwrap();
        prop_assert!(bytes.len() <= 107);
        assert_prefixes_incomplete(&bytes)?;
        let got = parse(&bytes).unwrap();
        prop_assert_eq!(got, Parsed::Complete { header: h, consumed: bytes.len() });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), limit in 0usize..5000) {
        let _ = parse(&bytes);
        if let Ok(Parsed::Complete { consumed, .. }) = parse_with_limit(&bytes, limit) {
            prop_assert!(consumed <= bytes.len() && consumed <= limit);
        }
    }

    #[test]
    fn corrupted_v2_headers_never_panic(h in v2_header(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = encode_v2(&h).unwrap();
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        let _ = parse(&bytes);
    }
}
