//! AWS REST-JSON errors: status, `x-amzn-ErrorType` and `{"message": ...}`, and the one place
//! where every registry, store, PKI and test error is given its AWS exception.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use airlock_identity::TestError;
use airlock_pki::PkiError;
use airlock_registry::{RegistryError, ResourceKind, StoreError};

/// The header AWS SDKs read the exception name from.
pub(crate) const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// The AWS exceptions this API answers with (docs/admin-api.md, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exception {
    InvalidRequest,
    MalformedPolicy,
    CertificateValidation,
    ResourceNotFound,
    UnknownOperation,
    MethodNotAllowed,
    CertificateState,
    ResourceAlreadyExists,
    DeleteConflict,
    VersionConflict,
    VersionsLimitExceeded,
    LimitExceeded,
    InternalFailure,
}

impl Exception {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Exception::InvalidRequest => "InvalidRequestException",
            Exception::MalformedPolicy => "MalformedPolicyException",
            Exception::CertificateValidation => "CertificateValidationException",
            Exception::ResourceNotFound => "ResourceNotFoundException",
            Exception::UnknownOperation => "UnknownOperationException",
            Exception::MethodNotAllowed => "MethodNotAllowedException",
            Exception::CertificateState => "CertificateStateException",
            Exception::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Exception::DeleteConflict => "DeleteConflictException",
            Exception::VersionConflict => "VersionConflictException",
            Exception::VersionsLimitExceeded => "VersionsLimitExceededException",
            Exception::LimitExceeded => "LimitExceededException",
            Exception::InternalFailure => "InternalFailureException",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Exception::InvalidRequest
            | Exception::MalformedPolicy
            | Exception::CertificateValidation => StatusCode::BAD_REQUEST,
            Exception::ResourceNotFound | Exception::UnknownOperation => StatusCode::NOT_FOUND,
            Exception::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Exception::CertificateState => StatusCode::NOT_ACCEPTABLE,
            Exception::ResourceAlreadyExists
            | Exception::DeleteConflict
            | Exception::VersionConflict
            | Exception::VersionsLimitExceeded => StatusCode::CONFLICT,
            Exception::LimitExceeded => StatusCode::GONE,
            Exception::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refused request, ready to be sent in AWS's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) exception: Exception,
    pub(crate) message: String,
    /// For ResourceAlreadyExistsException: the id or name that exists.
    pub(crate) resource_id: Option<String>,
    /// For ResourceAlreadyExistsException: `kind/name`, made a full ARN by
    /// [`ApiError::with_arns`] once the region and account are at hand.
    pub(crate) resource_path: Option<String>,
    pub(crate) resource_arn: Option<String>,
}

impl ApiError {
    pub(crate) fn new(exception: Exception, message: impl Into<String>) -> ApiError {
        ApiError {
            exception,
            message: message.into(),
            resource_id: None,
            resource_path: None,
            resource_arn: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Exception::InvalidRequest, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(Exception::ResourceNotFound, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Exception::InternalFailure, message)
    }

    /// Turns `resource_path` into a full ARN with `arn_of` (the engine's prefix).
    pub(crate) fn with_arns(mut self, arn_of: impl Fn(&str) -> String) -> ApiError {
        if let Some(path) = self.resource_path.take() {
            self.resource_arn = Some(arn_of(&path));
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "message": self.message });
        if let Some(id) = self.resource_id {
            body["resourceId"] = id.into();
        }
        if let Some(arn) = self.resource_arn {
            body["resourceArn"] = arn.into();
        }
        let mut response = (
            self.exception.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        response.headers_mut().insert(
            ERROR_TYPE_HEADER,
            HeaderValue::from_static(self.exception.name()),
        );
        response
    }
}

/// The ARN path (`thing/name`) of a resource, for ResourceAlreadyExistsException.
pub(crate) fn arn_path(kind: ResourceKind, name: &str) -> String {
    let prefix = match kind {
        ResourceKind::Thing => "thing",
        ResourceKind::ThingType => "thingtype",
        ResourceKind::ThingGroup => "thinggroup",
        ResourceKind::Certificate => "cert",
        ResourceKind::CaCertificate => "cacert",
        ResourceKind::Policy => "policy",
        ResourceKind::RoleAlias => "rolealias",
        // A kind added to the registry later: name it without a guessed ARN prefix.
        _ => "resource",
    };
    format!("{prefix}/{name}")
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        use Exception as X;
        let exception = match &e {
            RegistryError::InvalidName { .. }
            | RegistryError::InvalidValue { .. }
            | RegistryError::InvalidCertificateId { .. }
            | RegistryError::InvalidPem { .. }
            | RegistryError::InvalidAttribute { .. }
            | RegistryError::TooManyAttributes { .. }
            | RegistryError::TooManySearchableAttributes { .. }
            | RegistryError::ThingTypeDeprecated { .. }
            | RegistryError::ThingTypeNotDeprecated { .. }
            | RegistryError::SameHierarchy { .. }
            | RegistryError::InvalidStatusChange { .. }
            | RegistryError::ExclusivelyAttached { .. }
            | RegistryError::CannotAttachExclusively { .. }
            | RegistryError::InvalidCredentialDuration { .. } => X::InvalidRequest,
            RegistryError::AlreadyExists { kind, name } => {
                return ApiError {
                    exception: X::ResourceAlreadyExists,
                    message: e.to_string(),
                    resource_id: Some(name.clone()),
                    resource_path: Some(arn_path(*kind, name)),
                    resource_arn: None,
                };
            }
            RegistryError::NotFound { .. }
            | RegistryError::PolicyVersionNotFound { .. }
            | RegistryError::PolicyNotAttached { .. }
            | RegistryError::PrincipalNotAttached { .. } => X::ResourceNotFound,
            RegistryError::VersionConflict { .. } => X::VersionConflict,
            RegistryError::HierarchyTooDeep { .. }
            | RegistryError::TooManyChildGroups { .. }
            | RegistryError::TooManyGroups { .. }
            | RegistryError::TooManyCasWithSubject { .. }
            | RegistryError::TooManyPolicies { .. }
            | RegistryError::TooManyRoleAliases
            | RegistryError::RolePoliciesTooLarge { .. } => X::LimitExceeded,
            RegistryError::ThingTypeInUse { .. }
            | RegistryError::GroupHasChildren { .. }
            | RegistryError::ThingHasPrincipal { .. }
            | RegistryError::CertificateAttachedToThing { .. }
            | RegistryError::PolicyStillAttached { .. }
            | RegistryError::CaInUse { .. }
            | RegistryError::DefaultVersionDelete { .. }
            | RegistryError::PolicyHasVersions { .. }
            | RegistryError::RoleHasPolicies { .. } => X::DeleteConflict,
            RegistryError::CertificateActive { .. }
            | RegistryError::CertificateRevoked { .. }
            | RegistryError::CaActive { .. } => X::CertificateState,
            RegistryError::TooManyPolicyVersions { .. } => X::VersionsLimitExceeded,
            RegistryError::InvalidPolicyDocument { .. }
            | RegistryError::InvalidRolePolicyDocument { .. } => X::MalformedPolicy,
            // A refusal added to the registry later: its message still says what to do, and
            // a refusal is the caller's to fix, so 400 is the safe default.
            _ => X::InvalidRequest,
        };
        ApiError::new(exception, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Registry(e) => e.into(),
            StoreError::Open { .. } | StoreError::Write { .. } | StoreError::Corrupt { .. } => {
                ApiError::internal(e.to_string())
            }
            // A store failure added later is still a failure of the store, not the request.
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<PkiError> for ApiError {
    fn from(e: PkiError) -> ApiError {
        let exception = match &e {
            // What the caller sent is not a usable certificate, CSR or name.
            PkiError::InvalidCertificate(_)
            | PkiError::InvalidPem(_)
            | PkiError::NoCertificates
            | PkiError::NotACa(_)
            | PkiError::InvalidName { .. }
            | PkiError::InvalidValidity(_)
            | PkiError::UnknownAlgorithm(_)
            | PkiError::InvalidCsr(_)
            | PkiError::UnsupportedKey(_)
            | PkiError::UnsupportedSignatureAlgorithm(_) => Exception::InvalidRequest,
            // A signature or registration-code proof that does not hold.
            PkiError::SignatureInvalid(_) | PkiError::RegistrationCodeMismatch { .. } => {
                Exception::CertificateValidation
            }
            // Airlock's own keys and signing machinery failed: not the caller's doing.
            PkiError::KeyGeneration { .. }
            | PkiError::InvalidKey(_)
            | PkiError::KeyMismatch
            | PkiError::Signing(_)
            | PkiError::Unsupported(_) => Exception::InternalFailure,
            _ => Exception::InternalFailure,
        };
        ApiError::new(exception, e.to_string())
    }
}

impl From<TestError> for ApiError {
    fn from(e: TestError) -> ApiError {
        let exception = match &e {
            TestError::UnknownThing(_) => Exception::ResourceNotFound,
            TestError::ThingWithoutCertificate(_)
            | TestError::ThingWithSeveralCertificates { .. }
            | TestError::AnonymousWithoutEndpoint => Exception::InvalidRequest,
            _ => Exception::InvalidRequest,
        };
        ApiError::new(exception, e.to_string())
    }
}
