//! Device certificates and CA certificates.

use crate::error::{RegistryError, ResourceKind};
use crate::event::Event;
use crate::model::{
    AutoRegistrationStatus, CaCertificate, CaStatus, Certificate, CertificateMode,
    CertificateStatus, PolicyTarget, RegistrationConfig, UnixSeconds,
};
use crate::names;

use super::{RecordKey, Registry, already_exists, not_found, unindex};

/// RegisterCACertificate's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCaCertificate {
    /// Lowercase hex SHA-256 of the DER.
    pub certificate_id: String,
    /// The CA certificate, PEM-encoded.
    pub certificate_pem: String,
    /// Its subject in airlock-pki's canonical form.
    pub subject: String,
    /// ACTIVE or INACTIVE (`setAsActive`).
    pub status: CaStatus,
    /// JITR (`allowAutoRegistration`).
    pub auto_registration_status: AutoRegistrationStatus,
    /// DEFAULT (verified by the caller) or SNI_ONLY.
    pub certificate_mode: CertificateMode,
    /// JITP settings.
    pub registration_config: Option<RegistrationConfig>,
}

/// UpdateCACertificate's request; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaCertificateUpdate {
    /// `newStatus`.
    pub status: Option<CaStatus>,
    /// `newAutoRegistrationStatus`.
    pub auto_registration_status: Option<AutoRegistrationStatus>,
    /// `registrationConfig`.
    pub registration_config: Option<RegistrationConfig>,
}

impl Registry {
    /// RegisterCertificate (also used by auto-registration with PENDING_ACTIVATION). The CA,
    /// if given, must be registered. Proof that the certificate is well-formed and was signed
    /// by that CA is the caller's (airlock-pki's); the registry checks only the id's form and
    /// that the PEM looks like a certificate.
    pub fn register_certificate(
        &mut self,
        certificate_id: &str,
        certificate_pem: &str,
        status: CertificateStatus,
        ca_certificate_id: Option<&str>,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_certificate_id(certificate_id)?;
        names::check_pem("certificatePem", certificate_pem)?;
        if self.certificates.contains_key(certificate_id) {
            return Err(already_exists(ResourceKind::Certificate, certificate_id));
        }
        if let Some(ca) = ca_certificate_id
            && !self.cas.contains_key(ca)
        {
            return Err(not_found(ResourceKind::CaCertificate, ca));
        }
        self.certificates.insert(
            certificate_id.to_string(),
            Certificate {
                certificate_id: certificate_id.to_string(),
                certificate_pem: certificate_pem.to_string(),
                status,
                ca_certificate_id: ca_certificate_id.map(str::to_string),
                creation_date: now,
                last_modified_date: now,
            },
        );
        self.changed([RecordKey::Certificate(certificate_id.to_string())]);
        Ok(Event::CertificateRegistered {
            certificate_id: certificate_id.to_string(),
            status,
            ca_certificate_id: ca_certificate_id.map(str::to_string),
        })
    }

    /// UpdateCertificate. ACTIVE, INACTIVE and REVOKED can be set; a REVOKED certificate
    /// keeps that status for good, as in AWS.
    pub fn update_certificate(
        &mut self,
        certificate_id: &str,
        status: CertificateStatus,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        let cert = self.require_certificate(certificate_id)?;
        let from = cert.status;
        if from == status {
            return Ok(Event::Unchanged);
        }
        if from == CertificateStatus::Revoked {
            return Err(RegistryError::CertificateRevoked {
                certificate_id: certificate_id.to_string(),
            });
        }
        if status == CertificateStatus::PendingActivation {
            return Err(RegistryError::InvalidStatusChange {
                certificate_id: certificate_id.to_string(),
                to: status,
            });
        }
        if let Some(cert) = self.certificates.get_mut(certificate_id) {
            cert.status = status;
            cert.last_modified_date = now;
        }
        self.changed([RecordKey::Certificate(certificate_id.to_string())]);
        Ok(Event::CertificateStatusChanged {
            certificate_id: certificate_id.to_string(),
            from,
            to: status,
        })
    }

    /// DeleteCertificate: refused while ACTIVE, attached to a thing or holding a policy.
    pub fn delete_certificate(&mut self, certificate_id: &str) -> Result<Event, RegistryError> {
        let cert = self.require_certificate(certificate_id)?;
        if cert.status == CertificateStatus::Active {
            return Err(RegistryError::CertificateActive {
                certificate_id: certificate_id.to_string(),
            });
        }
        if let Some((thing, _)) = self
            .cert_things
            .get(certificate_id)
            .and_then(|t| t.first_key_value())
        {
            return Err(RegistryError::CertificateAttachedToThing {
                certificate_id: certificate_id.to_string(),
                thing: thing.clone(),
            });
        }
        let target = PolicyTarget::Certificate(certificate_id.to_string());
        if let Some(policy) = self.target_policies.get(&target).and_then(|p| p.first()) {
            return Err(RegistryError::PolicyStillAttached {
                what: format!("certificate {certificate_id}"),
                policy: policy.clone(),
                target,
            });
        }
        self.certificates.remove(certificate_id);
        self.changed([RecordKey::Certificate(certificate_id.to_string())]);
        Ok(Event::CertificateDeleted {
            certificate_id: certificate_id.to_string(),
        })
    }

    /// RegisterCACertificate. At most 10 CAs may share a subject.
    pub fn register_ca_certificate(
        &mut self,
        ca: NewCaCertificate,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        names::check_certificate_id(&ca.certificate_id)?;
        names::check_pem("caCertificate", &ca.certificate_pem)?;
        if self.cas.contains_key(&ca.certificate_id) {
            return Err(already_exists(
                ResourceKind::CaCertificate,
                &ca.certificate_id,
            ));
        }
        let same_subject = self.cas_by_subject.get(&ca.subject).map_or(0, |s| s.len());
        if same_subject >= names::MAX_CAS_PER_SUBJECT {
            return Err(RegistryError::TooManyCasWithSubject {
                subject: ca.subject,
                count: same_subject,
            });
        }
        let id = ca.certificate_id.clone();
        self.index_ca(&id, &ca.subject);
        self.cas.insert(
            id.clone(),
            CaCertificate {
                certificate_id: ca.certificate_id,
                certificate_pem: ca.certificate_pem,
                subject: ca.subject,
                status: ca.status,
                auto_registration_status: ca.auto_registration_status,
                certificate_mode: ca.certificate_mode,
                registration_config: ca.registration_config,
                creation_date: now,
                last_modified_date: now,
            },
        );
        self.changed([RecordKey::CaCertificate(id.clone())]);
        Ok(Event::CaCertificateRegistered { certificate_id: id })
    }

    pub(crate) fn index_ca(&mut self, id: &str, subject: &str) {
        self.cas_by_subject
            .entry(subject.to_string())
            .or_default()
            .insert(id.to_string());
    }

    /// UpdateCACertificate. Deactivating a CA blocks only new (auto-)registrations; the
    /// certificates it signed keep their own status (AWS).
    pub fn update_ca_certificate(
        &mut self,
        certificate_id: &str,
        update: CaCertificateUpdate,
        now: UnixSeconds,
    ) -> Result<Event, RegistryError> {
        let ca = self
            .cas
            .get_mut(certificate_id)
            .ok_or_else(|| not_found(ResourceKind::CaCertificate, certificate_id))?;
        let before = ca.clone();
        if let Some(s) = update.status {
            ca.status = s;
        }
        if let Some(a) = update.auto_registration_status {
            ca.auto_registration_status = a;
        }
        if let Some(c) = update.registration_config {
            ca.registration_config = Some(c);
        }
        if *ca == before {
            return Ok(Event::Unchanged);
        }
        ca.last_modified_date = now;
        self.changed([RecordKey::CaCertificate(certificate_id.to_string())]);
        Ok(Event::CaCertificateUpdated {
            certificate_id: certificate_id.to_string(),
        })
    }

    /// DeleteCACertificate: refused while ACTIVE or while certificates registered under it
    /// remain (the TLS layer needs the CA to verify them).
    pub fn delete_ca_certificate(&mut self, certificate_id: &str) -> Result<Event, RegistryError> {
        let ca = self
            .cas
            .get(certificate_id)
            .ok_or_else(|| not_found(ResourceKind::CaCertificate, certificate_id))?;
        if ca.status == CaStatus::Active {
            return Err(RegistryError::CaActive {
                ca_certificate_id: certificate_id.to_string(),
            });
        }
        if let Some(cert) = self.certificates_by_ca(certificate_id).next() {
            return Err(RegistryError::CaInUse {
                ca_certificate_id: certificate_id.to_string(),
                certificate_id: cert.certificate_id.clone(),
            });
        }
        let subject = ca.subject.clone();
        self.cas.remove(certificate_id);
        unindex(&mut self.cas_by_subject, subject.as_str(), certificate_id);
        self.changed([RecordKey::CaCertificate(certificate_id.to_string())]);
        Ok(Event::CaCertificateDeleted {
            certificate_id: certificate_id.to_string(),
        })
    }
}
