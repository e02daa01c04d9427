//! Why a request was refused, in words a plant engineer can act on.

use std::fmt;

use airlock_policy::{Action, ClientIdRefused};
use airlock_registry::CertificateStatus;

/// One statement of one policy: what allowed or denied a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Policy name.
    pub policy: String,
    /// Zero-based index of the statement in the policy's default version.
    pub statement: usize,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {:?} statement {}", self.policy, self.statement)?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid:?})")?;
        }
        Ok(())
    }
}

/// Why a request was refused. `Display` gives the sentence that goes into the log, the v5
/// reason string and `airlock policy test`: what happened and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// The certificate is not in the registry.
    #[error(
        "certificate {} is not registered; register it (airlock cert register) or connect with a certificate Airlock issued",
        short(certificate_id)
    )]
    UnknownCertificate {
        /// Certificate id.
        certificate_id: String,
    },
    /// The certificate is registered but not ACTIVE.
    #[error("certificate {} is {status}; {}", short(certificate_id), status_fix(*status, certificate_id))]
    CertificateNotActive {
        /// Certificate id.
        certificate_id: String,
        /// Its status.
        status: CertificateStatus,
    },
    /// The certificate is outside its validity period.
    #[error(
        "certificate {} is {what} (valid from {not_before} to {not_after}, Unix seconds; now {now}); issue a new one with 'airlock cert create' or check the clocks",
        short(certificate_id)
    )]
    CertificateNotValid {
        /// Certificate id.
        certificate_id: String,
        /// `expired` or `not yet valid`.
        what: &'static str,
        /// Start of validity.
        not_before: i64,
        /// End of validity.
        not_after: i64,
        /// The time of the check.
        now: i64,
    },
    /// The certificate could not be read for its policy variables.
    #[error(
        "certificate {} cannot be read ({reason}); re-issue it",
        short(certificate_id)
    )]
    CertificateUnreadable {
        /// Certificate id.
        certificate_id: String,
        /// What the parser said.
        reason: String,
    },
    /// The client id contains `+` or `#` and the strict AWS compatibility option is off.
    #[error("{0}")]
    ClientId(ClientIdRefused),
    /// An anonymous connection came through an endpoint that names no policy for it.
    #[error(
        "endpoint {endpoint_id:?} accepts unauthenticated clients but names no policy for them; give it an anonymous policy in the configuration"
    )]
    NoAnonymousPolicy {
        /// The endpoint.
        endpoint_id: String,
    },
    /// The policy an endpoint names for anonymous clients does not exist.
    #[error(
        "endpoint {endpoint_id:?} authorizes unauthenticated clients with policy {policy:?}, which does not exist; create it with 'airlock policy create {policy}'"
    )]
    AnonymousPolicyMissing {
        /// The endpoint.
        endpoint_id: String,
        /// The missing policy.
        policy: String,
    },
    /// A policy in force is not a valid document (stored before validation was enabled, or
    /// under larger limits). Everything it would decide is refused rather than guessed.
    #[error(
        "policy {policy:?} version {version} is not a valid policy document ({reason}); fix it with 'airlock policy version {policy}'"
    )]
    InvalidPolicy {
        /// Policy name.
        policy: String,
        /// The default version's id.
        version: u32,
        /// What the parser said.
        reason: String,
    },
    /// A `Deny` statement matched.
    #[error("{action} on {resource} is denied by {statement}")]
    ExplicitDeny {
        /// The action asked for.
        action: Action,
        /// The resource, `kind/path`.
        resource: String,
        /// The statement that denied it.
        statement: StatementRef,
    },
    /// No statement allowed the request (default deny).
    #[error(
        "{action} on {resource} is not allowed by any policy in force ({})",
        in_force(policies)
    )]
    NoMatchingAllow {
        /// The action asked for.
        action: Action,
        /// The resource, `kind/path`.
        resource: String,
        /// Names of the policies that were consulted.
        policies: Vec<String>,
    },
}

impl Denial {
    /// The action refused, for a denial the policies decided.
    pub fn action(&self) -> Option<Action> {
        match self {
            Denial::ExplicitDeny { action, .. } | Denial::NoMatchingAllow { action, .. } => {
                Some(*action)
            }
            _ => None,
        }
    }

    /// The statement that decided, for a denial a statement decided.
    pub fn statement(&self) -> Option<&StatementRef> {
        match self {
            Denial::ExplicitDeny { statement, .. } => Some(statement),
            _ => None,
        }
    }
}

/// `3f9a0c1d…`: enough of an id to find it, short enough for a log line.
fn short(id: &str) -> String {
    match id.get(..8) {
        Some(head) if id.len() > 8 => format!("{head}…"),
        _ => id.to_string(),
    }
}

fn status_fix(status: CertificateStatus, id: &str) -> String {
    match status {
        CertificateStatus::Active => "it may connect".to_string(),
        CertificateStatus::Inactive => format!("activate it with 'airlock cert activate {id}'"),
        CertificateStatus::Revoked => "issue a new one with 'airlock cert create'".to_string(),
        CertificateStatus::PendingActivation => format!(
            "it was auto-registered; activate it with 'airlock cert activate {id}' once you trust the device"
        ),
    }
}

fn in_force(policies: &[String]) -> String {
    if policies.is_empty() {
        "none is attached; attach one with 'airlock policy attach'".to_string()
    } else {
        format!("policies in force: {}", policies.join(", "))
    }
}
