//! The network side: hickory-server's UDP/TCP listeners in front of [`Zones`].

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};
use tracing::{debug, info, warn};

use crate::config::DnsConfig;
use crate::error::DnsError;
use crate::zone::{Resolution, Zones};

/// A TCP connection that sends no query for this long is closed, so idle or slow clients
/// cannot hold connections open (RFC 7766 §6.2.3 suggests seconds, not minutes).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses queued per TCP connection before the connection applies back-pressure.
const TCP_RESPONSE_BUFFER: usize = 32;

/// With port 0, UDP and TCP must end up on the same port; another program can hold the TCP
/// side of the port the kernel picked for UDP, so try a few ports before giving up.
const EPHEMERAL_PORT_ATTEMPTS: usize = 8;

/// Starts the authoritative responder. A namespace for [`DnsServer::start`].
#[derive(Debug)]
pub struct DnsServer;

impl DnsServer {
    /// Validates `config`, binds UDP and TCP on `config.bind` (the same port for both; with
    /// port 0 the system picks one, see [`RunningDns::local_addr`]) and serves the configured
    /// zones until [`RunningDns::shutdown`] is called or the [`RunningDns`] is dropped.
    ///
    /// It does not look at `config.enabled`: whether to start is the caller's decision.
    /// Must be called inside a tokio runtime.
    pub async fn start(config: &DnsConfig) -> Result<RunningDns, DnsError> {
        let zones = Zones::build(config, true)?;
        let (udp, tcp, local_addr) = bind_pair(config.bind).await?;
        let mut server = Server::new(Responder { zones });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        info!(%local_addr, zones = config.zones.len(), "DNS responder listening (UDP and TCP)");
        Ok(RunningDns { server, local_addr })
    }
}

async fn bind_pair(bind: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), DnsError> {
    let udp_err = |source| DnsError::Bind {
        protocol: "UDP",
        addr: bind,
        source,
    };
    let tcp_err = |addr, source| DnsError::Bind {
        protocol: "TCP",
        addr,
        source,
    };
    let attempts = if bind.port() == 0 {
        EPHEMERAL_PORT_ATTEMPTS
    } else {
        1
    };
    let mut last_err = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(bind).await.map_err(udp_err)?;
        let local = udp.local_addr().map_err(udp_err)?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp, local)),
            Err(e) if bind.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_err = Some(tcp_err(local, e));
            }
            Err(e) => return Err(tcp_err(local, e)),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        tcp_err(
            bind,
            io::Error::new(io::ErrorKind::AddrInUse, "no free port pair"),
        )
    }))
}

/// A running responder. Dropping it stops the listeners too (abruptly); prefer
/// [`RunningDns::shutdown`].
pub struct RunningDns {
    server: Server<Responder>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for RunningDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDns")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl RunningDns {
    /// The address served, UDP and TCP alike, with the real port when `bind` asked for 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting queries and waits for the listener tasks to end.
    pub async fn shutdown(mut self) -> Result<(), DnsError> {
        self.server
            .shutdown_gracefully()
            .await
            .map_err(|e| DnsError::Stopped(e.to_string()))
    }
}

/// Answers queries from [`Zones`]; everything that is not a plain class-IN query is refused or
/// rejected with the RCODE a resolver expects.
struct Responder {
    zones: Zones,
}

#[async_trait::async_trait]
impl RequestHandler for Responder {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        // RFC 6891 §6.1.1: a query with OPT gets OPT back; we speak EDNS version 0 only.
        let mut response_edns = None;
        if let Some(req_edns) = request.edns.as_ref() {
            let mut edns = Edns::new();
            edns.set_max_payload(req_edns.max_payload().max(512));
            edns.set_version(0);
            if req_edns.version() > 0 {
                edns.set_rcode_high(ResponseCode::BADVERS.high());
                return send(
                    request,
                    Some(&edns),
                    rcode(request, ResponseCode::BADVERS),
                    &[],
                    &[],
                    response_handle,
                )
                .await;
            }
            response_edns = Some(edns);
        }
        let edns = response_edns.as_ref();

        if request.metadata.op_code != OpCode::Query {
            debug!(op_code = ?request.metadata.op_code, src = %request.src(), "DNS request is not a query; answering NOTIMP");
            return send(
                request,
                edns,
                rcode(request, ResponseCode::NotImp),
                &[],
                &[],
                response_handle,
            )
            .await;
        }
        let Ok(info) = request.request_info() else {
            // Zero or several questions: RFC 9619 makes exactly one the rule.
            return send(
                request,
                edns,
                rcode(request, ResponseCode::FormErr),
                &[],
                &[],
                response_handle,
            )
            .await;
        };
        let query = info.query;
        let (name, qtype) = (query.name(), query.query_type());
        if query.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            debug!(%name, %qtype, class = %query.query_class(), src = %request.src(),
                "DNS query refused: only class IN and no zone transfers");
            return send(
                request,
                edns,
                rcode(request, ResponseCode::Refused),
                &[],
                &[],
                response_handle,
            )
            .await;
        }

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        match self.zones.resolve(name, qtype) {
            Resolution::Answer(answers) => {
                send(request, edns, metadata, &answers, &[], response_handle).await
            }
            Resolution::NoData(soa) => {
                send(request, edns, metadata, &[], &[soa], response_handle).await
            }
            Resolution::NxDomain(soa) => {
                metadata.response_code = ResponseCode::NXDomain;
                send(request, edns, metadata, &[], &[soa], response_handle).await
            }
            Resolution::Refused => {
                debug!(%name, %qtype, src = %request.src(),
                    "DNS query refused: name is in no configured zone and this responder does not recurse");
                send(
                    request,
                    edns,
                    rcode(request, ResponseCode::Refused),
                    &[],
                    &[],
                    response_handle,
                )
                .await
            }
        }
    }
}

/// Response metadata for a non-authoritative error answer.
fn rcode(request: &Request, code: ResponseCode) -> Metadata {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = code;
    metadata
}

async fn send<R: ResponseHandler>(
    request: &Request,
    edns: Option<&Edns>,
    metadata: Metadata,
    answers: &[Record],
    authority: &[Record],
    mut response_handle: R,
) -> ResponseInfo {
    let response = MessageResponseBuilder::new(&request.queries, edns).build(
        metadata,
        answers.iter(),
        authority.iter(),
        std::iter::empty(),
        std::iter::empty(),
    );
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            warn!(%error, src = %request.src(), "failed to send DNS response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_server::proto::op::Header {
                metadata,
                counts: Default::default(),
            })
        }
    }
}
