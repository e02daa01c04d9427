//! What the caller knows about the request: the values behind policy variables and
//! condition keys.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Everything about one request that policy variables and condition keys can refer to.
/// Fields the caller does not know stay `None`/empty: a variable that needs them does not
/// resolve and its statement cannot match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// MQTT client id (`iot:ClientId`).
    pub client_id: Option<String>,
    /// Client address after PROXY-protocol unwrapping (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
    /// Id of the Airlock endpoint the connection came through (`aws:SourceVpce`).
    pub source_vpce: Option<String>,
    /// Network id of that endpoint, if configured (`aws:SourceVpc`).
    pub source_vpc: Option<String>,
    /// TLS SNI / domain configuration name (`iot:DomainName`).
    pub domain_name: Option<String>,
    /// The thing this connection acts as, resolved by the caller's thing-name rule.
    pub thing: Option<ThingContext>,
    /// The client certificate, when the connection authenticated with one.
    pub certificate: Option<CertificateContext>,
    /// `iot:ConnectAttributes` of the CONNECT: `"PersistentConnect"`, `"LastWill"`.
    /// Empty means the key is absent (IAM's empty-set rules then apply).
    pub connect_attributes: Vec<String>,
    /// Topic of the CONNECT's will message (`iot:LastWillTopic`).
    pub last_will_topic: Option<String>,
}

/// The registry thing of a connection (`iot:Connection.Thing.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingContext {
    /// Thing name (`iot:Connection.Thing.ThingName`).
    pub name: String,
    /// Thing type (`iot:Connection.Thing.ThingTypeName`).
    pub type_name: Option<String>,
    /// Thing attributes (`iot:Connection.Thing.Attributes[name]`).
    pub attributes: BTreeMap<String, String>,
    /// Whether the thing is attached to the connection's principal
    /// (`iot:Connection.Thing.IsAttached`). As in AWS, the other `Connection.Thing` variables
    /// resolve only when this is `true`: a thing merely named by the client id grants nothing.
    pub is_attached: bool,
}

/// The client certificate of a connection (`iot:Certificate.*`, `iot:CertificateId`).
/// Attribute maps are keyed by AWS's attribute names (`CommonName`, `Organization`,
/// `OrganizationalUnit`, `Country`, `State`, `SerialNumber`, `Title`, `Surname`,
/// `GivenName`, `Initials`, `Pseudonym`, `GenerationQualifier`,
/// `DistinguishedNameQualifier`), each with its values in certificate order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateContext {
    /// Certificate id: lowercase hex SHA-256 of the DER (`iot:CertificateId`).
    pub id: String,
    /// Subject attributes (`iot:Certificate.Subject.*`).
    pub subject: BTreeMap<String, Vec<String>>,
    /// Issuer attributes (`iot:Certificate.Issuer.*`).
    pub issuer: BTreeMap<String, Vec<String>>,
    /// Serial number in decimal, as AWS presents it (`iot:Certificate.SerialNumber`).
    pub serial_number: String,
    /// Subject alternative names keyed by `DNSName`, `IPAddress`, `RFC822Name`,
    /// `UniformResourceIdentifier`, `DirectoryName`
    /// (`iot:Certificate.Subject.AlternativeName.*`).
    pub subject_alt_names: BTreeMap<String, Vec<String>>,
    /// Issuer alternative names, same keys (`iot:Certificate.Issuer.AlternativeName.*`).
    pub issuer_alt_names: BTreeMap<String, Vec<String>>,
}
