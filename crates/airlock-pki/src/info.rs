//! Certificate facts that policies and status checks need: subject and issuer attributes
//! under AWS IoT's policy-variable names (`iot:Certificate.Subject.CommonName`, ...),
//! subject alternative names, serial number and validity.

use std::collections::BTreeMap;
use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::{PkiError, certificate_id};

/// Distinguished-name attribute OIDs and the names AWS IoT uses for them in
/// `iot:Certificate.Subject.<Name>` / `iot:Certificate.Issuer.<Name>` policy variables.
/// `Locality` is not among AWS's documented variables; it is kept for completeness.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CommonName"),
    ("2.5.4.4", "Surname"),
    ("2.5.4.5", "SerialNumber"),
    ("2.5.4.6", "Country"),
    ("2.5.4.7", "Locality"),
    ("2.5.4.8", "State"),
    ("2.5.4.10", "Organization"),
    ("2.5.4.11", "OrganizationalUnit"),
    ("2.5.4.12", "Title"),
    ("2.5.4.42", "GivenName"),
    ("2.5.4.43", "Initials"),
    ("2.5.4.44", "GenerationQualifier"),
    ("2.5.4.46", "DistinguishedNameQualifier"),
    ("2.5.4.65", "Pseudonym"),
];

/// What a certificate says about itself, in the shape AWS IoT's policy variables use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateInfo {
    /// [`crate::certificate_id`] of the DER (`iot:CertificateId`).
    pub certificate_id: String,
    /// Serial number, lowercase hex without separators or leading zero octets
    /// (`921285cbb7a5e086`; openssl prints it `92:12:85:cb:b7:a5:e0:86`).
    pub serial_number: String,
    /// Serial number in decimal (`10525622389124227206` for the one above): the form AWS
    /// substitutes for `iot:Certificate.SerialNumber`, per its X.509 policy-variable page.
    pub serial_number_decimal: String,
    /// Subject attributes keyed by AWS attribute name (`CommonName`, `Organization`,
    /// `OrganizationalUnit`, `Country`, `State`, `Locality`, `SerialNumber`, `Title`,
    /// `Surname`, `GivenName`, `Initials`, `Pseudonym`, `GenerationQualifier`,
    /// `DistinguishedNameQualifier`), each with its values in certificate order (the first
    /// is what the plain variable gives; all of them are the `.List` form). Attributes of
    /// other types, and values that are not strings, are left out.
    pub subject: BTreeMap<String, Vec<String>>,
    /// Issuer attributes, keyed as `subject`.
    pub issuer: BTreeMap<String, Vec<String>>,
    /// Subject alternative names of type DNS (`AlternativeName.DNSName`).
    pub san_dns: Vec<String>,
    /// Subject alternative names of type IP address, as text (`192.0.2.1`, `2001:db8::1`)
    /// (`AlternativeName.IPAddress`).
    pub san_ip: Vec<String>,
    /// Subject alternative names of type e-mail (`AlternativeName.RFC822Name`).
    pub san_email: Vec<String>,
    /// Subject alternative names of type URI (`AlternativeName.UniformResourceIdentifier`).
    pub san_uri: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity (inclusive), Unix seconds.
    pub not_after: i64,
    /// Whether basicConstraints says CA:TRUE.
    pub is_ca: bool,
}

/// Where a point in time falls relative to a certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Validity {
    /// `not_before <= now <= not_after`.
    Valid,
    /// `now < not_before`.
    NotYetValid,
    /// `now > not_after`.
    Expired,
}

/// Whether the certificate is valid at `now_unix` (Unix seconds); both ends inclusive, as
/// RFC 5280 defines the validity period.
pub fn validity_status(info: &CertificateInfo, now_unix: i64) -> Validity {
    if now_unix < info.not_before {
        Validity::NotYetValid
    } else if now_unix > info.not_after {
        Validity::Expired
    } else {
        Validity::Valid
    }
}

/// Parse a DER certificate into [`CertificateInfo`]. Fails only if the DER is not an X.509
/// certificate or its subjectAltName / basicConstraints extensions are malformed.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo, PkiError> {
    let invalid = |e: String| PkiError::InvalidCertificate(e);
    let (rest, x509) =
        x509_parser::parse_x509_certificate(der).map_err(|e| invalid(e.to_string()))?;
    if !rest.is_empty() {
        return Err(invalid(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        )));
    }

    let mut info = CertificateInfo {
        certificate_id: certificate_id(der),
        serial_number: serial_hex(x509.raw_serial()),
        serial_number_decimal: x509.serial.to_string(),
        subject: name_map(x509.subject()),
        issuer: name_map(x509.issuer()),
        san_dns: Vec::new(),
        san_ip: Vec::new(),
        san_email: Vec::new(),
        san_uri: Vec::new(),
        not_before: x509.validity().not_before.timestamp(),
        not_after: x509.validity().not_after.timestamp(),
        is_ca: x509
            .basic_constraints()
            .map_err(|e| invalid(e.to_string()))?
            .is_some_and(|bc| bc.value.ca),
    };

    if let Some(san) = x509
        .subject_alternative_name()
        .map_err(|e| invalid(e.to_string()))?
    {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => info.san_dns.push((*dns).to_owned()),
                GeneralName::RFC822Name(email) => info.san_email.push((*email).to_owned()),
                GeneralName::URI(uri) => info.san_uri.push((*uri).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        info.san_ip.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(info)
}

fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    let trimmed = raw.get(start..).unwrap_or_default();
    if trimmed.is_empty() {
        "00".to_owned()
    } else {
        hex::encode(trimmed)
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn name_map(name: &X509Name<'_>) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attr in name.iter_attributes() {
        let oid = attr.attr_type().to_id_string();
        let Some((_, key)) = ATTRIBUTE_NAMES.iter().find(|(o, _)| *o == oid) else {
            continue;
        };
        if let Some(value) = attribute_string(attr) {
            map.entry((*key).to_owned()).or_default().push(value);
        }
    }
    map
}

/// Text of a directory-string attribute value: the ASCII/UTF-8 string types, plus
/// BMPString (UTF-16BE), UniversalString (UTF-32BE) and TeletexString (read as Latin-1).
fn attribute_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    use x509_parser::der_parser::asn1_rs::Tag;
    if let Ok(s) = attr.as_str() {
        return Some(s.to_owned());
    }
    let data = attr.attr_value().data;
    match attr.attr_value().tag() {
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                return None;
            }
            data.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        Tag::TeletexString => Some(data.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}
