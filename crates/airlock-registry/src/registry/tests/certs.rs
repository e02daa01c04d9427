use super::*;

#[test]
fn exclusive_attachment_refuses_a_second_thing() {
    let mut reg = Registry::new();
    let cert = with_cert(&mut reg, 1);
    for t in ["a", "b", "c"] {
        reg.create_thing(t, None, Attributes::new()).unwrap();
    }
    reg.attach_thing_principal("a", &cert, ThingPrincipalType::ExclusiveThing)
        .unwrap();
    assert_eq!(
        reg.attach_thing_principal("a", &cert, ThingPrincipalType::ExclusiveThing)
            .unwrap(),
        Event::Unchanged
    );
    for kind in [
        ThingPrincipalType::ExclusiveThing,
        ThingPrincipalType::NonExclusiveThing,
    ] {
        let err = reg.attach_thing_principal("b", &cert, kind).unwrap_err();
        assert_eq!(
            err,
            RegistryError::ExclusivelyAttached {
                certificate_id: cert.clone(),
                thing: "a".into()
            }
        );
    }
    // Downgrading the one attachment to non-exclusive then allows others.
    reg.attach_thing_principal("a", &cert, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    reg.attach_thing_principal("b", &cert, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    let err = reg
        .attach_thing_principal("c", &cert, ThingPrincipalType::ExclusiveThing)
        .unwrap_err();
    assert!(matches!(err, RegistryError::CannotAttachExclusively { .. }));
    assert!(err.to_string().contains("use NON_EXCLUSIVE_THING"), "{err}");
    assert!(
        reg.attach_thing_principal("a", &cert, ThingPrincipalType::ExclusiveThing)
            .is_err()
    );
    assert_eq!(
        reg.things_of_principal(&cert).collect::<Vec<_>>(),
        [
            ("a", ThingPrincipalType::NonExclusiveThing),
            ("b", ThingPrincipalType::NonExclusiveThing)
        ]
    );
}

#[test]
fn deletes_are_blocked_while_attached() {
    let mut reg = Registry::new();
    let cert = with_cert(&mut reg, 0x3f9a);
    reg.create_thing("t", None, Attributes::new()).unwrap();
    reg.attach_thing_principal("t", &cert, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    let err = reg.delete_thing("t", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot delete thing \"t\": certificate {cert} is attached; detach it first with DetachThingPrincipal"
        )
    );

    assert!(matches!(
        reg.delete_certificate(&cert),
        Err(RegistryError::CertificateActive { .. })
    ));
    reg.update_certificate(&cert, CertificateStatus::Inactive, 0)
        .unwrap();
    assert!(matches!(
        reg.delete_certificate(&cert),
        Err(RegistryError::CertificateAttachedToThing { .. })
    ));
    reg.detach_thing_principal("t", &cert).unwrap();
    assert!(matches!(
        reg.detach_thing_principal("t", &cert),
        Err(RegistryError::PrincipalNotAttached { .. })
    ));
    reg.create_policy("p", "{}", 0).unwrap();
    reg.attach_policy("p", &PolicyTarget::Certificate(cert.clone()))
        .unwrap();
    let err = reg.delete_certificate(&cert).unwrap_err();
    assert!(
        err.to_string()
            .contains("detach it first with DetachPolicy"),
        "{err}"
    );
    reg.detach_policy("p", &PolicyTarget::Certificate(cert.clone()))
        .unwrap();
    reg.delete_certificate(&cert).unwrap();
    reg.delete_thing("t", None).unwrap();
    assert!(reg.thing("t").is_none() && reg.certificate(&cert).is_none());
}

#[test]
fn certificate_status_transitions_and_revoked_is_final() {
    let mut reg = Registry::new();
    let id = cert_id(1);
    reg.register_certificate(&id, PEM, CertificateStatus::PendingActivation, None, 1)
        .unwrap();
    assert_eq!(
        reg.certificate_status(&id),
        Some(CertificateStatus::PendingActivation)
    );
    let ev = reg
        .update_certificate(&id, CertificateStatus::Active, 2)
        .unwrap();
    assert_eq!(
        ev,
        Event::CertificateStatusChanged {
            certificate_id: id.clone(),
            from: CertificateStatus::PendingActivation,
            to: CertificateStatus::Active
        }
    );
    reg.update_certificate(&id, CertificateStatus::Inactive, 3)
        .unwrap();
    reg.update_certificate(&id, CertificateStatus::Active, 4)
        .unwrap();
    assert!(matches!(
        reg.update_certificate(&id, CertificateStatus::PendingActivation, 5),
        Err(RegistryError::InvalidStatusChange { .. })
    ));
    reg.update_certificate(&id, CertificateStatus::Revoked, 6)
        .unwrap();
    assert_eq!(reg.certificate(&id).unwrap().last_modified_date, 6);
    for to in [
        CertificateStatus::Active,
        CertificateStatus::Inactive,
        CertificateStatus::PendingActivation,
    ] {
        let err = reg.update_certificate(&id, to, 7).unwrap_err();
        assert!(
            matches!(err, RegistryError::CertificateRevoked { .. }),
            "{to}: {err}"
        );
    }
    assert_eq!(
        reg.update_certificate(&id, CertificateStatus::Revoked, 8)
            .unwrap(),
        Event::Unchanged
    );
    assert_eq!(
        reg.certificate_status(&id),
        Some(CertificateStatus::Revoked)
    );
    // A revoked certificate can be deleted (it is not ACTIVE).
    reg.delete_certificate(&id).unwrap();
}

#[test]
fn certificate_ids_and_pem_are_checked() {
    let mut reg = Registry::new();
    for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
        assert!(matches!(
            reg.register_certificate(bad, PEM, CertificateStatus::Active, None, 0),
            Err(RegistryError::InvalidCertificateId { .. })
        ));
    }
    assert!(matches!(
        reg.register_certificate(&cert_id(1), "not pem", CertificateStatus::Active, None, 0),
        Err(RegistryError::InvalidPem { .. })
    ));
    assert!(matches!(
        reg.register_certificate(
            &cert_id(1),
            PEM,
            CertificateStatus::Active,
            Some(&cert_id(9)),
            0
        ),
        Err(RegistryError::NotFound {
            kind: ResourceKind::CaCertificate,
            ..
        })
    ));
    with_cert(&mut reg, 1);
    assert!(matches!(
        reg.register_certificate(&cert_id(1), PEM, CertificateStatus::Active, None, 0),
        Err(RegistryError::AlreadyExists { .. })
    ));
}

#[test]
fn ca_certificates_by_issuer_and_lifecycle() {
    let mut reg = Registry::new();
    for n in 0..10 {
        reg.register_ca_certificate(new_ca(100 + n, "CN=Plant CA"), 0)
            .unwrap();
    }
    assert!(matches!(
        reg.register_ca_certificate(new_ca(200, "CN=Plant CA"), 0),
        Err(RegistryError::TooManyCasWithSubject { count: 10, .. })
    ));
    reg.register_ca_certificate(new_ca(201, "CN=Other"), 0)
        .unwrap();
    assert_eq!(reg.ca_for_issuer("CN=Plant CA").len(), 10);
    assert_eq!(
        reg.ca_for_issuer("CN=Other")[0].certificate_id,
        cert_id(201)
    );
    assert!(reg.ca_for_issuer("CN=Nobody").is_empty());

    let ca = cert_id(201);
    reg.register_certificate(&cert_id(1), PEM, CertificateStatus::Active, Some(&ca), 0)
        .unwrap();
    assert!(matches!(
        reg.delete_ca_certificate(&ca),
        Err(RegistryError::CaActive { .. })
    ));
    let ev = reg
        .update_ca_certificate(
            &ca,
            CaCertificateUpdate {
                status: Some(CaStatus::Inactive),
                auto_registration_status: Some(AutoRegistrationStatus::Disable),
                ..Default::default()
            },
            5,
        )
        .unwrap();
    assert_eq!(
        ev,
        Event::CaCertificateUpdated {
            certificate_id: ca.clone()
        }
    );
    // Deactivating the CA leaves the certificates it signed alone.
    assert_eq!(
        reg.certificate_status(&cert_id(1)),
        Some(CertificateStatus::Active)
    );
    assert!(matches!(
        reg.delete_ca_certificate(&ca),
        Err(RegistryError::CaInUse { .. })
    ));
    reg.update_certificate(&cert_id(1), CertificateStatus::Revoked, 6)
        .unwrap();
    reg.delete_certificate(&cert_id(1)).unwrap();
    reg.delete_ca_certificate(&ca).unwrap();
    assert!(reg.ca_for_issuer("CN=Other").is_empty());
}
