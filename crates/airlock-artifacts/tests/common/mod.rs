//! Test harness: the artifact service on 127.0.0.1:0 over plain HTTP/1.1, a directory the
//! tests can revoke certificates in, an adjustable clock, minted credentials, and a small
//! SigV4-signing HTTP client built on `airlock-sigv4`'s `Signer`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use airlock_artifacts::{ArtifactConfig, ArtifactService, Refusal, SessionDirectory};
use airlock_credentials::{CredentialMinter, RolePolicy, SessionClaims};
use airlock_sigv4::{AmzDate, Credentials, HttpRequest, Signer, sha256_hex};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

pub const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:CreateBucket", "s3:ListBucket", "s3:ListAllMyBuckets"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::artifacts/*"]},
    {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::artifacts/secret/*"},
    {"Effect": "Deny", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::artifacts",
     "Condition": {"StringLike": {"s3:prefix": "secret/*"}}},
    {"Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::private/${credentials-iot:ThingName}/*"}
  ]
}"#;

/// The registry stand-in: certificates can be revoked; every session gets [`POLICY`].
pub struct TestDirectory {
    pub revoked: Mutex<HashSet<String>>,
    pub policy: RolePolicy,
}

impl SessionDirectory for TestDirectory {
    fn check(&self, claims: &SessionClaims) -> Result<Vec<RolePolicy>, Refusal> {
        let revoked = self
            .revoked
            .lock()
            .map_err(|_| Refusal::Other("poisoned".into()))?;
        if revoked.contains(&claims.certificate_id) {
            return Err(Refusal::CertificateNotActive {
                certificate_id: claims.certificate_id.clone(),
                status: "REVOKED".into(),
            });
        }
        Ok(vec![self.policy.clone()])
    }
}

pub struct Harness {
    pub addr: SocketAddr,
    pub service: ArtifactService,
    pub minter: Arc<CredentialMinter>,
    pub directory: Arc<TestDirectory>,
    /// Seconds added to the real time by the service's clock.
    pub clock_offset: Arc<AtomicI64>,
    pub root: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|c| c).await
    }

    pub async fn start_with(tweak: impl FnOnce(ArtifactConfig) -> ArtifactConfig) -> Harness {
        Self::start_inner(tweak, None).await
    }

    /// Served over TLS with a fresh self-signed certificate for 127.0.0.1; returns the
    /// harness and the certificate's PEM (the client's trust anchor).
    pub async fn start_tls() -> (Harness, String) {
        let ck = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let pem = ck.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        let h =
            Self::start_inner(|c| c, Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await;
        (h, pem)
    }

    async fn start_inner(
        tweak: impl FnOnce(ArtifactConfig) -> ArtifactConfig,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("artifacts");
        let minter = Arc::new(CredentialMinter::new([42; 32]));
        let directory = Arc::new(TestDirectory {
            revoked: Mutex::new(HashSet::new()),
            policy: RolePolicy::parse(POLICY).unwrap(),
        });
        let offset = Arc::new(AtomicI64::new(0));
        let o = offset.clone();
        let clock = Arc::new(move || {
            let off = o.load(Ordering::SeqCst);
            if off >= 0 {
                SystemTime::now() + Duration::from_secs(off as u64)
            } else {
                SystemTime::now() - Duration::from_secs(off.unsigned_abs())
            }
        });
        let service = ArtifactService::open_with_clock(
            tweak(ArtifactConfig::new(&root)),
            minter.clone(),
            directory.clone(),
            clock,
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = service.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let svc = served.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                    }
                });
            }
        });
        Harness {
            addr,
            service,
            minter,
            directory,
            clock_offset: offset,
            root,
            _dir: dir,
        }
    }

    /// Credentials for `thing`, minted now, valid for an hour.
    pub fn creds(&self, thing: &str) -> Credentials {
        self.creds_full(thing, "cert-1", SystemTime::now(), 3600)
    }

    pub fn creds_full(
        &self,
        thing: &str,
        cert: &str,
        issued: SystemTime,
        secs: u64,
    ) -> Credentials {
        let claims = SessionClaims {
            role_arn: "arn:aws:iam::123456789012:role/artifacts".into(),
            role_alias: "artifacts-alias".into(),
            thing_name: Some(thing.into()),
            thing_type_name: None,
            certificate_id: cert.into(),
            issued_at: issued,
            expires_at: issued + Duration::from_secs(secs),
        };
        let t = self.minter.mint(&claims, issued).unwrap();
        Credentials {
            access_key_id: t.access_key_id,
            secret_access_key: t.secret_access_key,
            session_token: Some(t.session_token),
        }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A header-signed request carrying `body`, its SHA-256 signed.
    pub fn signed(
        &self,
        creds: &Credentials,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> HttpRequest {
        self.signed_with(creds, method, target, &sha256_hex(body), &[])
    }

    pub fn signed_with(
        &self,
        creds: &Credentials,
        method: &str,
        target: &str,
        payload_hash: &str,
        extra: &[(&str, &str)],
    ) -> HttpRequest {
        let mut req = HttpRequest::new(method, target)
            .with_header("host", &self.host())
            .with_header("x-amz-content-sha256", payload_hash);
        for (n, v) in extra {
            req = req.with_header(n, v);
        }
        Signer::s3("us-east-1")
            .sign(
                &mut req,
                creds,
                AmzDate::from_system_time(SystemTime::now()),
                payload_hash,
                None,
            )
            .unwrap();
        req
    }

    /// Sends `req` with `body` on a fresh connection.
    pub async fn send_body<B>(
        &self,
        req: &HttpRequest,
        body: B,
    ) -> http::Response<hyper::body::Incoming>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let target = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        let mut b = http::Request::builder()
            .method(req.method.as_str())
            .uri(target);
        for (n, v) in &req.headers {
            b = b.header(n.as_str(), v.as_str());
        }
        sender.send_request(b.body(body).unwrap()).await.unwrap()
    }

    /// Sends `req` with a small body and collects the response.
    pub async fn send(&self, req: &HttpRequest, body: &[u8]) -> Reply {
        let resp = self
            .send_body(req, Full::new(Bytes::copy_from_slice(body)))
            .await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Signs and sends in one step.
    pub async fn call(
        &self,
        creds: &Credentials,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Reply {
        let req = self.signed(creds, method, target, body);
        self.send(&req, body).await
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 error body.
    pub fn code(&self) -> String {
        let t = self.text();
        t.split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map(|(c, _)| c.to_owned())
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}
