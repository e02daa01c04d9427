//! Who is on the other end of a connection, as established by the transport.

use std::net::SocketAddr;
use std::sync::Arc;

/// How the transport authenticated the peer.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A client certificate that the TLS layer verified against a trusted CA.
    Certificate {
        /// Certificate id: lowercase hex SHA-256 of the leaf DER (AWS IoT's form).
        certificate_id: String,
        /// The verified chain as presented, leaf first, DER.
        chain: Arc<Vec<Vec<u8>>>,
    },
    /// A listener configured with `authentication = "none"`.
    Anonymous,
}

impl Principal {
    /// The identifier used in lifecycle events (`principalIdentifier`).
    pub fn identifier(&self) -> &str {
        match self {
            Principal::Certificate { certificate_id, .. } => certificate_id,
            Principal::Anonymous => "anonymous",
        }
    }
}

/// What the broker knows about a connection besides its bytes.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    /// Id of the endpoint (listener) the connection came in on, e.g. `vpce-plant-a`.
    pub endpoint_id: Arc<str>,
    /// Peer address as seen by the listener.
    pub peer: SocketAddr,
    /// The authenticated principal.
    pub principal: Principal,
}
