//! Decisions: which statement of which policy allows or denies a request.

use std::borrow::Cow;

use crate::action::Action;
use crate::context::RequestContext;
use crate::document::{Effect, PolicyDocument};

/// A policy document under the name it is stored and attached by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPolicy {
    /// Policy name (`airlock policy create NAME`).
    pub name: String,
    /// The parsed document.
    pub document: PolicyDocument,
}

/// The answer to one authorization request. Either way it says which statement decided, so
/// a refusal can be explained (`airlock policy test`) and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// An `Allow` statement matched and no `Deny` did.
    Allow {
        /// Name of the policy holding the statement.
        policy: &'a str,
        /// Zero-based index of the statement in that policy.
        statement: usize,
        /// The statement's `Sid`, if it has one.
        sid: Option<&'a str>,
    },
    /// The request is refused.
    Deny {
        /// Why.
        reason: DenyReason<'a>,
    },
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason<'a> {
    /// A `Deny` statement matched; it wins over every `Allow`.
    Explicit {
        /// Name of the policy holding the statement.
        policy: &'a str,
        /// Zero-based index of the statement in that policy.
        statement: usize,
        /// The statement's `Sid`, if it has one.
        sid: Option<&'a str>,
    },
    /// No statement allowed the request (default deny).
    NoMatchingAllow,
}

impl Decision<'_> {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// One statement that applies to a request, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementMatch<'a> {
    /// Name of the policy holding the statement.
    pub policy: &'a str,
    /// Zero-based index of the statement in that policy.
    pub statement: usize,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<&'a str>,
    /// The statement's effect.
    pub effect: Effect,
}

/// Decides requests against policy documents for one Airlock deployment (region and account
/// id make up the resource ARNs policies are written against).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    region: String,
    account: String,
    /// `arn:aws:iot:{region}:{account}:`, built once.
    prefix: String,
}

impl Default for Engine {
    /// Region `airlock`, account `000000000000`.
    fn default() -> Engine {
        Engine::new("airlock", "000000000000")
    }
}

impl Engine {
    /// An engine whose resource ARNs are `arn:aws:iot:{region}:{account}:...`.
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Engine {
        let region = region.into();
        let account = account.into();
        let prefix = format!("arn:aws:iot:{region}:{account}:");
        Engine {
            region,
            account,
            prefix,
        }
    }

    /// The configured region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The configured account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Full ARN of a resource given as `kind/path`: `"topic/a/b"` →
    /// `"arn:aws:iot:{region}:{account}:topic/a/b"`.
    pub fn resource_arn(&self, kind_and_path: &str) -> String {
        let mut arn = String::with_capacity(self.prefix.len() + kind_and_path.len());
        arn.push_str(&self.prefix);
        arn.push_str(kind_and_path);
        arn
    }

    fn full_arn<'r>(&self, resource: &'r str) -> Cow<'r, str> {
        if resource == "*" || resource.starts_with("arn:") {
            Cow::Borrowed(resource)
        } else {
            Cow::Owned(self.resource_arn(resource))
        }
    }

    /// Decide one request. `resource` is a full ARN, `"*"`, or `kind/path` (`"topic/a/b"`,
    /// `"client/c1"`, `"topicfilter/a/#"`, `"rolealias/r"`). Default deny; a matching `Deny`
    /// in any of the documents wins over every `Allow`.
    pub fn evaluate<'a>(
        &self,
        policies: &'a [NamedPolicy],
        action: Action,
        resource: &str,
        ctx: &RequestContext,
    ) -> Decision<'a> {
        let arn = self.full_arn(resource);
        let bit = action.bit();
        let mut allow = None;
        for p in policies {
            for (i, s) in p.document.statements().iter().enumerate() {
                // Skip the resource and condition work for Allows once one has matched; a
                // Deny must still be looked for everywhere.
                if s.effect() == Effect::Allow && allow.is_some() {
                    continue;
                }
                if !s.applies(bit, &arn, ctx) {
                    continue;
                }
                match s.effect() {
                    Effect::Deny => {
                        return Decision::Deny {
                            reason: DenyReason::Explicit {
                                policy: &p.name,
                                statement: i,
                                sid: s.sid(),
                            },
                        };
                    }
                    Effect::Allow => {
                        allow = Some(Decision::Allow {
                            policy: &p.name,
                            statement: i,
                            sid: s.sid(),
                        });
                    }
                }
            }
        }
        allow.unwrap_or(Decision::Deny {
            reason: DenyReason::NoMatchingAllow,
        })
    }

    /// Decide a request that needs several actions on one resource, e.g. a retained publish
    /// (AWS: "the device must be able to ... publish (any MQTT message), and publish MQTT
    /// retained messages" — `[Action::Publish, Action::RetainPublish]`). The first denial is
    /// returned; if all are allowed, the decision for the last action.
    pub fn evaluate_all<'a>(
        &self,
        policies: &'a [NamedPolicy],
        actions: &[Action],
        resource: &str,
        ctx: &RequestContext,
    ) -> Decision<'a> {
        let mut last = Decision::Deny {
            reason: DenyReason::NoMatchingAllow,
        };
        for a in actions {
            last = self.evaluate(policies, *a, resource, ctx);
            if !last.is_allowed() {
                return last;
            }
        }
        last
    }

    /// Every statement that applies to the request, Allow and Deny alike, in policy order:
    /// what `airlock policy test` prints under the decision.
    pub fn matching_statements<'a>(
        &self,
        policies: &'a [NamedPolicy],
        action: Action,
        resource: &str,
        ctx: &RequestContext,
    ) -> Vec<StatementMatch<'a>> {
        let arn = self.full_arn(resource);
        let bit = action.bit();
        let mut out = Vec::new();
        for p in policies {
            for (i, s) in p.document.statements().iter().enumerate() {
                if s.applies(bit, &arn, ctx) {
                    out.push(StatementMatch {
                        policy: &p.name,
                        statement: i,
                        sid: s.sid(),
                        effect: s.effect(),
                    });
                }
            }
        }
        out
    }
}
