//! The canonical request, the string to sign and the signing key: the one code path both the
//! verifier and the signer go through.

use ring::{digest, hmac};

use crate::{HttpRequest, SigV4Error};

/// The only algorithm this crate speaks.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload-hash marker for a body that is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lower-case hex SHA-256 of `data` (a payload hash, or the hash of a canonical request).
pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(digest::digest(&digest::SHA256, data).as_ref())
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Header value canonicalisation: leading and trailing whitespace removed, each run of
/// spaces or tabs inside replaced by one space.
fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Builds the canonical request. `signed_headers` are the lower-case names in the order of
/// the signed-headers list; each must be present in `req` (repeated headers are joined with
/// commas in the order received).
pub fn canonical_request(
    req: &HttpRequest,
    canonical_uri: &str,
    canonical_query: &str,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(256);
    out.push_str(&req.method);
    out.push('\n');
    out.push_str(canonical_uri);
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    for name in signed_headers {
        let mut values = req.header_values(name).peekable();
        if values.peek().is_none() {
            return Err(SigV4Error::SignedHeaderMissing(name.clone()));
        }
        out.push_str(name);
        out.push(':');
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&trim_all(v));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// `YYYYMMDD/region/service/aws4_request`.
pub fn credential_scope(day: &str, region: &str, service: &str) -> String {
    format!("{day}/{region}/{service}/aws4_request")
}

/// The string to sign: algorithm, request date, credential scope, hash of the canonical
/// request, one per line.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The key derived from a secret for one day, region and service
/// (`HMAC("AWS4" + secret, day)` → region → service → `aws4_request`). It can be cached for
/// the day, and is what chunk signatures of streaming uploads are computed with.
#[derive(Debug, Clone)]
pub struct SigningKey(hmac::Key);

impl SigningKey {
    /// Derives the key.
    pub fn derive(secret: &str, day: &str, region: &str, service: &str) -> Self {
        let mut k = hmac_sha256(format!("AWS4{secret}").as_bytes(), day.as_bytes());
        for part in [region, service, "aws4_request"] {
            k = hmac_sha256(&k, part.as_bytes());
        }
        Self(hmac::Key::new(hmac::HMAC_SHA256, &k))
    }

    /// The signature of `string_to_sign`.
    pub fn sign(&self, string_to_sign: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.0, string_to_sign.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `signature` is the signature of `string_to_sign`, compared in constant time
    /// (ring's `hmac::verify`) so a forger learns nothing from response timing.
    pub fn verify(&self, string_to_sign: &str, signature: &[u8]) -> bool {
        hmac::verify(&self.0, string_to_sign.as_bytes(), signature).is_ok()
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_all_collapses_inner_runs() {
        assert_eq!(trim_all("  \"a   b \t c\"  "), "\"a b c\"");
        assert_eq!(trim_all(""), "");
    }

    #[test]
    fn signing_key_matches_the_aws_general_reference_example() {
        // AWS General Reference, "Examples of how to derive a signing key for SigV4":
        // secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
        let key = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        let raw = {
            let mut k = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
            for p in ["us-east-1", "iam", "aws4_request"] {
                k = hmac_sha256(&k, p.as_bytes());
            }
            k
        };
        assert_eq!(
            to_hex(&raw),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        let sig = key.sign("x");
        assert!(key.verify("x", &sig));
        assert!(!key.verify("y", &sig));
    }
}
