//! The lookups the authorizer makes on every connect.

use std::collections::BTreeSet;

use crate::model::{
    CertificateStatus, EffectivePolicy, PolicyTarget, ThingPrincipalType, ThingView,
};

use super::Registry;

impl Registry {
    /// The status of a device certificate, or `None` if it is not registered.
    pub fn certificate_status(&self, certificate_id: &str) -> Option<CertificateStatus> {
        self.certificates.get(certificate_id).map(|c| c.status)
    }

    /// Whether `thing` is attached to `certificate_id` (the credential provider's
    /// `x-amzn-iot-thingname` check).
    pub fn is_attached(&self, certificate_id: &str, thing: &str) -> bool {
        self.cert_things
            .get(certificate_id)
            .is_some_and(|t| t.contains_key(thing))
    }

    /// The policies in force for a connection with this certificate and client id, each with
    /// its default version's document:
    ///
    /// 1. the policies attached to the certificate, by name;
    /// 2. only if `client_id` is the name of a thing attached to the certificate (AWS: thing
    ///    group policies apply only when the client id is the thing name), the policies
    ///    attached to each of that thing's groups and to every ancestor of those groups,
    ///    nearest group first — policies are inherited down the hierarchy.
    ///
    /// A policy reachable several ways appears once, from the first source. The certificate's
    /// status is not considered; check [`Registry::certificate_status`] first.
    pub fn effective_policies(
        &self,
        certificate_id: &str,
        client_id: &str,
    ) -> Vec<EffectivePolicy> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let cert_target = PolicyTarget::Certificate(certificate_id.to_string());
        self.push_policies(&cert_target, &mut seen, &mut out);
        if self.is_attached(certificate_id, client_id) {
            for group in self.groups_of_thing(client_id) {
                for ancestor in self.group_ancestry(group) {
                    let target = PolicyTarget::ThingGroup(ancestor.to_string());
                    self.push_policies(&target, &mut seen, &mut out);
                }
            }
        }
        out
    }

    fn push_policies<'a>(
        &'a self,
        target: &PolicyTarget,
        seen: &mut BTreeSet<&'a str>,
        out: &mut Vec<EffectivePolicy>,
    ) {
        for name in self.target_policies.get(target).into_iter().flatten() {
            if !seen.insert(name.as_str()) {
                continue;
            }
            if let Some(policy) = self.policies.get(name) {
                let version = policy.default_version();
                out.push(EffectivePolicy {
                    policy_name: name.clone(),
                    policy_version_id: version.version_id,
                    policy_document: version.policy_document.clone(),
                    attached_to: target.clone(),
                });
            }
        }
    }

    /// The thing a connection acts as, for the `iot:Connection.Thing.*` policy variables:
    /// the thing attached to the certificate whose name is `client_id`, or else the thing the
    /// certificate is attached to exclusively (EXCLUSIVE_THING), whatever the client id.
    /// `None` when neither exists; the variables are then unset and `IsAttached` is false.
    /// A returned view always has `is_attached = true`.
    pub fn thing_for_connection(&self, certificate_id: &str, client_id: &str) -> Option<ThingView> {
        let attached = self.cert_things.get(certificate_id)?;
        let name = if attached.contains_key(client_id) {
            client_id
        } else {
            attached
                .iter()
                .find(|(_, kind)| **kind == ThingPrincipalType::ExclusiveThing)
                .map(|(name, _)| name.as_str())?
        };
        let thing = self.things.get(name)?;
        Some(ThingView {
            thing_name: thing.thing_name.clone(),
            thing_type_name: thing.thing_type_name.clone(),
            attributes: thing.attributes.clone(),
            is_attached: true,
        })
    }
}
