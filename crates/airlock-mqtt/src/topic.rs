//! Topic names, topic filters and matching (MQTT 3.1.1 section 4.7, MQTT 5.0 section 4.7 and 4.8.2).
//!
//! All functions are pure and work on `&str`, which is already known to be valid UTF-8.
//! Levels are separated by `/`; empty levels are real levels (`a//b` has three levels).

/// Longest topic name or filter that fits an MQTT UTF-8 string.
const MAX_LEN: usize = u16::MAX as usize;

/// Prefix of a shared subscription filter (MQTT 5.0 section 4.8.2).
const SHARE_PREFIX: &str = "$share/";

/// Whether `t` is a valid topic name, as carried in PUBLISH and in a will:
/// non-empty, at most 65535 bytes, no wildcard (`+`, `#`) and no U+0000.
pub fn valid_topic_name(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_LEN && !t.bytes().any(|b| b == b'+' || b == b'#' || b == 0)
}

/// Whether `f` is a valid topic filter, as carried in SUBSCRIBE and UNSUBSCRIBE.
///
/// A filter is non-empty, at most 65535 bytes and has no U+0000; `#` may only be a whole
/// last level and `+` only a whole level. A shared filter `$share/{group}/{filter}` needs a
/// non-empty group without `+`, `#` or `/`, followed by a valid non-empty filter.
pub fn valid_topic_filter(f: &str) -> bool {
    if f.len() > MAX_LEN {
        return false;
    }
    match f.strip_prefix(SHARE_PREFIX) {
        Some(rest) => match rest.split_once('/') {
            Some((group, filter)) => {
                !group.is_empty()
                    && !group.bytes().any(|b| b == b'+' || b == b'#' || b == 0)
                    && valid_plain_filter(filter)
            }
            None => false,
        },
        None => valid_plain_filter(f),
    }
}

/// A non-shared filter: wildcards only as whole levels, `#` only last.
fn valid_plain_filter(f: &str) -> bool {
    if f.is_empty() || f.contains('\0') {
        return false;
    }
    let mut levels = f.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return false;
        }
        if level.contains('+') && level != "+" {
            return false;
        }
    }
    true
}

/// Whether the (non-shared, valid) topic filter `filter` matches the topic name `topic`.
///
/// `+` matches exactly one level (possibly empty), `#` matches the current level and all
/// below it, including the parent itself (`sport/#` matches `sport`). A topic starting with
/// `$` is not matched by a filter whose first level is `+` or `#`. Call [`split_shared`]
/// first on `$share/...` filters and match against the inner filter.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) => {
                if a != b {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Split a shared subscription filter: `"$share/g/a/b"` gives `Some(("g", "a/b"))`.
/// Returns `None` for a filter that is not shared. Assumes `filter` is valid.
pub fn split_shared(filter: &str) -> Option<(&str, &str)> {
    filter.strip_prefix(SHARE_PREFIX)?.split_once('/')
}

/// Number of `/`-separated levels in a topic name or filter (`"a//b"` has 3, `""` has 1).
pub fn level_count(topic: &str) -> usize {
    topic.split('/').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        let long_ok = "a".repeat(65535);
        let too_long = "a".repeat(65536);
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("a/b/c", true),
            ("/", true),
            ("a//b", true),
            ("$SYS/broker", true),
            ("sport/tennis player1", true),
            ("", false),
            ("a/+", false),
            ("a/#", false),
            ("+", false),
            ("a+b", false),
            ("a\0b", false),
            (&long_ok, true),
            (&too_long, false),
        ];
        for (t, want) in cases {
            assert_eq!(valid_topic_name(t), *want, "{t:?}");
        }
    }

    #[test]
    fn topic_filters() {
        let too_long = "a".repeat(65536);
        let cases: &[(&str, bool)] = &[
            ("#", true),
            ("+", true),
            ("a/#", true),
            ("a/+/b", true),
            ("+/+", true),
            ("/+", true),
            ("a//b", true),
            ("$SYS/#", true),
            ("a/b#", false),
            ("a/#/b", false),
            ("#/", false),
            ("a+", false),
            ("a/b+/c", false),
            ("", false),
            ("a\0", false),
            (&too_long, false),
            ("$share/g/a/b", true),
            ("$share/g/#", true),
            ("$share/g/+/x", true),
            ("$share/g//", true),
            ("$share/g/", false),
            ("$share/g", false),
            ("$share//a", false),
            ("$share/g+/a", false),
            ("$share/g#/a", false),
            ("$share/g/a#", false),
            ("$share", true),
            ("$sharex/a", true),
        ];
        for (f, want) in cases {
            assert_eq!(valid_topic_filter(f), *want, "{f:?}");
        }
    }

    #[test]
    fn matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("#", "a/b/c", true),
            ("#", "/", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
            ("a/b", "a//b", false),
            ("#", "$SYS/broker", false),
            ("+/broker", "$SYS/broker", false),
            ("$SYS/#", "$SYS/broker", true),
            ("$SYS/+", "$SYS/broker", true),
            ("a/#", "$a/b", false),
            ("+/#", "a", true),
            ("A", "a", false),
        ];
        for (f, t, want) in cases {
            assert_eq!(matches(f, t), *want, "{f:?} vs {t:?}");
        }
    }

    #[test]
    fn shared() {
        assert_eq!(split_shared("$share/g/a/b"), Some(("g", "a/b")));
        assert_eq!(split_shared("$share/g/#"), Some(("g", "#")));
        assert_eq!(split_shared("a/b"), None);
        assert_eq!(split_shared("$SYS/a"), None);
        assert_eq!(split_shared("$sharex/g/a"), None);
    }

    #[test]
    fn levels() {
        let cases: &[(&str, usize)] = &[
            ("a", 1),
            ("a/b", 2),
            ("a//b", 3),
            ("/", 2),
            ("", 1),
            ("/a/", 3),
        ];
        for (t, want) in cases {
            assert_eq!(level_count(t), *want, "{t:?}");
        }
    }
}
