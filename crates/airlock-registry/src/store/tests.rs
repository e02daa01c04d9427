use std::sync::Arc;

use redb::{Database, TableDefinition};

use super::RegistryStore;
use crate::error::{RegistryError, StoreError};
use crate::model::*;
use crate::{Event, NewCaCertificate};

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn cert_id(n: u32) -> String {
    format!("{n:064x}")
}

/// Puts one of everything in the store.
fn populate(store: &RegistryStore) -> String {
    let cert = cert_id(1);
    let ca = cert_id(2);
    store
        .register_ca_certificate(NewCaCertificate {
            certificate_id: ca.clone(),
            certificate_pem: PEM.into(),
            subject: "CN=Plant CA".into(),
            status: CaStatus::Active,
            auto_registration_status: AutoRegistrationStatus::Enable,
            certificate_mode: CertificateMode::SniOnly,
            registration_config: Some(RegistrationConfig {
                template_body: Some("{}".into()),
                ..Default::default()
            }),
        })
        .unwrap();
    store
        .register_certificate(&cert, PEM, CertificateStatus::Active, Some(&ca))
        .unwrap();
    store
        .create_thing_type("sensor", ThingTypeProperties::default())
        .unwrap();
    let attrs: Attributes = [("site".to_string(), "berlin".to_string())].into();
    store.create_thing("dev", Some("sensor"), attrs).unwrap();
    store
        .create_thing_group("plant", None, ThingGroupProperties::default())
        .unwrap();
    store
        .create_thing_group("line", Some("plant"), ThingGroupProperties::default())
        .unwrap();
    store.add_thing_to_group("dev", "line").unwrap();
    store
        .attach_thing_principal("dev", &cert, ThingPrincipalType::ExclusiveThing)
        .unwrap();
    store.create_policy("p", "v1").unwrap();
    store.create_policy_version("p", "v2", true).unwrap();
    store
        .attach_policy("p", &PolicyTarget::ThingGroup("plant".into()))
        .unwrap();
    store.create_policy("c", "cert doc").unwrap();
    store
        .attach_policy("c", &PolicyTarget::Certificate(cert.clone()))
        .unwrap();
    store
        .create_role_alias("ra", "arn:aws:iam::123456789012:role/r", Some(7200))
        .unwrap();
    cert
}

#[test]
fn survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/registry.redb");
    let (cert, before) = {
        let store = RegistryStore::open(&path).unwrap();
        let cert = populate(&store);
        (cert, store.snapshot())
    };
    let store = RegistryStore::open(&path).unwrap();
    let after = store.read();
    assert_eq!(after.all_keys(), before.all_keys());
    for key in before.all_keys() {
        assert_eq!(
            after.record(&key).unwrap(),
            before.record(&key).unwrap(),
            "{key:?}"
        );
    }
    let policies = after.effective_policies(&cert, "dev");
    assert_eq!(
        policies
            .iter()
            .map(|p| (p.policy_name.as_str(), &*p.policy_document))
            .collect::<Vec<_>>(),
        [("c", "cert doc"), ("p", "v2")]
    );
    let view = after.thing_for_connection(&cert, "other-client").unwrap();
    assert_eq!(view.thing_type_name.as_deref(), Some("sensor"));
    assert_eq!(after.ca_for_issuer("CN=Plant CA").len(), 1);
    assert_eq!(
        after.role_alias("ra").unwrap().credential_duration_seconds,
        7200
    );
    assert_eq!(
        after.policy("p").unwrap().next_version_id,
        PolicyVersionId(3)
    );
}

#[test]
fn deletions_are_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    {
        let store = RegistryStore::open(&path).unwrap();
        let cert = populate(&store);
        store.detach_thing_principal("dev", &cert).unwrap();
        store.delete_thing("dev", None).unwrap();
        store
            .detach_policy("p", &PolicyTarget::ThingGroup("plant".into()))
            .unwrap();
        store
            .delete_policy_version("p", PolicyVersionId(1))
            .unwrap();
        store.delete_policy("p").unwrap();
        store.delete_role_alias("ra").unwrap();
    }
    let store = RegistryStore::open(&path).unwrap();
    let reg = store.read();
    assert!(reg.thing("dev").is_none());
    assert_eq!(reg.things_in_group("line").count(), 0);
    assert_eq!(reg.things_of_principal(&cert_id(1)).count(), 0);
    assert!(reg.policy("p").is_none() && reg.role_alias("ra").is_none());
    assert!(reg.policy("c").is_some());
}

#[cfg(unix)]
#[test]
fn file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let store = RegistryStore::open(&path).unwrap();
    populate(&store);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn generation_increments_on_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = RegistryStore::open(dir.path().join("registry.redb")).unwrap();
    assert_eq!(store.generation(), 0);
    store.create_thing("t", None, Attributes::new()).unwrap();
    assert_eq!(store.generation(), 1);
    let err = store
        .create_thing("t", None, Attributes::new())
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Registry(RegistryError::AlreadyExists { .. })
    ));
    assert_eq!(
        err.to_string(),
        "thing \"t\" already exists; choose another name or delete it first"
    );
    assert_eq!(store.generation(), 1);
    store
        .register_certificate(&cert_id(1), PEM, CertificateStatus::Active, None)
        .unwrap();
    let ev = store
        .update_certificate(&cert_id(1), CertificateStatus::Inactive)
        .unwrap();
    assert!(matches!(ev, Event::CertificateStatusChanged { .. }));
    assert_eq!(store.generation(), 3);
    assert_eq!(store.generation(), store.read().generation());
}

#[test]
fn a_failed_multi_step_change_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    {
        let store = RegistryStore::open(&path).unwrap();
        store
            .create_thing("existing", None, Attributes::new())
            .unwrap();
        let generation = store.generation();
        let err = store
            .mutate(|r| {
                r.create_thing("new", None, Attributes::new())?;
                r.create_thing("existing", None, Attributes::new())
            })
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::Registry(RegistryError::AlreadyExists { .. })
        ));
        assert!(
            store.read().thing("new").is_none(),
            "first step rolled back"
        );
        assert!(
            store.generation() > generation,
            "caches are invalidated anyway"
        );

        // The same kind of closure succeeds as a whole.
        store
            .mutate(|r| {
                r.create_thing("a", None, Attributes::new())?;
                r.create_thing("b", None, Attributes::new())
            })
            .unwrap();
    }
    let store = RegistryStore::open(&path).unwrap();
    let names: Vec<_> = store
        .read()
        .things()
        .map(|t| t.thing_name.clone())
        .collect();
    assert_eq!(names, ["a", "b", "existing"]);
}

#[test]
fn validator_survives_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let store = RegistryStore::open(dir.path().join("registry.redb")).unwrap();
    store.set_policy_validator(Arc::new(|d: &str| {
        if d == "ok" {
            Ok(())
        } else {
            Err("nope".into())
        }
    }));
    store
        .mutate(|r| {
            r.create_thing("x", None, Attributes::new())?;
            r.create_thing("x", None, Attributes::new())
        })
        .unwrap_err();
    assert!(store.create_policy("p", "bad").is_err());
    store.create_policy("p", "ok").unwrap();
}

#[test]
fn second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let _store = RegistryStore::open(&path).unwrap();
    let err = RegistryStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn newer_schema_and_corrupt_records_are_refused() {
    const TABLE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("registry");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    drop(RegistryStore::open(&path).unwrap());
    let write = |kind: &str, name: &str, value: &[u8]| {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TABLE)
            .unwrap()
            .insert((kind, name), value)
            .unwrap();
        txn.commit().unwrap();
    };
    write("thing", "t", b"{not json");
    let err = RegistryStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("record thing/t"), "{err}");

    write(
        "thing",
        "t",
        br#"{"thingName":"t","attributes":{},"version":1}"#,
    );
    RegistryStore::open(&path).unwrap();
    write("meta", "schema", br#"{"version":99}"#);
    let err = RegistryStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("newer Airlock"), "{err}");
}

#[test]
fn roles_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    {
        let store = RegistryStore::open(&path).unwrap();
        store
            .create_role("artifact-reader", "123456789012", Some(7200))
            .unwrap();
        store
            .put_role_policy("artifact-reader", "read", "{\"Statement\":[]}")
            .unwrap();
    }
    let store = RegistryStore::open(&path).unwrap();
    let reg = store.read();
    let role = reg.role("artifact-reader").expect("role survives a reopen");
    assert_eq!(role.max_session_duration, 7200);
    assert_eq!(
        role.role_policies.get("read").map(String::as_str),
        Some("{\"Statement\":[]}")
    );
}
