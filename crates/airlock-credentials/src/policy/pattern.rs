//! Policy strings compiled once at parse time — literal runs, IAM wildcards (`*` any run,
//! `?` one character) and `${...}` policy variables — and the matcher that runs them.
//!
//! `airlock_policy::glob::wildcard_match` is public but takes a pattern *string*: a value
//! substituted for `${credentials-iot:ThingName}` would be re-read as pattern text, and a
//! `*` in it would act as a wildcard. Here a substituted value is always a literal token, and
//! action names need ASCII case-insensitive literals, so the same two-pointer walk is kept
//! over tokens instead.

use super::context::{Key, RequestContext};
use super::error::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Star,
    One,
    Var(Key),
}

/// One compiled policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pieces: Vec<Piece>,
}

/// How a string is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (Action, Resource, StringLike) rather than literal
    /// (StringEquals).
    pub wildcards: bool,
    /// `${...}` is a policy variable (Version 2012-10-17, not in Action).
    pub variables: bool,
}

impl Pattern {
    pub(crate) fn parse(s: &str, syntax: Syntax) -> Result<Pattern, Problem> {
        if !syntax.variables && s.contains("${") {
            return Err(Problem::VariableNeedsVersion(s.to_string()));
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if syntax.variables && rest.starts_with("${") {
                let Some(end) = rest.find('}') else {
                    return Err(Problem::UnterminatedVariable(s.to_string()));
                };
                let inner = &rest[2..end];
                rest = &rest[end + 1..];
                match inner {
                    // IAM's fixed-value variables for characters that otherwise have meaning.
                    "*" | "?" | "$" => lit.push_str(inner),
                    _ if inner.contains(',') => {
                        return Err(Problem::VariableDefault(inner.to_string()));
                    }
                    _ => {
                        // IAM allows any condition key of the service as a variable.
                        let key = Key::parse(inner.trim())
                            .ok_or_else(|| Problem::UnknownVariable(inner.to_string()))?;
                        if !lit.is_empty() {
                            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                        }
                        pieces.push(Piece::Var(key));
                    }
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' | '?' if syntax.wildcards => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(if c == '*' { Piece::Star } else { Piece::One });
                }
                _ => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Pattern { pieces })
    }

    /// The keys this pattern's policy variables name.
    pub(crate) fn variables(&self) -> impl Iterator<Item = Key> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(k) => Some(*k),
            _ => None,
        })
    }

    /// Does `text` match, with the variables taken from `ctx`? `None` when a variable does not
    /// resolve: IAM then treats the whole statement as not matching.
    pub(crate) fn matches(
        &self,
        text: &str,
        ctx: &RequestContext<'_>,
        ignore_ascii_case: bool,
    ) -> Option<bool> {
        let mut toks = Vec::with_capacity(self.pieces.len());
        for p in &self.pieces {
            toks.push(match p {
                Piece::Lit(s) => Tok::Lit(s),
                Piece::Star => Tok::Star,
                Piece::One => Tok::One,
                // A substituted value is literal text: a `*` or `?` in it never acts as a
                // wildcard.
                Piece::Var(k) => Tok::Lit(ctx.get(*k)?),
            });
        }
        Some(match_toks(&toks, text, ignore_ascii_case))
    }
}

#[derive(Debug, Clone, Copy)]
enum Tok<'a> {
    Lit(&'a str),
    Star,
    One,
}

/// Width in bytes of the character starting at byte `i` of `s` (`i` is a char boundary).
fn width_at(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(1, char::len_utf8)
}

/// Greedy two-pointer wildcard match with one backtrack point: O(pattern × text), no
/// allocation, no recursion (so no stack exhaustion on hostile patterns).
fn match_toks(toks: &[Tok<'_>], text: &str, ci: bool) -> bool {
    let bytes = text.as_bytes();
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = toks.get(ti) {
            match *tok {
                Tok::Star => {
                    star = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Tok::One if si < bytes.len() => {
                    si += width_at(text, si);
                    ti += 1;
                    continue;
                }
                Tok::One => {}
                Tok::Lit(lit) => {
                    // `si` is always on a char boundary, and a literal that matches ends on
                    // one (UTF-8 is self-synchronising; ASCII case folding keeps widths).
                    let end = si + lit.len();
                    let hit = bytes.get(si..end).is_some_and(|b| {
                        if ci {
                            b.eq_ignore_ascii_case(lit.as_bytes())
                        } else {
                            b == lit.as_bytes()
                        }
                    });
                    if hit {
                        si = end;
                        ti += 1;
                        continue;
                    }
                }
            }
        } else if si == bytes.len() {
            return true;
        }
        match star {
            Some((after, absorbed)) if absorbed < bytes.len() => {
                let next = absorbed + width_at(text, absorbed);
                star = Some((after, next));
                ti = after;
                si = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        let p = Pattern::parse(
            pattern,
            Syntax {
                wildcards: true,
                variables: true,
            },
        )
        .unwrap();
        p.matches(text, &RequestContext::default(), false).unwrap()
    }

    #[test]
    fn wildcards() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("a/*", "a/b/c"));
        assert!(!m("a/*", "b/a"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a?c", "aéc"));
        assert!(m("*é", "xxé"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("${*}", "*"));
        assert!(!m("${*}", "x"));
        assert!(m("a${?}", "a?"));
        assert!(m("${$}{x}", "${x}"));
    }

    #[test]
    fn refusals() {
        let s = Syntax {
            wildcards: true,
            variables: true,
        };
        assert!(matches!(
            Pattern::parse("a/${x", s),
            Err(Problem::UnterminatedVariable(_))
        ));
        assert!(matches!(
            Pattern::parse("${aws:username}", s),
            Err(Problem::UnknownVariable(_))
        ));
        assert!(matches!(
            Pattern::parse("${credentials-iot:ThingName, 'x'}", s),
            Err(Problem::VariableDefault(_))
        ));
    }
}
