//! Bring your own CA, as AWS IoT's `RegisterCACertificate`.
//!
//! DEFAULT mode: the operator fetches a [`registration_code`], makes a verification
//! certificate whose subject CN is that code and signs it with the CA's private key; then
//! [`verify_ca_registration`] proves they hold the CA key. The mode without verification
//! (AWS's SNI_ONLY) only checks that the certificate is a CA: [`inspect_ca`].

use ring::rand::SecureRandom;
use x509_parser::certificate::X509Certificate;

use crate::verify::verify_signature;
use crate::{PkiError, certificate_id, check_is_ca, der_to_pem, pem_to_der_chain};

/// A CA certificate accepted for registration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisteredCa {
    /// [`crate::certificate_id`] of `cert_der` (AWS's `caCertificateId`).
    pub certificate_id: String,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// The CA certificate, PEM (exactly this certificate, normalised).
    pub cert_pem: String,
    /// The subject distinguished name, RFC 4514-style (`CN=..., O=...`).
    pub subject: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

/// A fresh registration code: 64 lowercase hex characters (32 random bytes), the form AWS
/// IoT's `GetRegistrationCode` returns.
///
/// # Panics
///
/// Only if the operating system's random number generator fails, which does not happen on
/// supported platforms (there is no sensible code to return without randomness).
pub fn registration_code() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    hex::encode(bytes)
}

fn parse_first(pem: &str) -> Result<Vec<u8>, PkiError> {
    pem_to_der_chain(pem)?
        .into_iter()
        .next()
        .ok_or(PkiError::NoCertificates)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::InvalidCertificate(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        )));
    }
    Ok(x509)
}

fn registered(der: Vec<u8>, x509: &X509Certificate<'_>) -> RegisteredCa {
    RegisteredCa {
        certificate_id: certificate_id(&der),
        cert_pem: der_to_pem(&der),
        subject: x509.subject().to_string(),
        not_before: x509.validity().not_before.timestamp(),
        not_after: x509.validity().not_after.timestamp(),
        cert_der: der,
    }
}

/// The issuer name of a DER certificate in the form [`RegisteredCa::subject`] uses, so a
/// device certificate can be matched to the registered CA that signed it.
pub fn issuer_name(der: &[u8]) -> Result<String, PkiError> {
    Ok(parse(der)?.issuer().to_string())
}

/// Check that `cert_der` was signed with the private key of the CA `ca_der` (its issuer
/// name matches and the signature verifies). Validity dates are not judged here.
pub fn verify_issued_by(cert_der: &[u8], ca_der: &[u8]) -> Result<(), PkiError> {
    let cert = parse(cert_der)?;
    let ca = parse(ca_der)?;
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(PkiError::SignatureInvalid(format!(
            "the certificate's issuer ({}) is not this CA ({})",
            cert.issuer(),
            ca.subject()
        )));
    }
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err(PkiError::SignatureInvalid(
            "the certificate's inner and outer signature algorithms differ".into(),
        ));
    }
    verify_signature(
        ca.public_key(),
        &cert.signature_algorithm,
        cert.signature_value.data.as_ref(),
        cert.tbs_certificate.as_ref(),
        "the certificate",
    )
}

/// Check that the first certificate in `ca_pem` is a CA (basicConstraints CA:TRUE, and
/// keyCertSign when keyUsage is present) and describe it; no proof of key possession (the
/// registration mode without a verification certificate). Validity dates are reported,
/// not judged.
pub fn inspect_ca(ca_pem: &str) -> Result<RegisteredCa, PkiError> {
    let der = parse_first(ca_pem)?;
    let ca = {
        let x509 = parse(&der)?;
        check_is_ca(&x509)?;
        registered(der.clone(), &x509)
    };
    Ok(ca)
}

/// AWS DEFAULT-mode registration: check that `ca_pem` is a CA (as [`inspect_ca`]), that the
/// subject CN of the verification certificate (`verification_pem`) equals
/// `registration_code`, and that the CA's key signed the verification certificate.
pub fn verify_ca_registration(
    ca_pem: &str,
    verification_pem: &str,
    registration_code: &str,
) -> Result<RegisteredCa, PkiError> {
    let ca = inspect_ca(ca_pem)?;
    let ca_x509 = parse(&ca.cert_der)?;
    let ver_der = parse_first(verification_pem)?;
    let ver = parse(&ver_der)?;

    let cn = match ver.subject().iter_common_name().next() {
        Some(attr) => Some(attr.as_str().map_err(|e| {
            PkiError::InvalidCertificate(format!(
                "the verification certificate's subject CN is not a string: {e}"
            ))
        })?),
        None => None,
    };
    if registration_code.is_empty() || cn != Some(registration_code) {
        return Err(PkiError::RegistrationCodeMismatch {
            expected: registration_code.to_owned(),
            found: cn.map(str::to_owned),
        });
    }

    if ver.tbs_certificate.signature != ver.signature_algorithm {
        return Err(PkiError::InvalidCertificate(
            "the verification certificate's inner and outer signature algorithms differ".into(),
        ));
    }
    verify_signature(
        ca_x509.public_key(),
        &ver.signature_algorithm,
        ver.signature_value.data.as_ref(),
        ver.tbs_certificate.as_ref(),
        "the verification certificate (it must be signed with this CA's private key)",
    )?;
    Ok(ca)
}
