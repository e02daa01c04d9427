use super::*;

#[test]
fn a_policy_has_at_most_five_versions_and_one_default() {
    let mut reg = Registry::new();
    reg.create_policy("p", "doc1", 1).unwrap();
    for n in 2..=5 {
        let ev = reg
            .create_policy_version("p", &format!("doc{n}"), false, n)
            .unwrap();
        assert_eq!(
            ev,
            Event::PolicyVersionCreated {
                policy_name: "p".into(),
                version_id: PolicyVersionId(n as u32),
                is_default: false
            }
        );
    }
    let err = reg.create_policy_version("p", "doc6", true, 6).unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy \"p\" has 5 versions; delete one with DeletePolicyVersion first"
    );
    let p = reg.policy("p").unwrap();
    assert_eq!(p.default_version_id, PolicyVersionId(1));
    assert_eq!(
        p.versions.iter().filter(|v| v.is_default_version).count(),
        1
    );

    let err = reg
        .delete_policy_version("p", PolicyVersionId(1), 7)
        .unwrap_err();
    assert!(matches!(err, RegistryError::DefaultVersionDelete { .. }));
    assert!(err.to_string().contains("SetDefaultPolicyVersion"), "{err}");

    reg.set_default_policy_version("p", PolicyVersionId(3), 8)
        .unwrap();
    let p = reg.policy("p").unwrap();
    assert_eq!(&*p.default_version().policy_document, "doc3");
    assert_eq!(
        p.versions
            .iter()
            .filter(|v| v.is_default_version)
            .map(|v| v.version_id)
            .collect::<Vec<_>>(),
        [PolicyVersionId(3)]
    );
    reg.delete_policy_version("p", PolicyVersionId(1), 9)
        .unwrap();
    // Ids never come back: the next version is 6, not 1.
    let ev = reg.create_policy_version("p", "doc6", true, 10).unwrap();
    assert!(matches!(
        ev,
        Event::PolicyVersionCreated {
            version_id: PolicyVersionId(6),
            is_default: true,
            ..
        }
    ));
    assert_eq!(
        reg.policy("p").unwrap().default_version_id,
        PolicyVersionId(6)
    );
    assert!(matches!(
        reg.set_default_policy_version("p", PolicyVersionId(1), 11),
        Err(RegistryError::PolicyVersionNotFound { .. })
    ));
}

#[test]
fn deleting_a_policy_needs_no_attachments_and_no_other_versions() {
    let mut reg = Registry::new();
    let cert = with_cert(&mut reg, 1);
    reg.create_policy("p", "a", 0).unwrap();
    reg.create_policy_version("p", "b", true, 0).unwrap();
    let target = PolicyTarget::Certificate(cert.clone());
    reg.attach_policy("p", &target).unwrap();
    assert!(matches!(
        reg.delete_policy("p"),
        Err(RegistryError::PolicyStillAttached { .. })
    ));
    reg.detach_policy("p", &target).unwrap();
    assert!(matches!(
        reg.detach_policy("p", &target),
        Err(RegistryError::PolicyNotAttached { .. })
    ));
    let err = reg.delete_policy("p").unwrap_err();
    assert!(matches!(
        err,
        RegistryError::PolicyHasVersions {
            version_id: PolicyVersionId(1),
            ..
        }
    ));
    reg.delete_policy_version("p", PolicyVersionId(1), 0)
        .unwrap();
    reg.delete_policy("p").unwrap();
    assert!(reg.policy("p").is_none());
}

#[test]
fn policy_names_and_validator() {
    let mut reg = Registry::new();
    reg.create_policy("a+b=c,d.e@f-g_h", "{}", 0).unwrap();
    assert!(matches!(
        reg.create_policy("a/b", "{}", 0),
        Err(RegistryError::InvalidName { kind: "policy", .. })
    ));
    reg.set_policy_validator(Arc::new(|doc: &str| {
        if doc.contains("Statement") {
            Ok(())
        } else {
            Err("missing field `Statement`".to_string())
        }
    }));
    let err = reg.create_policy("bad", "{}", 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy \"bad\" document is invalid: missing field `Statement`"
    );
    assert!(reg.policy("bad").is_none());
    reg.create_policy("good", "{\"Statement\":[]}", 0).unwrap();
    assert!(reg.create_policy_version("good", "{}", true, 0).is_err());
    assert_eq!(reg.policy("good").unwrap().versions.len(), 1);
}

#[test]
fn at_most_ten_policies_per_target() {
    let mut reg = Registry::new();
    let cert = with_cert(&mut reg, 1);
    let target = PolicyTarget::Certificate(cert);
    for i in 0..11 {
        reg.create_policy(&format!("p{i}"), "{}", 0).unwrap();
    }
    for i in 0..10 {
        reg.attach_policy(&format!("p{i}"), &target).unwrap();
    }
    assert_eq!(reg.attach_policy("p0", &target).unwrap(), Event::Unchanged);
    assert!(matches!(
        reg.attach_policy("p10", &target),
        Err(RegistryError::TooManyPolicies { .. })
    ));
    assert!(matches!(
        reg.attach_policy("p0", &PolicyTarget::ThingGroup("nope".into())),
        Err(RegistryError::NotFound {
            kind: ResourceKind::ThingGroup,
            ..
        })
    ));
}

#[test]
fn policy_target_parses_arns_and_ids() {
    let id = cert_id(7);
    assert_eq!(
        PolicyTarget::parse(&format!("arn:aws:iot:eu-west-1:123456789012:cert/{id}")).unwrap(),
        PolicyTarget::Certificate(id.clone())
    );
    assert_eq!(
        PolicyTarget::parse(&id).unwrap(),
        PolicyTarget::Certificate(id)
    );
    assert_eq!(
        PolicyTarget::parse("arn:aws:iot:eu-west-1:123456789012:thinggroup/plant").unwrap(),
        PolicyTarget::ThingGroup("plant".into())
    );
    assert!(PolicyTarget::parse("plant").is_err());
    assert!(PolicyTarget::parse("arn:aws:iot:r:a:thing/x").is_err());
}

#[test]
fn role_alias_duration_bounds() {
    let mut reg = Registry::new();
    let arn = "arn:aws:iam::123456789012:role/greengrass";
    reg.create_role_alias("default", arn, None, 0).unwrap();
    assert_eq!(
        reg.role_alias("default")
            .unwrap()
            .credential_duration_seconds,
        3600
    );
    reg.create_role_alias("min", arn, Some(900), 0).unwrap();
    reg.create_role_alias("max", arn, Some(43_200), 0).unwrap();
    for bad in [0, 899, 43_201] {
        let err = reg.create_role_alias("bad", arn, Some(bad), 0).unwrap_err();
        assert!(matches!(
            err,
            RegistryError::InvalidCredentialDuration { .. }
        ));
        assert!(err.to_string().contains("use 900–43200"), "{err}");
    }
    assert!(matches!(
        reg.update_role_alias("min", None, Some(899), 0),
        Err(RegistryError::InvalidCredentialDuration { .. })
    ));
    reg.update_role_alias("min", None, Some(1800), 1).unwrap();
    assert_eq!(
        reg.role_alias("min").unwrap().credential_duration_seconds,
        1800
    );
    for bad_arn in [
        "role/x",
        "arn:aws:iot:eu:1:role/x",
        "arn:aws:iam::1:user/x",
        "arn:aws:iam::1:role/",
    ] {
        assert!(
            reg.create_role_alias("x", bad_arn, None, 0).is_err(),
            "{bad_arn}"
        );
    }
    assert!(matches!(
        reg.create_role_alias("a/b", arn, None, 0),
        Err(RegistryError::InvalidName {
            kind: "role alias",
            ..
        })
    ));
    for i in 3..100 {
        reg.create_role_alias(&format!("r{i}"), arn, None, 0)
            .unwrap();
    }
    assert_eq!(
        reg.create_role_alias("r100", arn, None, 0),
        Err(RegistryError::TooManyRoleAliases)
    );
    reg.delete_role_alias("r3").unwrap();
    reg.create_role_alias("r100", arn, None, 0).unwrap();
}
