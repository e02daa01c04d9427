//! What the operator decides about authorization.

use std::collections::HashMap;

use airlock_policy::{ClientIdRule, PolicyLimits};

/// Settings of [`crate::PolicyAuthorizer`].
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Accept client ids containing `+` or `#`, as AWS IoT does. Off by default: such a client
    /// id widens every `${iot:ClientId}` topic-filter grant (AWS's own warning), so Airlock
    /// refuses it at CONNECT before any policy is consulted.
    pub aws_compatible_client_ids: bool,
    /// For listeners with `authentication = "none"`: endpoint id → name of the registry
    /// policy that authorizes their clients. An anonymous connection through an endpoint
    /// without an entry is refused.
    pub anonymous_policies: HashMap<String, String>,
    /// Most decisions kept in the decision cache; when full, the cache starts over (a
    /// decision costs microseconds to recompute, so nothing smarter is worth its locking).
    pub cache_max_entries: usize,
    /// Limits used when parsing stored policy documents; keep them equal to the limits the
    /// registry's validator uses, or a document the registry accepted may be refused here.
    pub policy_limits: PolicyLimits,
}

impl Default for IdentityConfig {
    fn default() -> IdentityConfig {
        IdentityConfig {
            aws_compatible_client_ids: false,
            anonymous_policies: HashMap::new(),
            cache_max_entries: 65_536,
            policy_limits: PolicyLimits::default(),
        }
    }
}

impl IdentityConfig {
    /// The client-id rule this configuration asks for.
    pub fn client_id_rule(&self) -> ClientIdRule {
        if self.aws_compatible_client_ids {
            ClientIdRule::AwsCompatible
        } else {
            ClientIdRule::RefuseMqttWildcards
        }
    }
}
