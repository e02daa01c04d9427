//! Small text encodings the credentials need: base32 for access key ids and RFC 3339 times.

use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 4648 base32 alphabet: uppercase letters and digits 2–7, so an access key id built from
/// it is "uppercase alphanumeric" like AWS's.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 of exactly 10 bytes: 80 bits, 16 characters, no padding.
pub(crate) fn base32_10(bytes: &[u8; 10]) -> String {
    let mut acc: u128 = 0;
    for b in bytes {
        acc = (acc << 8) | u128::from(*b);
    }
    (0..16)
        .rev()
        .map(|i| char::from(BASE32[((acc >> (i * 5)) & 0x1f) as usize]))
        .collect()
}

/// Whole seconds since the Unix epoch; `None` before it.
pub(crate) fn unix_secs(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// Format `t` as AWS does for `expiration`: RFC 3339 UTC with whole seconds and `Z`, e.g.
/// `2026-11-22T13:18:06Z`. Sub-second precision is dropped; times before 1970 print as the
/// epoch (credentials never carry such times: minting refuses them).
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = unix_secs(t).unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, restricted to non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        format_rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // The expiration in AWS's documented credential-provider response.
        assert_eq!(at(1_516_267_086), "2018-01-18T09:18:06Z");
        assert_eq!(at(1_795_353_486), "2026-11-22T13:18:06Z");
        // Leap day and the turn of a century that is a leap year.
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        // Sub-second precision is dropped, not rounded.
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_millis(1_999)),
            "1970-01-01T00:00:01Z"
        );
    }

    #[test]
    fn base32_is_uppercase_alphanumeric() {
        assert_eq!(base32_10(&[0; 10]), "AAAAAAAAAAAAAAAA");
        assert_eq!(base32_10(&[0xff; 10]), "7777777777777777");
        // RFC 4648 test vector: "fooba" -> MZXW6YTB; two of them back to back.
        assert_eq!(base32_10(b"foobafooba"), "MZXW6YTBMZXW6YTB");
    }
}
