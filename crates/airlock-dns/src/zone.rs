//! Validated zones and the authoritative answer to one question: pure data, no I/O, so every
//! rule of RFC 1034 §4.3.2, RFC 2308 and RFC 4592 this crate follows is tested here directly.

use std::collections::{HashMap, HashSet};

use hickory_server::proto::rr::{
    Name, RData, Record, RecordType,
    rdata::{A, AAAA, NS, SOA},
};

use crate::config::{DnsConfig, MAX_TTL, ZoneConfig};
use crate::error::ConfigError;
use crate::name;

/// The answer to one question, before it is put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// NOERROR with these records in the answer section (authoritative).
    Answer(Vec<Record>),
    /// NOERROR, empty answer, this SOA in the authority section: the name exists (or a
    /// wildcard covers it) but has no records of the asked type (RFC 2308 §2.2).
    NoData(Record),
    /// NXDOMAIN with this SOA in the authority section (RFC 2308 §2.1).
    NxDomain(Record),
    /// The name is in none of our zones. We are not a resolver, so we refuse (RFC 1034 §4.3.1
    /// leaves recursion optional; REFUSED tells a stub to try its next server).
    Refused,
}

/// Every configured zone, validated.
#[derive(Debug)]
pub(crate) struct Zones {
    zones: Vec<Zone>,
}

#[derive(Debug)]
struct Zone {
    origin: Name,
    soa: Record,
    /// The SOA put in negative answers: its TTL is min(SOA TTL, SOA minimum) (RFC 2308 §3).
    negative_soa: Record,
    ns: Vec<Record>,
    /// Address records by owner name (lower-case, fully qualified), wildcards included.
    nodes: HashMap<Name, Node>,
    /// Every name that exists in the zone: the apex, each owner, and each owner's ancestors up
    /// to the apex (empty non-terminals exist too, RFC 4592 §2.2.2).
    existing: HashSet<Name>,
}

#[derive(Debug, Default)]
struct Node {
    a: Vec<Record>,
    aaaa: Vec<Record>,
}

fn check_ttl(what: impl FnOnce() -> String, ttl: u32) -> Result<i32, ConfigError> {
    if ttl > MAX_TTL {
        return Err(ConfigError::TtlTooLarge { what: what(), ttl });
    }
    // Proven in range just above.
    Ok(ttl as i32)
}

impl Zones {
    /// Validates `config` and builds the zones. `require_zones`: refuse an empty zone list.
    pub(crate) fn build(config: &DnsConfig, require_zones: bool) -> Result<Self, ConfigError> {
        check_ttl(|| "dns.ttl".to_owned(), config.ttl)?;
        if require_zones && config.zones.is_empty() {
            return Err(ConfigError::NoZones);
        }
        let mut zones: Vec<Zone> = Vec::with_capacity(config.zones.len());
        for zc in &config.zones {
            let zone = Zone::build(zc, config.ttl)?;
            for other in &zones {
                if other.origin == zone.origin {
                    return Err(ConfigError::DuplicateZone {
                        zone: zone.origin.to_string(),
                    });
                }
                let (inner, outer) = if other.origin.zone_of(&zone.origin) {
                    (&zone.origin, &other.origin)
                } else if zone.origin.zone_of(&other.origin) {
                    (&other.origin, &zone.origin)
                } else {
                    continue;
                };
                return Err(ConfigError::NestedZone {
                    inner: inner.to_string(),
                    outer: outer.to_string(),
                });
            }
            zones.push(zone);
        }
        Ok(Self { zones })
    }

    /// The apex of each zone, in configuration order.
    #[cfg(test)]
    pub(crate) fn origins(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.origin.to_string()).collect()
    }

    /// Answers `qtype` questions about `qname` (class IN).
    pub(crate) fn resolve(&self, qname: &Name, qtype: RecordType) -> Resolution {
        let qname = qname.to_lowercase();
        // Zones never nest (validation refuses it), so at most one contains the name.
        let Some(zone) = self.zones.iter().find(|z| z.origin.zone_of(&qname)) else {
            return Resolution::Refused;
        };
        zone.resolve(&qname, qtype)
    }
}

impl Zone {
    fn build(zc: &ZoneConfig, ttl: u32) -> Result<Self, ConfigError> {
        let origin = name::parse_zone(&zc.name)?;
        let zone_raw = zc.name.as_str();
        let soa_cfg = &zc.soa;
        let mname = name::parse_target(&origin, zone_raw, &soa_cfg.mname, "soa.mname")?;
        let rname = name::parse_target(&origin, zone_raw, &soa_cfg.rname, "soa.rname")?;
        let what = |field: &'static str| move || format!("soa.{field} of zone '{zone_raw}'");
        let refresh = check_ttl(what("refresh"), soa_cfg.refresh)?;
        let retry = check_ttl(what("retry"), soa_cfg.retry)?;
        let expire = check_ttl(what("expire"), soa_cfg.expire)?;
        let minimum = soa_cfg.minimum.unwrap_or(ttl);
        check_ttl(what("minimum"), minimum)?;
        let soa_rdata = SOA::new(
            mname.clone(),
            rname,
            soa_cfg.serial,
            refresh,
            retry,
            expire,
            minimum,
        );
        let soa = Record::from_rdata(origin.clone(), ttl, RData::SOA(soa_rdata.clone()));
        let negative_soa =
            Record::from_rdata(origin.clone(), ttl.min(minimum), RData::SOA(soa_rdata));

        let mut ns_names = Vec::new();
        for raw in &zc.ns {
            let target = name::parse_target(&origin, zone_raw, raw, "ns")?;
            if !ns_names.contains(&target) {
                ns_names.push(target);
            }
        }
        if ns_names.is_empty() {
            ns_names.push(mname);
        }
        let ns = ns_names
            .into_iter()
            .map(|n| Record::from_rdata(origin.clone(), ttl, RData::NS(NS(n))))
            .collect();

        if zc.records.is_empty() {
            return Err(ConfigError::EmptyZone {
                zone: zone_raw.to_owned(),
            });
        }
        let mut nodes: HashMap<Name, Node> = HashMap::new();
        let mut existing: HashSet<Name> = HashSet::new();
        existing.insert(origin.clone());
        for rc in &zc.records {
            let owner = name::parse_owner(&origin, zone_raw, &rc.name)?;
            if rc.a.is_empty() && rc.aaaa.is_empty() {
                return Err(ConfigError::EmptyRecord {
                    zone: zone_raw.to_owned(),
                    name: rc.name.clone(),
                });
            }
            if nodes.contains_key(&owner) {
                return Err(ConfigError::DuplicateName {
                    zone: zone_raw.to_owned(),
                    name: owner.to_string(),
                });
            }
            let mut node = Node::default();
            // An RRset holds no duplicate records (RFC 2181 §5), so repeated addresses collapse.
            for ip in &rc.a {
                let r = Record::from_rdata(owner.clone(), ttl, RData::A(A(*ip)));
                if !node.a.contains(&r) {
                    node.a.push(r);
                }
            }
            for ip in &rc.aaaa {
                let r = Record::from_rdata(owner.clone(), ttl, RData::AAAA(AAAA(*ip)));
                if !node.aaaa.contains(&r) {
                    node.aaaa.push(r);
                }
            }
            let mut ancestor = owner.clone();
            while ancestor.num_labels() > origin.num_labels() {
                existing.insert(ancestor.clone());
                ancestor = ancestor.base_name();
            }
            nodes.insert(owner, node);
        }
        Ok(Self {
            origin,
            soa,
            negative_soa,
            ns,
            nodes,
            existing,
        })
    }

    fn resolve(&self, qname: &Name, qtype: RecordType) -> Resolution {
        if self.existing.contains(qname) {
            return self.answer_from(qname, qname, qtype);
        }
        // RFC 4592 §3.3.1: find the closest encloser (the longest existing ancestor; the apex
        // at worst, since the zone contains qname) and synthesize from `*.<closest encloser>`
        // if that exists. Only that one wildcard applies: a wildcard higher up does not cover
        // names below an existing node, and no wildcard covers a name that exists.
        let mut next_closer = qname.clone();
        loop {
            let parent = next_closer.base_name();
            if self.existing.contains(&parent) {
                break;
            }
            if parent.num_labels() <= self.origin.num_labels() {
                // Unreachable while the zone contains qname (the apex is in `existing`); kept
                // so a broken invariant answers NXDOMAIN instead of looping.
                return Resolution::NxDomain(self.negative_soa.clone());
            }
            next_closer = parent;
        }
        let source = next_closer.into_wildcard();
        if self.nodes.contains_key(&source) {
            self.answer_from(&source, qname, qtype)
        } else {
            Resolution::NxDomain(self.negative_soa.clone())
        }
    }

    /// The records of type `qtype` at `node` (an existing name, or a wildcard), owned by
    /// `owner` (the question's name).
    fn answer_from(&self, node: &Name, owner: &Name, qtype: RecordType) -> Resolution {
        let at_apex = *node == self.origin;
        let data = self.nodes.get(node);
        let mut answers: Vec<Record> = Vec::new();
        let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
        if let Some(data) = data {
            if wants(RecordType::A) {
                answers.extend(data.a.iter().cloned());
            }
            if wants(RecordType::AAAA) {
                answers.extend(data.aaaa.iter().cloned());
            }
        }
        if at_apex && wants(RecordType::SOA) {
            answers.push(self.soa.clone());
        }
        if at_apex && wants(RecordType::NS) {
            answers.extend(self.ns.iter().cloned());
        }
        if answers.is_empty() {
            return Resolution::NoData(self.negative_soa.clone());
        }
        for record in &mut answers {
            record.name = owner.clone();
        }
        Resolution::Answer(answers)
    }
}

#[cfg(test)]
mod tests;
