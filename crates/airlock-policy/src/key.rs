//! Names usable as policy variables (`${...}`) and condition keys, and their values in a
//! [`RequestContext`].

use std::borrow::Cow;

use crate::context::RequestContext;

/// Subject or issuer side of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Subject,
    Issuer,
}

/// Which values of a multi-valued certificate attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sel {
    /// The first value (the bare variable name).
    First,
    /// The zero-based `n`th value (`...Country.1`).
    Index(usize),
    /// All values (`....List`), only as a condition key.
    List,
}

/// A known variable / condition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    ClientId,
    SourceIp,
    SourceVpce,
    SourceVpc,
    DomainName,
    ConnectAttributes,
    LastWillTopic,
    ThingName,
    ThingTypeName,
    ThingAttribute(Box<str>),
    IsAttached,
    CertificateId,
    CertSerialNumber,
    Cert {
        side: Side,
        /// AWS's attribute name, e.g. `CommonName` or (for `alt`) `DNSName`.
        attr: &'static str,
        /// `...AlternativeName.*` rather than a distinguished-name attribute.
        alt: bool,
        sel: Sel,
    },
}

/// Distinguished-name attributes AWS exposes (cert-policy-variables page).
const DN_ATTRS: [&str; 13] = [
    "CommonName",
    "Organization",
    "OrganizationalUnit",
    "Country",
    "State",
    "SerialNumber",
    "Title",
    "Surname",
    "GivenName",
    "Initials",
    "Pseudonym",
    "GenerationQualifier",
    "DistinguishedNameQualifier",
];

/// Alternative-name kinds AWS exposes.
const ALT_ATTRS: [&str; 5] = [
    "RFC822Name",
    "DNSName",
    "DirectoryName",
    "UniformResourceIdentifier",
    "IPAddress",
];

/// AWS: "Certificate attributes that contain arrays are limited to five items."
const MAX_CERT_VALUES: usize = 5;
/// AWS: "All string values are limited to 1024 characters."
const MAX_CERT_VALUE_CHARS: usize = 1024;
/// AWS: a certificate attribute containing one of these is not substituted.
const CERT_WILDCARDS: [char; 5] = ['*', '$', '+', '?', '#'];

/// What a key holds in a request.
#[derive(Debug, Clone)]
pub(crate) enum Found<'a> {
    Absent,
    One(Cow<'a, str>),
    Many(&'a [String]),
    /// `aws:SourceIp`, kept as an address so IP conditions need not parse text.
    Ip(std::net::IpAddr),
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

impl Key {
    /// Parse a variable or condition-key name. Names are case-insensitive, as IAM condition
    /// keys are; a thing attribute name inside `[...]` keeps its case.
    pub(crate) fn parse(name: &str) -> Option<Key> {
        const FIXED: [(&str, Key); 12] = [
            ("iot:ClientId", Key::ClientId),
            ("aws:SourceIp", Key::SourceIp),
            ("aws:SourceVpce", Key::SourceVpce),
            ("aws:SourceVpc", Key::SourceVpc),
            ("iot:DomainName", Key::DomainName),
            ("iot:ConnectAttributes", Key::ConnectAttributes),
            ("iot:LastWillTopic", Key::LastWillTopic),
            ("iot:Connection.Thing.ThingName", Key::ThingName),
            ("iot:Connection.Thing.ThingTypeName", Key::ThingTypeName),
            ("iot:Connection.Thing.IsAttached", Key::IsAttached),
            ("iot:CertificateId", Key::CertificateId),
            ("iot:Certificate.SerialNumber", Key::CertSerialNumber),
        ];
        for (fixed, key) in FIXED {
            if name.eq_ignore_ascii_case(fixed) {
                return Some(key);
            }
        }
        if let Some(rest) = strip_prefix_ci(name, "iot:Connection.Thing.Attributes[") {
            let attr = rest.strip_suffix(']')?;
            if attr.is_empty() || attr.contains(['[', ']']) {
                return None;
            }
            return Some(Key::ThingAttribute(attr.into()));
        }
        let rest = strip_prefix_ci(name, "iot:Certificate.")?;
        let mut parts = rest.split('.');
        let side = match parts.next()? {
            s if s.eq_ignore_ascii_case("Subject") => Side::Subject,
            s if s.eq_ignore_ascii_case("Issuer") => Side::Issuer,
            _ => return None,
        };
        let mut attr_name = parts.next()?;
        let alt = attr_name.eq_ignore_ascii_case("AlternativeName");
        if alt {
            attr_name = parts.next()?;
        }
        let table: &[&'static str] = if alt { &ALT_ATTRS } else { &DN_ATTRS };
        let attr = *table.iter().find(|a| a.eq_ignore_ascii_case(attr_name))?;
        let sel = match parts.next() {
            None => Sel::First,
            Some(s) if s.eq_ignore_ascii_case("List") => Sel::List,
            Some(s) if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) => {
                Sel::Index(s.parse().ok()?)
            }
            Some(_) => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Key::Cert {
            side,
            attr,
            alt,
            sel,
        })
    }

    /// Whether the key can hold several values (so cannot be substituted as a variable).
    pub(crate) fn is_multi(&self) -> bool {
        matches!(
            self,
            Key::ConnectAttributes | Key::Cert { sel: Sel::List, .. }
        )
    }

    fn is_certificate(&self) -> bool {
        matches!(
            self,
            Key::Cert { .. } | Key::CertSerialNumber | Key::CertificateId
        )
    }

    /// The key's value(s) in a request, as a condition sees them.
    pub(crate) fn lookup<'a>(&self, ctx: &'a RequestContext) -> Found<'a> {
        fn opt<'a>(v: Option<&'a str>) -> Found<'a> {
            match v {
                Some(s) => Found::One(Cow::Borrowed(s)),
                None => Found::Absent,
            }
        }
        let attached = ctx.thing.as_ref().filter(|t| t.is_attached);
        match self {
            Key::ClientId => opt(ctx.client_id.as_deref()),
            Key::SourceIp => match ctx.source_ip {
                Some(ip) => Found::Ip(ip),
                None => Found::Absent,
            },
            Key::SourceVpce => opt(ctx.source_vpce.as_deref()),
            Key::SourceVpc => opt(ctx.source_vpc.as_deref()),
            Key::DomainName => opt(ctx.domain_name.as_deref()),
            Key::ConnectAttributes => {
                if ctx.connect_attributes.is_empty() {
                    Found::Absent
                } else {
                    Found::Many(&ctx.connect_attributes)
                }
            }
            Key::LastWillTopic => opt(ctx.last_will_topic.as_deref()),
            Key::ThingName => opt(attached.map(|t| t.name.as_str())),
            Key::ThingTypeName => opt(attached.and_then(|t| t.type_name.as_deref())),
            Key::ThingAttribute(name) => {
                opt(attached.and_then(|t| t.attributes.get(&**name).map(String::as_str)))
            }
            Key::IsAttached => Found::One(Cow::Borrowed(if attached.is_some() {
                "true"
            } else {
                "false"
            })),
            Key::CertificateId => opt(ctx.certificate.as_ref().map(|c| c.id.as_str())),
            Key::CertSerialNumber => {
                opt(ctx.certificate.as_ref().map(|c| c.serial_number.as_str()))
            }
            Key::Cert {
                side,
                attr,
                alt,
                sel,
            } => {
                let Some(cert) = ctx.certificate.as_ref() else {
                    return Found::Absent;
                };
                let map = match (side, alt) {
                    (Side::Subject, false) => &cert.subject,
                    (Side::Issuer, false) => &cert.issuer,
                    (Side::Subject, true) => &cert.subject_alt_names,
                    (Side::Issuer, true) => &cert.issuer_alt_names,
                };
                let Some(values) = map.get(*attr) else {
                    return Found::Absent;
                };
                let values = &values[..values.len().min(MAX_CERT_VALUES)];
                match sel {
                    Sel::First => opt(values.first().map(String::as_str)),
                    Sel::Index(i) => opt(values.get(*i).map(String::as_str)),
                    Sel::List if values.is_empty() => Found::Absent,
                    Sel::List => Found::Many(values),
                }
            }
        }
    }

    /// The text a `${...}` of this key is replaced by, or `None` if it does not resolve.
    /// Certificate values that contain a wildcard character (`* $ + ? #`) or exceed 1024
    /// characters are not substituted, per AWS's "X.509 certificate policy variable
    /// limitations"; the statement then cannot match.
    pub(crate) fn substitute<'a>(&self, ctx: &'a RequestContext) -> Option<Cow<'a, str>> {
        let value = match self.lookup(ctx) {
            Found::One(v) => v,
            Found::Ip(ip) => Cow::Owned(ip.to_string()),
            Found::Absent | Found::Many(_) => return None,
        };
        if self.is_certificate()
            && (value.contains(CERT_WILDCARDS) || value.chars().count() > MAX_CERT_VALUE_CHARS)
        {
            return None;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(Key::parse("iot:clientid"), Some(Key::ClientId));
        assert_eq!(
            Key::parse("iot:Connection.Thing.Attributes[Floor]"),
            Some(Key::ThingAttribute("Floor".into()))
        );
        assert_eq!(
            Key::parse("iot:Certificate.Subject.Country.1"),
            Some(Key::Cert {
                side: Side::Subject,
                attr: "Country",
                alt: false,
                sel: Sel::Index(1)
            })
        );
        assert_eq!(
            Key::parse("iot:Certificate.Issuer.AlternativeName.DNSName.List"),
            Some(Key::Cert {
                side: Side::Issuer,
                attr: "DNSName",
                alt: true,
                sel: Sel::List
            })
        );
        assert_eq!(Key::parse("iot:Certificate.Subject.Nope"), None);
        assert_eq!(Key::parse("iot:Thing.ThingName"), None);
        assert_eq!(Key::parse("iot:Connection.Thing.Attributes[]"), None);
        assert_eq!(Key::parse(""), None);
    }
}
