//! Start and stop a whole Airlock core: store, broker, endpoints, metrics.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_broker::{Broker, Message, RestoreSummary};
use airlock_identity::PolicyAuthorizer;
use airlock_policy::{Engine, PolicyLimits};
use airlock_registry::{CertificateStatus, Event, RegistryStore};
use airlock_store::{RedbStore, Store, StoreOptions};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::bootstrap::{self, BootstrapError, DataDir};
use crate::client_auth::{AutoRegistration, ClientVerifier};
use crate::config::{Authentication, Config, EndpointProtocol};
use crate::listener::{Endpoint, accept_loop};
use crate::mqtt_ws::{self, WsMode, WsSettings};
use crate::{admin_http, credentials, metrics_http, tls};

/// Errors starting the server; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Data directory problem.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// Store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] airlock_store::StoreError),
    /// The artifact store could not open its directory.
    #[error("cannot open the artifact store: {0}")]
    Artifacts(airlock_artifacts::StoreError),
    /// The DNS responder could not start.
    #[error("cannot start the DNS responder: {0}")]
    Dns(airlock_dns::DnsError),
    /// The registry could not be opened.
    #[error("cannot open the registry: {0}")]
    Registry(#[from] airlock_registry::StoreError),
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
    /// `mqtt`, `mqtt-ws`, `https` or `http`.
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
    /// The registry (things, certificates, policies).
    pub registry: Arc<RegistryStore>,
    dns: Option<airlock_dns::RunningDns>,
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
        if let Some(dns) = self.dns {
            let _ = dns.shutdown().await;
        }
        self.broker.shutdown(self.grace).await
    }
}

/// Prepare the data directory, open the store and the registry, restore state and start
/// every endpoint and the admin API.
pub async fn start(cfg: Config, data_root: &Path) -> Result<RunningServer, ServerError> {
    let data = DataDir::new(data_root, cfg.pki.ca_key.as_deref());
    let material = bootstrap::prepare(&data, &cfg.server_names, cfg.key_algorithm.algorithm())?;
    // Created on first start like the CA, so every credential consumer shares one key.
    let credential_minter = Arc::new(bootstrap::credential_minter(&data)?);
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

    let registry = Arc::new(RegistryStore::open(data.registry())?);
    let limits = PolicyLimits {
        max_chars: cfg.identity.policy_max_chars,
    };
    registry.set_policy_validator(airlock_identity::policy_validator(limits));
    let identity = airlock_identity::IdentityConfig {
        aws_compatible_client_ids: cfg.identity.aws_compatible_client_ids,
        anonymous_policies: cfg
            .endpoints
            .iter()
            .filter_map(|e| Some((e.id.clone(), e.anonymous_policy.clone()?)))
            .collect(),
        cache_max_entries: cfg.identity.decision_cache_entries,
        policy_limits: limits,
    };
    let engine = Engine::new(&cfg.identity.region, &cfg.identity.account_id);
    let authorizer = Arc::new(PolicyAuthorizer::new(registry.clone(), engine, identity));
    let (broker, restored) = Broker::with_authorizer(cfg.mqtt.clone(), store, authorizer.clone())?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let global = Arc::new(Semaphore::new(cfg.limits.max_connections));
    let handshake_timeout = Duration::from_secs(cfg.limits.tls_handshake_timeout_secs.max(1));
    let mut endpoints = Vec::new();
    let mut tasks = Vec::new();
    let provider = tls::provider();
    let ca_subject = airlock_pki::inspect_ca(&material.ca_cert_pem)
        .map_err(|source| BootstrapError::Pki {
            what: "the root CA in the data directory is unusable".into(),
            source,
        })?
        .subject;
    let devices = Arc::new(ClientVerifier::devices(
        registry.clone(),
        ca_subject,
        &provider,
        auto_registration_events(broker.clone(), cfg.identity.account_id.clone()),
    ));
    let domains = crate::domains::start(&data, &material, cfg.key_algorithm.algorithm())?;
    tasks.push(tokio::spawn(crate::domains::watch(
        domains.clone(),
        shutdown_rx.clone(),
    )));
    // Every device-facing TLS configuration chooses its server certificate by SNI.
    let tls_config = |client_auth: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
                      alpn: &[&[u8]]| {
        tls::server_config_resolving(domains.resolver(), client_auth, alpn)
    };
    let mutual = tls_config(Some(devices.clone()), &mqtt_ws::MQTT_ENDPOINT_ALPN)?;
    let server_only = tls_config(None, &mqtt_ws::MQTT_ENDPOINT_ALPN)?;
    let ws_mutual = tls_config(Some(devices.clone()), &mqtt_ws::ALPN)?;
    let ws_server_only = tls_config(None, &mqtt_ws::ALPN)?;
    // AWS's HTTPS data plane: the credential provider's and HTTPS publish's routes. Served on
    // `https` endpoints (same device trust, HTTP's ALPN names), and on certificate-checking
    // MQTT endpoints to clients that negotiate ALPN `x-amzn-http-ca` (AWS's HTTPS on 443).
    let data_plane = credentials::router(credentials::CredentialProvider {
        registry: registry.clone(),
        authorizer: authorizer.clone(),
        minter: credential_minter.clone(),
    })
    .merge(crate::https_publish::router(
        crate::https_publish::PublishState {
            broker: broker.clone(),
            authorizer: authorizer.clone(),
        },
    ));
    let https_app = cfg
        .endpoints
        .iter()
        .any(|e| e.protocol == EndpointProtocol::Https)
        .then(|| -> Result<_, ServerError> {
            let tls = tls_config(Some(devices.clone()), &tls::HTTPS_ALPN)?;
            Ok((tls, data_plane.clone()))
        })
        .transpose()?;
    // `artifacts` endpoints: TLS without client certificates (SigV4 authenticates), the S3 API.
    let artifacts_app = if cfg
        .endpoints
        .iter()
        .any(|e| e.protocol == EndpointProtocol::Artifacts)
    {
        let mut config = airlock_artifacts::ArtifactConfig::new(data.root.join("artifacts"));
        config.region = cfg.artifacts.region.clone();
        config.max_object_size = cfg.artifacts.max_object_size;
        let service = airlock_artifacts::ArtifactService::open(
            config,
            credential_minter.clone(),
            Arc::new(crate::artifacts::RegistrySessions {
                registry: registry.clone(),
                admin_certificate_id: airlock_pki::pem_to_der_chain(&material.admin_cert_pem)
                    .ok()
                    .and_then(|c| c.into_iter().next())
                    .map(|der| airlock_pki::certificate_id(&der))
                    .unwrap_or_default(),
            }),
        )
        .await
        .map_err(ServerError::Artifacts)?;
        let sweeper = service.clone();
        tasks.push(tokio::spawn(async move {
            // Multipart uploads abandoned for a week are removed, hourly.
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Err(e) = sweeper
                    .sweep_abandoned_uploads(Duration::from_secs(7 * 24 * 3600))
                    .await
                {
                    tracing::warn!(error = %e, "artifact store: sweeping abandoned uploads failed");
                }
            }
        }));
        let tls = tls_config(None, &tls::HTTPS_ALPN)?;
        Some((tls, axum::Router::new().fallback_service(service)))
    } else {
        None
    };
    for e in &cfg.endpoints {
        let (listener, addr) = bind(&e.id, e.bind).await?;
        let artifacts = e.protocol == EndpointProtocol::Artifacts;
        let require = e.authentication == Authentication::Certificate && !artifacts;
        if !require && !artifacts {
            tracing::warn!(
                endpoint = %e.id,
                %addr,
                policy = e.anonymous_policy.as_deref().unwrap_or("(none: every client refused)"),
                "ENDPOINT WITHOUT AUTHENTICATION: any client that can reach {addr} may connect anonymously, with the rights of the endpoint's anonymous_policy. Use only for labs and conformance tests."
            );
        }
        if !addr.ip().is_loopback() && addr.ip().is_unspecified() {
            tracing::warn!(endpoint = %e.id, %addr, "endpoint listens on every interface");
        }
        let ws = WsSettings {
            max_message_size: cfg.mqtt.max_packet_size,
        };
        let ws_only = e.protocol == EndpointProtocol::MqttWs;
        let websocket = if ws_only {
            WsMode::Always(ws)
        } else {
            WsMode::OnAlpnHttp11(ws)
        };
        let https = match (e.protocol, &https_app, &artifacts_app) {
            (EndpointProtocol::Https, Some((tls, app)), _)
            | (EndpointProtocol::Artifacts, _, Some((tls, app))) => {
                Some((tls.clone(), app.clone()))
            }
            _ => None,
        };
        let tls = e.tls.then(|| {
            TlsAcceptor::from(match (&https, require, ws_only) {
                (Some((tls, _)), _, _) => tls.clone(),
                (None, true, false) => mutual.clone(),
                (None, false, false) => server_only.clone(),
                (None, true, true) => ws_mutual.clone(),
                (None, false, true) => ws_server_only.clone(),
            })
        });
        endpoints.push(BoundEndpoint {
            id: e.id.clone(),
            protocol: if artifacts {
                "artifacts"
            } else if https.is_some() {
                "https"
            } else if ws_only {
                "mqtt-ws"
            } else {
                "mqtt"
            },
            tls: e.tls,
            authentication: if artifacts {
                "sigv4"
            } else if require {
                "certificate"
            } else {
                "none"
            },
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
            handshake_timeout,
            broker: broker.clone(),
            proxy_trusted: e.proxy_protocol.then(|| e.proxy_trusted.clone()),
            allow_sources: e.allow_sources.clone(),
            websocket,
            https_by_alpn: (require && e.protocol == EndpointProtocol::Mqtt && https.is_none())
                .then(|| data_plane.clone()),
            https: https.map(|(_, app)| app),
        };
        tasks.push(tokio::spawn(accept_loop(ep, shutdown_rx.clone())));
    }
    if cfg.admin.enabled {
        let (listener, addr) = bind("admin", cfg.admin.bind).await?;
        let admin_der = airlock_pki::pem_to_der_chain(&material.admin_cert_pem)
            .ok()
            .and_then(|c| c.into_iter().next())
            .ok_or_else(|| ServerError::Tls(tls::TlsError::Pem("admin certificate")))?;
        let verifier = Arc::new(ClientVerifier::admin(admin_der, &provider));
        let acceptor = TlsAcceptor::from(tls::server_config(
            &material,
            Some(verifier),
            &[b"http/1.1"],
        )?);
        endpoints.push(BoundEndpoint {
            id: "admin".into(),
            protocol: "https",
            tls: true,
            authentication: "admin-certificate",
            address: addr.ip().to_string(),
            port: addr.port(),
        });
        let mut app = admin_router(&broker, &registry, &authorizer, &data, &endpoints, &cfg)?;
        app.domains = Some(domains.clone());
        let app = airlock_admin::router(app);
        tasks.push(tokio::spawn(admin_http::serve(
            listener,
            acceptor,
            app,
            handshake_timeout,
            shutdown_rx.clone(),
        )));
    }
    let dns = if cfg.dns.enabled {
        let zones = cfg.dns_zones();
        let running = airlock_dns::DnsServer::start(&zones)
            .await
            .map_err(ServerError::Dns)?;
        let addr = running.local_addr();
        endpoints.push(BoundEndpoint {
            id: "dns".into(),
            protocol: "dns",
            tls: false,
            authentication: "none",
            address: addr.ip().to_string(),
            port: addr.port(),
        });
        Some(running)
    } else {
        None
    };
    if cfg.metrics.enabled {
        let (listener, addr) = bind("metrics", cfg.metrics.bind).await?;
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
        registry,
        dns,
        shutdown,
        tasks,
        grace: Duration::from_secs(cfg.limits.shutdown_grace_secs),
    })
}

async fn bind(
    id: &str,
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let err = |source| ServerError::Bind {
        id: id.to_string(),
        addr,
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// What the registry's changes do to live connections: a certificate leaving ACTIVE has its
/// clients disconnected at once (v5 DISCONNECT 0x87 Not authorized).
fn on_registry_event(broker: Broker) -> Arc<dyn Fn(&Event) + Send + Sync> {
    Arc::new(move |event| {
        if let Event::CertificateStatusChanged {
            certificate_id, to, ..
        } = event
            && *to != CertificateStatus::Active
        {
            let n = broker.disconnect_certificate(certificate_id, 0x87);
            tracing::info!(%certificate_id, status = to.as_str(), disconnected = n, "certificate left ACTIVE; its clients were disconnected");
        }
    })
}

/// AWS's JITR event on `$aws/events/certificates/registered/{caCertificateId}`.
fn auto_registration_events(
    broker: Broker,
    account_id: String,
) -> crate::client_auth::OnAutoRegistration {
    Arc::new(move |r: AutoRegistration| {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let body = serde_json::json!({
            "certificateId": r.certificate_id,
            "caCertificateId": r.ca_certificate_id,
            "timestamp": now_ms,
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": account_id,
            "certificateRegistrationTimestamp": r.registered_at.saturating_mul(1000),
        });
        let msg = Message::event(
            format!(
                "$aws/events/certificates/registered/{}",
                r.ca_certificate_id
            ),
            body.to_string(),
        );
        // The commit is awaited by nobody: the handshake that triggered this is failing anyway.
        drop(broker.publish(msg));
    })
}

/// The admin API's context over this server's registry, CA, authorizer and broker.
fn admin_router(
    broker: &Broker,
    registry: &Arc<RegistryStore>,
    authorizer: &Arc<PolicyAuthorizer>,
    data: &DataDir,
    endpoints: &[BoundEndpoint],
    cfg: &Config,
) -> Result<airlock_admin::AdminContext, ServerError> {
    let ca = bootstrap::load_ca(data)?;
    let info = airlock_admin::AirlockInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        region: cfg.identity.region.clone(),
        account_id: cfg.identity.account_id.clone(),
        endpoints: endpoints
            .iter()
            .filter(|e| e.id != "admin")
            .map(|e| airlock_admin::EndpointInfo {
                id: e.id.clone(),
                protocol: e.protocol.to_string(),
                address: e.address.clone(),
                port: e.port,
            })
            .collect(),
        root_ca_pem: ca.cert_pem().to_string(),
        domain_names: cfg
            .server_names
            .iter()
            .filter(|n| n.parse::<std::net::IpAddr>().is_err())
            .cloned()
            .collect(),
    };
    Ok(airlock_admin::AdminContext {
        registry: registry.clone(),
        ca: Arc::new(ca),
        authorizer: authorizer.clone(),
        on_event: on_registry_event(broker.clone()),
        info,
        domains: None,
    })
}
