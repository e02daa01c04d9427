//! The registry's records and views, serialized with AWS IoT's JSON field names so the admin
//! API can return them as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RegistryError;
use crate::names;

/// Seconds since the Unix epoch, as AWS returns `creationDate` and friends.
pub type UnixSeconds = u64;

/// Name/value attributes of a thing or thing group.
pub type Attributes = BTreeMap<String, String>;

/// A thing (DescribeThing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thing {
    /// The thing's name, unique in the registry.
    pub thing_name: String,
    /// The thing type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// Searchable attributes (at most 3 without a thing type, 50 with one).
    #[serde(default)]
    pub attributes: Attributes,
    /// Starts at 1 and increases on every update; UpdateThing's `expectedVersion` compares to it.
    pub version: u64,
}

/// A thing type (DescribeThingType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingType {
    /// The type's name.
    pub thing_type_name: String,
    /// Description and searchable attribute names.
    pub thing_type_properties: ThingTypeProperties,
    /// Deprecation state and creation date.
    pub thing_type_metadata: ThingTypeMetadata,
}

/// The user-supplied part of a thing type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingTypeProperties {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_description: Option<String>,
    /// Attribute names meant for search (at most 3, as AWS).
    #[serde(default)]
    pub searchable_attributes: Vec<String>,
}

/// The registry-maintained part of a thing type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingTypeMetadata {
    /// A deprecated type cannot be given to new things; only a deprecated type can be deleted.
    pub deprecated: bool,
    /// When it was deprecated, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_date: Option<UnixSeconds>,
    /// When it was created.
    pub creation_date: UnixSeconds,
}

/// A static thing group (DescribeThingGroup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroup {
    /// The group's name, unique among groups.
    pub thing_group_name: String,
    /// The parent group; `None` for the root of a hierarchy. Fixed at creation, as in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_name: Option<String>,
    /// Description and attributes.
    pub thing_group_properties: ThingGroupProperties,
    /// Starts at 1 and increases on every update.
    pub version: u64,
    /// When it was created.
    pub creation_date: UnixSeconds,
}

/// The user-supplied part of a thing group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupProperties {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_description: Option<String>,
    /// The group's attributes.
    #[serde(default)]
    pub attribute_payload: AttributePayload,
}

/// AWS's wrapper around an attribute map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributePayload {
    /// The attributes.
    #[serde(default)]
    pub attributes: Attributes,
}

/// Status of a device certificate (`certificateStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateStatus {
    /// May connect.
    Active,
    /// Refused until activated again.
    Inactive,
    /// Refused for good: AWS does not allow a revoked certificate to change status.
    Revoked,
    /// Registered by auto-registration (JITR); refused until an operator activates it.
    PendingActivation,
}

impl CertificateStatus {
    /// AWS's spelling, e.g. `PENDING_ACTIVATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Active => "ACTIVE",
            CertificateStatus::Inactive => "INACTIVE",
            CertificateStatus::Revoked => "REVOKED",
            CertificateStatus::PendingActivation => "PENDING_ACTIVATION",
        }
    }
}

impl fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertificateStatus {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ACTIVE" => Ok(Self::Active),
            "INACTIVE" => Ok(Self::Inactive),
            "REVOKED" => Ok(Self::Revoked),
            "PENDING_ACTIVATION" => Ok(Self::PendingActivation),
            _ => Err(RegistryError::InvalidValue {
                field: "status",
                value: s.to_string(),
                expected: "ACTIVE, INACTIVE, REVOKED or PENDING_ACTIVATION",
            }),
        }
    }
}

/// A device certificate (DescribeCertificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Lowercase hex SHA-256 of the DER (64 characters).
    pub certificate_id: String,
    /// The certificate, PEM-encoded, as registered.
    pub certificate_pem: String,
    /// Whether it may connect.
    pub status: CertificateStatus,
    /// The registered CA that signed it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_id: Option<String>,
    /// When it was registered.
    pub creation_date: UnixSeconds,
    /// When its status last changed.
    pub last_modified_date: UnixSeconds,
}

/// Status of a registered CA certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaStatus {
    /// Certificates it signs may be registered (and auto-registered, if enabled).
    Active,
    /// Blocks new registrations only; certificates it already signed keep working (AWS).
    Inactive,
}

impl FromStr for CaStatus {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ACTIVE" => Ok(Self::Active),
            "INACTIVE" => Ok(Self::Inactive),
            _ => Err(RegistryError::InvalidValue {
                field: "status",
                value: s.to_string(),
                expected: "ACTIVE or INACTIVE",
            }),
        }
    }
}

/// Whether unknown certificates signed by a CA are registered on first connect (JITR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AutoRegistrationStatus {
    /// Register as PENDING_ACTIVATION on first connect.
    Enable,
    /// Refuse unknown certificates.
    Disable,
}

impl FromStr for AutoRegistrationStatus {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ENABLE" => Ok(Self::Enable),
            "DISABLE" => Ok(Self::Disable),
            _ => Err(RegistryError::InvalidValue {
                field: "autoRegistrationStatus",
                value: s.to_string(),
                expected: "ENABLE or DISABLE",
            }),
        }
    }
}

/// How a CA was registered (`certificateMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateMode {
    /// Ownership proven with a verification certificate.
    #[default]
    Default,
    /// Registered without verification.
    SniOnly,
}

/// JITP settings of a CA (`registrationConfig`); stored for the provisioning code, not
/// interpreted here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationConfig {
    /// Provisioning template body (JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_body: Option<String>,
    /// Role used by provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Name of a provisioning template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
}

/// A registered CA certificate (DescribeCACertificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificate {
    /// Lowercase hex SHA-256 of the DER.
    pub certificate_id: String,
    /// The CA certificate, PEM-encoded.
    pub certificate_pem: String,
    /// The CA's subject name, in the canonical form airlock-pki produces; device certificates
    /// are matched to CAs by their issuer in the same form (see [`crate::Registry::ca_for_issuer`]).
    pub subject: String,
    /// ACTIVE or INACTIVE.
    pub status: CaStatus,
    /// JITR on or off.
    pub auto_registration_status: AutoRegistrationStatus,
    /// DEFAULT (verified) or SNI_ONLY.
    #[serde(default)]
    pub certificate_mode: CertificateMode,
    /// JITP settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_config: Option<RegistrationConfig>,
    /// When it was registered.
    pub creation_date: UnixSeconds,
    /// When it was last changed.
    pub last_modified_date: UnixSeconds,
}

/// A policy version id. AWS numbers versions 1, 2, 3… per policy, never reusing one, and
/// writes them as JSON strings (`"policyVersionId": "3"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyVersionId(pub u32);

impl fmt::Display for PolicyVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for PolicyVersionId {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<u32>() {
            Ok(n) if n >= 1 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(n)),
            _ => Err(RegistryError::InvalidValue {
                field: "policyVersionId",
                value: s.to_string(),
                expected: "a version number such as 1 or 2",
            }),
        }
    }
}

impl Serialize for PolicyVersionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyVersionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One version of a policy (an entry of ListPolicyVersions, with its document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    /// The version id.
    pub version_id: PolicyVersionId,
    /// The document text, exactly as given.
    pub policy_document: Arc<str>,
    /// Whether this is the version in force.
    pub is_default_version: bool,
    /// When it was created.
    pub create_date: UnixSeconds,
}

/// A policy with all its versions (GetPolicy plus ListPolicyVersions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// The policy's name.
    pub policy_name: String,
    /// The version in force.
    pub default_version_id: PolicyVersionId,
    /// 1 to 5 versions, oldest first; exactly one is the default.
    pub versions: Vec<PolicyVersion>,
    /// The id the next version will get (ids are never reused).
    pub next_version_id: PolicyVersionId,
    /// When it was created.
    pub creation_date: UnixSeconds,
    /// When a version was last added, removed or made default.
    pub last_modified_date: UnixSeconds,
}

impl Policy {
    /// The version in force.
    pub fn default_version(&self) -> &PolicyVersion {
        // The registry keeps `default_version_id` pointing at an existing version (it refuses
        // to delete the default version); the first version is a fallback that never runs.
        self.versions
            .iter()
            .find(|v| v.version_id == self.default_version_id)
            .unwrap_or(&self.versions[0])
    }

    /// The version with this id.
    pub fn version(&self, id: PolicyVersionId) -> Option<&PolicyVersion> {
        self.versions.iter().find(|v| v.version_id == id)
    }
}

/// What a policy is attached to (AttachPolicy's `target`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyTarget {
    /// A device certificate, by id.
    #[serde(rename = "certificateId")]
    Certificate(String),
    /// A static thing group, by name; its policies apply to its things and its descendants'.
    #[serde(rename = "thingGroupName")]
    ThingGroup(String),
}

impl PolicyTarget {
    /// Reads AttachPolicy's `target`: a certificate ARN (`arn:…:cert/<id>`), a thing group
    /// ARN (`arn:…:thinggroup/<name>`) or a bare 64-hex certificate id.
    pub fn parse(target: &str) -> Result<Self, RegistryError> {
        if let Some(rest) = target.strip_prefix("arn:") {
            let resource = rest.splitn(5, ':').nth(4).unwrap_or("");
            if let Some(id) = resource.strip_prefix("cert/") {
                return Ok(Self::Certificate(id.to_string()));
            }
            if let Some(name) = resource.strip_prefix("thinggroup/") {
                return Ok(Self::ThingGroup(name.to_string()));
            }
        } else if names::is_certificate_id(target) {
            return Ok(Self::Certificate(target.to_string()));
        }
        Err(RegistryError::InvalidValue {
            field: "target",
            value: target.to_string(),
            expected: "a certificate id, arn:aws:iot:REGION:ACCOUNT:cert/ID or arn:aws:iot:REGION:ACCOUNT:thinggroup/NAME",
        })
    }
}

impl fmt::Display for PolicyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyTarget::Certificate(id) => write!(f, "certificate {id}"),
            PolicyTarget::ThingGroup(name) => write!(f, "thing group \"{name}\""),
        }
    }
}

/// How a certificate is attached to a thing (`thingPrincipalType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThingPrincipalType {
    /// The certificate is attached to this thing only; connections with it are that thing
    /// whatever their client id.
    ExclusiveThing,
    /// The default: the certificate may be attached to other things too; a connection is the
    /// thing only when its client id is the thing's name.
    #[default]
    NonExclusiveThing,
}

impl FromStr for ThingPrincipalType {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EXCLUSIVE_THING" => Ok(Self::ExclusiveThing),
            "NON_EXCLUSIVE_THING" => Ok(Self::NonExclusiveThing),
            _ => Err(RegistryError::InvalidValue {
                field: "thingPrincipalType",
                value: s.to_string(),
                expected: "EXCLUSIVE_THING or NON_EXCLUSIVE_THING",
            }),
        }
    }
}

/// A role alias for the credential provider (DescribeRoleAlias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAlias {
    /// The alias's name.
    pub role_alias: String,
    /// The role the credential provider assumes.
    pub role_arn: String,
    /// Lifetime of issued credentials, 900–43200 s.
    pub credential_duration_seconds: u32,
    /// When it was created.
    pub creation_date: UnixSeconds,
    /// When it was last changed.
    pub last_modified_date: UnixSeconds,
}

/// An IAM-style role the credential provider assumes (IAM GetRole), with its inline
/// permissions policies (IAM PutRolePolicy). Airlock keeps roles itself: there is no IAM in
/// the private network, and the artifact store checks requests against these documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// The role's name: 1–64 of `[a-zA-Z0-9+=,.@_-]`, unique ignoring case (as IAM).
    pub role_name: String,
    /// `arn:aws:iam::{account}:role/{name}`.
    pub role_arn: String,
    /// Longest credential lifetime a role alias may ask for, 3600–43200 s.
    pub max_session_duration: u32,
    /// When it was created.
    pub create_date: UnixSeconds,
    /// Inline permissions policies: name → document text, stored exactly as given.
    #[serde(default)]
    pub role_policies: BTreeMap<String, String>,
}

/// The thing a connection acts as, for the `iot:Connection.Thing.*` policy variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingView {
    /// `iot:Connection.Thing.ThingName`.
    pub thing_name: String,
    /// `iot:Connection.Thing.ThingTypeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// `iot:Connection.Thing.Attributes[name]`.
    #[serde(default)]
    pub attributes: Attributes,
    /// `iot:Connection.Thing.IsAttached`.
    pub is_attached: bool,
}

/// A policy in force for a connection: its default version's document and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectivePolicy {
    /// The policy's name.
    pub policy_name: String,
    /// The default version, whose document this is.
    pub policy_version_id: PolicyVersionId,
    /// The document text, shared with the registry (cloning is cheap).
    pub policy_document: Arc<str>,
    /// The certificate or thing group the policy is attached to (for a group policy, the group
    /// it is attached to, which may be an ancestor of the thing's group).
    pub attached_to: PolicyTarget,
}

/// A change to a thing's type for [`ThingUpdate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ThingTypeChange {
    /// Leave the type as it is.
    #[default]
    Keep,
    /// Give the thing this type.
    Set(String),
    /// Remove the type (`removeThingType`).
    Remove,
}

/// UpdateThing's request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingUpdate {
    /// The type change.
    pub thing_type: ThingTypeChange,
    /// New attributes; `None` leaves them as they are.
    pub attributes: Option<Attributes>,
    /// With `merge`, `attributes` are added to the existing ones and an empty value removes
    /// an attribute (as AWS's `attributePayload.merge`); without it they replace them all.
    pub merge: bool,
    /// Refuse the update unless the thing's version is this (optimistic locking).
    pub expected_version: Option<u64>,
}
