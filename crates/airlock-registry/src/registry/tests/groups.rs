use super::*;

#[test]
fn hierarchy_is_at_most_seven_levels() {
    let mut reg = Registry::new();
    group(&mut reg, "g1", None).unwrap();
    for level in 2..=7 {
        let parent = format!("g{}", level - 1);
        group(&mut reg, &format!("g{level}"), Some(&parent)).unwrap();
    }
    assert_eq!(reg.group_ancestry("g7").len(), 7);
    let err = group(&mut reg, "g8", Some("g7")).unwrap_err();
    assert!(matches!(
        err,
        RegistryError::HierarchyTooDeep {
            parent_depth: 7,
            ..
        }
    ));
    assert!(err.to_string().contains("at most 7 levels"), "{err}");
    assert!(reg.thing_group("g8").is_none());
    // A sibling at level 7 is fine.
    group(&mut reg, "g7b", Some("g6")).unwrap();
}

#[test]
fn a_group_has_at_most_one_hundred_children() {
    let mut reg = Registry::new();
    group(&mut reg, "p", None).unwrap();
    for i in 0..100 {
        group(&mut reg, &format!("c{i}"), Some("p")).unwrap();
    }
    let err = group(&mut reg, "c100", Some("p")).unwrap_err();
    assert!(matches!(err, RegistryError::TooManyChildGroups { .. }));
    assert_eq!(reg.child_groups("p").count(), 100);
    // Grandchildren do not count against the limit.
    group(&mut reg, "gc", Some("c0")).unwrap();
}

#[test]
fn a_thing_is_in_one_group_per_hierarchy() {
    let mut reg = Registry::new();
    reg.create_thing("t", None, Attributes::new()).unwrap();
    group(&mut reg, "plant", None).unwrap();
    group(&mut reg, "line", Some("plant")).unwrap();
    group(&mut reg, "cell", Some("line")).unwrap();
    group(&mut reg, "other", None).unwrap();
    reg.add_thing_to_group("t", "cell").unwrap();
    assert_eq!(
        reg.add_thing_to_group("t", "cell").unwrap(),
        Event::Unchanged
    );
    for same in ["plant", "line"] {
        let err = reg.add_thing_to_group("t", same).unwrap_err();
        assert_eq!(
            err,
            RegistryError::SameHierarchy {
                thing: "t".into(),
                existing: "cell".into(),
                root: "plant".into()
            }
        );
    }
    reg.add_thing_to_group("t", "other").unwrap();
    reg.remove_thing_from_group("t", "cell").unwrap();
    reg.add_thing_to_group("t", "line").unwrap();
    assert_eq!(
        reg.groups_of_thing("t").collect::<Vec<_>>(),
        ["line", "other"]
    );
}

#[test]
fn a_thing_is_in_at_most_ten_groups() {
    let mut reg = Registry::new();
    reg.create_thing("t", None, Attributes::new()).unwrap();
    for i in 0..11 {
        group(&mut reg, &format!("root{i}"), None).unwrap();
    }
    for i in 0..10 {
        reg.add_thing_to_group("t", &format!("root{i}")).unwrap();
    }
    let err = reg.add_thing_to_group("t", "root10").unwrap_err();
    assert!(matches!(err, RegistryError::TooManyGroups { .. }));
    assert!(
        err.to_string().contains("remove it from one first"),
        "{err}"
    );
}

#[test]
fn deleting_a_group_needs_no_children_and_no_policies() {
    let mut reg = Registry::new();
    reg.create_thing("t", None, Attributes::new()).unwrap();
    group(&mut reg, "p", None).unwrap();
    group(&mut reg, "c", Some("p")).unwrap();
    reg.add_thing_to_group("t", "c").unwrap();
    let err = reg.delete_thing_group("p").unwrap_err();
    assert!(err.to_string().contains("child group \"c\""), "{err}");
    reg.create_policy("pol", "{}", 0).unwrap();
    let target = PolicyTarget::ThingGroup("c".into());
    reg.attach_policy("pol", &target).unwrap();
    let err = reg.delete_thing_group("c").unwrap_err();
    assert!(
        matches!(err, RegistryError::PolicyStillAttached { .. }),
        "{err}"
    );
    reg.detach_policy("pol", &target).unwrap();
    reg.delete_thing_group("c").unwrap();
    assert_eq!(reg.groups_of_thing("t").count(), 0);
    assert_eq!(reg.child_groups("p").count(), 0);
    reg.delete_thing_group("p").unwrap();
}
