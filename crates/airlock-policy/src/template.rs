//! Strings from a policy (`Resource` entries, condition values) compiled once at parse time:
//! literal runs, IAM wildcards and `${...}` policy variables.

use std::borrow::Cow;

use crate::context::RequestContext;
use crate::error::Problem;
use crate::glob::{Tok, Toks, match_toks};
use crate::key::Key;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text: no character in it is a wildcard, including `*`/`?` written as
    /// `${*}`/`${?}`.
    Lit(Box<str>),
    Star,
    One,
    /// The `n`th variable of the template.
    Var(usize),
}

/// A compiled policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
    vars: Vec<Key>,
}

/// Values of a template's variables for one request. Most templates have zero or one
/// variable; those bind without allocating.
#[derive(Debug)]
pub(crate) enum Bindings<'a> {
    None,
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl Bindings<'_> {
    fn get(&self, i: usize) -> &str {
        match self {
            Bindings::None => "",
            Bindings::One(v) => {
                if i == 0 {
                    v
                } else {
                    ""
                }
            }
            Bindings::Many(vs) => vs.get(i).map_or("", |v| v),
        }
    }
}

struct Bound<'t, 'v> {
    pieces: &'t [Piece],
    vals: &'v Bindings<'v>,
}

impl Toks for Bound<'_, '_> {
    fn len(&self) -> usize {
        self.pieces.len()
    }
    fn tok(&self, i: usize) -> Tok<'_> {
        match &self.pieces[i] {
            Piece::Lit(s) => Tok::Lit(s),
            Piece::Star => Tok::Star,
            Piece::One => Tok::One,
            // A substituted value is literal text: a `*`, `?`, `+` or `#` a client id or a
            // thing name brings in never acts as a wildcard. Indexes come from `parse`, which
            // numbers variables densely, and `bind` returns one value per variable.
            Piece::Var(k) => Tok::Lit(self.vals.get(*k)),
        }
    }
}

/// Whether policy variables may appear (the document's `Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vars {
    Allowed,
    /// `Version` 2008-10-17: refuse `${` rather than treat it literally.
    Refused,
}

impl Template {
    /// Compile `s`. With `wildcards`, `*` and `?` are IAM wildcards; without (StringEquals),
    /// they are literal.
    pub(crate) fn parse(s: &str, wildcards: bool, vars: Vars) -> Result<Template, Problem> {
        let mut pieces = Vec::new();
        let mut keys = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(lit).into_boxed_str()));
            }
        };
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("${") {
                let Some(end) = rest.find('}') else {
                    return Err(Problem::UnterminatedVariable);
                };
                let inner = &rest[2..end];
                rest = &rest[end + 1..];
                if vars == Vars::Refused {
                    return Err(Problem::VariableNeedsVersion(inner.to_string()));
                }
                match inner {
                    // IAM's fixed-value variables for characters with special meaning.
                    "*" | "?" | "$" => lit.push_str(inner),
                    _ => {
                        let key = Key::parse(inner)
                            .ok_or_else(|| Problem::UnknownVariable(inner.to_string()))?;
                        if key.is_multi() {
                            return Err(Problem::MultiValuedVariable(inner.to_string()));
                        }
                        flush(&mut lit, &mut pieces);
                        pieces.push(Piece::Var(keys.len()));
                        keys.push(key);
                    }
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if wildcards => {
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::Star);
                }
                '?' if wildcards => {
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::One);
                }
                _ => lit.push(c),
            }
        }
        flush(&mut lit, &mut pieces);
        Ok(Template { pieces, vars: keys })
    }

    /// Is this exactly `*` (matches everything, whatever the request)?
    pub(crate) fn is_star(&self) -> bool {
        self.pieces == [Piece::Star]
    }

    /// Substitute the variables for one request; `None` if any does not resolve.
    pub(crate) fn bind<'a>(&self, ctx: &'a RequestContext) -> Option<Bindings<'a>> {
        match self.vars.as_slice() {
            [] => Some(Bindings::None),
            [one] => one.substitute(ctx).map(Bindings::One),
            many => many
                .iter()
                .map(|k| k.substitute(ctx))
                .collect::<Option<Vec<_>>>()
                .map(Bindings::Many),
        }
    }

    /// Wildcard match of `text` against the template under `vals` (from [`Template::bind`]).
    pub(crate) fn glob(&self, vals: &Bindings<'_>, text: &str) -> bool {
        match_toks(
            &Bound {
                pieces: &self.pieces,
                vals,
            },
            text,
        )
    }

    /// The substituted text (wildcards rendered as `*`/`?`); used by exact comparisons.
    pub(crate) fn render(&self, vals: &Bindings<'_>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Star => out.push('*'),
                Piece::One => out.push('?'),
                Piece::Var(k) => out.push_str(vals.get(*k)),
            }
        }
        out
    }

    /// Exact, case-sensitive comparison of `text` with the substituted template, without
    /// building the substituted string.
    pub(crate) fn equals(&self, vals: &Bindings<'_>, text: &str) -> bool {
        let mut rest = text;
        for p in &self.pieces {
            let part: &str = match p {
                Piece::Lit(s) => s,
                Piece::Star => "*",
                Piece::One => "?",
                Piece::Var(k) => vals.get(*k),
            };
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(client: &str) -> RequestContext {
        RequestContext {
            client_id: Some(client.to_string()),
            ..RequestContext::default()
        }
    }

    #[test]
    fn variables_are_literal() {
        let t = Template::parse("topic/${iot:ClientId}/*", true, Vars::Allowed).unwrap();
        let c = ctx("a*");
        let v = t.bind(&c).unwrap();
        assert!(t.glob(&v, "topic/a*/x"));
        assert!(
            !t.glob(&v, "topic/abc/x"),
            "a * from the client id is literal"
        );
    }

    #[test]
    fn escapes() {
        let t = Template::parse("a${*}b${?}${$}", true, Vars::Allowed).unwrap();
        let c = RequestContext::default();
        let v = t.bind(&c).unwrap();
        assert!(t.glob(&v, "a*b?$"));
        assert!(!t.glob(&v, "axb?$"));
        assert!(!t.glob(&v, "a*bx$"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            Template::parse("a${iot:ClientId", true, Vars::Allowed),
            Err(Problem::UnterminatedVariable)
        );
        assert_eq!(
            Template::parse("${iot:Nope}", true, Vars::Allowed),
            Err(Problem::UnknownVariable("iot:Nope".into()))
        );
        assert_eq!(
            Template::parse("${iot:ConnectAttributes}", true, Vars::Allowed),
            Err(Problem::MultiValuedVariable("iot:ConnectAttributes".into()))
        );
        assert!(matches!(
            Template::parse("${iot:ClientId}", true, Vars::Refused),
            Err(Problem::VariableNeedsVersion(_))
        ));
    }

    #[test]
    fn unresolved_is_none() {
        let t = Template::parse("${iot:Connection.Thing.ThingName}", true, Vars::Allowed).unwrap();
        assert!(t.bind(&RequestContext::default()).is_none());
    }
}
