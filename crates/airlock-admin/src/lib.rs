//! Airlock's admin API: the AWS IoT control-plane operations (things, thing types and groups,
//! certificates and CAs, policies and their attachments, TestAuthorization, role aliases,
//! DescribeEndpoint, domain configurations) and the IAM-named role operations role aliases
//! rely on (CreateRole, PutRolePolicy, ...) as an axum [`Router`], with AWS's paths, camelCase JSON field names,
//! ARNs and REST-JSON errors (`x-amzn-ErrorType`), plus `GET /airlock/info` and
//! `GET /openapi.json`. The router and the OpenAPI document are built from one operation
//! table, so they cannot drift. This crate owns request parsing, the mapping of every
//! registry, PKI and authorization error to its AWS exception, and the glue between the
//! registry ([`airlock_registry::RegistryStore`]), the CA ([`airlock_pki::CertificateAuthority`])
//! and the authorizer ([`airlock_identity::PolicyAuthorizer`]). It must not know about TLS,
//! sockets, admin authentication or the broker: the server serves [`router`] over mutual TLS
//! and learns about changes through [`AdminContext::on_event`]. Every operation runs in
//! [`tokio::task::spawn_blocking`], because a registry mutation waits for redb's fsync and a
//! read may wait for a commit in progress; so the router must be served from a Tokio
//! multi-thread or current-thread runtime with blocking threads available.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authz;
mod certs;
mod domains;
mod error;
mod extract;
mod misc;
mod policies;
mod roles;
mod table;
mod things;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use airlock_registry::Event;

use crate::error::{ApiError, Exception};

pub use crate::domains::{
    CertificateSource, DomainConfiguration, DomainConfigurations, DomainError, DomainStatus,
    NewDomainConfiguration,
};

/// What the admin API works on. The server builds one and hands it to [`router`].
#[derive(Clone)]
pub struct AdminContext {
    /// The registry every operation reads and changes.
    pub registry: Arc<airlock_registry::RegistryStore>,
    /// Airlock's CA: issues CreateKeysAndCertificate's certificates, signs
    /// CreateCertificateFromCsr's CSRs, and is the CA RegisterCertificate accepts besides
    /// the registered ones. GetRegistrationCode's code is derived from its key.
    pub ca: Arc<airlock_pki::CertificateAuthority>,
    /// Answers TestAuthorization; its engine's region and account make up every ARN.
    pub authorizer: Arc<airlock_identity::PolicyAuthorizer>,
    /// Called after every mutation that changed something (never with
    /// [`Event::Unchanged`]), on a blocking thread, once the change is durable. The server
    /// disconnects the clients of a certificate that leaves ACTIVE here.
    pub on_event: Arc<dyn Fn(&Event) + Send + Sync>,
    /// Served at `GET /airlock/info`; DescribeEndpoint answers from its endpoints.
    pub info: AirlockInfo,
    /// Domain configurations (server certificates by SNI), owned by the server; `None`
    /// answers their operations with InvalidRequestException.
    pub domains: Option<Arc<dyn DomainConfigurations>>,
}

impl fmt::Debug for AdminContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminContext")
            .field("registry", &self.registry)
            .field("ca", &self.ca)
            .field("authorizer", &self.authorizer)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// This Airlock's identity and endpoints (`GET /airlock/info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AirlockInfo {
    /// Airlock's version.
    pub version: String,
    /// The region of every ARN.
    pub region: String,
    /// The account id of every ARN.
    pub account_id: String,
    /// The listeners clients can reach.
    pub endpoints: Vec<EndpointInfo>,
    /// Airlock's root CA certificate, PEM, for clients to trust.
    pub root_ca_pem: String,
    /// DNS names in the server certificate (configuration `server_names`, IP addresses
    /// left out); DescribeEndpoint answers with the first, as AWS answers with a host name.
    pub domain_names: Vec<String>,
}

/// One listener of [`AirlockInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointInfo {
    /// The endpoint's id in the configuration (`"admin"` for this API).
    pub id: String,
    /// `mqtt`, `https`, `admin`, ...; DescribeEndpoint answers `iot:Data-ATS` with the first
    /// `mqtt` endpoint and `iot:CredentialProvider` with the first `https` endpoint (the
    /// credential provider).
    pub protocol: String,
    /// Host name or address clients connect to.
    pub address: String,
    /// TCP port.
    pub port: u16,
}

/// The admin API as a router, with its state applied: serve it with any axum server.
///
/// Installs [`airlock_identity::policy_validator`] (with the authorizer's policy limits) on
/// the registry, so CreatePolicy and CreatePolicyVersion refuse a malformed document with
/// MalformedPolicyException naming the field. Unknown paths answer 404
/// UnknownOperationException and known paths with another method 405
/// MethodNotAllowedException, both in AWS's error shape.
pub fn router(ctx: AdminContext) -> Router {
    ctx.registry
        .set_policy_validator(airlock_identity::policy_validator(
            ctx.authorizer.config().policy_limits,
        ));
    ctx.registry
        .set_role_policy_validator(roles::role_policy_validator());
    let mut router = Router::new();
    for op in table::operations() {
        router = router.route(op.path, op.handler);
    }
    router
        .fallback(unknown_operation)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::new(ctx))
}

/// The OpenAPI 3.0 description of [`router`], generated from the same operation table.
pub fn openapi() -> Value {
    table::openapi()
}

async fn unknown_operation() -> ApiError {
    ApiError::new(
        Exception::UnknownOperation,
        "no admin operation has this path; GET /openapi.json lists them",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Exception::MethodNotAllowed,
        "this path does not take this method; GET /openapi.json lists the operations",
    )
}

/// The state every handler gets.
pub(crate) type Ctx = Arc<AdminContext>;

/// Runs `op` on a blocking thread (registry commits fsync) and answers with its JSON, or with
/// its error in AWS's shape. A panic in `op` becomes InternalFailureException.
pub(crate) async fn run(
    ctx: Ctx,
    op: impl FnOnce(&AdminContext) -> Result<Value, ApiError> + Send + 'static,
) -> Response {
    let arn_ctx = ctx.clone();
    let result = tokio::task::spawn_blocking(move || op(&ctx))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::internal(format!(
                "the operation failed unexpectedly ({e}); the registry is unchanged unless a later read shows otherwise"
            )))
        });
    match result {
        Ok(value) => json_response(&value),
        Err(e) => e.with_arns(|path| arn_ctx.arn(path)).into_response(),
    }
}

pub(crate) fn json_response(value: &Value) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

impl AdminContext {
    /// `arn:aws:iot:{region}:{account}:{path}`.
    pub(crate) fn arn(&self, path: &str) -> String {
        self.authorizer.engine().resource_arn(path)
    }

    /// Reports what a successful mutation changed.
    pub(crate) fn emit(&self, event: &Event) {
        if *event != Event::Unchanged {
            (self.on_event)(event);
        }
    }

    /// Applies a registry mutation, reports its event and answers `{}`.
    pub(crate) fn mutate(
        &self,
        change: impl FnOnce(
            &airlock_registry::RegistryStore,
        ) -> Result<Event, airlock_registry::StoreError>,
    ) -> Result<Event, ApiError> {
        let event = change(&self.registry)?;
        self.emit(&event);
        Ok(event)
    }
}

/// A certificate id from a certificate ARN (`arn:…:cert/<id>`) or a bare id.
pub(crate) fn certificate_id_of(principal: &str) -> Result<String, ApiError> {
    let id = match principal.strip_prefix("arn:") {
        Some(rest) => rest
            .splitn(5, ':')
            .nth(4)
            .and_then(|r| r.strip_prefix("cert/"))
            .unwrap_or(""),
        None => principal,
    };
    if airlock_registry::names::is_certificate_id(id) {
        Ok(id.to_string())
    } else {
        Err(ApiError::invalid(format!(
            "principal \"{principal}\" is not a certificate: give a certificate id (64 lowercase hex characters) or arn:aws:iot:REGION:ACCOUNT:cert/ID"
        )))
    }
}

/// A stable UUID-shaped id for a named resource (AWS's `thingId`, `thingGroupId`, ...): the
/// registry keys resources by name, so the id is derived from the kind and name.
pub(crate) fn stable_id(kind: &str, name: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("airlock:{kind}:{name}").as_bytes(),
    );
    // A SHA-256 digest is 32 bytes, so the first 16 exist; their hex is 32 ASCII
    // characters, so the slices below are in bounds and on character boundaries.
    let h = hex::encode(&digest.as_ref()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
