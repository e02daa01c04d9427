//! Signing a device's certificate signing request (PKCS#10) so its private key never
//! leaves the device.
//!
//! Only the CSR's public key (and, when no name is given, its subject CN) is used: the
//! certificate gets Airlock's own device template. Requested extensions are ignored rather
//! than parsed into the certificate, because real CSRs carry extensions (Microsoft template
//! names, arbitrary SANs, ...) that Airlock must neither copy nor choke on.

use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, PublicKeyData};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::verify::{KeyKind, key_kind, verify_signature};
use crate::{CertificateAuthority, PkiError, check_common_name, subject};

/// A certificate signed from a CSR: no private key, which stays on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificate {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// [`crate::certificate_id`] of `cert_der`.
    pub certificate_id: String,
}

/// The CSR's public key, handed to rcgen as-is (the SPKI algorithm comes from our own
/// classification, not from rcgen's CSR parser).
struct CsrPublicKey {
    kind: KeyKind,
    key: Vec<u8>,
}

impl PublicKeyData for CsrPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.kind.rcgen_alg()
    }
}

/// DER of the first PKCS#10 request in `pem`: a `CERTIFICATE REQUEST` block or the older
/// `NEW CERTIFICATE REQUEST` label. Other blocks are skipped.
pub fn csr_pem_to_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    let blocks =
        pem::parse_many(pem.as_bytes()).map_err(|e| PkiError::InvalidPem(e.to_string()))?;
    blocks
        .into_iter()
        .find(|b| matches!(b.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"))
        .map(pem::Pem::into_contents)
        .ok_or_else(|| {
            PkiError::InvalidCsr("no \"CERTIFICATE REQUEST\" block found in the PEM input".into())
        })
}

impl CertificateAuthority {
    /// Sign a device's CSR (PEM, `CERTIFICATE REQUEST`). See
    /// [`CertificateAuthority::sign_csr_der`].
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        common_name: Option<&str>,
        days: u32,
    ) -> Result<SignedCertificate, PkiError> {
        self.sign_csr_der(&csr_pem_to_der(csr_pem)?, common_name, days)
    }

    /// Sign a device's CSR (DER). The CSR's self-signature is verified first (it proves the
    /// requester holds the private key); then only its public key is taken and the device
    /// template applied: CN = `common_name`, or the CSR's subject CN when `None`; O =
    /// "Airlock"; EKU clientAuth; CA:false; keyUsage digitalSignature (plus keyEncipherment
    /// for RSA); a random serial; valid `days` days from 1 hour ago
    /// (1 ..= [`crate::MAX_CLIENT_VALIDITY_DAYS`]). Every extension and every other subject
    /// attribute the CSR asks for is ignored. Keys: ECDSA P-256/P-384, Ed25519, RSA
    /// 2048–8192 bits.
    pub fn sign_csr_der(
        &self,
        csr_der: &[u8],
        common_name: Option<&str>,
        days: u32,
    ) -> Result<SignedCertificate, PkiError> {
        let (rest, csr) = X509CertificationRequest::from_der(csr_der)
            .map_err(|e| PkiError::InvalidCsr(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::InvalidCsr(format!(
                "{} trailing bytes after the request",
                rest.len()
            )));
        }
        let info = &csr.certification_request_info;
        // Classify the key first, so a weak or exotic key gets a clear "unsupported key"
        // rather than a failed signature check.
        let kind = key_kind(&info.subject_pki)?;
        verify_signature(
            &info.subject_pki,
            &csr.signature_algorithm,
            csr.signature_value.data.as_ref(),
            info.raw,
            "the certificate signing request (it was altered or corrupted after signing, or \
             not signed with the key it carries; generate it again on the device)",
        )?;

        let csr_cn;
        let cn = match common_name {
            Some(cn) => cn,
            None => {
                csr_cn = match info.subject.iter_common_name().next() {
                    Some(attr) => attr.as_str().map(str::to_owned).map_err(|e| {
                        PkiError::InvalidCsr(format!("the subject CN is not a string: {e}"))
                    })?,
                    None => {
                        return Err(PkiError::InvalidName {
                            name: String::new(),
                            reason: "the CSR's subject has no common name; give one \
                                     explicitly (e.g. the thing name)"
                                .into(),
                        });
                    }
                };
                &csr_cn
            }
        };

        let mut params = CertificateParams::default();
        params.distinguished_name = subject(check_common_name(cn)?);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let public_key = CsrPublicKey {
            kind,
            key: info.subject_pki.subject_public_key.data.to_vec(),
        };
        self.sign_leaf(params, &public_key, kind == KeyKind::Rsa, days)
    }
}
