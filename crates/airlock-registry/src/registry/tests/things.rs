use super::*;

#[test]
fn thing_names_follow_aws_rules() {
    let mut reg = Registry::new();
    let longest = "a".repeat(128);
    for ok in [
        "a",
        "Sensor_01",
        "plant:line-3:press",
        longest.as_str(),
        "0",
    ] {
        reg.create_thing(ok, None, Attributes::new())
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let too_long = "a".repeat(129);
    for bad in [
        "",
        too_long.as_str(),
        "a b",
        "a/b",
        "a|b",
        "a.b",
        "ä",
        "a+b",
        "a#b",
    ] {
        let err = reg.create_thing(bad, None, Attributes::new()).unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidName { kind: "thing", .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("a-z A-Z 0-9 : _ -"), "{err}");
    }
}

#[test]
fn duplicate_thing_is_refused_with_its_name() {
    let mut reg = Registry::new();
    reg.create_thing("x", None, Attributes::new()).unwrap();
    let err = reg.create_thing("x", None, Attributes::new()).unwrap_err();
    assert_eq!(
        err,
        RegistryError::AlreadyExists {
            kind: ResourceKind::Thing,
            name: "x".into()
        }
    );
    assert!(
        err.to_string().starts_with("thing \"x\" already exists"),
        "{err}"
    );
}

#[test]
fn attribute_limits_depend_on_thing_type() {
    let mut reg = Registry::new();
    reg.create_thing("three", None, attrs(3)).unwrap();
    let err = reg.create_thing("four", None, attrs(4)).unwrap_err();
    assert!(matches!(
        err,
        RegistryError::TooManyAttributes {
            count: 4,
            has_type: false,
            ..
        }
    ));
    assert!(err.to_string().contains("give it a thing type"), "{err}");

    reg.create_thing_type("sensor", ThingTypeProperties::default(), 0)
        .unwrap();
    reg.create_thing("fifty", Some("sensor"), attrs(50))
        .unwrap();
    let err = reg
        .create_thing("fifty-one", Some("sensor"), attrs(51))
        .unwrap_err();
    assert!(matches!(
        err,
        RegistryError::TooManyAttributes {
            count: 51,
            has_type: true,
            ..
        }
    ));

    // Removing the type from a thing with 50 attributes would break the 3 limit.
    let err = reg
        .update_thing(
            "fifty",
            ThingUpdate {
                thing_type: ThingTypeChange::Remove,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        RegistryError::TooManyAttributes {
            count: 50,
            has_type: false,
            ..
        }
    ));
    assert_eq!(
        reg.thing("fifty").unwrap().thing_type_name.as_deref(),
        Some("sensor")
    );
}

#[test]
fn attribute_names_and_values_are_checked() {
    let mut reg = Registry::new();
    for (k, v) in [("bad name", "v"), ("", "v"), ("k", "has space"), ("k", "ü")] {
        let a: Attributes = [(k.to_string(), v.to_string())].into();
        let err = reg.create_thing("t", None, a).unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidAttribute { .. }),
            "{k}={v}: {err}"
        );
    }
    let a: Attributes = [("k".to_string(), "x".repeat(801))].into();
    assert!(reg.create_thing("t", None, a).is_err());
    let a: Attributes = [("serial:no".to_string(), "A-1/b@c#[0]=".to_string())].into();
    reg.create_thing("t", None, a).unwrap();
}

#[test]
fn update_thing_merges_replaces_and_checks_version() {
    let mut reg = Registry::new();
    reg.create_thing("t", None, attrs(2)).unwrap();
    let merge: Attributes = [
        ("a0".to_string(), String::new()),
        ("n".to_string(), "1".to_string()),
    ]
    .into();
    let ev = reg
        .update_thing(
            "t",
            ThingUpdate {
                attributes: Some(merge),
                merge: true,
                expected_version: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ev,
        Event::ThingUpdated {
            thing_name: "t".into(),
            version: 2
        }
    );
    let t = reg.thing("t").unwrap();
    assert_eq!(t.attributes.keys().collect::<Vec<_>>(), ["a1", "n"]);

    let err = reg
        .update_thing(
            "t",
            ThingUpdate {
                attributes: Some(Attributes::new()),
                expected_version: Some(1),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("is at version 2, not 1"), "{err}");
    reg.update_thing(
        "t",
        ThingUpdate {
            attributes: Some(Attributes::new()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(reg.thing("t").unwrap().attributes.is_empty());
    assert_eq!(reg.thing("t").unwrap().version, 3);
}

#[test]
fn thing_types_deprecate_and_delete() {
    let mut reg = Registry::new();
    let props = ThingTypeProperties {
        thing_type_description: Some("d".into()),
        searchable_attributes: vec!["a".into(), "b".into(), "c".into(), "d".into()],
    };
    assert!(matches!(
        reg.create_thing_type("ty", props, 0),
        Err(RegistryError::TooManySearchableAttributes { count: 4, .. })
    ));
    reg.create_thing_type("ty", ThingTypeProperties::default(), 0)
        .unwrap();
    reg.create_thing("t", Some("ty"), Attributes::new())
        .unwrap();
    assert!(matches!(
        reg.delete_thing_type("ty"),
        Err(RegistryError::ThingTypeNotDeprecated { .. })
    ));
    reg.deprecate_thing_type("ty", true, 5).unwrap();
    let err = reg
        .create_thing("u", Some("ty"), Attributes::new())
        .unwrap_err();
    assert!(matches!(err, RegistryError::ThingTypeDeprecated { .. }));
    let err = reg.delete_thing_type("ty").unwrap_err();
    assert!(err.to_string().contains("thing \"t\" has it"), "{err}");
    reg.update_thing(
        "t",
        ThingUpdate {
            thing_type: ThingTypeChange::Remove,
            ..Default::default()
        },
    )
    .unwrap();
    reg.delete_thing_type("ty").unwrap();
    assert!(matches!(
        reg.create_thing("v", Some("ty"), Attributes::new()),
        Err(RegistryError::NotFound {
            kind: ResourceKind::ThingType,
            ..
        })
    ));
}
