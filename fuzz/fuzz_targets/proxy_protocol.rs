//! Fuzz the PROXY protocol v1/v2 parser with arbitrary bytes.
//!
//! Parsing must never panic; a complete header must not consume more than the buffer or the
//! limit; every strict prefix of a complete header must be `Incomplete` (a header is never
//! decided before its last byte); and a header that encodes again must parse back to itself.
#![no_main]

use airlock_proxy_protocol::{Parsed, Version, encode_v1, encode_v2, parse, parse_with_limit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A tight limit as well as the default, so both cap paths run.
    let _ = parse_with_limit(data, 64);
    let Ok(Parsed::Complete { header, consumed }) = parse(data) else {
        return;
    };
    assert!(consumed <= data.len() && consumed <= 4096);
    for n in 0..consumed {
        match parse(&data[..n]) {
            Ok(Parsed::Incomplete { .. }) => {}
            other => panic!("prefix of {n}/{consumed} bytes gave {other:?}"),
        }
    }
    let encoded = match header.version {
        Version::V1 => encode_v1(&header),
        Version::V2 => encode_v2(&header),
    };
    if let Ok(bytes) = encoded {
        match parse(&bytes) {
            Ok(Parsed::Complete {
                header: again,
                consumed,
            }) => {
                assert_eq!(again, header, "round trip changed the header");
                assert_eq!(consumed, bytes.len());
            }
            other => panic!("re-encoded header did not parse: {other:?}"),
        }
    }
});
