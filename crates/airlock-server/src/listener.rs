//! Endpoint accept loops: TCP accept, limits, TLS handshake, then the broker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airlock_broker::{Broker, ConnectionContext, Principal};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::Cidr;
use crate::mqtt_ws::{WsMode, WsSettings};
use crate::proxied::{self, Prefixed};
use crate::tls;

/// Everything one endpoint's accept loop needs.
pub struct Endpoint {
    pub id: Arc<str>,
    pub listener: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub require_client_cert: bool,
    pub endpoint_limit: Arc<Semaphore>,
    pub global_limit: Arc<Semaphore>,
    pub handshake_timeout: Duration,
    pub broker: Broker,
    /// With PROXY protocol on: the peers allowed to send it (and to connect at all).
    pub proxy_trusted: Option<Vec<Cidr>>,
    /// Source addresses allowed to connect; empty: any.
    pub allow_sources: Vec<Cidr>,
    /// When a WebSocket upgrade comes between TLS and MQTT.
    pub websocket: WsMode,
    /// For `protocol = "https"` endpoints: the HTTP router verified connections go to
    /// instead of the broker.
    pub https: Option<axum::Router>,
    /// For MQTT endpoints: the HTTP router for clients that negotiate ALPN `x-amzn-http-ca`.
    pub https_by_alpn: Option<axum::Router>,
}

pub async fn accept_loop(ep: Endpoint, mut shutdown: watch::Receiver<bool>) {
    let ep = Arc::new(ep);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            r = ep.listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Usually EMFILE: back off instead of spinning, the next accept may succeed.
                tracing::warn!(endpoint = %ep.id, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Without TCP_NODELAY a TLS 1.3 handshake plus CONNECT stalls ~40 ms on Nagle + delayed ACK.
        let _ = tcp.set_nodelay(true);
        let sock = socket2::SockRef::from(&tcp);
        let _ = sock
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)));
        if !ep.allow_sources.is_empty() && !ep.allow_sources.iter().any(|c| c.contains(peer.ip())) {
            tracing::info!(endpoint = %ep.id, %peer, "connection refused: source address not in this endpoint's allow_sources");
            metrics::counter!("airlock_connections_refused_total", "reason" => "source_not_allowed")
                .increment(1);
            continue;
        }
        let Ok(global) = ep.global_limit.clone().try_acquire_owned() else {
            tracing::warn!(endpoint = %ep.id, %peer, "connection refused: limits.max_connections reached");
            metrics::counter!("airlock_connections_refused_total", "reason" => "global_limit")
                .increment(1);
            continue;
        };
        let Ok(local) = ep.endpoint_limit.clone().try_acquire_owned() else {
            tracing::warn!(endpoint = %ep.id, %peer, "connection refused: this endpoint's max_connections reached");
            metrics::counter!("airlock_connections_refused_total", "reason" => "endpoint_limit")
                .increment(1);
            continue;
        };
        let ep = ep.clone();
        tokio::spawn(async move {
            let _permits = (global, local);
            serve(&ep, tcp, peer).await;
        });
    }
}

async fn serve(ep: &Endpoint, mut tcp: TcpStream, peer: SocketAddr) {
    let (tcp, peer, source_vpce) = match &ep.proxy_trusted {
        None => (Prefixed::new(Default::default(), tcp), peer, None),
        Some(trusted) => {
            if !trusted.iter().any(|c| c.contains(peer.ip())) {
                tracing::warn!(endpoint = %ep.id, %peer, "connection refused: this endpoint expects PROXY protocol, and {peer} is not in its proxy_trusted list");
                metrics::counter!("airlock_connections_refused_total", "reason" => "proxy_untrusted")
                    .increment(1);
                return;
            }
            match tokio::time::timeout(ep.handshake_timeout, proxied::read_header(&mut tcp)).await {
                Err(_) => {
                    tracing::info!(endpoint = %ep.id, %peer, "no complete PROXY header in time (limits.tls_handshake_timeout_secs)");
                    metrics::counter!("airlock_connections_refused_total", "reason" => "proxy_timeout")
                        .increment(1);
                    return;
                }
                Ok(Err(e)) => {
                    tracing::info!(endpoint = %ep.id, %peer, "bad PROXY header: {e}");
                    metrics::counter!("airlock_connections_refused_total", "reason" => "proxy_header")
                        .increment(1);
                    return;
                }
                Ok(Ok((client, rest))) => {
                    let source = client.source.unwrap_or(peer);
                    tracing::debug!(endpoint = %ep.id, proxy = %peer, client = %source, vpce = client.vpce_id.as_deref().unwrap_or(""), "PROXY header");
                    (
                        Prefixed::new(rest, tcp),
                        source,
                        client.vpce_id.map(Arc::from),
                    )
                }
            }
        }
    };
    let Some(acceptor) = &ep.tls else {
        let ctx = ConnectionContext {
            endpoint_id: ep.id.clone(),
            peer,
            principal: Principal::Anonymous,
            source_vpce,
            server_name: None,
        };
        hand_over(ep, ep.websocket.applies(None), tcp, ctx).await;
        return;
    };
    let stream = match tokio::time::timeout(ep.handshake_timeout, acceptor.accept(tcp)).await {
        Err(_) => {
            tracing::info!(endpoint = %ep.id, %peer, "TLS handshake timed out (limits.tls_handshake_timeout_secs)");
            metrics::counter!("airlock_tls_handshake_failures_total", "reason" => "timeout")
                .increment(1);
            return;
        }
        Ok(Err(e)) => {
            let reason = tls::failure_reason(&e);
            match tls::refusal(&e) {
                Some(refused) => {
                    tracing::info!(endpoint = %ep.id, %peer, reason, "TLS handshake refused: {refused}")
                }
                None => {
                    tracing::info!(endpoint = %ep.id, %peer, reason, error = %e, "TLS handshake failed")
                }
            }
            metrics::counter!("airlock_tls_handshake_failures_total", "reason" => reason)
                .increment(1);
            return;
        }
        Ok(Ok(s)) => s,
    };
    let principal = match stream.get_ref().1.peer_certificates() {
        Some(chain) if ep.require_client_cert && !chain.is_empty() => {
            let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.as_ref().to_vec()).collect();
            Principal::Certificate {
                certificate_id: airlock_pki::certificate_id(&chain[0]),
                chain: Arc::new(chain),
            }
        }
        _ => Principal::Anonymous,
    };
    // The SNI the client sent: iot:DomainName for its policies.
    let server_name = stream.get_ref().1.server_name().map(Arc::from);
    let ctx = ConnectionContext {
        endpoint_id: ep.id.clone(),
        peer,
        principal,
        source_vpce,
        server_name,
    };
    if let Some(app) = &ep.https {
        crate::credentials::serve(app, stream, ctx).await;
        return;
    }
    if let Some(app) = &ep.https_by_alpn
        && stream.get_ref().1.alpn_protocol() == Some(tls::X_AMZN_HTTP_CA)
    {
        crate::credentials::serve(app, stream, ctx).await;
        return;
    }
    let websocket = ep.websocket.applies(stream.get_ref().1.alpn_protocol());
    hand_over(ep, websocket, stream, ctx).await;
}

/// The authenticated stream to the broker, through a WebSocket upgrade if `websocket`.
async fn hand_over<S>(
    ep: &Endpoint,
    websocket: Option<WsSettings>,
    stream: S,
    ctx: ConnectionContext,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    match websocket {
        None => ep.broker.serve(stream, ctx).await,
        Some(ws) => crate::mqtt_ws::serve(ws, &ep.broker, stream, ctx, ep.handshake_timeout).await,
    }
}
