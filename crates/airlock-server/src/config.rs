//! The configuration file (`airlock up --config FILE`), TOML. Every setting has a default;
//! `docs/configuration.md` lists them all.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use airlock_broker::BrokerConfig;
use serde::Deserialize;

/// Top-level configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Extra DNS names or IP addresses for the server certificate, besides `localhost` and `127.0.0.1`.
    pub server_names: Vec<String>,
    /// Key algorithm for keys Airlock generates: `"ecdsa-p256"` or `"rsa-2048"`.
    pub key_algorithm: KeyAlgorithmName,
    /// The listeners (`[[endpoint]]`). Default: one MQTT/TLS endpoint `default` on 127.0.0.1:8883.
    #[serde(rename = "endpoint")]
    pub endpoints: Vec<EndpointConfig>,
    /// Broker limits (`[mqtt]`).
    pub mqtt: BrokerConfig,
    /// Connection limits across all endpoints (`[limits]`).
    pub limits: LimitsConfig,
    /// Embedded store (`[store]`).
    pub store: StoreConfig,
    /// Prometheus metrics endpoint (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Logging (`[log]`).
    pub log: LogConfig,
    /// Where the CA lives (`[pki]`).
    pub pki: PkiConfig,
    /// Authorization settings (`[identity]`).
    pub identity: IdentityConfig,
    /// The admin API endpoint (`[admin]`).
    pub admin: AdminConfig,
    /// The private DNS responder (`[dns]`, off by default).
    pub dns: airlock_dns::DnsConfig,
    /// The artifact store (`[artifacts]`), served on `protocol = "artifacts"` endpoints.
    pub artifacts: ArtifactsConfig,
}

/// The artifact store (`[artifacts]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArtifactsConfig {
    /// The region clients sign for (the AWS CLI's `--region`).
    pub region: String,
    /// Largest object, in bytes (S3's ceiling, 5 GiB, at most).
    pub max_object_size: u64,
}

impl Default for ArtifactsConfig {
    fn default() -> Self {
        ArtifactsConfig {
            region: "us-east-1".into(),
            max_object_size: 5 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_names: Vec::new(),
            key_algorithm: KeyAlgorithmName::EcdsaP256,
            endpoints: vec![EndpointConfig::default()],
            mqtt: BrokerConfig::default(),
            limits: LimitsConfig::default(),
            store: StoreConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            pki: PkiConfig::default(),
            identity: IdentityConfig::default(),
            admin: AdminConfig::default(),
            dns: airlock_dns::DnsConfig::default(),
            artifacts: ArtifactsConfig::default(),
        }
    }
}

/// Error reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown/invalid settings.
    #[error("invalid config file {path}: {message}(see docs/configuration.md for every setting)")]
    Parse {
        /// File path.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The settings are inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configured zones plus an A/AAAA record, for every server name inside a zone, to each
    /// endpoint address that is a specific address (a wildcard bind such as 0.0.0.0 names none):
    /// devices then resolve Airlock's names to the private addresses it really listens on.
    pub fn dns_zones(&self) -> airlock_dns::DnsConfig {
        let mut dns = self.dns.clone();
        let addresses: Vec<std::net::IpAddr> = self
            .endpoints
            .iter()
            .map(|e| e.bind.ip())
            .filter(|ip| !ip.is_unspecified())
            .fold(Vec::new(), |mut v, ip| {
                if !v.contains(&ip) {
                    v.push(ip);
                }
                v
            });
        for name in &self.server_names {
            if name.parse::<std::net::IpAddr>().is_ok() {
                continue;
            }
            for ip in &addresses {
                match dns.add_ip(name, *ip) {
                    Ok(()) => {}
                    // A server name outside every zone is served by someone else's DNS.
                    Err(e) => tracing::debug!(%name, %ip, "no DNS record added: {e}"),
                }
            }
        }
        dns
    }

    /// Check cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for e in &self.endpoints {
            if e.id.is_empty()
                || !e
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::Invalid(format!(
                    "endpoint id {:?} must be non-empty and use only letters, digits, '-' and '_'",
                    e.id
                )));
            }
            if !e.tls && e.authentication == Authentication::Certificate {
                return Err(ConfigError::Invalid(format!(
                    "endpoint {:?}: tls = false needs authentication = \"none\" (client certificates need TLS)",
                    e.id
                )));
            }
            if e.authentication == Authentication::Certificate && e.anonymous_policy.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "endpoint {:?}: anonymous_policy applies only to authentication = \"none\"",
                    e.id
                )));
            }
            if e.proxy_protocol && e.proxy_trusted.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "endpoint {:?}: proxy_protocol = true needs proxy_trusted, the load balancers' addresses (e.g. [\"10.0.5.0/24\"])",
                    e.id
                )));
            }
            if !e.proxy_protocol && !e.proxy_trusted.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "endpoint {:?}: proxy_trusted applies only with proxy_protocol = true",
                    e.id
                )));
            }
            if e.protocol == EndpointProtocol::Https
                && (!e.tls || e.authentication != Authentication::Certificate)
            {
                return Err(ConfigError::Invalid(format!(
                    "endpoint {:?}: protocol = \"https\" needs tls = true and authentication = \"certificate\" (the credential provider identifies devices by their certificates)",
                    e.id
                )));
            }
            if e.protocol == EndpointProtocol::Artifacts && !e.tls {
                return Err(ConfigError::Invalid(format!(
                    "endpoint {:?}: protocol = \"artifacts\" needs tls = true (SigV4 signs requests but does not encrypt them)",
                    e.id
                )));
            }
            if e.id == "admin" || e.id == "metrics" {
                return Err(ConfigError::Invalid(format!(
                    "endpoint id {:?} is reserved; choose another",
                    e.id
                )));
            }
            if !seen.insert(e.id.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "endpoint id {:?} is used twice",
                    e.id
                )));
            }
        }
        if self.endpoints.is_empty() {
            return Err(ConfigError::Invalid(
                "at least one [[endpoint]] is required".into(),
            ));
        }
        if self.identity.region.is_empty()
            || !self
                .identity
                .region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ConfigError::Invalid(format!(
                "identity.region {:?} must be non-empty letters, digits and '-' (it goes into ARNs)",
                self.identity.region
            )));
        }
        if self.identity.account_id.is_empty()
            || !self.identity.account_id.chars().all(|c| c.is_ascii_digit())
        {
            return Err(ConfigError::Invalid(format!(
                "identity.account_id {:?} must be digits (AWS account ids are 12 digits)",
                self.identity.account_id
            )));
        }
        if self.identity.policy_max_chars < 64 {
            return Err(ConfigError::Invalid(
                "identity.policy_max_chars must be at least 64".into(),
            ));
        }
        if self.dns.enabled {
            self.dns_zones()
                .validate()
                .map_err(|e| ConfigError::Invalid(format!("[dns]: {e}")))?;
        }
        if self.mqtt.max_packet_size < 16 {
            return Err(ConfigError::Invalid(
                "mqtt.max_packet_size must be at least 16 bytes".into(),
            ));
        }
        Ok(())
    }
}

/// Key algorithm names in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum KeyAlgorithmName {
    /// ECDSA on P-256 with SHA-256 (default).
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 2048 with SHA-256.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl KeyAlgorithmName {
    /// The PKI crate's value.
    pub fn algorithm(self) -> airlock_pki::KeyAlgorithm {
        match self {
            KeyAlgorithmName::EcdsaP256 => airlock_pki::KeyAlgorithm::EcdsaP256,
            KeyAlgorithmName::Rsa2048 => airlock_pki::KeyAlgorithm::Rsa2048,
        }
    }
}

/// Protocol served by an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointProtocol {
    /// MQTT over WebSocket (`mqtt-ws`): after TLS, an HTTP/1.1 upgrade on `/mqtt` with
    /// subprotocol `mqtt` (or `mqttv3.1`); binary frames then carry the MQTT byte stream.
    MqttWs,
    /// MQTT 3.1.1 and 5 (the version is read from each CONNECT).
    #[default]
    Mqtt,
    /// HTTPS with mutual TLS and the same device certificate trust as MQTT: the credential
    /// provider (`GET /role-aliases/{alias}/credentials`). Needs TLS and certificate
    /// authentication.
    Https,
    /// The artifact store: the S3 REST API (path-style) over TLS. Clients authenticate every
    /// request with SigV4 and temporary credentials from the credential provider, so no client
    /// certificate is requested. Needs TLS.
    Artifacts,
}

/// How an endpoint authenticates clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Authentication {
    /// A client certificate signed by a CA Airlock trusts is required (default).
    #[default]
    Certificate,
    /// No authentication: every client is anonymous. For labs and conformance suites only.
    None,
}

/// One named listener (`[[endpoint]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointConfig {
    /// Endpoint id, e.g. `vpce-plant-a`; reported in logs, lifecycle events and `endpoints.json`.
    pub id: String,
    /// Address and port to bind. Port 0 picks a free port (see `endpoints.json`).
    pub bind: SocketAddr,
    /// Protocol.
    pub protocol: EndpointProtocol,
    /// TLS on (default) or plain TCP. Plain TCP requires `authentication = "none"`.
    pub tls: bool,
    /// Client authentication.
    pub authentication: Authentication,
    /// Most concurrent connections on this endpoint.
    pub max_connections: usize,
    /// With `authentication = "none"`: the registry policy that authorizes this endpoint's
    /// anonymous clients. Without one, anonymous clients are refused (default deny).
    pub anonymous_policy: Option<String>,
    /// Expect a PROXY protocol (v1 or v2) header before anything else, as a load balancer
    /// sends it; its source address becomes the client's address (`aws:SourceIp`, logs,
    /// lifecycle events) and AWS's VPC endpoint TLV becomes `aws:SourceVpce`.
    pub proxy_protocol: bool,
    /// With `proxy_protocol`: the only peers allowed to connect (and so to assert a client
    /// address), as CIDR blocks, e.g. `["10.0.5.0/24"]`. Required: an endpoint that believed
    /// PROXY headers from anyone would let any client choose its own source address.
    pub proxy_trusted: Vec<Cidr>,
    /// Source addresses allowed to connect, as CIDR blocks (the security-group role); empty
    /// means any. Checked on the TCP peer at accept, before TLS or a PROXY header is read.
    pub allow_sources: Vec<Cidr>,
}

/// An IPv4 or IPv6 CIDR block in the config file, `10.0.0.0/8` or `fd00::/8`; a bare address
/// means just that one. Parsed and matched as policies' `IpAddress` condition does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(airlock_policy::Cidr);

impl Cidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        airlock_policy::Cidr::parse(s).map(Cidr).ok_or_else(|| {
            format!("{s:?} is not a CIDR block (e.g. \"10.0.5.0/24\", prefix at most 32 for IPv4, 128 for IPv6)")
        })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            id: "default".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8883)),
            protocol: EndpointProtocol::Mqtt,
            tls: true,
            authentication: Authentication::Certificate,
            max_connections: 100_000,
            anonymous_policy: None,
            proxy_protocol: false,
            proxy_trusted: Vec::new(),
            allow_sources: Vec::new(),
        }
    }
}

/// Authorization (`[identity]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Region in the ARNs policies are written against (`arn:aws:iot:{region}:...`). Set it to
    /// the region of the policies you bring from AWS IoT.
    pub region: String,
    /// Account id in those ARNs.
    pub account_id: String,
    /// Accept client ids containing `+` or `#`, as AWS IoT does. Off by default: such a client
    /// id widens every `${iot:ClientId}` topic-filter grant.
    pub aws_compatible_client_ids: bool,
    /// Largest policy document, in characters not counting whitespace (AWS IoT: 2048).
    pub policy_max_chars: usize,
    /// Most authorization decisions kept in the cache.
    pub decision_cache_entries: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            region: "airlock".into(),
            account_id: "000000000000".into(),
            aws_compatible_client_ids: false,
            policy_max_chars: 2048,
            decision_cache_entries: 65_536,
        }
    }
}

/// The admin API (`[admin]`): HTTPS, admin client certificate only.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve the admin API. The CLI needs it.
    pub enabled: bool,
    /// Address and port. Port 0 picks a free port (see `endpoints.json`).
    pub bind: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 9443)),
        }
    }
}

/// Limits across endpoints (`[limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most concurrent connections in total.
    pub max_connections: usize,
    /// Seconds a TLS handshake may take.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds graceful shutdown waits for connections to close.
    pub shutdown_grace_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 100_000,
            tls_handshake_timeout_secs: 10,
            shutdown_grace_secs: 5,
        }
    }
}

/// The embedded store (`[store]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Store file; relative paths are under the data directory.
    pub path: PathBuf,
    /// fsync every group commit (default). Off trades durability on power loss for speed;
    /// a process crash (kill -9) still loses nothing that was acknowledged.
    pub fsync: bool,
    /// Most writes in one group commit.
    pub max_batch_ops: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("store.redb"),
            fsync: true,
            max_batch_ops: 4096,
        }
    }
}

/// Prometheus metrics (`[metrics]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`.
    pub enabled: bool,
    /// Address to bind.
    pub bind: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 9100)),
        }
    }
}

/// Log output (`[log]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `"human"` or `"json"`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `"info"` or `"info,airlock_broker=debug"`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Where the CA lives (`[pki]`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PkiConfig {
    /// CA private key path; default `DATA/pki/root-ca.key`. Put it outside the data directory
    /// (e.g. a mounted secret) to keep it out of backups of the data.
    pub ca_key: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_secure_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.endpoints.len(), 1);
        let e = &c.endpoints[0];
        assert!(e.tls);
        assert_eq!(e.authentication, Authentication::Certificate);
        assert!(e.bind.ip().is_loopback());
        assert_eq!(c.mqtt.max_payload_size, 128 * 1024);
    }

    #[test]
    fn https_endpoints_need_tls_and_certificates() {
        let base = "[[endpoint]]\nid = \"creds\"\nprotocol = \"https\"\n";
        let c = Config::parse(base).unwrap();
        assert_eq!(c.endpoints[0].protocol, EndpointProtocol::Https);
        assert!(Config::parse(&format!("{base}tls = false\nauthentication = \"none\"")).is_err());
        assert!(Config::parse(&format!("{base}authentication = \"none\"")).is_err());
    }

    #[test]
    fn endpoints_and_limits_parse() {
        let c = Config::parse(
            r#"
            server_names = ["broker.plant.local"]
            [[endpoint]]
            id = "vpce-plant-a"
            bind = "127.0.0.1:0"
            [[endpoint]]
            id = "lab"
            bind = "127.0.0.1:1883"
            tls = false
            authentication = "none"
            [mqtt]
            max_queued_messages = 10
            overflow = "disconnect"
            "#,
        )
        .unwrap();
        assert_eq!(c.endpoints[1].authentication, Authentication::None);
        assert_eq!(c.mqtt.max_queued_messages, 10);
    }

    #[test]
    fn proxy_protocol_needs_trusted_sources() {
        let base = "[[endpoint]]\nid = \"nlb\"\nproxy_protocol = true\n";
        assert!(Config::parse(base).is_err());
        let c = Config::parse(&format!(
            "{base}proxy_trusted = [\"10.0.5.0/24\", \"fd00::1\"]"
        ))
        .unwrap();
        let t = &c.endpoints[0].proxy_trusted;
        assert!(t[0].contains("10.0.5.77".parse().unwrap()));
        assert!(!t[0].contains("10.0.6.1".parse().unwrap()));
        assert!(t[0].contains("::ffff:10.0.5.1".parse().unwrap()));
        assert!(t[1].contains("fd00::1".parse().unwrap()));
        assert!(!t[1].contains("fd00::2".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!(
            Config::parse("[[endpoint]]\nid = \"x\"\nproxy_trusted = [\"10.0.0.0/8\"]").is_err()
        );
    }

    #[test]
    fn unknown_settings_and_duplicate_ids_are_refused() {
        assert!(Config::parse("[mqtt]\nmax_payload = 1").is_err());
        assert!(Config::parse("[[endpoint]]\nid = \"a\"\n[[endpoint]]\nid = \"a\"").is_err());
    }
}
