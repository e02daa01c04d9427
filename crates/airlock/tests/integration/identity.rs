//! Identity and authorization end to end (issue #3): the real binary, certificates and
//! policies made through the CLI and the admin API, devices over mutual TLS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{ProtocolVersion, QoS};
use tokio::time::Instant;

use crate::harness::{
    Airlock, Device, RawMqtt, Rx, WAIT, assert_serving, connect_packet, raw_tls, refused_at_tls,
    wait_metric,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

/// Write `document` into the test's directory and create policy `name` from it.
fn create_policy(a: &Airlock, name: &str, document: &str) {
    let path = a.data.path().join(format!("{name}.json"));
    std::fs::write(&path, document).expect("write policy");
    a.cli_ok(&[
        "policy",
        "create",
        name,
        "--document",
        &path.to_string_lossy(),
    ]);
}

/// `arn:aws:iot:{region}:{account}:` of the default `[identity]`.
const ARN: &str = "arn:aws:iot:airlock:000000000000:";

fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

fn status_of(a: &Airlock, id: &str) -> String {
    let v = a.cli_json(&["cert", "describe", id]);
    v["certificateDescription"]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no status in {v}"))
        .to_string()
}

/// A CA of the plant's own (bring your own CA), with its files in the test directory.
struct PlantCa {
    ca: airlock_pki::CertificateAuthority,
    cert: PathBuf,
    dir: PathBuf,
}

impl PlantCa {
    fn new(a: &Airlock, name: &str) -> PlantCa {
        let ca = airlock_pki::CertificateAuthority::generate(
            &format!("{name} Plant CA"),
            airlock_pki::KeyAlgorithm::EcdsaP256,
        )
        .expect("plant CA");
        let dir = a.data.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let cert = dir.join("plant-ca.pem");
        std::fs::write(&cert, ca.cert_pem()).expect("write CA");
        PlantCa { ca, cert, dir }
    }

    /// A device certificate signed by this CA, unknown to Airlock. `ca` is Airlock's root
    /// (to verify the server).
    fn device(&self, name: &str, airlock_ca: &Path) -> Device {
        let issued = self
            .ca
            .issue_client(name, airlock_pki::KeyAlgorithm::EcdsaP256, 30)
            .expect("issue");
        self.write(name, &issued.cert_pem, &issued.key_pem, airlock_ca)
    }

    /// A device certificate signed by this CA whose validity ended in 2021.
    fn expired_device(&self, name: &str, airlock_ca: &Path) -> Device {
        let ca_key = rcgen::KeyPair::from_pem(self.ca.key_pem()).expect("CA key");
        let issuer = rcgen::Issuer::from_ca_cert_pem(self.ca.cert_pem(), ca_key).expect("issuer");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("sign");
        self.write(name, &cert.pem(), &key.serialize_pem(), airlock_ca)
    }

    fn write(&self, name: &str, cert_pem: &str, key_pem: &str, airlock_ca: &Path) -> Device {
        let cert = self.dir.join(format!("{name}.cert.pem"));
        let key = self.dir.join(format!("{name}.private.key"));
        std::fs::write(&cert, cert_pem).expect("cert");
        std::fs::write(&key, key_pem).expect("key");
        Device {
            name: name.to_string(),
            cert,
            key,
            ca: airlock_ca.to_path_buf(),
        }
    }

    /// A verification certificate for `code` (CN = the registration code, signed by this CA).
    fn verification_cert(&self, code: &str) -> PathBuf {
        let v = self
            .ca
            .issue_client(code, airlock_pki::KeyAlgorithm::EcdsaP256, 1)
            .expect("verification certificate");
        let path = self.dir.join("verification.pem");
        std::fs::write(&path, v.cert_pem).expect("write");
        path
    }
}

/// A certificate from a CA Airlock has never seen fails the handshake as `unknown_issuer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_an_unknown_ca_is_refused() {
    let mut a = Airlock::start("");
    let dev = a.device("known");
    let plant = PlantCa::new(&a, "unknown");
    let stranger = plant.device("stranger", &dev.ca);
    let seen = refused_at_tls(&a, Some(&stranger), &dev.ca).await;
    eprintln!("{seen}");
    let series = r#"airlock_tls_handshake_failures_total{reason="unknown_issuer"}"#;
    assert!(
        wait_metric(&a, series, 1.0, WAIT).await >= 1.0,
        "{}",
        a.log()
    );
    assert_serving(&mut a, &dev).await;
}

/// Just-in-time registration: an unknown certificate of a registered CA with
/// auto-registration becomes PENDING_ACTIVATION, its connect fails, AWS's event is published
/// on `$aws/events/certificates/registered/{caCertificateId}`; once an operator activates it
/// (and attaches a policy) it connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_registration_makes_an_unknown_certificate_pending() {
    let a = Airlock::start("");
    let watcher = a.device("watcher");
    let plant = PlantCa::new(&a, "jitr");
    let code = a.cli_json(&["ca", "registration-code"])["registrationCode"]
        .as_str()
        .expect("registrationCode")
        .to_string();
    let verification = plant.verification_cert(&code);
    let registered = a.cli_json(&[
        "ca",
        "register",
        "--ca-cert",
        &plant.cert.to_string_lossy(),
        "--verification-cert",
        &verification.to_string_lossy(),
        "--auto-register",
    ]);
    let ca_id = registered["certificateId"]
        .as_str()
        .expect("certificateId")
        .to_string();
    assert_eq!(ca_id, plant.ca.certificate_id());

    let mut events = RawMqtt::client(&a, &watcher, V5, "watcher").await;
    events
        .subscribe(1, "$aws/events/certificates/registered/+", QoS::AtLeastOnce)
        .await;

    let dev = plant.device("jitr-device", &watcher.ca);
    let id = Airlock::certificate_id(&dev);
    let seen = refused_at_tls(&a, Some(&dev), &watcher.ca).await;
    eprintln!("first connect: {seen}");

    let event = events.expect_publish_acked().await;
    assert_eq!(
        event.topic,
        format!("$aws/events/certificates/registered/{ca_id}")
    );
    let body: serde_json::Value = serde_json::from_slice(&event.payload).expect("JSON event");
    assert_eq!(body["certificateId"], id.as_str(), "{body}");
    assert_eq!(body["caCertificateId"], ca_id.as_str(), "{body}");
    assert_eq!(body["certificateStatus"], "PENDING_ACTIVATION", "{body}");
    assert_eq!(body["awsAccountId"], "000000000000", "{body}");
    assert!(body["timestamp"].as_u64().is_some(), "{body}");
    assert!(
        body["certificateRegistrationTimestamp"].as_u64().is_some(),
        "{body}"
    );
    assert_eq!(status_of(&a, &id), "PENDING_ACTIVATION");

    // Still refused until activated, and no second event.
    refused_at_tls(&a, Some(&dev), &watcher.ca).await;
    events.expect_nothing(Duration::from_millis(500)).await;

    a.cli_ok(&["cert", "activate", &id]);
    a.cli_ok(&["policy", "attach", crate::harness::ALLOW_ALL, "--cert", &id]);
    let mut c = RawMqtt::client(&a, &dev, V5, "jitr-device").await;
    c.disconnect().await;
}

/// Revoked and inactive certificates fail the handshake; an expired one too, with the reason
/// in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_inactive_and_expired_certificates_are_refused() {
    let mut a = Airlock::start("");
    let good = a.device("good");
    let revoked = a.device("to-revoke");
    let inactive = a.device("to-deactivate");
    // Control: both connect before their status changes.
    for d in [&revoked, &inactive] {
        RawMqtt::client(&a, d, V5, &d.name).await.disconnect().await;
    }
    a.cli_ok(&["cert", "revoke", &Airlock::certificate_id(&revoked)]);
    a.cli_ok(&["cert", "deactivate", &Airlock::certificate_id(&inactive)]);
    let seen = refused_at_tls(&a, Some(&revoked), &good.ca).await;
    eprintln!("revoked: {seen}");
    refused_at_tls(&a, Some(&inactive), &good.ca).await;

    // Expired: a plant CA's certificate, registered (with its CA, without verification).
    let plant = PlantCa::new(&a, "expired");
    a.cli_ok(&[
        "ca",
        "register",
        "--ca-cert",
        &plant.cert.to_string_lossy(),
        "--no-verify",
    ]);
    let old = plant.expired_device("old", &good.ca);
    a.cli_ok(&[
        "cert",
        "register",
        "--cert",
        &old.cert.to_string_lossy(),
        "--ca-cert",
        &plant.cert.to_string_lossy(),
    ]);
    a.cli_ok(&[
        "policy",
        "attach",
        crate::harness::ALLOW_ALL,
        "--cert",
        &Airlock::certificate_id(&old),
    ]);
    refused_at_tls(&a, Some(&old), &good.ca).await;

    for reason in [
        "certificate_revoked",
        "certificate_inactive",
        "certificate_expired",
    ] {
        let series = format!("airlock_tls_handshake_failures_total{{reason=\"{reason}\"}}");
        let v = wait_metric(&a, &series, 1.0, WAIT).await;
        assert!(v >= 1.0, "{series} = {v}; log:\n{}", a.log());
    }
    // Reactivated, the inactive one connects again; a revoked one cannot be reactivated.
    a.cli_ok(&["cert", "activate", &Airlock::certificate_id(&inactive)]);
    RawMqtt::client(&a, &inactive, V5, "to-deactivate")
        .await
        .disconnect()
        .await;
    let again = a.cli(&["cert", "activate", &Airlock::certificate_id(&revoked)]);
    assert!(
        !again.status.success(),
        "a revoked certificate was reactivated"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("CertificateStateException"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_serving(&mut a, &good).await;
}

/// Revoking the certificate of a connected device disconnects it within a second (v5:
/// DISCONNECT 0x87 Not authorized; v3.1.1: the connection closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_connected_device_disconnects_it_within_a_second() {
    let a = Airlock::start("");
    let v5 = a.device("live-v5");
    let v3 = a.device("live-v3");
    let mut c5 = RawMqtt::client(&a, &v5, V5, "live-v5").await;
    let mut c3 = RawMqtt::client(&a, &v3, V311, "live-v3").await;
    a.cli_ok(&["cert", "revoke", &Airlock::certificate_id(&v5)]);
    let revoked_at = Instant::now();
    match c5.recv(Duration::from_secs(1)).await {
        Rx::Packet(airlock_mqtt::Packet::Disconnect(d)) => {
            assert_eq!(d.reason, rc::NOT_AUTHORIZED, "{d:?}")
        }
        other => {
            panic!("v5 client: expected DISCONNECT 0x87 within 1 s of the revoke, got {other:?}")
        }
    }
    eprintln!(
        "v5 client disconnected {:?} after the CLI returned",
        revoked_at.elapsed()
    );
    a.cli_ok(&["cert", "deactivate", &Airlock::certificate_id(&v3)]);
    match c3.recv(Duration::from_secs(1)).await {
        Rx::Closed => {}
        other => panic!("v3.1.1 client: expected the connection closed within 1 s, got {other:?}"),
    }
}

/// A policy allowing only `client/${iot:Connection.Thing.ThingName}`: the attached thing's
/// name as client id connects, any other client id is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thing_name_policy_refuses_other_client_ids() {
    let a = Airlock::start("");
    create_policy(
        &a,
        "thing-only",
        &policy(&format!(
            r#"{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}client/${{iot:Connection.Thing.ThingName}}"}}"#
        )),
    );
    let dev = a.device_with_policy("plc-1", Some("thing-only"));
    RawMqtt::client(&a, &dev, V5, "plc-1")
        .await
        .disconnect()
        .await;
    let (_, ack) = RawMqtt::connect(&a, &dev, connect_packet(V5, "plc-2", true)).await;
    assert_eq!(ack.code, rc::NOT_AUTHORIZED, "{ack:?}");
    let (_, ack) = RawMqtt::connect(&a, &dev, connect_packet(V311, "plc-2", true)).await;
    assert_eq!(ack.code, 5, "v3.1.1 CONNACK 5 (not authorized): {ack:?}");
    // A certificate without any policy may not connect at all (default deny).
    let bare = a.device_with_policy("bare", None);
    let (_, ack) = RawMqtt::connect(&a, &bare, connect_packet(V5, "bare", true)).await;
    assert_eq!(ack.code, rc::NOT_AUTHORIZED, "{ack:?}");
}

/// Per-thing topics: publish and subscribe outside the thing's prefix are refused the MQTT
/// way (v5 PUBACK 0x87, SUBACK 0x87; v3.1.1 SUBACK 0x80), and inside it work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_publish_and_subscribe_get_the_protocol_reaction() {
    let a = Airlock::start("");
    let t = "${iot:Connection.Thing.ThingName}";
    create_policy(
        &a,
        "per-thing",
        &policy(&format!(
            r#"{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}client/{t}"}},
               {{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"{ARN}topic/things/{t}/*"}},
               {{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}topicfilter/things/{t}/*"}},
               {{"Effect":"Deny","Action":"iot:Publish","Resource":"{ARN}topic/things/{t}/secret"}}"#
        )),
    );
    let dev = a.device_with_policy("meter-1", Some("per-thing"));
    let mut c = RawMqtt::client(&a, &dev, V5, "meter-1").await;
    c.subscribe(1, "things/meter-1/#", QoS::AtLeastOnce).await;
    c.publish("things/meter-1/temp", b"21", QoS::AtLeastOnce, 2)
        .await;
    assert_eq!(&c.expect_publish_acked().await.payload[..], b"21");

    for (pid, topic) in [(3, "things/meter-2/temp"), (4, "things/meter-1/secret")] {
        c.send(&crate::harness::publish_packet(
            topic,
            b"x",
            QoS::AtLeastOnce,
            pid,
            false,
        ))
        .await;
        match c.expect().await {
            airlock_mqtt::Packet::PubAck(ack) => {
                assert_eq!(
                    (ack.packet_id, ack.reason),
                    (pid, rc::NOT_AUTHORIZED),
                    "{topic}"
                )
            }
            other => panic!("expected PUBACK 0x87 for {topic}, got {other:?}"),
        }
    }
    c.expect_nothing(Duration::from_millis(300)).await;
    let reasons = c
        .subscribe_with(
            5,
            vec![
                (
                    "things/meter-2/#".into(),
                    crate::harness::sub_options(QoS::AtLeastOnce),
                ),
                (
                    "things/meter-1/x".into(),
                    crate::harness::sub_options(QoS::AtLeastOnce),
                ),
            ],
            Default::default(),
        )
        .await;
    assert_eq!(reasons, vec![rc::NOT_AUTHORIZED, 1]);
    c.disconnect().await;

    let mut c3 = RawMqtt::client(&a, &dev, V311, "meter-1").await;
    let reasons = c3
        .subscribe_with(
            1,
            vec![(
                "things/meter-2/#".into(),
                crate::harness::sub_options(QoS::AtLeastOnce),
            )],
            Default::default(),
        )
        .await;
    assert_eq!(reasons, vec![0x80], "v3.1.1 SUBACK failure");
}

/// `aws:SourceVpce` is the Airlock endpoint id: a connect allowed only through `vpce-a`
/// succeeds there and is refused through `vpce-b`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_vpce_condition_follows_the_endpoint() {
    let port_a = free_port();
    let port_b = free_port();
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"vpce-a\"\nbind = \"127.0.0.1:{port_a}\"\n\n[[endpoint]]\nid = \"vpce-b\"\nbind = \"127.0.0.1:{port_b}\"\n"
    ));
    create_policy(
        &a,
        "only-vpce-a",
        &policy(&format!(
            r#"{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}client/*",
                 "Condition":{{"StringEquals":{{"aws:SourceVpce":"vpce-a"}}}}}}"#
        )),
    );
    let dev = a.device_with_policy("vpce-dev", Some("only-vpce-a"));
    let connect_via = |port: u16| {
        let dev = dev.clone();
        async move {
            let s = raw_tls(port, Some(&dev), &dev.ca, &[]).await.expect("TLS");
            let mut c = RawMqtt::new(s, V5);
            c.send(&airlock_mqtt::Packet::Connect(connect_packet(
                V5, "vpce-dev", true,
            )))
            .await;
            c.expect_connack().await.code
        }
    };
    assert_eq!(connect_via(port_a).await, rc::SUCCESS);
    assert_eq!(connect_via(port_b).await, rc::NOT_AUTHORIZED);
    assert_eq!(connect_via(a.port).await, rc::NOT_AUTHORIZED);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A client id of `+` or `#` is refused by default. With AWS compatibility on it connects,
/// and its `${iot:ClientId}` subscribe grant then covers `my/+/topic` (AWS's warning), but
/// the Receive check still keeps other clients' messages away from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_client_ids_are_refused_or_contained() {
    let doc = policy(&format!(
        r#"{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}client/*"}},
           {{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}topicfilter/my/${{iot:ClientId}}/topic"}},
           {{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"{ARN}topic/my/${{iot:ClientId}}/topic"}}"#
    ));
    let strict = Airlock::start("");
    create_policy(&strict, "own-topic", &doc);
    let dev = strict.device_with_policy("wild", Some("own-topic"));
    for id in ["+", "#", "a/+"] {
        let (_, ack) = RawMqtt::connect(&strict, &dev, connect_packet(V5, id, true)).await;
        assert_eq!(ack.code, rc::NOT_AUTHORIZED, "client id {id:?}: {ack:?}");
    }
    drop(strict);

    let compat = Airlock::start("[identity]\naws_compatible_client_ids = true\n");
    create_policy(&compat, "own-topic", &doc);
    let wild = compat.device_with_policy("wild", Some("own-topic"));
    let other = compat.device_with_policy("other", Some("own-topic"));
    let mut w = RawMqtt::client(&compat, &wild, V5, "+").await;
    // AWS allows this subscription: the filter is literally the resource `my/+/topic`.
    w.subscribe(1, "my/+/topic", QoS::AtLeastOnce).await;
    let mut o = RawMqtt::client(&compat, &other, V5, "other").await;
    o.subscribe(1, "my/other/topic", QoS::AtLeastOnce).await;
    o.publish("my/other/topic", b"private", QoS::AtLeastOnce, 2)
        .await;
    // Control: the message exists and reached its owner...
    assert_eq!(&o.expect_publish_acked().await.payload[..], b"private");
    // ...but not the `+` client: Receive on topic/my/other/topic is not `topic/my/+/topic`.
    w.expect_nothing(Duration::from_millis(700)).await;
}

/// `airlock device onboard` from a fresh data directory, then the package's own script: it
/// connects as the thing, subscribes, publishes and receives its own message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_onboard_package_passes_its_own_pubsub_check() {
    if !crate::harness::have_mosquitto_clients() {
        panic!("mosquitto clients are required (scripts/test installs them)");
    }
    let a = Airlock::start("");
    let out = a.data.path().join("pkg");
    let printed = a.cli_ok(&[
        "device",
        "onboard",
        "boiler-7",
        "--out",
        &out.to_string_lossy(),
    ]);
    eprintln!("{printed}");
    let script = out.join("pubsub-check.sh");
    let run = std::process::Command::new("bash")
        .arg(&script)
        .current_dir("/")
        .output()
        .expect("run pubsub-check.sh");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "pubsub-check.sh failed ({}):\n{stdout}\n{}\nserver log:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr),
        a.log()
    );
    assert!(stdout.contains("OK"), "{stdout}");
    // The starter policy is really in force: another client id is refused.
    let dev = Device {
        name: "boiler-7".into(),
        cert: out.join("boiler-7.cert.pem"),
        key: out.join("boiler-7.private.key"),
        ca: out.join("root-ca.pem"),
    };
    let (_, ack) = RawMqtt::connect(&a, &dev, connect_packet(V5, "boiler-8", true)).await;
    assert_eq!(ack.code, rc::NOT_AUTHORIZED, "{ack:?}");
}

/// The admin API answers only the admin certificate: a device certificate of the same CA is
/// refused in the handshake; the admin certificate gets the OpenAPI document; the CLI prints
/// AWS's error type for a missing resource and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_accepts_only_the_admin_certificate() {
    let a = Airlock::start("");
    let dev = a.device("not-admin");
    let endpoints: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.data_dir().join("endpoints.json")).expect("endpoints.json"),
    )
    .expect("JSON");
    let admin_port = endpoints["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["id"] == "admin"))
        .and_then(|e| e["port"].as_u64())
        .expect("admin endpoint in endpoints.json") as u16;
    let pki = a.data_dir().join("pki");
    let admin = Device {
        name: "admin".into(),
        cert: pki.join("admin.cert.pem"),
        key: pki.join("admin.private.key"),
        ca: pki.join("root-ca.pem"),
    };
    let get = |who: Device| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = raw_tls(admin_port, Some(&who), &who.ca, &[b"http/1.1"]).await?;
        s.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&body).into_owned())
    };
    let answer = get(admin).await.expect("admin request");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"openapi\""), "{answer}");
    assert!(answer.contains("CreateKeysAndCertificate"), "{answer}");
    match get(dev).await {
        Ok(answer) => assert!(
            !answer.starts_with("HTTP/1.1 200"),
            "a device certificate was served by the admin API: {answer}"
        ),
        Err(e) => eprintln!("device certificate refused by the admin API: {e}"),
    }
    let out = a.cli(&["thing", "describe", "no-such-thing"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ResourceNotFoundException"), "{err}");
}

/// `airlock cert sign`: the key never leaves the device. An OpenSSL-made key and CSR (with
/// extensions of its own) is signed by Airlock's template; the device connects with its own key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_csr_is_signed_and_its_own_key_connects() {
    let a = Airlock::start("");
    let dir = a.data.path().join("csr-device");
    std::fs::create_dir_all(&dir).expect("dir");
    let key = dir.join("csr-device.private.key");
    let csr = dir.join("csr-device.csr");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-subj",
            "/CN=csr-device/O=Plant 7",
            "-addext",
            "subjectAltName=DNS:csr-device.plant",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    a.cli_ok(&[
        "cert",
        "sign",
        "--csr",
        &csr.to_string_lossy(),
        "--thing",
        "csr-device",
        "--policy",
        crate::harness::ALLOW_ALL,
        "--out",
        &dir.to_string_lossy(),
    ]);
    let dev = Device {
        name: "csr-device".into(),
        cert: dir.join("csr-device.cert.pem"),
        key,
        ca: a.data_dir().join("pki").join("root-ca.pem"),
    };
    assert_eq!(
        status_of(&a, &Airlock::certificate_id(&dev)),
        "ACTIVE",
        "the signed certificate is registered"
    );
    let mut c = RawMqtt::client(&a, &dev, V5, "csr-device").await;
    c.subscribe(1, "csr/#", QoS::AtLeastOnce).await;
    c.publish("csr/t", b"signed", QoS::AtLeastOnce, 2).await;
    assert_eq!(&c.expect_publish_acked().await.payload[..], b"signed");
}

/// A policy attached to a parent thing group reaches a thing in a child group (client id =
/// thing name, as AWS requires for group policies); removed from the group, the thing loses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_policies_are_inherited_down_the_hierarchy() {
    let a = Airlock::start("");
    create_policy(
        &a,
        "plant-connect",
        &policy(&format!(
            r#"{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}client/*"}}"#
        )),
    );
    a.cli_ok(&["group", "create", "plant"]);
    a.cli_ok(&["group", "create", "line-3", "--parent", "plant"]);
    a.cli_ok(&["policy", "attach", "plant-connect", "--group", "plant"]);
    let dev = a.device_with_policy("press-9", None);
    // Not in a group yet: no policy at all.
    let (_, ack) = RawMqtt::connect(&a, &dev, connect_packet(V5, "press-9", true)).await;
    assert_eq!(ack.code, rc::NOT_AUTHORIZED);
    a.cli_ok(&["group", "add-thing", "line-3", "press-9"]);
    RawMqtt::client(&a, &dev, V5, "press-9")
        .await
        .disconnect()
        .await;
    // Group policies apply only when the client id is the thing name.
    let (_, ack) = RawMqtt::connect(&a, &dev, connect_packet(V5, "press-9b", true)).await;
    assert_eq!(ack.code, rc::NOT_AUTHORIZED);
    a.cli_ok(&["group", "remove-thing", "line-3", "press-9"]);
    let (_, ack) = RawMqtt::connect(&a, &dev, connect_packet(V5, "press-9", true)).await;
    assert_eq!(ack.code, rc::NOT_AUTHORIZED);
}
