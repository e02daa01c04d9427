//! Temporary credentials and role permissions for Airlock's credential provider.
//!
//! This crate owns two things. First, the temporary credentials the credential provider hands
//! out (`GET /role-aliases/{alias}/credentials`) and the artifact store accepts: a
//! [`CredentialMinter`] turns [`SessionClaims`] (role, role alias, thing, certificate, lifetime)
//! into [`TemporaryCredentials`] whose session token is a versioned, HMAC-SHA256-protected,
//! expiring claim, whose access key id is a hash of that token and whose secret access key is
//! derived from the server key — so [`CredentialMinter::verify`] needs no storage and no network
//! hop to recover the claims and the secret that signs the request. Second, the role's IAM-style
//! permissions document ([`RolePolicy`]): parsing with errors naming the offending element,
//! `s3:*`-style actions, `arn:aws:s3:::bucket/key` resources with `*`/`?`, the
//! `credentials-iot:*` policy variables, string conditions, default deny, explicit deny wins
//! ([`Decision`]). It is pure: no I/O, no async, no clock (callers pass `now`), no HTTP types.
//! It must not know where the server key is kept, how roles, aliases or certificates are
//! stored, or whether they are still enabled: `verify` returns the claims and the caller checks
//! that the certificate is still ACTIVE and the role and alias still exist (see
//! `crates/airlock-credentials/CREDENTIALS.md`). SigV4 itself is `airlock-sigv4`'s.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod encoding;
mod error;
mod minter;
mod policy;
mod token;

pub use encoding::format_rfc3339;
pub use error::{CredentialError, MintError};
pub use minter::{
    CredentialMinter, MAX_CERTIFICATE_ID_LEN, MAX_DURATION_SECS, MAX_ROLE_ALIAS_LEN,
    MAX_ROLE_ARN_LEN, MAX_THING_NAME_LEN, MAX_THING_TYPE_NAME_LEN, MIN_DURATION_SECS,
    SessionClaims, TemporaryCredentials,
};
pub use policy::{
    Decision, Effect, MAX_POLICY_CHARS, PolicyError, Problem, RequestContext, RolePolicy, Statement,
};
