//! Property tests for the wildcard matcher and for parsing arbitrary input.

use airlock_policy::glob::wildcard_match;
use airlock_policy::{PolicyDocument, PolicyLimits};
use proptest::prelude::*;

/// Text drawn from characters that matter here: wildcards, MQTT wildcards, separators,
/// letters and a multi-byte character.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!['a', 'b', '/', '+', '#', '$', 'é', '*', '?']),
        0..24,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn literal() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!['a', 'b', '/', '+', '#', '$', 'é']),
        0..24,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    /// A pattern with no `*`/`?` matches exactly itself.
    #[test]
    fn literal_matches_only_itself(p in literal(), t in literal()) {
        prop_assert!(wildcard_match(&p, &p));
        prop_assert_eq!(wildcard_match(&p, &t), p == t);
    }

    /// `*` matches anything.
    #[test]
    fn star_matches_everything(t in text()) {
        prop_assert!(wildcard_match("*", &t));
    }

    /// Replacing any one character with `?` still matches the original.
    #[test]
    fn question_mark_replaces_one_char(t in literal(), idx in any::<prop::sample::Index>()) {
        prop_assume!(!t.is_empty());
        let chars: Vec<char> = t.chars().collect();
        let i = idx.index(chars.len());
        let pattern: String = chars.iter().enumerate().map(|(j, c)| if j == i { '?' } else { *c }).collect();
        prop_assert!(wildcard_match(&pattern, &t));
        // ...and no string one character shorter or longer.
        let shorter: String = chars.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| *c).collect();
        prop_assert!(!wildcard_match(&pattern, &shorter));
        let longer = format!("{t}a");
        prop_assert!(!wildcard_match(&pattern, &longer));
    }

    /// Prefix + `*` matches every extension of the prefix, across `/`.
    #[test]
    fn prefix_star(p in literal(), rest in text()) {
        let pattern = format!("{p}*");
        let text = format!("{p}{rest}");
        prop_assert!(wildcard_match(&pattern, &text));
    }

    /// `+` and `#` in a pattern never act as MQTT wildcards: a pattern made of literals and
    /// `+`/`#` matches a text only if it is that exact text.
    #[test]
    fn mqtt_wildcards_are_literal(segs in proptest::collection::vec(prop::sample::select(vec!["a", "b", "+", "#"]), 1..6),
                                  repl in proptest::collection::vec(prop::sample::select(vec!["a", "b", "x"]), 1..6)) {
        let pattern = segs.join("/");
        // Replace each + / # level with a concrete level: MQTT would match, IAM must not.
        let text: String = segs.iter().zip(repl.iter().cycle())
            .map(|(s, r)| if *s == "+" || *s == "#" { *r } else { *s })
            .collect::<Vec<_>>().join("/");
        prop_assert_eq!(wildcard_match(&pattern, &text), pattern == text);
    }

    /// Parsing never panics on arbitrary text.
    #[test]
    fn parse_never_panics(s in "\\PC{0,300}") {
        let _ = PolicyDocument::parse(&s, &PolicyLimits::default());
    }

    /// Nor on JSON-shaped input built from the policy grammar's own words.
    #[test]
    fn parse_never_panics_on_policy_like(words in proptest::collection::vec(prop::sample::select(vec![
        "{", "}", "[", "]", ",", ":", "\"Version\"", "\"2012-10-17\"", "\"Statement\"", "\"Effect\"",
        "\"Allow\"", "\"Deny\"", "\"Action\"", "\"iot:*\"", "\"Resource\"", "\"*\"", "\"Condition\"",
        "\"StringLike\"", "\"iot:ClientId\"", "\"${iot:ClientId}\"", "\"${\"", "\"arn:aws:iot:a:b:topic/${*}\"",
        "\"ForAllValues:StringEquals\"", "\"IpAddress\"", "\"aws:SourceIp\"", "\"1.2.3.4/99\"", "true", "7", "null",
    ]), 0..60)) {
        let s = words.concat();
        let _ = PolicyDocument::parse(&s, &PolicyLimits::default());
    }
}
