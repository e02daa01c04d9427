use std::sync::Arc;

use proptest::prelude::*;

use crate::error::{RegistryError, ResourceKind};
use crate::event::Event;
use crate::model::*;
use crate::names::*;

use super::{CaCertificateUpdate, NewCaCertificate, Registry};

mod auth;
mod certs;
mod groups;
mod policies;
mod roles;
mod things;

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";

fn cert_id(n: u32) -> String {
    format!("{n:064x}")
}

fn attrs(n: usize) -> Attributes {
    (0..n).map(|i| (format!("a{i}"), format!("v{i}"))).collect()
}

fn with_cert(reg: &mut Registry, n: u32) -> String {
    let id = cert_id(n);
    reg.register_certificate(&id, PEM, CertificateStatus::Active, None, 10)
        .unwrap();
    id
}

fn group(reg: &mut Registry, name: &str, parent: Option<&str>) -> Result<Event, RegistryError> {
    reg.create_thing_group(name, parent, ThingGroupProperties::default(), 0)
}

fn new_ca(n: u32, subject: &str) -> NewCaCertificate {
    NewCaCertificate {
        certificate_id: cert_id(n),
        certificate_pem: PEM.to_string(),
        subject: subject.to_string(),
        status: CaStatus::Active,
        auto_registration_status: AutoRegistrationStatus::Enable,
        certificate_mode: CertificateMode::Default,
        registration_config: None,
    }
}
