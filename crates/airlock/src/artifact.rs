//! `airlock artifact put FILE s3://bucket/key --role ROLE`: an operator uploads a component
//! artifact to the artifact store. The CLI runs where the data directory is, so it mints an
//! operator session itself (with the data directory's credential key, as the admin
//! certificate's holder) for the role named, and signs an S3 PutObject with SigV4: the store
//! applies that role's permissions exactly as for a device. Progress is shown for large files.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use airlock_credentials::SessionClaims;
use airlock_server::bootstrap::DataDir;
use airlock_sigv4::{AmzDate, Credentials, HttpRequest, Signer};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rustls_pki_types::pem::PemObject;

use crate::Common;
use crate::admin::{Call, encode};
use crate::out::{Ctx, field};

/// `airlock artifact`.
#[derive(Args, Debug)]
pub struct ArtifactArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: ArtifactCommand,
}

#[derive(Subcommand, Debug)]
enum ArtifactCommand {
    /// Upload FILE to s3://BUCKET/KEY (the bucket is created if missing), with the
    /// permissions of ROLE (it needs s3:PutObject there, and s3:CreateBucket for a new bucket).
    Put {
        /// The file to upload.
        file: PathBuf,
        /// Destination, `s3://bucket/key`.
        destination: String,
        /// The role whose permissions the upload uses.
        #[arg(long)]
        role: String,
        /// The region the store verifies signatures for (`[artifacts] region`).
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
}

pub fn run(args: ArtifactArgs) -> Result<()> {
    let ctx = Ctx::connect(&args.common)?;
    match args.command {
        ArtifactCommand::Put {
            file,
            destination,
            role,
            region,
        } => put(&ctx, &args.common.data, &file, &destination, &role, &region),
    }
}

fn put(
    ctx: &Ctx,
    data: &Path,
    file: &Path,
    destination: &str,
    role: &str,
    region: &str,
) -> Result<()> {
    let (bucket, key) = destination
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .with_context(|| format!("{destination:?} is not s3://bucket/key"))?;
    let store = ctx
        .admin
        .endpoints()
        .iter()
        .find(|e| e.protocol == "artifacts")
        .context("this Airlock has no artifact store: add an [[endpoint]] with protocol = \"artifacts\" and restart it")?;
    let base = format!("https://localhost:{}", store.port);
    let role_arn = field(
        &ctx.call(Call::get(format!("/iam/roles/{}", encode(role))))
            .with_context(|| format!("looking up role {role}"))?
            .body,
        &["role", "roleArn"],
    );
    let dir = DataDir::new(data, None);
    let store = Store {
        agent: agent(&dir)?,
        base: base.clone(),
        credentials: operator_credentials(&dir, &role_arn)?,
        region: region.to_string(),
    };

    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let hash = sha256_file(file, size)?;
    // CreateBucket; a bucket that exists already is fine.
    let (status, body) = store.put(&format!("/{bucket}"), None, airlock_sigv4::EMPTY_SHA256)?;
    if status != 200 && !body.contains("BucketAlreadyOwnedByYou") {
        bail!(
            "creating bucket {bucket}: HTTP {status}: {}",
            s3_message(&body)
        );
    }
    let path = format!(
        "/{bucket}/{}",
        key.split('/').map(encode).collect::<Vec<_>>().join("/")
    );
    let (status, body) = store.put(&path, Some((file, size)), &hash)?;
    if status != 200 {
        bail!(
            "uploading to {destination}: HTTP {status}: {}",
            s3_message(&body)
        );
    }
    ctx.say(format!(
        "Uploaded {} ({size} bytes, sha256 {hash}) to {destination}",
        file.display()
    ));
    ctx.say(format!(
        "Devices with a role allowing s3:GetObject there fetch it from {base}/{bucket}/{key}"
    ));
    Ok(())
}

fn operator_credentials(dir: &DataDir, role_arn: &str) -> Result<Credentials> {
    if !dir.credentials_key().exists() {
        bail!(
            "{} is missing: start Airlock once (airlock up) to create it",
            dir.credentials_key().display()
        );
    }
    let minter =
        airlock_server::bootstrap::credential_minter(dir).context("reading the credential key")?;
    let admin = rustls_pki_types::CertificateDer::from_pem_file(dir.admin_cert())
        .with_context(|| format!("reading {}", dir.admin_cert().display()))?;
    let now = SystemTime::now();
    let claims = SessionClaims {
        role_arn: role_arn.to_string(),
        role_alias: airlock_server::OPERATOR_SESSION.to_string(),
        thing_name: None,
        thing_type_name: None,
        certificate_id: airlock_pki::certificate_id(admin.as_ref()),
        issued_at: now,
        expires_at: now + Duration::from_secs(3600),
    };
    let c = minter
        .mint(&claims, now)
        .context("minting operator credentials")?;
    Ok(Credentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.clone(),
        session_token: Some(c.session_token.clone()),
    })
}

fn agent(dir: &DataDir) -> Result<ureq::Agent> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let pem = std::fs::read(dir.ca_cert())
        .with_context(|| format!("reading {}", dir.ca_cert().display()))?;
    let roots: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(None)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .build()
        .new_agent())
}

/// The artifact store as the operator's session reaches it.
struct Store {
    agent: ureq::Agent,
    base: String,
    credentials: Credentials,
    region: String,
}

impl Store {
    /// One signed PUT; the body, if any, is streamed from the file with progress.
    fn put(
        &self,
        path: &str,
        body: Option<(&Path, u64)>,
        payload_hash: &str,
    ) -> Result<(u16, String)> {
        let (agent, base, creds, method) = (&self.agent, &self.base, &self.credentials, "PUT");
        let mut req = HttpRequest::new(method, path)
            .with_header("host", base.trim_start_matches("https://"))
            .with_header("x-amz-content-sha256", payload_hash);
        Signer::s3(&self.region)
            .sign(
                &mut req,
                creds,
                AmzDate::from_system_time(SystemTime::now()),
                payload_hash,
                None,
            )
            .map_err(|e| anyhow::anyhow!("signing the request: {e}"))?;
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        for (name, value) in &req.headers {
            if name.eq_ignore_ascii_case("host") {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = match body {
            // S3 wants an explicit Content-Length: 0 on a body-less PUT (CreateBucket).
            None => agent.run(
                builder
                    .header("content-length", "0")
                    .body(ureq::SendBody::from_owned_reader(std::io::empty()))
                    .context("building the request")?,
            ),
            Some((file, size)) => {
                let reader = Progress::new(
                    std::fs::File::open(file)
                        .with_context(|| format!("opening {}", file.display()))?,
                    size,
                    "uploading",
                );
                let request = builder
                    .header("content-length", size.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .context("building the request")?;
                agent.run(request)
            }
        }
        .with_context(|| format!("sending {method} {base}{path}"))?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        Ok((status, text))
    }
}

fn s3_message(xml: &str) -> String {
    let pick = |tag: &str| {
        xml.split_once(&format!("<{tag}>"))
            .and_then(|(_, r)| r.split_once(&format!("</{tag}>")))
            .map(|(v, _)| v.to_string())
    };
    match (pick("Code"), pick("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => xml.chars().take(200).collect(),
    }
}

fn sha256_file(file: &Path, size: u64) -> Result<String> {
    let mut f = Progress::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
        size,
        "hashing",
    );
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish()))
}

/// A reader that draws a progress line on stderr (for files over 8 MiB, on a terminal).
struct Progress<R> {
    inner: R,
    total: u64,
    done: u64,
    label: &'static str,
    shown: bool,
    last: Instant,
    started: Instant,
}

impl<R> Progress<R> {
    fn new(inner: R, total: u64, label: &'static str) -> Progress<R> {
        Progress {
            inner,
            total,
            done: 0,
            label,
            shown: total > 8 * 1024 * 1024 && std::io::stderr().is_terminal(),
            last: Instant::now(),
            started: Instant::now(),
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.shown && (n == 0 || self.last.elapsed() >= Duration::from_millis(200)) {
            self.last = Instant::now();
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let _ = write!(
                std::io::stderr(),
                "\r{} {:>3}%  {:.1}/{:.1} MiB  {:.1} MiB/s{}",
                self.label,
                self.done * 100 / self.total.max(1),
                mib(self.done),
                mib(self.total),
                mib(self.done) / secs,
                if n == 0 { "\n" } else { "" }
            );
        }
        Ok(n)
    }
}
