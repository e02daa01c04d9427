//! What a successful registry change did.

use crate::model::{CertificateStatus, PolicyTarget, PolicyVersionId, ThingPrincipalType};

/// The outcome of one successful mutation, modelled on AWS IoT's registry events so it can be
/// published (`$aws/events/…`) or logged. The broker reacts to some of them directly: a
/// [`Event::CertificateStatusChanged`] away from ACTIVE disconnects that certificate's clients.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The request changed nothing (an idempotent repeat, such as attaching what is attached).
    Unchanged,
    /// CreateThing.
    ThingCreated {
        /// The thing.
        thing_name: String,
    },
    /// UpdateThing.
    ThingUpdated {
        /// The thing.
        thing_name: String,
        /// Its new version.
        version: u64,
    },
    /// DeleteThing.
    ThingDeleted {
        /// The thing.
        thing_name: String,
    },
    /// CreateThingType.
    ThingTypeCreated {
        /// The type.
        thing_type_name: String,
    },
    /// DeprecateThingType (or its undo).
    ThingTypeDeprecated {
        /// The type.
        thing_type_name: String,
        /// The new state.
        deprecated: bool,
    },
    /// DeleteThingType.
    ThingTypeDeleted {
        /// The type.
        thing_type_name: String,
    },
    /// CreateThingGroup.
    ThingGroupCreated {
        /// The group.
        thing_group_name: String,
    },
    /// UpdateThingGroup.
    ThingGroupUpdated {
        /// The group.
        thing_group_name: String,
        /// Its new version.
        version: u64,
    },
    /// DeleteThingGroup.
    ThingGroupDeleted {
        /// The group.
        thing_group_name: String,
    },
    /// AddThingToThingGroup.
    ThingAddedToGroup {
        /// The thing.
        thing_name: String,
        /// The group.
        thing_group_name: String,
    },
    /// RemoveThingFromThingGroup.
    ThingRemovedFromGroup {
        /// The thing.
        thing_name: String,
        /// The group.
        thing_group_name: String,
    },
    /// AttachThingPrincipal.
    ThingPrincipalAttached {
        /// The thing.
        thing_name: String,
        /// The certificate.
        certificate_id: String,
        /// Exclusive or not.
        principal_type: ThingPrincipalType,
    },
    /// DetachThingPrincipal.
    ThingPrincipalDetached {
        /// The thing.
        thing_name: String,
        /// The certificate.
        certificate_id: String,
    },
    /// RegisterCertificate (or auto-registration).
    CertificateRegistered {
        /// The certificate.
        certificate_id: String,
        /// Its initial status.
        status: CertificateStatus,
        /// The CA it was registered under.
        ca_certificate_id: Option<String>,
    },
    /// UpdateCertificate.
    CertificateStatusChanged {
        /// The certificate.
        certificate_id: String,
        /// The old status.
        from: CertificateStatus,
        /// The new status.
        to: CertificateStatus,
    },
    /// DeleteCertificate.
    CertificateDeleted {
        /// The certificate.
        certificate_id: String,
    },
    /// RegisterCACertificate.
    CaCertificateRegistered {
        /// The CA.
        certificate_id: String,
    },
    /// UpdateCACertificate.
    CaCertificateUpdated {
        /// The CA.
        certificate_id: String,
    },
    /// DeleteCACertificate.
    CaCertificateDeleted {
        /// The CA.
        certificate_id: String,
    },
    /// CreatePolicy.
    PolicyCreated {
        /// The policy.
        policy_name: String,
        /// Its first version (always 1).
        version_id: PolicyVersionId,
    },
    /// CreatePolicyVersion.
    PolicyVersionCreated {
        /// The policy.
        policy_name: String,
        /// The new version.
        version_id: PolicyVersionId,
        /// Whether it became the default.
        is_default: bool,
    },
    /// SetDefaultPolicyVersion.
    DefaultPolicyVersionSet {
        /// The policy.
        policy_name: String,
        /// The new default.
        version_id: PolicyVersionId,
    },
    /// DeletePolicyVersion.
    PolicyVersionDeleted {
        /// The policy.
        policy_name: String,
        /// The deleted version.
        version_id: PolicyVersionId,
    },
    /// DeletePolicy.
    PolicyDeleted {
        /// The policy.
        policy_name: String,
    },
    /// AttachPolicy.
    PolicyAttached {
        /// The policy.
        policy_name: String,
        /// Where.
        target: PolicyTarget,
    },
    /// DetachPolicy.
    PolicyDetached {
        /// The policy.
        policy_name: String,
        /// From where.
        target: PolicyTarget,
    },
    /// CreateRoleAlias.
    RoleAliasCreated {
        /// The alias.
        role_alias: String,
    },
    /// UpdateRoleAlias.
    RoleAliasUpdated {
        /// The alias.
        role_alias: String,
    },
    /// DeleteRoleAlias.
    RoleAliasDeleted {
        /// The alias.
        role_alias: String,
    },
    /// IAM CreateRole.
    RoleCreated {
        /// The role.
        role_name: String,
    },
    /// IAM DeleteRole.
    RoleDeleted {
        /// The role.
        role_name: String,
    },
    /// IAM PutRolePolicy (created or replaced).
    RolePolicyPut {
        /// The role.
        role_name: String,
        /// The inline policy.
        policy_name: String,
    },
    /// IAM DeleteRolePolicy.
    RolePolicyDeleted {
        /// The role.
        role_name: String,
        /// The inline policy.
        policy_name: String,
    },
}
