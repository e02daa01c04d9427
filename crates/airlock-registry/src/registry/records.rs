//! The registry as records: one JSON value per (kind, name), for the store.
//!
//! Each resource is one record, and so is each relation (group membership, thing principal,
//! policy attachment), so every mutation rewrites only the few small records it touched.

use serde::{Deserialize, Serialize};

use crate::model::{
    CaCertificate, Certificate, Policy, PolicyTarget, Role, RoleAlias, Thing, ThingGroup,
    ThingPrincipalType, ThingType,
};

use super::Registry;

/// The key of one stored record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RecordKey {
    Thing(String),
    ThingType(String),
    ThingGroup(String),
    Certificate(String),
    CaCertificate(String),
    Policy(String),
    RoleAlias(String),
    Role(String),
    GroupMember {
        group: String,
        thing: String,
    },
    ThingPrincipal {
        certificate_id: String,
        thing: String,
    },
    PolicyAttachment {
        policy: String,
        target: PolicyTarget,
    },
}

/// Record kinds in load order: every relation after the resources it names, and groups sorted
/// so that parents come first (see [`Registry::from_records`]).
pub(crate) const KINDS: [&str; 11] = [
    "thing_type",
    "thing",
    "thing_group",
    "ca_certificate",
    "certificate",
    "policy",
    "role_alias",
    "role",
    "group_member",
    "thing_principal",
    "policy_attachment",
];

impl RecordKey {
    /// (kind, name) in the table. Relation names join their parts with `|`, a character no
    /// thing, group, policy name or certificate id may contain.
    pub(crate) fn table_key(&self) -> (&'static str, String) {
        match self {
            RecordKey::Thing(n) => ("thing", n.clone()),
            RecordKey::ThingType(n) => ("thing_type", n.clone()),
            RecordKey::ThingGroup(n) => ("thing_group", n.clone()),
            RecordKey::Certificate(n) => ("certificate", n.clone()),
            RecordKey::CaCertificate(n) => ("ca_certificate", n.clone()),
            RecordKey::Policy(n) => ("policy", n.clone()),
            RecordKey::RoleAlias(n) => ("role_alias", n.clone()),
            RecordKey::Role(n) => ("role", n.clone()),
            RecordKey::GroupMember { group, thing } => ("group_member", format!("{group}|{thing}")),
            RecordKey::ThingPrincipal {
                certificate_id,
                thing,
            } => ("thing_principal", format!("{certificate_id}|{thing}")),
            RecordKey::PolicyAttachment { policy, target } => {
                let target = match target {
                    PolicyTarget::Certificate(id) => format!("cert/{id}"),
                    PolicyTarget::ThingGroup(g) => format!("thinggroup/{g}"),
                };
                ("policy_attachment", format!("{policy}|{target}"))
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupMemberRecord {
    thing_group_name: String,
    thing_name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThingPrincipalRecord {
    thing_name: String,
    certificate_id: String,
    thing_principal_type: ThingPrincipalType,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyAttachmentRecord {
    policy_name: String,
    target: PolicyTarget,
}

impl Registry {
    /// The record's current JSON, or `None` if it no longer exists (so the store deletes it).
    pub(crate) fn record(&self, key: &RecordKey) -> Result<Option<Vec<u8>>, serde_json::Error> {
        fn json<T: Serialize>(v: Option<&T>) -> Result<Option<Vec<u8>>, serde_json::Error> {
            v.map(serde_json::to_vec).transpose()
        }
        match key {
            RecordKey::Thing(n) => json(self.things.get(n)),
            RecordKey::ThingType(n) => json(self.thing_types.get(n)),
            RecordKey::ThingGroup(n) => json(self.groups.get(n)),
            RecordKey::Certificate(n) => json(self.certificates.get(n)),
            RecordKey::CaCertificate(n) => json(self.cas.get(n)),
            RecordKey::Policy(n) => json(self.policies.get(n)),
            RecordKey::RoleAlias(n) => json(self.role_aliases.get(n)),
            RecordKey::Role(n) => json(self.roles.get(n)),
            RecordKey::GroupMember { group, thing } => {
                let present = self
                    .group_things
                    .get(group)
                    .is_some_and(|t| t.contains(thing));
                json(
                    present
                        .then(|| GroupMemberRecord {
                            thing_group_name: group.clone(),
                            thing_name: thing.clone(),
                        })
                        .as_ref(),
                )
            }
            RecordKey::ThingPrincipal {
                certificate_id,
                thing,
            } => {
                let kind = self
                    .cert_things
                    .get(certificate_id)
                    .and_then(|t| t.get(thing));
                json(
                    kind.map(|k| ThingPrincipalRecord {
                        thing_name: thing.clone(),
                        certificate_id: certificate_id.clone(),
                        thing_principal_type: *k,
                    })
                    .as_ref(),
                )
            }
            RecordKey::PolicyAttachment { policy, target } => {
                let present = self
                    .target_policies
                    .get(target)
                    .is_some_and(|p| p.contains(policy));
                json(
                    present
                        .then(|| PolicyAttachmentRecord {
                            policy_name: policy.clone(),
                            target: target.clone(),
                        })
                        .as_ref(),
                )
            }
        }
    }

    /// Every record, for a full rewrite (tests and export).
    #[cfg(test)]
    pub(crate) fn all_keys(&self) -> Vec<RecordKey> {
        let mut keys = Vec::new();
        keys.extend(self.things.keys().cloned().map(RecordKey::Thing));
        keys.extend(self.thing_types.keys().cloned().map(RecordKey::ThingType));
        keys.extend(self.groups.keys().cloned().map(RecordKey::ThingGroup));
        keys.extend(
            self.certificates
                .keys()
                .cloned()
                .map(RecordKey::Certificate),
        );
        keys.extend(self.cas.keys().cloned().map(RecordKey::CaCertificate));
        keys.extend(self.policies.keys().cloned().map(RecordKey::Policy));
        keys.extend(self.role_aliases.keys().cloned().map(RecordKey::RoleAlias));
        keys.extend(self.roles.keys().cloned().map(RecordKey::Role));
        for (group, things) in &self.group_things {
            for thing in things {
                keys.push(RecordKey::GroupMember {
                    group: group.clone(),
                    thing: thing.clone(),
                });
            }
        }
        for (cert, things) in &self.cert_things {
            for thing in things.keys() {
                keys.push(RecordKey::ThingPrincipal {
                    certificate_id: cert.clone(),
                    thing: thing.clone(),
                });
            }
        }
        for (target, policies) in &self.target_policies {
            for policy in policies {
                keys.push(RecordKey::PolicyAttachment {
                    policy: policy.clone(),
                    target: target.clone(),
                });
            }
        }
        keys
    }

    /// Rebuilds a registry from stored records `(kind, name, json)` in any order. `Err` names
    /// the first record that cannot be read or refers to something missing.
    pub(crate) fn from_records(
        rows: impl IntoIterator<Item = (String, String, Vec<u8>)>,
    ) -> Result<Registry, String> {
        let mut rows: Vec<_> = rows.into_iter().collect();
        let rank = |kind: &str| KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len());
        rows.sort_by_key(|(kind, _, _)| rank(kind));

        let mut reg = Registry::new();
        let mut groups = Vec::new();
        for (kind, name, value) in &rows {
            let what = || format!("record {kind}/{name}");
            let bad = |e: serde_json::Error| format!("{}: {e}", what());
            let mismatch =
                |inner: &str| format!("{}: holds \"{inner}\" under another name", what());
            macro_rules! entity {
                ($map:ident, $ty:ty, $field:ident) => {{
                    let v: $ty = serde_json::from_slice(value).map_err(bad)?;
                    if v.$field != *name {
                        return Err(mismatch(&v.$field));
                    }
                    reg.$map.insert(name.clone(), v);
                }};
            }
            match kind.as_str() {
                "thing_type" => entity!(thing_types, ThingType, thing_type_name),
                "thing" => entity!(things, Thing, thing_name),
                "thing_group" => {
                    let v: ThingGroup = serde_json::from_slice(value).map_err(bad)?;
                    if v.thing_group_name != *name {
                        return Err(mismatch(&v.thing_group_name));
                    }
                    groups.push(v);
                }
                "ca_certificate" => entity!(cas, CaCertificate, certificate_id),
                "certificate" => entity!(certificates, Certificate, certificate_id),
                "policy" => {
                    let v: Policy = serde_json::from_slice(value).map_err(bad)?;
                    if v.policy_name != *name {
                        return Err(mismatch(&v.policy_name));
                    }
                    if v.version(v.default_version_id).is_none() {
                        return Err(format!(
                            "{}: default version {} is not among its versions",
                            what(),
                            v.default_version_id
                        ));
                    }
                    reg.policies.insert(name.clone(), v);
                }
                "role_alias" => entity!(role_aliases, RoleAlias, role_alias),
                // Roles arrived after schema 1 without a new version: an older Airlock skips
                // the kind (see the `_` arm), and role records refer to nothing else.
                "role" => entity!(roles, Role, role_name),
                "group_member" => {
                    reg.finish_groups(&mut groups)?;
                    let v: GroupMemberRecord = serde_json::from_slice(value).map_err(bad)?;
                    if !reg.things.contains_key(&v.thing_name)
                        || !reg.groups.contains_key(&v.thing_group_name)
                    {
                        return Err(format!("{}: its thing or group is missing", what()));
                    }
                    reg.link_member(&v.thing_group_name, &v.thing_name);
                }
                "thing_principal" => {
                    reg.finish_groups(&mut groups)?;
                    let v: ThingPrincipalRecord = serde_json::from_slice(value).map_err(bad)?;
                    if !reg.things.contains_key(&v.thing_name)
                        || !reg.certificates.contains_key(&v.certificate_id)
                    {
                        return Err(format!("{}: its thing or certificate is missing", what()));
                    }
                    reg.link_principal(&v.certificate_id, &v.thing_name, v.thing_principal_type);
                }
                "policy_attachment" => {
                    reg.finish_groups(&mut groups)?;
                    let v: PolicyAttachmentRecord = serde_json::from_slice(value).map_err(bad)?;
                    let target_exists = match &v.target {
                        PolicyTarget::Certificate(id) => reg.certificates.contains_key(id),
                        PolicyTarget::ThingGroup(g) => reg.groups.contains_key(g),
                    };
                    if !reg.policies.contains_key(&v.policy_name) || !target_exists {
                        return Err(format!("{}: its policy or target is missing", what()));
                    }
                    reg.link_policy(&v.policy_name, &v.target);
                }
                // Kinds from a newer Airlock are kept out of the model rather than refused, so
                // a downgrade still starts; they are left untouched in the file.
                _ => {}
            }
        }
        reg.finish_groups(&mut groups)?;
        let subjects: Vec<_> = reg
            .cas
            .values()
            .map(|c| (c.certificate_id.clone(), c.subject.clone()))
            .collect();
        for (id, subject) in subjects {
            reg.index_ca(&id, &subject);
        }
        Ok(reg)
    }

    /// Inserts the groups loaded so far (once: later calls find `groups` empty) and builds the
    /// child index, checking that every parent exists.
    fn finish_groups(&mut self, groups: &mut Vec<ThingGroup>) -> Result<(), String> {
        if groups.is_empty() {
            return Ok(());
        }
        for g in groups.drain(..) {
            self.groups.insert(g.thing_group_name.clone(), g);
        }
        let mut children = Vec::new();
        for g in self.groups.values() {
            if let Some(parent) = &g.parent_group_name {
                if !self.groups.contains_key(parent) {
                    return Err(format!(
                        "record thing_group/{}: parent group \"{parent}\" is missing",
                        g.thing_group_name
                    ));
                }
                children.push((parent.clone(), g.thing_group_name.clone()));
            }
        }
        self.group_children.clear();
        for (parent, child) in children {
            self.group_children.entry(parent).or_default().insert(child);
        }
        Ok(())
    }
}
