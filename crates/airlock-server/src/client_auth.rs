//! Who may finish a TLS handshake: the client-certificate verifiers of the device endpoints
//! and of the admin API.
//!
//! Devices are trusted the way AWS IoT trusts them: by the registry, not by a CA bundle. The
//! presented certificate is looked up by its id (SHA-256 of the DER); a registered ACTIVE
//! certificate inside its validity period passes, whoever signed it (Airlock's CA, a
//! registered CA — even one deactivated since — or none, for certificates registered without
//! a CA). Anything else fails the handshake with the reason in the log and in
//! `airlock_tls_handshake_failures_total{reason}`. An unregistered certificate signed by a
//! registered CA that is ACTIVE with auto-registration enabled is registered as
//! PENDING_ACTIVATION and `$aws/events/certificates/registered/{caCertificateId}` is
//! published (AWS's just-in-time registration); that connect still fails.
//!
//! Proof of possession of the key is rustls's signature check, delegated unchanged.

use std::sync::Arc;

use airlock_registry::{
    AutoRegistrationStatus, CaStatus, CertificateStatus, RegistryStore, unix_now,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

/// Why a handshake's certificate was refused, carried inside rustls's error so the accept
/// loop can label the failure and log the sentence.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CertificateRefused {
    /// Registered, but not ACTIVE.
    #[error(
        "certificate {id} is {status}; activate it with 'airlock cert activate {id}' if it should connect"
    )]
    NotActive {
        /// Certificate id.
        id: String,
        /// Its status, AWS spelling.
        status: &'static str,
    },
    /// Not in the registry, signed by Airlock's CA or by a registered CA without
    /// auto-registration.
    #[error(
        "certificate {id} is not registered; issue device certificates with 'airlock cert create' or register this one with 'airlock cert register'"
    )]
    Unregistered {
        /// Certificate id.
        id: String,
    },
    /// Just registered by auto-registration; refused until activated.
    #[error(
        "certificate {id} was auto-registered as PENDING_ACTIVATION under CA {ca_id}; activate it with 'airlock cert activate {id}'"
    )]
    AutoRegistered {
        /// Certificate id.
        id: String,
        /// The CA it was registered under.
        ca_id: String,
    },
    /// The admin endpoint saw a certificate other than the admin certificate.
    #[error("only the admin certificate (DATA/pki/admin.cert.pem) may use the admin API")]
    NotAdmin,
    /// The certificate did not parse.
    #[error("the client certificate does not parse: {0}")]
    Unparsable(String),
}

impl CertificateRefused {
    /// Label for `airlock_tls_handshake_failures_total{reason}`.
    pub fn label(&self) -> &'static str {
        match self {
            CertificateRefused::NotActive { status, .. } => match *status {
                "REVOKED" => "certificate_revoked",
                "PENDING_ACTIVATION" => "certificate_pending_activation",
                _ => "certificate_inactive",
            },
            CertificateRefused::Unregistered { .. } => "certificate_unregistered",
            CertificateRefused::AutoRegistered { .. } => "certificate_auto_registered",
            CertificateRefused::NotAdmin => "not_admin_certificate",
            CertificateRefused::Unparsable(_) => "bad_certificate",
        }
    }

    fn into_rustls(self) -> rustls::Error {
        let revoked = matches!(
            self,
            CertificateRefused::NotActive {
                status: "REVOKED",
                ..
            }
        );
        if revoked {
            // A revoked certificate gets the certificate_revoked alert: clients print it.
            tracing::info!(reason = %self, "client certificate refused");
            return rustls::Error::InvalidCertificate(CertificateError::Revoked);
        }
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            self,
        ))))
    }
}

/// A certificate auto-registered during a handshake: the server publishes AWS's event.
#[derive(Debug, Clone)]
pub struct AutoRegistration {
    /// The device certificate.
    pub certificate_id: String,
    /// The CA it was registered under.
    pub ca_certificate_id: String,
    /// When, Unix seconds.
    pub registered_at: u64,
}

/// Called for each auto-registration.
pub type OnAutoRegistration = Arc<dyn Fn(AutoRegistration) + Send + Sync>;

/// A client-certificate verifier: who may finish the handshake is decided by [`Trust`];
/// the handshake signature (proof of the key) is rustls's check.
pub struct ClientVerifier {
    trust: Trust,
    algorithms: WebPkiSupportedAlgorithms,
}

enum Trust {
    /// Device endpoints: the registry decides (see the module doc).
    Registry(DeviceTrust),
    /// The admin endpoint: exactly this certificate (DER).
    Exactly(Vec<u8>),
}

struct DeviceTrust {
    registry: Arc<RegistryStore>,
    airlock_ca_subject: String,
    on_auto_registration: OnAutoRegistration,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.trust {
            Trust::Registry(_) => "registry",
            Trust::Exactly(_) => "admin certificate",
        };
        f.debug_struct("ClientVerifier")
            .field("trust", &kind)
            .finish_non_exhaustive()
    }
}

impl ClientVerifier {
    /// The device endpoints' verifier, over `registry`; `airlock_ca_subject` is the subject
    /// of Airlock's own CA (as [`airlock_pki::RegisteredCa::subject`] writes it), to tell "not
    /// registered" from "unknown issuer".
    pub fn devices(
        registry: Arc<RegistryStore>,
        airlock_ca_subject: String,
        provider: &CryptoProvider,
        on_auto_registration: OnAutoRegistration,
    ) -> ClientVerifier {
        ClientVerifier {
            trust: Trust::Registry(DeviceTrust {
                registry,
                airlock_ca_subject,
                on_auto_registration,
            }),
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// The admin endpoint's verifier: exactly `admin_der`, inside its validity period.
    pub fn admin(admin_der: Vec<u8>, provider: &CryptoProvider) -> ClientVerifier {
        ClientVerifier {
            trust: Trust::Exactly(admin_der),
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl DeviceTrust {
    fn decide(&self, der: &[u8], now: UnixTime) -> Result<(), rustls::Error> {
        let id = airlock_pki::certificate_id(der);
        let status = self.registry.read().certificate(&id).map(|c| c.status);
        match status {
            Some(CertificateStatus::Active) => check_validity(der, now),
            Some(status) => Err(CertificateRefused::NotActive {
                id,
                status: status.as_str(),
            }
            .into_rustls()),
            None => self.unregistered(der, id, now),
        }
    }

    /// An unknown certificate: auto-register it if a registered CA allows that, otherwise
    /// refuse it as unregistered or from an unknown issuer.
    fn unregistered(&self, der: &[u8], id: String, now: UnixTime) -> Result<(), rustls::Error> {
        let issuer = airlock_pki::issuer_name(der)
            .map_err(|e| CertificateRefused::Unparsable(e.to_string()).into_rustls())?;
        let candidates: Vec<(String, String, bool)> = self
            .registry
            .read()
            .ca_for_issuer(&issuer)
            .into_iter()
            .map(|ca| {
                (
                    ca.certificate_id.clone(),
                    ca.certificate_pem.clone(),
                    ca.status == CaStatus::Active
                        && ca.auto_registration_status == AutoRegistrationStatus::Enable,
                )
            })
            .collect();
        let mut signed_by_registered_ca = false;
        for (ca_id, ca_pem, jitr) in candidates {
            let Some(ca_der) = airlock_pki::pem_to_der_chain(&ca_pem)
                .ok()
                .and_then(|c| c.into_iter().next())
            else {
                continue;
            };
            if airlock_pki::verify_issued_by(der, &ca_der).is_err() {
                continue;
            }
            signed_by_registered_ca = true;
            if !jitr {
                continue;
            }
            // AWS registers only certificates that are valid now.
            check_validity(der, now)?;
            let pem = airlock_pki::der_to_pem(der);
            match self.registry.register_certificate(
                &id,
                &pem,
                CertificateStatus::PendingActivation,
                Some(&ca_id),
            ) {
                Ok(_) => {
                    tracing::info!(certificate_id = %id, ca_certificate_id = %ca_id, "auto-registered certificate as PENDING_ACTIVATION");
                    (self.on_auto_registration)(AutoRegistration {
                        certificate_id: id.clone(),
                        ca_certificate_id: ca_id.clone(),
                        registered_at: unix_now(),
                    });
                }
                // Two handshakes of the same new certificate at once: the other one won.
                Err(airlock_registry::StoreError::Registry(
                    airlock_registry::RegistryError::AlreadyExists { .. },
                )) => {}
                Err(e) => {
                    tracing::warn!(certificate_id = %id, error = %e, "auto-registration failed");
                }
            }
            return Err(CertificateRefused::AutoRegistered { id, ca_id }.into_rustls());
        }
        if signed_by_registered_ca || issuer == self.airlock_ca_subject {
            return Err(CertificateRefused::Unregistered { id }.into_rustls());
        }
        tracing::info!(certificate_id = %id, %issuer, "client certificate from an unknown issuer; register its CA with 'airlock ca register'");
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))
    }
}

fn check_validity(der: &[u8], now: UnixTime) -> Result<(), rustls::Error> {
    let info = airlock_pki::certificate_info(der)
        .map_err(|e| CertificateRefused::Unparsable(e.to_string()).into_rustls())?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    match airlock_pki::validity_status(&info, now) {
        airlock_pki::Validity::Valid => Ok(()),
        airlock_pki::Validity::Expired => {
            Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
        }
        airlock_pki::Validity::NotYetValid => Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        )),
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No CA list: devices of any registered CA (or none) may answer.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let der = end_entity.as_ref();
        match &self.trust {
            Trust::Registry(devices) => devices.decide(der, now)?,
            Trust::Exactly(admin) if der == admin.as_slice() => check_validity(der, now)?,
            Trust::Exactly(_) => return Err(CertificateRefused::NotAdmin.into_rustls()),
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
