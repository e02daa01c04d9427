use super::*;

/// cert → "cert-pol"; thing "dev" in group "cell" ⊂ "line" ⊂ "plant", each with a policy;
/// plus an unrelated hierarchy.
fn hierarchy() -> (Registry, String) {
    let mut reg = Registry::new();
    let cert = with_cert(&mut reg, 1);
    reg.create_thing("dev", None, Attributes::new()).unwrap();
    reg.attach_thing_principal("dev", &cert, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    group(&mut reg, "plant", None).unwrap();
    group(&mut reg, "line", Some("plant")).unwrap();
    group(&mut reg, "cell", Some("line")).unwrap();
    group(&mut reg, "elsewhere", None).unwrap();
    reg.add_thing_to_group("dev", "cell").unwrap();
    for (policy, target) in [
        ("cert-pol", PolicyTarget::Certificate(cert.clone())),
        ("plant-pol", PolicyTarget::ThingGroup("plant".into())),
        ("line-pol", PolicyTarget::ThingGroup("line".into())),
        ("cell-pol", PolicyTarget::ThingGroup("cell".into())),
        ("other-pol", PolicyTarget::ThingGroup("elsewhere".into())),
    ] {
        reg.create_policy(policy, &format!("doc of {policy}"), 0)
            .unwrap();
        reg.attach_policy(policy, &target).unwrap();
    }
    (reg, cert)
}

fn names_of(policies: &[EffectivePolicy]) -> Vec<&str> {
    policies.iter().map(|p| p.policy_name.as_str()).collect()
}

#[test]
fn effective_policies_inherit_through_three_levels() {
    let (reg, cert) = hierarchy();
    let got = reg.effective_policies(&cert, "dev");
    assert_eq!(
        names_of(&got),
        ["cert-pol", "cell-pol", "line-pol", "plant-pol"]
    );
    assert_eq!(got[3].attached_to, PolicyTarget::ThingGroup("plant".into()));
    assert_eq!(&*got[3].policy_document, "doc of plant-pol");
    assert_eq!(got[0].attached_to, PolicyTarget::Certificate(cert.clone()));
}

#[test]
fn group_policies_apply_only_when_client_id_is_the_thing_name() {
    let (mut reg, cert) = hierarchy();
    assert_eq!(
        names_of(&reg.effective_policies(&cert, "someone-else")),
        ["cert-pol"]
    );
    // A thing named like the client id but not attached to this certificate does not count.
    reg.create_thing("stranger", None, Attributes::new())
        .unwrap();
    reg.add_thing_to_group("stranger", "plant").unwrap();
    assert_eq!(
        names_of(&reg.effective_policies(&cert, "stranger")),
        ["cert-pol"]
    );
    // Even an exclusive attachment does not bring group policies to another client id.
    let other = with_cert(&mut reg, 2);
    reg.attach_thing_principal("stranger", &other, ThingPrincipalType::ExclusiveThing)
        .unwrap();
    assert!(reg.effective_policies(&other, "x").is_empty());
    assert_eq!(
        names_of(&reg.effective_policies(&other, "stranger")),
        ["plant-pol"]
    );
    // Unknown certificate: nothing.
    assert!(reg.effective_policies(&cert_id(99), "dev").is_empty());
}

#[test]
fn effective_policies_use_the_default_version_and_deduplicate() {
    let (mut reg, cert) = hierarchy();
    reg.attach_policy("plant-pol", &PolicyTarget::Certificate(cert.clone()))
        .unwrap();
    reg.create_policy_version("line-pol", "line v2", true, 0)
        .unwrap();
    let got = reg.effective_policies(&cert, "dev");
    assert_eq!(
        names_of(&got),
        ["cert-pol", "plant-pol", "cell-pol", "line-pol"]
    );
    assert_eq!(got[1].attached_to, PolicyTarget::Certificate(cert.clone()));
    assert_eq!(&*got[3].policy_document, "line v2");
    assert_eq!(got[3].policy_version_id, PolicyVersionId(2));
}

#[test]
fn thing_for_connection_follows_client_id_or_exclusive_attachment() {
    let mut reg = Registry::new();
    reg.create_thing_type("sensor", ThingTypeProperties::default(), 0)
        .unwrap();
    let a: Attributes = [("site".to_string(), "berlin".to_string())].into();
    reg.create_thing("dev", Some("sensor"), a.clone()).unwrap();
    reg.create_thing("dev2", None, Attributes::new()).unwrap();
    let shared = with_cert(&mut reg, 1);
    reg.attach_thing_principal("dev", &shared, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    reg.attach_thing_principal("dev2", &shared, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    assert_eq!(
        reg.thing_for_connection(&shared, "dev"),
        Some(ThingView {
            thing_name: "dev".into(),
            thing_type_name: Some("sensor".into()),
            attributes: a,
            is_attached: true
        })
    );
    assert_eq!(
        reg.thing_for_connection(&shared, "dev2")
            .unwrap()
            .thing_name,
        "dev2"
    );
    assert_eq!(reg.thing_for_connection(&shared, "nobody"), None);
    assert_eq!(reg.thing_for_connection(&cert_id(42), "dev"), None);

    let exclusive = with_cert(&mut reg, 2);
    reg.create_thing("solo", None, Attributes::new()).unwrap();
    reg.attach_thing_principal("solo", &exclusive, ThingPrincipalType::ExclusiveThing)
        .unwrap();
    assert_eq!(
        reg.thing_for_connection(&exclusive, "anything")
            .unwrap()
            .thing_name,
        "solo"
    );
    // The client id names a thing, but not one attached to this certificate.
    assert_eq!(
        reg.thing_for_connection(&exclusive, "dev")
            .unwrap()
            .thing_name,
        "solo"
    );
    assert!(reg.is_attached(&exclusive, "solo") && !reg.is_attached(&exclusive, "dev"));
}

#[test]
fn generation_moves_on_changes_only() {
    let mut reg = Registry::new();
    assert_eq!(reg.generation(), 0);
    reg.create_thing("t", None, Attributes::new()).unwrap();
    assert_eq!(reg.generation(), 1);
    reg.create_thing("t", None, Attributes::new()).unwrap_err();
    assert_eq!(reg.generation(), 1);
    let cert = with_cert(&mut reg, 1);
    reg.attach_thing_principal("t", &cert, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    assert_eq!(reg.generation(), 3);
    reg.attach_thing_principal("t", &cert, ThingPrincipalType::NonExclusiveThing)
        .unwrap();
    assert_eq!(reg.generation(), 3, "an idempotent repeat is not a change");
    reg.update_certificate(&cert, CertificateStatus::Revoked, 0)
        .unwrap();
    assert_eq!(reg.generation(), 4);
}

#[test]
fn records_rebuild_the_same_registry() {
    let (mut reg, cert) = hierarchy();
    reg.create_thing_type("ty", ThingTypeProperties::default(), 0)
        .unwrap();
    reg.create_thing("typed", Some("ty"), attrs(5)).unwrap();
    reg.register_ca_certificate(new_ca(50, "CN=CA"), 0).unwrap();
    reg.create_role_alias("ra", "arn:aws:iam::1:role/r", Some(1000), 0)
        .unwrap();
    let rows: Vec<_> = reg
        .all_keys()
        .iter()
        .map(|k| {
            let (kind, name) = k.table_key();
            (kind.to_string(), name, reg.record(k).unwrap().unwrap())
        })
        .rev()
        .collect();
    let copy = Registry::from_records(rows).unwrap();
    assert_eq!(copy.all_keys(), reg.all_keys());
    for key in reg.all_keys() {
        assert_eq!(
            copy.record(&key).unwrap(),
            reg.record(&key).unwrap(),
            "{key:?}"
        );
    }
    assert_eq!(
        copy.effective_policies(&cert, "dev"),
        reg.effective_policies(&cert, "dev")
    );
    assert_eq!(copy.child_groups("plant").collect::<Vec<_>>(), ["line"]);
    assert_eq!(copy.ca_for_issuer("CN=CA").len(), 1);

    let dangling = vec![(
        "group_member".to_string(),
        "g|t".to_string(),
        br#"{"thingGroupName":"g","thingName":"t"}"#.to_vec(),
    )];
    let err = Registry::from_records(dangling).unwrap_err();
    assert!(err.contains("group_member/g|t"), "{err}");
}

#[test]
fn views_use_aws_field_names() {
    let (mut reg, cert) = hierarchy();
    reg.create_role_alias("ra", "arn:aws:iam::1:role/r", None, 0)
        .unwrap();
    let thing = serde_json::to_value(reg.thing("dev").unwrap()).unwrap();
    assert_eq!(
        thing,
        serde_json::json!({"thingName":"dev","attributes":{},"version":1})
    );
    let c = serde_json::to_value(reg.certificate(&cert).unwrap()).unwrap();
    assert_eq!(c["certificateId"], cert.as_str());
    assert_eq!(c["status"], "ACTIVE");
    assert!(c.get("certificatePem").is_some());
    let p = serde_json::to_value(reg.policy("cell-pol").unwrap()).unwrap();
    assert_eq!(p["policyName"], "cell-pol");
    assert_eq!(p["defaultVersionId"], "1");
    assert_eq!(p["versions"][0]["isDefaultVersion"], true);
    assert_eq!(p["versions"][0]["versionId"], "1");
    let r = serde_json::to_value(reg.role_alias("ra").unwrap()).unwrap();
    assert_eq!(r["roleAlias"], "ra");
    assert_eq!(r["roleArn"], "arn:aws:iam::1:role/r");
    assert_eq!(r["credentialDurationSeconds"], 3600);
    let e = serde_json::to_value(&reg.effective_policies(&cert, "dev")[0]).unwrap();
    assert_eq!(e["policyName"], "cert-pol");
    assert_eq!(e["policyVersionId"], "1");
    assert_eq!(e["attachedTo"]["certificateId"], cert.as_str());
    let v = serde_json::to_value(reg.thing_for_connection(&cert, "dev").unwrap()).unwrap();
    assert_eq!(v["isAttached"], true);
    let g = serde_json::to_value(reg.thing_group("cell").unwrap()).unwrap();
    assert_eq!(g["parentGroupName"], "line");
    assert_eq!(g["thingGroupName"], "cell");
    let st: CertificateStatus = serde_json::from_str("\"PENDING_ACTIVATION\"").unwrap();
    assert_eq!(st, "PENDING_ACTIVATION".parse().unwrap());
    assert_eq!(
        "EXCLUSIVE_THING".parse::<ThingPrincipalType>().unwrap(),
        ThingPrincipalType::ExclusiveThing
    );
    assert!("3x".parse::<PolicyVersionId>().is_err() && "0".parse::<PolicyVersionId>().is_err());
}

fn aws_thing_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b))
}

proptest! {
    #[test]
    fn thing_name_rule_matches_the_aws_pattern(name in "[a-zA-Z0-9:_\\- /|.é+#]{0,130}") {
        let mut reg = Registry::new();
        let accepted = reg.create_thing(&name, None, Attributes::new()).is_ok();
        prop_assert_eq!(accepted, aws_thing_name(&name));
    }

    /// Whatever order groups are attached in, a thing's inherited policies are exactly the
    /// policies of its groups' ancestry.
    #[test]
    fn inherited_policies_are_the_ancestry(depth in 1usize..=7, attach in proptest::collection::vec(any::<bool>(), 7)) {
        let mut reg = Registry::new();
        let cert = with_cert(&mut reg, 1);
        reg.create_thing("t", None, Attributes::new()).unwrap();
        reg.attach_thing_principal("t", &cert, ThingPrincipalType::NonExclusiveThing).unwrap();
        let mut expected = Vec::new();
        for (level, &with_policy) in attach.iter().enumerate().take(depth) {
            let parent = (level > 0).then(|| format!("g{}", level - 1));
            group(&mut reg, &format!("g{level}"), parent.as_deref()).unwrap();
            if with_policy {
                reg.create_policy(&format!("p{level}"), "{}", 0).unwrap();
                reg.attach_policy(&format!("p{level}"), &PolicyTarget::ThingGroup(format!("g{level}"))).unwrap();
                expected.push(format!("p{level}"));
            }
        }
        reg.add_thing_to_group("t", &format!("g{}", depth - 1)).unwrap();
        expected.reverse();
        let got: Vec<String> = reg.effective_policies(&cert, "t").into_iter().map(|p| p.policy_name).collect();
        prop_assert_eq!(got, expected);
    }
}
