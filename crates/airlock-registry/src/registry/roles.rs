//! IAM-style roles and their inline permissions policies (IAM's CreateRole, PutRolePolicy,
//! ...), with IAM's names and limits. What a document means belongs to airlock-credentials,
//! which checks it on the way in through [`Registry::set_role_policy_validator`].

use crate::error::{RegistryError, ResourceKind};
use crate::event::Event;
use crate::model::{Role, UnixSeconds};
use crate::names;

use super::{PolicyValidator, RecordKey, Registry, already_exists, not_found};

impl Registry {
    /// Makes PutRolePolicy check documents with `validator` (normally
    /// `airlock_credentials::RolePolicy::parse`); a refusal becomes
    /// [`RegistryError::InvalidRolePolicyDocument`]. Without one, documents are stored
    /// unchecked.
    pub fn set_role_policy_validator(&mut self, validator: PolicyValidator) {
        self.role_validator = Some(validator);
    }

    /// IAM GetRole.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// IAM ListRoles, by name.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The role a role alias's ARN names: `arn:…:iam::ACCOUNT:role/NAME` whose stored ARN is
    /// exactly `role_arn` (so another account's role of the same name is not it).
    pub fn role_by_arn(&self, role_arn: &str) -> Option<&Role> {
        let (_, name) = role_arn.rsplit_once(":role/")?;
        self.roles.get(name).filter(|r| r.role_arn == role_arn)
    }

    /// IAM CreateRole: `arn:aws:iam::{account_id}:role/{name}`, MaxSessionDuration
    /// 3600–43200 s (default 3600). Names are unique ignoring case, as in IAM.
    pub fn create_role(
        &mut self,
        name: &str,
        account_id: &str,
        max_session_duration: Option<u32>,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_role_name(name)?;
        if let Some(existing) = self.roles.keys().find(|k| k.eq_ignore_ascii_case(name)) {
            return Err(already_exists(ResourceKind::Role, existing));
        }
        let duration = max_session_duration.unwrap_or(names::MIN_MAX_SESSION_DURATION);
        check_max_session(duration)?;
        self.roles.insert(
            name.to_string(),
            Role {
                role_name: name.to_string(),
                role_arn: format!("arn:aws:iam::{account_id}:role/{name}"),
                max_session_duration: duration,
                create_date: now,
                role_policies: Default::default(),
            },
        );
        self.changed([RecordKey::Role(name.to_string())]);
        Ok(Event::RoleCreated {
            role_name: name.to_string(),
        })
    }

    /// IAM DeleteRole: refused while the role has inline policies (DeleteConflict in IAM).
    /// Role aliases naming it stay; the credential provider then refuses them.
    pub fn delete_role(&mut self, name: &str) -> Result<Event, RegistryError> {
        let role = self
            .roles
            .get(name)
            .ok_or_else(|| not_found(ResourceKind::Role, name))?;
        if let Some(policy) = role.role_policies.keys().next() {
            return Err(RegistryError::RoleHasPolicies {
                role: name.to_string(),
                policy: policy.clone(),
            });
        }
        self.roles.remove(name);
        self.changed([RecordKey::Role(name.to_string())]);
        Ok(Event::RoleDeleted {
            role_name: name.to_string(),
        })
    }

    /// IAM PutRolePolicy: adds or replaces the inline policy `policy_name`, after the role
    /// policy validator (if set) accepts the document. All of a role's inline policies
    /// together stay within 10,240 characters, whitespace excluded.
    pub fn put_role_policy(
        &mut self,
        role: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<Event, RegistryError> {
        names::check_role_policy_name(policy_name)?;
        let current = self
            .roles
            .get(role)
            .ok_or_else(|| not_found(ResourceKind::Role, role))?;
        if let Some(validate) = &self.role_validator {
            validate(document).map_err(|reason| RegistryError::InvalidRolePolicyDocument {
                role: role.to_string(),
                policy: policy_name.to_string(),
                reason,
            })?;
        }
        if current.role_policies.get(policy_name).map(String::as_str) == Some(document) {
            return Ok(Event::Unchanged);
        }
        let significant = |d: &str| d.chars().filter(|c| !c.is_whitespace()).count();
        let total: usize = current
            .role_policies
            .iter()
            .filter(|(n, _)| n.as_str() != policy_name)
            .map(|(_, d)| significant(d))
            .sum::<usize>()
            + significant(document);
        if total > names::MAX_ROLE_POLICIES_CHARS {
            return Err(RegistryError::RolePoliciesTooLarge {
                role: role.to_string(),
                chars: total,
            });
        }
        if let Some(r) = self.roles.get_mut(role) {
            r.role_policies
                .insert(policy_name.to_string(), document.to_string());
        }
        self.changed([RecordKey::Role(role.to_string())]);
        Ok(Event::RolePolicyPut {
            role_name: role.to_string(),
            policy_name: policy_name.to_string(),
        })
    }

    /// IAM DeleteRolePolicy.
    pub fn delete_role_policy(
        &mut self,
        role: &str,
        policy_name: &str,
    ) -> Result<Event, RegistryError> {
        let r = self
            .roles
            .get_mut(role)
            .ok_or_else(|| not_found(ResourceKind::Role, role))?;
        if r.role_policies.remove(policy_name).is_none() {
            return Err(not_found(ResourceKind::RolePolicy, policy_name));
        }
        self.changed([RecordKey::Role(role.to_string())]);
        Ok(Event::RolePolicyDeleted {
            role_name: role.to_string(),
            policy_name: policy_name.to_string(),
        })
    }
}

fn check_max_session(seconds: u32) -> Result<(), RegistryError> {
    if (names::MIN_MAX_SESSION_DURATION..=names::MAX_MAX_SESSION_DURATION).contains(&seconds) {
        Ok(())
    } else {
        Err(RegistryError::InvalidValue {
            field: "maxSessionDuration",
            value: seconds.to_string(),
            expected: "3600–43200 seconds (1 to 12 hours)",
        })
    }
}
