//! Fuzz the MQTT decoder with arbitrary bytes for both protocol versions.
//!
//! Every packet that decodes must encode again, `encoded_len` must agree with the encoding,
//! and decoding the re-encoded bytes must give the same packet.
#![no_main]

use airlock_mqtt::{ProtocolVersion, decode, encode, encoded_len};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut buf = BytesMut::from(data);
        // Decode as many packets as the input holds, as a connection would.
        while let Ok(Some(packet)) = decode(&mut buf, version, 1 << 20) {
            let mut out = BytesMut::new();
            encode(&packet, version, &mut out).expect("a decoded packet must encode");
            assert_eq!(encoded_len(&packet, version), Ok(out.len()));
            let total = out.len();
            let again = decode(&mut out, version, usize::MAX)
                .expect("re-encoded packet must decode")
                .expect("re-encoded packet must be complete");
            assert_eq!(again, packet, "round trip changed the packet");
            assert!(
                out.is_empty(),
                "decode consumed {} of {total} bytes",
                total - out.len()
            );
        }
    }
});
