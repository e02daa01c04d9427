//! Airlock's public-key infrastructure: this crate owns key generation (ECDSA P-256 and
//! RSA-2048), the certificate authority that issues server and client (device/admin)
//! certificates and signs devices' CSRs ([`CertificateAuthority::sign_csr`], so a key never
//! leaves its device), certificate ids (lowercase hex SHA-256 of the DER, as AWS IoT uses),
//! bring-your-own-CA registration ([`registration_code`], [`verify_ca_registration`],
//! [`inspect_ca`]), the certificate facts policies and status checks need
//! ([`certificate_info`], [`validity_status`]), and small PEM/DER helpers. Signatures on
//! CSRs and verification certificates are checked with `ring`. Everything here is pure
//! computation over bytes and strings (the random serials and registration codes aside) except
//! the small [`files`] module, which writes keys and certificates to disk atomically with
//! the right permissions. It knows nothing of MQTT, TLS sessions or storage; signing and
//! hashing use `ring` only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod files;

mod byoca;
mod csr;
mod info;
mod verify;

pub use byoca::{
    RegisteredCa, inspect_ca, issuer_name, registration_code, verify_ca_registration,
    verify_issued_by,
};
pub use csr::{SignedCertificate, csr_pem_to_der};
pub use info::{CertificateInfo, Validity, certificate_info, validity_status};

use std::fmt;
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, SanType,
    SerialNumber,
};
use ring::rand::SecureRandom;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use time::{Duration, OffsetDateTime};

/// Validity of a newly generated CA certificate, in days (10 years).
pub const CA_VALIDITY_DAYS: u32 = 3650;
/// Validity of a server certificate, in days (2 years).
pub const SERVER_VALIDITY_DAYS: u32 = 730;
/// Largest validity accepted by [`CertificateAuthority::issue_client`], in days (100 years).
pub const MAX_CLIENT_VALIDITY_DAYS: u32 = 36_500;
/// How far in the past `notBefore` is set, to tolerate clock skew between hosts.
const BACKDATE: Duration = Duration::hours(1);
/// Organization (O) written into the subject of every certificate this crate issues.
const ORGANIZATION: &str = "Airlock";
/// Upper bound on the length of a subject common name (RFC 5280 `ub-common-name`).
const MAX_COMMON_NAME_LEN: usize = 64;

/// Key algorithm for a newly generated key pair.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256 with SHA-256 signatures (fast, small; the default).
    /// Written `ecdsa-p256` in configuration.
    #[default]
    EcdsaP256,
    /// RSA with a 2048-bit modulus and PKCS#1 v1.5 SHA-256 signatures, for old clients.
    /// Written `rsa2048` (or `rsa-2048`) in configuration.
    #[serde(alias = "rsa-2048")]
    Rsa2048,
}

impl KeyAlgorithm {
    /// The name used in configuration and on the command line (`ecdsa-p256`, `rsa2048`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Rsa2048 => "rsa2048",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ecdsa-p256" | "ecdsa_p256" | "p256" | "ecdsa" => Ok(KeyAlgorithm::EcdsaP256),
            "rsa2048" | "rsa-2048" | "rsa_2048" | "rsa" => Ok(KeyAlgorithm::Rsa2048),
            _ => Err(PkiError::UnknownAlgorithm(s.to_owned())),
        }
    }
}

/// Errors from key generation, certificate issue and PEM/DER parsing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A fresh key pair could not be generated.
    #[error("could not generate a {algorithm} key pair: {reason}")]
    KeyGeneration {
        /// The algorithm that was requested.
        algorithm: KeyAlgorithm,
        /// What went wrong.
        reason: String,
    },
    /// The private key PEM could not be loaded.
    #[error(
        "the private key could not be loaded ({0}); supply an unencrypted PKCS#8 PEM key \
         (\"-----BEGIN PRIVATE KEY-----\") of type ECDSA P-256/P-384, Ed25519 or RSA (2048 bits or more)"
    )]
    InvalidKey(String),
    /// The certificate could not be parsed.
    #[error("the certificate is not valid X.509 DER/PEM ({0}); supply a PEM \"CERTIFICATE\" block")]
    InvalidCertificate(String),
    /// The PEM input could not be parsed.
    #[error("the PEM input is malformed ({0}); check for truncation or mixed-up BEGIN/END lines")]
    InvalidPem(String),
    /// The PEM input held no `CERTIFICATE` block.
    #[error(
        "no \"-----BEGIN CERTIFICATE-----\" block found in the PEM input; supply a PEM-encoded certificate"
    )]
    NoCertificates,
    /// The private key does not belong to the certificate.
    #[error(
        "the private key does not match the CA certificate's public key; supply the key that was \
         generated together with this certificate"
    )]
    KeyMismatch,
    /// The certificate offered as a CA cannot sign certificates.
    #[error(
        "the certificate cannot act as a CA ({0}); supply a CA certificate (basicConstraints CA:TRUE, \
         keyUsage keyCertSign), not a server or device certificate"
    )]
    NotACa(String),
    /// A name to put into a certificate was rejected.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it was rejected and what is accepted.
        reason: String,
    },
    /// The requested validity period is not acceptable.
    #[error("invalid validity: {0}")]
    InvalidValidity(String),
    /// The key algorithm name is not known.
    #[error("unknown key algorithm {0:?}; use \"ecdsa-p256\" or \"rsa2048\"")]
    UnknownAlgorithm(String),
    /// Building or signing the certificate failed.
    #[error("could not build or sign the certificate: {0}")]
    Signing(String),
    /// The operation is not supported by this build.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The certificate signing request could not be parsed.
    #[error(
        "the certificate signing request is not valid PKCS#10 ({0}); supply a PEM \
         \"-----BEGIN CERTIFICATE REQUEST-----\" block, e.g. from `openssl req -new`"
    )]
    InvalidCsr(String),
    /// A signature (a CSR's self-signature, or a CA's signature on a certificate) does not
    /// verify.
    #[error("signature check failed: {0}")]
    SignatureInvalid(String),
    /// The signature algorithm is not one this crate verifies.
    #[error(
        "unsupported signature algorithm {0}; use ECDSA with SHA-256/384, RSA PKCS#1 v1.5 or \
         RSA-PSS with SHA-256/384/512, or Ed25519"
    )]
    UnsupportedSignatureAlgorithm(String),
    /// The public key is of a type or size that cannot go into an Airlock certificate.
    #[error(
        "unsupported public key ({0}); use ECDSA P-256 or P-384, Ed25519, or RSA with a \
         2048 to 8192-bit modulus"
    )]
    UnsupportedKey(String),
    /// The verification certificate's subject CN is not the registration code.
    #[error(
        "the verification certificate's subject CN is {}, not the registration code {expected:?}; \
         create the verification certificate with CN = the registration code and sign it with \
         the CA's key",
        .found.as_deref().map_or_else(|| "missing".to_owned(), |cn| format!("{cn:?}"))
    )]
    RegistrationCodeMismatch {
        /// The registration code the certificate had to carry.
        expected: String,
        /// The verification certificate's subject CN, if it has one.
        found: Option<String>,
    },
}

/// A certificate and its private key, PEM, plus its id.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM (`PRIVATE KEY`). Secret: write it with
    /// [`files::write_secret`] and never log it.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// [`certificate_id`] of `cert_der`.
    pub certificate_id: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("certificate_id", &self.certificate_id)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[secret key elided]")
            .finish_non_exhaustive()
    }
}

/// The CA that signs server and device certificates.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("certificate_id", &certificate_id(&self.cert_der))
            .field("key_pem", &"[secret key elided]")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// New self-signed root CA: CN = `common_name`, O = "Airlock", basicConstraints CA:true
    /// with pathLen 0 (it signs only end-entity certificates), keyUsage keyCertSign+cRLSign,
    /// valid for 10 years starting 1 hour in the past (clock skew).
    pub fn generate(common_name: &str, alg: KeyAlgorithm) -> Result<Self, PkiError> {
        let common_name = check_common_name(common_name)?;
        let key = generate_key(alg)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        set_validity(&mut params, CA_VALIDITY_DAYS)?;

        let cert = params.self_signed(&key).map_err(signing)?;
        let cert_pem = cert.pem();
        let cert_der = cert.der().to_vec();
        let key_pem = key.serialize_pem();
        Ok(Self {
            cert_pem,
            cert_der,
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Load from PEM (the CA certificate, first `CERTIFICATE` block, plus its unencrypted
    /// PKCS#8 private key). Fails with [`PkiError::KeyMismatch`] if the key does not match
    /// the certificate and with [`PkiError::NotACa`] if the certificate is not a CA.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = pem_to_der_chain(cert_pem)?
            .into_iter()
            .next()
            .ok_or(PkiError::NoCertificates)?;
        let key = load_private_key(key_pem)?;

        {
            let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
                .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
            check_is_ca(&x509)?;
            if x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
                return Err(PkiError::KeyMismatch);
            }
        }

        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)
            .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        // Normalise the stored PEM to exactly the CA certificate (drops any extra blocks).
        let cert_pem = der_to_pem(&cert_der);
        Ok(Self {
            cert_pem,
            cert_der,
            key_pem: issuer.key().serialize_pem(),
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA private key, PKCS#8 PEM. Secret: write it with [`files::write_secret`] and
    /// never log it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// [`certificate_id`] of the CA certificate.
    pub fn certificate_id(&self) -> String {
        certificate_id(&self.cert_der)
    }

    /// Server certificate: a SAN for each name (an IP literal gives an IP SAN, anything else
    /// a DNS SAN), CN = the first name, EKU serverAuth, valid 2 years (from 1 hour ago),
    /// with a fresh key of `alg`. `names` must not be empty.
    pub fn issue_server(
        &self,
        names: &[String],
        alg: KeyAlgorithm,
    ) -> Result<IssuedCertificate, PkiError> {
        let first = names.first().ok_or_else(|| PkiError::InvalidName {
            name: String::new(),
            reason: "a server certificate needs at least one DNS name or IP address".into(),
        })?;
        let mut sans = Vec::with_capacity(names.len());
        for name in names {
            sans.push(san_for(name)?);
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(check_common_name(first.trim())?);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue_leaf(params, alg, SERVER_VALIDITY_DAYS)
    }

    /// Client (device/admin) certificate: CN = `common_name`, EKU clientAuth, valid `days`
    /// days (from 1 hour ago; 1 ..= [`MAX_CLIENT_VALIDITY_DAYS`]), with a fresh key of `alg`.
    pub fn issue_client(
        &self,
        common_name: &str,
        alg: KeyAlgorithm,
        days: u32,
    ) -> Result<IssuedCertificate, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(check_common_name(common_name)?);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue_leaf(params, alg, days)
    }

    fn issue_leaf(
        &self,
        params: CertificateParams,
        alg: KeyAlgorithm,
        days: u32,
    ) -> Result<IssuedCertificate, PkiError> {
        let rsa = match alg {
            KeyAlgorithm::EcdsaP256 => false,
            KeyAlgorithm::Rsa2048 => true,
        };
        // Check the request before spending time on key generation (RSA is slow).
        check_leaf_days(days)?;
        let key = generate_key(alg)?;
        let cert = self.sign_leaf(params, &key, rsa, days)?;
        Ok(IssuedCertificate {
            cert_pem: cert.cert_pem,
            key_pem: key.serialize_pem(),
            certificate_id: cert.certificate_id,
            cert_der: cert.cert_der,
        })
    }

    /// Apply the end-entity template (validity, CA:false, keyUsage, AKI, random serial) to
    /// `params` and sign a certificate for `public_key` with the CA key. `rsa` selects the
    /// RSA keyUsage (digitalSignature + keyEncipherment) instead of digitalSignature alone.
    fn sign_leaf(
        &self,
        mut params: CertificateParams,
        public_key: &impl rcgen::PublicKeyData,
        rsa: bool,
        days: u32,
    ) -> Result<SignedCertificate, PkiError> {
        check_leaf_days(days)?;
        set_validity(&mut params, days)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = if rsa {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        } else {
            vec![KeyUsagePurpose::DigitalSignature]
        };
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);

        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(signing)?;
        let cert_der = cert.der().to_vec();
        Ok(SignedCertificate {
            cert_pem: cert.pem(),
            certificate_id: certificate_id(&cert_der),
            cert_der,
        })
    }
}

fn check_leaf_days(days: u32) -> Result<(), PkiError> {
    if days > MAX_CLIENT_VALIDITY_DAYS {
        return Err(PkiError::InvalidValidity(format!(
            "{days} days is too long; use at most {MAX_CLIENT_VALIDITY_DAYS}"
        )));
    }
    if days == 0 {
        return Err(PkiError::InvalidValidity(
            "0 days; give a validity of at least 1 day".into(),
        ));
    }
    Ok(())
}

/// The CA checks shared by [`CertificateAuthority::from_pem`] and CA registration:
/// basicConstraints CA:TRUE, and keyCertSign when a keyUsage extension is present.
fn check_is_ca(x509: &x509_parser::certificate::X509Certificate<'_>) -> Result<(), PkiError> {
    let is_ca = x509
        .basic_constraints()
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(PkiError::NotACa(
            "basicConstraints CA:TRUE is missing".into(),
        ));
    }
    if let Some(ku) = x509
        .key_usage()
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?
        && !ku.value.key_cert_sign()
    {
        return Err(PkiError::NotACa("keyUsage lacks keyCertSign".into()));
    }
    Ok(())
}

/// Lowercase hex SHA-256 of the DER (AWS IoT's certificate id): 64 characters.
pub fn certificate_id(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// Parse PEM into DER certificates (one or more `CERTIFICATE` blocks, in order; other block
/// types such as keys are skipped). Errors if the PEM is malformed or holds no certificate.
pub fn pem_to_der_chain(pem: &str) -> Result<Vec<Vec<u8>>, PkiError> {
    let mut out = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| PkiError::InvalidPem(e.to_string()))?;
        out.push(cert.as_ref().to_vec());
    }
    if out.is_empty() {
        return Err(PkiError::NoCertificates);
    }
    Ok(out)
}

/// Encode one DER certificate as a PEM `CERTIFICATE` block.
pub fn der_to_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Subject common name of a DER certificate, or `None` if the subject has no CN.
pub fn subject_common_name(der: &[u8]) -> Result<Option<String>, PkiError> {
    let (_, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    let Some(cn) = x509.subject().iter_common_name().next() else {
        return Ok(None);
    };
    let cn = cn
        .as_str()
        .map_err(|e| PkiError::InvalidCertificate(format!("subject CN is not a string: {e}")))?;
    Ok(Some(cn.to_owned()))
}

fn signing(e: rcgen::Error) -> PkiError {
    PkiError::Signing(e.to_string())
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn
}

fn check_common_name(cn: &str) -> Result<&str, PkiError> {
    let reject = |reason: &str| PkiError::InvalidName {
        name: cn.to_owned(),
        reason: reason.to_owned(),
    };
    if cn.trim().is_empty() {
        return Err(reject("the common name is empty; give a non-empty name"));
    }
    if cn.trim() != cn {
        return Err(reject(
            "the common name has leading or trailing whitespace; remove it",
        ));
    }
    if cn.chars().count() > MAX_COMMON_NAME_LEN {
        return Err(reject(
            "the common name is longer than 64 characters; shorten it",
        ));
    }
    if cn.chars().any(char::is_control) {
        return Err(reject(
            "the common name contains control characters; use printable characters only",
        ));
    }
    Ok(cn)
}

fn san_for(name: &str) -> Result<SanType, PkiError> {
    let trimmed = name.trim();
    let reject = |reason: String| PkiError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if let Ok(ip) = trimmed.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    // A wildcard of one left-most label (RFC 6125 §6.4.3), for domain configurations such
    // as `*.plant.example.com`: the rest must be a DNS name of its own.
    if let Some(parent) = trimmed.strip_prefix("*.") {
        return match san_for(parent)? {
            SanType::DnsName(_) => format!("*.{parent}")
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e: rcgen::Error| reject(e.to_string())),
            _ => Err(reject("a wildcard must stand before a DNS name".into())),
        };
    }
    match ServerName::try_from(trimmed) {
        Ok(ServerName::DnsName(dns)) => {
            let ia5 = dns
                .as_ref()
                .to_owned()
                .try_into()
                .map_err(|e: rcgen::Error| reject(e.to_string()))?;
            Ok(SanType::DnsName(ia5))
        }
        Ok(_) => Err(reject("unsupported name type".into())),
        Err(e) => Err(reject(format!(
            "{e}; give a DNS name (e.g. mqtt.example.com) or an IP address (e.g. 192.0.2.10)"
        ))),
    }
}

fn set_validity(params: &mut CertificateParams, days: u32) -> Result<(), PkiError> {
    if days == 0 {
        return Err(PkiError::InvalidValidity(
            "0 days; give a validity of at least 1 day".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now
        .checked_add(Duration::days(i64::from(days)))
        .ok_or_else(|| {
            PkiError::InvalidValidity(format!("{days} days is past the year 9999; shorten it"))
        })?;
    Ok(())
}

/// A random positive 16-byte serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Signing("the system random number generator failed".into()))?;
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero octet, so the encoding keeps its full length
    Ok(SerialNumber::from_slice(&bytes))
}

fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair, PkiError> {
    let fail = |reason: String| PkiError::KeyGeneration {
        algorithm: alg,
        reason,
    };
    match alg {
        KeyAlgorithm::EcdsaP256 => {
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| fail(e.to_string()))
        }
        KeyAlgorithm::Rsa2048 => {
            // ring cannot generate RSA keys: generate with RustCrypto `rsa`, then hand the
            // PKCS#8 document to rcgen/ring, which does all the signing.
            use rsa::pkcs8::EncodePrivateKey;
            let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                .map_err(|e| fail(e.to_string()))?;
            let der = private.to_pkcs8_der().map_err(|e| fail(e.to_string()))?;
            KeyPair::from_pkcs8_der_and_sign_algo(
                &PrivatePkcs8KeyDer::from(der.as_bytes()),
                &PKCS_RSA_SHA256,
            )
            .map_err(|e| fail(e.to_string()))
        }
    }
}

fn load_private_key(key_pem: &str) -> Result<KeyPair, PkiError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
        PkiError::InvalidKey(match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no \"PRIVATE KEY\" block found".into(),
            other => other.to_string(),
        })
    })?;
    KeyPair::try_from(&der).map_err(|e| PkiError::InvalidKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
            assert_eq!(alg.as_str().parse::<KeyAlgorithm>().ok(), Some(alg));
        }
        assert!(matches!(
            "dsa".parse::<KeyAlgorithm>(),
            Err(PkiError::UnknownAlgorithm(_))
        ));
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::EcdsaP256);
    }

    #[test]
    fn serial_is_positive_and_full_length() {
        let s = random_serial().expect("rng");
        assert_eq!(s.len(), 16);
        let b = s.to_bytes();
        assert!(b[0] & 0x80 == 0 && b[0] != 0);
    }

    #[test]
    fn sans_are_typed() {
        assert!(matches!(san_for("127.0.0.1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san_for("::1"), Ok(SanType::IpAddress(_))));
        assert!(matches!(san_for("localhost"), Ok(SanType::DnsName(_))));
        assert!(matches!(
            san_for("bad name!"),
            Err(PkiError::InvalidName { .. })
        ));
        assert!(matches!(san_for(""), Err(PkiError::InvalidName { .. })));
    }

    #[test]
    fn common_name_checks() {
        assert!(check_common_name("device-1").is_ok());
        assert!(check_common_name("").is_err());
        assert!(check_common_name(" x").is_err());
        assert!(check_common_name("a\nb").is_err());
        assert!(check_common_name(&"x".repeat(65)).is_err());
        assert!(check_common_name(&"x".repeat(64)).is_ok());
    }
}
