//! IAM-style wildcard matching: `*` matches any run of characters (including `/` and the
//! empty run), `?` matches exactly one character, everything else — MQTT's `+` and `#`
//! included — matches only itself.
//!
//! Hand-written rather than built on a regex crate: the grammar has two metacharacters, a
//! pattern is matched against one short string, and a greedy two-pointer walk with one
//! backtrack point runs in O(pattern × text) worst case with no compilation step and no
//! allocation. A regex would also have to escape every literal (`+`, `.`, `$`) correctly,
//! which is exactly the class of bug a policy engine cannot afford.

/// One unit of a compiled pattern, viewed at match time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// Characters that must appear literally (no wildcard meaning, whatever they contain).
    Lit(&'a str),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Source of tokens for [`match_toks`]; lets a compiled pattern with substituted policy
/// variables be matched without building a new token vector per request.
pub(crate) trait Toks {
    /// Number of tokens.
    fn len(&self) -> usize;
    /// Token `i` (`i < len()`).
    fn tok(&self, i: usize) -> Tok<'_>;
}

impl Toks for [Tok<'_>] {
    fn len(&self) -> usize {
        <[Tok<'_>]>::len(self)
    }
    fn tok(&self, i: usize) -> Tok<'_> {
        self[i]
    }
}

/// Width in bytes of the UTF-8 character that starts with `b`.
fn char_width(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Does `text` match the token sequence as a whole?
pub(crate) fn match_toks<T: Toks + ?Sized>(toks: &T, text: &str) -> bool {
    let bytes = text.as_bytes();
    let n = toks.len();
    let (mut ti, mut si) = (0usize, 0usize);
    // Last `*` seen: token index after it and the text position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if ti < n {
            match toks.tok(ti) {
                Tok::Star => {
                    star = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Tok::One => {
                    if si < bytes.len() {
                        si += char_width(bytes[si]);
                        ti += 1;
                        continue;
                    }
                }
                Tok::Lit(lit) => {
                    // A literal has no choice points, so it is compared whole. Byte comparison
                    // is sound: `si` always sits on a character boundary (backtracking
                    // advances by whole characters) and equal UTF-8 prefixes end on equal
                    // boundaries.
                    if bytes[si..].starts_with(lit.as_bytes()) {
                        si += lit.len();
                        ti += 1;
                        continue;
                    }
                }
            }
        } else if si == bytes.len() {
            return true;
        }
        // Mismatch: let the last `*` absorb one more character and retry from after it.
        match star {
            Some((after, absorbed)) if absorbed < bytes.len() => {
                let next = absorbed + char_width(bytes[absorbed]);
                star = Some((after, next));
                ti = after;
                si = next;
            }
            _ => return false,
        }
    }
}

/// Split a plain wildcard pattern (no policy variables) into tokens.
pub(crate) fn tokenize(pattern: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in pattern.char_indices() {
        if c == '*' || c == '?' {
            if start < i {
                out.push(Tok::Lit(&pattern[start..i]));
            }
            out.push(if c == '*' { Tok::Star } else { Tok::One });
            start = i + 1;
        }
    }
    if start < pattern.len() {
        out.push(Tok::Lit(&pattern[start..]));
    }
    out
}

/// Does `text` match the IAM wildcard `pattern` (`*` any run, `?` one character; `+` and `#`
/// are ordinary characters)? The same matcher the engine uses for `Resource` and `StringLike`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    match_toks(tokenize(pattern).as_slice(), text)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn basics() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("*", "a/b/c"));
        assert!(m("a/*", "a/b/c"));
        assert!(!m("a/*", "b/a"));
        assert!(m("a/*/c", "a/x/y/c"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a?c", "aéc"));
        assert!(m("*é", "xxé"));
        assert!(m("a/#", "a/#"));
        assert!(!m("a/#", "a/b"));
        assert!(!m("a/+", "a/b"));
        assert!(m("**a**", "bab"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("a*", "a"));
        assert!(!m("a*b", "a"));
    }
}
