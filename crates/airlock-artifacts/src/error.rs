//! Errors of the store and of authentication, each mapped to S3's error code and status.

use s3s::{S3Error, S3ErrorCode};

/// Why the filesystem store refused or failed an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The bucket does not exist.
    #[error("the bucket '{0}' does not exist; create it with CreateBucket")]
    NoSuchBucket(String),
    /// The key does not exist.
    #[error("the key '{0}' does not exist")]
    NoSuchKey(String),
    /// The multipart upload does not exist (or belongs to another key).
    #[error("the multipart upload '{0}' does not exist; it may have been completed or aborted")]
    NoSuchUpload(String),
    /// The bucket name breaks S3's naming rules.
    #[error("the bucket name '{0}' is not valid: use 3-63 characters of a-z, 0-9, '.' and '-'")]
    InvalidBucketName(String),
    /// The key is not acceptable (path traversal, NUL, length).
    #[error("the object key is not valid: {0}")]
    InvalidKey(String),
    /// Some other argument is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// The body is larger than the configured maximum.
    #[error("the object exceeds the maximum allowed size of {0} bytes")]
    TooLarge(u64),
    /// A part other than the last is under 5 MiB.
    #[error("part {0} is smaller than the 5 MiB minimum for every part but the last")]
    EntityTooSmall(i32),
    /// The body was shorter or longer than its Content-Length.
    #[error("the request body does not match its Content-Length")]
    IncompleteBody,
    /// The body does not match `Content-MD5`.
    #[error("the Content-MD5 you specified did not match what we received")]
    BadDigest,
    /// The body does not match a declared `x-amz-checksum-*` value.
    #[error("the {0} you specified did not match the calculated checksum")]
    ChecksumMismatch(&'static str),
    /// `x-amz-trailer` announced a checksum that the body's trailer did not carry.
    #[error("x-amz-trailer announced a checksum but the request's trailer did not carry it")]
    MissingTrailer,
    /// The body does not match `x-amz-content-sha256`.
    #[error("the provided 'x-amz-content-sha256' header does not match what was computed")]
    Sha256Mismatch,
    /// A part named in CompleteMultipartUpload is missing or its ETag differs.
    #[error("part {0} was not uploaded or its ETag does not match; upload it again")]
    InvalidPart(i32),
    /// The parts in CompleteMultipartUpload are not in ascending order.
    #[error("the list of parts was not in ascending order by part number")]
    InvalidPartOrder,
    /// The request body XML is malformed or empty.
    #[error("{0}")]
    MalformedXml(String),
    /// A stored file does not have the expected layout.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The client's body stream failed.
    #[error("reading the request body failed: {0}")]
    Body(S3Error),
    /// An I/O error in the data directory.
    #[error("I/O error in the artifact store: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> S3Error {
        use S3ErrorCode as C;
        let e = match e {
            StoreError::Body(inner) => return inner,
            StoreError::Sha256Mismatch => {
                return s3_error("XAmzContentSHA256Mismatch", 400, e.to_string());
            }
            other => other,
        };
        let code = match &e {
            StoreError::NoSuchBucket(_) => C::NoSuchBucket,
            StoreError::NoSuchKey(_) => C::NoSuchKey,
            StoreError::NoSuchUpload(_) => C::NoSuchUpload,
            StoreError::InvalidBucketName(_) => C::InvalidBucketName,
            StoreError::InvalidKey(_) | StoreError::InvalidArgument(_) => C::InvalidArgument,
            StoreError::TooLarge(_) => C::EntityTooLarge,
            StoreError::EntityTooSmall(_) => C::EntityTooSmall,
            StoreError::IncompleteBody => C::IncompleteBody,
            StoreError::MissingTrailer => C::InvalidRequest,
            StoreError::BadDigest | StoreError::ChecksumMismatch(_) => C::BadDigest,
            StoreError::InvalidPart(_) => C::InvalidPart,
            StoreError::InvalidPartOrder => C::InvalidPartOrder,
            StoreError::MalformedXml(_) => C::MalformedXML,
            StoreError::Body(_) | StoreError::Sha256Mismatch => C::InvalidRequest,
            StoreError::Corrupt(_) | StoreError::Io(_) => {
                tracing::error!(error = %e, "artifact store failure");
                return S3Error::with_message(C::InternalError, "internal error");
            }
        };
        S3Error::with_message(code, e.to_string())
    }
}

/// Wraps a body stream error. s3s checks a signed body against `x-amz-content-sha256` as it
/// streams and fails the stream with its private `UploadStreamError`, which is only
/// recognisable by its message; a mismatch becomes `XAmzContentSHA256Mismatch` as in S3.
/// Other failures (the client went away, short body) become `IncompleteBody`.
pub(crate) fn body_error(e: s3s::StdError) -> StoreError {
    match e.downcast::<S3Error>() {
        Ok(s3) => StoreError::Body(*s3),
        Err(other) if other.to_string().contains("Sha256Mismatch") => StoreError::Sha256Mismatch,
        Err(other) => StoreError::Body(S3Error::with_message(
            S3ErrorCode::IncompleteBody,
            format!("reading the request body failed: {other}"),
        )),
    }
}

/// Builds an S3 error with a code s3s may not have a variant for (`ExpiredToken`,
/// `InvalidToken`) and an explicit status.
pub(crate) fn s3_error(code: &str, status: u16, message: String) -> S3Error {
    let code = code.parse().unwrap_or(S3ErrorCode::AccessDenied);
    let mut e = S3Error::with_message(code, message);
    if let Ok(s) = http::StatusCode::from_u16(status) {
        e.set_status_code(s);
    }
    e
}
