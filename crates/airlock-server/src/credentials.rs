//! The credential provider on `protocol = "https"` endpoints: `GET
//! /role-aliases/{alias}/credentials` over mutual TLS, answered exactly as AWS IoT's
//! credential provider answers (statuses, `{"message": …}` bodies, `x-amzn-ErrorType`,
//! `x-amzn-RequestId`). The verified certificate is the principal; the registry says whether
//! it may assume the alias's role; airlock-credentials mints the credentials.
//!
//! The router is per server; each connection adds its [`ConnectionContext`] as a request
//! extension. Other paths (AWS's HTTPS publish, `POST /topics/...`) can join this router.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_broker::{ConnectionContext, Principal};
use airlock_credentials::{CredentialMinter, SessionClaims};
use airlock_identity::PolicyAuthorizer;
use airlock_registry::RegistryStore;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// How long a connection may take to send a request head, or stay idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The header naming the thing the credentials are for (optional).
const THING_NAME_HEADER: &str = "x-amzn-iot-thingname";

/// What the credential provider needs.
pub struct CredentialProvider {
    /// Aliases, roles, certificates and things.
    pub registry: Arc<RegistryStore>,
    /// Decides iot:AssumeRoleWithCertificate.
    pub authorizer: Arc<PolicyAuthorizer>,
    /// Mints the credentials (`DATA/credentials.key`).
    pub minter: Arc<CredentialMinter>,
}

/// The `https` endpoints' router.
pub fn router(provider: CredentialProvider) -> axum::Router {
    axum::Router::new()
        .route("/role-aliases/{alias}/credentials", get(credentials))
        .fallback(not_found)
        .with_state(Arc::new(provider))
}

/// Why a credential request was refused: AWS's status, exception and message (research
/// notes section 5, measured against AWS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    InvalidThingName,
    AccessDenied,
    UnknownAlias,
    RoleMissing,
    DurationAboveRoleMax,
    Internal,
}

impl Refusal {
    fn parts(self) -> (StatusCode, &'static str, &'static str, &'static str) {
        match self {
            Refusal::InvalidThingName => (
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "Invalid thing name passed",
                "invalid_thing_name",
            ),
            Refusal::AccessDenied => (
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "Access Denied",
                "access_denied",
            ),
            Refusal::UnknownAlias => (
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "Role alias does not exist",
                "unknown_role_alias",
            ),
            Refusal::RoleMissing => (
                StatusCode::BAD_REQUEST,
                "InvalidRequestException",
                "Unable to assume the role, or the role to assume does not exist",
                "role_missing",
            ),
            Refusal::DurationAboveRoleMax => (
                StatusCode::BAD_REQUEST,
                "InvalidRequestException",
                "The requested CredentialDurationSeconds exceeds the MaxSessionDuration set for the role",
                "duration_above_role_max",
            ),
            Refusal::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailureException",
                "Internal failure",
                "internal",
            ),
        }
    }
}

/// Every answer: its JSON body, `content-type` and a fresh `x-amzn-RequestId`.
fn respond(status: StatusCode, error_type: Option<&'static str>, body: String) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("x-amzn-RequestId", id);
    }
    if let Some(t) = error_type {
        r.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(t));
    }
    r
}

fn refuse(why: Refusal) -> Response {
    let (status, error_type, message, label) = why.parts();
    metrics::counter!("airlock_credentials_requests_total", "result" => label).increment(1);
    respond(
        status,
        Some(error_type),
        serde_json::json!({ "message": message }).to_string(),
    )
}

/// A UUID-shaped random id, as AWS's `x-amzn-RequestId`.
fn request_id() -> String {
    let b: [u8; 16] = ring::rand::generate(&ring::rand::SystemRandom::new())
        .map(|r| r.expose())
        .unwrap_or_default();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    // 32 ASCII hex characters, so every slice is in bounds and on a character boundary.
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

async fn not_found() -> Response {
    respond(
        StatusCode::NOT_FOUND,
        Some("ResourceNotFoundException"),
        r#"{"message":"Not Found"}"#.to_string(),
    )
}

async fn credentials(
    State(provider): State<Arc<CredentialProvider>>,
    Extension(conn): Extension<Arc<ConnectionContext>>,
    Path(alias): Path<String>,
    headers: HeaderMap,
) -> Response {
    // The thing name as sent; a header that is not text names no thing there is.
    let thing = match headers.get(THING_NAME_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(t)) => Some(t.to_string()),
        Some(Err(_)) => return refuse(Refusal::InvalidThingName),
    };
    // Registry reads may wait for a commit's fsync: keep them off the async threads.
    let outcome =
        tokio::task::spawn_blocking(move || issue(&provider, &conn, thing.as_deref(), &alias))
            .await
            .unwrap_or(Err(Refusal::Internal));
    match outcome {
        Ok(body) => {
            metrics::counter!("airlock_credentials_requests_total", "result" => "issued")
                .increment(1);
            respond(StatusCode::OK, None, body)
        }
        Err(why) => refuse(why),
    }
}

/// The checks in AWS's order, then the 200 body.
fn issue(
    p: &CredentialProvider,
    conn: &ConnectionContext,
    thing: Option<&str>,
    alias: &str,
) -> Result<String, Refusal> {
    let Principal::Certificate { certificate_id, .. } = &conn.principal else {
        // `https` endpoints always require a certificate (config validation).
        return Err(Refusal::AccessDenied);
    };
    let thing_type = {
        let reg = p.registry.read();
        match thing {
            None => None,
            Some(t) => {
                let attached = reg
                    .things_of_principal(certificate_id)
                    .any(|(name, _)| name == t);
                if !attached {
                    tracing::info!(certificate_id = %certificate_id, endpoint = %conn.endpoint_id, peer = %conn.peer, thing = t, "credentials refused: the thing named by x-amzn-iot-thingname is not attached to the certificate");
                    return Err(Refusal::InvalidThingName);
                }
                reg.thing(t).and_then(|x| x.thing_type_name.clone())
            }
        }
    };
    // Logged and counted by the authorizer, with the statement that decided.
    if p.authorizer
        .assume_role_with_certificate(conn, thing, alias)
        .is_err()
    {
        return Err(Refusal::AccessDenied);
    }
    let reg = p.registry.read();
    let a = reg.role_alias(alias).ok_or(Refusal::UnknownAlias)?;
    let Some(role) = reg.role_by_arn(&a.role_arn) else {
        tracing::info!(alias, role_arn = %a.role_arn, "credentials refused: the alias's role does not exist; create it with 'airlock role create'");
        return Err(Refusal::RoleMissing);
    };
    if a.credential_duration_seconds > role.max_session_duration {
        tracing::info!(alias, duration = a.credential_duration_seconds, role = %role.role_name, max = role.max_session_duration, "credentials refused: the alias's duration exceeds the role's MaxSessionDuration");
        return Err(Refusal::DurationAboveRoleMax);
    }
    let now = SystemTime::now();
    let claims = SessionClaims {
        role_arn: role.role_arn.clone(),
        role_alias: alias.to_string(),
        thing_name: thing.map(str::to_string),
        thing_type_name: thing_type,
        certificate_id: certificate_id.clone(),
        issued_at: now,
        expires_at: now + Duration::from_secs(u64::from(a.credential_duration_seconds)),
    };
    match p.minter.mint(&claims, now) {
        Ok(c) => {
            tracing::info!(certificate_id = %certificate_id, alias, thing = thing.unwrap_or(""), access_key_id = %c.access_key_id, expiration = %c.expiration_rfc3339(), "issued temporary credentials");
            Ok(c.to_provider_json())
        }
        Err(e) => {
            tracing::warn!(alias, error = %e, "cannot mint credentials");
            Err(Refusal::Internal)
        }
    }
}

/// Serve one verified TLS connection of an `https` endpoint with `app`, the connection's
/// context available to handlers as an extension.
pub async fn serve<S>(app: &axum::Router, stream: S, ctx: ConnectionContext)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = ctx.peer;
    let service =
        hyper_util::service::TowerToHyperService::new(app.clone().layer(Extension(Arc::new(ctx))));
    // A device asks about once an hour: a connection that sends no complete request head
    // for this long (idle keep-alive included) is closed, so idle clients cannot hold the
    // endpoint's connection permits.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    if let Err(e) = conn {
        tracing::debug!(%peer, error = %e, "https connection ended with an error");
    }
}
