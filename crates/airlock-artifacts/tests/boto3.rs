//! A real S3 client: boto3 (the library under the AWS CLI), path-style, against the service
//! with minted temporary credentials. Uploads a ~20 MB artifact (multipart: 8 MiB parts),
//! downloads it, compares, and fetches a boto3-presigned URL.
//!
//! boto3 is installed on demand with `python3 -m pip install --quiet boto3`.

mod common;

use std::process::Command;

use common::Harness;

const SCRIPT: &str = r#"
import hashlib, os, sys, urllib.request
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, akid, secret, token, workdir, verify = sys.argv[1:7]
s3 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1",
    verify=(verify if verify != "-" else None),
    aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
    # s3v4: boto3 presigns with SigV2 unless told otherwise; Airlock accepts only SigV4.
    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}),
)
payload_modes = set()
def record(request, **kwargs):
    payload_modes.add(request.headers.get("x-amz-content-sha256", b"").decode() if isinstance(request.headers.get("x-amz-content-sha256"), bytes) else str(request.headers.get("x-amz-content-sha256")))
s3.meta.events.register("before-send.s3.UploadPart", record)
s3.meta.events.register("before-send.s3.PutObject", record)
s3.create_bucket(Bucket="artifacts")
src = os.path.join(workdir, "artifact.bin")
with open(src, "wb") as f:
    block = hashlib.sha256(b"airlock").digest() * 32768  # 1 MiB
    for i in range(20):
        f.write(bytes([i]) + block[1:])
cfg = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
s3.upload_file(src, "artifacts", "components/app/1.0.0/artifact.bin", Config=cfg)
head = s3.head_object(Bucket="artifacts", Key="components/app/1.0.0/artifact.bin")
assert head["ContentLength"] == 20 * 1024 * 1024, head
assert head["ETag"].endswith('-3"'), head["ETag"]
dst = os.path.join(workdir, "downloaded.bin")
s3.download_file("artifacts", "components/app/1.0.0/artifact.bin", dst)
assert open(src, "rb").read() == open(dst, "rb").read(), "downloaded content differs"

s3.put_object(Bucket="artifacts", Key="small.txt", Body=b"hello artifacts")
assert s3.get_object(Bucket="artifacts", Key="small.txt")["Body"].read() == b"hello artifacts"
r = s3.get_object(Bucket="artifacts", Key="small.txt", Range="bytes=6-14")
assert r["Body"].read() == b"artifacts"
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="artifacts", Prefix="components/")["Contents"]]
assert keys == ["components/app/1.0.0/artifact.bin"], keys
url = s3.generate_presigned_url("get_object", Params={"Bucket": "artifacts", "Key": "small.txt"}, ExpiresIn=300)
assert "X-Amz-Security-Token" in url, url
import ssl
ctx = ssl.create_default_context(cafile=verify) if verify != "-" else None
assert urllib.request.urlopen(url, context=ctx).read() == b"hello artifacts"
try:
    s3.get_object(Bucket="artifacts", Key="secret/x")
    raise SystemExit("secret/x was readable")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
s3.delete_object(Bucket="artifacts", Key="small.txt")
print("payload modes:", sorted(payload_modes))
print("boto3 ok")
"#;

fn python_with_boto3() -> bool {
    let has = |py: &str| {
        Command::new(py)
            .args(["-c", "import boto3"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has("python3") {
        return true;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "boto3"])
        .status()
        .is_ok_and(|s| s.success());
    installed && has("python3")
}

/// Over plain HTTP botocore signs the SHA-256 of every body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_uploads_and_downloads_an_artifact() {
    let h = Harness::start().await;
    let out = run_script(&h, &format!("http://{}", h.addr), None).await;
    assert!(out.contains("boto3 ok"), "{out}");
}

/// Over TLS botocore (1.36+) sends aws-chunked bodies with an unsigned CRC trailer
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), which is what devices will do in production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_over_tls_with_chunked_trailer_uploads() {
    let (h, pem) = Harness::start_tls().await;
    let out = run_script(&h, &format!("https://{}", h.addr), Some(&pem)).await;
    println!("{out}");
    assert!(out.contains("boto3 ok"), "{out}");
}

async fn run_script(h: &Harness, endpoint: &str, ca_pem: Option<&str>) -> String {
    assert!(
        tokio::task::spawn_blocking(python_with_boto3)
            .await
            .unwrap(),
        "boto3 is not importable and `python3 -m pip install --quiet boto3` failed"
    );
    let c = h.creds("robot-1");
    let work = tempfile::tempdir().unwrap();
    let verify = match ca_pem {
        Some(pem) => {
            let p = work.path().join("ca.pem");
            std::fs::write(&p, pem).unwrap();
            p.display().to_string()
        }
        None => "-".to_owned(),
    };
    let args = vec![
        "-c".to_owned(),
        SCRIPT.to_owned(),
        endpoint.to_owned(),
        c.access_key_id.clone(),
        c.secret_access_key.clone(),
        c.session_token.clone().unwrap(),
        work.path().display().to_string(),
        verify,
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(&args)
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boto3 script failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// The AWS CLI itself (`aws s3 cp`, which multiparts above 8 MiB), when it is installed
/// (`python3 -m pip install --quiet awscli`); boto3 above covers the same library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_copies_an_artifact_up_and_down() {
    let has_cli = tokio::task::spawn_blocking(|| {
        Command::new("aws")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .await
    .unwrap();
    if !has_cli {
        eprintln!("aws CLI not installed; skipping (boto3 tests cover the client library)");
        return;
    }
    let h = Harness::start().await;
    let c = h.creds("robot-1");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("cli.bin");
    let data: Vec<u8> = (0..(20 * 1024 * 1024u32))
        .map(|i| (i % 253) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let config = work.path().join("config");
    std::fs::write(
        &config,
        "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n",
    )
    .unwrap();
    let endpoint = format!("http://{}", h.addr);
    let dst = work.path().join("back.bin");
    let run = |args: Vec<String>| {
        let c = c.clone();
        let config = config.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new("aws")
                    .args(&args)
                    .env("AWS_CONFIG_FILE", &config)
                    .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                    .env_remove("AWS_PROFILE")
                    .env("AWS_ACCESS_KEY_ID", &c.access_key_id)
                    .env("AWS_SECRET_ACCESS_KEY", &c.secret_access_key)
                    .env(
                        "AWS_SESSION_TOKEN",
                        c.session_token.as_deref().unwrap_or(""),
                    )
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let s = |x: &str| x.to_owned();
    for args in [
        vec![
            s("--endpoint-url"),
            endpoint.clone(),
            s("s3"),
            s("mb"),
            s("s3://artifacts"),
        ],
        vec![
            s("--endpoint-url"),
            endpoint.clone(),
            s("s3"),
            s("cp"),
            src.display().to_string(),
            s("s3://artifacts/cli/artifact.bin"),
        ],
        vec![
            s("--endpoint-url"),
            endpoint.clone(),
            s("s3"),
            s("cp"),
            s("s3://artifacts/cli/artifact.bin"),
            dst.display().to_string(),
        ],
    ] {
        let out = run(args.clone()).await;
        assert!(
            out.status.success(),
            "aws {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "downloaded content differs"
    );
}
