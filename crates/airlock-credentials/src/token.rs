//! The session token's binary layout (before the MAC and base64url are applied).
//!
//! ```text
//! offset size  field
//! 0      1     version (1)
//! 1      1     key id: which server key made the MAC (rotation)
//! 2      1     flags: bit 0 thing name present, bit 1 thing type name present
//! 3      8     issued_at, Unix seconds, big-endian
//! 11     8     expires_at, Unix seconds, big-endian
//! 19     2+n   role ARN          (u16 big-endian length, UTF-8)
//!        2+n   role alias
//!        2+n   certificate id
//!        2+n   thing name        (only when flag bit 0)
//!        2+n   thing type name   (only when flag bit 1)
//! end    32    HMAC-SHA256 over every byte before it
//! ```
//!
//! A compact binary form rather than JSON keeps the credential provider's whole response well
//! under the 2048 bytes the AWS CRT X.509 credentials client accepts.

use std::time::{Duration, UNIX_EPOCH};

use crate::minter::SessionClaims;

/// The only format version so far.
pub(crate) const VERSION: u8 = 1;
/// Version, key id, flags, two timestamps.
pub(crate) const HEADER_LEN: usize = 19;
/// HMAC-SHA256 output.
pub(crate) const TAG_LEN: usize = 32;

const HAS_THING: u8 = 1;
const HAS_THING_TYPE: u8 = 2;

/// Serialise the claims (already validated: every string fits a u16 length) without the tag.
pub(crate) fn encode_body(c: &SessionClaims, key_id: u8, issued: u64, expires: u64) -> Vec<u8> {
    let mut flags = 0;
    if c.thing_name.is_some() {
        flags |= HAS_THING;
    }
    if c.thing_type_name.is_some() {
        flags |= HAS_THING_TYPE;
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[VERSION, key_id, flags]);
    out.extend_from_slice(&issued.to_be_bytes());
    out.extend_from_slice(&expires.to_be_bytes());
    let fields = [
        Some(c.role_arn.as_str()),
        Some(c.role_alias.as_str()),
        Some(c.certificate_id.as_str()),
        c.thing_name.as_deref(),
        c.thing_type_name.as_deref(),
    ];
    for s in fields.into_iter().flatten() {
        // Lengths were checked against limits far below u16::MAX before encoding.
        let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
    }
    out
}

/// Parse a body whose MAC has already verified. `None` means the layout is broken, which for a
/// MAC-valid body can only be a bug in this file; the caller reports it as a malformed token.
pub(crate) fn decode_body(body: &[u8]) -> Option<SessionClaims> {
    let mut r = Reader(body);
    let _version = r.take(1)?;
    let _key_id = r.take(1)?;
    let flags = r.take(1)?[0];
    let issued = r.u64()?;
    let expires = r.u64()?;
    let role_arn = r.string()?;
    let role_alias = r.string()?;
    let certificate_id = r.string()?;
    let thing_name = if flags & HAS_THING != 0 {
        Some(r.string()?)
    } else {
        None
    };
    let thing_type_name = if flags & HAS_THING_TYPE != 0 {
        Some(r.string()?)
    } else {
        None
    };
    if !r.0.is_empty() || flags & !(HAS_THING | HAS_THING_TYPE) != 0 {
        return None;
    }
    Some(SessionClaims {
        role_arn,
        role_alias,
        thing_name,
        thing_type_name,
        certificate_id,
        issued_at: UNIX_EPOCH.checked_add(Duration::from_secs(issued))?,
        expires_at: UNIX_EPOCH.checked_add(Duration::from_secs(expires))?,
    })
}

/// Read the expiry of a MAC-verified body without parsing the strings.
pub(crate) fn expires_at(body: &[u8]) -> Option<u64> {
    let bytes = body.get(11..19)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        let bytes = self.take(usize::from(len))?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}
