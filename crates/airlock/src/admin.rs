//! Client of Airlock's admin API (docs/admin-api.md): finds the endpoint in
//! `DATA/endpoints.json`, speaks HTTPS with the admin client certificate, and turns AWS-style
//! error answers into [`AdminError::Api`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airlock_server::bootstrap::DataDir;
use serde::Deserialize;
use serde_json::Value;
use ureq::http;

#[cfg(test)]
mod tests;

/// Why a call to the admin API did not produce an answer to work with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing to talk to: no `endpoints.json`, no admin entry in it, or the connection was
    /// refused (the file outlives the server).
    #[error(
        "Airlock is not running for data directory {data} (tried {tried}: {detail}); start it with: airlock up --data {data}",
        data = data.display()
    )]
    NotRunning {
        /// The data directory.
        data: PathBuf,
        /// What was tried: the endpoints file or the admin address.
        tried: String,
        /// Why that did not work.
        detail: String,
    },
    /// A local file the client needs (admin certificate, key, root CA) is unusable.
    #[error("{path}: {detail}")]
    LocalFile {
        /// The file.
        path: String,
        /// What is wrong, with the next step.
        detail: String,
    },
    /// The server answered with an AWS error.
    #[error("{message} ({error_type})")]
    Api {
        /// HTTP status.
        status: u16,
        /// `x-amzn-ErrorType`, e.g. `ResourceNotFoundException` (or `HTTP 404` without one).
        error_type: String,
        /// The server's message.
        message: String,
    },
    /// The server answered something that is not the JSON the contract promises.
    #[error(
        "the admin API answered {method} {path} with status {status} and a body that is not JSON: {snippet}"
    )]
    BadResponse {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        snippet: String,
    },
    /// The exchange failed after connecting (TLS, timeout, broken connection).
    #[error("{method} {url} failed: {detail}")]
    Transport {
        /// Request method.
        method: String,
        /// Full URL.
        url: String,
        /// Cause, with a hint where one is known.
        detail: String,
    },
}

impl AdminError {
    /// The AWS error type, if this is an API error.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            AdminError::Api { error_type, .. } => Some(error_type),
            _ => None,
        }
    }
}

/// Whether `err` (anywhere in its chain) is the AWS error `error_type`.
pub fn is_api_error(err: &anyhow::Error, error_type: &str) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<AdminError>())
        .any(|e| e.error_type() == Some(error_type))
}

/// One listener as `airlock up` records it in `DATA/endpoints.json`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct EndpointEntry {
    /// Endpoint id (`admin` for the admin API).
    pub id: String,
    /// `mqtt`, `http` or `https`.
    #[serde(default)]
    pub protocol: String,
    /// TLS on.
    #[serde(default)]
    pub tls: bool,
    /// `certificate` or `none`.
    #[serde(default)]
    pub authentication: String,
    /// Bound address (may be a wildcard such as `0.0.0.0`).
    pub address: String,
    /// Bound port.
    pub port: u16,
}

impl EndpointEntry {
    /// The host to dial for this listener from this machine: a wildcard bind address is
    /// reached over loopback, which the server certificate always names.
    pub fn dial_host(&self) -> String {
        match self.address.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            _ => self.address.clone(),
        }
    }

    /// Whether this is an MQTT listener that requires a device certificate.
    pub fn is_device_mqtt(&self) -> bool {
        self.protocol == "mqtt" && self.tls && self.authentication == "certificate"
    }
}

#[derive(Deserialize)]
struct EndpointsFile {
    endpoints: Vec<EndpointEntry>,
}

/// Read `DATA/endpoints.json`.
pub fn read_endpoints(data: &Path) -> Result<Vec<EndpointEntry>, AdminError> {
    let path = DataDir::new(data, None).endpoints();
    let text = std::fs::read_to_string(&path).map_err(|e| AdminError::NotRunning {
        data: data.to_path_buf(),
        tried: path.display().to_string(),
        detail: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file: Airlock has not run with this data directory (or --data points elsewhere)".to_string()
        } else {
            e.to_string()
        },
    })?;
    let file: EndpointsFile = serde_json::from_str(&text).map_err(|e| AdminError::LocalFile {
        path: path.display().to_string(),
        detail: format!(
            "not the endpoints file 'airlock up' writes ({e}); restart the server to rewrite it"
        ),
    })?;
    Ok(file.endpoints)
}

/// `host` as it goes into a URL authority (IPv6 in brackets).
fn url_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]"),
        _ => host.to_string(),
    }
}

/// Percent-encode one path segment or query value (everything but RFC 3986 unreserved).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// HTTP methods the admin API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One admin API request: method, path (segments already encoded with [`encode`]), query,
/// optional JSON body and optional `x-amzn-principal` header.
#[derive(Debug, Clone)]
pub struct Call {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    principal: Option<String>,
}

impl Call {
    /// A request without body.
    pub fn new(method: Method, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            principal: None,
        }
    }
    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Call {
        Call::new(Method::Get, path)
    }
    /// Add a query parameter.
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Call {
        self.query.push((key.to_string(), value.into()));
        self
    }
    /// Add a query parameter when `value` is `Some`.
    pub fn query_opt(self, key: &str, value: Option<impl Into<String>>) -> Call {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }
    /// Set the JSON body.
    pub fn body(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }
    /// Set the `x-amzn-principal` header (certificate ARN or id).
    pub fn principal(mut self, principal: impl Into<String>) -> Call {
        self.principal = Some(principal.into());
        self
    }

    /// Path and query as sent.
    pub fn path_and_query(&self) -> String {
        let mut s = self.path.clone();
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&encode(k));
            s.push('=');
            s.push_str(&encode(v));
        }
        s
    }
}

/// A successful answer: the parsed JSON and the body as received (for `--json`).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Parsed body (`{}` for an empty body).
    pub body: Value,
    /// Body text as received.
    pub raw: String,
}

impl Reply {
    /// A string field of the answer, or an error naming the operation when it is missing
    /// (a server that breaks the contract must not make the CLI panic).
    pub fn str(&self, key: &str) -> anyhow::Result<&str> {
        self.body
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("the admin API's answer lacks the field \"{key}\""))
    }
}

/// Turn a status, `x-amzn-ErrorType` header and body into a result. Pure, so the mapping is
/// testable without a server.
pub fn interpret(
    method: Method,
    path: &str,
    status: u16,
    error_type: Option<&str>,
    body: String,
) -> Result<Reply, AdminError> {
    let parsed: Option<Value> = if body.trim().is_empty() {
        Some(Value::Object(Default::default()))
    } else {
        serde_json::from_str(&body).ok()
    };
    if (200..300).contains(&status) {
        return match parsed {
            Some(v) => Ok(Reply {
                body: v,
                raw: if body.trim().is_empty() {
                    "{}".to_string()
                } else {
                    body.trim().to_string()
                },
            }),
            None => Err(AdminError::BadResponse {
                method: method.as_str().to_string(),
                path: path.to_string(),
                status,
                snippet: snippet(&body),
            }),
        };
    }
    // AWS sends the type as `Name` or, from some services, `Name:http://...`; keep the name.
    let error_type = error_type
        .map(|t| t.split(':').next().unwrap_or(t).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if body.trim().is_empty() {
                format!(
                    "{} {path} was refused without explanation (is the server older than this CLI?)",
                    method.as_str()
                )
            } else {
                format!("{} {path}: {}", method.as_str(), snippet(&body))
            }
        });
    Err(AdminError::Api {
        status,
        error_type,
        message,
    })
}

fn snippet(body: &str) -> String {
    let t = body.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

/// A connection to one Airlock's admin API.
pub struct Admin {
    agent: ureq::Agent,
    base: String,
    data: PathBuf,
    endpoints: Vec<EndpointEntry>,
    root_ca_pem: String,
}

impl Admin {
    /// Find the admin endpoint of the Airlock using `data` and prepare the mutual-TLS
    /// client. Nothing is sent yet.
    pub fn connect(data: &Path) -> Result<Admin, AdminError> {
        let endpoints = read_endpoints(data)?;
        let dir = DataDir::new(data, None);
        let admin = endpoints
            .iter()
            .find(|e| e.id == "admin")
            .ok_or_else(|| AdminError::NotRunning {
                data: data.to_path_buf(),
                tried: dir.endpoints().display().to_string(),
                detail: "it lists no endpoint with id \"admin\" (the running server has no admin API, or the file is from an older version)".to_string(),
            })?;
        let base = format!("https://{}:{}", url_host(&admin.dial_host()), admin.port);
        let root_ca_pem = read_local(&dir.ca_cert())?;
        let tls = tls_config(&dir, &root_ca_pem)?;
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            // The admin API is local or on a private network; an HTTPS_PROXY meant for the
            // internet must not capture it.
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("airlock-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Admin {
            agent: config.new_agent(),
            base,
            data: data.to_path_buf(),
            endpoints,
            root_ca_pem,
        })
    }

    /// Every listener from `endpoints.json`.
    pub fn endpoints(&self) -> &[EndpointEntry] {
        &self.endpoints
    }

    /// The root CA the server certificate chains to (`DATA/pki/root-ca.pem`), which is also
    /// what devices verify the broker with.
    pub fn root_ca_pem(&self) -> &str {
        &self.root_ca_pem
    }

    /// Send one request.
    pub fn call(&self, call: &Call) -> Result<Reply, AdminError> {
        let pq = call.path_and_query();
        let url = format!("{}{}", self.base, pq);
        let transport = |detail: String| AdminError::Transport {
            method: call.method.as_str().to_string(),
            url: url.clone(),
            detail,
        };
        let mut builder = http::Request::builder()
            .method(call.method.as_str())
            .uri(&url)
            .header("accept", "application/json");
        if let Some(p) = &call.principal {
            builder = builder.header("x-amzn-principal", p.as_str());
        }
        let result = match &call.body {
            Some(body) => {
                let bytes = serde_json::to_vec(body).map_err(|e| transport(e.to_string()))?;
                let req = builder
                    .header("content-type", "application/json")
                    .body(bytes)
                    .map_err(|e| transport(e.to_string()))?;
                self.agent.run(req)
            }
            None => {
                let req = builder.body(()).map_err(|e| transport(e.to_string()))?;
                self.agent.run(req)
            }
        };
        let mut response = result.map_err(|e| self.transport_error(call, &url, e))?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        interpret(call.method, &call.path, status, error_type.as_deref(), body)
    }

    fn transport_error(&self, call: &Call, url: &str, e: ureq::Error) -> AdminError {
        let refused = match &e {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::Io(io) => matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ),
            _ => false,
        };
        if refused {
            return AdminError::NotRunning {
                data: self.data.clone(),
                tried: self.base.clone(),
                detail: match &e {
                    ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                        "connection refused; endpoints.json stays behind after the server stops"
                            .to_string()
                    }
                    other => other.to_string(),
                },
            };
        }
        let hint = match &e {
            ureq::Error::Rustls(_) | ureq::Error::Tls(_) => format!(
                "; the server or the admin certificate does not belong to data directory {} (both are checked against its pki/root-ca.pem)",
                self.data.display()
            ),
            ureq::Error::Timeout(_) => "; the server did not answer in time".to_string(),
            _ => String::new(),
        };
        AdminError::Transport {
            method: call.method.as_str().to_string(),
            url: url.to_string(),
            detail: format!("{e}{hint}"),
        }
    }
}

fn read_local(path: &Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|e| AdminError::LocalFile {
        path: path.display().to_string(),
        detail: format!("{e}; 'airlock up' writes it on first start"),
    })
}

fn tls_config(dir: &DataDir, root_ca_pem: &str) -> Result<ureq::tls::TlsConfig, AdminError> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
    let bad = |path: &Path, what: String| AdminError::LocalFile {
        path: path.display().to_string(),
        detail: what,
    };
    let certs_of = |pem: &str, path: &Path| -> Result<Vec<Certificate<'static>>, AdminError> {
        let mut out = Vec::new();
        for item in ureq::tls::parse_pem(pem.as_bytes()) {
            match item {
                Ok(PemItem::Certificate(c)) => out.push(c),
                Ok(_) => {}
                Err(e) => return Err(bad(path, format!("not valid PEM: {e}"))),
            }
        }
        if out.is_empty() {
            return Err(bad(path, "holds no certificate".to_string()));
        }
        Ok(out)
    };
    let roots = certs_of(root_ca_pem, &dir.ca_cert())?;
    let chain = certs_of(&read_local(&dir.admin_cert())?, &dir.admin_cert())?;
    let key_pem = read_local(&dir.admin_key())?;
    let key = PrivateKey::from_pem(key_pem.as_bytes())
        .map_err(|e| bad(&dir.admin_key(), format!("not a usable private key: {e}")))?;
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
        // The workspace's rustls with ring; the Cargo.lock pins the rustls ureq was built
        // against, so this "unversioned" hand-over cannot drift silently.
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build())
}
