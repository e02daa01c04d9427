//! The authorizer's answers and explanations, asked directly (no MQTT): reason texts, the
//! decision cache, and `test_authorization`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use airlock_broker::{Authorization, Authorizer, ConnectRequest, ConnectionContext, Principal};
use airlock_identity::{
    AuthorizationTest, Denial, IdentityConfig, TestError, TestPrincipal, test_authorization,
};
use airlock_policy::{Action, Effect, Engine};
use airlock_registry::{CertificateStatus, ThingPrincipalType};
use common::{Device, Env, allow, doc, statement};

fn ctx(d: &Device, endpoint: &str) -> ConnectionContext {
    ConnectionContext {
        endpoint_id: Arc::from(endpoint),
        peer: SocketAddr::from(([198, 51, 100, 7], 5000)),
        principal: Principal::Certificate {
            certificate_id: d.id.clone(),
            chain: Arc::new(vec![d.der.clone()]),
        },
        source_vpce: None,
        server_name: None,
    }
}

fn reason(a: Authorization) -> String {
    match a {
        Authorization::Deny { reason } => reason,
        Authorization::Allow => panic!("expected a denial"),
    }
}

fn secret_policy() -> String {
    doc(&[
        allow(r#""iot:Connect""#, &["client/*"]),
        allow(r#"["iot:Publish","iot:Receive"]"#, &["topic/plant/*"]),
        r#"{"Sid":"NoSecrets","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:airlock:000000000000:topic/plant/secret/*"}"#.to_string(),
    ])
}

#[tokio::test]
async fn a_denial_names_the_deciding_statement() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("d1", CertificateStatus::Active);
    env.policy_for("plant", &secret_policy(), &d);
    let c = ctx(&d, "ep");
    assert_eq!(
        env.authorizer.publish(&c, "d1", "plant/a", false),
        Authorization::Allow
    );
    assert_eq!(
        reason(env.authorizer.publish(&c, "d1", "plant/secret/x", false)),
        r#"iot:Publish on topic/plant/secret/x is denied by policy "plant" statement 2 (Sid "NoSecrets")"#
    );
    assert_eq!(
        reason(env.authorizer.subscribe(&c, "d1", "plant/#")),
        r#"iot:Subscribe on topicfilter/plant/# is not allowed by any policy in force (policies in force: plant)"#
    );
}

#[tokio::test]
async fn a_refused_certificate_says_what_to_do() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("d2", CertificateStatus::Active);
    env.registry
        .update_certificate(&d.id, CertificateStatus::Revoked)
        .expect("revoke");
    let request = ConnectRequest {
        client_id: "d2",
        persistent: false,
        will_topic: None,
    };
    let why = reason(env.authorizer.connect(&ctx(&d, "ep"), &request));
    assert_eq!(
        why,
        format!(
            "certificate {}… is REVOKED; issue a new one with 'airlock cert create'",
            &d.id[..8]
        )
    );
    let inactive = env.device("d3", CertificateStatus::Inactive);
    let why = reason(env.authorizer.connect(&ctx(&inactive, "ep"), &request));
    assert!(
        why.ends_with(&format!(
            "activate it with 'airlock cert activate {}'",
            inactive.id
        )),
        "{why}"
    );
    let why = reason(
        env.authorizer
            .connect(&ctx(&env.unregistered_device("d4"), "ep"), &request),
    );
    assert!(why.contains("is not registered"), "{why}");
}

#[tokio::test]
async fn the_cache_answers_repeats_and_forgets_on_registry_changes() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("d5", CertificateStatus::Active);
    env.policy_for("plant", &secret_policy(), &d);
    let c = ctx(&d, "ep");
    let a = &env.authorizer;
    let before = a.cache_stats();
    for _ in 0..5 {
        assert_eq!(a.receive(&c, "d5", "plant/t"), Authorization::Allow);
    }
    let after = a.cache_stats();
    assert_eq!(after.misses - before.misses, 1);
    assert_eq!(after.hits - before.hits, 4);

    env.registry
        .detach_policy(
            "plant",
            &airlock_registry::PolicyTarget::Certificate(d.id.clone()),
        )
        .expect("detach");
    assert!(matches!(
        a.receive(&c, "d5", "plant/t"),
        Authorization::Deny { .. }
    ));
    assert_eq!(a.cache_stats().misses - after.misses, 1);
}

#[tokio::test]
async fn cached_answers_do_not_leak_across_endpoints() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("d6", CertificateStatus::Active);
    env.policy_for(
        "vpce",
        &doc(&[statement(
            "Allow",
            r#""iot:Publish""#,
            &["topic/*"],
            r#"{"StringEquals":{"aws:SourceVpce":"vpce-a"}}"#,
        )]),
        &d,
    );
    let a = &env.authorizer;
    assert_eq!(
        a.publish(&ctx(&d, "vpce-a"), "d6", "t", false),
        Authorization::Allow
    );
    assert!(matches!(
        a.publish(&ctx(&d, "vpce-b"), "d6", "t", false),
        Authorization::Deny { .. }
    ));
    assert_eq!(
        a.publish(&ctx(&d, "vpce-a"), "d6", "t", false),
        Authorization::Allow
    );
}

#[tokio::test]
async fn an_invalid_stored_document_refuses_rather_than_guesses() {
    let env = Env::new(IdentityConfig::default());
    // Stored without validation (as an older registry might hold it).
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Arc::new(
        airlock_registry::RegistryStore::open(dir.path().join("r.redb")).expect("registry"),
    );
    let d = env.device("d7", CertificateStatus::Active);
    let pem = airlock_pki::der_to_pem(&d.der);
    registry
        .register_certificate(&d.id, &pem, CertificateStatus::Active, None)
        .expect("register");
    registry
        .create_policy(
            "broken",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}"#,
        )
        .expect("stored unchecked");
    registry
        .attach_policy(
            "broken",
            &airlock_registry::PolicyTarget::Certificate(d.id.clone()),
        )
        .expect("attach");
    let a = airlock_identity::PolicyAuthorizer::new(
        registry,
        Engine::default(),
        IdentityConfig::default(),
    );
    let why = reason(a.publish(&ctx(&d, "ep"), "d7", "t", false));
    assert!(
        why.starts_with(r#"policy "broken" version 1 is not a valid policy document"#),
        "{why}"
    );
}

#[tokio::test]
async fn test_authorization_explains_with_matching_statements() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("d8", CertificateStatus::Active);
    env.thing_for("press-1", &d);
    env.policy_for("plant", &secret_policy(), &d);
    let reg = env.registry.read();
    let engine = Engine::default();
    let config = IdentityConfig::default();

    let mut t = AuthorizationTest::new(
        TestPrincipal::Thing("press-1".into()),
        "press-1",
        Action::Publish,
        "topic/plant/secret/recipe",
    );
    let e = test_authorization(&reg, &engine, &config, &t).expect("test");
    assert!(!e.allowed);
    assert_eq!(e.certificate_id.as_deref(), Some(d.id.as_str()));
    assert_eq!(e.policies, ["plant"]);
    let matched: Vec<(usize, Effect)> = e
        .matching_statements
        .iter()
        .map(|m| (m.statement.statement, m.effect))
        .collect();
    assert_eq!(matched, [(1, Effect::Allow), (2, Effect::Deny)]);
    match &e.denial {
        Some(Denial::ExplicitDeny { statement, .. }) => {
            assert_eq!(statement.sid.as_deref(), Some("NoSecrets"))
        }
        other => panic!("expected an explicit deny, got {other:?}"),
    }

    t.resource = "topic/plant/line".into();
    let e = test_authorization(&reg, &engine, &config, &t).expect("test");
    assert!(e.allowed);
    assert_eq!(e.allowed_by.map(|s| s.statement), Some(1));

    t.action = Action::Connect;
    t.resource = "client/#".into();
    t.client_id = "#".into();
    let e = test_authorization(&reg, &engine, &config, &t).expect("test");
    assert!(matches!(e.denial, Some(Denial::ClientId(_))), "{e:?}");

    t.principal = TestPrincipal::Thing("nobody".into());
    assert_eq!(
        test_authorization(&reg, &engine, &config, &t),
        Err(TestError::UnknownThing("nobody".into()))
    );
    t.principal = TestPrincipal::Anonymous;
    assert_eq!(
        test_authorization(&reg, &engine, &config, &t),
        Err(TestError::AnonymousWithoutEndpoint)
    );
}

#[tokio::test]
async fn test_authorization_uses_source_ip_and_status() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("d9", CertificateStatus::Active);
    env.policy_for(
        "lan-only",
        &doc(&[statement(
            "Allow",
            r#""iot:Connect""#,
            &["client/*"],
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        )]),
        &d,
    );
    let mut t = AuthorizationTest::new(
        TestPrincipal::Certificate(d.id.clone()),
        "d9",
        Action::Connect,
        "client/d9",
    );
    t.source_ip = Some(IpAddr::from([10, 1, 2, 3]));
    assert!(env.authorizer.test_authorization(&t).expect("test").allowed);
    t.source_ip = Some(IpAddr::from([192, 168, 1, 1]));
    assert!(!env.authorizer.test_authorization(&t).expect("test").allowed);

    env.registry
        .update_certificate(&d.id, CertificateStatus::Inactive)
        .expect("deactivate");
    t.source_ip = Some(IpAddr::from([10, 1, 2, 3]));
    let e = env.authorizer.test_authorization(&t).expect("test");
    assert!(matches!(
        e.denial,
        Some(Denial::CertificateNotActive {
            status: CertificateStatus::Inactive,
            ..
        })
    ));

    // A thing with two certificates is ambiguous.
    let d2 = env.device("d9b", CertificateStatus::Active);
    env.thing_for("twin", &d);
    env.registry
        .attach_thing_principal("twin", &d2.id, ThingPrincipalType::NonExclusiveThing)
        .expect("attach");
    t.principal = TestPrincipal::Thing("twin".into());
    assert!(matches!(
        env.authorizer.test_authorization(&t),
        Err(TestError::ThingWithSeveralCertificates { .. })
    ));
}

#[tokio::test]
async fn assume_role_with_certificate_uses_the_header_thing_and_no_client_id() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("cam-1", CertificateStatus::Active);
    env.thing_for("cam-1", &d);
    // Thing-scoped alias names, and a condition on the client id that must not match
    // (there is no client id on the credential provider).
    env.policy_for(
        "creds",
        &doc(&[
            allow(
                r#""iot:AssumeRoleWithCertificate""#,
                &["rolealias/${iot:Connection.Thing.ThingName}-alias"],
            ),
            statement(
                "Allow",
                r#""iot:AssumeRoleWithCertificate""#,
                &["rolealias/by-client"],
                r#"{"StringLike":{"iot:ClientId":"*"}}"#,
            ),
        ]),
        &d,
    );
    let c = ctx(&d, "https");
    let allowed = env
        .authorizer
        .assume_role_with_certificate(&c, Some("cam-1"), "cam-1-alias")
        .expect("the header's thing fills the thing variables");
    assert_eq!(allowed.policy, "creds");
    // Without the header no thing applies, so the variable does not resolve.
    assert!(matches!(
        env.authorizer
            .assume_role_with_certificate(&c, None, "cam-1-alias"),
        Err(Denial::NoMatchingAllow { .. })
    ));
    // iot:ClientId is absent, so a positive condition on it is false.
    let denied = env
        .authorizer
        .assume_role_with_certificate(&c, Some("cam-1"), "by-client")
        .unwrap_err();
    assert_eq!(
        denied.to_string(),
        r#"iot:AssumeRoleWithCertificate on rolealias/by-client is not allowed by any policy in force (policies in force: creds)"#
    );
}
