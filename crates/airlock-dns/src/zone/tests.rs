use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_server::proto::rr::{Name, RData, RecordType, rdata::A};

use super::{Resolution, Zones};
use crate::config::{DnsConfig, RecordConfig, ZoneConfig};
use crate::error::ConfigError;

const ZONE: &str = "iot.plant.example";

fn rec(name: &str, a: &[&str], aaaa: &[&str]) -> RecordConfig {
    RecordConfig {
        name: name.to_owned(),
        a: a.iter().map(|s| s.parse().unwrap()).collect(),
        aaaa: aaaa.iter().map(|s| s.parse().unwrap()).collect(),
    }
}

fn config(records: Vec<RecordConfig>) -> DnsConfig {
    let mut zone = ZoneConfig::new(ZONE);
    zone.records = records;
    DnsConfig {
        zones: vec![zone],
        ..DnsConfig::default()
    }
}

fn zones() -> Zones {
    Zones::build(
        &config(vec![
            rec("broker", &["10.0.0.5"], &["fd00::5"]),
            rec("*.devices", &["10.0.0.6"], &[]),
            rec("special.devices", &[], &["fd00::7"]),
            rec("a.b.devices", &["10.0.0.8"], &[]),
            rec("@", &["10.0.0.1"], &[]),
        ]),
        true,
    )
    .unwrap()
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn addresses(r: &Resolution) -> Vec<String> {
    match r {
        Resolution::Answer(records) => records.iter().map(|r| r.data.to_string()).collect(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn exact_a_and_aaaa() {
    let z = zones();
    assert_eq!(
        addresses(&z.resolve(&n("broker.iot.plant.example."), RecordType::A)),
        ["10.0.0.5"]
    );
    assert_eq!(
        addresses(&z.resolve(&n("BROKER.iot.plant.example."), RecordType::AAAA)),
        ["fd00::5"]
    );
}

#[test]
fn wildcard_synthesizes_with_the_query_name() {
    let z = zones();
    match z.resolve(&n("x.devices.iot.plant.example."), RecordType::A) {
        Resolution::Answer(records) => {
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].name, n("x.devices.iot.plant.example."));
            assert_eq!(records[0].data, RData::A(A(Ipv4Addr::new(10, 0, 0, 6))));
        }
        other => panic!("{other:?}"),
    }
    // Deeper names below a non-existent node are covered too (closest encloser `devices`).
    assert_eq!(
        addresses(&z.resolve(&n("y.x.devices.iot.plant.example."), RecordType::A)),
        ["10.0.0.6"]
    );
}

#[test]
fn wildcard_does_not_cover_existing_names() {
    let z = zones();
    // `special.devices` exists with AAAA only: A is NODATA, not the wildcard's address.
    assert!(matches!(
        z.resolve(&n("special.devices.iot.plant.example."), RecordType::A),
        Resolution::NoData(_)
    ));
    // `b.devices` is an empty non-terminal (it exists because `a.b.devices` does).
    assert!(matches!(
        z.resolve(&n("b.devices.iot.plant.example."), RecordType::A),
        Resolution::NoData(_)
    ));
    // Below an existing node without its own wildcard: NXDOMAIN, not `*.devices`.
    assert!(matches!(
        z.resolve(&n("c.b.devices.iot.plant.example."), RecordType::A),
        Resolution::NxDomain(_)
    ));
}

#[test]
fn wildcard_without_the_type_is_nodata() {
    let z = zones();
    assert!(matches!(
        z.resolve(&n("x.devices.iot.plant.example."), RecordType::AAAA),
        Resolution::NoData(_)
    ));
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let z = zones();
    match z.resolve(&n("nothing.iot.plant.example."), RecordType::A) {
        Resolution::NxDomain(soa) => {
            assert_eq!(soa.record_type(), RecordType::SOA);
            assert_eq!(soa.name, n("iot.plant.example."));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        z.resolve(&n("broker.iot.plant.example."), RecordType::MX),
        Resolution::NoData(_)
    ));
}

#[test]
fn names_outside_every_zone_are_refused() {
    let z = zones();
    assert_eq!(
        z.resolve(&n("example.com."), RecordType::A),
        Resolution::Refused
    );
    assert_eq!(
        z.resolve(&n("plant.example."), RecordType::A),
        Resolution::Refused
    );
}

#[test]
fn apex_answers_soa_ns_and_a() {
    let z = zones();
    match z.resolve(&n("iot.plant.example."), RecordType::SOA) {
        Resolution::Answer(records) => {
            assert_eq!(records.len(), 1);
            let text = records[0].data.to_string();
            assert!(
                text.starts_with("ns.iot.plant.example. hostmaster.iot.plant.example. 1 "),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        addresses(&z.resolve(&n("iot.plant.example."), RecordType::NS)),
        ["ns.iot.plant.example."]
    );
    assert_eq!(
        addresses(&z.resolve(&n("iot.plant.example."), RecordType::A)),
        ["10.0.0.1"]
    );
    // SOA below the apex is NODATA.
    assert!(matches!(
        z.resolve(&n("broker.iot.plant.example."), RecordType::SOA),
        Resolution::NoData(_)
    ));
}

#[test]
fn negative_soa_ttl_is_min_of_ttl_and_minimum() {
    let mut cfg = config(vec![rec("broker", &["10.0.0.5"], &[])]);
    cfg.zones[0].soa.minimum = Some(5);
    let z = Zones::build(&cfg, true).unwrap();
    match z.resolve(&n("nothing.iot.plant.example."), RecordType::A) {
        Resolution::NxDomain(soa) => assert_eq!(soa.ttl, 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_addresses_collapse() {
    let z = Zones::build(
        &config(vec![rec("broker", &["10.0.0.5", "10.0.0.5"], &[])]),
        true,
    )
    .unwrap();
    assert_eq!(
        addresses(&z.resolve(&n("broker.iot.plant.example."), RecordType::A)),
        ["10.0.0.5"]
    );
}

#[test]
fn validation_errors() {
    let err = |records| Zones::build(&config(records), true).unwrap_err();
    assert!(matches!(err(vec![]), ConfigError::EmptyZone { .. }));
    assert!(matches!(
        err(vec![rec("broker", &[], &[])]),
        ConfigError::EmptyRecord { .. }
    ));
    assert!(matches!(
        err(vec![
            rec("broker", &["10.0.0.5"], &[]),
            rec("broker.iot.plant.example.", &["10.0.0.6"], &[])
        ]),
        ConfigError::DuplicateName { .. }
    ));
    assert!(matches!(
        err(vec![rec("a.*", &["10.0.0.5"], &[])]),
        ConfigError::MisplacedWildcard { .. }
    ));
    assert!(matches!(
        err(vec![rec("x.other.example.", &["10.0.0.5"], &[])]),
        ConfigError::OutsideZone { .. }
    ));
    assert!(matches!(
        Zones::build(&DnsConfig::default(), true).unwrap_err(),
        ConfigError::NoZones
    ));
    assert!(Zones::build(&DnsConfig::default(), false).is_ok());
    let mut cfg = config(vec![rec("broker", &["10.0.0.5"], &[])]);
    cfg.ttl = u32::MAX;
    assert!(matches!(
        Zones::build(&cfg, true).unwrap_err(),
        ConfigError::TtlTooLarge { .. }
    ));
}

#[test]
fn zones_may_not_repeat_or_nest() {
    let mut cfg = config(vec![rec("broker", &["10.0.0.5"], &[])]);
    let mut again = cfg.zones[0].clone();
    again.name = "IOT.plant.example.".to_owned();
    cfg.zones.push(again);
    assert!(matches!(
        Zones::build(&cfg, true).unwrap_err(),
        ConfigError::DuplicateZone { .. }
    ));
    cfg.zones[1].name = "plant.example".to_owned();
    match Zones::build(&cfg, true).unwrap_err() {
        ConfigError::NestedZone { inner, outer } => {
            assert_eq!(inner, "iot.plant.example.");
            assert_eq!(outer, "plant.example.");
        }
        other => panic!("{other:?}"),
    }
    cfg.zones[1].name = "other.example".to_owned();
    let z = Zones::build(&cfg, true).unwrap();
    assert_eq!(z.origins(), ["iot.plant.example.", "other.example."]);
}

#[test]
fn add_a_merges_into_the_containing_zone() {
    let mut cfg = config(vec![rec("broker", &["10.0.0.5"], &[])]);
    cfg.zones.push(ZoneConfig::new("other.example"));
    cfg.add_a("broker.iot.plant.example", Ipv4Addr::new(10, 0, 0, 9))
        .unwrap();
    cfg.add_a("broker.iot.plant.example.", Ipv4Addr::new(10, 0, 0, 9))
        .unwrap();
    cfg.add_aaaa("Creds.iot.plant.example", Ipv6Addr::LOCALHOST)
        .unwrap();
    cfg.add_ip("x.other.example", "10.1.0.1".parse().unwrap())
        .unwrap();
    assert!(matches!(
        cfg.add_a("broker.elsewhere.example", Ipv4Addr::LOCALHOST),
        Err(ConfigError::NotInAnyZone { .. })
    ));
    assert!(matches!(
        cfg.add_a("bad name.iot.plant.example", Ipv4Addr::LOCALHOST),
        Err(ConfigError::InvalidName { .. })
    ));
    assert_eq!(cfg.zones[0].records.len(), 2);
    assert_eq!(cfg.zones[1].records.len(), 1);
    let z = Zones::build(&cfg, true).unwrap();
    assert_eq!(
        addresses(&z.resolve(&n("broker.iot.plant.example."), RecordType::A)),
        ["10.0.0.5", "10.0.0.9"]
    );
    assert_eq!(
        addresses(&z.resolve(&n("creds.iot.plant.example."), RecordType::AAAA)),
        ["::1"]
    );
    assert_eq!(
        addresses(&z.resolve(&n("x.other.example."), RecordType::A)),
        ["10.1.0.1"]
    );
}
