//! Signature checks with `ring` over structures parsed by x509-parser: a CSR's
//! self-signature and a CA's signature on a certificate. Also classifies public keys.

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::PkiError;

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSA_SHA1: &str = "1.2.840.113549.1.1.5";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_RSA_SHA256: &str = "1.2.840.113549.1.1.11";
const OID_RSA_SHA384: &str = "1.2.840.113549.1.1.12";
const OID_RSA_SHA512: &str = "1.2.840.113549.1.1.13";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_ECDSA_SHA1: &str = "1.2.840.10045.4.1";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
const OID_CURVE_P256: &str = "1.2.840.10045.3.1.7";
const OID_CURVE_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";

/// Smallest and largest RSA modulus accepted in a key (ring verifies 2048..=8192).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// Public key kinds that may go into an Airlock certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    EcP256,
    EcP384,
    Ed25519,
    Rsa,
}

impl KeyKind {
    /// The rcgen algorithm whose SubjectPublicKeyInfo algorithm identifier matches this key
    /// kind (rcgen writes the SPKI from it; the CA's own key does the signing).
    pub(crate) fn rcgen_alg(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyKind::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
            KeyKind::Rsa => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

fn curve_oid(spki: &SubjectPublicKeyInfo<'_>) -> Option<String> {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string())
}

/// Classify a public key, refusing types and sizes Airlock does not issue for.
pub(crate) fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> Result<KeyKind, PkiError> {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        OID_EC_PUBLIC_KEY => match curve_oid(spki).as_deref() {
            Some(OID_CURVE_P256) => Ok(KeyKind::EcP256),
            Some(OID_CURVE_P384) => Ok(KeyKind::EcP384),
            Some(other) => Err(PkiError::UnsupportedKey(format!("EC key on curve {other}"))),
            None => Err(PkiError::UnsupportedKey(
                "EC key without a named curve".into(),
            )),
        },
        OID_ED25519 => Ok(KeyKind::Ed25519),
        OID_RSA_ENCRYPTION => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
                Ok(_) | Err(_) => {
                    return Err(PkiError::UnsupportedKey("malformed RSA public key".into()));
                }
            };
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(PkiError::UnsupportedKey(format!("RSA key of {bits} bits")));
            }
            Ok(KeyKind::Rsa)
        }
        other => Err(PkiError::UnsupportedKey(format!("key algorithm {other}"))),
    }
}

/// Check `signature` over `message` made with the private key of `signer` using
/// `algorithm`. `what` names the signed object for the error message.
pub(crate) fn verify_signature(
    signer: &SubjectPublicKeyInfo<'_>,
    algorithm: &AlgorithmIdentifier<'_>,
    signature: &[u8],
    message: &[u8],
    what: &str,
) -> Result<(), PkiError> {
    let sig_oid = algorithm.algorithm.to_id_string();
    let key_oid = signer.algorithm.algorithm.to_id_string();
    let unsupported = |name: &str| PkiError::UnsupportedSignatureAlgorithm(name.to_owned());
    let mismatch = || {
        PkiError::SignatureInvalid(format!(
            "{what} is signed with {sig_oid}, which does not fit the signer's key type {key_oid}"
        ))
    };
    let rsa_key = key_oid == OID_RSA_ENCRYPTION || key_oid == OID_RSA_PSS;
    let ec_curve = if key_oid == OID_EC_PUBLIC_KEY {
        curve_oid(signer)
    } else {
        None
    };

    let alg: &'static dyn VerificationAlgorithm = match sig_oid.as_str() {
        OID_RSA_SHA1 => return Err(unsupported("sha1WithRSAEncryption (SHA-1 is broken)")),
        OID_ECDSA_SHA1 => return Err(unsupported("ecdsa-with-SHA1 (SHA-1 is broken)")),
        OID_RSA_SHA256 | OID_RSA_SHA384 | OID_RSA_SHA512 if !rsa_key => return Err(mismatch()),
        OID_RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        OID_RSA_SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        OID_RSA_SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        OID_RSA_PSS => {
            if !rsa_key {
                return Err(mismatch());
            }
            let params = algorithm
                .parameters
                .as_ref()
                .and_then(|p| RsaSsaPssParams::try_from(p).ok())
                .ok_or_else(|| unsupported("RSASSA-PSS with missing or malformed parameters"))?;
            match params.hash_algorithm_oid().to_id_string().as_str() {
                OID_SHA256 => &signature::RSA_PSS_2048_8192_SHA256,
                OID_SHA384 => &signature::RSA_PSS_2048_8192_SHA384,
                OID_SHA512 => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return Err(unsupported("RSASSA-PSS with a hash other than SHA-2")),
            }
        }
        OID_ECDSA_SHA256 | OID_ECDSA_SHA384 | OID_ECDSA_SHA512 => {
            match (ec_curve.as_deref(), sig_oid.as_str()) {
                (None, _) => return Err(mismatch()),
                (Some(OID_CURVE_P256), OID_ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
                (Some(OID_CURVE_P256), OID_ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
                (Some(OID_CURVE_P384), OID_ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
                (Some(OID_CURVE_P384), OID_ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
                (Some(curve), _) => {
                    return Err(unsupported(&format!(
                        "{sig_oid} with an EC key on curve {curve}"
                    )));
                }
            }
        }
        OID_ED25519 if key_oid != OID_ED25519 => return Err(mismatch()),
        OID_ED25519 => &signature::ED25519,
        other => return Err(unsupported(other)),
    };

    UnparsedPublicKey::new(alg, signer.subject_public_key.data.as_ref())
        .verify(message, signature)
        .map_err(|_| {
            PkiError::SignatureInvalid(format!(
                "the signature on {what} does not verify with the signer's public key"
            ))
        })
}
