//! Why credentials could not be minted or verified.

/// Why [`CredentialMinter::mint`](crate::CredentialMinter::mint) refused a set of claims. These
/// are the server's own mistakes (a registry that let an over-long name in, a bad duration),
/// never a client's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// A claim is longer than a session token carries (the token must keep the credential
    /// provider's response under the 2048 bytes the AWS CRT client accepts).
    #[error(
        "{field} is {len} bytes, over the {max}-byte limit of a session token; shorten it in the registry"
    )]
    FieldTooLong {
        /// Which claim.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required claim is empty (or an optional one is present but empty).
    #[error("{field} is empty; a session token must name it (leave an optional claim as None)")]
    EmptyField {
        /// Which claim.
        field: &'static str,
    },
    /// `expires_at - issued_at` is outside AWS's 900–43200 s for credentialDurationSeconds.
    #[error(
        "credential lifetime of {seconds} s is outside 900..=43200 s; set the role alias's credentialDurationSeconds within that range"
    )]
    Lifetime {
        /// The requested lifetime (negative when `expires_at` precedes `issued_at`).
        seconds: i128,
    },
    /// `issued_at` or `expires_at` is before 1970.
    #[error("issued_at and expires_at must not be before 1970-01-01T00:00:00Z; check the clock")]
    BeforeEpoch,
    /// The credentials would be expired when handed out.
    #[error("the credentials would expire at {expires_at}, not after now ({now}); check the clock")]
    AlreadyExpired {
        /// `expires_at`, RFC 3339.
        expires_at: String,
        /// `now`, RFC 3339.
        now: String,
    },
}

/// Why a presented access key id and session token were refused. Each maps to the S3 error
/// code ([`CredentialError::s3_code`]) and status ([`CredentialError::http_status`]) the artifact
/// store answers with; the message is for the server's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Not base64url, truncated, or otherwise not a token this server could have minted.
    #[error(
        "the session token is malformed (not base64url, truncated or padded); send the sessionToken from the credential provider unchanged"
    )]
    Malformed,
    /// A token format version this server does not understand.
    #[error("session token format version {0} is not supported here; fetch new credentials")]
    UnsupportedVersion(u8),
    /// Signed with a key this server does not hold (rotated out, or another server's).
    #[error(
        "the session token was signed with key id {0}, which this server does not hold (rotated out or another server's); fetch new credentials"
    )]
    UnknownKey(u8),
    /// The MAC does not verify: the token was altered or minted with another key.
    #[error(
        "the session token's MAC does not verify: it was altered or minted by another server; fetch new credentials"
    )]
    BadSignature,
    /// The access key id is not the one minted with this token.
    #[error(
        "access key id '{given}' was not issued with this session token; sign with the accessKeyId returned together with the token"
    )]
    AccessKeyMismatch {
        /// The presented access key id, cut to 32 characters.
        given: String,
    },
    /// The token's lifetime is over.
    #[error(
        "the session token expired at {expired_at}; fetch new credentials from the credential provider"
    )]
    Expired {
        /// When it expired, RFC 3339.
        expired_at: String,
    },
}

impl CredentialError {
    /// The S3 error code to answer with: `InvalidToken`, `ExpiredToken` or
    /// `InvalidAccessKeyId`.
    pub fn s3_code(&self) -> &'static str {
        match self {
            CredentialError::Malformed
            | CredentialError::UnsupportedVersion(_)
            | CredentialError::UnknownKey(_)
            | CredentialError::BadSignature => "InvalidToken",
            CredentialError::AccessKeyMismatch { .. } => "InvalidAccessKeyId",
            CredentialError::Expired { .. } => "ExpiredToken",
        }
    }

    /// The HTTP status S3 uses with [`s3_code`](Self::s3_code): 400 for the token errors,
    /// 403 for `InvalidAccessKeyId`.
    pub fn http_status(&self) -> u16 {
        match self {
            CredentialError::AccessKeyMismatch { .. } => 403,
            _ => 400,
        }
    }

    /// The message S3 sends with [`s3_code`](Self::s3_code) (the `Display` text is for logs and
    /// says more than a client needs).
    pub fn s3_message(&self) -> &'static str {
        match self.s3_code() {
            "InvalidAccessKeyId" => {
                "The AWS access key Id you provided does not exist in our records."
            }
            "ExpiredToken" => "The provided token has expired.",
            _ => "The provided token is malformed or otherwise invalid.",
        }
    }
}
