//! CRC-32C (Castagnoli), for the v2 `PP2_TYPE_CRC32C` TLV.
//!
//! Hand-written rather than a dependency: it is twenty lines, the header is at most a few
//! kilobytes and is summed once per connection, so a byte-wise table is fast enough.

/// The reflected Castagnoli polynomial (RFC 4960 appendix B).
const POLY: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The CRC-32C (Castagnoli) checksum of `data`, as RFC 4960 and the PROXY v2 spec use it.
///
/// `crc32c(b"123456789") == 0xE306_9283`.
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// Feeds `data` into a running (not yet inverted) CRC-32C register, so a header can be summed
/// in pieces, with its checksum field replaced by zeros, without copying it.
pub(crate) fn update(register: u32, data: &[u8]) -> u32 {
    data.iter().fold(register, |crc, &b| {
        TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}
