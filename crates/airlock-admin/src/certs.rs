//! Device certificates, CA certificates and the registration code.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use airlock_pki::{KeyAlgorithm, PkiError, certificate_id, certificate_info, der_to_pem};
use airlock_registry::{
    AutoRegistrationStatus, CaCertificateUpdate, CaStatus, Certificate, CertificateMode,
    CertificateStatus, NewCaCertificate, PolicyTarget, RegistrationConfig,
};

use crate::error::{ApiError, Exception};
use crate::extract::{JsonBody, Path, Query};
use crate::{AdminContext, Ctx, run};

/// Subject CN of certificates Airlock issues with CreateKeysAndCertificate (and of CSRs
/// that carry none): AWS puts no device identity in the certificate either.
const DEVICE_CN: &str = "airlock-device";

/// Validity of certificates Airlock issues for devices: 25 years, about as long as the
/// certificates AWS IoT issues (valid until 2049).
const DEVICE_CERT_DAYS: u32 = 25 * 365;

fn cert_arn(c: &AdminContext, id: &str) -> String {
    c.arn(&format!("cert/{id}"))
}

fn ca_arn(c: &AdminContext, id: &str) -> String {
    c.arn(&format!("cacert/{id}"))
}

fn status_of(active: Option<bool>) -> CertificateStatus {
    if active.unwrap_or(false) {
        CertificateStatus::Active
    } else {
        CertificateStatus::Inactive
    }
}

/// The DER of the first certificate in `pem`.
fn first_der(pem: &str) -> Result<Vec<u8>, ApiError> {
    airlock_pki::pem_to_der_chain(pem)?
        .into_iter()
        .next()
        .ok_or_else(|| PkiError::NoCertificates.into())
}

fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, ApiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, x)| x)
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()).into())
}

/// Whether the certificate `der` names the CA certificate `ca_der` as issuer and carries a
/// valid signature by its key.
fn signed_by(der: &[u8], ca_der: &[u8]) -> bool {
    airlock_pki::verify_issued_by(der, ca_der).is_ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SetAsActive {
    set_as_active: Option<bool>,
}

pub(crate) async fn create_keys_and_certificate(
    State(ctx): State<Ctx>,
    Query(q): Query<SetAsActive>,
) -> Response {
    run(ctx, move |c| {
        let issued =
            c.ca.issue_client(DEVICE_CN, KeyAlgorithm::EcdsaP256, DEVICE_CERT_DAYS)?;
        let public_key = rcgen::KeyPair::from_pem(&issued.key_pem)
            .map(|k| k.public_key_pem())
            .map_err(|e| ApiError::internal(format!("cannot read the key just generated: {e}")))?;
        let status = status_of(q.set_as_active);
        c.mutate(|r| {
            r.register_certificate(&issued.certificate_id, &issued.cert_pem, status, None)
        })?;
        Ok(json!({
            "certificateArn": cert_arn(c, &issued.certificate_id),
            "certificateId": issued.certificate_id,
            "certificatePem": issued.cert_pem,
            "keyPair": {"PublicKey": public_key, "PrivateKey": issued.key_pem},
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FromCsr {
    certificate_signing_request: String,
}

pub(crate) async fn create_certificate_from_csr(
    State(ctx): State<Ctx>,
    Query(q): Query<SetAsActive>,
    JsonBody(req): JsonBody<FromCsr>,
) -> Response {
    run(ctx, move |c| {
        let csr = &req.certificate_signing_request;
        let signed = match c.ca.sign_csr(csr, None, DEVICE_CERT_DAYS) {
            // AWS signs CSRs without a subject CN; so does Airlock, with its device CN.
            Err(PkiError::InvalidName { name, .. }) if name.is_empty() => {
                c.ca.sign_csr(csr, Some(DEVICE_CN), DEVICE_CERT_DAYS)?
            }
            other => other?,
        };
        let status = status_of(q.set_as_active);
        c.mutate(|r| {
            r.register_certificate(&signed.certificate_id, &signed.cert_pem, status, None)
        })?;
        Ok(json!({
            "certificateArn": cert_arn(c, &signed.certificate_id),
            "certificateId": signed.certificate_id,
            "certificatePem": signed.cert_pem,
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Register {
    certificate_pem: String,
    ca_certificate_pem: Option<String>,
    status: Option<String>,
}

/// RegisterCertificate's `status` (or the deprecated `setAsActive`); INACTIVE by default,
/// as AWS.
fn register_status(
    status: Option<&str>,
    set_as_active: Option<bool>,
) -> Result<CertificateStatus, ApiError> {
    match status {
        Some(s) => Ok(s.parse::<CertificateStatus>()?),
        None => Ok(status_of(set_as_active)),
    }
}

pub(crate) async fn register_certificate(
    State(ctx): State<Ctx>,
    Query(q): Query<SetAsActive>,
    JsonBody(req): JsonBody<Register>,
) -> Response {
    run(ctx, move |c| {
        let status = register_status(req.status.as_deref(), q.set_as_active)?;
        let der = first_der(&req.certificate_pem)?;
        let cert = parse(&der)?;
        let id = certificate_id(&der);
        let ca_id = find_issuer(c, &cert, &der, req.ca_certificate_pem.as_deref())?;
        let pem = der_to_pem(&der);
        c.mutate(|r| r.register_certificate(&id, &pem, status, ca_id.as_deref()))?;
        Ok(json!({"certificateArn": cert_arn(c, &id), "certificateId": id}))
    })
    .await
}

/// The registered CA (`Some(id)`) or Airlock's own CA (`None`) whose key signed `cert`.
fn find_issuer(
    c: &AdminContext,
    cert: &x509_parser::certificate::X509Certificate<'_>,
    der: &[u8],
    ca_pem: Option<&str>,
) -> Result<Option<String>, ApiError> {
    // Candidates: (registered CA id, its DER, its status); the registry's read guard is
    // dropped before the caller mutates.
    let mut candidates: Vec<(String, Vec<u8>, CaStatus)> = Vec::new();
    {
        let reg = c.registry.read();
        match ca_pem {
            Some(pem) => {
                let ca_der = first_der(pem)?;
                let ca_id = certificate_id(&ca_der);
                match reg.ca_certificate(&ca_id) {
                    Some(ca) => candidates.push((ca_id, ca_der, ca.status)),
                    None if ca_der.as_slice() != c.ca.cert_der() => {
                        return Err(ApiError::not_found(format!(
                            "CA certificate {ca_id} is not registered; register it with RegisterCACertificate first"
                        )));
                    }
                    None => {}
                }
            }
            None => {
                for ca in reg.ca_for_issuer(&cert.issuer().to_string()) {
                    if let Ok(ca_der) = first_der(&ca.certificate_pem) {
                        candidates.push((ca.certificate_id.clone(), ca_der, ca.status));
                    }
                }
            }
        }
    }
    for (ca_id, ca_der, status) in candidates {
        if signed_by(der, &ca_der) {
            if status != CaStatus::Active {
                return Err(ApiError::new(
                    Exception::CertificateState,
                    format!(
                        "CA certificate {ca_id} is INACTIVE, so it accepts no new registrations; activate it with UpdateCACertificate first"
                    ),
                ));
            }
            return Ok(Some(ca_id));
        }
    }
    if signed_by(der, c.ca.cert_der()) {
        return Ok(None);
    }
    let id = certificate_id(der);
    Err(ApiError::new(
        Exception::CertificateValidation,
        format!(
            "certificate {id} is not signed by a registered CA nor by Airlock's CA; register its CA with RegisterCACertificate, or use RegisterCertificateWithoutCA"
        ),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterNoCa {
    certificate_pem: String,
    status: Option<String>,
}

pub(crate) async fn register_certificate_without_ca(
    State(ctx): State<Ctx>,
    JsonBody(req): JsonBody<RegisterNoCa>,
) -> Response {
    run(ctx, move |c| {
        let status = register_status(req.status.as_deref(), None)?;
        let der = first_der(&req.certificate_pem)?;
        parse(&der)?;
        let id = certificate_id(&der);
        let pem = der_to_pem(&der);
        c.mutate(|r| r.register_certificate(&id, &pem, status, None))?;
        Ok(json!({"certificateArn": cert_arn(c, &id), "certificateId": id}))
    })
    .await
}

/// `{"notBefore","notAfter"}` of a PEM certificate, if it parses.
fn validity(pem: &str) -> Option<Value> {
    let der = first_der(pem).ok()?;
    let info = certificate_info(&der).ok()?;
    Some(json!({"notBefore": info.not_before, "notAfter": info.not_after}))
}

/// DEFAULT for certificates whose CA is known (registered, or Airlock's own), SNI_ONLY for
/// those registered without a CA, as AWS reports `certificateMode`.
fn certificate_mode(c: &AdminContext, cert: &Certificate) -> CertificateMode {
    if cert.ca_certificate_id.is_some() {
        return CertificateMode::Default;
    }
    let issued_here = first_der(&cert.certificate_pem)
        .ok()
        .is_some_and(|der| signed_by(&der, c.ca.cert_der()));
    if issued_here {
        CertificateMode::Default
    } else {
        CertificateMode::SniOnly
    }
}

fn cert_missing(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "certificate {id} does not exist; list them with ListCertificates"
    ))
}

pub(crate) async fn describe_certificate(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let cert = c
            .registry
            .read()
            .certificate(&id)
            .cloned()
            .ok_or_else(|| cert_missing(&id))?;
        let mut d = json!({
            "certificateArn": cert_arn(c, &cert.certificate_id),
            "certificateId": cert.certificate_id,
            "status": cert.status,
            "certificatePem": cert.certificate_pem,
            "ownedBy": c.authorizer.engine().account(),
            "creationDate": cert.creation_date,
            "lastModifiedDate": cert.last_modified_date,
            "certificateMode": certificate_mode(c, &cert),
        });
        if let Some(ca) = &cert.ca_certificate_id {
            d["caCertificateId"] = ca.clone().into();
        }
        if let Some(v) = validity(&cert.certificate_pem) {
            d["validity"] = v;
        }
        Ok(json!({ "certificateDescription": d }))
    })
    .await
}

pub(crate) async fn list_certificates(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        let certs: Vec<Certificate> = c.registry.read().certificates().cloned().collect();
        let list: Vec<Value> = certs
            .iter()
            .map(|cert| {
                json!({
                    "certificateArn": cert_arn(c, &cert.certificate_id),
                    "certificateId": cert.certificate_id,
                    "status": cert.status,
                    "certificateMode": certificate_mode(c, cert),
                    "creationDate": cert.creation_date,
                })
            })
            .collect();
        Ok(json!({ "certificates": list }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewStatus {
    new_status: Option<String>,
}

pub(crate) async fn update_certificate(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<NewStatus>,
) -> Response {
    run(ctx, move |c| {
        let status = q
            .new_status
            .ok_or_else(|| ApiError::invalid("newStatus is required: ACTIVE, INACTIVE or REVOKED"))?
            .parse::<CertificateStatus>()?;
        c.mutate(|r| r.update_certificate(&id, status))?;
        Ok(json!({}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ForceDelete {
    force_delete: Option<bool>,
}

pub(crate) async fn delete_certificate(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<ForceDelete>,
) -> Response {
    run(ctx, move |c| {
        let force = q.force_delete.unwrap_or(false);
        // forceDelete detaches the certificate's policies (as AWS does) in the same
        // transaction as the delete, so a refused delete leaves them attached.
        let events = c.registry.mutate(|r| {
            let mut events = Vec::new();
            if force {
                let target = PolicyTarget::Certificate(id.clone());
                let policies: Vec<String> =
                    r.policies_for_target(&target).map(str::to_string).collect();
                for p in policies {
                    events.push(r.detach_policy(&p, &target)?);
                }
            }
            events.push(r.delete_certificate(&id)?);
            Ok(events)
        })?;
        for e in &events {
            c.emit(e);
        }
        Ok(json!({}))
    })
    .await
}

/// The registration code: derived from the CA's private key, so it is the same for this
/// Airlock across restarts and needs no storage, and cannot be guessed without the key.
fn registration_code(c: &AdminContext) -> String {
    let mut input = b"airlock registration code v1\0".to_vec();
    input.extend_from_slice(c.ca.key_pem().as_bytes());
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &input))
}

pub(crate) async fn get_registration_code(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        Ok(json!({ "registrationCode": registration_code(c) }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterCaQuery {
    set_as_active: Option<bool>,
    allow_auto_registration: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterCa {
    ca_certificate: String,
    verification_certificate: Option<String>,
    certificate_mode: Option<String>,
    registration_config: Option<RegistrationConfig>,
}

pub(crate) async fn register_ca_certificate(
    State(ctx): State<Ctx>,
    Query(q): Query<RegisterCaQuery>,
    JsonBody(req): JsonBody<RegisterCa>,
) -> Response {
    run(ctx, move |c| {
        let mode = match req.certificate_mode.as_deref() {
            None | Some("DEFAULT") => CertificateMode::Default,
            Some("SNI_ONLY") => CertificateMode::SniOnly,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "certificateMode \"{other}\" is invalid: expected DEFAULT or SNI_ONLY"
                )));
            }
        };
        let ca = match mode {
            CertificateMode::SniOnly => airlock_pki::inspect_ca(&req.ca_certificate)?,
            CertificateMode::Default => {
                let verification = req.verification_certificate.as_deref().ok_or_else(|| {
                    ApiError::invalid(
                        "verificationCertificate is required in DEFAULT mode: make a certificate with CN = the code from GetRegistrationCode, signed by this CA's key (or register with certificateMode SNI_ONLY)",
                    )
                })?;
                airlock_pki::verify_ca_registration(
                    &req.ca_certificate,
                    verification,
                    &registration_code(c),
                )?
            }
        };
        let id = ca.certificate_id.clone();
        let new = NewCaCertificate {
            certificate_id: ca.certificate_id,
            certificate_pem: ca.cert_pem,
            subject: ca.subject,
            status: if q.set_as_active.unwrap_or(false) {
                CaStatus::Active
            } else {
                CaStatus::Inactive
            },
            auto_registration_status: if q.allow_auto_registration.unwrap_or(false) {
                AutoRegistrationStatus::Enable
            } else {
                AutoRegistrationStatus::Disable
            },
            certificate_mode: mode,
            registration_config: req.registration_config,
        };
        c.mutate(|r| r.register_ca_certificate(new))?;
        Ok(json!({"certificateArn": ca_arn(c, &id), "certificateId": id}))
    })
    .await
}

pub(crate) async fn describe_ca_certificate(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Response {
    run(ctx, move |c| {
        let ca = c
            .registry
            .read()
            .ca_certificate(&id)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "CA certificate {id} does not exist; list them with ListCACertificates"
                ))
            })?;
        let mut d = json!({
            "certificateArn": ca_arn(c, &ca.certificate_id),
            "certificateId": ca.certificate_id,
            "status": ca.status,
            "certificatePem": ca.certificate_pem,
            "ownedBy": c.authorizer.engine().account(),
            "creationDate": ca.creation_date,
            "lastModifiedDate": ca.last_modified_date,
            "autoRegistrationStatus": ca.auto_registration_status,
            "certificateMode": ca.certificate_mode,
        });
        if let Some(v) = validity(&ca.certificate_pem) {
            d["validity"] = v;
        }
        let mut out = json!({ "certificateDescription": d });
        if let Some(rc) = &ca.registration_config {
            out["registrationConfig"] = json!(rc);
        }
        Ok(out)
    })
    .await
}

pub(crate) async fn list_ca_certificates(State(ctx): State<Ctx>) -> Response {
    run(ctx, move |c| {
        let reg = c.registry.read();
        let list: Vec<Value> = reg
            .ca_certificates()
            .map(|ca| {
                json!({
                    "certificateArn": ca_arn(c, &ca.certificate_id),
                    "certificateId": ca.certificate_id,
                    "status": ca.status,
                    "creationDate": ca.creation_date,
                })
            })
            .collect();
        Ok(json!({ "certificates": list }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateCaQuery {
    new_status: Option<String>,
    new_auto_registration_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateCaBody {
    registration_config: Option<RegistrationConfig>,
}

pub(crate) async fn update_ca_certificate(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Query(q): Query<UpdateCaQuery>,
    JsonBody(body): JsonBody<UpdateCaBody>,
) -> Response {
    run(ctx, move |c| {
        let update = CaCertificateUpdate {
            status: q
                .new_status
                .as_deref()
                .map(str::parse::<CaStatus>)
                .transpose()?,
            auto_registration_status: q
                .new_auto_registration_status
                .as_deref()
                .map(str::parse::<AutoRegistrationStatus>)
                .transpose()?,
            registration_config: body.registration_config,
        };
        c.mutate(|r| r.update_ca_certificate(&id, update))?;
        Ok(json!({}))
    })
    .await
}

pub(crate) async fn delete_ca_certificate(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Response {
    run(ctx, move |c| {
        c.mutate(|r| r.delete_ca_certificate(&id))?;
        Ok(json!({}))
    })
    .await
}
