//! Domain configurations (issue #5): several server certificates on one port, chosen by SNI,
//! checked with real TLS clients; enable/disable and file rotation without dropping
//! connections; `iot:DomainName` in policies.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_mqtt::reason as rc;
use airlock_mqtt::{Packet, ProtocolVersion};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::harness::{Airlock, Device, RawMqtt, Rx, WAIT, client_tls, connect_packet};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// Accepts any server certificate, so a test can look at what the server chose for an SNI
/// the certificate is not valid for (the default for an unknown name).
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The leaf certificate (DER) the server presents for `sni` (`None`: no SNI sent), with
/// `dev`'s client certificate.
async fn leaf_for(port: u16, sni: Option<&str>, dev: &Device) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&dev.cert)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("cert pem");
    let key = PrivateKeyDer::from_pem_file(&dev.key).expect("key");
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
        .with_client_auth_cert(chain, key)
        .expect("client auth");
    cfg.enable_sni = sni.is_some();
    let name = ServerName::try_from(sni.unwrap_or("localhost").to_string()).expect("name");
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake");
    tls.get_ref().1.peer_certificates().expect("server chain")[0]
        .as_ref()
        .to_vec()
}

fn dns_names(der: &[u8]) -> Vec<String> {
    airlock_pki::certificate_info(der)
        .expect("leaf parses")
        .san_dns
}

/// mTLS as `dev` to SNI `sni`, verifying the server certificate against `trust` (a real
/// client's check), then CONNECT: the client and the CONNACK code.
async fn mqtt_via(port: u16, sni: &str, trust: &Path, dev: &Device, id: &str) -> (RawMqtt, u8) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(client_tls(Some(dev), trust, &[]))
            .connect(ServerName::try_from(sni.to_string()).expect("name"), tcp),
    )
    .await
    .expect("handshake timed out")
    .unwrap_or_else(|e| panic!("verified handshake for {sni}: {e}"));
    let mut c = RawMqtt::new(tls, V5);
    c.send(&Packet::Connect(connect_packet(V5, id, true))).await;
    let code = c.expect_connack().await.code;
    (c, code)
}

/// A test CA of its own (not Airlock's) and a `*.b.plant.test` certificate from it.
fn imported_material(dir: &Path, tag: &str) -> (std::path::PathBuf, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("Plant B test CA {tag}"));
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["*.b.plant.test".to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("b.plant.test {tag}"));
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = params.signed_by(&key, &issuer).expect("leaf");
    let ca_path = dir.join(format!("plant-b-ca-{tag}.pem"));
    std::fs::write(&ca_path, ca.pem()).expect("write CA");
    (ca_path, leaf.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_configurations_by_sni() {
    let a = Airlock::start("");
    let dev = a.device("sni-device");
    let work = a.data.path().join("domain-test");
    std::fs::create_dir_all(&work).expect("mkdir");

    // One configuration issued by Airlock, one imported from another CA (a wildcard).
    a.cli_ok(&["domain", "create", "plant-a", "--domain", "a.plant.test"]);
    let (b_ca, b_cert, b_key) = imported_material(&work, "1");
    let (cert_file, key_file) = (work.join("b.pem"), work.join("b.key"));
    std::fs::write(&cert_file, &b_cert).expect("write");
    std::fs::write(&key_file, &b_key).expect("write");
    a.cli_ok(&[
        "domain",
        "create",
        "plant-b",
        "--domain",
        "*.b.plant.test",
        "--cert",
        &cert_file.to_string_lossy(),
        "--key",
        &key_file.to_string_lossy(),
    ]);
    // Refusals carry AWS's exceptions: a certificate that does not cover the name, a taken
    // name, an unknown configuration.
    let refused = |args: &[&str], exception: &str| {
        let out = a.cli(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && err.contains(exception),
            "{args:?}: {err}"
        );
    };
    refused(
        &[
            "domain",
            "create",
            "plant-c",
            "--domain",
            "c.plant.test",
            "--cert",
            &cert_file.to_string_lossy(),
            "--key",
            &key_file.to_string_lossy(),
        ],
        "CertificateValidationException",
    );
    refused(
        &["domain", "create", "plant-a", "--domain", "a2.plant.test"],
        "ResourceAlreadyExistsException",
    );
    refused(&["domain", "enable", "nope"], "ResourceNotFoundException");
    let listed = a.cli_ok(&["domain", "list"]);
    assert!(
        listed.contains("plant-a") && listed.contains("*.b.plant.test"),
        "{listed}"
    );
    let described = a.cli_json(&["domain", "describe", "plant-b"]);
    assert_eq!(described["domainConfigurationStatus"], "ENABLED");
    assert_eq!(described["certificateSource"], "imported");

    // Each SNI gets its certificate; unknown and no SNI get the default.
    assert_eq!(
        dns_names(&leaf_for(a.port, Some("a.plant.test"), &dev).await),
        ["a.plant.test"]
    );
    assert_eq!(
        dns_names(&leaf_for(a.port, Some("x.b.plant.test"), &dev).await),
        ["*.b.plant.test"]
    );
    for sni in [Some("unknown.plant.test"), Some("y.x.b.plant.test"), None] {
        let names = dns_names(&leaf_for(a.port, sni, &dev).await);
        assert!(
            names.contains(&"localhost".to_string()),
            "{sni:?} got {names:?}"
        );
    }

    // Real clients that verify: Airlock's CA for a.plant.test, the other CA for *.b.
    let (mut on_a, code) = mqtt_via(a.port, "a.plant.test", &dev.ca, &dev, "via-a").await;
    assert_eq!(code, rc::SUCCESS);
    let (_on_b, code) = mqtt_via(a.port, "x.b.plant.test", &b_ca, &dev, "via-b").await;
    assert_eq!(code, rc::SUCCESS);
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect 127.0.0.1:{} -servername z.b.plant.test -CAfile {} -cert {} -key {} -verify_return_error </dev/null 2>&1",
                a.port,
                b_ca.display(),
                dev.cert.display(),
                dev.key.display()
            ))
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "openssl s_client:\n{text}"
        );
        assert!(text.contains("b.plant.test 1"), "openssl s_client:\n{text}");
    }

    // Disabled: the next handshake gets the default; the connection already up stays up.
    a.cli_ok(&["domain", "disable", "plant-a"]);
    let names = dns_names(&leaf_for(a.port, Some("a.plant.test"), &dev).await);
    assert!(names.contains(&"localhost".to_string()), "{names:?}");
    on_a.send(&Packet::PingReq).await;
    match on_a.recv(WAIT).await {
        Rx::Packet(Packet::PingResp) => {}
        other => panic!("the connection made before disable should still answer: {other:?}"),
    }
    a.cli_ok(&["domain", "enable", "plant-a"]);
    assert_eq!(
        dns_names(&leaf_for(a.port, Some("a.plant.test"), &dev).await),
        ["a.plant.test"]
    );

    // Rotate the imported files on disk: new handshakes get the new certificate soon.
    let (b2_ca, b2_cert, b2_key) = imported_material(&work, "2");
    let dir = a.data_dir().join("domains/plant-b");
    std::fs::write(dir.join("key.pem"), &b2_key).expect("write key");
    std::fs::write(dir.join("cert.pem"), &b2_cert).expect("write cert");
    let want = CertificateDer::from_pem_slice(b2_cert.as_bytes()).expect("pem");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if leaf_for(a.port, Some("x.b.plant.test"), &dev).await == want.as_ref() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rotated certificate not served within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_c, code) = mqtt_via(a.port, "x.b.plant.test", &b2_ca, &dev, "via-b2").await;
    assert_eq!(code, rc::SUCCESS);

    // A broken file: the last good certificate stays in service.
    std::fs::write(dir.join("cert.pem"), "not a certificate").expect("write");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        leaf_for(a.port, Some("x.b.plant.test"), &dev).await,
        want.as_ref()
    );
    assert!(a.log().contains("still serving its previous certificate"));

    // SIGHUP re-reads the files at once and does not stop the server.
    let pid = a.child.as_ref().expect("running").id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let deadline = Instant::now() + WAIT;
    while !a.log().contains("SIGHUP: domain configurations re-read") {
        assert!(Instant::now() < deadline, "no reload logged after SIGHUP");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut still, code) = mqtt_via(a.port, "x.b.plant.test", &b2_ca, &dev, "after-hup").await;
    assert_eq!(code, rc::SUCCESS);
    still.send(&Packet::PingReq).await;
    assert!(matches!(
        still.recv(WAIT).await,
        Rx::Packet(Packet::PingResp)
    ));

    a.cli_ok(&["domain", "delete", "plant-b"]);
    let names = dns_names(&leaf_for(a.port, Some("x.b.plant.test"), &dev).await);
    assert!(names.contains(&"localhost".to_string()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_name_in_policies() {
    let a = Airlock::start("");
    let doc = a.data.path().join("domain-policy.json");
    std::fs::write(
        &doc,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
            "Condition":{"StringEquals":{"iot:DomainName":"a.plant.test"}}}]}"#,
    )
    .expect("write policy");
    a.cli_ok(&[
        "policy",
        "create",
        "only-a",
        "--document",
        &doc.to_string_lossy(),
    ]);
    let dev = a.device_with_policy("domain-device", Some("only-a"));
    a.cli_ok(&["domain", "create", "plant-a", "--domain", "a.plant.test"]);
    a.cli_ok(&["domain", "create", "plant-c", "--domain", "c.plant.test"]);

    let (_ok, code) = mqtt_via(a.port, "a.plant.test", &dev.ca, &dev, "d1").await;
    assert_eq!(code, rc::SUCCESS, "CONNECT via a.plant.test");
    let (_no, code) = mqtt_via(a.port, "c.plant.test", &dev.ca, &dev, "d2").await;
    assert_eq!(code, rc::NOT_AUTHORIZED, "CONNECT via c.plant.test");
}
