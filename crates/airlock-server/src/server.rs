//! Start and stop a whole Airlock core: store, broker, endpoints, metrics.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_broker::{Broker, RestoreSummary};
use airlock_store::{RedbStore, Store, StoreOptions};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::bootstrap::{self, BootstrapError, DataDir};
use crate::config::{Authentication, Config};
use crate::listener::{Endpoint, accept_loop};
use crate::{metrics_http, tls};

/// Errors starting the server; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Data directory problem.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// Store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] airlock_store::StoreError),
    /// TLS configuration problem.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A listener could not bind.
    #[error(
        "endpoint {id:?} cannot listen on {addr}: {source} (is another broker running there? change [[endpoint]] bind)"
    )]
    Bind {
        /// Endpoint id.
        id: String,
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing endpoints.json failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// One listener as bound, as written to `endpoints.json`.
#[derive(Debug, Clone, Serialize)]
pub struct BoundEndpoint {
    /// Endpoint id.
    pub id: String,
    /// `mqtt` or `http`.
    pub protocol: &'static str,
    /// TLS on.
    pub tls: bool,
    /// `certificate` or `none`.
    pub authentication: &'static str,
    /// Bound address.
    pub address: String,
    /// Bound port.
    pub port: u16,
}

/// A running server.
pub struct RunningServer {
    /// The broker.
    pub broker: Broker,
    /// What was restored from the store.
    pub restored: RestoreSummary,
    /// Every listener with its real address.
    pub endpoints: Vec<BoundEndpoint>,
    /// Whether this start created the data directory's CA.
    pub created: bool,
    /// Data directory paths.
    pub data: DataDir,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    grace: Duration,
}

impl RunningServer {
    /// Graceful shutdown: stop accepting, DISCONNECT 0x8B to v5 clients, flush the store.
    pub async fn shutdown(self) -> Result<(), airlock_store::StoreError> {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
        self.broker.shutdown(self.grace).await
    }
}

/// Prepare the data directory, open the store, restore state and start every endpoint.
pub async fn start(cfg: Config, data_root: &Path) -> Result<RunningServer, ServerError> {
    let data = DataDir::new(data_root, cfg.pki.ca_key.as_deref());
    let material = bootstrap::prepare(&data, &cfg.server_names, cfg.key_algorithm.algorithm())?;
    let store_path = data.root.join(&cfg.store.path);
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(
        &store_path,
        StoreOptions {
            fsync: cfg.store.fsync,
            max_batch_ops: cfg.store.max_batch_ops,
            ..StoreOptions::default()
        },
    )?);
    let handle = metrics_http::install();
    let (broker, restored) = Broker::new(cfg.mqtt.clone(), store)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let global = Arc::new(Semaphore::new(cfg.limits.max_connections));
    let mut endpoints = Vec::new();
    let mut tasks = Vec::new();
    let mutual = tls::server_config(&material, true)?;
    let server_only = tls::server_config(&material, false)?;
    for e in &cfg.endpoints {
        let listener = tokio::net::TcpListener::bind(e.bind)
            .await
            .map_err(|source| ServerError::Bind {
                id: e.id.clone(),
                addr: e.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            id: e.id.clone(),
            addr: e.bind,
            source,
        })?;
        let require = e.authentication == Authentication::Certificate;
        if !require {
            tracing::warn!(
                endpoint = %e.id,
                %addr,
                "ENDPOINT WITHOUT AUTHENTICATION: any client that can reach {addr} may connect anonymously. Use only for labs and conformance tests."
            );
        }
        if !addr.ip().is_loopback() && addr.ip().is_unspecified() {
            tracing::warn!(endpoint = %e.id, %addr, "endpoint listens on every interface");
        }
        let tls = e.tls.then(|| {
            TlsAcceptor::from(if require {
                mutual.clone()
            } else {
                server_only.clone()
            })
        });
        endpoints.push(BoundEndpoint {
            id: e.id.clone(),
            protocol: "mqtt",
            tls: e.tls,
            authentication: if require { "certificate" } else { "none" },
            address: addr.ip().to_string(),
            port: addr.port(),
        });
        let ep = Endpoint {
            id: Arc::from(e.id.as_str()),
            listener,
            tls,
            require_client_cert: require,
            endpoint_limit: Arc::new(Semaphore::new(e.max_connections)),
            global_limit: global.clone(),
            handshake_timeout: Duration::from_secs(cfg.limits.tls_handshake_timeout_secs.max(1)),
            broker: broker.clone(),
        };
        tasks.push(tokio::spawn(accept_loop(ep, shutdown_rx.clone())));
    }
    if cfg.metrics.enabled {
        let listener = metrics_http::bind(cfg.metrics.bind)
            .await
            .map_err(|source| ServerError::Bind {
                id: "metrics".into(),
                addr: cfg.metrics.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            id: "metrics".into(),
            addr: cfg.metrics.bind,
            source,
        })?;
        endpoints.push(BoundEndpoint {
            id: "metrics".into(),
            protocol: "http",
            tls: false,
            authentication: "none",
            address: addr.ip().to_string(),
            port: addr.port(),
        });
        if let Some(handle) = handle {
            tasks.push(tokio::spawn(metrics_http::serve(listener, handle)));
        }
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({ "endpoints": endpoints }))
        .unwrap_or_default();
    airlock_pki::files::write_public(&data.endpoints(), json.as_bytes()).map_err(|source| {
        ServerError::Write {
            path: data.endpoints().display().to_string(),
            source,
        }
    })?;
    Ok(RunningServer {
        broker,
        restored,
        endpoints,
        created: material.created,
        data,
        shutdown,
        tasks,
        grace: Duration::from_secs(cfg.limits.shutdown_grace_secs),
    })
}
