//! Policies, their versions and attachments, and role aliases.

use std::sync::Arc;

use crate::error::{RegistryError, ResourceKind};
use crate::event::Event;
use crate::model::{Policy, PolicyTarget, PolicyVersion, PolicyVersionId, RoleAlias, UnixSeconds};
use crate::names;

use super::{RecordKey, Registry, already_exists, not_found, unindex};

impl Registry {
    fn validate_document(&self, policy: &str, document: &str) -> Result<(), RegistryError> {
        match &self.validator {
            Some(validate) => {
                validate(document).map_err(|reason| RegistryError::InvalidPolicyDocument {
                    policy: policy.to_string(),
                    reason,
                })
            }
            None => Ok(()),
        }
    }

    /// CreatePolicy: version 1, the default. The document is stored exactly as given, after
    /// the policy validator (if set) accepts it.
    pub fn create_policy(
        &mut self,
        name: &str,
        document: &str,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_policy_name(name)?;
        if self.policies.contains_key(name) {
            return Err(already_exists(ResourceKind::Policy, name));
        }
        self.validate_document(name, document)?;
        let first = PolicyVersionId(1);
        self.policies.insert(
            name.to_string(),
            Policy {
                policy_name: name.to_string(),
                default_version_id: first,
                versions: vec![PolicyVersion {
                    version_id: first,
                    policy_document: Arc::from(document),
                    is_default_version: true,
                    create_date: now,
                }],
                next_version_id: PolicyVersionId(2),
                creation_date: now,
                last_modified_date: now,
            },
        );
        self.changed([RecordKey::Policy(name.to_string())]);
        Ok(Event::PolicyCreated {
            policy_name: name.to_string(),
            version_id: first,
        })
    }

    /// CreatePolicyVersion: refused when the policy already has 5 versions. Version ids keep
    /// increasing even after versions are deleted.
    pub fn create_policy_version(
        &mut self,
        name: &str,
        document: &str,
        set_as_default: bool,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        let policy = self.require_policy(name)?;
        if policy.versions.len() >= names::MAX_POLICY_VERSIONS {
            return Err(RegistryError::TooManyPolicyVersions {
                policy: name.to_string(),
            });
        }
        self.validate_document(name, document)?;
        let Some(policy) = self.policies.get_mut(name) else {
            return Err(not_found(ResourceKind::Policy, name));
        };
        let id = policy.next_version_id;
        policy.next_version_id = PolicyVersionId(id.0.saturating_add(1));
        policy.versions.push(PolicyVersion {
            version_id: id,
            policy_document: Arc::from(document),
            is_default_version: false,
            create_date: now,
        });
        if set_as_default {
            make_default(policy, id);
        }
        policy.last_modified_date = now;
        self.changed([RecordKey::Policy(name.to_string())]);
        Ok(Event::PolicyVersionCreated {
            policy_name: name.to_string(),
            version_id: id,
            is_default: set_as_default,
        })
    }

    /// SetDefaultPolicyVersion.
    pub fn set_default_policy_version(
        &mut self,
        name: &str,
        version_id: PolicyVersionId,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        let policy = self
            .policies
            .get_mut(name)
            .ok_or_else(|| not_found(ResourceKind::Policy, name))?;
        if policy.version(version_id).is_none() {
            return Err(RegistryError::PolicyVersionNotFound {
                policy: name.to_string(),
                version_id,
            });
        }
        if policy.default_version_id == version_id {
            return Ok(Event::Unchanged);
        }
        make_default(policy, version_id);
        policy.last_modified_date = now;
        self.changed([RecordKey::Policy(name.to_string())]);
        Ok(Event::DefaultPolicyVersionSet {
            policy_name: name.to_string(),
            version_id,
        })
    }

    /// DeletePolicyVersion: the default version cannot be deleted.
    pub fn delete_policy_version(
        &mut self,
        name: &str,
        version_id: PolicyVersionId,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        let policy = self
            .policies
            .get_mut(name)
            .ok_or_else(|| not_found(ResourceKind::Policy, name))?;
        if policy.version(version_id).is_none() {
            return Err(RegistryError::PolicyVersionNotFound {
                policy: name.to_string(),
                version_id,
            });
        }
        if policy.default_version_id == version_id {
            return Err(RegistryError::DefaultVersionDelete {
                policy: name.to_string(),
                version_id,
            });
        }
        policy.versions.retain(|v| v.version_id != version_id);
        policy.last_modified_date = now;
        self.changed([RecordKey::Policy(name.to_string())]);
        Ok(Event::PolicyVersionDeleted {
            policy_name: name.to_string(),
            version_id,
        })
    }

    /// DeletePolicy: refused while it is attached anywhere or has non-default versions (AWS).
    pub fn delete_policy(&mut self, name: &str) -> Result<Event, RegistryError> {
        let policy = self.require_policy(name)?;
        if let Some(target) = self.policy_targets.get(name).and_then(|t| t.first()) {
            return Err(RegistryError::PolicyStillAttached {
                what: format!("policy \"{name}\""),
                policy: name.to_string(),
                target: target.clone(),
            });
        }
        if let Some(v) = policy.versions.iter().find(|v| !v.is_default_version) {
            return Err(RegistryError::PolicyHasVersions {
                policy: name.to_string(),
                version_id: v.version_id,
            });
        }
        self.policies.remove(name);
        self.changed([RecordKey::Policy(name.to_string())]);
        Ok(Event::PolicyDeleted {
            policy_name: name.to_string(),
        })
    }

    /// AttachPolicy to a certificate or a thing group; at most 10 per target. Attaching what
    /// is already attached changes nothing.
    pub fn attach_policy(
        &mut self,
        policy: &str,
        target: &PolicyTarget,
    ) -> Result<Event, RegistryError> {
        self.require_policy(policy)?;
        self.require_target(target)?;
        let attached = self.target_policies.get(target);
        if attached.is_some_and(|p| p.contains(policy)) {
            return Ok(Event::Unchanged);
        }
        if attached.map_or(0, |p| p.len()) >= names::MAX_POLICIES_PER_TARGET {
            return Err(RegistryError::TooManyPolicies {
                target: target.clone(),
            });
        }
        self.link_policy(policy, target);
        self.changed([RecordKey::PolicyAttachment {
            policy: policy.to_string(),
            target: target.clone(),
        }]);
        Ok(Event::PolicyAttached {
            policy_name: policy.to_string(),
            target: target.clone(),
        })
    }

    /// DetachPolicy.
    pub fn detach_policy(
        &mut self,
        policy: &str,
        target: &PolicyTarget,
    ) -> Result<Event, RegistryError> {
        self.require_policy(policy)?;
        if !unindex(&mut self.target_policies, target, policy) {
            return Err(RegistryError::PolicyNotAttached {
                policy: policy.to_string(),
                target: target.clone(),
            });
        }
        unindex(&mut self.policy_targets, policy, target);
        self.changed([RecordKey::PolicyAttachment {
            policy: policy.to_string(),
            target: target.clone(),
        }]);
        Ok(Event::PolicyDetached {
            policy_name: policy.to_string(),
            target: target.clone(),
        })
    }

    fn require_target(&self, target: &PolicyTarget) -> Result<(), RegistryError> {
        match target {
            PolicyTarget::Certificate(id) => self.require_certificate(id).map(drop),
            PolicyTarget::ThingGroup(name) => self.require_group(name).map(drop),
        }
    }

    pub(crate) fn link_policy(&mut self, policy: &str, target: &PolicyTarget) {
        self.target_policies
            .entry(target.clone())
            .or_default()
            .insert(policy.to_string());
        self.policy_targets
            .entry(policy.to_string())
            .or_default()
            .insert(target.clone());
    }

    /// CreateRoleAlias. `credential_duration_seconds` defaults to 3600 and must be 900–43200.
    pub fn create_role_alias(
        &mut self,
        alias: &str,
        role_arn: &str,
        credential_duration_seconds: Option<u32>,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_role_alias_name(alias)?;
        if self.role_aliases.contains_key(alias) {
            return Err(already_exists(ResourceKind::RoleAlias, alias));
        }
        names::check_role_arn(role_arn)?;
        let duration = credential_duration_seconds.unwrap_or(names::DEFAULT_CREDENTIAL_DURATION);
        check_duration(alias, duration)?;
        if self.role_aliases.len() >= names::MAX_ROLE_ALIASES {
            return Err(RegistryError::TooManyRoleAliases);
        }
        self.role_aliases.insert(
            alias.to_string(),
            RoleAlias {
                role_alias: alias.to_string(),
                role_arn: role_arn.to_string(),
                credential_duration_seconds: duration,
                creation_date: now,
                last_modified_date: now,
            },
        );
        self.changed([RecordKey::RoleAlias(alias.to_string())]);
        Ok(Event::RoleAliasCreated {
            role_alias: alias.to_string(),
        })
    }

    /// UpdateRoleAlias; `None` leaves a field as it is.
    pub fn update_role_alias(
        &mut self,
        alias: &str,
        role_arn: Option<&str>,
        credential_duration_seconds: Option<u32>,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        if !self.role_aliases.contains_key(alias) {
            return Err(not_found(ResourceKind::RoleAlias, alias));
        }
        if let Some(arn) = role_arn {
            names::check_role_arn(arn)?;
        }
        if let Some(d) = credential_duration_seconds {
            check_duration(alias, d)?;
        }
        let Some(entry) = self.role_aliases.get_mut(alias) else {
            return Err(not_found(ResourceKind::RoleAlias, alias));
        };
        if let Some(arn) = role_arn {
            entry.role_arn = arn.to_string();
        }
        if let Some(d) = credential_duration_seconds {
            entry.credential_duration_seconds = d;
        }
        entry.last_modified_date = now;
        self.changed([RecordKey::RoleAlias(alias.to_string())]);
        Ok(Event::RoleAliasUpdated {
            role_alias: alias.to_string(),
        })
    }

    /// DeleteRoleAlias.
    pub fn delete_role_alias(&mut self, alias: &str) -> Result<Event, RegistryError> {
        if self.role_aliases.remove(alias).is_none() {
            return Err(not_found(ResourceKind::RoleAlias, alias));
        }
        self.changed([RecordKey::RoleAlias(alias.to_string())]);
        Ok(Event::RoleAliasDeleted {
            role_alias: alias.to_string(),
        })
    }
}

fn make_default(policy: &mut Policy, id: PolicyVersionId) {
    policy.default_version_id = id;
    for v in &mut policy.versions {
        v.is_default_version = v.version_id == id;
    }
}

fn check_duration(alias: &str, seconds: u32) -> Result<(), RegistryError> {
    if (names::MIN_CREDENTIAL_DURATION..=names::MAX_CREDENTIAL_DURATION).contains(&seconds) {
        Ok(())
    } else {
        Err(RegistryError::InvalidCredentialDuration {
            alias: alias.to_string(),
            seconds,
        })
    }
}
