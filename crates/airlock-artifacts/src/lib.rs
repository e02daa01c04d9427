//! Airlock's artifact store: the S3 REST API for component artifacts.
//!
//! [`ArtifactService`] is a hyper service (`Service<http::Request<Incoming>>`) the server
//! mounts on its own endpoint. It speaks path-style S3 — CreateBucket, HeadBucket,
//! ListBuckets, PutObject, GetObject (with Range), HeadObject, DeleteObject, ListObjectsV2
//! (prefix, delimiter, continuation) and multipart upload (Create, UploadPart, Complete,
//! Abort, ListParts) — through [`s3s`] 0.14.1, over a filesystem backend.
//!
//! # Authentication and authorization
//!
//! Every request is signed with SigV4 (header or presigned URL) by temporary credentials from
//! Airlock's credential provider, with `x-amz-security-token`:
//!
//! 1. `airlock-sigv4` parses and — once the secret is known — verifies the signature. It is
//!    ours, tested against AWS's vectors, takes the clock from the caller and insists that the
//!    token is signed; s3s 0.14 ignores `x-amz-security-token` entirely.
//! 2. [`airlock_credentials::CredentialMinter::verify`] checks the token and the access key
//!    id, giving the session's claims and secret (`ExpiredToken`, `InvalidToken`,
//!    `InvalidAccessKeyId` otherwise).
//! 3. The caller's [`SessionDirectory`] confirms the certificate is still ACTIVE and the
//!    role alias and role still exist, and returns the role's policies (`AccessDenied`).
//! 4. s3s verifies the signature a second time with the same secret; this is what lets it
//!    decode aws-chunked uploads and check the body against `x-amz-content-sha256`.
//! 5. The S3 operation maps to an IAM action on `arn:aws:s3:::bucket[/key]` (with `s3:prefix`
//!    for listings) and the role's policies are evaluated with the session's thing variables
//!    (`AccessDenied`).
//!
//! # Storage
//!
//! See [`fs`]: one directory per bucket, objects named by the SHA-256 of their key, written to
//! a temporary file, fsynced and renamed so that no partial object is ever visible. Bodies
//! stream in 64 KiB chunks in both directions; `Content-MD5` and `x-amz-content-sha256` are
//! checked against the bytes received before the rename (`BadDigest`,
//! `XAmzContentSHA256Mismatch`), and nothing is left behind on a mismatch.
//!
//! ```no_run
//! # async fn demo(minter: std::sync::Arc<airlock_credentials::CredentialMinter>,
//! #               directory: std::sync::Arc<dyn airlock_artifacts::SessionDirectory>)
//! #               -> Result<(), airlock_artifacts::StoreError> {
//! use airlock_artifacts::{ArtifactConfig, ArtifactService};
//! let config = ArtifactConfig::new("/var/lib/airlock/artifacts");
//! let service = ArtifactService::open(config, minter, directory).await?;
//! // hand `service.clone()` to hyper's `serve_connection` for each accepted connection
//! # Ok(()) }
//! ```
//!
//! # Mounting
//!
//! [`ArtifactService`] implements `hyper::service::Service<Request<Incoming>>` (give it to
//! `hyper::server::conn::http1::Builder::serve_connection` or hyper-util's `auto::Builder`
//! after the TLS handshake) and `tower_service::Service<Request<B>>` for any `Bytes` body
//! (axum: `Router::new().fallback_service(service)`). Both answer every refusal as S3's XML
//! error and never return `Err`. It must own the whole path space of its endpoint: S3
//! path-style addressing puts the bucket in the first path segment.
//!
//! # Clients
//!
//! Path-style addressing, SigV4 only (boto3: `Config(s3={"addressing_style": "path"},
//! signature_version="s3v4")` — boto3 presigns with SigV2 otherwise; AWS CLI:
//! `aws configure set default.s3.addressing_style path`), region as configured
//! ([`ArtifactConfig::region`]). s3s's own signature pass checks request time against the
//! system clock; the injectable [`Clock`] governs token expiry and `airlock-sigv4`'s checks.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod checksum;
mod error;
pub mod fs;
mod s3;

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use airlock_credentials::CredentialMinter;
use airlock_sigv4::Verifier;
use s3s::service::{S3Service, S3ServiceBuilder};

pub use auth::{Clock, Refusal, Session, SessionDirectory};
pub use error::StoreError;
pub use s3s::Body;

/// S3's ceiling for a single PUT: 5 GiB.
pub const S3_MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Settings of the artifact store.
#[derive(Debug, Clone)]
pub struct ArtifactConfig {
    /// Root directory (e.g. `DATA/artifacts`); created if missing.
    pub root: PathBuf,
    /// The region clients sign for (their `--region`); default `us-east-1`.
    pub region: String,
    /// Largest object accepted, for a single PUT or a completed multipart upload; default and
    /// ceiling 5 GiB.
    pub max_object_size: u64,
}

impl ArtifactConfig {
    /// Defaults for a store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ArtifactConfig {
            root: root.into(),
            region: "us-east-1".into(),
            max_object_size: S3_MAX_OBJECT_SIZE,
        }
    }
}

/// The artifact store as a hyper service. Cheap to clone (one `Arc` inside).
#[derive(Clone)]
pub struct ArtifactService {
    inner: Arc<Inner>,
}

struct Inner {
    auth: auth::Authenticator,
    s3: S3Service,
    store: fs::FsStore,
}

impl std::fmt::Debug for ArtifactService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactService").finish_non_exhaustive()
    }
}

impl ArtifactService {
    /// Opens the store under `config.root` and builds the service. `minter` verifies session
    /// tokens; `directory` confirms sessions and supplies role policies.
    pub async fn open(
        config: ArtifactConfig,
        minter: Arc<CredentialMinter>,
        directory: Arc<dyn SessionDirectory>,
    ) -> Result<ArtifactService, StoreError> {
        Self::open_with_clock(config, minter, directory, Arc::new(SystemTime::now)).await
    }

    /// As [`ArtifactService::open`], with the clock used for token expiry and signature times
    /// (tests move it forward to expire a token).
    pub async fn open_with_clock(
        config: ArtifactConfig,
        minter: Arc<CredentialMinter>,
        directory: Arc<dyn SessionDirectory>,
        clock: Clock,
    ) -> Result<ArtifactService, StoreError> {
        let store =
            fs::FsStore::open(config.root, config.max_object_size.min(S3_MAX_OBJECT_SIZE)).await?;
        let mut builder = S3ServiceBuilder::new(s3::Backend {
            store: store.clone(),
        });
        builder.set_auth(auth::TaskSecret);
        builder.set_access(auth::RoleAccess);
        Ok(ArtifactService {
            inner: Arc::new(Inner {
                auth: auth::Authenticator {
                    minter,
                    directory,
                    verifier: Verifier::s3(&config.region),
                    clock,
                },
                s3: builder.build(),
                store,
            }),
        })
    }

    /// Deletes multipart uploads to which no part was uploaded for `max_age`; returns how
    /// many. The server should call this periodically (e.g. hourly with 7 days, S3's usual
    /// lifecycle setting).
    pub async fn sweep_abandoned_uploads(
        &self,
        max_age: std::time::Duration,
    ) -> Result<usize, StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.inner.store.sweep_uploads(cutoff).await
    }

    /// Serves one request. Never fails: every refusal is an S3 XML error response.
    pub async fn handle(&self, req: http::Request<Body>) -> http::Response<Body> {
        let (mut parts, body) = req.into_parts();
        let authed = match self.inner.auth.authenticate(&parts) {
            Ok(a) => a,
            Err(e) => {
                tracing::info!(code = %e.code().as_str(), message = ?e.message(), "artifact request refused");
                return error_response(e);
            }
        };
        parts.extensions.insert(authed.session);
        let req = http::Request::from_parts(parts, body);
        let s3 = self.inner.s3.clone();
        let result = auth::REQUEST_SECRET
            .scope((authed.access_key_id, authed.secret), async move {
                s3.call(req).await
            })
            .await;
        match result {
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!(error = ?e, "artifact store internal error");
                error_response(s3s::S3Error::with_message(
                    s3s::S3ErrorCode::InternalError,
                    "internal error",
                ))
            }
        }
    }
}

fn error_response(e: s3s::S3Error) -> http::Response<Body> {
    e.to_http_response().unwrap_or_else(|_| {
        let mut r = http::Response::new(Body::from("internal error".to_owned()));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The future of one request: it always resolves to a response.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for ArtifactService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> ResponseFuture {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req.map(Body::from)).await) })
    }
}

/// For tower stacks (an axum `Router::fallback_service`, for instance): any request body
/// whose data is `Bytes`.
impl<B> tower_service::Service<http::Request<B>> for ArtifactService
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    s3s::StdError: From<B::Error>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> ResponseFuture {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req.map(Body::http_body_unsync)).await) })
    }
}
