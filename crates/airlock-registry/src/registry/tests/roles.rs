use std::sync::Arc;

use super::*;

const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

#[test]
fn create_role_with_iam_rules() {
    let mut reg = Registry::new();
    reg.create_role("artifact-reader", "123456789012", None, 7)
        .unwrap();
    let r = reg.role("artifact-reader").unwrap();
    assert_eq!(r.role_arn, "arn:aws:iam::123456789012:role/artifact-reader");
    assert_eq!(r.max_session_duration, 3600);
    assert_eq!(r.create_date, 7);
    assert_eq!(
        reg.role_by_arn("arn:aws:iam::123456789012:role/artifact-reader")
            .map(|r| r.role_name.as_str()),
        Some("artifact-reader")
    );
    assert!(
        reg.role_by_arn("arn:aws:iam::999999999999:role/artifact-reader")
            .is_none()
    );

    // IAM: names are unique ignoring case.
    assert!(matches!(
        reg.create_role("Artifact-Reader", "123456789012", None, 0),
        Err(RegistryError::AlreadyExists {
            kind: ResourceKind::Role,
            ..
        })
    ));
    // 64 characters at most, IAM's character set.
    reg.create_role(&"r".repeat(64), "1", Some(43_200), 0)
        .unwrap();
    for bad in ["", "has space", "slash/", &"r".repeat(65)] {
        assert!(reg.create_role(bad, "1", None, 0).is_err(), "{bad:?}");
    }
    for bad in [3599, 43_201, 900] {
        assert!(
            reg.create_role(&format!("d{bad}"), "1", Some(bad), 0)
                .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn inline_policies_validated_limited_and_block_delete() {
    let mut reg = Registry::new();
    reg.set_role_policy_validator(Arc::new(|d: &str| {
        if d.contains("Statement") {
            Ok(())
        } else {
            Err("no Statement".into())
        }
    }));
    reg.create_role("r", "1", None, 0).unwrap();
    assert!(matches!(
        reg.put_role_policy("r", "p", "{}"),
        Err(RegistryError::InvalidRolePolicyDocument { .. })
    ));
    assert!(matches!(
        reg.put_role_policy("missing", "p", DOC),
        Err(RegistryError::NotFound {
            kind: ResourceKind::Role,
            ..
        })
    ));
    reg.put_role_policy("r", "read", DOC).unwrap();
    assert_eq!(
        reg.put_role_policy("r", "read", DOC).unwrap(),
        Event::Unchanged
    );
    // 10,240 characters for all inline policies together, whitespace excluded.
    let big = format!(
        "{{\"Statement\":\"{}\"}}",
        "x".repeat(10_240 - DOC.len() - 16)
    );
    reg.put_role_policy("r", "big", &big).unwrap();
    let too_big = format!("{{\"Statement\":\"{}\"}}", "x".repeat(20));
    assert!(matches!(
        reg.put_role_policy("r", "more", &too_big),
        Err(RegistryError::RolePoliciesTooLarge { .. })
    ));
    assert!(matches!(
        reg.delete_role("r"),
        Err(RegistryError::RoleHasPolicies { .. })
    ));
    reg.delete_role_policy("r", "read").unwrap();
    reg.delete_role_policy("r", "big").unwrap();
    assert!(matches!(
        reg.delete_role_policy("r", "big"),
        Err(RegistryError::NotFound {
            kind: ResourceKind::RolePolicy,
            ..
        })
    ));
    reg.delete_role("r").unwrap();
    assert!(reg.role("r").is_none());
}

#[test]
fn roles_survive_records_round_trip() {
    let mut reg = Registry::new();
    reg.create_role("r", "1", Some(7200), 3).unwrap();
    reg.put_role_policy("r", "read", DOC).unwrap();
    let rows: Vec<_> = reg
        .all_keys()
        .into_iter()
        .map(|k| {
            let (kind, name) = k.table_key();
            (kind.to_string(), name, reg.record(&k).unwrap().unwrap())
        })
        .collect();
    let back = Registry::from_records(rows).unwrap();
    assert_eq!(back.role("r"), reg.role("r"));
}
