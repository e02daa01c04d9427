//! IAM-style permissions documents for roles: what credentials minted for a role may do.

mod condition;
mod context;
mod error;
mod pattern;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use condition::Condition;
use context::Key;
pub use context::RequestContext;
pub use error::{PolicyError, Problem};
use pattern::{Pattern, Syntax};

/// IAM's limit for an inline role policy, in characters, whitespace not counted.
pub const MAX_POLICY_CHARS: usize = 10_240;
/// Refuse absurd input before parsing it at all (whitespace included).
const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Whether a statement grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants, unless some statement denies.
    Allow,
    /// Refuses, whatever else allows.
    Deny,
}

/// The answer for one request, naming the statement (0-based index into
/// [`RolePolicy::statements`]) that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows and none denies; `statement` is the first allowing one.
    Allow {
        /// Index of the first matching Allow statement.
        statement: usize,
    },
    /// Refused: by an explicit Deny (`Some(index)`), or by default because nothing allows
    /// (`None`).
    Deny {
        /// Index of the first matching Deny statement, or `None` for the default deny.
        statement: Option<usize>,
    },
}

impl Decision {
    /// Is the request allowed?
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// `Action` / `Resource`: any entry matches.
    Any(Vec<Pattern>),
    /// `NotAction` / `NotResource`: no entry matches.
    None(Vec<Pattern>),
}

/// One statement of a role policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    actions: Match,
    resources: Match,
    conditions: Vec<Condition>,
    /// Every key named by a policy variable anywhere in the statement. IAM: a variable that
    /// does not resolve makes the whole statement not match (for Allow and Deny alike), so
    /// this is checked first, independent of the order of entries.
    variables: Vec<Key>,
}

impl Statement {
    /// The statement's `Sid`, if it has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    fn applies(&self, action: &str, resource: &str, ctx: &RequestContext<'_>) -> bool {
        if self.variables.iter().any(|k| ctx.get(*k).is_none()) {
            return false;
        }
        // Action names are case-insensitive in IAM; ARNs (S3 keys above all) are not.
        let action_hit = match &self.actions {
            Match::Any(p) => any_match(p, action, ctx, true),
            Match::None(p) => any_match(p, action, ctx, true).map(|hit| !hit),
        };
        let resource_hit = match &self.resources {
            Match::Any(p) => any_match(p, resource, ctx, false),
            Match::None(p) => any_match(p, resource, ctx, false).map(|hit| !hit),
        };
        action_hit == Some(true)
            && resource_hit == Some(true)
            && self.conditions.iter().all(|c| c.holds(ctx) == Some(true))
    }
}

fn any_match(
    patterns: &[Pattern],
    text: &str,
    ctx: &RequestContext<'_>,
    ignore_case: bool,
) -> Option<bool> {
    for p in patterns {
        if p.matches(text, ctx, ignore_case)? {
            return Some(true);
        }
    }
    Some(false)
}

/// A role's permissions policy, parsed and compiled: what temporary credentials minted for the
/// role may do in the artifact store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy {
    statements: Vec<Statement>,
}

fn err(path: impl Into<String>, problem: Problem) -> PolicyError {
    PolicyError {
        path: path.into(),
        problem,
    }
}

impl RolePolicy {
    /// Parse and validate an IAM policy document. Refuses (naming the element) anything IAM
    /// would refuse or Airlock cannot evaluate exactly, rather than guessing: unknown elements,
    /// operators, condition keys and variables, `Principal`, malformed actions and ARNs.
    pub fn parse(json: &str) -> Result<RolePolicy, PolicyError> {
        if json.len() > MAX_INPUT_BYTES {
            return Err(err("(document)", Problem::TooLarge(json.len())));
        }
        let chars = json.chars().filter(|c| !c.is_whitespace()).count();
        if chars > MAX_POLICY_CHARS {
            return Err(err("(document)", Problem::TooLarge(chars)));
        }
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| err("(document)", Problem::Json(e.to_string())))?;
        let Value::Object(top) = doc else {
            return Err(err("(document)", Problem::NotObject));
        };
        for k in top.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(err(
                    k.clone(),
                    Problem::UnknownElement("Version, Id, Statement"),
                ));
            }
        }
        // IAM reads a document without Version as 2008-10-17, where `${...}` is plain text;
        // Airlock refuses such text instead, so nobody gets a literal match they did not mean.
        let variables = match top.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(Value::String(v)) => return Err(err("Version", Problem::BadVersion(v.clone()))),
            Some(_) => return Err(err("Version", Problem::NotString)),
        };
        if let Some(id) = top.get("Id")
            && !id.is_string()
        {
            return Err(err("Id", Problem::NotString));
        }
        let list: Vec<&Value> = match top.get("Statement") {
            None => return Err(err("Statement", Problem::Missing)),
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(err("Statement", Problem::Empty));
            }
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err(err("Statement", Problem::NotObject)),
        };
        let mut statements = Vec::with_capacity(list.len());
        for (i, v) in list.into_iter().enumerate() {
            let path = format!("Statement[{i}]");
            let Value::Object(obj) = v else {
                return Err(err(path, Problem::NotObject));
            };
            let st = parse_statement(obj, &path, variables)?;
            if let Some(sid) = &st.sid
                && statements
                    .iter()
                    .any(|s: &Statement| s.sid.as_ref() == Some(sid))
            {
                return Err(err(
                    format!("{path}.Sid"),
                    Problem::DuplicateSid(sid.clone()),
                ));
            }
            statements.push(st);
        }
        Ok(RolePolicy { statements })
    }

    /// The statements, in document order (the indexes [`Decision`] refers to).
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// May `action` (e.g. `s3:GetObject`, any case) be done on `resource` (an ARN such as
    /// `arn:aws:s3:::bucket/key`, or the bucket ARN for bucket-level actions)? Default deny;
    /// an explicit Deny wins over any Allow.
    pub fn evaluate(&self, action: &str, resource: &str, ctx: &RequestContext<'_>) -> Decision {
        let mut allow = None;
        for (i, st) in self.statements.iter().enumerate() {
            if !st.applies(action, resource, ctx) {
                continue;
            }
            match st.effect {
                Effect::Deny => return Decision::Deny { statement: Some(i) },
                Effect::Allow => {
                    allow.get_or_insert(i);
                }
            }
        }
        match allow {
            Some(statement) => Decision::Allow { statement },
            None => Decision::Deny { statement: None },
        }
    }
}

const STATEMENT_ELEMENTS: &str = "Sid, Effect, Action, NotAction, Resource, NotResource, Condition";

fn parse_statement(
    obj: &Map<String, Value>,
    path: &str,
    variables: bool,
) -> Result<Statement, PolicyError> {
    for k in obj.keys() {
        match k.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" => {}
            "Principal" | "NotPrincipal" => {
                return Err(err(format!("{path}.{k}"), Problem::PrincipalNotAllowed));
            }
            _ => {
                return Err(err(
                    format!("{path}.{k}"),
                    Problem::UnknownElement(STATEMENT_ELEMENTS),
                ));
            }
        }
    }
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err(format!("{path}.Sid"), Problem::NotString)),
    };
    let effect = match obj.get("Effect") {
        None => return Err(err(format!("{path}.Effect"), Problem::Missing)),
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(Value::String(s)) => {
            return Err(err(format!("{path}.Effect"), Problem::BadEffect(s.clone())));
        }
        Some(_) => return Err(err(format!("{path}.Effect"), Problem::NotString)),
    };
    let actions = pair(obj, path, "Action", "NotAction", |s, p| {
        if !valid_action(s) {
            return Err(err(p, Problem::BadAction(s.to_string())));
        }
        Pattern::parse(
            s,
            Syntax {
                wildcards: true,
                variables: false,
            },
        )
        .map_err(|_| err(p, Problem::BadAction(s.to_string())))
    })?;
    let resources = pair(obj, path, "Resource", "NotResource", |s, p| {
        if !valid_resource(s) {
            return Err(err(p, Problem::BadResource(s.to_string())));
        }
        Pattern::parse(
            s,
            Syntax {
                wildcards: true,
                variables,
            },
        )
        .map_err(|e| err(p, e))
    })?;
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => condition::parse(c, &format!("{path}.Condition"), variables)?,
    };
    let mut vars: Vec<Key> = match &resources {
        Match::Any(p) | Match::None(p) => p.iter().flat_map(Pattern::variables).collect(),
    };
    vars.extend(conditions.iter().flat_map(Condition::variables));
    vars.dedup();
    Ok(Statement {
        sid,
        effect,
        actions,
        resources,
        conditions,
        variables: vars,
    })
}

/// Parse exactly one of `yes` / `no` (Action/NotAction, Resource/NotResource): a string or a
/// non-empty list of strings, each compiled by `compile(value, path)`.
fn pair(
    obj: &Map<String, Value>,
    path: &str,
    yes: &'static str,
    no: &'static str,
    compile: impl Fn(&str, String) -> Result<Pattern, PolicyError>,
) -> Result<Match, PolicyError> {
    let (name, v, positive) = match (obj.get(yes), obj.get(no)) {
        (Some(_), Some(_)) => return Err(err(path, Problem::Both(yes, no))),
        (None, None) => return Err(err(path, Problem::Neither(yes, no))),
        (Some(v), None) => (yes, v, true),
        (None, Some(v)) => (no, v, false),
    };
    let element = format!("{path}.{name}");
    let patterns = match v {
        Value::String(s) => vec![compile(s, element)?],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => compile(s, format!("{element}[{i}]")),
                _ => Err(err(format!("{element}[{i}]"), Problem::NotString)),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(err(element, Problem::NotStringOrList)),
    };
    Ok(if positive {
        Match::Any(patterns)
    } else {
        Match::None(patterns)
    })
}

/// `*`, or `service:Name` where the service is lowercase letters, digits and `-` and the name
/// letters, digits, `*` and `?` (IAM's action grammar).
fn valid_action(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some((service, name)) = s.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
}

/// `*`, or an ARN: `arn:partition:service:region:account:resource` — six colon-separated
/// parts, the last of which may itself contain colons, with a non-empty service.
fn valid_resource(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && !parts[1].is_empty() && !parts[2].is_empty()
}
