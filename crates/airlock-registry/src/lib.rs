//! The Airlock registry: things, thing types, static thing groups, device and CA
//! certificates, policies with their versions and attachments, certificate ↔ thing
//! attachments and role aliases, with AWS IoT's names, limits and rules; and the IAM-style
//! roles (with inline permissions policies) that role aliases point at, with IAM's rules.
//!
//! This crate owns the registry model ([`Registry`], pure and in memory) and its persistence
//! ([`RegistryStore`], one redb file). It knows nothing of MQTT, TLS or HTTP: the admin API
//! and CLI call its mutations, and the broker's authorizer calls its lookups
//! ([`Registry::effective_policies`], [`Registry::thing_for_connection`],
//! [`Registry::certificate_status`]) on every connect, invalidating its decision cache when
//! [`RegistryStore::generation`] moves. Policy documents are stored as text; what they mean
//! belongs to airlock-policy, which can check them on the way in through
//! [`Registry::set_policy_validator`].
//!
//! ```
//! use airlock_registry::{Registry, PolicyTarget, ThingPrincipalType};
//!
//! let mut reg = Registry::new();
//! let cert = "3f9a".repeat(16);
//! let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
//! reg.register_certificate(&cert, pem, airlock_registry::CertificateStatus::Active, None, 0)?;
//! reg.create_thing("sensor-1", None, Default::default())?;
//! reg.attach_thing_principal("sensor-1", &cert, ThingPrincipalType::NonExclusiveThing)?;
//! reg.create_policy("connect", r#"{"Version":"2012-10-17","Statement":[]}"#, 0)?;
//! reg.attach_policy("connect", &PolicyTarget::Certificate(cert.clone()))?;
//!
//! let policies = reg.effective_policies(&cert, "sensor-1");
//! assert_eq!(policies[0].policy_name, "connect");
//! assert_eq!(reg.thing_for_connection(&cert, "sensor-1").unwrap().thing_name, "sensor-1");
//! # Ok::<(), airlock_registry::RegistryError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod event;
mod model;
pub mod names;
mod registry;
mod store;

pub use error::{RegistryError, ResourceKind, StoreError};
pub use event::Event;
pub use model::{
    AttributePayload, Attributes, AutoRegistrationStatus, CaCertificate, CaStatus, Certificate,
    CertificateMode, CertificateStatus, EffectivePolicy, Policy, PolicyTarget, PolicyVersion,
    PolicyVersionId, RegistrationConfig, Role, RoleAlias, Thing, ThingGroup, ThingGroupProperties,
    ThingPrincipalType, ThingType, ThingTypeChange, ThingTypeMetadata, ThingTypeProperties,
    ThingUpdate, ThingView, UnixSeconds,
};
pub use registry::{CaCertificateUpdate, NewCaCertificate, PolicyValidator, Registry};
pub use store::{RegistryStore, unix_now};
