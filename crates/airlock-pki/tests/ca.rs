//! End-to-end tests: certificates issued here are checked with an independent verifier
//! (rustls-webpki, ring backend) and an independent parser (x509-parser).

use airlock_pki::{
    CertificateAuthority, KeyAlgorithm, PkiError, certificate_id, pem_to_der_chain,
    subject_common_name,
};
use rustls_pki_types::{CertificateDer, ServerName};
use webpki::{EndEntityCert, KeyUsage};

mod common;
use common::verify;

fn verify_server(ca_der: &[u8], leaf_der: &[u8], name: &str) -> Result<(), webpki::Error> {
    verify(ca_der, leaf_der, KeyUsage::server_auth())?;
    let leaf = CertificateDer::from(leaf_der);
    let ee = EndEntityCert::try_from(&leaf)?;
    let name = ServerName::try_from(name).expect("test name is valid");
    ee.verify_is_valid_for_subject_name(&name)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn check_ca_and_leaves(ca_alg: KeyAlgorithm, leaf_alg: KeyAlgorithm) {
    let ca = CertificateAuthority::generate("Airlock Test CA", ca_alg).expect("generate CA");
    let server = ca
        .issue_server(&names(&["localhost", "127.0.0.1", "::1"]), leaf_alg)
        .expect("issue server");
    let client = ca
        .issue_client("device-42", KeyAlgorithm::EcdsaP256, 30)
        .expect("issue client");

    // Server: valid for each SAN, with EKU serverAuth, not for other names.
    verify_server(ca.cert_der(), &server.cert_der, "localhost").expect("localhost");
    verify_server(ca.cert_der(), &server.cert_der, "127.0.0.1").expect("127.0.0.1");
    verify_server(ca.cert_der(), &server.cert_der, "::1").expect("::1");
    assert!(verify_server(ca.cert_der(), &server.cert_der, "example.com").is_err());
    assert!(verify_server(ca.cert_der(), &server.cert_der, "127.0.0.2").is_err());
    // EKU is enforced both ways.
    assert!(matches!(
        verify(ca.cert_der(), &server.cert_der, KeyUsage::client_auth()),
        Err(webpki::Error::RequiredEkuNotFoundContext(_))
    ));
    verify(ca.cert_der(), &client.cert_der, KeyUsage::client_auth()).expect("client verifies");
    assert!(verify(ca.cert_der(), &client.cert_der, KeyUsage::server_auth()).is_err());

    // Names and ids.
    assert_eq!(
        subject_common_name(&server.cert_der).unwrap().as_deref(),
        Some("localhost")
    );
    assert_eq!(
        subject_common_name(&client.cert_der).unwrap().as_deref(),
        Some("device-42")
    );
    assert_eq!(
        subject_common_name(ca.cert_der()).unwrap().as_deref(),
        Some("Airlock Test CA")
    );
    assert_eq!(client.certificate_id, certificate_id(&client.cert_der));
    assert_eq!(server.certificate_id, certificate_id(&server.cert_der));
    assert_eq!(
        pem_to_der_chain(&client.cert_pem).unwrap(),
        vec![client.cert_der.clone()]
    );
    assert_eq!(
        pem_to_der_chain(ca.cert_pem()).unwrap(),
        vec![ca.cert_der().to_vec()]
    );
    assert!(server.key_pem.contains("-----BEGIN PRIVATE KEY-----"));
    assert!(ca.key_pem().contains("-----BEGIN PRIVATE KEY-----"));
    assert_ne!(
        server.key_pem, client.key_pem,
        "each certificate gets a fresh key"
    );

    // A certificate from a different CA does not verify against this one.
    let other = CertificateAuthority::generate("Other CA", KeyAlgorithm::EcdsaP256).unwrap();
    let foreign = other
        .issue_client("device-42", KeyAlgorithm::EcdsaP256, 30)
        .unwrap();
    assert!(matches!(
        verify(ca.cert_der(), &foreign.cert_der, KeyUsage::client_auth()),
        Err(webpki::Error::UnknownIssuer)
    ));
    let foreign_server = other
        .issue_server(&names(&["localhost"]), KeyAlgorithm::EcdsaP256)
        .unwrap();
    assert!(verify_server(ca.cert_der(), &foreign_server.cert_der, "localhost").is_err());

    // The CA survives a PEM round trip and keeps issuing certificates that verify.
    let loaded = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).expect("reload CA");
    let again = loaded
        .issue_client("device-43", KeyAlgorithm::EcdsaP256, 1)
        .unwrap();
    verify(ca.cert_der(), &again.cert_der, KeyUsage::client_auth()).expect("reloaded CA");
}

fn assert_rsa_2048(der: &[u8]) {
    let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
    match x.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("expected RSA key, got {other:?}"),
    }
}

#[test]
fn ecdsa_ca_issues_server_and_client_certs_that_verify() {
    check_ca_and_leaves(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
}

// RSA key generation is slow in unoptimised builds (tens of seconds per key), so the RSA
// tests generate one RSA key each and run in parallel.

#[test]
fn rsa2048_ca_signs_certs_that_verify() {
    check_ca_and_leaves(KeyAlgorithm::Rsa2048, KeyAlgorithm::EcdsaP256);
}

#[test]
fn rsa2048_server_cert_verifies() {
    let ca = CertificateAuthority::generate("EC CA", KeyAlgorithm::EcdsaP256).unwrap();
    let server = ca
        .issue_server(&names(&["localhost", "127.0.0.1"]), KeyAlgorithm::Rsa2048)
        .unwrap();
    assert_rsa_2048(&server.cert_der);
    verify_server(ca.cert_der(), &server.cert_der, "localhost").expect("localhost");
    verify_server(ca.cert_der(), &server.cert_der, "127.0.0.1").expect("127.0.0.1");
    let (_, x) = x509_parser::parse_x509_certificate(&server.cert_der).unwrap();
    let ku = x.key_usage().unwrap().expect("keyUsage").value;
    assert!(ku.digital_signature() && ku.key_encipherment());
    // The key is PKCS#8 and loads with ring, which is what the TLS layer will do.
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(server.key_pem.as_bytes())
        .expect("PKCS#8 PEM");
    ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("ring loads key");
}

#[test]
fn ca_certificate_has_expected_fields() {
    let ca = CertificateAuthority::generate("Fleet CA", KeyAlgorithm::EcdsaP256).unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    let bc = x.basic_constraints().unwrap().expect("basicConstraints");
    assert!(bc.critical);
    assert!(bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = x.key_usage().unwrap().expect("keyUsage");
    assert!(ku.value.key_cert_sign() && ku.value.crl_sign());
    let org = x
        .subject()
        .iter_organization()
        .next()
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(org, "Airlock");
    assert_eq!(x.issuer(), x.subject(), "self-signed");

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let nb = x.validity().not_before.timestamp();
    let na = x.validity().not_after.timestamp();
    assert!(
        (now - 3600 - 60..=now - 3600 + 60).contains(&nb),
        "backdated 1h"
    );
    let ten_years = 3650 * 86_400;
    assert!((now + ten_years - 60..=now + ten_years + 60).contains(&na));
}

#[test]
fn leaf_validity_and_constraints() {
    let ca = CertificateAuthority::generate("CA", KeyAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    let server = ca
        .issue_server(&names(&["mqtt.example.com"]), KeyAlgorithm::EcdsaP256)
        .unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&server.cert_der).unwrap();
    let na = x.validity().not_after.timestamp();
    assert!((now + 730 * 86_400 - 60..=now + 730 * 86_400 + 60).contains(&na));
    assert!(!x.basic_constraints().unwrap().is_some_and(|bc| bc.value.ca));
    let eku = x.extended_key_usage().unwrap().expect("eku").value;
    assert!(eku.server_auth && !eku.client_auth);

    let client = ca.issue_client("d", KeyAlgorithm::EcdsaP256, 7).unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&client.cert_der).unwrap();
    let na = x.validity().not_after.timestamp();
    assert!((now + 7 * 86_400 - 60..=now + 7 * 86_400 + 60).contains(&na));
    let eku = x.extended_key_usage().unwrap().expect("eku").value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_ne!(
        x.serial,
        x509_parser::parse_x509_certificate(&server.cert_der)
            .unwrap()
            .1
            .serial
    );
}

#[test]
fn from_pem_round_trip_reissues_valid_certs() {
    {
        let alg = KeyAlgorithm::EcdsaP256;
        let original = CertificateAuthority::generate("Round Trip CA", alg).unwrap();
        let loaded = CertificateAuthority::from_pem(original.cert_pem(), original.key_pem())
            .expect("load CA from its own PEM");
        assert_eq!(loaded.cert_der(), original.cert_der());
        assert_eq!(loaded.cert_pem(), original.cert_pem());
        assert_eq!(loaded.certificate_id(), original.certificate_id());

        let client = loaded.issue_client("after-restart", alg, 10).unwrap();
        verify(
            original.cert_der(),
            &client.cert_der,
            KeyUsage::client_auth(),
        )
        .expect("reissued client verifies against the original CA");
        let server = loaded.issue_server(&names(&["localhost"]), alg).unwrap();
        verify_server(original.cert_der(), &server.cert_der, "localhost")
            .expect("reissued server verifies against the original CA");
    }
}

#[test]
fn from_pem_rejects_mismatched_key() {
    let a = CertificateAuthority::generate("A", KeyAlgorithm::EcdsaP256).unwrap();
    let b = CertificateAuthority::generate("B", KeyAlgorithm::EcdsaP256).unwrap();
    let err = CertificateAuthority::from_pem(a.cert_pem(), b.key_pem()).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch), "{err}");
    assert!(err.to_string().contains("does not match"));
}

#[test]
fn from_pem_rejects_bad_inputs() {
    let ca = CertificateAuthority::generate("CA", KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = ca.issue_client("dev", KeyAlgorithm::EcdsaP256, 1).unwrap();
    assert!(matches!(
        CertificateAuthority::from_pem(&leaf.cert_pem, &leaf.key_pem),
        Err(PkiError::NotACa(_))
    ));
    assert!(matches!(
        CertificateAuthority::from_pem(ca.cert_pem(), "not a key"),
        Err(PkiError::InvalidKey(_))
    ));
    assert!(matches!(
        CertificateAuthority::from_pem(ca.key_pem(), ca.key_pem()),
        Err(PkiError::NoCertificates)
    ));
    assert!(matches!(
        CertificateAuthority::from_pem("", ca.key_pem()),
        Err(PkiError::NoCertificates)
    ));
}

#[test]
fn invalid_requests_are_rejected() {
    let ca = CertificateAuthority::generate("CA", KeyAlgorithm::EcdsaP256).unwrap();
    assert!(matches!(
        ca.issue_server(&[], KeyAlgorithm::EcdsaP256),
        Err(PkiError::InvalidName { .. })
    ));
    assert!(matches!(
        ca.issue_server(
            &names(&["localhost", "not a host"]),
            KeyAlgorithm::EcdsaP256
        ),
        Err(PkiError::InvalidName { .. })
    ));
    assert!(matches!(
        ca.issue_client("", KeyAlgorithm::EcdsaP256, 1),
        Err(PkiError::InvalidName { .. })
    ));
    assert!(matches!(
        ca.issue_client("dev", KeyAlgorithm::EcdsaP256, 0),
        Err(PkiError::InvalidValidity(_))
    ));
    assert!(matches!(
        ca.issue_client("dev", KeyAlgorithm::EcdsaP256, u32::MAX),
        Err(PkiError::InvalidValidity(_))
    ));
    assert!(matches!(
        CertificateAuthority::generate("", KeyAlgorithm::EcdsaP256),
        Err(PkiError::InvalidName { .. })
    ));
}

#[test]
fn certificate_id_is_lowercase_sha256_hex() {
    // FIPS 180-2 test vectors.
    assert_eq!(
        certificate_id(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        certificate_id(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let ca = CertificateAuthority::generate("CA", KeyAlgorithm::EcdsaP256).unwrap();
    let id = certificate_id(ca.cert_der());
    assert_eq!(id.len(), 64);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(id, ca.certificate_id());
}

#[test]
fn pem_chain_parsing() {
    let a = CertificateAuthority::generate("A", KeyAlgorithm::EcdsaP256).unwrap();
    let b = CertificateAuthority::generate("B", KeyAlgorithm::EcdsaP256).unwrap();
    // Keys and other blocks are skipped; order is kept.
    let bundle = format!("{}{}{}", a.cert_pem(), a.key_pem(), b.cert_pem());
    let chain = pem_to_der_chain(&bundle).unwrap();
    assert_eq!(chain, vec![a.cert_der().to_vec(), b.cert_der().to_vec()]);
    assert!(matches!(
        pem_to_der_chain(""),
        Err(PkiError::NoCertificates)
    ));
    assert!(matches!(
        pem_to_der_chain(a.key_pem()),
        Err(PkiError::NoCertificates)
    ));
    let truncated = &a.cert_pem()[..a.cert_pem().len() - 30];
    assert!(pem_to_der_chain(truncated).is_err());
    assert!(subject_common_name(b"garbage").is_err());
}
