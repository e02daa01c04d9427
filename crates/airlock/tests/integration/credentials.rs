//! The credential provider end to end (issue #4): the real binary with a `protocol = "https"`
//! endpoint, roles and aliases made through the CLI, and `curl` with a device certificate
//! exactly as AWS documents it (seed 001). The credentials are verified with
//! airlock-credentials and the key Airlock wrote to DATA/credentials.key, so they are real.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use airlock_credentials::CredentialMinter;

use crate::harness::{Airlock, Device};

/// An account-wide grant of every role alias, and one that grants none.
const CREDS_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:AssumeRoleWithCertificate"],"Resource":"*"}]}"#;
const CONNECT_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
const ROLE_DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::artifacts/${credentials-iot:ThingName}/*"}]}"#;

/// `ACCOUNT` of the default `[identity]`.
const ACCOUNT: &str = "000000000000";

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
    /// Status line, headers and body as received.
    size: usize,
}

fn start() -> (Airlock, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"credentials\"\nprotocol = \"https\"\nbind = \"127.0.0.1:{port}\"\n"
    ));
    (a, port)
}

fn write_doc(a: &Airlock, name: &str, doc: &str) -> String {
    let path = a.data.path().join(format!("{name}.json"));
    std::fs::write(&path, doc).expect("write document");
    path.to_string_lossy().into_owned()
}

/// Seed 001's command: `curl --cert --key --cacert -H "x-amzn-iot-thingname: …" URL`
/// (plus `-i` to see the headers and `-sS` for quiet output).
fn curl(port: u16, device: &Device, thing: Option<&str>, alias: &str) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--cert"])
        .arg(&device.cert)
        .arg("--key")
        .arg(&device.key)
        .arg("--cacert")
        .arg(&device.ca);
    if let Some(t) = thing {
        cmd.args(["-H", &format!("x-amzn-iot-thingname: {t}")]);
    }
    cmd.arg(format!(
        "https://localhost:{port}/role-aliases/{alias}/credentials"
    ));
    let out = cmd.output().expect("run curl (Debian package curl)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = String::from_utf8(out.stdout).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
        size: raw.len(),
    }
}

/// AWS's error: status, `x-amzn-ErrorType` and exactly `{"message": …}`.
fn assert_refused(r: &Answer, status: u16, error_type: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers.get("x-amzn-errortype").map(String::as_str),
        Some(error_type)
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).expect("JSON error body"),
        serde_json::json!({ "message": message })
    );
    assert!(r.headers.contains_key("x-amzn-requestid"));
}

#[test]
fn curl_fetches_real_credentials_and_every_refusal_is_aws_shaped() {
    let (a, port) = start();
    a.cli_ok(&[
        "policy",
        "create",
        "creds",
        "--document",
        &write_doc(&a, "creds", CREDS_POLICY),
    ]);
    a.cli_ok(&[
        "policy",
        "create",
        "connect-only",
        "--document",
        &write_doc(&a, "connect", CONNECT_ONLY),
    ]);
    a.cli_ok(&["role", "create", "artifact-reader"]);
    a.cli_ok(&[
        "role",
        "put-policy",
        "artifact-reader",
        "--policy-name",
        "read",
        "--document",
        &write_doc(&a, "role", ROLE_DOC),
    ]);
    a.cli_ok(&[
        "role-alias",
        "create",
        "artifacts",
        "--role",
        "artifact-reader",
    ]);
    let cam = a.device_with_policy("cam-1", Some("creds"));

    // 200: exactly AWS's body, JSON, a request id, well under the CRT client's 2048 bytes.
    let before = SystemTime::now();
    let r = curl(port, &cam, Some("cam-1"), "artifacts");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert!(r.headers.contains_key("x-amzn-requestid"));
    assert!(!r.headers.contains_key("x-amzn-errortype"));
    // Printed for docs/configuration.md (`-- --nocapture`).
    eprintln!(
        "credential provider 200: {} bytes in all, body {} bytes",
        r.size,
        r.body.len()
    );
    assert!(r.size < 1024, "whole response is {} bytes", r.size);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["credentials"]);
    let c = v["credentials"].as_object().expect("credentials object");
    let mut keys: Vec<&str> = c.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accessKeyId",
            "expiration",
            "secretAccessKey",
            "sessionToken"
        ]
    );
    let s = |k: &str| c[k].as_str().expect("string field").to_string();
    let expiration = s("expiration");
    assert!(
        expiration.ends_with('Z') && expiration.len() == 20,
        "{expiration}"
    );

    // Real: Airlock's key verifies them and recovers who they were issued to.
    let key: [u8; 32] = std::fs::read(a.data_dir().join("credentials.key"))
        .expect("DATA/credentials.key")
        .try_into()
        .expect("32 bytes");
    let minter = CredentialMinter::new(key);
    let (claims, secret) = minter
        .verify(&s("accessKeyId"), &s("sessionToken"), SystemTime::now())
        .expect("the token verifies with DATA/credentials.key");
    assert_eq!(secret, s("secretAccessKey"));
    assert_eq!(
        claims.role_arn,
        format!("arn:aws:iam::{ACCOUNT}:role/artifact-reader")
    );
    assert_eq!(claims.role_alias, "artifacts");
    assert_eq!(claims.thing_name.as_deref(), Some("cam-1"));
    assert_eq!(claims.certificate_id, Airlock::certificate_id(&cam));
    let lifetime = claims
        .expires_at
        .duration_since(before)
        .expect("expires later");
    assert!(
        lifetime > Duration::from_secs(3590) && lifetime <= Duration::from_secs(3601),
        "{lifetime:?}"
    );
    // Another key does not verify them.
    assert!(
        CredentialMinter::new([7; 32])
            .verify(&s("accessKeyId"), &s("sessionToken"), SystemTime::now())
            .is_err()
    );

    // Without the header: still issued, for no thing.
    let r = curl(port, &cam, None, "artifacts");
    assert_eq!(r.status, 200, "{}", r.body);

    // A thing that exists but is not attached to this certificate.
    a.cli_ok(&["thing", "create", "someone-else"]);
    let r = curl(port, &cam, Some("someone-else"), "artifacts");
    assert_refused(
        &r,
        403,
        "AccessDeniedException",
        "Invalid thing name passed",
    );
    let r = curl(port, &cam, Some("no-such-thing"), "artifacts");
    assert_refused(
        &r,
        403,
        "AccessDeniedException",
        "Invalid thing name passed",
    );

    // A certificate whose policies do not allow iot:AssumeRoleWithCertificate.
    let plain = a.device_with_policy("plain-1", Some("connect-only"));
    let r = curl(port, &plain, Some("plain-1"), "artifacts");
    assert_refused(&r, 403, "AccessDeniedException", "Access Denied");

    // An unknown alias.
    let r = curl(port, &cam, Some("cam-1"), "ghost");
    assert_refused(
        &r,
        404,
        "ResourceNotFoundException",
        "Role alias does not exist",
    );

    // An alias whose role does not exist (`--role-arn` still works).
    a.cli_ok(&[
        "role-alias",
        "create",
        "orphan",
        "--role-arn",
        &format!("arn:aws:iam::{ACCOUNT}:role/missing"),
    ]);
    let r = curl(port, &cam, Some("cam-1"), "orphan");
    assert_refused(
        &r,
        400,
        "InvalidRequestException",
        "Unable to assume the role, or the role to assume does not exist",
    );

    // An alias asking for longer than its role's MaxSessionDuration; the CLI warns.
    a.cli_ok(&["role", "create", "short", "--max-session-duration", "3600"]);
    let out = a.cli_ok(&[
        "role-alias",
        "create",
        "long",
        "--role",
        "short",
        "--duration",
        "7200",
    ]);
    assert!(out.contains("warning"), "{out}");
    let r = curl(port, &cam, Some("cam-1"), "long");
    assert_refused(
        &r,
        400,
        "InvalidRequestException",
        "The requested CredentialDurationSeconds exceeds the MaxSessionDuration set for the role",
    );
    // ... and is issued once the role allows it, with the alias's lifetime.
    a.cli_ok(&[
        "role",
        "create",
        "long-role",
        "--max-session-duration",
        "43200",
    ]);
    a.cli_ok(&[
        "role-alias",
        "create",
        "long2",
        "--role",
        "long-role",
        "--duration",
        "7200",
    ]);
    assert_eq!(curl(port, &cam, Some("cam-1"), "long2").status, 200);

    // Counted.
    let m = a.metrics();
    assert!(
        m.contains(r#"airlock_credentials_requests_total{result="issued"} 3"#),
        "{m}"
    );
    assert!(
        m.contains(r#"airlock_credentials_requests_total{result="access_denied"} 1"#),
        "{m}"
    );
}

#[test]
fn role_commands() {
    let a = Airlock::start("");
    let out = a.cli_ok(&[
        "role",
        "create",
        "artifact-reader",
        "--max-session-duration",
        "7200",
    ]);
    assert!(
        out.contains(&format!("arn:aws:iam::{ACCOUNT}:role/artifact-reader")),
        "{out}"
    );
    let doc = write_doc(&a, "role", ROLE_DOC);
    a.cli_ok(&[
        "role",
        "put-policy",
        "artifact-reader",
        "--policy-name",
        "read",
        "--document",
        &doc,
    ]);
    let list = a.cli_ok(&["role", "list"]);
    assert!(
        list.contains("artifact-reader") && list.contains("7200"),
        "{list}"
    );
    let d = a.cli_ok(&["role", "describe", "artifact-reader"]);
    assert!(d.contains("read") && d.contains("7200 s"), "{d}");
    assert_eq!(
        a.cli_json(&[
            "role",
            "get-policy",
            "artifact-reader",
            "--policy-name",
            "read"
        ])["policyDocument"],
        ROLE_DOC
    );
    // A malformed document is refused with the element named.
    let bad = write_doc(
        &a,
        "bad",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#,
    );
    let out = a.cli(&[
        "role",
        "put-policy",
        "artifact-reader",
        "--policy-name",
        "bad",
        "--document",
        &bad,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MalformedPolicyException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // IAM: a role with inline policies cannot be deleted.
    assert!(
        !a.cli(&["role", "delete", "artifact-reader"])
            .status
            .success()
    );
    a.cli_ok(&[
        "role",
        "delete-policy",
        "artifact-reader",
        "--policy-name",
        "read",
    ]);
    a.cli_ok(&[
        "role-alias",
        "create",
        "artifacts",
        "--role",
        "artifact-reader",
    ]);
    let alias = a.cli_json(&["role-alias", "describe", "artifacts"]);
    assert_eq!(
        alias["roleAliasDescription"]["roleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/artifact-reader").as_str()
    );
    // --role with a role that does not exist says how to make it.
    let out = a.cli(&["role-alias", "create", "x", "--role", "nobody"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("airlock role create"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.cli_ok(&["role", "delete", "artifact-reader"]);
    assert!(a.cli_ok(&["role", "list"]).contains("No roles yet"));
}

/// What the AWS clients offer in the handshake: the CRT credentials provider no ALPN at all,
/// the Greengrass discovery client `x-amzn-http-ca` (research notes, section 10). Both are
/// served.
#[tokio::test]
async fn aws_client_alpn_offers_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (a, port) = start();
    a.cli_ok(&[
        "policy",
        "create",
        "creds",
        "--document",
        &write_doc(&a, "creds", CREDS_POLICY),
    ]);
    a.cli_ok(&["role", "create", "artifact-reader"]);
    a.cli_ok(&[
        "role-alias",
        "create",
        "artifacts",
        "--role",
        "artifact-reader",
    ]);
    let cam = a.device_with_policy("cam-1", Some("creds"));
    for alpn in [&[][..], &[&b"x-amzn-http-ca"[..]][..]] {
        let mut tls = crate::harness::raw_tls(port, Some(&cam), &cam.ca, alpn)
            .await
            .expect("handshake");
        // As the CRT client sends it: Host without a port, the thing header, Accept.
        tls.write_all(b"GET /role-aliases/artifacts/credentials HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nUser-Agent: aws-sdk-crt/x509-credentials-provider\r\nx-amzn-iot-thingname: cam-1\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut raw = String::new();
        tls.read_to_string(&mut raw).await.expect("response");
        assert!(raw.starts_with("HTTP/1.1 200"), "ALPN {alpn:?}: {raw}");
        assert!(raw.contains("\"sessionToken\""), "{raw}");
    }
}
