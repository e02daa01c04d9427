//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for Airlock's artifact store.
//!
//! This crate owns SigV4 end to end: parsing the `Authorization` header and the presigned-URL
//! query parameters (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature`, `X-Amz-Security-Token`), the canonical request
//! (URI encoding, with S3's single encoding or other services' normalised double encoding;
//! sorted, re-encoded query; trimmed, comma-joined headers), the string to sign, the signing
//! key chain and the constant-time comparison, the request-time rules (15 minutes of skew for
//! header auth, seven days at most for presigned URLs), and the S3 error code of each refusal
//! ([`SigV4Error::s3_code`]). It also signs, through the same code, for tests and the CLI.
//!
//! It is pure: no I/O, no async, no clock (the caller passes `now`), and no HTTP framework
//! types ([`HttpRequest`] is plain data). It must not know how credentials are stored or what
//! a session token means: [`Verifier::parse`] yields a [`SignedRequest`] naming the access key
//! id, the caller looks up the secret, and [`Verifier::verify`] checks the signature. Token
//! validation, authorization and checking the body against [`Payload`] are the caller's.
//!
//! ```
//! use airlock_sigv4::{AmzDate, Credentials, HttpRequest, Signer, Verifier, EMPTY_SHA256};
//!
//! let creds = Credentials {
//!     access_key_id: "AKID".into(),
//!     secret_access_key: "secret".into(),
//!     session_token: Some("token".into()),
//! };
//! let date = AmzDate::parse("20250101T000000Z").unwrap();
//! let mut req = HttpRequest::new("GET", "/bucket/key.bin")
//!     .with_header("host", "artifacts.local")
//!     .with_header("x-amz-content-sha256", EMPTY_SHA256);
//! Signer::s3("us-east-1").sign(&mut req, &creds, date, EMPTY_SHA256, None).unwrap();
//!
//! let verifier = Verifier::s3("us-east-1");
//! let signed = verifier.parse(&req, None).unwrap();
//! assert_eq!(signed.access_key_id(), "AKID");
//! let ok = verifier.verify(&signed, "secret", date.to_system_time()).unwrap();
//! assert_eq!(ok.security_token.as_deref(), Some("token"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod canonical;
mod date;
mod encode;
mod error;
mod request;
mod sign;
mod verify;

pub use canonical::{
    ALGORITHM, EMPTY_SHA256, SigningKey, UNSIGNED_PAYLOAD, canonical_request, credential_scope,
    sha256_hex, string_to_sign,
};
pub use date::AmzDate;
pub use encode::{
    QueryParam, UriEncoding, canonical_query, canonical_uri, parse_query, percent_decode,
    uri_encode,
};
pub use error::SigV4Error;
pub use request::HttpRequest;
pub use sign::{Credentials, Signature, Signer};
pub use verify::{
    AuthKind, Credential, DEFAULT_MAX_SKEW, MAX_PRESIGNED_EXPIRES_SECS, Payload, SignedRequest,
    Verified, Verifier, signature_hex,
};
