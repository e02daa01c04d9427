//! AWS IoT's name rules and limits, checked before anything is stored.

use crate::error::RegistryError;

/// Longest thing, thing type, thing group, policy or role alias name.
pub const MAX_NAME_LEN: usize = 128;
/// Attributes a thing may have without a thing type.
pub const MAX_ATTRIBUTES_UNTYPED: usize = 3;
/// Attributes a thing may have with a thing type.
pub const MAX_ATTRIBUTES_TYPED: usize = 50;
/// Searchable attributes of a thing type.
pub const MAX_SEARCHABLE_ATTRIBUTES: usize = 3;
/// Longest attribute name.
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 128;
/// Longest attribute value.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 800;
/// Levels in a thing group hierarchy, the root counting as level 1.
pub const MAX_GROUP_DEPTH: usize = 7;
/// Direct children of one thing group.
pub const MAX_CHILD_GROUPS: usize = 100;
/// Thing groups one thing may be in (and at most one per hierarchy).
pub const MAX_GROUPS_PER_THING: usize = 10;
/// Versions one policy may have.
pub const MAX_POLICY_VERSIONS: usize = 5;
/// Policies attached to one certificate or one thing group.
pub const MAX_POLICIES_PER_TARGET: usize = 10;
/// Role aliases in the registry.
pub const MAX_ROLE_ALIASES: usize = 100;
/// Shortest credential lifetime of a role alias (15 minutes).
pub const MIN_CREDENTIAL_DURATION: u32 = 900;
/// Longest credential lifetime of a role alias (12 hours).
pub const MAX_CREDENTIAL_DURATION: u32 = 43_200;
/// Credential lifetime of a role alias created without one (1 hour).
pub const DEFAULT_CREDENTIAL_DURATION: u32 = 3_600;
/// Longest IAM role name; with it every role ARN stays within airlock-credentials'
/// `MAX_ROLE_ARN_LEN` (256 bytes).
pub const MAX_ROLE_NAME_LEN: usize = 64;
/// Shortest MaxSessionDuration of a role (IAM: 1 hour).
pub const MIN_MAX_SESSION_DURATION: u32 = 3_600;
/// Longest MaxSessionDuration of a role (IAM: 12 hours).
pub const MAX_MAX_SESSION_DURATION: u32 = 43_200;
/// IAM's limit on all of one role's inline policies together, whitespace excluded.
pub const MAX_ROLE_POLICIES_CHARS: usize = 10_240;
/// Registered CAs with the same subject.
pub const MAX_CAS_PER_SUBJECT: usize = 10;

/// Things, thing types and thing groups: 1–128 of `[a-zA-Z0-9:_-]`.
pub(crate) fn check_thing_like(kind: &'static str, name: &str) -> Result<(), RegistryError> {
    check(kind, name, "a-z A-Z 0-9 : _ -", |c| {
        c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')
    })
}

/// Policies: 1–128 of `[\w+=,.@-]`.
pub(crate) fn check_policy_name(name: &str) -> Result<(), RegistryError> {
    check("policy", name, "a-z A-Z 0-9 _ + = , . @ -", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
    })
}

/// Role aliases: 1–128 of `[\w=,@-]`.
pub(crate) fn check_role_alias_name(name: &str) -> Result<(), RegistryError> {
    check("role alias", name, "a-z A-Z 0-9 _ = , @ -", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '=' | ',' | '@' | '-')
    })
}

/// IAM role names: 1–64 of `[\w+=,.@-]`.
pub(crate) fn check_role_name(name: &str) -> Result<(), RegistryError> {
    let ok =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-');
    if name.is_empty() || name.len() > MAX_ROLE_NAME_LEN || !name.chars().all(ok) {
        return Err(RegistryError::InvalidValue {
            field: "roleName",
            value: name.to_string(),
            expected: "1–64 characters of a-z A-Z 0-9 _ + = , . @ -",
        });
    }
    Ok(())
}

/// IAM inline policy names: 1–128 of `[\w+=,.@-]`.
pub(crate) fn check_role_policy_name(name: &str) -> Result<(), RegistryError> {
    check("role policy", name, "a-z A-Z 0-9 _ + = , . @ -", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
    })
}

fn check(
    kind: &'static str,
    name: &str,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), RegistryError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok) {
        return Err(RegistryError::InvalidName {
            kind,
            name: name.to_string(),
            allowed,
        });
    }
    Ok(())
}

/// Whether `id` looks like a certificate id: 64 lowercase hex digits.
pub fn is_certificate_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn check_certificate_id(id: &str) -> Result<(), RegistryError> {
    if is_certificate_id(id) {
        Ok(())
    } else {
        Err(RegistryError::InvalidCertificateId { id: id.to_string() })
    }
}

pub(crate) fn check_pem(what: &'static str, pem: &str) -> Result<(), RegistryError> {
    let trimmed = pem.trim_start();
    if trimmed.starts_with("-----BEGIN CERTIFICATE-----")
        && pem.contains("-----END CERTIFICATE-----")
    {
        Ok(())
    } else {
        Err(RegistryError::InvalidPem { what })
    }
}

/// Attribute names `[a-zA-Z0-9_.,@/:#-]{1,128}`, values `[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}`
/// (AWS's AttributePayload rules).
pub(crate) fn check_attribute(name: &str, value: &str) -> Result<(), RegistryError> {
    let name_ok = !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#-".contains(c));
    if !name_ok {
        return Err(RegistryError::InvalidAttribute {
            name: name.to_string(),
            reason: "names are 1–128 characters of a-z A-Z 0-9 _ . , @ / : # -",
        });
    }
    let value_ok = value.len() <= MAX_ATTRIBUTE_VALUE_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#=[]-".contains(c));
    if !value_ok {
        return Err(RegistryError::InvalidAttribute {
            name: name.to_string(),
            reason: "values are at most 800 characters of a-z A-Z 0-9 _ . , @ / : # = [ ] -",
        });
    }
    Ok(())
}

/// A role ARN as the credential provider will hand it to STS: `arn:<partition>:iam::<account>:role/<path>`.
pub(crate) fn check_role_arn(arn: &str) -> Result<(), RegistryError> {
    let mut parts = arn.splitn(6, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some_and(|p| !p.is_empty())
        && parts.next() == Some("iam")
        && parts.next().is_some()
        && parts.next().is_some()
        && parts
            .next()
            .is_some_and(|r| r.strip_prefix("role/").is_some_and(|n| !n.is_empty()));
    if ok && arn.len() <= 2048 {
        Ok(())
    } else {
        Err(RegistryError::InvalidValue {
            field: "roleArn",
            value: arn.to_string(),
            expected: "an IAM role ARN such as arn:aws:iam::123456789012:role/NAME",
        })
    }
}
