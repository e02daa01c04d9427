//! Turning configured strings into DNS names, with the zone-file conventions people expect
//! (`@`, relative names, a trailing dot for absolute ones) and none of the surprises.

use hickory_server::proto::rr::Name;

use crate::error::ConfigError;

/// A validated, lower-cased, fully qualified name.
pub(crate) type OwnerName = Name;

/// Longest name on the wire, in bytes, including length octets and the root (RFC 1035 §2.3.4).
const MAX_NAME_WIRE_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// What was wrong with a string, before the caller says where it came from.
enum Problem {
    Invalid(String),
    Wildcard,
}

impl Problem {
    fn into_error(self, context: String, name: &str) -> ConfigError {
        match self {
            Problem::Invalid(reason) => ConfigError::InvalidName {
                context,
                name: name.to_owned(),
                reason,
            },
            Problem::Wildcard => ConfigError::MisplacedWildcard {
                context,
                name: name.to_owned(),
            },
        }
    }
}

/// Splits a dotted name (no trailing dot) into lower-cased labels, checking each.
fn labels(raw: &str, allow_wildcard: bool) -> Result<Vec<String>, Problem> {
    if raw.is_empty() {
        return Err(Problem::Invalid("it is empty".to_owned()));
    }
    let mut out = Vec::new();
    for (i, label) in raw.split('.').enumerate() {
        if label.is_empty() {
            return Err(Problem::Invalid("it has an empty label".to_owned()));
        }
        if label == "*" {
            if i == 0 && allow_wildcard {
                out.push("*".to_owned());
                continue;
            }
            return Err(Problem::Wildcard);
        }
        if label.contains('*') {
            return Err(Problem::Wildcard);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(Problem::Invalid(format!(
                "label '{label}' is longer than {MAX_LABEL_LEN} characters"
            )));
        }
        // Host names plus '_' (service labels); anything else in a configured name is almost
        // certainly a typo, and letting it through would only make the name unresolvable.
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(Problem::Invalid(format!(
                "label '{label}' contains {bad:?}"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Problem::Invalid(format!(
                "label '{label}' starts or ends with '-'"
            )));
        }
        out.push(label.to_ascii_lowercase());
    }
    Ok(out)
}

/// Builds a fully qualified name from checked labels, enforcing the total length.
fn build(labels: &[String]) -> Result<Name, Problem> {
    let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if wire_len > MAX_NAME_WIRE_LEN {
        return Err(Problem::Invalid(format!(
            "it is {wire_len} bytes long on the wire, more than {MAX_NAME_WIRE_LEN}"
        )));
    }
    Name::from_labels(labels.iter().map(|l| l.as_bytes()))
        .map_err(|e| Problem::Invalid(e.to_string()))
}

/// Parses a zone apex such as `iot.plant.example` (trailing dot optional; no wildcard).
pub(crate) fn parse_zone(raw: &str) -> Result<Name, ConfigError> {
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    labels(trimmed, false)
        .and_then(|l| build(&l))
        .map_err(|p| p.into_error("zone name".to_owned(), raw))
}

/// Parses a fully qualified name given by the server (trailing dot optional; a leading `*`
/// label allowed, for wildcard domain names).
pub(crate) fn parse_absolute(raw: &str) -> Result<Name, ConfigError> {
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    labels(trimmed, true)
        .and_then(|l| build(&l))
        .map_err(|p| p.into_error("address record name".to_owned(), raw))
}

/// Parses a record owner name in `zone` (whose apex is `origin`, written `zone_raw` in the
/// configuration): `@`, relative, or absolute with a trailing dot. The result lies inside the
/// zone.
pub(crate) fn parse_owner(
    origin: &Name,
    zone_raw: &str,
    raw: &str,
) -> Result<OwnerName, ConfigError> {
    parse_in_zone(origin, zone_raw, raw, true, "record name")
}

/// Parses a name that may lie anywhere (NS targets, SOA mname and rname), with the same
/// relative/absolute rules as record names.
pub(crate) fn parse_target(
    origin: &Name,
    zone_raw: &str,
    raw: &str,
    what: &str,
) -> Result<Name, ConfigError> {
    parse_in_zone(origin, zone_raw, raw, false, what)
}

fn parse_in_zone(
    origin: &Name,
    zone_raw: &str,
    raw: &str,
    is_owner: bool,
    what: &str,
) -> Result<Name, ConfigError> {
    let context = || format!("{what} in zone '{zone_raw}'");
    if raw == "@" {
        return Ok(origin.clone());
    }
    let name = if let Some(absolute) = raw.strip_suffix('.') {
        let name = labels(absolute, is_owner)
            .and_then(|l| build(&l))
            .map_err(|p| p.into_error(context(), raw))?;
        if is_owner && !origin.zone_of(&name) {
            return Err(ConfigError::OutsideZone {
                zone: zone_raw.to_owned(),
                name: raw.to_owned(),
            });
        }
        name
    } else {
        let relative = labels(raw, is_owner).map_err(|p| p.into_error(context(), raw))?;
        // `broker.iot.plant.example` in zone `iot.plant.example` would, by zone-file rules,
        // mean `broker.iot.plant.example.iot.plant.example`. Nobody means that; say so
        // instead of serving a name no device will ask for.
        let origin_labels: Vec<String> = origin
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        if relative.ends_with(&origin_labels) {
            let suggestion = if relative.len() == origin_labels.len() {
                "@".to_owned()
            } else {
                relative[..relative.len() - origin_labels.len()].join(".")
            };
            return Err(ConfigError::RelativeRepeatsZone {
                zone: zone_raw.to_owned(),
                name: raw.to_owned(),
                suggestion,
            });
        }
        let mut all = relative;
        all.extend(origin_labels);
        build(&all).map_err(|p| p.into_error(context(), raw))?
    };
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Name {
        parse_zone("IoT.Plant.Example.").unwrap()
    }

    #[test]
    fn zone_names_are_lowercased_and_fqdn() {
        let z = zone();
        assert!(z.is_fqdn());
        assert_eq!(z.to_string(), "iot.plant.example.");
    }

    #[test]
    fn owners_relative_absolute_and_apex() {
        let z = zone();
        let p = |s| parse_owner(&z, "iot.plant.example", s).map(|n| n.to_string());
        assert_eq!(p("@").unwrap(), "iot.plant.example.");
        assert_eq!(p("Broker").unwrap(), "broker.iot.plant.example.");
        assert_eq!(p("*.devices").unwrap(), "*.devices.iot.plant.example.");
        assert_eq!(p("*").unwrap(), "*.iot.plant.example.");
        assert_eq!(
            p("broker.iot.plant.example.").unwrap(),
            "broker.iot.plant.example."
        );
    }

    #[test]
    fn owner_errors_are_specific() {
        let z = zone();
        let p = |s: &str| parse_owner(&z, "iot.plant.example", s).unwrap_err();
        assert!(matches!(p("a.*.b"), ConfigError::MisplacedWildcard { .. }));
        assert!(matches!(
            p("*x.devices"),
            ConfigError::MisplacedWildcard { .. }
        ));
        assert!(matches!(p("a..b"), ConfigError::InvalidName { .. }));
        assert!(matches!(p("bad name"), ConfigError::InvalidName { .. }));
        assert!(matches!(p("-lead"), ConfigError::InvalidName { .. }));
        assert!(matches!(p(""), ConfigError::InvalidName { .. }));
        assert!(matches!(
            p(&"a".repeat(64)),
            ConfigError::InvalidName { .. }
        ));
        assert!(matches!(
            p("broker.other.example."),
            ConfigError::OutsideZone { .. }
        ));
        match p("broker.iot.plant.example") {
            ConfigError::RelativeRepeatsZone { suggestion, .. } => assert_eq!(suggestion, "broker"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn overlong_names_are_refused() {
        let z = zone();
        let long = vec!["a".repeat(60); 5].join(".");
        assert!(matches!(
            parse_owner(&z, "iot.plant.example", &long),
            Err(ConfigError::InvalidName { .. })
        ));
    }

    #[test]
    fn zone_names_take_no_wildcard() {
        assert!(matches!(
            parse_zone("*.example"),
            Err(ConfigError::MisplacedWildcard { .. })
        ));
    }
}
