//! Authentication (SigV4 + Airlock session token + directory) and authorization (role
//! permission policies) of each request.
//!
//! Order, for every request, before s3s sees it:
//! 1. `airlock-sigv4` parses the header or presigned-URL signature (the session token must be
//!    among the signed elements);
//! 2. [`CredentialMinter::verify`] checks the access key id and session token at the
//!    injected clock's `now` and yields the session's claims and secret;
//! 3. `airlock-sigv4` verifies the signature with that secret, at the same `now`;
//! 4. the [`SessionDirectory`] confirms the session is still valid and returns the role's
//!    permission policies.
//!
//! s3s then verifies the signature again through [`TaskSecret`] (which hands it the secret
//! found in step 2 for exactly this request) — that second pass is what lets s3s decode
//! aws-chunked bodies and check a signed body's SHA-256 as it streams. Finally
//! [`RoleAccess`] maps the S3 operation to an IAM action and resource and evaluates the
//! policies.

use std::sync::Arc;
use std::time::SystemTime;

use airlock_credentials::{
    CredentialError, CredentialMinter, Decision, RequestContext, RolePolicy, SessionClaims,
};
use airlock_sigv4::{HttpRequest, Payload, Verifier};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::error::s3_error;

/// Why the directory no longer accepts a session whose token is cryptographically valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The certificate the credentials were issued to is no longer ACTIVE (or is gone).
    #[error("certificate {certificate_id} is {status}; credentials issued to it are refused")]
    CertificateNotActive {
        /// The certificate id from the session.
        certificate_id: String,
        /// Its status now, e.g. `REVOKED`, `INACTIVE` or `DELETED`.
        status: String,
    },
    /// The role alias was deleted or now points at another role.
    #[error("role alias '{0}' no longer exists or no longer points at the session's role")]
    RoleAliasChanged(String),
    /// The role was deleted.
    #[error("role '{0}' no longer exists")]
    RoleGone(String),
    /// Anything else the directory refuses, explained.
    #[error("{0}")]
    Other(String),
}

/// The registry as the artifact store needs it. The server implements this over its
/// registry; it is called once per request, after the token and signature verified.
pub trait SessionDirectory: Send + Sync + 'static {
    /// Confirms the session named by `claims` is still valid — certificate ACTIVE, role alias
    /// present and pointing at `claims.role_arn`, role present — and returns the role's
    /// permission policies.
    fn check(&self, claims: &SessionClaims) -> Result<Vec<RolePolicy>, Refusal>;
}

/// The source of "now" for token expiry and signature time checks; tests inject their own.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// An authenticated caller, stored in the request's extensions for [`RoleAccess`].
#[derive(Debug, Clone)]
pub struct Session {
    /// The verified claims of the session token.
    pub claims: SessionClaims,
    /// The role's permission policies, as the directory returned them.
    pub policies: Arc<Vec<RolePolicy>>,
    /// What the signature says about the body.
    pub payload: Payload,
}

/// Everything the authentication step needs.
pub(crate) struct Authenticator {
    pub minter: Arc<CredentialMinter>,
    pub directory: Arc<dyn SessionDirectory>,
    pub verifier: Verifier,
    pub clock: Clock,
}

/// The result of authentication: the session and the secret s3s needs to re-verify.
pub(crate) struct Authenticated {
    pub session: Session,
    pub access_key_id: String,
    pub secret: String,
}

impl Authenticator {
    pub fn authenticate(&self, parts: &http::request::Parts) -> Result<Authenticated, S3Error> {
        let req = to_sigv4_request(parts);
        let signed = self
            .verifier
            .parse(&req, None)
            .map_err(|e| s3_error(e.s3_code(), e.http_status(), e.to_string()))?;
        let Some(token) = signed.security_token() else {
            // Airlock issues only temporary credentials: there is no long-term key to look up.
            return Err(s3_error(
                "InvalidAccessKeyId",
                403,
                format!(
                    "the AWS access key id '{}' does not exist in our records: Airlock accepts \
                     only temporary credentials from its credential provider, sent with \
                     x-amz-security-token",
                    signed.access_key_id()
                ),
            ));
        };
        let now = (self.clock)();
        let (claims, secret) = self
            .minter
            .verify(signed.access_key_id(), token, now)
            .map_err(|e| credential_error(&e))?;
        let verified = self
            .verifier
            .verify(&signed, &secret, now)
            .map_err(|e| s3_error(e.s3_code(), e.http_status(), e.to_string()))?;
        let policies = self
            .directory
            .check(&claims)
            .map_err(|r| s3_error("AccessDenied", 403, format!("Access Denied: {r}")))?;
        Ok(Authenticated {
            session: Session {
                claims,
                policies: Arc::new(policies),
                payload: verified.payload,
            },
            access_key_id: verified.access_key_id,
            secret,
        })
    }
}

fn credential_error(e: &CredentialError) -> S3Error {
    s3_error(e.s3_code(), e.http_status(), e.s3_message().to_owned())
}

fn to_sigv4_request(parts: &http::request::Parts) -> HttpRequest {
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // HTTP/2 carries the host in :authority, which hyper keeps in the URI.
    if !parts.headers.contains_key(http::header::HOST)
        && let Some(a) = parts.uri.authority()
    {
        headers.push(("host".to_owned(), a.as_str().to_owned()));
    }
    HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
    }
}

tokio::task_local! {
    /// (access key id, secret) of the request being served by this task.
    pub(crate) static REQUEST_SECRET: (String, String);
}

/// s3s's secret lookup: answers only for the access key already authenticated for the
/// request in flight on this task. The secret is derived from the session token, which
/// s3s's interface does not pass, so there is nothing else to look it up by.
pub(crate) struct TaskSecret;

#[async_trait::async_trait]
impl S3Auth for TaskSecret {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        REQUEST_SECRET
            .try_with(|(ak, secret)| (ak == access_key).then(|| SecretKey::from(secret.as_str())))
            .ok()
            .flatten()
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidAccessKeyId,
                    "the access key id does not match the authenticated request",
                )
            })
    }
}

/// The IAM action and resource an S3 operation is authorized as.
pub(crate) fn action_for(op: &str, path: &S3Path) -> Option<(&'static str, String)> {
    let action = match op {
        "CreateBucket" => "s3:CreateBucket",
        // AWS authorizes HeadBucket as s3:ListBucket.
        "HeadBucket" | "ListObjectsV2" | "ListObjects" => "s3:ListBucket",
        "ListBuckets" => "s3:ListAllMyBuckets",
        "GetObject" | "HeadObject" => "s3:GetObject",
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            "s3:PutObject"
        }
        "DeleteObject" => "s3:DeleteObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        _ => return None,
    };
    let resource = match path {
        S3Path::Root => "arn:aws:s3:::*".to_owned(),
        S3Path::Bucket { bucket } => format!("arn:aws:s3:::{bucket}"),
        S3Path::Object { bucket, key } => format!("arn:aws:s3:::{bucket}/{key}"),
    };
    Some((action, resource))
}

/// Allowed when some policy allows and none explicitly denies (IAM's rule).
pub(crate) fn evaluate(
    policies: &[RolePolicy],
    action: &str,
    resource: &str,
    ctx: &RequestContext<'_>,
) -> bool {
    let mut allowed = false;
    for p in policies {
        match p.evaluate(action, resource, ctx) {
            Decision::Allow { .. } => allowed = true,
            Decision::Deny { statement: Some(_) } => return false,
            Decision::Deny { statement: None } => {}
        }
    }
    allowed
}

/// s3s's access hook: evaluates the role's policies for the operation.
pub(crate) struct RoleAccess;

#[async_trait::async_trait]
impl S3Access for RoleAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let denied = || S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied");
        let session = cx
            .extensions_mut()
            .get::<Session>()
            .cloned()
            .ok_or_else(denied)?;
        let op = cx.s3_op().name();
        let Some((action, resource)) = action_for(op, cx.s3_path()) else {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                format!("{op} is not supported by Airlock's artifact store"),
            ));
        };
        let prefix = if action == "s3:ListBucket" {
            Some(query_param(cx.uri().query().unwrap_or(""), "prefix").unwrap_or_default())
        } else {
            None
        };
        let mut ctx = RequestContext::for_session(&session.claims);
        if let Some(p) = prefix.as_deref() {
            ctx = ctx.with_s3_prefix(p);
        }
        if evaluate(&session.policies, action, &resource, &ctx) {
            Ok(())
        } else {
            tracing::info!(
                action,
                resource = %resource,
                role = %session.claims.role_arn,
                thing = ?session.claims.thing_name,
                "artifact request denied by role policy"
            );
            Err(denied())
        }
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    airlock_sigv4::parse_query(query)
        .into_iter()
        .find(|p| p.name == name.as_bytes())
        .map(|p| String::from_utf8_lossy(&p.value).into_owned())
}
