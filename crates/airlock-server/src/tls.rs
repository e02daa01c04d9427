//! rustls server configurations for the endpoints.

use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::bootstrap::ServerMaterial;
use crate::client_auth::CertificateRefused;

/// ALPN protocols offered: AWS IoT's "MQTT on 443 with X.509" form, and plain `mqtt`.
/// A client that offers no ALPN is served too.
pub const ALPN: [&[u8]; 2] = [b"x-amzn-mqtt-ca", b"mqtt"];

/// ALPN protocols of `https` endpoints: HTTP/1.1, and `x-amzn-http-ca`, which AWS's
/// Greengrass discovery client offers (a server without it aborts that handshake). A client
/// that offers no ALPN, as the CRT credentials provider, is served too.
pub const HTTPS_ALPN: [&[u8]; 2] = [b"http/1.1", X_AMZN_HTTP_CA];

/// AWS's ALPN name for HTTPS with a client certificate on port 443.
pub const X_AMZN_HTTP_CA: &[u8] = b"x-amzn-http-ca";

/// Error building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// PEM did not parse.
    #[error("{0}: not valid PEM")]
    Pem(&'static str),
    /// rustls refused the material.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider every TLS configuration uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Build the server config; with `client_auth`, mutual TLS decided by that verifier.
pub fn server_config(
    m: &ServerMaterial,
    client_auth: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(m.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| TlsError::Pem("server certificate"))?;
    let key = PrivateKeyDer::from_pem_slice(m.server_key_pem.as_bytes())
        .map_err(|_| TlsError::Pem("server key"))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let mut cfg = match client_auth {
        Some(verifier) => builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?,
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // AWS IoT does not support session tickets either; every connect proves its key.
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// Like [`server_config`], but the server certificate is chosen per handshake by
/// `resolver` (the SNI table of domain configurations, with the default behind it).
pub fn server_config_resolving(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    client_auth: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let mut cfg = match client_auth {
        Some(verifier) => builder
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver),
        None => builder.with_no_client_auth().with_cert_resolver(resolver),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // As in server_config: no session tickets.
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// A short label for a failed handshake, for metrics and logs.
pub fn failure_reason(e: &std::io::Error) -> &'static str {
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "eof",
            _ => "io",
        };
    };
    match err {
        rustls::Error::NoCertificatesPresented => "no_client_certificate",
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired) => {
            "certificate_expired"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYet) => {
            "certificate_not_yet_valid"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "unknown_issuer"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked) => {
            "certificate_revoked"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(_)) => {
            refusal(e).map_or("bad_certificate", CertificateRefused::label)
        }
        rustls::Error::InvalidCertificate(_) => "bad_certificate",
        rustls::Error::NoApplicationProtocol => "alpn",
        rustls::Error::PeerIncompatible(_) => "incompatible",
        _ => "tls_error",
    }
}

/// The registry's reason for refusing a client certificate, if that is why a handshake failed.
pub fn refusal(e: &std::io::Error) -> Option<&CertificateRefused> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<CertificateRefused>()
        }
        _ => None,
    }
}
