//! Why a request was not accepted, and the S3 error code each reason maps to.

/// Why a SigV4-signed request was refused. Every variant names an S3 error code through
/// [`SigV4Error::s3_code`], so the artifact store can answer the way S3 does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// The request carries neither an `Authorization` header nor `X-Amz-Algorithm` in its
    /// query string.
    #[error(
        "the request is not signed: send an 'Authorization: AWS4-HMAC-SHA256 ...' header or a presigned URL"
    )]
    MissingAuthentication,
    /// Both header and query authentication were offered; S3 accepts exactly one.
    #[error(
        "only one authentication mechanism is allowed: send the Authorization header or the X-Amz-* query parameters, not both"
    )]
    MultipleAuthMechanisms,
    /// The `Authorization` header could not be parsed.
    #[error("the Authorization header is malformed: {0}")]
    HeaderMalformed(String),
    /// The presigned-URL query parameters could not be parsed.
    #[error("the X-Amz-* query parameters are malformed: {0}")]
    QueryMalformed(String),
    /// An algorithm other than AWS4-HMAC-SHA256 was named.
    #[error("unsupported signing algorithm '{0}': only AWS4-HMAC-SHA256 is accepted")]
    UnsupportedAlgorithm(String),
    /// Header authentication without a usable `x-amz-date` header.
    #[error(
        "AWS authentication requires a valid x-amz-date header in the form YYYYMMDDTHHMMSSZ: {0}"
    )]
    MissingDate(String),
    /// A header that must be signed (`host`, `x-amz-date`, or any `x-amz-*` header sent with
    /// the request) is not in the signed-headers list.
    #[error("header '{0}' is present in the request but not signed; include it in SignedHeaders")]
    HeaderNotSigned(String),
    /// A header named in the signed-headers list is not in the request.
    #[error("signed header '{0}' is missing from the request")]
    SignedHeaderMissing(String),
    /// Header authentication for S3 without `x-amz-content-sha256` (and no payload hash given
    /// by the caller).
    #[error(
        "missing required header x-amz-content-sha256: send the hex SHA-256 of the body or UNSIGNED-PAYLOAD"
    )]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a hex SHA-256, `UNSIGNED-PAYLOAD` nor a `STREAMING-*`
    /// marker.
    #[error(
        "x-amz-content-sha256 '{0}' is invalid: send the hex SHA-256 of the body, UNSIGNED-PAYLOAD or a STREAMING-* value"
    )]
    InvalidPayloadHash(String),
    /// The credential scope names a region other than the one this endpoint serves.
    #[error("the authorization region '{got}' is wrong; expecting '{expected}'")]
    WrongRegion {
        /// Region in the credential scope.
        got: String,
        /// Region the caller serves.
        expected: String,
    },
    /// The credential scope names a service other than the one this endpoint serves.
    #[error("the authorization service '{got}' is wrong; expecting '{expected}'")]
    WrongService {
        /// Service in the credential scope.
        got: String,
        /// Service the caller serves.
        expected: String,
    },
    /// The credential scope date is not the day of the request date.
    #[error(
        "the credential scope date '{scope}' does not match the request date '{date}'; sign with the date of x-amz-date"
    )]
    ScopeDateMismatch {
        /// Date (YYYYMMDD) in the credential scope.
        scope: String,
        /// Request date (YYYYMMDDTHHMMSSZ).
        date: String,
    },
    /// Header authentication whose `x-amz-date` is too far from the server's clock.
    #[error(
        "the difference between the request time {request_time} and the server time {server_time} is too large (over {max_skew_secs} s); fix the client's clock"
    )]
    RequestTimeTooSkewed {
        /// Request date (YYYYMMDDTHHMMSSZ).
        request_time: String,
        /// Server date (YYYYMMDDTHHMMSSZ).
        server_time: String,
        /// Allowed skew in seconds.
        max_skew_secs: u64,
    },
    /// A presigned URL whose `X-Amz-Date + X-Amz-Expires` is in the past.
    #[error(
        "request has expired: the presigned URL was valid until {expired_at}; presign a new one"
    )]
    Expired {
        /// Expiry instant (YYYYMMDDTHHMMSSZ).
        expired_at: String,
    },
    /// A presigned URL dated in the future beyond the allowed skew.
    #[error("request is not valid yet: the presigned URL is dated {date}; fix the signer's clock")]
    NotYetValid {
        /// X-Amz-Date of the URL.
        date: String,
    },
    /// The signature does not match the one computed with the secret of the access key.
    #[error(
        "the request signature we calculated does not match the signature you provided; check your key and signing method"
    )]
    SignatureDoesNotMatch,
    /// For callers: the access key id is not known to the credential store.
    #[error("the AWS access key id '{0}' does not exist in our records")]
    InvalidAccessKeyId(String),
    /// For callers: the security token could not be validated.
    #[error("the provided security token is invalid: {0}")]
    InvalidToken(String),
    /// For callers: the security token has expired.
    #[error("the provided security token has expired; fetch new credentials")]
    ExpiredToken,
}

impl SigV4Error {
    /// The S3 error code (`<Code>` of the XML error body) for this refusal.
    pub fn s3_code(&self) -> &'static str {
        match self {
            Self::MissingAuthentication
            | Self::MissingDate(_)
            | Self::HeaderNotSigned(_)
            | Self::Expired { .. }
            | Self::NotYetValid { .. } => "AccessDenied",
            Self::MultipleAuthMechanisms | Self::InvalidPayloadHash(_) => "InvalidArgument",
            Self::MissingContentSha256 => "InvalidRequest",
            Self::HeaderMalformed(_)
            | Self::UnsupportedAlgorithm(_)
            | Self::WrongRegion { .. }
            | Self::WrongService { .. }
            | Self::ScopeDateMismatch { .. } => "AuthorizationHeaderMalformed",
            Self::QueryMalformed(_) => "AuthorizationQueryParametersError",
            Self::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            Self::SignatureDoesNotMatch | Self::SignedHeaderMissing(_) => "SignatureDoesNotMatch",
            Self::InvalidAccessKeyId(_) => "InvalidAccessKeyId",
            Self::InvalidToken(_) => "InvalidToken",
            Self::ExpiredToken => "ExpiredToken",
        }
    }

    /// The HTTP status S3 answers this refusal with.
    pub fn http_status(&self) -> u16 {
        match self.s3_code() {
            "InvalidArgument"
            | "InvalidRequest"
            | "AuthorizationHeaderMalformed"
            | "AuthorizationQueryParametersError"
            | "InvalidToken"
            | "ExpiredToken" => 400,
            _ => 403,
        }
    }
}
