//! The `Condition` element: string operators on the supported keys.

use serde_json::Value;

use super::context::{Key, RequestContext};
use super::error::{PolicyError, Problem};
use super::pattern::{Pattern, Syntax};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    EqualsIgnoreCase,
    Like,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    /// A string operator: the key's value against any of the patterns.
    Compare {
        op: Op,
        negated: bool,
        if_exists: bool,
        values: Vec<Pattern>,
    },
    /// `Null`: `true` requires the key absent, `false` present.
    Null { absent: bool },
}

/// One operator applied to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    key: Key,
    test: Test,
}

fn err(path: String, problem: Problem) -> PolicyError {
    PolicyError { path, problem }
}

/// Parse a `Condition` object. Operators AND, keys under an operator AND, values of a key OR.
pub(crate) fn parse(v: &Value, path: &str, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(err(path.to_string(), Problem::NotObject));
    };
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let op_path = format!("{path}.{op_name}");
        let (base, if_exists) = match op_name.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (op_name.as_str(), false),
        };
        let compare = match base {
            "StringEquals" => Some((Op::Equals, false)),
            "StringNotEquals" => Some((Op::Equals, true)),
            "StringEqualsIgnoreCase" => Some((Op::EqualsIgnoreCase, false)),
            "StringNotEqualsIgnoreCase" => Some((Op::EqualsIgnoreCase, true)),
            "StringLike" => Some((Op::Like, false)),
            "StringNotLike" => Some((Op::Like, true)),
            "Null" if !if_exists => None,
            _ => return Err(err(op_path, Problem::UnknownOperator(op_name.clone()))),
        };
        let Value::Object(keys) = keys else {
            return Err(err(op_path, Problem::NotObject));
        };
        for (key_name, values) in keys {
            let key_path = format!("{op_path}.{key_name}");
            let key = Key::parse(key_name)
                .ok_or_else(|| err(key_path.clone(), Problem::UnknownKey(key_name.clone())))?;
            let strings =
                values_of(values).ok_or_else(|| err(key_path.clone(), Problem::NotStringOrList))?;
            let test = match compare {
                Some((op, negated)) => {
                    let syntax = Syntax {
                        wildcards: op == Op::Like,
                        variables,
                    };
                    let values = strings
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            Pattern::parse(s, syntax)
                                .map_err(|p| err(format!("{key_path}[{i}]"), p))
                        })
                        .collect::<Result<_, _>>()?;
                    Test::Compare {
                        op,
                        negated,
                        if_exists,
                        values,
                    }
                }
                None => match strings.as_slice() {
                    [s] if s == "true" => Test::Null { absent: true },
                    [s] if s == "false" => Test::Null { absent: false },
                    _ => return Err(err(key_path, Problem::BadNull(strings.join(",")))),
                },
            };
            out.push(Condition { key, test });
        }
    }
    Ok(out)
}

/// A condition value: a string, boolean or number (IAM reads the latter two as their text),
/// or a non-empty list of them.
fn values_of(v: &Value) -> Option<Vec<String>> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => None,
        other => scalar(other).map(|s| vec![s]),
    }
}

impl Condition {
    /// The keys named by policy variables in this condition's values.
    pub(crate) fn variables(&self) -> Vec<Key> {
        match &self.test {
            Test::Compare { values, .. } => values.iter().flat_map(Pattern::variables).collect(),
            Test::Null { .. } => Vec::new(),
        }
    }

    /// Does the condition hold? `None` when a value uses a variable that does not resolve
    /// (the statement then does not match).
    pub(crate) fn holds(&self, ctx: &RequestContext<'_>) -> Option<bool> {
        let actual = ctx.get(self.key);
        match &self.test {
            Test::Null { absent } => Some(actual.is_none() == *absent),
            Test::Compare {
                op,
                negated,
                if_exists,
                values,
            } => {
                // IAM: an absent key makes a positive operator false and a negated one true;
                // ...IfExists makes it true either way.
                let Some(actual) = actual else {
                    return Some(*if_exists || *negated);
                };
                let mut any = false;
                for v in values {
                    if v.matches(actual, ctx, *op == Op::EqualsIgnoreCase)? {
                        any = true;
                        break;
                    }
                }
                Some(any != *negated)
            }
        }
    }
}
