//! Certificate facts under AWS IoT's policy-variable names, and validity status.

mod common;

use airlock_pki::{
    CertificateAuthority, KeyAlgorithm, PkiError, Validity, certificate_id, certificate_info,
    pem_to_der_chain, validity_status,
};
use common::{have_openssl, openssl, read};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType, SerialNumber};

fn vals(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// An rcgen certificate with every AWS subject attribute (rcgen allows one value per type).
fn full_subject_cert() -> (Vec<u8>, Vec<u8>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::CommonName, "IoT Devices Primary CA");
    ca_dn.push(DnType::OrganizationName, "IoT Devices");
    ca_dn.push(DnType::OrganizationalUnitName, "SmartHome");
    ca_dn.push(DnType::CountryName, "US");
    ca_dn.push(DnType::StateOrProvinceName, "WA");
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let custom = |oid: &[u64]| DnType::CustomDnType(oid.to_vec());
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "IoT Devices");
    dn.push(DnType::OrganizationalUnitName, "LightBulb");
    dn.push(DnType::StateOrProvinceName, "NY");
    dn.push(DnType::LocalityName, "New York");
    dn.push(DnType::CommonName, "LightBulb Device Cert");
    dn.push(custom(&[2, 5, 4, 42]), "Bulb");
    dn.push(custom(&[2, 5, 4, 43]), "ZZ");
    dn.push(custom(&[2, 5, 4, 46]), "Bulb001");
    dn.push(custom(&[2, 5, 4, 4]), "Multi Color");
    dn.push(custom(&[2, 5, 4, 12]), "RGB");
    dn.push(custom(&[2, 5, 4, 65]), "RGB Device");
    dn.push(custom(&[2, 5, 4, 44]), "4");
    dn.push(custom(&[2, 5, 4, 5]), "123");
    dn.push(custom(&[1, 2, 3, 4]), "not an AWS attribute");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::DnsName("example.com".try_into().unwrap()),
        SanType::DnsName("alt.example.com".try_into().unwrap()),
        SanType::IpAddress("1.2.3.4".parse().unwrap()),
        SanType::IpAddress("2001:db8::1".parse().unwrap()),
        SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
        SanType::URI("urn:device:bulb-1".try_into().unwrap()),
    ];
    // AWS's documentation example serial, 92:12:85:cb:b7:a5:e0:86.
    params.serial_number = Some(SerialNumber::from_slice(&[
        0x92, 0x12, 0x85, 0xcb, 0xb7, 0xa5, 0xe0, 0x86,
    ]));
    params.not_before = time::OffsetDateTime::from_unix_timestamp(1_711_423_540).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(1_745_811_940).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.der().to_vec(), ca_cert.der().to_vec())
}

#[test]
fn subject_issuer_sans_serial_and_dates() {
    let (der, ca_der) = full_subject_cert();
    let info = certificate_info(&der).expect("info");
    assert_eq!(info.certificate_id, certificate_id(&der));
    assert_eq!(info.serial_number, "921285cbb7a5e086");
    assert_eq!(info.serial_number_decimal, "10525622389124227206");
    assert!(!info.is_ca);

    let s = &info.subject;
    assert_eq!(s["CommonName"], vals(&["LightBulb Device Cert"]));
    assert_eq!(s["Organization"], vals(&["IoT Devices"]));
    assert_eq!(s["OrganizationalUnit"], vals(&["LightBulb"]));
    assert_eq!(s["Country"], vals(&["US"]));
    assert_eq!(s["State"], vals(&["NY"]));
    assert_eq!(s["Locality"], vals(&["New York"]));
    assert_eq!(s["GivenName"], vals(&["Bulb"]));
    assert_eq!(s["Initials"], vals(&["ZZ"]));
    assert_eq!(s["DistinguishedNameQualifier"], vals(&["Bulb001"]));
    assert_eq!(s["Surname"], vals(&["Multi Color"]));
    assert_eq!(s["Title"], vals(&["RGB"]));
    assert_eq!(s["Pseudonym"], vals(&["RGB Device"]));
    assert_eq!(s["GenerationQualifier"], vals(&["4"]));
    assert_eq!(s["SerialNumber"], vals(&["123"]));
    assert_eq!(s.len(), 14, "unknown attribute types are left out: {s:?}");

    let i = &info.issuer;
    assert_eq!(i["CommonName"], vals(&["IoT Devices Primary CA"]));
    assert_eq!(i["OrganizationalUnit"], vals(&["SmartHome"]));
    assert_eq!(i["State"], vals(&["WA"]));
    assert_eq!(i.len(), 5);

    assert_eq!(info.san_dns, vals(&["example.com", "alt.example.com"]));
    assert_eq!(info.san_ip, vals(&["1.2.3.4", "2001:db8::1"]));
    assert_eq!(info.san_email, vals(&["ops@example.com"]));
    assert_eq!(info.san_uri, vals(&["urn:device:bulb-1"]));

    assert_eq!(info.not_before, 1_711_423_540);
    assert_eq!(info.not_after, 1_745_811_940);
    assert_eq!(validity_status(&info, 1_711_423_539), Validity::NotYetValid);
    assert_eq!(validity_status(&info, 1_711_423_540), Validity::Valid);
    assert_eq!(validity_status(&info, 1_745_811_940), Validity::Valid);
    assert_eq!(validity_status(&info, 1_745_811_941), Validity::Expired);

    let ca = certificate_info(&ca_der).unwrap();
    assert!(ca.is_ca);
    assert_eq!(ca.subject, info.issuer);
    assert!(ca.san_dns.is_empty() && ca.san_ip.is_empty());
}

#[test]
fn issued_certificates_are_described() {
    let ca = CertificateAuthority::generate("Airlock CA", KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = ca
        .issue_client("thing-1", KeyAlgorithm::EcdsaP256, 7)
        .unwrap();
    let info = certificate_info(&leaf.cert_der).unwrap();
    assert_eq!(info.certificate_id, leaf.certificate_id);
    assert_eq!(info.subject["CommonName"], vals(&["thing-1"]));
    assert_eq!(info.issuer["CommonName"], vals(&["Airlock CA"]));
    assert_eq!(info.issuer["Organization"], vals(&["Airlock"]));
    assert_eq!(info.serial_number.len(), 32, "16-byte random serial");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(validity_status(&info, now), Validity::Valid);
    assert_eq!(validity_status(&info, now + 8 * 86_400), Validity::Expired);
    assert_eq!(
        validity_status(&info, now - 2 * 3600),
        Validity::NotYetValid
    );
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        certificate_info(b"garbage"),
        Err(PkiError::InvalidCertificate(_))
    ));
    assert!(certificate_info(&[]).is_err());
    let ca = CertificateAuthority::generate("CA", KeyAlgorithm::EcdsaP256).unwrap();
    let der = ca.cert_der();
    assert!(certificate_info(&der[..der.len() - 1]).is_err());
    let mut trailing = der.to_vec();
    trailing.push(0);
    assert!(certificate_info(&trailing).is_err());
}

#[test]
fn multi_valued_attributes_keep_certificate_order() {
    if !have_openssl("multi_valued_attributes_keep_certificate_order") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            "/C=US/C=CA/O=Acme/OU=Line 1/OU=Quality/OU=Night Shift/CN=press-7/CN=backup-name",
            "-addext",
            "subjectAltName=DNS:a.example,DNS:b.example,IP:10.0.0.7,email:x@y.z",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
        ],
    );
    let der = pem_to_der_chain(&read(dir.path(), "c.pem"))
        .unwrap()
        .remove(0);
    let info = certificate_info(&der).unwrap();
    assert_eq!(
        info.subject["OrganizationalUnit"],
        vals(&["Line 1", "Quality", "Night Shift"])
    );
    assert_eq!(info.subject["Country"], vals(&["US", "CA"]));
    assert_eq!(
        info.subject["CommonName"],
        vals(&["press-7", "backup-name"])
    );
    assert_eq!(info.issuer, info.subject, "self-signed");
    assert_eq!(info.san_dns, vals(&["a.example", "b.example"]));
    assert_eq!(info.san_ip, vals(&["10.0.0.7"]));
    assert_eq!(info.san_email, vals(&["x@y.z"]));
}
