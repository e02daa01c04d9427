//! A real admin API on 127.0.0.1:0 over a real registry, CA and authorizer, and a real HTTP
//! client to drive it. Each test target uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use airlock_admin::{AdminContext, AirlockInfo, EndpointInfo};
use airlock_identity::{IdentityConfig, PolicyAuthorizer};
use airlock_pki::{CertificateAuthority, KeyAlgorithm};
use airlock_policy::Engine;
use airlock_registry::{Event, RegistryStore};

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

/// One answer: status, `x-amzn-ErrorType` and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub error_type: Option<String>,
    pub body: Value,
}

impl Answer {
    /// Asserts a 200 and returns the body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        self.body
    }

    /// Asserts an AWS error with this status and exception; returns the message.
    #[track_caller]
    pub fn err(self, status: u16, exception: &str) -> String {
        assert_eq!(
            (self.status, self.error_type.as_deref()),
            (status, Some(exception)),
            "unexpected answer {self:?}"
        );
        self.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub struct Api {
    pub base: String,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub ca: Arc<CertificateAuthority>,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

impl Api {
    pub fn start() -> Api {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry =
            Arc::new(RegistryStore::open(dir.path().join("registry.redb")).expect("open registry"));
        let ca = Arc::new(
            CertificateAuthority::generate("Airlock Test CA", KeyAlgorithm::EcdsaP256).expect("CA"),
        );
        let authorizer = Arc::new(PolicyAuthorizer::new(
            registry.clone(),
            Engine::new(REGION, ACCOUNT),
            IdentityConfig::default(),
        ));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let ctx = AdminContext {
            registry,
            ca: ca.clone(),
            authorizer,
            on_event: Arc::new(move |e: &Event| sink.lock().expect("events").push(e.clone())),
            info: AirlockInfo {
                version: "0.1.0".into(),
                region: REGION.into(),
                account_id: ACCOUNT.into(),
                endpoints: vec![
                    EndpointInfo {
                        id: "admin".into(),
                        protocol: "admin".into(),
                        address: "127.0.0.1".into(),
                        port: 9443,
                    },
                    EndpointInfo {
                        id: "devices".into(),
                        protocol: "mqtt".into(),
                        address: "iot.example.test".into(),
                        port: 8883,
                    },
                ],
                root_ca_pem: ca.cert_pem().to_string(),
                domain_names: Vec::new(),
            },
            domains: None,
        };
        let router = airlock_admin::router(ctx);
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                axum::serve(listener, router).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("server address");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // hyper closes a connection whose request body a handler did not read (e.g. a
            // body sent to an operation that takes none); a fresh connection per request
            // keeps the client from racing that close.
            .max_idle_connections(0)
            .build()
            .into();
        Api {
            base: format!("http://{addr}"),
            events,
            ca,
            agent,
            _dir: dir,
        }
    }

    /// Sends one request; every error answer must carry `x-amzn-ErrorType` and a message.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        principal: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(p) = principal {
            req = req.header("x-amzn-principal", p);
        }
        let result = match body {
            Some(b) => self.agent.run(
                req.header("content-type", "application/json")
                    .body(b.to_string())
                    .expect("request"),
            ),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut res = result.expect("HTTP exchange");
        let status = res.status().as_u16();
        let error_type = res
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.body_mut().read_to_string().expect("body");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {text:?}"));
        if status >= 400 {
            assert!(
                error_type.is_some(),
                "{method} {path} -> {status} without x-amzn-ErrorType: {text}"
            );
            assert!(
                body["message"].is_string(),
                "{method} {path} -> {status} without message: {text}"
            );
        } else {
            assert!(
                error_type.is_none(),
                "{method} {path} -> {status} with an error type"
            );
        }
        Answer {
            status,
            error_type,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, None, Some(&body.to_string()))
    }

    pub fn put(&self, path: &str, body: &Value) -> Answer {
        self.call("PUT", path, None, Some(&body.to_string()))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Answer {
        self.call("PATCH", path, None, Some(&body.to_string()))
    }

    pub fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, None, None)
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("events").clone()
    }

    /// ARN of `kind/name` in the test region and account.
    pub fn arn(kind_and_name: &str) -> String {
        format!("arn:aws:iot:{REGION}:{ACCOUNT}:{kind_and_name}")
    }
}

/// `/` and `:` escaped, for an ARN in a path segment.
pub fn encode(s: &str) -> String {
    s.replace('%', "%25")
        .replace('/', "%2F")
        .replace(':', "%3A")
}
