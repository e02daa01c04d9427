//! Reading a PROXY protocol header off a fresh connection from a trusted load balancer, and
//! handing the bytes that came after it (usually the TLS ClientHello, often in the same
//! segment) to whoever reads the stream next.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use airlock_proxy_protocol::{Command, Parsed, ProxyHeader};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// A stream whose first bytes were already read (after a PROXY header) and are replayed first.
#[derive(Debug)]
pub struct Prefixed<S> {
    prefix: BytesMut,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner`, to be read after `prefix`.
    pub fn new(prefix: BytesMut, inner: S) -> Prefixed<S> {
        Prefixed { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What a PROXY header told us about the client.
#[derive(Debug, Clone, Default)]
pub struct ProxiedClient {
    /// The client's address; `None` for LOCAL (health checks) and v1 UNKNOWN.
    pub source: Option<std::net::SocketAddr>,
    /// AWS's VPC endpoint id (TLV 0xEA subtype 0x01), if the balancer added one.
    pub vpce_id: Option<String>,
}

/// Why no header could be read.
#[derive(Debug, thiserror::Error)]
pub enum ProxyReadError {
    /// The connection failed or closed first.
    #[error("connection closed or failed before a complete PROXY header: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid header.
    #[error(transparent)]
    Invalid(#[from] airlock_proxy_protocol::ProxyError),
}

/// Read one PROXY header (v1 or v2) from `stream`; return what it says and any bytes read
/// past it. The parser caps the header size, so a peer cannot make this buffer much.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(ProxiedClient, BytesMut), ProxyReadError> {
    let mut buf = BytesMut::with_capacity(512);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        match airlock_proxy_protocol::parse(&buf)? {
            Parsed::Incomplete { .. } => {}
            Parsed::Complete { header, consumed } => {
                let rest = buf.split_off(consumed);
                return Ok((client(&header), rest));
            }
        }
    }
}

fn client(h: &ProxyHeader) -> ProxiedClient {
    ProxiedClient {
        source: match h.command {
            Command::Proxy => h.source,
            Command::Local => None,
        },
        vpce_id: h.aws_vpce_id().map(str::to_string),
    }
}
