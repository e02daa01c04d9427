//! Policy documents: parsing and validation into a compiled form.

use serde_json::{Map, Value};

use crate::action::{action_mask, all_bits};
use crate::condition::ConditionBlock;
use crate::context::RequestContext;
use crate::error::{PolicyError, Problem};
use crate::template::{Template, Vars};

/// Limits applied when a document is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Maximum characters in a document, not counting whitespace. AWS IoT's quota is 2048.
    pub max_chars: usize,
}

impl Default for PolicyLimits {
    fn default() -> PolicyLimits {
        PolicyLimits { max_chars: 2048 }
    }
}

/// The policy-language version a document declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    /// `"2012-10-17"`: the current language, with policy variables.
    V2012_10_17,
    /// `"2008-10-17"`, or no `Version` element (IAM's default): no policy variables.
    V2008_10_17,
}

/// Whether a statement grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`: wins over any `Allow`.
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resources {
    Resource(Vec<Template>),
    NotResource(Vec<Template>),
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    /// Bit set of the [`crate::Action`]s this statement covers (NotAction already inverted).
    actions: u16,
    resources: Resources,
    condition: ConditionBlock,
}

impl Statement {
    /// The statement's `Sid`, if it has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The statement's `Effect`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Does this statement apply to the request? (Action, resource, then conditions.)
    pub(crate) fn applies(&self, action_bit: u16, arn: &str, ctx: &RequestContext) -> bool {
        if self.actions & action_bit == 0 {
            return false;
        }
        let resource_ok = match &self.resources {
            Resources::Resource(list) => list.iter().any(|t| {
                // An entry whose variables do not resolve cannot match (AWS leaves the
                // `${...}` text in place, which no real resource carries).
                t.is_star() || t.bind(ctx).is_some_and(|vals| t.glob(&vals, arn))
            }),
            Resources::NotResource(list) => {
                let mut ok = true;
                for t in list {
                    match t.bind(ctx) {
                        // Unknowable exclusion: the statement cannot match at all.
                        None => return false,
                        Some(vals) if t.glob(&vals, arn) => {
                            ok = false;
                            break;
                        }
                        Some(_) => {}
                    }
                }
                ok
            }
        };
        resource_ok && self.condition.holds(ctx)
    }
}

/// A parsed, validated policy document. Only [`PolicyDocument::parse`] makes one, so holding
/// one means the document is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    version: PolicyVersion,
    statements: Vec<Statement>,
    source: String,
}

const DOC_ELEMENTS: &str = "Version, Id, Statement";
const STATEMENT_ELEMENTS: &str = "Sid, Effect, Action, NotAction, Resource, NotResource, Condition";

fn string_list(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    const EXPECTED: &str = "a string or a list of strings";
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(PolicyError::invalid(field, Problem::Empty)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(PolicyError::invalid(
                    format!("{field}[{i}]"),
                    Problem::WrongType { expected: EXPECTED },
                )),
            })
            .collect(),
        _ => Err(PolicyError::invalid(
            field,
            Problem::WrongType { expected: EXPECTED },
        )),
    }
}

/// Exactly one of `a`/`b` must be present; returns which and its value.
fn one_of<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    a: &'static str,
    b: &'static str,
    both: &'static str,
) -> Result<(bool, &'v Value), PolicyError> {
    match (obj.get(a), obj.get(b)) {
        (Some(v), None) => Ok((true, v)),
        (None, Some(v)) => Ok((false, v)),
        (Some(_), Some(_)) => Err(PolicyError::invalid(
            format!("{path}.{a}"),
            Problem::Exclusive(both),
        )),
        (None, None) => Err(PolicyError::invalid(
            format!("{path}.{a}"),
            Problem::Missing,
        )),
    }
}

fn parse_statement(v: &Value, path: &str, vars: Vars) -> Result<Statement, PolicyError> {
    let Value::Object(obj) = v else {
        return Err(PolicyError::invalid(
            path,
            Problem::WrongType {
                expected: "an object",
            },
        ));
    };
    if let Some(unknown) = obj
        .keys()
        .find(|k| !STATEMENT_ELEMENTS.split(", ").any(|e| e == *k))
    {
        return Err(PolicyError::invalid(
            format!("{path}.{unknown}"),
            Problem::UnknownElement {
                allowed: STATEMENT_ELEMENTS,
            },
        ));
    }
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(PolicyError::invalid(
                format!("{path}.Sid"),
                Problem::WrongType {
                    expected: "a string",
                },
            ));
        }
    };
    let effect = match obj.get("Effect") {
        None => {
            return Err(PolicyError::invalid(
                format!("{path}.Effect"),
                Problem::Missing,
            ));
        }
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(other) => {
            let shown = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            return Err(PolicyError::invalid(
                format!("{path}.Effect"),
                Problem::BadEffect(shown),
            ));
        }
    };

    let (positive, actions_v) = one_of(
        obj,
        path,
        "Action",
        "NotAction",
        "cannot be combined with NotAction in one statement",
    )?;
    let action_field = format!("{path}.{}", if positive { "Action" } else { "NotAction" });
    let names = string_list(actions_v, &action_field)?;
    let mut mask = 0u16;
    for (i, name) in names.iter().enumerate() {
        let field = if names.len() == 1 && actions_v.is_string() {
            action_field.clone()
        } else {
            format!("{action_field}[{i}]")
        };
        mask |= action_mask(name).map_err(|p| PolicyError::invalid(field, p))?;
    }
    let actions = if positive { mask } else { all_bits() & !mask };

    let (positive, res_v) = one_of(
        obj,
        path,
        "Resource",
        "NotResource",
        "cannot be combined with NotResource in one statement",
    )?;
    let res_field = format!(
        "{path}.{}",
        if positive { "Resource" } else { "NotResource" }
    );
    let raw = string_list(res_v, &res_field)?;
    let mut templates = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let field = if raw.len() == 1 && res_v.is_string() {
            res_field.clone()
        } else {
            format!("{res_field}[{i}]")
        };
        let is_arn = r.starts_with("arn:") && r.splitn(6, ':').count() == 6;
        if r != "*" && !is_arn {
            return Err(PolicyError::invalid(field, Problem::BadResource(r.clone())));
        }
        templates.push(Template::parse(r, true, vars).map_err(|p| PolicyError::invalid(field, p))?);
    }
    let resources = if positive {
        Resources::Resource(templates)
    } else {
        Resources::NotResource(templates)
    };

    let condition = match obj.get("Condition") {
        None => ConditionBlock::default(),
        Some(c) => ConditionBlock::parse(c, &format!("{path}.Condition"), vars)?,
    };
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        condition,
    })
}

impl PolicyDocument {
    /// Parse and validate a policy document. Never panics, whatever the input.
    pub fn parse(json: &str, limits: &PolicyLimits) -> Result<PolicyDocument, PolicyError> {
        let chars = json.chars().filter(|c| !c.is_whitespace()).count();
        if chars > limits.max_chars {
            return Err(PolicyError::TooLarge {
                chars,
                max: limits.max_chars,
            });
        }
        let value: Value = serde_json::from_str(json).map_err(|e| PolicyError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let Value::Object(top) = &value else {
            return Err(PolicyError::invalid(
                "(document)",
                Problem::WrongType {
                    expected: "a JSON object",
                },
            ));
        };
        if let Some(unknown) = top
            .keys()
            .find(|k| !DOC_ELEMENTS.split(", ").any(|e| e == *k))
        {
            return Err(PolicyError::invalid(
                unknown.clone(),
                Problem::UnknownElement {
                    allowed: DOC_ELEMENTS,
                },
            ));
        }
        let version = match top.get("Version") {
            None => PolicyVersion::V2008_10_17,
            Some(Value::String(s)) if s == "2012-10-17" => PolicyVersion::V2012_10_17,
            Some(Value::String(s)) if s == "2008-10-17" => PolicyVersion::V2008_10_17,
            Some(Value::String(s)) => {
                return Err(PolicyError::invalid(
                    "Version",
                    Problem::BadVersion(s.clone()),
                ));
            }
            Some(v) => {
                return Err(PolicyError::invalid(
                    "Version",
                    Problem::BadVersion(v.to_string()),
                ));
            }
        };
        if let Some(id) = top.get("Id")
            && !id.is_string()
        {
            return Err(PolicyError::invalid(
                "Id",
                Problem::WrongType {
                    expected: "a string",
                },
            ));
        }
        let vars = match version {
            PolicyVersion::V2012_10_17 => Vars::Allowed,
            PolicyVersion::V2008_10_17 => Vars::Refused,
        };
        let statements = match top.get("Statement") {
            None => return Err(PolicyError::invalid("Statement", Problem::Missing)),
            Some(v @ Value::Object(_)) => vec![parse_statement(v, "Statement", vars)?],
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(PolicyError::invalid("Statement", Problem::Empty));
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| parse_statement(s, &format!("Statement[{i}]"), vars))
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(PolicyError::invalid(
                    "Statement",
                    Problem::WrongType {
                        expected: "an object or a list of objects",
                    },
                ));
            }
        };
        Ok(PolicyDocument {
            version,
            statements,
            source: json.to_string(),
        })
    }

    /// The declared language version.
    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    /// The compiled statements, in document order (decisions refer to them by index).
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The document text as it was given to [`PolicyDocument::parse`].
    pub fn as_json(&self) -> &str {
        &self.source
    }
}
