//! The `Condition` element: operators, keys and values, compiled at parse time.
//!
//! Semantics follow IAM's "Condition operators" and "Conditions with multiple context keys or
//! values" pages: operators and keys in one block are ANDed, values of one key are ORed (NOR
//! for negated operators); a key absent from the request makes a positive operator false and
//! a negated one true, except `...IfExists` (absent → true) and `Null` (tests absence);
//! `ForAllValues:` is true on an absent/empty key, `ForAnyValue:` false.

use std::net::IpAddr;

use serde_json::Value;

use crate::context::RequestContext;
use crate::error::{PolicyError, Problem};
use crate::glob::wildcard_match;
use crate::key::{Found, Key};
use crate::template::{Template, Vars};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    IpAddress,
    Bool,
    Null,
    ArnEquals,
    ArnLike,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    base: Base,
    negated: bool,
    set: SetQualifier,
    if_exists: bool,
}

impl Operator {
    fn parse(name: &str) -> Result<Operator, Problem> {
        let unknown = || Problem::UnknownOperator(name.to_string());
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let (if_exists, rest) = match rest.strip_suffix("IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (base, negated) = match rest {
            "StringEquals" => (Base::StringEquals, false),
            "StringNotEquals" => (Base::StringEquals, true),
            "StringEqualsIgnoreCase" => (Base::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Base::StringEqualsIgnoreCase, true),
            "StringLike" => (Base::StringLike, false),
            "StringNotLike" => (Base::StringLike, true),
            "IpAddress" => (Base::IpAddress, false),
            "NotIpAddress" => (Base::IpAddress, true),
            "Bool" => (Base::Bool, false),
            "Null" => (Base::Null, false),
            "ArnEquals" => (Base::ArnEquals, false),
            "ArnNotEquals" => (Base::ArnEquals, true),
            "ArnLike" => (Base::ArnLike, false),
            "ArnNotLike" => (Base::ArnLike, true),
            _ => return Err(unknown()),
        };
        if base == Base::Null && if_exists {
            return Err(Problem::BadQualifier(
                "Null tests whether a key exists; it has no IfExists form",
            ));
        }
        if set != SetQualifier::None && matches!(base, Base::IpAddress | Base::Bool | Base::Null) {
            return Err(Problem::BadQualifier(
                "ForAnyValue:/ForAllValues: apply only to String and Arn operators",
            ));
        }
        Ok(Operator {
            base,
            negated,
            set,
            if_exists,
        })
    }
}

/// An IP network, as `IpAddress`/`NotIpAddress` take it: `10.0.0.0/8`, `fd00::/8`, or a bare
/// address (that one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `addr/prefix` or a bare address; `None` if it is neither.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                let p = p.trim();
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            None => max,
        };
        Some(Cidr { net, prefix })
    }

    /// Whether `ip` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        // A v4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d; v4 CIDRs in
        // policies must still apply to it.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Values {
    Strings(Vec<Template>),
    Cidrs(Vec<Cidr>),
    Bools(Vec<bool>),
}

/// One operator applied to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    op: Operator,
    key: Key,
    values: Values,
}

/// A statement's whole `Condition` element (all ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConditionBlock(Vec<Condition>);

fn value_strings(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value, field: String| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PolicyError::invalid(
            field,
            Problem::WrongType {
                expected: "a string or a list of strings",
            },
        )),
    };
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(PolicyError::invalid(field, Problem::Empty));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| one(item, format!("{field}[{i}]")))
                .collect()
        }
        other => Ok(vec![one(other, field.to_string())?]),
    }
}

fn bool_value(s: &str, field: &str, expected: &'static str) -> Result<bool, PolicyError> {
    if s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(PolicyError::invalid(
            field,
            Problem::BadValue {
                value: s.to_string(),
                expected,
            },
        ))
    }
}

impl ConditionBlock {
    /// Parse a `Condition` element found at `field`.
    pub(crate) fn parse(v: &Value, field: &str, vars: Vars) -> Result<ConditionBlock, PolicyError> {
        let Value::Object(ops) = v else {
            return Err(PolicyError::invalid(
                field,
                Problem::WrongType {
                    expected: "an object of condition operators",
                },
            ));
        };
        let mut out = Vec::new();
        for (op_name, keys) in ops {
            let op_field = format!("{field}.{op_name}");
            let op = Operator::parse(op_name).map_err(|p| PolicyError::invalid(&op_field, p))?;
            let Value::Object(keys) = keys else {
                return Err(PolicyError::invalid(
                    op_field,
                    Problem::WrongType {
                        expected: "an object of condition keys",
                    },
                ));
            };
            if keys.is_empty() {
                return Err(PolicyError::invalid(op_field, Problem::Empty));
            }
            for (key_name, values) in keys {
                let key_field = format!("{op_field}[{key_name:?}]");
                let key = Key::parse(key_name).ok_or_else(|| {
                    PolicyError::invalid(&key_field, Problem::UnknownConditionKey(key_name.clone()))
                })?;
                let raw = value_strings(values, &key_field)?;
                let values = match op.base {
                    Base::StringEquals
                    | Base::StringEqualsIgnoreCase
                    | Base::StringLike
                    | Base::ArnEquals
                    | Base::ArnLike => {
                        // IAM: StringLike and both Arn operators take `*`/`?`; StringEquals
                        // compares them literally.
                        let wildcards = !matches!(
                            op.base,
                            Base::StringEquals | Base::StringEqualsIgnoreCase
                        );
                        Values::Strings(
                            raw.iter()
                                .enumerate()
                                .map(|(i, s)| {
                                    Template::parse(s, wildcards, vars).map_err(|p| {
                                        PolicyError::invalid(format!("{key_field}[{i}]"), p)
                                    })
                                })
                                .collect::<Result<_, _>>()?,
                        )
                    }
                    Base::IpAddress => Values::Cidrs(
                        raw.iter()
                            .map(|s| {
                                Cidr::parse(s).ok_or_else(|| {
                                    PolicyError::invalid(
                                        &key_field,
                                        Problem::BadValue {
                                            value: s.clone(),
                                            expected: "an IPv4/IPv6 address or CIDR such as 203.0.113.0/24",
                                        },
                                    )
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    Base::Bool | Base::Null => Values::Bools(
                        raw.iter()
                            .map(|s| bool_value(s, &key_field, "\"true\" or \"false\""))
                            .collect::<Result<_, _>>()?,
                    ),
                };
                out.push(Condition { op, key, values });
            }
        }
        Ok(ConditionBlock(out))
    }

    /// Do all conditions hold for the request?
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        self.0.iter().all(|c| c.holds(ctx))
    }
}

/// Match an ARN against an ARN pattern component by component (IAM: "each of the six
/// colon-delimited components of the ARN is checked separately").
fn arn_match(pattern: &str, arn: &str, wildcards: bool) -> bool {
    let mut p = pattern.splitn(6, ':');
    let mut a = arn.splitn(6, ':');
    loop {
        match (p.next(), a.next()) {
            (None, None) => return true,
            (Some(pp), Some(aa)) => {
                let ok = if wildcards {
                    wildcard_match(pp, aa)
                } else {
                    pp == aa
                };
                if !ok {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

impl Condition {
    fn holds(&self, ctx: &RequestContext) -> bool {
        let found = self.key.lookup(ctx);
        if let Values::Bools(bools) = &self.values
            && self.op.base == Base::Null
        {
            let absent = matches!(found, Found::Absent);
            return bools.contains(&absent);
        }
        let result = match &found {
            Found::Absent => {
                return if self.op.if_exists {
                    true
                } else {
                    match self.op.set {
                        SetQualifier::ForAllValues => true,
                        SetQualifier::ForAnyValue => false,
                        SetQualifier::None => self.op.negated,
                    }
                };
            }
            Found::One(v) => self.over_requests(std::iter::once(v.as_ref()), ctx),
            Found::Many(vs) => self.over_requests(vs.iter().map(String::as_str), ctx),
            Found::Ip(ip) => match &self.values {
                // IP operators take no set qualifier (refused at parse), so this is the
                // whole single-valued rule: any CIDR contains it, negated for NotIpAddress.
                Values::Cidrs(cidrs) => {
                    Some(cidrs.iter().any(|c| c.contains(*ip)) != self.op.negated)
                }
                _ => {
                    let text = ip.to_string();
                    self.over_requests(std::iter::once(text.as_str()), ctx)
                }
            },
        };
        // `None`: a policy variable in a value did not resolve; the statement cannot match.
        result.unwrap_or(false)
    }

    /// Combine per-request-value results under the set qualifier.
    fn over_requests<'r>(
        &self,
        mut reqs: impl Iterator<Item = &'r str>,
        ctx: &RequestContext,
    ) -> Option<bool> {
        let negated = self.op.negated;
        match self.op.set {
            SetQualifier::None if negated => {
                // NOR over every (request value, policy value) pair.
                for r in reqs {
                    if self.hit(r, ctx)? {
                        return Some(false);
                    }
                }
                Some(true)
            }
            SetQualifier::None | SetQualifier::ForAnyValue => {
                for r in reqs {
                    if self.hit(r, ctx)? != negated {
                        return Some(true);
                    }
                }
                Some(false)
            }
            SetQualifier::ForAllValues => {
                reqs.try_fold(true, |acc, r| Some(acc && (self.hit(r, ctx)? != negated)))
            }
        }
    }

    /// Does request value `r` match any policy value (the un-negated operator)?
    fn hit(&self, r: &str, ctx: &RequestContext) -> Option<bool> {
        match &self.values {
            Values::Strings(templates) => {
                let mut any = false;
                for t in templates {
                    let vals = t.bind(ctx)?;
                    any = any
                        || match self.op.base {
                            Base::StringEquals => t.equals(&vals, r),
                            Base::StringEqualsIgnoreCase => {
                                t.render(&vals).to_lowercase() == r.to_lowercase()
                            }
                            Base::StringLike => t.glob(&vals, r),
                            Base::ArnEquals | Base::ArnLike => arn_match(&t.render(&vals), r, true),
                            Base::IpAddress | Base::Bool | Base::Null => false,
                        };
                }
                Some(any)
            }
            Values::Cidrs(cidrs) => {
                let ip: Option<IpAddr> = r.parse().ok();
                Some(ip.is_some_and(|ip| cidrs.iter().any(|c| c.contains(ip))))
            }
            Values::Bools(bools) => Some(
                bools
                    .iter()
                    .any(|b| r.eq_ignore_ascii_case(if *b { "true" } else { "false" })),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.9".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!c.contains("203.0.114.9".parse().unwrap()));
        let z = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(z.contains("1.2.3.4".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("1.2.3.4".parse().unwrap()));
        let host = Cidr::parse("10.0.0.1").unwrap();
        assert!(host.contains("10.0.0.1".parse().unwrap()));
        assert!(!host.contains("10.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("nope").is_none());
    }

    #[test]
    fn arns() {
        assert!(arn_match(
            "arn:aws:iot:*:*:thinggroup/a*",
            "arn:aws:iot:r:1:thinggroup/ab",
            true
        ));
        assert!(!arn_match("arn:aws:iot:*:*:x", "arn:aws:iot:r:1", true));
    }
}
