//! The request as plain data: what the HTTP layer hands the verifier.

/// An HTTP request reduced to what SigV4 signs. Build it from whatever HTTP types the server
/// uses; this crate never sees them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    /// The method, e.g. `GET` (compared and signed exactly as given).
    pub method: String,
    /// The path of the request target as sent on the wire (still percent-encoded), without
    /// the query string, e.g. `/bucket/my%20key`.
    pub path: String,
    /// The raw query string as sent, without the leading `?` (empty when there is none).
    pub query: String,
    /// Every header, in the order received; names in any case, repeated names allowed. Under
    /// HTTP/2 pass the `:authority` pseudo-header as `host`.
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// A request for `method` and `target` (`/path?query`), with no headers.
    pub fn new(method: &str, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of header `name` if it occurs exactly once; `Err(())` when it is repeated.
    pub(crate) fn single_header(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut it = self.header_values(name);
        let first = it.next();
        if it.next().is_some() {
            Err(())
        } else {
            Ok(first)
        }
    }

    /// Replaces every header `name` with one carrying `value`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}
