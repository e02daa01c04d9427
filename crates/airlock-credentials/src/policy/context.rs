//! The request facts a role policy can test: the `credentials-iot:*` session values and
//! `s3:prefix`.

use crate::minter::SessionClaims;

/// The condition keys (and policy variables) a role policy may name. Names are matched
/// case-insensitively, as IAM does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    ThingName,
    ThingTypeName,
    AwsCertificateId,
    S3Prefix,
}

/// Spelled out in error messages.
pub(crate) const SUPPORTED_KEYS: &str = "credentials-iot:ThingName, credentials-iot:ThingTypeName, credentials-iot:AwsCertificateId, s3:prefix";

impl Key {
    pub(crate) fn parse(name: &str) -> Option<Key> {
        let k = name.to_ascii_lowercase();
        Some(match k.as_str() {
            "credentials-iot:thingname" => Key::ThingName,
            "credentials-iot:thingtypename" => Key::ThingTypeName,
            "credentials-iot:awscertificateid" => Key::AwsCertificateId,
            "s3:prefix" => Key::S3Prefix,
            _ => return None,
        })
    }
}

/// One request as a role policy sees it. Borrowed, so building one per request allocates
/// nothing. A `None` key is absent: a variable naming it does not resolve (its statement
/// does not match) and a condition on it follows IAM's absent-key rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestContext<'a> {
    /// `credentials-iot:ThingName`: the thing the credentials were issued for.
    pub thing_name: Option<&'a str>,
    /// `credentials-iot:ThingTypeName`: that thing's type.
    pub thing_type_name: Option<&'a str>,
    /// `credentials-iot:AwsCertificateId`: the certificate that obtained the credentials.
    pub certificate_id: Option<&'a str>,
    /// `s3:prefix`: the `prefix` parameter of a ListBucket (ListObjectsV2) request. S3
    /// evaluates a listing without one as the empty prefix, so pass `Some("")` then.
    pub s3_prefix: Option<&'a str>,
}

impl<'a> RequestContext<'a> {
    /// The context of a request made with credentials carrying `claims` (no `s3:prefix`).
    pub fn for_session(claims: &'a SessionClaims) -> RequestContext<'a> {
        RequestContext {
            thing_name: claims.thing_name.as_deref(),
            thing_type_name: claims.thing_type_name.as_deref(),
            certificate_id: Some(claims.certificate_id.as_str()),
            s3_prefix: None,
        }
    }

    /// The same context with `s3:prefix` set (for ListBucket).
    pub fn with_s3_prefix(self, prefix: &'a str) -> RequestContext<'a> {
        RequestContext {
            s3_prefix: Some(prefix),
            ..self
        }
    }

    pub(crate) fn get(&self, key: Key) -> Option<&'a str> {
        match key {
            Key::ThingName => self.thing_name,
            Key::ThingTypeName => self.thing_type_name,
            Key::AwsCertificateId => self.certificate_id,
            Key::S3Prefix => self.s3_prefix,
        }
    }
}
