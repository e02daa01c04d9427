//! Signing device CSRs: rcgen- and openssl-made requests (with extensions rcgen's own CSR
//! parser refuses) are signed with Airlock's template and verify as client certificates
//! with rustls-webpki; tampered or malformed requests are refused.

mod common;

use airlock_pki::{
    CertificateAuthority, KeyAlgorithm, PkiError, SignedCertificate, certificate_id,
    csr_pem_to_der, pem_to_der_chain, subject_common_name,
};
use common::{have_openssl, openssl, read, verify_client};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256, SanType};
use rustls_pki_types::PrivatePkcs8KeyDer;

/// Facts every CSR-signed certificate must show: Airlock's template, not the request's.
fn check_template(ca: &CertificateAuthority, cert: &SignedCertificate, cn: &str, csr_der: &[u8]) {
    verify_client(ca.cert_der(), &cert.cert_der).expect("verifies as a client certificate");
    assert_eq!(cert.certificate_id, certificate_id(&cert.cert_der));
    assert_eq!(
        pem_to_der_chain(&cert.cert_pem).unwrap(),
        vec![cert.cert_der.clone()]
    );
    assert_eq!(
        subject_common_name(&cert.cert_der).unwrap().as_deref(),
        Some(cn)
    );

    let (_, x) = x509_parser::parse_x509_certificate(&cert.cert_der).unwrap();
    let orgs: Vec<_> = x
        .subject()
        .iter_organization()
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        orgs,
        vec!["Airlock".to_owned()],
        "subject is Airlock's, not the CSR's"
    );
    assert!(
        x.subject_alternative_name().unwrap().is_none(),
        "requested SANs are ignored"
    );
    let eku = x.extended_key_usage().unwrap().expect("EKU").value;
    assert!(eku.client_auth && !eku.server_auth);
    let bc = x.basic_constraints().unwrap().expect("basicConstraints");
    assert!(!bc.value.ca);
    for ext in x.extensions() {
        assert_ne!(
            ext.oid.to_id_string(),
            "1.3.6.1.4.1.311.20.2",
            "the Microsoft template-name extension is not copied"
        );
    }

    // The certificate carries exactly the CSR's public key.
    let (_, csr) =
        <x509_parser::certification_request::X509CertificationRequest as x509_parser::prelude::FromDer<_>>::from_der(csr_der)
            .unwrap();
    assert_eq!(
        x.public_key().raw,
        csr.certification_request_info.subject_pki.raw
    );

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let na = x.validity().not_after.timestamp();
    assert!((now + 30 * 86_400 - 60..=now + 30 * 86_400 + 60).contains(&na));
}

fn rcgen_csr(key: &KeyPair, cn: &str) -> (String, Vec<u8>) {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Device Maker");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::DnsName("device.example".try_into().unwrap())];
    let csr = params.serialize_request(key).expect("serialize CSR");
    (csr.pem().unwrap(), csr.der().to_vec())
}

#[test]
fn rcgen_p256_csr_is_signed() {
    let ca = CertificateAuthority::generate("CSR CA", KeyAlgorithm::EcdsaP256).unwrap();
    let key = KeyPair::generate().unwrap();
    let (pem, der) = rcgen_csr(&key, "sensor-7");

    // The CSR's CN is used when no name is given ...
    let cert = ca.sign_csr(&pem, None, 30).expect("sign CSR");
    check_template(&ca, &cert, "sensor-7", &der);
    // ... and an explicit name overrides it; DER input works too.
    let cert = ca
        .sign_csr_der(&der, Some("thing-1"), 30)
        .expect("sign DER CSR");
    check_template(&ca, &cert, "thing-1", &der);
    let (_, x) = x509_parser::parse_x509_certificate(&cert.cert_der).unwrap();
    let ku = x.key_usage().unwrap().expect("keyUsage").value;
    assert!(ku.digital_signature() && !ku.key_encipherment());
}

#[test]
fn rcgen_rsa_csr_is_signed() {
    use rsa::pkcs8::EncodePrivateKey;
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let pkcs8 = private.to_pkcs8_der().unwrap();
    let key = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.as_bytes()),
        &PKCS_RSA_SHA256,
    )
    .unwrap();
    let (pem, der) = rcgen_csr(&key, "rsa-device");
    let ca = CertificateAuthority::generate("EC CA", KeyAlgorithm::EcdsaP256).unwrap();
    let cert = ca.sign_csr(&pem, None, 30).expect("sign RSA CSR");
    check_template(&ca, &cert, "rsa-device", &der);
    let (_, x) = x509_parser::parse_x509_certificate(&cert.cert_der).unwrap();
    let ku = x.key_usage().unwrap().expect("keyUsage").value;
    assert!(ku.digital_signature() && ku.key_encipherment());
}

#[test]
fn openssl_csrs_with_foreign_extensions_are_signed() {
    if !have_openssl("openssl_csrs_with_foreign_extensions_are_signed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::generate("CSR CA", KeyAlgorithm::EcdsaP256).unwrap();
    let common = [
        "-nodes",
        "-subj",
        "/C=DE/O=Plant/OU=Line 4/CN=press-12",
        "-addext",
        "subjectAltName=DNS:x",
        "-addext",
        "1.3.6.1.4.1.311.20.2=ASN1:UTF8String:Machine",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ];
    for (name, newkey) in [
        (
            "ec",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        ("rsa", &["-newkey", "rsa:2048"][..]),
    ] {
        let key_file = format!("{name}.key");
        let csr_file = format!("{name}.csr");
        let mut args = vec!["req", "-new"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&common);
        args.extend_from_slice(&["-keyout", &key_file, "-out", &csr_file]);
        openssl(dir.path(), &args);
        let pem = read(dir.path(), &csr_file);

        // rcgen's own CSR parser refuses this request; that is why sign_csr does not use it.
        let der = csr_pem_to_der(&pem).unwrap();
        assert!(rcgen::CertificateSigningRequestParams::from_der(&der.clone().into()).is_err());

        let cert = ca
            .sign_csr(&pem, None, 30)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_template(&ca, &cert, "press-12", &der);

        // The device's key (never seen by the CA) matches the certificate: openssl agrees.
        std::fs::write(dir.path().join("cert.pem"), &cert.cert_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        openssl(
            dir.path(),
            &["x509", "-in", "cert.pem", "-noout", "-checkend", "0"],
        );
        openssl(
            dir.path(),
            &[
                "verify",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "sslclient",
                "cert.pem",
            ],
        );
    }
}

#[test]
fn weak_rsa_csr_is_refused() {
    if !have_openssl("weak_rsa_csr_is_refused") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "req", "-new", "-nodes", "-newkey", "rsa:1024", "-subj", "/CN=old", "-keyout", "k.pem",
            "-out", "r.csr",
        ],
    );
    let ca = CertificateAuthority::generate("CSR CA", KeyAlgorithm::EcdsaP256).unwrap();
    let err = ca
        .sign_csr(&read(dir.path(), "r.csr"), None, 1)
        .unwrap_err();
    assert!(matches!(err, PkiError::UnsupportedKey(_)), "{err}");
    assert!(err.to_string().contains("1024"), "{err}");
}

#[test]
fn tampered_csr_is_refused() {
    let ca = CertificateAuthority::generate("CSR CA", KeyAlgorithm::EcdsaP256).unwrap();
    let key = KeyPair::generate().unwrap();
    let (_, der) = rcgen_csr(&key, "sensor-7");

    // Flip a bit in the last byte: inside the signature value.
    let mut bad_sig = der.clone();
    *bad_sig.last_mut().unwrap() ^= 0x01;
    let err = ca.sign_csr_der(&bad_sig, None, 30).unwrap_err();
    assert!(matches!(err, PkiError::SignatureInvalid(_)), "{err}");
    assert!(
        err.to_string().contains("certificate signing request"),
        "{err}"
    );
    assert!(err.to_string().contains("does not verify"), "{err}");

    // Change the requested CN after signing: the signature no longer covers the content.
    let pos = der
        .windows(b"sensor-7".len())
        .position(|w| w == b"sensor-7")
        .unwrap();
    let mut bad_cn = der.clone();
    bad_cn[pos] = b'S';
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", bad_cn));
    assert!(matches!(
        ca.sign_csr(&pem, None, 30),
        Err(PkiError::SignatureInvalid(_))
    ));
}

#[test]
fn malformed_csr_inputs_are_refused() {
    let ca = CertificateAuthority::generate("CSR CA", KeyAlgorithm::EcdsaP256).unwrap();
    let key = KeyPair::generate().unwrap();
    let (pem, der) = rcgen_csr(&key, "sensor-7");

    assert!(matches!(
        ca.sign_csr("", None, 1),
        Err(PkiError::InvalidCsr(_))
    ));
    assert!(matches!(
        ca.sign_csr(ca.cert_pem(), None, 1),
        Err(PkiError::InvalidCsr(_))
    ));
    assert!(
        ca.sign_csr("-----BEGIN CERTIFICATE REQUEST-----\n!!!\n", None, 1)
            .is_err()
    );
    assert!(matches!(
        ca.sign_csr_der(b"garbage", None, 1),
        Err(PkiError::InvalidCsr(_))
    ));
    assert!(matches!(
        ca.sign_csr_der(&der[..der.len() / 2], None, 1),
        Err(PkiError::InvalidCsr(_))
    ));
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(matches!(
        ca.sign_csr_der(&trailing, None, 1),
        Err(PkiError::InvalidCsr(_))
    ));
    // The old "NEW CERTIFICATE REQUEST" label is accepted.
    let old = pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
    assert!(ca.sign_csr(&old, None, 1).is_ok());

    // Name and validity are checked like issue_client's.
    assert!(matches!(
        ca.sign_csr(&pem, Some(""), 1),
        Err(PkiError::InvalidName { .. })
    ));
    assert!(matches!(
        ca.sign_csr(&pem, None, 0),
        Err(PkiError::InvalidValidity(_))
    ));
    assert!(matches!(
        ca.sign_csr(&pem, None, u32::MAX),
        Err(PkiError::InvalidValidity(_))
    ));

    // A CSR without a CN needs an explicit name.
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let no_cn = params.serialize_request(&key).unwrap().pem().unwrap();
    assert!(matches!(
        ca.sign_csr(&no_cn, None, 1),
        Err(PkiError::InvalidName { .. })
    ));
    let cert = ca.sign_csr(&no_cn, Some("named"), 1).unwrap();
    verify_client(ca.cert_der(), &cert.cert_der).unwrap();
}

#[test]
fn p384_and_ed25519_csrs_are_signed() {
    let ca = CertificateAuthority::generate("CSR CA", KeyAlgorithm::EcdsaP256).unwrap();
    for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        let key = KeyPair::generate_for(alg).unwrap();
        let (pem, der) = rcgen_csr(&key, "other-curve");
        let cert = ca.sign_csr(&pem, None, 30).expect("sign");
        check_template(&ca, &cert, "other-curve", &der);
    }
}
