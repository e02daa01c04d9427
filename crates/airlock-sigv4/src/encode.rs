//! URI encoding as SigV4 defines it, and the canonical URI and query string built with it.

use std::fmt::Write as _;

/// How the canonical URI is formed from the path the request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriEncoding {
    /// Amazon S3: the path is percent-decoded and encoded exactly once, and it is not
    /// normalised (`//`, `.` and `..` are part of an object key). This is what every S3 client
    /// signs.
    #[default]
    S3,
    /// Every other AWS service: the path as sent (already encoded once by the client) is
    /// normalised (RFC 3986 dot segments removed, repeated slashes collapsed) and encoded
    /// again, so `%20` becomes `%2520`. The published SigV4 test suite uses this form.
    Double,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Percent-encodes `bytes` with SigV4's rules: `A-Z a-z 0-9 - _ . ~` stay, `/` stays unless
/// `encode_slash`, every other byte becomes `%XX` with upper-case hex.
pub fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if is_unreserved(b) || (b == b'/' && !encode_slash) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-decodes `s`. A `%` not followed by two hex digits is kept literally, as is `+`:
/// SigV4 signs RFC 3986 encoding, where `+` is not a space.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex_val(*c)),
                b.get(i + 2).and_then(|c| hex_val(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The canonical URI of `path` (the part of the request target before `?`).
pub fn canonical_uri(path: &str, encoding: UriEncoding) -> String {
    match encoding {
        UriEncoding::S3 => {
            if path.is_empty() {
                return "/".to_owned();
            }
            uri_encode(&percent_decode(path), false)
        }
        UriEncoding::Double => uri_encode(normalize_path(path).as_bytes(), false),
    }
}

/// Removes dot segments and empty segments; keeps a trailing slash. Always starts with `/`.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if segments.is_empty() || trailing {
        out.push('/');
    }
    out
}

/// One query parameter, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParam {
    /// Decoded name.
    pub name: Vec<u8>,
    /// Decoded value (empty when the parameter had no `=`).
    pub value: Vec<u8>,
}

/// Splits a raw query string (without `?`) into decoded parameters, in order. Empty pieces
/// (`a=1&&b=2`) are dropped.
pub fn parse_query(query: &str) -> Vec<QueryParam> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            QueryParam {
                name: percent_decode(n),
                value: percent_decode(v),
            }
        })
        .collect()
}

/// The canonical query string: every parameter (except those `skip` names) encoded with
/// [`uri_encode`], sorted by encoded name then encoded value, joined with `&`.
pub fn canonical_query(params: &[QueryParam], skip: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|p| !skip.iter().any(|s| p.name == s.as_bytes()))
        .map(|p| (uri_encode(&p.name, true), uri_encode(&p.value, true)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_encodes_once_and_keeps_dots_and_slashes() {
        assert_eq!(
            canonical_uri("/test%24file.text", UriEncoding::S3),
            "/test%24file.text"
        );
        assert_eq!(
            canonical_uri("/test$file.text", UriEncoding::S3),
            "/test%24file.text"
        );
        assert_eq!(
            canonical_uri("/a//b/../c%20d", UriEncoding::S3),
            "/a//b/../c%20d"
        );
        assert_eq!(canonical_uri("", UriEncoding::S3), "/");
    }

    #[test]
    fn other_services_normalise_and_encode_twice() {
        assert_eq!(canonical_uri("/a%20b", UriEncoding::Double), "/a%2520b");
        assert_eq!(
            canonical_uri("//example//", UriEncoding::Double),
            "/example/"
        );
        assert_eq!(canonical_uri("/example/..", UriEncoding::Double), "/");
        assert_eq!(canonical_uri("/./example", UriEncoding::Double), "/example");
        assert_eq!(canonical_uri("", UriEncoding::Double), "/");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        let q = parse_query("b=2&a=x%2fy&a=%41&c&&d=a+b");
        assert_eq!(canonical_query(&q, &[]), "a=A&a=x%2Fy&b=2&c=&d=a%2Bb");
        assert_eq!(canonical_query(&q, &["a"]), "b=2&c=&d=a%2Bb");
    }

    #[test]
    fn bad_percent_sequences_stay_literal() {
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(uri_encode(&percent_decode("%zz"), true), "%25zz");
    }
}
