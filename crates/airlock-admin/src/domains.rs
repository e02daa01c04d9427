//! Domain configurations (AWS's CreateDomainConfiguration family): server certificates chosen
//! by SNI. The admin API only speaks the contract; the server owns the files and the TLS
//! side through [`DomainConfigurations`], so this crate still knows nothing about TLS.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, Exception};
use crate::extract::{JsonBody, Path};
use crate::{AdminContext, Ctx, run};

/// ENABLED or DISABLED, AWS's `domainConfigurationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DomainStatus {
    /// Served to clients whose SNI matches.
    Enabled,
    /// Kept, but clients get the default certificate.
    Disabled,
}

impl DomainStatus {
    /// AWS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Enabled => "ENABLED",
            DomainStatus::Disabled => "DISABLED",
        }
    }
}

/// Where a configuration's server certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateSource {
    /// A PEM chain and key given at creation.
    Imported,
    /// Issued by Airlock's CA for the domain name.
    AirlockIssued,
}

impl CertificateSource {
    /// As written in `config.json` and answered by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateSource::Imported => "imported",
            CertificateSource::AirlockIssued => "airlock-issued",
        }
    }
}

/// What CreateDomainConfiguration asks for.
#[derive(Debug, Clone)]
pub struct NewDomainConfiguration {
    /// `domainConfigurationName`.
    pub name: String,
    /// `domainName`: an exact name or a `*.` wildcard of one label.
    pub domain_name: String,
    /// PEM chain (leaf first) and PEM key to import; `None`: Airlock's CA issues one.
    pub certificate: Option<(String, String)>,
}

/// One domain configuration as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfiguration {
    /// `domainConfigurationName`.
    pub name: String,
    /// `domainName`.
    pub domain_name: String,
    /// `domainConfigurationStatus`.
    pub status: DomainStatus,
    /// Imported or issued by Airlock.
    pub source: CertificateSource,
    /// Unix seconds.
    pub created_at: u64,
    /// Id (SHA-256 of the DER) of the leaf served now, if its files load.
    pub certificate_id: Option<String>,
    /// The leaf's `notAfter`, Unix seconds, if its files load.
    pub not_after: Option<i64>,
}

/// Why a domain-configuration operation failed; each maps to one AWS exception.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// ResourceNotFoundException.
    #[error("{0}")]
    NotFound(String),
    /// ResourceAlreadyExistsException.
    #[error("{0}")]
    AlreadyExists(String),
    /// InvalidRequestException.
    #[error("{0}")]
    Invalid(String),
    /// CertificateValidationException: the imported chain or key is unusable.
    #[error("{0}")]
    Certificate(String),
    /// InternalFailureException (files could not be written, the CA could not be read).
    #[error("{0}")]
    Internal(String),
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        let exception = match &e {
            DomainError::NotFound(_) => Exception::ResourceNotFound,
            DomainError::AlreadyExists(_) => Exception::ResourceAlreadyExists,
            DomainError::Invalid(_) => Exception::InvalidRequest,
            DomainError::Certificate(_) => Exception::CertificateValidation,
            DomainError::Internal(_) => Exception::InternalFailure,
        };
        ApiError::new(exception, e.to_string())
    }
}

/// The server's store of domain configurations. Every change must be in effect for new TLS
/// handshakes when the call returns.
pub trait DomainConfigurations: Send + Sync {
    /// CreateDomainConfiguration.
    fn create(&self, new: NewDomainConfiguration) -> Result<DomainConfiguration, DomainError>;
    /// ListDomainConfigurations, by name.
    fn list(&self) -> Result<Vec<DomainConfiguration>, DomainError>;
    /// DescribeDomainConfiguration.
    fn describe(&self, name: &str) -> Result<DomainConfiguration, DomainError>;
    /// UpdateDomainConfiguration's `domainConfigurationStatus`.
    fn update_status(
        &self,
        name: &str,
        status: DomainStatus,
    ) -> Result<DomainConfiguration, DomainError>;
    /// DeleteDomainConfiguration.
    fn delete(&self, name: &str) -> Result<(), DomainError>;
}

fn store(c: &AdminContext) -> Result<&dyn DomainConfigurations, ApiError> {
    c.domains.as_deref().ok_or_else(|| {
        ApiError::invalid("this Airlock serves no domain configurations (no TLS endpoints)")
    })
}

fn arn(c: &AdminContext, name: &str) -> String {
    c.arn(&format!("domainconfiguration/{name}"))
}

fn describe_json(c: &AdminContext, d: &DomainConfiguration) -> Value {
    json!({
        "domainConfigurationName": d.name,
        "domainConfigurationArn": arn(c, &d.name),
        "domainName": d.domain_name,
        "domainConfigurationStatus": d.status.as_str(),
        "serviceType": "DATA",
        "domainType": "CUSTOMER_MANAGED",
        "serverCertificates": d.certificate_id.as_ref().map(|id| vec![json!({
            "serverCertificateArn": c.arn(&format!("cert/{id}")),
            "serverCertificateStatus": "VALID",
        })]).unwrap_or_default(),
        "certificateSource": d.source.as_str(),
        "serverCertificateId": d.certificate_id,
        "serverCertificateNotAfter": d.not_after,
        "creationDate": d.created_at,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateBody {
    domain_name: Option<String>,
    server_certificate_pem: Option<String>,
    private_key_pem: Option<String>,
}

pub(crate) async fn create(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CreateBody>,
) -> Response {
    run(ctx, move |c| {
        let domain_name = req
            .domain_name
            .ok_or_else(|| ApiError::invalid("domainName is required"))?;
        let certificate = match (req.server_certificate_pem, req.private_key_pem) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ApiError::invalid(
                    "give serverCertificatePem and privateKeyPem together, or neither for a certificate from Airlock's CA",
                ));
            }
        };
        let d = store(c)?.create(NewDomainConfiguration {
            name,
            domain_name,
            certificate,
        })?;
        Ok(json!({
            "domainConfigurationName": d.name,
            "domainConfigurationArn": arn(c, &d.name),
        }))
    })
    .await
}

pub(crate) async fn list(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        let all = store(c)?.list()?;
        let items: Vec<Value> = all
            .iter()
            .map(|d| {
                json!({
                    "domainConfigurationName": d.name,
                    "domainConfigurationArn": arn(c, &d.name),
                    "serviceType": "DATA",
                    "domainName": d.domain_name,
                    "domainConfigurationStatus": d.status.as_str(),
                })
            })
            .collect();
        Ok(json!({ "domainConfigurations": items }))
    })
    .await
}

pub(crate) async fn describe(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        let d = store(c)?.describe(&name)?;
        Ok(describe_json(c, &d))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateBody {
    domain_configuration_status: Option<String>,
}

pub(crate) async fn update(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateBody>,
) -> Response {
    run(ctx, move |c| {
        let status = match req.domain_configuration_status.as_deref() {
            Some("ENABLED") => DomainStatus::Enabled,
            Some("DISABLED") => DomainStatus::Disabled,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "domainConfigurationStatus \"{other}\" is not ENABLED or DISABLED"
                )));
            }
            None => {
                // AWS's other updatable fields (authorizerConfig, tlsConfig, ...) are not
                // served by Airlock; only the status changes.
                return Err(ApiError::invalid(
                    "domainConfigurationStatus (ENABLED or DISABLED) is required",
                ));
            }
        };
        let d = store(c)?.update_status(&name, status)?;
        Ok(json!({
            "domainConfigurationName": d.name,
            "domainConfigurationArn": arn(c, &d.name),
        }))
    })
    .await
}

pub(crate) async fn delete(State(ctx): State<Ctx>, Path(name): Path<String>) -> Response {
    run(ctx, move |c| {
        store(c)?.delete(&name)?;
        Ok(json!({}))
    })
    .await
}
