//! Airlock's identity glue.
//!
//! This crate owns turning a connection (certificate, endpoint, client id) into policy
//! decisions: it implements the broker's [`airlock_broker::Authorizer`] with
//! [`PolicyAuthorizer`], which looks the certificate up in the registry (status, attached
//! thing, attached and inherited policies), builds the policy engine's request context
//! (client id, source address, endpoint id as `aws:SourceVpce`, certificate subject and
//! issuer, connect attributes), asks [`airlock_policy::Engine`] for `iot:Connect`,
//! `iot:Publish`/`iot:RetainPublish`, `iot:Subscribe` and `iot:Receive`, caches the answers
//! until the registry changes, and logs every refusal with the statement that decided it.
//! [`test_authorization`] answers the same question offline, with the statements behind the
//! answer, for `airlock policy test`. It knows nothing of TLS or sockets: the transport has
//! already verified the certificate chain and hands over a
//! [`airlock_broker::ConnectionContext`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authorizer;
mod cache;
mod config;
mod denial;
mod explain;
mod metrics_names;
mod prepare;

pub use authorizer::{CacheStats, PolicyAuthorizer, policy_validator};
pub use config::IdentityConfig;
pub use denial::{Denial, StatementRef};
pub use explain::{
    AuthorizationTest, Explanation, MatchedStatement, TestError, TestPrincipal, test_authorization,
};
