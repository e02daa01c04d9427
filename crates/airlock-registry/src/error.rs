//! Why a registry change was refused, and what to do instead.

use std::fmt;
use std::path::PathBuf;

use crate::model::{CertificateStatus, PolicyTarget, PolicyVersionId};

/// The kinds of resource the registry holds, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// A thing.
    Thing,
    /// A thing type.
    ThingType,
    /// A thing group.
    ThingGroup,
    /// A device certificate.
    Certificate,
    /// A CA certificate.
    CaCertificate,
    /// A policy.
    Policy,
    /// A role alias.
    RoleAlias,
    /// An IAM-style role.
    Role,
    /// An inline policy of a role.
    RolePolicy,
}

impl ResourceKind {
    fn noun(self) -> &'static str {
        match self {
            ResourceKind::Thing => "thing",
            ResourceKind::ThingType => "thing type",
            ResourceKind::ThingGroup => "thing group",
            ResourceKind::Certificate => "certificate",
            ResourceKind::CaCertificate => "CA certificate",
            ResourceKind::Policy => "policy",
            ResourceKind::RoleAlias => "role alias",
            ResourceKind::Role => "role",
            ResourceKind::RolePolicy => "role policy",
        }
    }

    fn list_call(self) -> &'static str {
        match self {
            ResourceKind::Thing => "ListThings",
            ResourceKind::ThingType => "ListThingTypes",
            ResourceKind::ThingGroup => "ListThingGroups",
            ResourceKind::Certificate => "ListCertificates",
            ResourceKind::CaCertificate => "ListCACertificates",
            ResourceKind::Policy => "ListPolicies",
            ResourceKind::RoleAlias => "ListRoleAliases",
            ResourceKind::Role => "ListRoles",
            ResourceKind::RolePolicy => "ListRolePolicies",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// Names a resource in a message: certificates by bare id, everything else quoted.
struct Named<'a>(ResourceKind, &'a str);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ResourceKind::Certificate | ResourceKind::CaCertificate => {
                write!(f, "{} {}", self.0, self.1)
            }
            _ => write!(f, "{} \"{}\"", self.0, self.1),
        }
    }
}

fn named(kind: &ResourceKind, name: &str) -> String {
    Named(*kind, name).to_string()
}

/// A registry change that was refused. Nothing was changed when one is returned.
///
/// Messages name the resource, the rule and the next step, so the admin API and CLI can show
/// them as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A name breaks AWS's naming rule for its kind.
    #[error("{kind} name \"{name}\" is invalid: use 1–128 characters of {allowed}")]
    InvalidName {
        /// "thing", "policy", ...
        kind: &'static str,
        /// The name given.
        name: String,
        /// The characters allowed.
        allowed: &'static str,
    },
    /// A field value is not one of the accepted forms.
    #[error("{field} \"{value}\" is invalid: expected {expected}")]
    InvalidValue {
        /// AWS's field name.
        field: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The resource already exists.
    #[error("{} already exists; choose another name or delete it first", named(.kind, .name))]
    AlreadyExists {
        /// Its kind.
        kind: ResourceKind,
        /// Its name or id.
        name: String,
    },
    /// The resource does not exist.
    #[error("{} does not exist; list them with {}", named(.kind, .name), .kind.list_call())]
    NotFound {
        /// Its kind.
        kind: ResourceKind,
        /// Its name or id.
        name: String,
    },
    /// A certificate id is not 64 lowercase hex digits.
    #[error(
        "certificate id \"{id}\" is invalid: it is the lowercase hex SHA-256 of the certificate's DER (64 characters)"
    )]
    InvalidCertificateId {
        /// The id given.
        id: String,
    },
    /// A PEM text is not a certificate.
    #[error(
        "{what} is not a PEM certificate (expected -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)"
    )]
    InvalidPem {
        /// Which PEM ("certificatePem", "caCertificate").
        what: &'static str,
    },
    /// An attribute name or value breaks AWS's rule.
    #[error("attribute \"{name}\" is invalid: {reason}")]
    InvalidAttribute {
        /// The attribute's name.
        name: String,
        /// The rule.
        reason: &'static str,
    },
    /// A thing would have more attributes than AWS allows.
    #[error("thing \"{thing}\" would have {count} attributes; {}", if *.has_type {
        "a thing with a thing type may have at most 50"
    } else {
        "a thing without a thing type may have at most 3 (give it a thing type to allow 50)"
    })]
    TooManyAttributes {
        /// The thing.
        thing: String,
        /// How many it would have.
        count: usize,
        /// Whether it has (would have) a thing type.
        has_type: bool,
    },
    /// A thing type has more searchable attributes than AWS allows.
    #[error(
        "thing type \"{thing_type}\" lists {count} searchable attributes; at most 3 are allowed"
    )]
    TooManySearchableAttributes {
        /// The thing type.
        thing_type: String,
        /// How many were given.
        count: usize,
    },
    /// A deprecated thing type cannot be given to a thing.
    #[error(
        "thing type \"{thing_type}\" is deprecated; undeprecate it with DeprecateThingType --undo-deprecate or use another type"
    )]
    ThingTypeDeprecated {
        /// The thing type.
        thing_type: String,
    },
    /// Only a deprecated thing type can be deleted.
    #[error(
        "cannot delete thing type \"{thing_type}\": it is not deprecated; deprecate it with DeprecateThingType first"
    )]
    ThingTypeNotDeprecated {
        /// The thing type.
        thing_type: String,
    },
    /// A thing type still has things.
    #[error(
        "cannot delete thing type \"{thing_type}\": thing \"{thing}\" has it; change or remove that thing's type first"
    )]
    ThingTypeInUse {
        /// The thing type.
        thing_type: String,
        /// One thing that has it.
        thing: String,
    },
    /// An update or delete with an `expectedVersion` that is not current.
    #[error("{} is at version {actual}, not {expected}; describe it again and retry", named(.kind, .name))]
    VersionConflict {
        /// Thing or thing group.
        kind: ResourceKind,
        /// Its name.
        name: String,
        /// The version the caller expected.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// A new group would be deeper than AWS's 7 levels.
    #[error(
        "cannot create thing group \"{group}\" under \"{parent}\": \"{parent}\" is already at depth {parent_depth} and a hierarchy has at most 7 levels"
    )]
    HierarchyTooDeep {
        /// The group being created.
        group: String,
        /// Its would-be parent.
        parent: String,
        /// The parent's depth (root = 1).
        parent_depth: usize,
    },
    /// A group would have more than 100 direct children.
    #[error(
        "thing group \"{parent}\" already has 100 child groups, the most AWS allows; put \"{group}\" under another group"
    )]
    TooManyChildGroups {
        /// The parent.
        parent: String,
        /// The group being created.
        group: String,
    },
    /// A thing would be in more than 10 groups.
    #[error(
        "thing \"{thing}\" is already in 10 thing groups, the most allowed; remove it from one first"
    )]
    TooManyGroups {
        /// The thing.
        thing: String,
    },
    /// A thing would be in two groups of one hierarchy.
    #[error(
        "thing \"{thing}\" is already in thing group \"{existing}\" of the hierarchy rooted at \"{root}\", and a thing may be in only one group per hierarchy; remove it from \"{existing}\" first"
    )]
    SameHierarchy {
        /// The thing.
        thing: String,
        /// The group it is already in.
        existing: String,
        /// The hierarchy's root group.
        root: String,
    },
    /// A group with child groups cannot be deleted.
    #[error(
        "cannot delete thing group \"{group}\": it has child group \"{child}\"; delete the child groups first"
    )]
    GroupHasChildren {
        /// The group.
        group: String,
        /// One of its children.
        child: String,
    },
    /// A thing cannot be deleted while a certificate is attached.
    #[error(
        "cannot delete thing \"{thing}\": certificate {certificate_id} is attached; detach it first with DetachThingPrincipal"
    )]
    ThingHasPrincipal {
        /// The thing.
        thing: String,
        /// One attached certificate.
        certificate_id: String,
    },
    /// A certificate cannot be deleted while attached to a thing.
    #[error(
        "cannot delete certificate {certificate_id}: it is attached to thing \"{thing}\"; detach it first with DetachThingPrincipal"
    )]
    CertificateAttachedToThing {
        /// The certificate.
        certificate_id: String,
        /// One thing it is attached to.
        thing: String,
    },
    /// A policy or target cannot be deleted while the policy is attached.
    #[error(
        "cannot delete {what}: policy \"{policy}\" is attached to {target}; detach it first with DetachPolicy"
    )]
    PolicyStillAttached {
        /// What was being deleted.
        what: String,
        /// The policy.
        policy: String,
        /// Where it is attached.
        target: PolicyTarget,
    },
    /// An ACTIVE certificate cannot be deleted.
    #[error(
        "cannot delete certificate {certificate_id}: it is ACTIVE; set it INACTIVE or REVOKED with UpdateCertificate first"
    )]
    CertificateActive {
        /// The certificate.
        certificate_id: String,
    },
    /// A REVOKED certificate keeps that status for good.
    #[error(
        "certificate {certificate_id} is REVOKED, which is final; issue or register a new certificate instead"
    )]
    CertificateRevoked {
        /// The certificate.
        certificate_id: String,
    },
    /// A status that UpdateCertificate does not set.
    #[error(
        "cannot set certificate {certificate_id} to {to}: only ACTIVE, INACTIVE and REVOKED can be set; PENDING_ACTIVATION comes from auto-registration alone"
    )]
    InvalidStatusChange {
        /// The certificate.
        certificate_id: String,
        /// The status asked for.
        to: CertificateStatus,
    },
    /// A CA with certificates registered under it cannot be deleted.
    #[error(
        "cannot delete CA certificate {ca_certificate_id}: certificate {certificate_id} was registered under it; delete its certificates first"
    )]
    CaInUse {
        /// The CA.
        ca_certificate_id: String,
        /// One certificate registered under it.
        certificate_id: String,
    },
    /// An ACTIVE CA cannot be deleted.
    #[error(
        "cannot delete CA certificate {ca_certificate_id}: it is ACTIVE; set it INACTIVE with UpdateCACertificate first"
    )]
    CaActive {
        /// The CA.
        ca_certificate_id: String,
    },
    /// Too many CAs share a subject.
    #[error(
        "{count} CA certificates with subject \"{subject}\" are already registered, the most allowed; delete one first"
    )]
    TooManyCasWithSubject {
        /// The subject.
        subject: String,
        /// How many there are.
        count: usize,
    },
    /// A policy already has 5 versions.
    #[error("policy \"{policy}\" has 5 versions; delete one with DeletePolicyVersion first")]
    TooManyPolicyVersions {
        /// The policy.
        policy: String,
    },
    /// The default version cannot be deleted.
    #[error(
        "cannot delete version {version_id} of policy \"{policy}\": it is the default version; make another version default with SetDefaultPolicyVersion first, or delete the policy with DeletePolicy"
    )]
    DefaultVersionDelete {
        /// The policy.
        policy: String,
        /// The version.
        version_id: PolicyVersionId,
    },
    /// A policy version that does not exist.
    #[error("policy \"{policy}\" has no version {version_id}; list them with ListPolicyVersions")]
    PolicyVersionNotFound {
        /// The policy.
        policy: String,
        /// The version asked for.
        version_id: PolicyVersionId,
    },
    /// A policy with non-default versions cannot be deleted (AWS).
    #[error(
        "cannot delete policy \"{policy}\": it has non-default version {version_id}; delete its non-default versions with DeletePolicyVersion first"
    )]
    PolicyHasVersions {
        /// The policy.
        policy: String,
        /// One non-default version.
        version_id: PolicyVersionId,
    },
    /// The policy engine refused the document.
    #[error("policy \"{policy}\" document is invalid: {reason}")]
    InvalidPolicyDocument {
        /// The policy.
        policy: String,
        /// What the policy engine said.
        reason: String,
    },
    /// A certificate or group already has 10 policies.
    #[error("{target} already has 10 policies attached, the most allowed; detach one first")]
    TooManyPolicies {
        /// The target.
        target: PolicyTarget,
    },
    /// DetachPolicy of a policy that is not attached there.
    #[error("policy \"{policy}\" is not attached to {target}")]
    PolicyNotAttached {
        /// The policy.
        policy: String,
        /// The target.
        target: PolicyTarget,
    },
    /// The certificate is exclusively attached to another thing.
    #[error(
        "certificate {certificate_id} is attached exclusively (EXCLUSIVE_THING) to thing \"{thing}\"; detach it from \"{thing}\" first"
    )]
    ExclusivelyAttached {
        /// The certificate.
        certificate_id: String,
        /// The thing it is attached to.
        thing: String,
    },
    /// An exclusive attachment asked for a certificate already attached elsewhere.
    #[error(
        "cannot attach certificate {certificate_id} exclusively to thing \"{requested}\": it is already attached to thing \"{existing}\"; detach it from \"{existing}\" first or use NON_EXCLUSIVE_THING"
    )]
    CannotAttachExclusively {
        /// The certificate.
        certificate_id: String,
        /// The thing asked for.
        requested: String,
        /// A thing it is already attached to.
        existing: String,
    },
    /// DetachThingPrincipal of a certificate that is not attached to the thing.
    #[error("certificate {certificate_id} is not attached to thing \"{thing}\"")]
    PrincipalNotAttached {
        /// The certificate.
        certificate_id: String,
        /// The thing.
        thing: String,
    },
    /// A role alias credential duration outside AWS's bounds.
    #[error(
        "credentialDurationSeconds {seconds} for role alias \"{alias}\" is out of range; use 900–43200 (15 minutes to 12 hours)"
    )]
    InvalidCredentialDuration {
        /// The alias.
        alias: String,
        /// The value given.
        seconds: u32,
    },
    /// The registry already has 100 role aliases.
    #[error("the registry already has 100 role aliases, the most allowed; delete one first")]
    TooManyRoleAliases,
    /// The role policy validator refused a role's permissions document.
    #[error("policy \"{policy}\" of role \"{role}\" is invalid: {reason}")]
    InvalidRolePolicyDocument {
        /// The role.
        role: String,
        /// The inline policy.
        policy: String,
        /// What the validator said.
        reason: String,
    },
    /// IAM refuses to delete a role that still has inline policies.
    #[error(
        "cannot delete role \"{role}\": it still has inline policy \"{policy}\"; delete its policies with DeleteRolePolicy first"
    )]
    RoleHasPolicies {
        /// The role.
        role: String,
        /// One of its policies.
        policy: String,
    },
    /// IAM's 10,240-character limit on all of one role's inline policies together.
    #[error(
        "role \"{role}\"'s inline policies would total {chars} characters (whitespace excluded), over IAM's 10240; shorten or delete one"
    )]
    RolePoliciesTooLarge {
        /// The role.
        role: String,
        /// Their total size.
        chars: usize,
    },
}

/// Why a [`crate::RegistryStore`] operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The change was refused by the registry's rules; nothing was written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The file could not be created, opened or read.
    #[error("cannot open registry file {}: {reason}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The change could not be written; the in-memory registry was reloaded from the file, so
    /// it is as it was before the change.
    #[error("cannot write registry file {}: {reason}; the change was not made (check disk space and permissions, then retry)", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A record in the file cannot be read.
    #[error("registry file {} is corrupt: {detail}; restore it from a backup", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which record and why.
        detail: String,
    },
}
