//! MQTT over WebSocket (`protocol = "mqtt-ws"`): after TLS (and so after the device's
//! certificate was verified against the registry), an HTTP/1.1 upgrade on `/mqtt` with
//! subprotocol `mqtt`, then binary frames carry the MQTT byte stream to the broker.
//!
//! MQTT 5 §6 / 3.1.1 §6: binary frames only; the frames are a byte stream, so a packet may span
//! frames and a frame may hold several packets. [`WsBytes`] gives the broker exactly that.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use airlock_broker::{Broker, ConnectionContext};
use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// ALPN of WebSocket endpoints: the upgrade is HTTP/1.1.
pub const ALPN: [&[u8]; 1] = [b"http/1.1"];

/// ALPN of MQTT endpoints: [`crate::tls::ALPN`], then `x-amzn-http-ca` (AWS's HTTPS data
/// plane on the same port), then `http/1.1` for WebSocket clients. rustls picks the first of
/// the server's protocols the client offers, so MQTT wins when a client offers several.
pub const MQTT_ENDPOINT_ALPN: [&[u8]; 4] = [
    crate::tls::ALPN[0],
    crate::tls::ALPN[1],
    crate::tls::X_AMZN_HTTP_CA,
    ALPN[0],
];

/// The only path MQTT is served on, as AWS IoT's `wss://…/mqtt`.
pub const PATH: &str = "/mqtt";

/// Subprotocols accepted, in order of preference: `mqtt` (MQTT 3.1.1 and 5) and `mqttv3.1`
/// (what old clients such as Paho's MQTT 3.1 mode send).
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Settings of a WebSocket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// Largest WebSocket frame and message accepted: the broker's `mqtt.max_packet_size`, so a
    /// client cannot make Airlock buffer more for one frame than for one packet.
    pub max_message_size: usize,
}

/// When an endpoint's connections speak WebSocket.
#[derive(Debug, Clone, Copy)]
pub enum WsMode {
    /// `protocol = "mqtt-ws"`: every connection upgrades.
    Always(WsSettings),
    /// `protocol = "mqtt"`: only a TLS client that negotiated ALPN `http/1.1`, as AWS IoT serves
    /// `wss://…/mqtt` on 443 beside MQTT.
    OnAlpnHttp11(WsSettings),
}

impl WsMode {
    /// The settings if a connection that negotiated `alpn` (`None`: no ALPN or no TLS) speaks
    /// WebSocket.
    pub fn applies(self, alpn: Option<&[u8]>) -> Option<WsSettings> {
        match self {
            WsMode::Always(s) => Some(s),
            WsMode::OnAlpnHttp11(s) => (alpn == Some(ALPN[0])).then_some(s),
        }
    }
}

/// Why an upgrade request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRefused {
    /// A path other than `/mqtt`.
    #[error("path is not /mqtt")]
    WrongPath,
    /// No `Sec-WebSocket-Protocol` header.
    #[error("no Sec-WebSocket-Protocol header; MQTT clients must offer subprotocol \"mqtt\"")]
    NoSubprotocol,
    /// Only subprotocols other than `mqtt`/`mqttv3.1`.
    #[error("no supported subprotocol offered (Airlock accepts \"mqtt\" and \"mqttv3.1\")")]
    UnsupportedSubprotocol,
}

impl UpgradeRefused {
    /// HTTP status of the refusal.
    pub fn status(self) -> StatusCode {
        match self {
            UpgradeRefused::WrongPath => StatusCode::NOT_FOUND,
            UpgradeRefused::NoSubprotocol | UpgradeRefused::UnsupportedSubprotocol => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            UpgradeRefused::WrongPath => "ws_path",
            UpgradeRefused::NoSubprotocol => "ws_no_subprotocol",
            UpgradeRefused::UnsupportedSubprotocol => "ws_subprotocol",
        }
    }
}

/// Decide an upgrade from the request path and every `Sec-WebSocket-Protocol` header value
/// (each a comma-separated list): the subprotocol to answer with.
pub fn choose<'a>(
    path: &str,
    offered: impl IntoIterator<Item = &'a str>,
) -> Result<&'static str, UpgradeRefused> {
    if path != PATH {
        return Err(UpgradeRefused::WrongPath);
    }
    let offered: Vec<&str> = offered
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if offered.is_empty() {
        return Err(UpgradeRefused::NoSubprotocol);
    }
    SUBPROTOCOLS
        .into_iter()
        .find(|s| offered.iter().any(|o| o.eq_ignore_ascii_case(s)))
        .ok_or(UpgradeRefused::UnsupportedSubprotocol)
}

/// Upgrade `stream` to a WebSocket on `/mqtt` and serve MQTT over it until it ends. A refused
/// upgrade is answered (404 or 400), logged and counted in
/// `airlock_connections_refused_total{reason="ws_…"}`.
pub async fn serve<S>(
    settings: WsSettings,
    broker: &Broker,
    stream: S,
    ctx: ConnectionContext,
    handshake_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(settings.max_message_size))
        .max_frame_size(Some(settings.max_message_size));
    let mut refused = None;
    // The callback's type is tungstenite's (`Callback`); its error is the HTTP response sent.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok());
        match choose(req.uri().path(), offered) {
            Ok(p) => {
                resp.headers_mut()
                    .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
                Ok(resp)
            }
            Err(why) => {
                refused = Some((why, req.uri().path().to_string()));
                let mut e = ErrorResponse::new(Some(format!("{why}\n")));
                *e.status_mut() = why.status();
                Err(e)
            }
        }
    };
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let ws = match tokio::time::timeout(handshake_timeout, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            let endpoint = &ctx.endpoint_id;
            let peer = ctx.peer;
            match refused {
                Some((why, path)) => {
                    tracing::info!(%endpoint, %peer, %path, status = why.status().as_u16(), "WebSocket upgrade refused: {why}");
                    metrics::counter!("airlock_connections_refused_total", "reason" => why.label())
                        .increment(1);
                }
                None => {
                    tracing::info!(%endpoint, %peer, error = %e, "WebSocket upgrade failed (not a valid HTTP/1.1 WebSocket request)");
                    metrics::counter!("airlock_connections_refused_total", "reason" => "ws_handshake")
                        .increment(1);
                }
            }
            return;
        }
        Err(_) => {
            tracing::info!(endpoint = %ctx.endpoint_id, peer = %ctx.peer, "WebSocket upgrade timed out (limits.tls_handshake_timeout_secs)");
            metrics::counter!("airlock_connections_refused_total", "reason" => "ws_timeout")
                .increment(1);
            return;
        }
    };
    broker.serve(WsBytes::new(ws), ctx).await;
}

/// A WebSocket as a byte stream: reads concatenate binary frames, each write is one binary
/// frame. Ping and pong are answered by tungstenite and skipped; a close frame is EOF; a text
/// frame is an error (MQTT §6: "MUST close the Network Connection"), which ends the connection.
pub struct WsBytes<S> {
    ws: WebSocketStream<S>,
    pending: Bytes,
    eof: bool,
}

impl<S> WsBytes<S> {
    /// Wrap an upgraded WebSocket.
    pub fn new(ws: WebSocketStream<S>) -> WsBytes<S> {
        WsBytes {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }
}

fn io_error(e: WsError) -> std::io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            std::io::Error::from(std::io::ErrorKind::BrokenPipe)
        }
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsBytes<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(b))) => self.pending = b,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "text WebSocket frame: MQTT over WebSocket uses binary frames only",
                    )));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => self.eof = true,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => self.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsBytes<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut self.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match ready!(Pin::new(&mut self.ws).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io_error(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_endpoints_upgrade_only_on_alpn_http11() {
        let s = WsSettings {
            max_message_size: 1024,
        };
        assert!(WsMode::Always(s).applies(None).is_some());
        assert!(WsMode::OnAlpnHttp11(s).applies(None).is_none());
        assert!(WsMode::OnAlpnHttp11(s).applies(Some(b"mqtt")).is_none());
        assert!(WsMode::OnAlpnHttp11(s).applies(Some(b"http/1.1")).is_some());
        assert_eq!(MQTT_ENDPOINT_ALPN.last(), Some(&&b"http/1.1"[..]));
    }

    #[test]
    fn config_names_the_protocol_mqtt_ws() {
        use crate::config::{Config, EndpointProtocol};
        let c = Config::parse("[[endpoint]]\nid = \"wss\"\nprotocol = \"mqtt-ws\"\n").unwrap();
        assert_eq!(c.endpoints[0].protocol, EndpointProtocol::MqttWs);
        assert!(Config::parse("[[endpoint]]\nprotocol = \"websocket\"\n").is_err());
    }

    #[test]
    fn chooses_mqtt_then_mqttv31() {
        assert_eq!(choose("/mqtt", ["mqtt"]), Ok("mqtt"));
        assert_eq!(choose("/mqtt", ["mqttv3.1"]), Ok("mqttv3.1"));
        assert_eq!(choose("/mqtt", ["mqttv3.1, mqtt"]), Ok("mqtt"));
        assert_eq!(choose("/mqtt", ["chat", "MQTT"]), Ok("mqtt"));
    }

    #[test]
    fn refuses_other_paths_and_subprotocols() {
        assert_eq!(choose("/", ["mqtt"]), Err(UpgradeRefused::WrongPath));
        assert_eq!(choose("/mqtt/x", ["mqtt"]), Err(UpgradeRefused::WrongPath));
        assert_eq!(
            choose("/mqtt", std::iter::empty()),
            Err(UpgradeRefused::NoSubprotocol)
        );
        assert_eq!(choose("/mqtt", [" , "]), Err(UpgradeRefused::NoSubprotocol));
        assert_eq!(
            choose("/mqtt", ["chat, wamp"]),
            Err(UpgradeRefused::UnsupportedSubprotocol)
        );
        assert_eq!(UpgradeRefused::WrongPath.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            UpgradeRefused::NoSubprotocol.status(),
            StatusCode::BAD_REQUEST
        );
    }
}
