//! Bring-your-own-CA registration (AWS DEFAULT mode with a verification certificate, and
//! the mode without), with CAs made by this crate and by the openssl command line.

mod common;

use airlock_pki::{
    CertificateAuthority, KeyAlgorithm, PkiError, certificate_id, inspect_ca, pem_to_der_chain,
    registration_code, verify_ca_registration,
};
use common::{have_openssl, openssl, read};

#[test]
fn registration_codes_look_like_aws() {
    let a = registration_code();
    let b = registration_code();
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_ne!(a, b);
}

#[test]
fn crate_ca_registers_with_verification_certificate() {
    let ca = CertificateAuthority::generate("Plant Root CA", KeyAlgorithm::EcdsaP256).unwrap();
    let code = registration_code();
    // A verification certificate is an ordinary certificate with CN = code, signed by the CA.
    let verification = ca.issue_client(&code, KeyAlgorithm::EcdsaP256, 1).unwrap();

    let reg = verify_ca_registration(ca.cert_pem(), &verification.cert_pem, &code)
        .expect("registration verifies");
    assert_eq!(reg.certificate_id, ca.certificate_id());
    assert_eq!(reg.certificate_id, certificate_id(&reg.cert_der));
    assert_eq!(reg.cert_der, ca.cert_der());
    assert_eq!(
        pem_to_der_chain(&reg.cert_pem).unwrap(),
        vec![reg.cert_der.clone()]
    );
    assert!(reg.subject.contains("CN=Plant Root CA"), "{}", reg.subject);
    assert!(reg.subject.contains("O=Airlock"), "{}", reg.subject);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(reg.not_before < now && reg.not_after > now + 9 * 365 * 86_400);
    assert_eq!(inspect_ca(ca.cert_pem()).unwrap(), reg);

    // Wrong code.
    let other_code = registration_code();
    let err =
        verify_ca_registration(ca.cert_pem(), &verification.cert_pem, &other_code).unwrap_err();
    match &err {
        PkiError::RegistrationCodeMismatch { expected, found } => {
            assert_eq!(expected, &other_code);
            assert_eq!(found.as_deref(), Some(code.as_str()));
        }
        other => panic!("expected RegistrationCodeMismatch, got {other}"),
    }
    assert!(err.to_string().contains("registration code"), "{err}");
    assert!(matches!(
        verify_ca_registration(ca.cert_pem(), &verification.cert_pem, ""),
        Err(PkiError::RegistrationCodeMismatch { .. })
    ));

    // Right code, but signed by another key, even one whose CA has the very same name.
    let impostor =
        CertificateAuthority::generate("Plant Root CA", KeyAlgorithm::EcdsaP256).unwrap();
    let forged = impostor
        .issue_client(&code, KeyAlgorithm::EcdsaP256, 1)
        .unwrap();
    let err = verify_ca_registration(ca.cert_pem(), &forged.cert_pem, &code).unwrap_err();
    assert!(matches!(err, PkiError::SignatureInvalid(_)), "{err}");
    assert!(
        err.to_string().contains("verification certificate"),
        "{err}"
    );

    // A verification certificate without any CN.
    let no_cn = ca.issue_server(&["192.0.2.1".to_owned()], KeyAlgorithm::EcdsaP256);
    let no_cn = no_cn.unwrap();
    assert!(matches!(
        verify_ca_registration(ca.cert_pem(), &no_cn.cert_pem, &code),
        Err(PkiError::RegistrationCodeMismatch { .. })
    ));
}

#[test]
fn non_ca_and_malformed_inputs_are_refused() {
    let ca = CertificateAuthority::generate("CA", KeyAlgorithm::EcdsaP256).unwrap();
    let code = registration_code();
    let leaf = ca.issue_client(&code, KeyAlgorithm::EcdsaP256, 1).unwrap();
    // A device certificate offered as the CA (self-"verification" with its own cert).
    assert!(matches!(
        inspect_ca(&leaf.cert_pem),
        Err(PkiError::NotACa(_))
    ));
    assert!(matches!(
        verify_ca_registration(&leaf.cert_pem, &leaf.cert_pem, &code),
        Err(PkiError::NotACa(_))
    ));
    assert!(matches!(inspect_ca(""), Err(PkiError::NoCertificates)));
    assert!(matches!(
        inspect_ca(ca.key_pem()),
        Err(PkiError::NoCertificates)
    ));
    assert!(matches!(
        verify_ca_registration(ca.cert_pem(), "", &code),
        Err(PkiError::NoCertificates)
    ));
    let garbage = airlock_pki::der_to_pem(b"not a certificate");
    assert!(matches!(
        inspect_ca(&garbage),
        Err(PkiError::InvalidCertificate(_))
    ));
    assert!(matches!(
        verify_ca_registration(ca.cert_pem(), &garbage, &code),
        Err(PkiError::InvalidCertificate(_))
    ));
}

#[test]
fn openssl_cas_register() {
    if !have_openssl("openssl_cas_register") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let code = registration_code();
    let ver_subj = format!("/CN={code}");
    for (name, newkey) in [
        (
            "ec",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        ("rsa", &["-newkey", "rsa:2048"][..]),
    ] {
        let (ca_key, ca_pem) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
        let mut args = vec!["req", "-x509", "-nodes", "-days", "30", "-sha256"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&[
            "-subj",
            "/C=US/O=Customer/CN=Customer Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &ca_key,
            "-out",
            &ca_pem,
        ]);
        openssl(d, &args);

        // Verification certificate: CSR with CN = code, signed with the CA key (AWS's steps).
        let (v_key, v_csr, v_pem) = (
            format!("{name}-v.key"),
            format!("{name}-v.csr"),
            format!("{name}-v.pem"),
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-subj",
                &ver_subj,
                "-keyout",
                &v_key,
                "-out",
                &v_csr,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &v_csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-set_serial",
                "4660",
                "-days",
                "1",
                "-sha256",
                "-out",
                &v_pem,
            ],
        );

        let ca_text = read(d, &ca_pem);
        let reg = verify_ca_registration(&ca_text, &read(d, &v_pem), &code)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reg.cert_der, pem_to_der_chain(&ca_text).unwrap()[0]);
        assert!(reg.subject.contains("CN=Customer Root"), "{}", reg.subject);
        assert!(matches!(
            verify_ca_registration(&ca_text, &read(d, &v_pem), &registration_code()),
            Err(PkiError::RegistrationCodeMismatch { .. })
        ));

        // A device certificate from that CA is not a CA.
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &v_csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-set_serial",
                "4661",
                "-days",
                "1",
                "-sha256",
                "-out",
                "leaf.pem",
            ],
        );
        assert!(matches!(
            inspect_ca(&read(d, "leaf.pem")),
            Err(PkiError::NotACa(_))
        ));
    }

    // Verification certificate signed by the RSA CA does not register the EC CA.
    let err =
        verify_ca_registration(&read(d, "ec-ca.pem"), &read(d, "rsa-v.pem"), &code).unwrap_err();
    assert!(matches!(err, PkiError::SignatureInvalid(_)), "{err}");

    // A CA certificate whose keyUsage lacks keyCertSign is refused.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "30",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            "/CN=No Sign",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-keyout",
            "nosign.key",
            "-out",
            "nosign.pem",
        ],
    );
    let err = inspect_ca(&read(d, "nosign.pem")).unwrap_err();
    assert!(matches!(err, PkiError::NotACa(_)), "{err}");
    assert!(err.to_string().contains("keyCertSign"), "{err}");
}
