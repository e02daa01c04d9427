//! The AWS IoT policy language for Airlock.
//!
//! This crate owns policy documents end to end: parsing and validating them (an invalid
//! document is refused with the path of the offending element, e.g.
//! `Statement[1].Effect must be "Allow" or "Deny"`), the 2048-character size limit, policy
//! variables and their substitution rules, condition operators and keys, and the decision
//! itself — default deny, an explicit `Deny` in any document wins, and every answer names the
//! statement that produced it ([`Decision`]). It is pure: no I/O, no async, no clock. It knows
//! nothing of MQTT packets, TLS, storage or the thing registry; callers describe a request as
//! an [`Action`], a resource (`topic/a/b` or a full ARN) and a [`RequestContext`], and the
//! engine answers. Wildcard patterns are compiled when a document is parsed (actions to a bit
//! set, resources to token lists), so a decision allocates nothing for variable-free
//! statements. The AWS rules encoded here, and where each was checked, are listed in
//! `crates/airlock-policy/POLICIES.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod client_id;
mod condition;
mod context;
mod document;
mod engine;
mod error;
pub mod glob;
mod key;
mod template;

pub use action::{Action, UnknownAction};
pub use client_id::{ClientIdRefused, ClientIdRule, check_client_id, client_id_allowed};
pub use condition::Cidr;
pub use context::{CertificateContext, RequestContext, ThingContext};
pub use document::{Effect, PolicyDocument, PolicyLimits, PolicyVersion, Statement};
pub use engine::{Decision, DenyReason, Engine, NamedPolicy, StatementMatch};
pub use error::{PolicyError, Problem};
