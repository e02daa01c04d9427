//! The `[dns]` section as the server embeds it: defaults, the documented example, and
//! refusal of unknown keys.

use std::net::SocketAddr;

use airlock_dns::{ConfigError, DEFAULT_BIND, DEFAULT_TTL, DnsConfig, SoaConfig};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerConfig {
    #[serde(default)]
    dns: DnsConfig,
}

fn parse(text: &str) -> Result<DnsConfig, toml::de::Error> {
    toml::from_str::<ServerConfig>(text).map(|c| c.dns)
}

#[test]
fn defaults_are_off_and_loopback() {
    let dns = parse("").unwrap();
    assert_eq!(dns, DnsConfig::default());
    assert!(!dns.enabled);
    assert_eq!(dns.bind, "127.0.0.1:5353".parse::<SocketAddr>().unwrap());
    assert_eq!(dns.bind, DEFAULT_BIND);
    assert_eq!(dns.ttl, DEFAULT_TTL);
    assert_eq!(dns.ttl, 60);
    assert!(dns.zones.is_empty());
    // Disabled with no zones is fine; enabled with none is not.
    dns.validate().unwrap();
    let on = parse("[dns]\nenabled = true").unwrap();
    assert_eq!(on.validate(), Err(ConfigError::NoZones));
}

#[test]
fn full_example() {
    let dns = parse(
        r#"
[dns]
enabled = true
bind = "10.0.0.2:53"
ttl = 120

[[dns.zone]]
name = "iot.plant.example"
ns = ["ns1", "ns2.iot.plant.example."]
records = [
  { name = "@", a = ["10.0.0.2"] },
  { name = "ns1", a = ["10.0.0.2"] },
  { name = "broker", a = ["10.0.0.5", "10.0.0.15"], aaaa = ["fd00::5"] },
  { name = "*.devices", a = ["10.0.0.6"] },
]

[dns.zone.soa]
mname = "ns1"
rname = "ops.plant.example."
serial = 2026112201
minimum = 30

[[dns.zone]]
name = "credentials.plant.example."

[[dns.zone.records]]
name = "creds"
a = ["10.0.0.7"]
"#,
    )
    .unwrap();
    dns.validate().unwrap();
    assert!(dns.enabled);
    assert_eq!(dns.ttl, 120);
    assert_eq!(dns.zones.len(), 2);
    let zone = &dns.zones[0];
    assert_eq!(zone.records.len(), 4);
    assert_eq!(zone.soa.serial, 2026112201);
    assert_eq!(zone.soa.refresh, SoaConfig::default().refresh);
    assert_eq!(dns.zones[1].records[0].name, "creds");
}

#[test]
fn unknown_keys_are_refused() {
    let err = parse("[dns]\nenable = true").unwrap_err();
    assert!(err.to_string().contains("enable"), "{err}");
    let err = parse(
        r#"
[[dns.zone]]
name = "z.example"
records = [{ name = "a", a = ["10.0.0.1"], cname = "b" }]
"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cname"), "{err}");
    let err = parse("[[dns.zone]]\nname = \"z.example\"\n[dns.zone.soa]\nserail = 2").unwrap_err();
    assert!(err.to_string().contains("serail"), "{err}");
}

#[test]
fn bad_addresses_are_refused_by_the_parser() {
    let err = parse(
        r#"
[[dns.zone]]
name = "z.example"
records = [{ name = "a", a = ["fd00::1"] }]
"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid"), "{err}");
}

#[test]
fn validation_messages_say_what_to_do() {
    let dns = parse(
        r#"
[[dns.zone]]
name = "iot.plant.example"
records = [{ name = "broker.iot.plant.example", a = ["10.0.0.5"] }]
"#,
    )
    .unwrap();
    let msg = dns.validate().unwrap_err().to_string();
    assert!(msg.contains("write 'broker'"), "{msg}");
    assert!(msg.contains("'broker.iot.plant.example.'"), "{msg}");

    let dns = parse("[[dns.zone]]\nname = \"iot.plant.example\"").unwrap();
    let msg = dns.validate().unwrap_err().to_string();
    assert!(msg.contains("has no records"), "{msg}");
}
