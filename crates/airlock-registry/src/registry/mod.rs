//! [`Registry`]: the in-memory registry with AWS IoT's rules. No I/O.

mod auth;
mod certs;
mod policies;
pub(crate) mod records;
mod roles;
mod things;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::error::{RegistryError, ResourceKind};
use crate::model::{
    CaCertificate, Certificate, Policy, PolicyTarget, Role, RoleAlias, Thing, ThingGroup,
    ThingPrincipalType, ThingType,
};

pub use certs::{CaCertificateUpdate, NewCaCertificate};
pub(crate) use records::RecordKey;

/// Checks a policy document before it is stored; `Err` carries the policy engine's reason
/// (naming the offending field). See [`Registry::set_policy_validator`].
pub type PolicyValidator = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The whole registry in memory: resources, their relations and AWS IoT's rules.
///
/// Every mutation checks all its rules before it changes anything, so an `Err` leaves the
/// registry exactly as it was, and returns the [`crate::Event`] that describes the change.
/// Mutations that record a time take `now` (Unix seconds) so the model stays free of clocks;
/// [`crate::RegistryStore`] passes the system time.
///
/// Lookups the authorizer makes on every connect ([`Registry::effective_policies`],
/// [`Registry::thing_for_connection`], [`Registry::certificate_status`]) use indexes kept
/// beside the records and cost a few map lookups, not a scan.
#[derive(Clone, Default)]
pub struct Registry {
    things: BTreeMap<String, Thing>,
    thing_types: BTreeMap<String, ThingType>,
    groups: BTreeMap<String, ThingGroup>,
    certificates: BTreeMap<String, Certificate>,
    cas: BTreeMap<String, CaCertificate>,
    policies: BTreeMap<String, Policy>,
    role_aliases: BTreeMap<String, RoleAlias>,
    roles: BTreeMap<String, Role>,

    /// group → its direct children (the parent is in the group record).
    group_children: BTreeMap<String, BTreeSet<String>>,
    /// thing → groups it is a direct member of.
    thing_groups: BTreeMap<String, BTreeSet<String>>,
    /// group → its direct member things.
    group_things: BTreeMap<String, BTreeSet<String>>,
    /// certificate → things it is attached to, and how.
    cert_things: BTreeMap<String, BTreeMap<String, ThingPrincipalType>>,
    /// thing → certificates attached to it.
    thing_certs: BTreeMap<String, BTreeSet<String>>,
    /// target → policies attached to it.
    target_policies: BTreeMap<PolicyTarget, BTreeSet<String>>,
    /// policy → targets it is attached to.
    policy_targets: BTreeMap<String, BTreeSet<PolicyTarget>>,
    /// CA subject → CA ids with that subject.
    cas_by_subject: BTreeMap<String, BTreeSet<String>>,

    generation: u64,
    /// Records changed since the store last took them; see [`Registry::take_dirty`].
    dirty: BTreeSet<RecordKey>,
    validator: Option<PolicyValidator>,
    role_validator: Option<PolicyValidator>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("things", &self.things.len())
            .field("thing_types", &self.thing_types.len())
            .field("thing_groups", &self.groups.len())
            .field("certificates", &self.certificates.len())
            .field("ca_certificates", &self.cas.len())
            .field("policies", &self.policies.len())
            .field("role_aliases", &self.role_aliases.len())
            .field("roles", &self.roles.len())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry at generation 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes CreatePolicy and CreatePolicyVersion check documents with `validator` (normally
    /// the policy engine's parser); a refusal becomes
    /// [`RegistryError::InvalidPolicyDocument`]. Without one, documents are stored unchecked.
    /// Documents already stored are not re-checked.
    pub fn set_policy_validator(&mut self, validator: PolicyValidator) {
        self.validator = Some(validator);
    }

    /// Increases by one on every mutation that changed something. A decision cache keyed by
    /// generation is stale as soon as the generation moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    /// Carries settings that are not records (the policy validator) over to a reloaded copy.
    pub(crate) fn adopt_settings(&mut self, from: &Registry) {
        self.validator = from.validator.clone();
        self.role_validator = from.role_validator.clone();
    }

    /// Records changed since the last call, for persistence.
    pub(crate) fn take_dirty(&mut self) -> BTreeSet<RecordKey> {
        std::mem::take(&mut self.dirty)
    }

    /// Marks the end of one successful mutation that changed `keys`.
    fn changed(&mut self, keys: impl IntoIterator<Item = RecordKey>) {
        self.dirty.extend(keys);
        self.generation += 1;
    }

    // ----- reads -----

    /// DescribeThing.
    pub fn thing(&self, name: &str) -> Option<&Thing> {
        self.things.get(name)
    }

    /// ListThings, by name.
    pub fn things(&self) -> impl Iterator<Item = &Thing> {
        self.things.values()
    }

    /// DescribeThingType.
    pub fn thing_type(&self, name: &str) -> Option<&ThingType> {
        self.thing_types.get(name)
    }

    /// ListThingTypes, by name.
    pub fn thing_types(&self) -> impl Iterator<Item = &ThingType> {
        self.thing_types.values()
    }

    /// DescribeThingGroup.
    pub fn thing_group(&self, name: &str) -> Option<&ThingGroup> {
        self.groups.get(name)
    }

    /// ListThingGroups, by name.
    pub fn thing_groups(&self) -> impl Iterator<Item = &ThingGroup> {
        self.groups.values()
    }

    /// The direct child groups of `group`, by name.
    pub fn child_groups(&self, group: &str) -> impl Iterator<Item = &str> {
        self.group_children
            .get(group)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// ListThingsInThingGroup (direct members only), by name.
    pub fn things_in_group(&self, group: &str) -> impl Iterator<Item = &str> {
        self.group_things
            .get(group)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// ListThingGroupsForThing (direct memberships), by name.
    pub fn groups_of_thing(&self, thing: &str) -> impl Iterator<Item = &str> {
        self.thing_groups
            .get(thing)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// `group`, its parent, its parent's parent… up to the root. Empty if it does not exist.
    pub fn group_ancestry(&self, group: &str) -> Vec<&str> {
        let mut chain = Vec::new();
        let mut current = self.groups.get_key_value(group);
        // The hierarchy is at most MAX_GROUP_DEPTH deep and acyclic (a parent must exist
        // before its child); the bound guards against a hand-edited file.
        while let Some((name, g)) = current {
            if chain.len() > crate::names::MAX_GROUP_DEPTH {
                break;
            }
            chain.push(name.as_str());
            current = g
                .parent_group_name
                .as_deref()
                .and_then(|p| self.groups.get_key_value(p));
        }
        chain
    }

    /// DescribeCertificate.
    pub fn certificate(&self, id: &str) -> Option<&Certificate> {
        self.certificates.get(id)
    }

    /// ListCertificates, by id.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certificates.values()
    }

    /// ListCertificatesByCA, by id.
    pub fn certificates_by_ca<'a>(
        &'a self,
        ca_id: &'a str,
    ) -> impl Iterator<Item = &'a Certificate> {
        self.certificates
            .values()
            .filter(move |c| c.ca_certificate_id.as_deref() == Some(ca_id))
    }

    /// DescribeCACertificate.
    pub fn ca_certificate(&self, id: &str) -> Option<&CaCertificate> {
        self.cas.get(id)
    }

    /// ListCACertificates, by id.
    pub fn ca_certificates(&self) -> impl Iterator<Item = &CaCertificate> {
        self.cas.values()
    }

    /// The registered CAs whose subject is `issuer` (a device certificate's issuer, in the
    /// same canonical form as [`CaCertificate::subject`]); at most 10, by id.
    pub fn ca_for_issuer(&self, issuer: &str) -> Vec<&CaCertificate> {
        self.cas_by_subject
            .get(issuer)
            .into_iter()
            .flatten()
            .filter_map(|id| self.cas.get(id))
            .collect()
    }

    /// GetPolicy / ListPolicyVersions.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// ListPolicies, by name.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values()
    }

    /// ListAttachedPolicies: policies attached directly to `target`, by name.
    pub fn policies_for_target(&self, target: &PolicyTarget) -> impl Iterator<Item = &str> {
        self.target_policies
            .get(target)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// ListTargetsForPolicy.
    pub fn targets_for_policy(&self, policy: &str) -> impl Iterator<Item = &PolicyTarget> {
        self.policy_targets.get(policy).into_iter().flatten()
    }

    /// ListThingPrincipals: certificates attached to `thing`, by id.
    pub fn principals_of_thing(&self, thing: &str) -> impl Iterator<Item = &str> {
        self.thing_certs
            .get(thing)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// ListPrincipalThings: things `certificate_id` is attached to, with the attachment type.
    pub fn things_of_principal(
        &self,
        certificate_id: &str,
    ) -> impl Iterator<Item = (&str, ThingPrincipalType)> {
        self.cert_things
            .get(certificate_id)
            .into_iter()
            .flatten()
            .map(|(t, k)| (t.as_str(), *k))
    }

    /// DescribeRoleAlias.
    pub fn role_alias(&self, name: &str) -> Option<&RoleAlias> {
        self.role_aliases.get(name)
    }

    /// ListRoleAliases, by name.
    pub fn role_aliases(&self) -> impl Iterator<Item = &RoleAlias> {
        self.role_aliases.values()
    }

    // ----- shared checks -----

    fn require_thing(&self, name: &str) -> Result<&Thing, RegistryError> {
        self.things
            .get(name)
            .ok_or_else(|| not_found(ResourceKind::Thing, name))
    }

    fn require_group(&self, name: &str) -> Result<&ThingGroup, RegistryError> {
        self.groups
            .get(name)
            .ok_or_else(|| not_found(ResourceKind::ThingGroup, name))
    }

    fn require_certificate(&self, id: &str) -> Result<&Certificate, RegistryError> {
        self.certificates
            .get(id)
            .ok_or_else(|| not_found(ResourceKind::Certificate, id))
    }

    fn require_policy(&self, name: &str) -> Result<&Policy, RegistryError> {
        self.policies
            .get(name)
            .ok_or_else(|| not_found(ResourceKind::Policy, name))
    }
}

fn not_found(kind: ResourceKind, name: &str) -> RegistryError {
    RegistryError::NotFound {
        kind,
        name: name.to_string(),
    }
}

fn already_exists(kind: ResourceKind, name: &str) -> RegistryError {
    RegistryError::AlreadyExists {
        kind,
        name: name.to_string(),
    }
}

/// Remove `value` from the set under `key` of a one-to-many index, dropping the key once its
/// set is empty, so the indexes never hold empty entries. Returns whether `value` was there.
fn unindex<K, Q, V, R>(index: &mut BTreeMap<K, BTreeSet<V>>, key: &Q, value: &R) -> bool
where
    K: std::borrow::Borrow<Q> + Ord,
    Q: Ord + ?Sized,
    V: std::borrow::Borrow<R> + Ord,
    R: Ord + ?Sized,
{
    let Some(set) = index.get_mut(key) else {
        return false;
    };
    let removed = set.remove(value);
    if set.is_empty() {
        index.remove(key);
    }
    removed
}
