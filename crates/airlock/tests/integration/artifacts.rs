//! Certificate → temporary credentials → the artifact store, end to end (issue #4): curl
//! fetches credentials from the real binary's credential provider, and the AWS CLI uploads and
//! downloads an artifact with them over TLS; the role's permissions and the certificate's
//! status are enforced on every request.

use std::path::Path;
use std::process::Command;

use crate::harness::{Airlock, Device};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn write(a: &Airlock, name: &str, text: &str) -> String {
    let p = a.data.path().join(name);
    std::fs::write(&p, text).expect("write");
    p.to_string_lossy().into_owned()
}

/// Seed 001's curl command; the parsed `credentials` object.
fn fetch_credentials(port: u16, dev: &Device, thing: &str, alias: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "--cert"])
        .arg(&dev.cert)
        .arg("--key")
        .arg(&dev.key)
        .arg("--cacert")
        .arg(&dev.ca)
        .args(["-H", &format!("x-amzn-iot-thingname: {thing}")])
        .arg(format!(
            "https://localhost:{port}/role-aliases/{alias}/credentials"
        ))
        .output()
        .expect("curl (Debian package curl)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["credentials"].clone()
}

/// `aws ARGS` with the temporary credentials, path-style, trusting Airlock's root CA.
fn aws(
    a: &Airlock,
    creds: &serde_json::Value,
    port: u16,
    ca: &Path,
    args: &[&str],
) -> (bool, String) {
    let config = write(
        a,
        "aws-config",
        "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n",
    );
    let out = Command::new("aws")
        .args(args)
        .args([
            "--endpoint-url",
            &format!("https://localhost:{port}"),
            "--ca-bundle",
        ])
        .arg(ca)
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env(
            "AWS_ACCESS_KEY_ID",
            creds["accessKeyId"].as_str().expect("accessKeyId"),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            creds["secretAccessKey"].as_str().expect("secret"),
        )
        .env(
            "AWS_SESSION_TOKEN",
            creds["sessionToken"].as_str().expect("token"),
        )
        .output()
        .expect("aws (pip install awscli; scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn aws_cli_moves_an_artifact_with_credentials_from_the_certificate() {
    let (https, store) = (free_port(), free_port());
    let a = Airlock::start(&format!(
        "[[endpoint]]\nid = \"credentials\"\nprotocol = \"https\"\nbind = \"127.0.0.1:{https}\"\n\n\
         [[endpoint]]\nid = \"artifacts\"\nprotocol = \"artifacts\"\nbind = \"127.0.0.1:{store}\"\n"
    ));
    a.cli_ok(&["role", "create", "artifact-access"]);
    let role_doc = write(
        &a,
        "role.json",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["s3:CreateBucket","s3:ListBucket"],"Resource":"arn:aws:s3:::components"},
            {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:AbortMultipartUpload"],
             "Resource":"arn:aws:s3:::components/${credentials-iot:ThingName}/*"}]}"#,
    );
    a.cli_ok(&[
        "role",
        "put-policy",
        "artifact-access",
        "--policy-name",
        "per-thing",
        "--document",
        &role_doc,
    ]);
    a.cli_ok(&[
        "role-alias",
        "create",
        "gateway-artifacts",
        "--role",
        "artifact-access",
    ]);
    let device_doc = write(
        &a,
        "assume.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate",
            "Resource":"arn:aws:iot:airlock:000000000000:rolealias/gateway-artifacts"}]}"#,
    );
    a.cli_ok(&[
        "policy",
        "create",
        "assume-artifacts",
        "--document",
        &device_doc,
    ]);
    let gw = a.device_with_policy("gw-1", Some("assume-artifacts"));
    let creds = fetch_credentials(https, &gw, "gw-1", "gateway-artifacts");
    let ca = gw.ca.clone();

    // An artifact large enough for the CLI to use multipart (its threshold is 8 MiB).
    let artifact = a.data.path().join("component.tar");
    let bytes: Vec<u8> = (0..(12 * 1024 * 1024u32))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&artifact, &bytes).expect("artifact");
    let cp = |from: &str, to: &str| aws(&a, &creds, store, &ca, &["s3", "cp", from, to]);
    let (ok, out) = aws(&a, &creds, store, &ca, &["s3", "mb", "s3://components"]);
    assert!(ok, "{out}");
    let (ok, out) = cp(
        &artifact.to_string_lossy(),
        "s3://components/gw-1/component.tar",
    );
    assert!(ok, "{out}");
    let back = a.data.path().join("back.tar");
    let (ok, out) = cp(
        "s3://components/gw-1/component.tar",
        &back.to_string_lossy(),
    );
    assert!(ok, "{out}");
    assert!(
        std::fs::read(&back).expect("downloaded") == bytes,
        "downloaded artifact differs"
    );

    // The operator publishes a component with `airlock artifact put` under a role of its
    // own; the device fetches it with its credentials.
    a.cli_ok(&["role", "create", "publisher"]);
    let publish_doc = write(
        &a,
        "publisher.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:CreateBucket","s3:PutObject"],
            "Resource":["arn:aws:s3:::components","arn:aws:s3:::components/*"]}]}"#,
    );
    a.cli_ok(&[
        "role",
        "put-policy",
        "publisher",
        "--policy-name",
        "publish",
        "--document",
        &publish_doc,
    ]);
    let firmware = a.data.path().join("firmware.bin");
    std::fs::write(&firmware, &bytes[..3 * 1024 * 1024]).expect("firmware");
    let printed = a.cli_ok(&[
        "artifact",
        "put",
        &firmware.to_string_lossy(),
        "s3://components/gw-1/firmware.bin",
        "--role",
        "publisher",
    ]);
    assert!(printed.contains("Uploaded"), "{printed}");
    let fetched = a.data.path().join("fetched.bin");
    let (ok, out) = cp(
        "s3://components/gw-1/firmware.bin",
        &fetched.to_string_lossy(),
    );
    assert!(ok, "{out}");
    assert!(
        std::fs::read(&fetched).expect("fetched") == bytes[..3 * 1024 * 1024],
        "fetched firmware differs"
    );
    // The operator's role decides: another bucket is refused.
    let refused = a.cli(&[
        "artifact",
        "put",
        &firmware.to_string_lossy(),
        "s3://elsewhere/x.bin",
        "--role",
        "publisher",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("AccessDenied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Outside the role's per-thing prefix: AccessDenied.
    let (ok, out) = cp(
        &artifact.to_string_lossy(),
        "s3://components/gw-2/component.tar",
    );
    assert!(!ok && out.contains("AccessDenied"), "{out}");
    // GetObject (not `s3 cp`, whose HEAD request carries no error body) shows S3's error code.
    let get = |creds: &serde_json::Value| {
        let out = a.data.path().join("get.out");
        aws(
            &a,
            creds,
            store,
            &ca,
            &[
                "s3api",
                "get-object",
                "--bucket",
                "components",
                "--key",
                "gw-1/component.tar",
                &out.to_string_lossy(),
            ],
        )
    };
    // A tampered secret: SignatureDoesNotMatch.
    let mut forged = creds.clone();
    forged["secretAccessKey"] = serde_json::json!("x".repeat(40));
    let (ok, out) = get(&forged);
    assert!(!ok && out.contains("SignatureDoesNotMatch"), "{out}");
    // Revoking the certificate cuts off credentials already handed out.
    let (ok, out) = get(&creds);
    assert!(ok, "{out}");
    a.cli_ok(&["cert", "revoke", &Airlock::certificate_id(&gw)]);
    let (ok, out) = get(&creds);
    assert!(!ok && out.contains("AccessDenied"), "{out}");
}
