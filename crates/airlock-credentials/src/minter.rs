//! Minting and verifying temporary credentials with a server-held key.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::{digest, hmac};

use crate::encoding::{base32_10, format_rfc3339, unix_secs};
use crate::error::{CredentialError, MintError};
use crate::token::{self, HEADER_LEN, TAG_LEN, VERSION};

/// Longest role ARN a token carries. IAM allows longer ARNs (a path of up to 512 characters),
/// but Airlock's roles are `arn:aws:iam::<account>:role/<name>` with IAM's 64-character name
/// limit (≤ 110 bytes in any partition); 256 leaves room for a short path while keeping the
/// credential provider's response under ~1.2 KB. The registry should refuse longer ARNs.
pub const MAX_ROLE_ARN_LEN: usize = 256;
/// Longest role alias: AWS's limit (1–128 characters).
pub const MAX_ROLE_ALIAS_LEN: usize = 128;
/// Longest thing name: AWS's limit (128 characters).
pub const MAX_THING_NAME_LEN: usize = 128;
/// Longest thing type name: AWS's limit (128 characters).
pub const MAX_THING_TYPE_NAME_LEN: usize = 128;
/// Longest certificate id: AWS's ids are 64 hex characters (SHA-256 of the DER).
pub const MAX_CERTIFICATE_ID_LEN: usize = 64;
/// Shortest credential lifetime AWS allows for a role alias (credentialDurationSeconds).
pub const MIN_DURATION_SECS: u64 = 900;
/// Longest credential lifetime AWS allows for a role alias (12 hours).
pub const MAX_DURATION_SECS: u64 = 43_200;

/// Domain-separation labels: one server key yields independent keys for each use, so a
/// MAC over a token can never double as a secret access key or a key id.
const LABEL_MAC: &[u8] = b"airlock-credentials/v1/token-mac";
const LABEL_SECRET: &[u8] = b"airlock-credentials/v1/secret-access-key";
const LABEL_KEY_ID: &[u8] = b"airlock-credentials/v1/key-id";
const LABEL_ACCESS_KEY_ID: &[u8] = b"airlock-credentials/v1/access-key-id";

/// What a session token asserts: who the credentials were issued to and for how long.
/// Times are whole seconds (the token stores Unix seconds; sub-second parts are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    /// The role assumed, e.g. `arn:aws:iam::123456789012:role/artifact-reader`
    /// (≤ [`MAX_ROLE_ARN_LEN`] bytes).
    pub role_arn: String,
    /// The role alias the credentials were requested through (≤ [`MAX_ROLE_ALIAS_LEN`]).
    pub role_alias: String,
    /// The thing named by `x-amzn-iot-thingname`, if any (≤ [`MAX_THING_NAME_LEN`]).
    pub thing_name: Option<String>,
    /// That thing's type, if it has one (≤ [`MAX_THING_TYPE_NAME_LEN`]).
    pub thing_type_name: Option<String>,
    /// The id of the certificate that authenticated the request (≤ [`MAX_CERTIFICATE_ID_LEN`]).
    pub certificate_id: String,
    /// When the credentials were issued.
    pub issued_at: SystemTime,
    /// When they stop being accepted.
    pub expires_at: SystemTime,
}

/// What the credential provider returns: AWS-shaped temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    /// `ASIA` followed by 16 uppercase letters and digits, derived from the session token.
    pub access_key_id: String,
    /// 40 base64 characters, derived from the server key and the session token.
    pub secret_access_key: String,
    /// base64url (no padding) of the token layout described in `CREDENTIALS.md`.
    pub session_token: String,
    /// When the credentials expire (whole seconds).
    pub expiration: SystemTime,
}

impl TemporaryCredentials {
    /// `expiration` as AWS formats it: RFC 3339 UTC with seconds and `Z`.
    pub fn expiration_rfc3339(&self) -> String {
        format_rfc3339(self.expiration)
    }

    /// The credential provider's 200 body, exactly AWS's shape:
    /// `{"credentials":{"accessKeyId":…,"secretAccessKey":…,"sessionToken":…,"expiration":…}}`.
    pub fn to_provider_json(&self) -> String {
        serde_json::json!({
            "credentials": {
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
                "sessionToken": self.session_token,
                "expiration": self.expiration_rfc3339(),
            }
        })
        .to_string()
    }
}

// The secret must not reach a log through `{:?}`.
impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &format_args!("<{} chars>", self.session_token.len()),
            )
            .field("expiration", &self.expiration_rfc3339())
            .finish()
    }
}

/// The keys derived from one 32-byte server key.
struct Keys {
    id: u8,
    mac: hmac::Key,
    secret: hmac::Key,
}

impl Keys {
    fn derive(key: &[u8; 32]) -> Keys {
        let master = hmac::Key::new(hmac::HMAC_SHA256, key);
        let sub = |label: &[u8]| hmac::sign(&master, label);
        Keys {
            id: sub(LABEL_KEY_ID).as_ref()[0],
            mac: hmac::Key::new(hmac::HMAC_SHA256, sub(LABEL_MAC).as_ref()),
            secret: hmac::Key::new(hmac::HMAC_SHA256, sub(LABEL_SECRET).as_ref()),
        }
    }
}

/// Mints temporary credentials with the current server key and verifies them with the
/// current or any previous key (rotation). Holds no other state: verification needs no
/// storage and no network hop.
pub struct CredentialMinter {
    current: Keys,
    previous: Vec<Keys>,
}

// Keys must not reach a log through `{:?}`.
impl fmt::Debug for CredentialMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialMinter")
            .field("key_id", &self.current.id)
            .field(
                "previous_key_ids",
                &self.previous.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CredentialMinter {
    /// A minter whose tokens are made and checked with `key` (32 random bytes the server keeps
    /// secret, e.g. a 0600 file in its data directory).
    pub fn new(key: [u8; 32]) -> CredentialMinter {
        CredentialMinter {
            current: Keys::derive(&key),
            previous: Vec::new(),
        }
    }

    /// Also accept tokens made with these earlier keys (never used to mint). Keep a retired
    /// key here for at least the longest credential lifetime (12 h) after rotating, then drop
    /// it: every token it made has expired by then.
    pub fn with_previous_keys(mut self, keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.previous
            .extend(keys.into_iter().map(|k| Keys::derive(&k)));
        self
    }

    /// The one-byte id the current key writes into tokens (derived from the key, for logs).
    pub fn key_id(&self) -> u8 {
        self.current.id
    }

    /// Issue credentials for `claims`. Refuses claims that would not fit the token or whose
    /// lifetime is outside 900–43200 s or already over at `now`.
    pub fn mint(
        &self,
        claims: &SessionClaims,
        now: SystemTime,
    ) -> Result<TemporaryCredentials, MintError> {
        check_field("role_arn", Some(&claims.role_arn), MAX_ROLE_ARN_LEN)?;
        check_field("role_alias", Some(&claims.role_alias), MAX_ROLE_ALIAS_LEN)?;
        check_field(
            "certificate_id",
            Some(&claims.certificate_id),
            MAX_CERTIFICATE_ID_LEN,
        )?;
        check_field("thing_name", claims.thing_name.as_ref(), MAX_THING_NAME_LEN)?;
        check_field(
            "thing_type_name",
            claims.thing_type_name.as_ref(),
            MAX_THING_TYPE_NAME_LEN,
        )?;
        let issued = unix_secs(claims.issued_at).ok_or(MintError::BeforeEpoch)?;
        let expires = unix_secs(claims.expires_at).ok_or(MintError::BeforeEpoch)?;
        let lifetime = i128::from(expires) - i128::from(issued);
        if !(i128::from(MIN_DURATION_SECS)..=i128::from(MAX_DURATION_SECS)).contains(&lifetime) {
            return Err(MintError::Lifetime { seconds: lifetime });
        }
        if unix_secs(now).is_some_and(|n| n >= expires) {
            return Err(MintError::AlreadyExpired {
                expires_at: format_rfc3339(claims.expires_at),
                now: format_rfc3339(now),
            });
        }

        let mut bytes = token::encode_body(claims, self.current.id, issued, expires);
        let tag = hmac::sign(&self.current.mac, &bytes);
        bytes.extend_from_slice(tag.as_ref());
        Ok(TemporaryCredentials {
            access_key_id: access_key_id(&bytes),
            secret_access_key: secret_access_key(&self.current, &bytes),
            session_token: URL_SAFE_NO_PAD.encode(&bytes),
            expiration: UNIX_EPOCH + Duration::from_secs(expires),
        })
    }

    /// Check a presented access key id and session token and return the claims and the secret
    /// access key to verify the request's SigV4 signature with.
    ///
    /// Checked, in order: the token decodes and has a known version; its MAC verifies (in
    /// constant time) under the current or a previous key; the access key id is the one minted
    /// with it; it has not expired at `now`. What this cannot know — whether the certificate
    /// is still ACTIVE and the role and role alias still exist — the caller must check with the
    /// returned claims before trusting them.
    pub fn verify(
        &self,
        access_key_id_given: &str,
        session_token: &str,
        now: SystemTime,
    ) -> Result<(SessionClaims, String), CredentialError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(session_token)
            .map_err(|_| CredentialError::Malformed)?;
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(CredentialError::Malformed);
        }
        if bytes[0] != VERSION {
            return Err(CredentialError::UnsupportedVersion(bytes[0]));
        }
        let key_id = bytes[1];
        let (body, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        // Key ids are one byte derived from the key, so two keys may share one; try each.
        let mut candidates = std::iter::once(&self.current)
            .chain(&self.previous)
            .filter(|k| k.id == key_id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(CredentialError::UnknownKey(key_id));
        }
        let keys = candidates
            .find(|k| hmac::verify(&k.mac, body, tag).is_ok())
            .ok_or(CredentialError::BadSignature)?;

        // The access key id is public (it travels in every Authorization header), so an
        // ordinary comparison leaks nothing.
        if access_key_id(&bytes) != access_key_id_given {
            return Err(CredentialError::AccessKeyMismatch {
                given: access_key_id_given.chars().take(32).collect(),
            });
        }
        let expires = token::expires_at(body).ok_or(CredentialError::Malformed)?;
        if unix_secs(now).is_none_or(|n| n >= expires) {
            return Err(CredentialError::Expired {
                expired_at: format_rfc3339(UNIX_EPOCH + Duration::from_secs(expires)),
            });
        }
        let claims = token::decode_body(body).ok_or(CredentialError::Malformed)?;
        Ok((claims, secret_access_key(keys, &bytes)))
    }
}

fn check_field(field: &'static str, value: Option<&String>, max: usize) -> Result<(), MintError> {
    match value {
        None => Ok(()),
        Some(v) if v.is_empty() => Err(MintError::EmptyField { field }),
        Some(v) if v.len() > max => Err(MintError::FieldTooLong {
            field,
            len: v.len(),
            max,
        }),
        Some(_) => Ok(()),
    }
}

/// `ASIA` + base32 of the first 80 bits of a hash of the whole token (tag included), so the
/// id names exactly one token and a token cannot be presented under another id.
fn access_key_id(token: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(LABEL_ACCESS_KEY_ID);
    ctx.update(token);
    let hash = ctx.finish();
    let mut first = [0u8; 10];
    first.copy_from_slice(&hash.as_ref()[..10]);
    format!("ASIA{}", base32_10(&first))
}

/// 40 base64 characters (240 bits) of HMAC(secret key, token): recomputable by the server at
/// verification, unknowable without the server key, different for every token.
fn secret_access_key(keys: &Keys, token: &[u8]) -> String {
    let tag = hmac::sign(&keys.secret, token);
    STANDARD.encode(&tag.as_ref()[..30])
}
