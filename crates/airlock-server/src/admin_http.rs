//! Serving the admin API (an axum router from `airlock-admin`) over mutual TLS: one task
//! per connection, so a slow handshake holds up only itself.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::tls;

/// Most admin connections served at once; the CLI opens one per command.
const MAX_CONNECTIONS: usize = 64;

/// Accept admin connections until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: axum::Router,
    handshake_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "admin API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "admin API: too many connections; refused");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    let reason = tls::refusal(&e)
                        .map(ToString::to_string)
                        .unwrap_or_else(|| e.to_string());
                    tracing::info!(%peer, %reason, "admin API: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "admin API: TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(e) = conn {
                tracing::debug!(%peer, error = %e, "admin API connection ended with an error");
            }
        });
    }
}
