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
    /// The client's address: the TCP peer, or the source a trusted PROXY protocol header
    /// carried (the load balancer's client).
    pub peer: SocketAddr,
    /// The authenticated principal.
    pub principal: Principal,
    /// The VPC endpoint id a trusted PROXY protocol v2 header carried (AWS's TLV 0xEA); when
    /// present it is `aws:SourceVpce` instead of [`ConnectionContext::endpoint_id`].
    pub source_vpce: Option<Arc<str>>,
    /// The server name (SNI) the client sent in its TLS handshake, as it sent it; it chose
    /// the domain configuration's certificate and is `iot:DomainName` for policies.
    pub server_name: Option<Arc<str>>,
}

impl ConnectionContext {
    /// `aws:SourceVpce` for this connection: the VPC endpoint id from a PROXY header, or the
    /// id of the Airlock endpoint it came in on.
    pub fn source_vpce(&self) -> &str {
        self.source_vpce.as_deref().unwrap_or(&self.endpoint_id)
    }
}
